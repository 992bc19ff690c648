//! The `disks` stage: partitions (through `gptman`), RAID (`mdadm`), LUKS
//! (`cryptsetup`) and filesystems (`wipefs`, `mkfs.*`), in Go Ignition's
//! order and with its rules, without udev or systemd.
//!
//! Fetch before you cut: everything that can fail without touching a
//! device is done first ([`preflight`]): every resource the config names
//! (file contents and appends, LUKS key files) is fetched and verified,
//! every disk resolved, checked not to be in use, its table read and its
//! partition plan made, every other device resolved (or known to be created
//! by this config), the tools looked up, and filesystems that exist and are
//! not touched by the plan checked against the reuse rule. Only then is the
//! first byte written.

pub mod blockdev;
pub mod filesystems;
pub mod gpt;
pub mod luks;
pub mod plan;
pub mod raid;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exec::cmd;
use crate::exec::state::State;
use crate::fetch::Fetcher;
use crate::model::{Config, Disk, Filesystem};

use blockdev::ByName;
use filesystems::Decision;
use plan::DiskPlan;

/// Whether the stage has nothing to do (then it touches nothing, as Go).
pub fn is_noop(c: &Config) -> bool {
    let s = &c.storage;
    s.disks.is_empty() && s.raid.is_empty() && s.luks.is_empty() && s.filesystems.is_empty()
}

/// One configured disk, checked and planned.
struct DiskWork<'a> {
    cfg: &'a Disk,
    dev: PathBuf,
    sector_size: u64,
    fresh: bool,
    plan: DiskPlan,
}

/// Everything the stage learned before writing.
struct Prepared<'a> {
    disks: Vec<DiskWork<'a>>,
    keys: BTreeMap<String, Vec<u8>>,
    /// Filesystems whose decision could be made up front (index → decision).
    decided: BTreeMap<usize, Decision>,
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p).any(|d| {
                let f = d.join(program);
                f.is_file()
            })
        })
        .unwrap_or(false)
}

/// Runs the stage. In a dry run, returns the operations it would perform
/// (after every check) and writes nothing.
pub fn run(
    config: &Config,
    fetchers: &dyn Fetcher,
    state: &mut State,
    dry_run: bool,
) -> Result<Vec<String>, String> {
    if is_noop(config) {
        return Ok(Vec::new());
    }
    let prepared = preflight(config, fetchers)?;
    if dry_run {
        return Ok(describe(config, &prepared));
    }
    apply(config, prepared, state)?;
    Ok(Vec::new())
}

