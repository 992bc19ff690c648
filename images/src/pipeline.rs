//! `images build`: the steps, each cached by the hash of its inputs, then the output directory.
//!
//! rootfs (mmdebstrap) → base (initramfs, ostree layout, commit) → commit (overlay layer on the
//! base, `version`) → disk (sysroot, deploy, filesystems, GPT, extlinux, qcow2) → DIR.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::base::{self, Base};
use crate::cache::{Cache, Key, Outcome};
use crate::layer::{self, Commit};
use crate::layout::{self, Partition};
use crate::manifest;
use crate::{binaries, bls, disk, ostree, rootfs, sysroot};

#[derive(Debug, Clone)]
pub struct Options {
    pub output: PathBuf,
    pub manifest: Option<PathBuf>,
    pub cache: PathBuf,
    pub bin_dir: PathBuf,
}

/// The cache directory by default: `$MOORING_CACHE`, else /var/cache/mooring.
pub fn default_cache() -> PathBuf {
    std::env::var_os("MOORING_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/mooring"))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiskStep {
    pub raw: PathBuf,
    pub qcow2: PathBuf,
    pub sysroot_dir: PathBuf,
    pub deployment: PathBuf,
    pub bls_entry: String,
    pub syslinux_cfg: String,
    pub partitions: Vec<Partition>,
}

