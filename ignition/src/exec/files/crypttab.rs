//! LUKS volumes in the target root, as Go Ignition's files stage leaves
//! them: for every `storage.luks` volume one `/etc/crypttab` line
//! (`NAME UUID=<luksUUID> KEYFILE luks[,_netdev]`, appended, the file mode
//! 0600), and for volumes without Clevis the key the disks stage kept in the
//! state file's `luksPersistKeyFiles` written to `/etc/luks/NAME` (mode 0600;
//! `/etc/luks` is created 0700 when missing). Afterwards the keys are dropped
//! from the state, so they only live on the (possibly encrypted) root.
//!
//! Like Go, the line carries no `discard` and no `openOptions`: the disks
//! stage opens volumes with `--persistent`, so those flags live in the LUKS2
//! header and systemd-cryptsetup applies them from there.
//!
//! Everything (UUIDs, keys, paths) is gathered before the root is touched;
//! the writes go through the stage's own entry writer ([`super::apply_entries`]),
//! so they get its root confinement, overwrite rule and relabeling.

use crate::fetch::{fetch_resource, Fetcher};
use crate::model::{Config, Luks, Resource};

use super::super::rootcache::CachedRoot;
use super::plan::{Entry, Kind};

/// Where Go puts the key files in the target root.
pub const KEY_DIR: &str = "/etc/luks";
pub const CRYPTTAB: &str = "/etc/crypttab";
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// Go's `Clevis.IsPresent`: a custom pin, Tang servers, TPM2, or a
/// threshold other than 0.
pub fn clevis_present(l: &Luks) -> bool {
    let c = &l.clevis;
    c.custom.pin.as_deref().is_some_and(|p| !p.is_empty())
        || !c.tang.is_empty()
        || c.tpm2 == Some(true)
        || c.threshold.is_some_and(|t| t != 0)
}

/// Whether unlocking needs the network (`_netdev`): Tang servers, or a
/// custom pin that says it needs the network.
pub fn needs_network(l: &Luks) -> bool {
    !l.clevis.tang.is_empty()
        || (l
            .clevis
            .custom
            .pin
            .as_deref()
            .is_some_and(|p| !p.is_empty())
            && l.clevis.custom.needs_network == Some(true))
}

/// The key file path in the target root, or None when Clevis unlocks the
/// volume (crypttab then says `none`).
pub fn key_file(l: &Luks) -> Option<String> {
    (!clevis_present(l)).then(|| format!("{KEY_DIR}/{}", l.name))
}

/// One crypttab line, newline included.
pub fn line(l: &Luks, uuid: &str) -> String {
    let key = key_file(l).unwrap_or_else(|| "none".into());
    let netdev = if needs_network(l) { ",_netdev" } else { "" };
    format!("{} UUID={uuid} {key} luks{netdev}\n", l.name)
}

/// The volume's LUKS UUID, as Go gets it: `cryptsetup luksUUID DEVICE`
/// (the device resolved without udev, like the disks stage does).
pub fn luks_uuid(l: &Luks) -> Result<String, String> {
    let dev = l.device.as_deref().unwrap_or("");
    let path = super::super::disks::blockdev::resolve(dev)?
        .ok_or_else(|| format!("device {dev} not found"))?;
    let out = super::super::cmd::run(
        "cryptsetup",
        &["luksUUID".into(), path.display().to_string()],
        None,
    )
    .map_err(|e| format!("gathering the LUKS UUID of {dev}: {e}"))?;
    let uuid = String::from_utf8_lossy(&out).trim().to_string();
    if uuid.is_empty() {
        return Err(format!("cryptsetup luksUUID {dev} printed nothing"));
    }
    Ok(uuid)
}

/// What the stage will write for the LUKS volumes.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: Vec<Entry>,
    /// The crypttab lines, for the dry run.
    pub lines: Vec<String>,
}

impl Plan {
    pub fn describe(&self) -> Vec<String> {
        let mut ops = Vec::new();
        for e in &self.entries {
            match &e.kind {
                Kind::Dir { .. } => {
                    ops.push(format!("create directory {} (mode {DIR_MODE:04o})", e.path))
                }
                Kind::File {
                    contents: Some(c), ..
                } => ops.push(format!(
                    "write LUKS key file {} ({} bytes, mode {FILE_MODE:04o})",
                    e.path,
                    c.len()
                )),
                _ => {
                    for l in &self.lines {
                        ops.push(format!(
                            "append to {} (mode {FILE_MODE:04o}): {}",
                            e.path,
                            l.trim_end()
                        ));
                    }
                }
            }
        }
        ops
    }
}