fn preflight<'a>(config: &'a Config, fetchers: &dyn Fetcher) -> Result<Prepared<'a>, String> {
    let st = &config.storage;
    // 1. Resources, verified; LUKS keys kept.
    for (i, f) in st.files.iter().enumerate() {
        if f.contents.source.is_some() {
            crate::fetch::fetch_resource(fetchers, &f.contents)
                .map_err(|e| format!("$.storage.files.{i}.contents ({}): {e}", f.path))?;
        }
        for (j, a) in f.append.iter().enumerate() {
            crate::fetch::fetch_resource(fetchers, a)
                .map_err(|e| format!("$.storage.files.{i}.append.{j} ({}): {e}", f.path))?;
        }
    }
    let mut keys = BTreeMap::new();
    for (i, l) in st.luks.iter().enumerate() {
        if l.key_file.source.as_deref().is_some_and(|s| !s.is_empty()) {
            let key = crate::fetch::fetch_resource(fetchers, &l.key_file)
                .map_err(|e| format!("$.storage.luks.{i}.keyFile (luks {}): {e}", l.name))?;
            keys.insert(l.name.clone(), key);
        }
        if l.cex.enabled == Some(true) {
            return Err(format!(
                "luks {}: IBM CEX secure keys are not supported",
                l.name
            ));
        }
    }

    // 2. Tools.
    let mut tools: Vec<(&str, String)> = Vec::new();
    if !st.raid.is_empty() {
        tools.push(("mdadm", "raid".into()));
    }
    for l in &st.luks {
        tools.push(("cryptsetup", format!("luks {}", l.name)));
        tools.push(("wipefs", format!("luks {}", l.name)));
        if luks::wants_clevis(l) {
            tools.push(("clevis", format!("luks {} (Clevis binding)", l.name)));
        }
    }
    for f in &st.filesystems {
        for t in filesystems::tools(f) {
            tools.push((t, format!("filesystem {}", f.device)));
        }
    }
    for (t, what) in &tools {
        if !which(t) {
            return Err(format!("{what}: the tool {t} is not installed"));
        }
    }

    // 3. Disks: resolve, refuse busy ones, read and plan.
    let mut disks: Vec<DiskWork> = Vec::new();
    for d in &st.disks {
        let dev =
            blockdev::resolve(&d.device)?.ok_or_else(|| format!("disk {}: not found", d.device))?;
        if let Some(w) = disks.iter().find(|w| w.dev == dev) {
            return Err(format!(
                "disk {}: the same device as disk {} ({})",
                d.device,
                w.cfg.device,
                dev.display()
            ));
        }
        let at = |e: String| format!("disk {} ({}): {e}", d.device, dev.display());
        if let Some(why) = blockdev::busy(&dev) {
            return Err(at(format!(
                "refusing to operate on a disk that is in use ({why})"
            )));
        }
        let mut f = File::open(&dev).map_err(|e| at(format!("opening it: {e}")))?;
        let sector_size = blockdev::sector_size(&f);
        let (layout, kind) = gpt::read_layout(&mut f, sector_size).map_err(at)?;
        let wipe = d.wipe_table == Some(true);
        if kind == gpt::TableKind::Mbr && !wipe {
            return Err(at(
                "it has an MBR partition table; set wipeTable to replace it with a GPT".into(),
            ));
        }
        let plan = plan::plan(&layout, &d.partitions, wipe).map_err(at)?;
        let name = blockdev::kernel_name(&dev);
        for (n, (pname, _, _)) in blockdev::kernel_partitions(&name) {
            let Some(why) = blockdev::busy(&PathBuf::from("/dev").join(&pname)) else {
                continue;
            };
            if wipe {
                return Err(at(format!(
                    "refusing to wipe the partition table: partition {n} ({pname}) is in use ({why})"
                )));
            }
            if plan.actions.iter().any(|a| a.modifies() && a.number() == n) {
                return Err(at(format!(
                    "refusing to modify partition {n} ({pname}): it is in use ({why})"
                )));
            }
        }
        disks.push(DiskWork {
            cfg: d,
            dev,
            sector_size,
            fresh: wipe || kind != gpt::TableKind::Gpt,
            plan,
        });
    }

    // 4. Every other device exists or is made by this config.
    let made = |path: &str| predicted(config, &disks, path);
    for r in &st.raid {
        for m in &r.devices {
            if !made(m) && blockdev::resolve(m)?.is_none() {
                return Err(format!("raid {}: device {m} not found", r.name));
            }
        }
    }
    for l in &st.luks {
        let d = l
            .device
            .as_deref()
            .ok_or_else(|| format!("luks {}: no device", l.name))?;
        if !made(d) && blockdev::resolve(d)?.is_none() {
            return Err(format!("luks {}: device {d} not found", l.name));
        }
    }

    // 5. Filesystems that exist now and that nothing above touches: the
    //    reuse rule, decided before writing.
    let mut decided = BTreeMap::new();
    for (i, f) in st.filesystems.iter().enumerate() {
        if f.format.is_none() {
            continue;
        }
        if made(&f.device) {
            continue;
        }
        let dev = blockdev::resolve(&f.device)?
            .ok_or_else(|| format!("filesystem {}: device not found", f.device))?;
        if touched(&disks, &dev) {
            continue;
        }
        let found = filesystems::probe(&dev)?;
        let d = filesystems::decide(f, &found)?;
        if d == Decision::Create {
            if let Some(why) = blockdev::busy(&dev) {
                return Err(format!(
                    "filesystem {} ({}): refusing to format a device that is in use ({why})",
                    f.device,
                    dev.display()
                ));
            }
        }
        decided.insert(i, d);
    }
    Ok(Prepared {
        disks,
        keys,
        decided,
    })
}

/// Whether `path` names a device this config creates: a partition in a
/// planned table (by kernel path, partlabel or given partuuid), a RAID
/// array, or an opened LUKS volume.
fn predicted(config: &Config, disks: &[DiskWork], path: &str) -> bool {
    let by = blockdev::by_name(path);
    for w in disks {
        for p in &w.plan.table {
            if blockdev::partition_path(&w.dev, p.number) == Path::new(path) {
                return true;
            }
            match &by {
                Some(ByName::PartLabel(l)) if !p.label.is_empty() && *l == p.label => return true,
                Some(ByName::PartUuid(u)) if !p.guid.is_empty() && *u == p.guid => return true,
                _ => {}
            }
        }
    }
    if config
        .storage
        .raid
        .iter()
        .any(|r| raid::device_path(r) == Path::new(path))
    {
        return true;
    }
    config.storage.luks.iter().any(|l| {
        luks::mapper_path(l) == Path::new(path)
            || path == format!("/dev/disk/by-id/dm-name-{}", l.name)
            || match &by {
                Some(ByName::Uuid(u)) => l.uuid.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(u)),
                Some(ByName::Label(lab)) => l.label.as_ref() == Some(lab),
                _ => false,
            }
    })
}