/// `DIR/build.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    #[serde(rename = "ref")]
    pub ostree_ref: String,
    pub commit: String,
    pub version: String,
    pub kernel_version: String,
    pub stateroot: String,
    /// First-boot kernel arguments, without `ostree=`.
    pub kargs: Vec<String>,
    /// The `ostree=` argument of the deployment on the disk.
    pub ostree_karg: String,
    pub partitions: Vec<Partition>,
    pub artifacts: Artifacts,
    /// The deployed sysroot tree in the cache (root partition contents, `boot/` included).
    pub sysroot_dir: PathBuf,
    /// The deployment, relative to the sysroot.
    pub deployment: PathBuf,
    /// Kernel and initramfs inside the deployment (host paths in the cache).
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub initramfs_bytes: u64,
    /// The cache keys this output was made from.
    pub keys: Keys,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifacts {
    #[serde(rename = "disk.raw")]
    pub disk_raw: String,
    #[serde(rename = "disk.qcow2")]
    pub disk_qcow2: String,
    pub repo: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pxe: Option<String>,
    #[serde(rename = "live.iso", skip_serializing_if = "Option::is_none", default)]
    pub live_iso: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keys {
    pub rootfs: String,
    pub base: String,
    pub commit: String,
    pub disk: String,
}

/// What a build did, step by step (for tests and the benchmark).
#[derive(Debug, Clone)]
pub struct Summary {
    pub info: BuildInfo,
    pub steps: Vec<(&'static str, Outcome)>,
    pub published: bool,
}

pub fn build(opts: &Options) -> Result<Summary> {
    let started = Instant::now();
    let m = manifest::load(opts.manifest.as_deref())?;
    eprintln!(
        "[images] manifest {}, cache {}",
        m.source,
        opts.cache.display()
    );
    let mut names: Vec<&str> = vec!["ignition"];
    names.extend(m.manifest.overlay.binaries.iter().map(|b| b.name.as_str()));
    let bins = binaries::locate(&opts.bin_dir, &names)?;
    let ignition = &bins[0];
    fs::create_dir_all(&opts.cache)
        .with_context(|| format!("creating {}", opts.cache.display()))?;
    let cache = Cache::new(opts.cache.clone());
    let repo = opts.cache.join("repo");
    let mut steps = Vec::new();

    // rootfs
    let rootfs_key = rootfs::key(&m.manifest.rootfs).hex();
    let ((), o) = cache.step("rootfs", &rootfs_key, |work| {
        rootfs::build(&m.manifest.rootfs, work)
    })?;
    steps.push(("rootfs", o));
    let rootfs_dir = cache.work_dir("rootfs", &rootfs_key).join("rootfs");

    // base: initramfs + ostree layout + commit
    let mut bk = base::key(&rootfs_key, ignition)?;
    for (dir, name) in initramfs::module::extra_modules() {
        bk.add_tree(&format!("dracut:{name}"), &dir)?;
    }
    let base_key = bk.hex();
    let (base, o) = cache.step("base", &base_key, |work| {
        base::build(&rootfs_dir, ignition, &repo, work)
    })?;
    let base: Base = ensure_commit(base, &repo)?;
    steps.push(("base", o));

    // commit: the overlay layer
    let commit_key = layer::key(&m, &base.commit, &opts.bin_dir)?.hex();
    let (commit, o) = cache.step("commit", &commit_key, |work| {
        layer::build(&m, &base.commit, &opts.bin_dir, &repo, work, &commit_key)
    })?;
    let commit: Commit = commit;
    steps.push(("commit", o));

    // disk
    let lay = layout::plan(
        m.manifest.disk.size_mib,
        m.manifest.disk.efi_mib,
        m.manifest.disk.boot_mib,
    )
    .map_err(anyhow::Error::msg)?;
    let mut dk = Key::new();
    dk.add_str("format", disk::FORMAT)
        .add_str("commit", &commit.commit)
        .add_str("manifest", &serde_json::to_string(&m.manifest)?);
    let disk_key = dk.hex();
    let (d, o) = cache.step("disk", &disk_key, |work| {
        make_disk(&m.manifest, &repo, &lay, work)
    })?;
    steps.push(("disk", o));

    let kargs = bls::without_ostree(&bls::options(&d.bls_entry));
    let ostree_karg = bls::options(&d.bls_entry)
        .into_iter()
        .find(|k| k.starts_with("ostree="))
        .unwrap_or_default();
    let (kernel, initramfs_path) = base::kernel_paths(&base.kernel_version);
    let dep = d.sysroot_dir.join(&d.deployment);
    let info = BuildInfo {
        ostree_ref: m.manifest.ostree_ref.clone(),
        commit: commit.commit.clone(),
        version: commit.version.clone(),
        kernel_version: base.kernel_version.clone(),
        stateroot: m.manifest.stateroot.clone(),
        kargs,
        ostree_karg,
        partitions: d.partitions.clone(),
        artifacts: Artifacts {
            disk_raw: "disk.raw".into(),
            disk_qcow2: "disk.qcow2".into(),
            repo: "repo".into(),
            pxe: None,
            live_iso: None,
        },
        sysroot_dir: d.sysroot_dir.clone(),
        deployment: d.deployment.clone(),
        kernel: dep.join(kernel.strip_prefix("/").unwrap_or(&kernel)),
        initramfs: dep.join(initramfs_path.strip_prefix("/").unwrap_or(&initramfs_path)),
        initramfs_bytes: base.initramfs_bytes,
        keys: Keys {
            rootfs: rootfs_key,
            base: base_key,
            commit: commit_key,
            disk: disk_key,
        },
    };
    let published = publish(opts, &repo, &d, info.clone())?;
    let info = read_info(&opts.output)?;
    eprintln!(
        "[images] done in {:.1}s: {} ({} {})",
        started.elapsed().as_secs_f64(),
        opts.output.display(),
        info.ostree_ref,
        info.version
    );
    Ok(Summary {
        info,
        steps,
        published,
    })
}

/// A cached base whose commit is gone from the repo (the repo was removed) is rebuilt.
fn ensure_commit(base: Base, repo: &Path) -> Result<Base> {
    if ostree::rev_parse(repo, &base.commit).is_err() {
        anyhow::bail!(
            "{}: the cached base commit {} is missing; remove {} and build again",
            repo.display(),
            base.commit,
            repo.parent().unwrap_or(repo).join("base").display()
        );
    }
    Ok(base)
}

fn make_disk(
    m: &manifest::Manifest,
    repo: &Path,
    lay: &layout::Layout,
    work: &Path,
) -> Result<DiskStep> {
    let sysroot_dir = work.join("sysroot");
    fs::create_dir_all(&sysroot_dir)
        .with_context(|| format!("creating {}", sysroot_dir.display()))?;
    let dep = sysroot::deploy(m, repo, &sysroot_dir)?;
    // The boot partition gets sysroot/boot; the root partition the rest (with an empty /boot).
    let boot_dir = work.join("boot");
    fs::rename(sysroot_dir.join("boot"), &boot_dir).context("moving the sysroot's boot aside")?;
    fs::create_dir(sysroot_dir.join("boot")).context("creating the /boot mount point")?;
    let raw = work.join("disk.raw");
    let result = disk::build(lay, &boot_dir, &sysroot_dir, &raw);
    fs::remove_dir(sysroot_dir.join("boot")).context("removing the /boot mount point")?;
    fs::rename(&boot_dir, sysroot_dir.join("boot")).context("moving boot back into the sysroot")?;
    result?;
    let qcow2 = work.join("disk.qcow2");
    disk::to_qcow2(&raw, &qcow2)?;
    Ok(DiskStep {
        raw,
        qcow2,
        sysroot_dir,
        deployment: dep.deployment,
        bls_entry: dep.bls_entry,
        syslinux_cfg: dep.syslinux_cfg,
        partitions: lay.partitions.clone(),
    })
}

pub fn read_info(dir: &Path) -> Result<BuildInfo> {
    let p = dir.join("build.json");
    let text = fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", p.display()))
}

/// Fills DIR; nothing to do when DIR/build.json already describes this build and its files are
/// there.
fn publish(opts: &Options, repo: &Path, d: &DiskStep, mut info: BuildInfo) -> Result<bool> {
    let out = &opts.output;
    let have_all = |i: &BuildInfo| {
        out.join("disk.raw").is_file()
            && out.join("disk.qcow2").is_file()
            && out.join("repo/config").is_file()
            && i.artifacts
                .pxe
                .as_ref()
                .map_or(true, |p| out.join(p).exists())
            && i.artifacts
                .live_iso
                .as_ref()
                .map_or(true, |p| out.join(p).exists())
    };
    if let Ok(old) = read_info(out) {
        if old.keys == info.keys && have_all(&old) {
            eprintln!("[images] output: up to date");
            return Ok(false);
        }
    }
    let started = Instant::now();
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let _ = fs::remove_file(out.join("build.json"));
    for (src, name) in [(&d.raw, "disk.raw"), (&d.qcow2, "disk.qcow2")] {
        let dest = out.join(name);
        let _ = fs::remove_file(&dest);
        crate::run::quiet(
            "cp",
            &[
                "--sparse=always",
                "--reflink=auto",
                &src.to_string_lossy(),
                &dest.to_string_lossy(),
            ],
        )?;
    }
    let out_repo = out.join("repo");
    ostree::ensure_archive_repo(&out_repo)?;
    ostree::pull_local(&out_repo, repo, None, &[&info.ostree_ref])?;
    crate::run::quiet(
        "ostree",
        &["summary", "-u", &format!("--repo={}", out_repo.display())],
    )?;

    // PXE and live ISO: images::pxe / images::iso (written alongside; see docs/images.md).
    live_artifacts(out, &mut info)?;

    let json = serde_json::to_vec_pretty(&info)?;
    fs::write(out.join("build.json"), json)
        .with_context(|| format!("writing {}/build.json", out.display()))?;
    eprintln!("[images] output: {:.1}s", started.elapsed().as_secs_f64());
    Ok(true)
}

/// The PXE artifacts and the live ISO, made by `images::pxe` / `images::iso` (another part of
/// issue 8) from this build's sysroot, kernel and initramfs.
fn live_artifacts(out: &Path, info: &mut BuildInfo) -> Result<()> {
    {
        let mut kargs = info.kargs.clone();
        kargs.retain(|k| k != "ignition.platform.id=qemu" && k != "root=LABEL=root");
        kargs.push(info.ostree_karg.clone());
        let inputs = crate::pxe::LiveInputs {
            kernel: info.kernel.clone(),
            initramfs: info.initramfs.clone(),
            sysroot_dir: info.sysroot_dir.clone(),
            kargs,
            volume_id: "MOORING".into(),
        };
        crate::pxe::build_live(&inputs, &out.join("pxe"), &out.join("live.iso"))?;
        info.artifacts.pxe = Some("pxe".into());
        info.artifacts.live_iso = Some("live.iso".into());
    }
    Ok(())
}
