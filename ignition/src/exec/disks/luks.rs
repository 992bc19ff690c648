//! LUKS2 volumes through `cryptsetup`, with Go's flags: `luksFormat --type
//! luks2 --key-file K [--label] [--uuid] OPTIONS DEV`, then `luksOpen DEV
//! NAME --key-file K --persistent [--allow-discards] OPEN_OPTIONS`. A volume
//! without a key file gets a generated one (4096 random bytes, hex-encoded,
//! as Go), which is kept in the state file (`luksPersistKeyFiles`, a data
//! URL per volume) for the files stage. Clevis binding runs when the
//! `clevis` tool is present; otherwise the stage fails before any write.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::exec::cmd;
use crate::model::Luks;

/// Where key files live while the stage runs (0700; files 0400, removed after).
pub const KEY_DIR: &str = "/run/ignition/luks-keys";

/// The opened volume's device.
pub fn mapper_path(l: &Luks) -> PathBuf {
    PathBuf::from("/dev/mapper").join(&l.name)
}

/// Go's generated key: 4096 random bytes as lower-case hex.
pub fn generate_key() -> Result<Vec<u8>, String> {
    let mut raw = vec![0u8; 4096];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .map_err(|e| format!("generating a LUKS key: /dev/urandom: {e}"))?;
    Ok(raw
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect())
}

pub fn format_args(l: &Luks, key_file: &Path, dev: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "luksFormat".into(),
        "--type".into(),
        "luks2".into(),
        "--key-file".into(),
        key_file.display().to_string(),
    ];
    if let Some(label) = l.label.as_ref().filter(|s| !s.is_empty()) {
        args.extend(["--label".into(), label.clone()]);
    }
    if let Some(uuid) = l.uuid.as_ref().filter(|s| !s.is_empty()) {
        args.extend(["--uuid".into(), uuid.clone()]);
    }
    args.extend(l.options.iter().cloned());
    args.push(dev.display().to_string());
    args
}

pub fn open_args(l: &Luks, key_file: &Path, dev: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "luksOpen".into(),
        dev.display().to_string(),
        l.name.clone(),
        "--key-file".into(),
        key_file.display().to_string(),
        "--persistent".into(),
    ];
    if l.discard == Some(true) {
        args.push("--allow-discards".into());
    }
    args.extend(l.open_options.iter().cloned());
    args
}

/// Whether `l` asks for Clevis (Tang, TPM2 or a custom pin).
pub fn wants_clevis(l: &Luks) -> bool {
    !l.clevis.tang.is_empty()
        || l.clevis.tpm2 == Some(true)
        || l.clevis
            .custom
            .pin
            .as_deref()
            .is_some_and(|p| !p.is_empty())
}

/// The pin and JSON config for `clevis luks bind`, as Go builds them (an
/// `sss` pin over the Tang servers and TPM2).
pub fn clevis_pin(l: &Luks) -> Result<(String, String), String> {
    if let Some(pin) = l.clevis.custom.pin.as_ref().filter(|p| !p.is_empty()) {
        return Ok((
            pin.clone(),
            l.clevis.custom.config.clone().unwrap_or_default(),
        ));
    }
    let mut tang = Vec::new();
    for t in &l.clevis.tang {
        let mut o = serde_json::Map::new();
        o.insert("url".into(), t.url.clone().into());
        if let Some(thp) = &t.thumbprint {
            o.insert("thp".into(), thp.clone().into());
        }
        if let Some(adv) = t.advertisement.as_ref().filter(|a| !a.is_empty()) {
            let v: serde_json::Value = serde_json::from_str(adv)
                .map_err(|e| format!("luks {}: tang advertisement: {e}", l.name))?;
            o.insert("adv".into(), v);
        }
        tang.push(serde_json::Value::Object(o));
    }
    let mut pins = serde_json::Map::new();
    if !tang.is_empty() || l.clevis.tpm2 != Some(true) {
        pins.insert("tang".into(), tang.into());
    }
    if l.clevis.tpm2 == Some(true) {
        pins.insert("tpm2".into(), serde_json::json!({}));
    }
    let cfg = serde_json::json!({"pins": pins, "t": l.clevis.threshold.unwrap_or(1)});
    Ok(("sss".into(), cfg.to_string()))
}