/// Whether the plan rewrites `dev`: a disk being partitioned, or a
/// partition that is created, recreated, resized or on a wiped disk.
fn touched(disks: &[DiskWork], dev: &Path) -> bool {
    let name = blockdev::kernel_name(dev);
    for w in disks {
        if w.dev == dev && w.plan.writes() {
            return true;
        }
        let disk = blockdev::kernel_name(&w.dev);
        for (n, (pname, _, _)) in blockdev::kernel_partitions(&disk) {
            if pname == name
                && (w.plan.wipe_table
                    || w.plan
                        .actions
                        .iter()
                        .any(|a| a.modifies() && a.number() == n))
            {
                return true;
            }
        }
    }
    false
}

fn describe(config: &Config, p: &Prepared) -> Vec<String> {
    let mut ops = Vec::new();
    for w in &p.disks {
        let d = format!("disk {} ({})", w.cfg.device, w.dev.display());
        let mib = (1024 * 1024 / w.sector_size).max(1);
        if w.plan.wipe_table {
            ops.push(format!("{d}: wipe the partition table"));
        }
        for a in &w.plan.actions {
            ops.push(format!("{d}: {}", a.describe(mib)));
        }
        if w.plan.writes() {
            ops.push(format!("{d}: write the GPT and tell the kernel"));
        }
    }
    for r in &config.storage.raid {
        let args = raid::create_args(r, &r.devices).unwrap_or_default();
        ops.push(format!("raid {}: {}", r.name, cmd::display("mdadm", &args)));
    }
    for l in &config.storage.luks {
        let key = if p.keys.contains_key(&l.name) {
            "the given key file"
        } else {
            "a generated key"
        };
        ops.push(format!(
            "luks {}: format {} as LUKS2 (unless it can be reused) with {key}, open as {}",
            l.name,
            l.device.as_deref().unwrap_or("?"),
            luks::mapper_path(l).display()
        ));
    }
    for (i, f) in config.storage.filesystems.iter().enumerate() {
        let Some(format) = &f.format else {
            continue;
        };
        let what = match p.decided.get(&i) {
            Some(Decision::Reuse) => format!("keep the existing {format} filesystem"),
            Some(Decision::Create) | None if format == "none" => "wipe signatures".to_string(),
            Some(Decision::Create) => format!("create {format}"),
            Some(Decision::Nothing) => continue,
            None => format!("create {format} (unless a matching one is found after partitioning)"),
        };
        ops.push(format!("filesystem {}: {what}", f.device));
    }
    ops
}

fn apply(config: &Config, p: Prepared, state: &mut State) -> Result<(), String> {
    if !Path::new("/run/udev/control").exists() {
        // No udev: device-mapper must create its nodes itself instead of
        // waiting for udev to confirm (cryptsetup would hang otherwise).
        std::env::set_var("DM_DISABLE_UDEV", "1");
    }
    // Partitions.
    for w in &p.disks {
        if !w.plan.writes() {
            tracing::info!("disk {}: partitions already as asked", w.cfg.device);
            continue;
        }
        let at = |e: String| format!("disk {} ({}): {e}", w.cfg.device, w.dev.display());
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&w.dev)
            .map_err(|e| at(format!("opening it for writing: {e}")))?;
        let mib = (1024 * 1024 / w.sector_size).max(1);
        for a in &w.plan.actions {
            tracing::info!("disk {}: {}", w.cfg.device, a.describe(mib));
        }
        if w.plan.wipe_table {
            tracing::info!("disk {}: wiping the partition table", w.cfg.device);
            gpt::zap(&mut f, w.sector_size).map_err(at)?;
        }
        if !(w.plan.wipe_table && w.plan.table.is_empty()) {
            gpt::write_table(&mut f, w.sector_size, &w.plan.table, w.fresh).map_err(at)?;
        }
        let is_block = f
            .metadata()
            .map(|m| m.file_type().is_block_device())
            .unwrap_or(false);
        if is_block {
            blockdev::sync_kernel(&f, &w.dev, &w.plan.table, w.sector_size).map_err(at)?;
        }
    }
    let wait = |path: &str, what: &str| {
        blockdev::wait_for(Path::new(path), Duration::from_secs(15))
            .map_err(|e| format!("{what}: {e}"))
    };

    // RAID.
    for r in &config.storage.raid {
        let what = format!("raid {}", r.name);
        let mut members = Vec::new();
        for m in &r.devices {
            members.push(wait(m, &what)?.display().to_string());
        }
        let args = raid::create_args(r, &members)?;
        cmd::run("mdadm", &args, None).map_err(|e| format!("{what}: mdadm failed: {e}"))?;
        wait(&raid::device_path(r).display().to_string(), &what)?;
    }

    // LUKS.
    let mut persist = serde_json::Map::new();
    if let serde_json::Value::Object(m) = &state.luks_persist_key_files {
        persist = m.clone();
    }
    for l in &config.storage.luks {
        let what = format!("luks {}", l.name);
        let dev = wait(l.device.as_deref().unwrap_or(""), &what)?;
        let (key, generated) = match p.keys.get(&l.name) {
            Some(k) => (k.clone(), false),
            None => (luks::generate_key()?, true),
        };
        let key_file = luks::write_key(&l.name, &key).map_err(|e| format!("{what}: {e}"))?;
        let result = luks_one(l, &dev, &key_file, generated);
        let _ = std::fs::remove_file(&key_file);
        let keep_key = result.map_err(|e| format!("{what} ({}): {e}", dev.display()))?;
        if keep_key {
            persist.insert(l.name.clone(), crate::exec::acquire::data_url(&key).into());
        }
        wait(&luks::mapper_path(l).display().to_string(), &what)?;
    }
    if !config.storage.luks.is_empty() {
        state.luks_persist_key_files = serde_json::Value::Object(persist);
    }

    // Filesystems, a few at a time as Go does.
    let fss: Vec<(usize, &Filesystem)> = config
        .storage
        .filesystems
        .iter()
        .enumerate()
        .filter(|(_, f)| f.format.is_some())
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let decided = &p.decided;
    let errors: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<(usize, &Filesystem)> =
                    fss.iter().copied().skip(t).step_by(threads).collect();
                s.spawn(move || {
                    mine.into_iter()
                        .filter_map(|(i, f)| filesystem_one(f, decided.get(&i).cloned()).err())
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a filesystem thread panicked".into()])
            })
            .collect()
    });
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(())
}

