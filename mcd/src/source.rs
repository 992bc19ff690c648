//! Reading a config: a file or an `http(s)://` URL holding a rendered MachineConfig (YAML or JSON)
//! or an Ignition config (any spec the engine reads).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use ignition::fetch::Fetcher;
use machine_config::MachineConfig;
use serde_json::value::RawValue;
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

/// A JSON MachineConfig with its Ignition part kept as text: no tree of values for the
/// megabytes of a large config. Same fields as [`MachineConfig`].
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawMc {
    #[serde(default)]
    api_version: Option<String>,
    kind: String,
    metadata: machine_config::model::ObjectMeta,
    #[serde(default)]
    spec: Option<RawSpec>,
    /// Accepted and ignored, as [`MachineConfig`] does.
    #[serde(default, rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[serde(rename = "osImageURL", default)]
    os_image_url: Option<String>,
    #[serde(rename = "baseOSExtensionsContainerImage", default)]
    base_os_extensions_container_image: Option<String>,
    #[serde(default)]
    config: Option<Box<RawValue>>,
    #[serde(rename = "kernelArguments", default)]
    kernel_arguments: Option<Vec<String>>,
    #[serde(default)]
    extensions: Option<Vec<String>>,
    #[serde(default)]
    fips: Option<bool>,
    #[serde(rename = "kernelType", default)]
    kernel_type: Option<String>,
}

/// Parses `raw` (as [`parse`]) and fetches everything the config needs. A JSON MachineConfig
/// (`currentconfig`, what the MCS serves) is read with its Ignition part as text.
pub fn desired(raw: &[u8], what: &str) -> Result<Desired> {
    let is_json = raw
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if is_json {
        if let Ok(Peek { kind: Some(k), .. }) = serde_json::from_slice::<Peek>(raw) {
            if k.as_str() == Some("MachineConfig") {
                let r: RawMc = serde_json::from_slice(raw)
                    .with_context(|| format!("{what}: not a MachineConfig"))?;
                let spec = r.spec.unwrap_or(RawSpec {
                    os_image_url: None,
                    base_os_extensions_container_image: None,
                    config: None,
                    kernel_arguments: None,
                    extensions: None,
                    fips: None,
                    kernel_type: None,
                });
                let mut mc = MachineConfig::default();
                if let Some(v) = r.api_version {
                    mc.api_version = v;
                }
                mc.kind = r.kind;
                mc.metadata = r.metadata;
                mc.spec.os_image_url = spec.os_image_url.unwrap_or_default();
                mc.spec.base_os_extensions_container_image =
                    spec.base_os_extensions_container_image.unwrap_or_default();
                mc.spec.kernel_arguments = spec.kernel_arguments.unwrap_or_default();
                mc.spec.extensions = spec.extensions.unwrap_or_default();
                mc.spec.fips = spec.fips.unwrap_or_default();
                mc.spec.kernel_type = spec.kernel_type.unwrap_or_default();
                return Desired::from_parts(mc, spec.config, &fetcher()?);
            }
        }
    }
    Desired::from_mc(parse(raw, what)?, &fetcher()?)
}

/// Reads, parses and fetches everything `source` needs.
pub fn load(source: &str) -> Result<Desired> {
    let raw = read(source)?;
    desired(&raw, source)
}