/// Writes a key file under [`KEY_DIR`] (0400 in a 0700 directory).
pub fn write_key(name: &str, key: &[u8]) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = Path::new(KEY_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join(name.replace('/', "_"));
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(&path)
        .map_err(|e| format!("creating key file {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut f, key)
        .map_err(|e| format!("writing key file {}: {e}", path.display()))?;
    Ok(path)
}

/// Whether the device holds a LUKS2 header (a LUKS1 header is an error:
/// it cannot be reused and must not be lost silently).
pub fn is_luks2(dev: &Path) -> Result<bool, String> {
    let d = dev.display().to_string();
    if cmd::run(
        "cryptsetup",
        &["isLuks".into(), d.clone(), "--type".into(), "luks2".into()],
        None,
    )
    .is_ok()
    {
        return Ok(true);
    }
    if cmd::run("cryptsetup", &["isLuks".into(), d.clone()], None).is_ok() {
        return Err(format!(
            "{d} is a LUKS1 volume; only LUKS2 volumes can be reused"
        ));
    }
    Ok(false)
}

/// Go's reuse check of an existing LUKS2 volume against the config, then
/// opens it with the key file (which proves the key).
pub fn reuse(l: &Luks, dev: &Path, key_file: &Path, label: &str) -> Result<(), String> {
    let d = dev.display().to_string();
    if wants_clevis(l) {
        return Err("a Clevis-bound volume cannot be reused".into());
    }
    if l.key_file.source.as_deref().is_none_or_empty() {
        return Err("reusing a volume needs a keyFile in the config".into());
    }
    if let Some(want) = &l.label {
        if want != label {
            return Err(format!(
                "volume label {label:?} doesn't match expected label {want:?}"
            ));
        }
    }
    if let Some(want) = &l.uuid {
        let out = cmd::run("cryptsetup", &["luksUUID".into(), d.clone()], None)
            .map_err(|e| e.to_string())?;
        let got = String::from_utf8_lossy(&out).trim().to_string();
        if !got.eq_ignore_ascii_case(want) {
            return Err(format!(
                "volume UUID {got:?} doesn't match expected UUID {want:?}"
            ));
        }
    }
    let dump = cmd::run(
        "cryptsetup",
        &["luksDump".into(), "--dump-json-metadata".into(), d.clone()],
        None,
    )
    .map_err(|e| e.to_string())?;
    let meta: serde_json::Value =
        serde_json::from_slice(&dump).map_err(|e| format!("parsing the LUKS metadata: {e}"))?;
    let discards = meta["config"]["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|v| v == "allow-discards"));
    if discards != (l.discard == Some(true)) {
        return Err(format!(
            "volume allow-discards flag {discards} doesn't match expected value {}",
            l.discard == Some(true)
        ));
    }
    cmd::run("cryptsetup", &open_args(l, key_file, dev), None)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "failed to open the volume with the given key file ({})",
                e.reason
            )
        })
}

trait NoneOrEmpty {
    fn is_none_or_empty(&self) -> bool;
}

impl NoneOrEmpty for Option<&str> {
    fn is_none_or_empty(&self) -> bool {
        self.map_or(true, str::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Clevis, Tang};

    #[test]
    fn cryptsetup_flags_as_go() {
        let l = Luks {
            name: "data".into(),
            device: Some("/dev/vdb1".into()),
            label: Some("secret".into()),
            uuid: Some("11111111-2222-3333-4444-555555555555".into()),
            options: vec!["--pbkdf".into(), "pbkdf2".into()],
            open_options: vec!["--perf-no_read_workqueue".into()],
            discard: Some(true),
            ..Default::default()
        };
        let k = Path::new("/run/k");
        let d = Path::new("/dev/vdb1");
        assert_eq!(
            format_args(&l, k, d).join(" "),
            "luksFormat --type luks2 --key-file /run/k --label secret \
             --uuid 11111111-2222-3333-4444-555555555555 --pbkdf pbkdf2 /dev/vdb1"
        );
        assert_eq!(
            open_args(&l, k, d).join(" "),
            "luksOpen /dev/vdb1 data --key-file /run/k --persistent --allow-discards --perf-no_read_workqueue"
        );
        assert_eq!(mapper_path(&l), PathBuf::from("/dev/mapper/data"));
    }

    #[test]
    fn generated_keys_are_hex_of_4096_bytes() {
        let k = generate_key().unwrap();
        assert_eq!(k.len(), 8192);
        assert!(k.iter().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(k, generate_key().unwrap());
    }

    #[test]
    fn clevis_sss_config() {
        let mut l = Luks {
            name: "x".into(),
            clevis: Clevis {
                tang: vec![Tang {
                    url: "http://tang".into(),
                    thumbprint: Some("abc".into()),
                    advertisement: None,
                }],
                threshold: Some(2),
                tpm2: Some(true),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(wants_clevis(&l));
        let (pin, cfg) = clevis_pin(&l).unwrap();
        assert_eq!(pin, "sss");
        let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
        assert_eq!(v["t"], 2);
        assert_eq!(v["pins"]["tang"][0]["thp"], "abc");
        assert!(v["pins"]["tpm2"].is_object());
        l.clevis = Default::default();
        assert!(!wants_clevis(&l));
    }
}