/// Formats (or reuses) and opens one LUKS volume. Returns whether its key
/// is to be kept for the files stage.
fn luks_one(
    l: &crate::model::Luks,
    dev: &Path,
    key_file: &Path,
    generated: bool,
) -> Result<bool, String> {
    let d = dev.display().to_string();
    if l.wipe_volume != Some(true) {
        let info = filesystems::probe(dev)?;
        if luks::is_luks2(dev)? {
            luks::reuse(l, dev, key_file, &info.label).map_err(|e| {
                format!("wipeVolume is not set and the volume cannot be reused: {e}")
            })?;
            tracing::info!("luks {}: reusing the volume on {d}", l.name);
            return Ok(true);
        }
        if !info.kind.is_empty() {
            return Err(format!("found {} and wipeVolume is not set", info.kind));
        }
    } else {
        cmd::run("wipefs", &["-a".into(), d.clone()], None)
            .map_err(|e| format!("wipefs failed: {e}"))?;
    }
    cmd::run("cryptsetup", &luks::format_args(l, key_file, dev), None)
        .map_err(|e| format!("cryptsetup failed: {e}"))?;
    cmd::run("cryptsetup", &luks::open_args(l, key_file, dev), None)
        .map_err(|e| format!("opening the volume failed: {e}"))?;
    if luks::wants_clevis(l) {
        let (pin, cfg) = luks::clevis_pin(l)?;
        let kf = key_file.display().to_string();
        cmd::run(
            "clevis",
            &[
                "luks".into(),
                "bind".into(),
                "-f".into(),
                "-k".into(),
                kf.clone(),
                "-d".into(),
                d.clone(),
                pin,
                cfg,
            ],
            None,
        )
        .map_err(|e| format!("clevis bind failed: {e}"))?;
        if generated {
            cmd::run("cryptsetup", &["luksRemoveKey".into(), d, kf], None)
                .map_err(|e| format!("removing the generated key failed: {e}"))?;
            return Ok(false);
        }
    }
    Ok(true)
}

fn filesystem_one(f: &Filesystem, decided: Option<Decision>) -> Result<(), String> {
    let dev = blockdev::wait_for(Path::new(&f.device), Duration::from_secs(15))
        .map_err(|e| format!("filesystem {}: {e}", f.device))?;
    let decision = match decided {
        Some(d) => d,
        None => {
            let found = filesystems::probe(&dev).map_err(|e| format!("filesystem {e}"))?;
            tracing::info!(
                "filesystem {}: found {:?} (label {:?}, UUID {:?})",
                f.device,
                found.kind,
                found.label,
                found.uuid
            );
            filesystems::decide(f, &found).map_err(|e| format!("filesystem {e}"))?
        }
    };
    match decision {
        Decision::Nothing => Ok(()),
        Decision::Reuse => {
            tracing::info!("filesystem {}: already as asked, keeping it", f.device);
            Ok(())
        }
        Decision::Create => filesystems::create(f, &dev).map_err(|e| format!("filesystem {e}")),
    }
}
