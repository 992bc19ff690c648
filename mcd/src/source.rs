//! Reading a config: a file or an `http(s)://` URL holding a rendered MachineConfig (YAML or JSON)
//! or an Ignition config (any spec the engine reads).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use ignition::fetch::Fetcher;
use machine_config::MachineConfig;
use sha2::Digest;

use crate::config::Desired;

/// The fetcher for file contents and sources: `data:` and the network schemes.
pub fn fetcher() -> Result<ignition::fetch::Fetchers> {
    ignition::exec::net::fetchers(Some(Default::default())).map_err(|e| anyhow!(e))
}

/// The bytes of `source` (a path, or a URL any of the Ignition fetchers handle).
pub fn read(source: &str) -> Result<Vec<u8>> {
    if source.contains("://") {
        let f = fetcher()?;
        return f
            .fetch(source, &[])
            .with_context(|| format!("fetching {source}"));
    }
    std::fs::read(source).with_context(|| format!("reading {source}"))
}

/// Parses a MachineConfig or an Ignition config. An Ignition config becomes a MachineConfig with
/// that config; when it carries the encapsulated MachineConfig the MCS appends
/// ([`crate::paths::ENCAPSULATED`]), its name, OS image and kernel arguments are taken from it.
pub fn parse(raw: &[u8], what: &str) -> Result<MachineConfig> {
    let text = std::str::from_utf8(raw).with_context(|| format!("{what}: not UTF-8"))?;
    if text.trim_start().starts_with('{') {
        return parse_json(raw, what);
    }
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).with_context(|| format!("{what}: neither YAML nor JSON"))?;
    if value.get("kind").is_some() {
        let loaded = machine_config::load_texts([(PathBuf::from(what), text.to_string())]);
        if let Some(e) = loaded.errors.first() {
            bail!("{e}");
        }
        let mut mcs = loaded.inputs.machine_configs;
        if mcs.len() != 1 {
            bail!("{what}: expected one MachineConfig, found {}", mcs.len());
        }
        return Ok(mcs.remove(0));
    }
    if value.get("ignition").is_none() {
        bail!("{what}: neither a MachineConfig (no kind) nor an Ignition config (no ignition.version)");
    }
    ignition_to_mc(raw, what)
}

fn ignition_to_mc(raw: &[u8], what: &str) -> Result<MachineConfig> {
    let parsed = ignition::parse(raw).map_err(|e| {
        let detail = e.report().map(|r| r.to_string()).unwrap_or_default();
        anyhow!("{what}: Ignition config: {e} {detail}")
    })?;
    let config = parsed.config;
    let mut mc = MachineConfig::default();
    let enc = config
        .storage
        .files
        .iter()
        .find(|f| f.path == crate::paths::ENCAPSULATED);
    if let Some(f) = enc {
        let bytes = ignition::fetch::fetch_resource(&ignition::fetch::Fetchers::new(), &f.contents)
            .with_context(|| format!("{what}: {}", crate::paths::ENCAPSULATED))?;
        let inner: MachineConfig = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{what}: {} is not a MachineConfig",
                crate::paths::ENCAPSULATED
            )
        })?;
        mc.metadata = inner.metadata;
        mc.spec = inner.spec;
    } else {
        let digest = sha2::Sha256::digest(raw);
        mc.metadata.name = format!("ignition-{}", &hex(&digest)[..16]);
    }
    mc.spec.config = serde_json::from_str(&ignition::to_json(&config))?;
    Ok(mc)
}

/// JSON (what `currentconfig` and most served configs are): no YAML parser on megabytes.
/// The top-level keys that tell the kinds apart (everything else is skipped, not built).
#[derive(serde::Deserialize)]
struct Peek {
    kind: Option<serde_json::Value>,
    ignition: Option<serde::de::IgnoredAny>,
}

fn parse_json(raw: &[u8], what: &str) -> Result<MachineConfig> {
    let peek: Peek =
        serde_json::from_slice(raw).with_context(|| format!("{what}: invalid JSON"))?;
    match peek.kind {
        None if peek.ignition.is_none() => {
            bail!("{what}: neither a MachineConfig (no kind) nor an Ignition config (no ignition.version)")
        }
        None => return ignition_to_mc(raw, what),
        Some(k) if k.as_str() != Some("MachineConfig") => {
            bail!("{what}: kind must be MachineConfig")
        }
        Some(_) => {}
    }
    // Straight from the text: no intermediate JSON value of the whole document.
    serde_json::from_slice(raw).with_context(|| format!("{what}: not a MachineConfig"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads, parses and fetches everything `source` needs.
pub fn load(source: &str) -> Result<Desired> {
    let raw = read(source)?;
    let mc = parse(&raw, source)?;
    // The text is not needed any more: not held while the config is parsed and decoded.
    drop(raw);
    Desired::from_mc(mc, &fetcher()?)
}