fn entry(at: String, config_path: &str, path: String, kind: Kind) -> Entry {
    Entry {
        at,
        config_path: config_path.into(),
        path,
        overwrite: false,
        user: Default::default(),
        group: Default::default(),
        kind,
    }
}

/// Plans the key files and crypttab lines. `persisted` is the state file's
/// `luksPersistKeyFiles` (volume name → data URL); `uuid_of` finds a
/// volume's LUKS UUID; in a dry run a failed lookup only shows in the line.
pub fn plan(
    config: &Config,
    root: &CachedRoot,
    fetchers: &dyn Fetcher,
    persisted: &serde_json::Value,
    uuid_of: &dyn Fn(&Luks) -> Result<String, String>,
    dry_run: bool,
) -> Result<Plan, String> {
    let mut plan = Plan::default();
    if config.storage.luks.is_empty() {
        return Ok(plan);
    }
    let resolve = |p: &str, at: &str| {
        root.resolve(p)
            .map_err(|e| format!("{at}: resolving {p} in the root: {e}"))
    };
    let mut keys = Vec::new();
    for (i, l) in config.storage.luks.iter().enumerate() {
        let at = format!("$.storage.luks.{i} (luks {})", l.name);
        if l.cex.enabled == Some(true) {
            return Err(format!("{at}: IBM CEX keys are not supported"));
        }
        let uuid = match uuid_of(l) {
            Ok(u) => u,
            Err(e) if dry_run => format!("<unknown: {e}>"),
            Err(e) => return Err(format!("{at}: {e}")),
        };
        plan.lines.push(line(l, &uuid));
        let Some(path) = key_file(l) else { continue };
        if l.name.is_empty() || l.name.contains('/') || l.name == "." || l.name == ".." {
            return Err(format!("{at}: {:?} cannot name a key file", l.name));
        }
        let url = persisted
            .get(&l.name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                format!("{at}: missing persisted keyfile for {} (the disks stage keeps it in the state file)", l.name)
            })?;
        if !url.starts_with("data:") {
            return Err(format!("{at}: the persisted keyfile is not a data URL"));
        }
        let res = Resource {
            source: Some(url.to_string()),
            ..Default::default()
        };
        let key = fetch_resource(fetchers, &res)
            .map_err(|e| format!("{at}: decoding the persisted keyfile: {e}"))?;
        let resolved = resolve(&path, &at)?;
        keys.push(entry(
            format!("$.storage.luks.{i}"),
            &path,
            resolved,
            Kind::File {
                contents: Some(key),
                appends: Vec::new(),
                mode: Some(FILE_MODE),
            },
        ));
    }
    // As Go: the key directory is created 0700 only when it is missing
    // (an existing one keeps its mode).
    if !keys.is_empty() {
        let missing = match root.root().resolve_all(KEY_DIR) {
            Ok(p) => std::fs::symlink_metadata(root.host(&p)).is_err(),
            Err(_) => true,
        };
        if missing {
            let resolved = resolve(KEY_DIR, "$.storage.luks")?;
            plan.entries.push(entry(
                "$.storage.luks".into(),
                KEY_DIR,
                resolved,
                Kind::Dir {
                    mode: Some(DIR_MODE),
                },
            ));
        }
    }
    plan.entries.extend(keys);
    let resolved = resolve(CRYPTTAB, "$.storage.luks")?;
    plan.entries.push(entry(
        "$.storage.luks".into(),
        CRYPTTAB,
        resolved,
        Kind::File {
            contents: None,
            appends: vec![plan.lines.concat().into_bytes()],
            mode: Some(FILE_MODE),
        },
    ));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Clevis, ClevisCustom, Tang};

    fn luks(name: &str) -> Luks {
        Luks {
            name: name.into(),
            device: Some("/dev/vdb1".into()),
            ..Default::default()
        }
    }

    const U: &str = "3b1f5a2c-0d4e-4f6a-9b8c-7d6e5f4a3b2c";

    #[test]
    fn generated_or_custom_key_file() {
        // Whether the key was generated or given, the root gets it under /etc/luks.
        let mut l = luks("data");
        assert_eq!(line(&l, U), format!("data UUID={U} /etc/luks/data luks\n"));
        l.key_file.source = Some("data:,secret".into());
        assert_eq!(line(&l, U), format!("data UUID={U} /etc/luks/data luks\n"));
    }

    #[test]
    fn discard_and_open_options_stay_in_the_header() {
        let mut l = luks("data");
        l.discard = Some(true);
        l.open_options = vec!["--perf-no_read_workqueue".into()];
        assert_eq!(line(&l, U), format!("data UUID={U} /etc/luks/data luks\n"));
    }

    #[test]
    fn clevis_tang_needs_the_network() {
        let mut l = luks("root");
        l.clevis = Clevis {
            tang: vec![Tang {
                url: "http://tang".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(line(&l, U), format!("root UUID={U} none luks,_netdev\n"));
        assert_eq!(key_file(&l), None);
    }

    #[test]
    fn clevis_without_network() {
        let mut l = luks("root");
        l.clevis.tpm2 = Some(true);
        assert_eq!(line(&l, U), format!("root UUID={U} none luks\n"));
        // A threshold alone counts as Clevis, as in Go.
        let mut l = luks("t");
        l.clevis.threshold = Some(1);
        assert_eq!(line(&l, U), format!("t UUID={U} none luks\n"));
        // A custom pin that does not say it needs the network.
        let mut l = luks("c");
        l.clevis.custom = ClevisCustom {
            pin: Some("tpm2".into()),
            config: Some("{}".into()),
            needs_network: Some(false),
        };
        assert_eq!(line(&l, U), format!("c UUID={U} none luks\n"));
    }

    #[test]
    fn clevis_custom_pin_with_network() {
        let mut l = luks("c");
        l.clevis.custom = ClevisCustom {
            pin: Some("tang".into()),
            config: Some("{\"url\":\"http://t\"}".into()),
            needs_network: Some(true),
        };
        assert_eq!(line(&l, U), format!("c UUID={U} none luks,_netdev\n"));
        // needsNetwork without a pin means nothing.
        let mut l = luks("d");
        l.clevis.custom.needs_network = Some(true);
        assert_eq!(line(&l, U), format!("d UUID={U} /etc/luks/d luks\n"));
    }
}

#[cfg(test)]
mod stage_tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::super::root::Root;
    use super::super::super::state::State;
    use super::super::{run_inner, FilesOptions};
    use crate::model::{Config, Luks};

    fn config() -> Config {
        let mut c = Config::default();
        let mut data = Luks {
            name: "data".into(),
            device: Some("/dev/vdb1".into()),
            discard: Some(true),
            ..Default::default()
        };
        data.key_file.source = Some("data:,given".into());
        let mut root = Luks {
            name: "root".into(),
            device: Some("/dev/vdb2".into()),
            ..Default::default()
        };
        root.clevis.tpm2 = Some(true);
        let swap = Luks {
            name: "swap".into(),
            device: Some("/dev/vdb3".into()),
            ..Default::default()
        };
        c.storage.luks = vec![data, root, swap];
        c
    }

    fn uuid_of(l: &Luks) -> Result<String, String> {
        Ok(format!("uuid-of-{}", l.name))
    }

    fn setup(state_json: &str) -> (tempfile::TempDir, FilesOptions, State) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/etc")).unwrap();
        std::fs::write(dir.path().join("boot_id"), "b\n").unwrap();
        let state_path = dir.path().join("state");
        std::fs::write(&state_path, state_json).unwrap();
        let state = State::load(&state_path).unwrap();
        let opts = FilesOptions {
            boot_id_path: dir.path().join("boot_id"),
            user_config_provided: true,
            dry_run: false,
        };
        (dir, opts, state)
    }

    const STATE: &str = r#"{"fetchedConfigs":null,"luksPersistKeyFiles":{"data":"data:,given","root":"data:,kept-for-clevis","swap":"data:;base64,Z2VuZXJhdGVk"},"notatedDirectories":null}"#;

    #[test]
    fn writes_keys_and_crypttab_from_the_state_file() {
        let (dir, opts, mut state) = setup(STATE);
        let rootdir = dir.path().join("root");
        std::fs::write(rootdir.join("etc/crypttab"), "old UUID=x none luks\n").unwrap();
        let root = Root::new(&rootdir).unwrap();
        let f = crate::fetch::Fetchers::new();
        let ops = run_inner(&config(), &root, &f, &opts, Some((&mut state, &uuid_of))).unwrap();
        assert!(ops.is_empty());
        let mode = |p: &str| {
            std::fs::symlink_metadata(rootdir.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("etc/luks"), 0o700);
        assert_eq!(
            std::fs::read(rootdir.join("etc/luks/data")).unwrap(),
            b"given"
        );
        assert_eq!(
            std::fs::read(rootdir.join("etc/luks/swap")).unwrap(),
            b"generated"
        );
        assert_eq!(mode("etc/luks/data"), 0o600);
        assert_eq!(mode("etc/luks/swap"), 0o600);
        // Clevis: no key file in the root.
        assert!(!rootdir.join("etc/luks/root").exists());
        assert_eq!(
            std::fs::read_to_string(rootdir.join("etc/crypttab")).unwrap(),
            "old UUID=x none luks\n\
             data UUID=uuid-of-data /etc/luks/data luks\n\
             root UUID=uuid-of-root none luks\n\
             swap UUID=uuid-of-swap /etc/luks/swap luks\n"
        );
        assert_eq!(mode("etc/crypttab"), 0o600);
        assert_eq!(state.luks_persist_key_files, serde_json::Value::Null);
        assert!(state
            .to_bytes()
            .starts_with(br#"{"fetchedConfigs":[],"luksPersistKeyFiles":null"#));
    }

    #[test]
    fn an_existing_key_directory_keeps_its_mode() {
        let (dir, opts, mut state) = setup(STATE);
        let rootdir = dir.path().join("root");
        std::fs::create_dir(rootdir.join("etc/luks")).unwrap();
        std::fs::set_permissions(
            rootdir.join("etc/luks"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        let root = Root::new(&rootdir).unwrap();
        let f = crate::fetch::Fetchers::new();
        run_inner(&config(), &root, &f, &opts, Some((&mut state, &uuid_of))).unwrap();
        let m = std::fs::metadata(rootdir.join("etc/luks")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o750);
    }

    #[test]
    fn a_missing_key_fails_before_any_write() {
        let (dir, opts, mut state) =
            setup(r#"{"fetchedConfigs":null,"luksPersistKeyFiles":{"data":"data:,given"}}"#);
        let rootdir = dir.path().join("root");
        let root = Root::new(&rootdir).unwrap();
        let f = crate::fetch::Fetchers::new();
        let err = run_inner(&config(), &root, &f, &opts, Some((&mut state, &uuid_of))).unwrap_err();
        assert!(
            err.contains("$.storage.luks.2 (luks swap): missing persisted keyfile"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(rootdir.join("etc")).unwrap().count(), 0);
        assert_ne!(state.luks_persist_key_files, serde_json::Value::Null);
    }

    #[test]
    fn dry_run_prints_and_writes_nothing() {
        let (dir, mut opts, mut state) = setup(STATE);
        opts.dry_run = true;
        let rootdir = dir.path().join("root");
        let root = Root::new(&rootdir).unwrap();
        let f = crate::fetch::Fetchers::new();
        let ops = run_inner(&config(), &root, &f, &opts, Some((&mut state, &uuid_of))).unwrap();
        let want = [
            "create directory /etc/luks (mode 0700)",
            "write LUKS key file /etc/luks/data (5 bytes, mode 0600)",
            "write LUKS key file /etc/luks/swap (9 bytes, mode 0600)",
            "append to /etc/crypttab (mode 0600): data UUID=uuid-of-data /etc/luks/data luks",
            "append to /etc/crypttab (mode 0600): root UUID=uuid-of-root none luks",
            "append to /etc/crypttab (mode 0600): swap UUID=uuid-of-swap /etc/luks/swap luks",
            "write /etc/.ignition-result.json (mode 0600)",
        ];
        assert_eq!(ops, want);
        assert_eq!(std::fs::read_dir(rootdir.join("etc")).unwrap().count(), 0);
        assert_ne!(state.luks_persist_key_files, serde_json::Value::Null);
    }
}
