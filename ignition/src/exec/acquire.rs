//! Getting the config, as Go Ignition does: system base configs
//! (`base.d/*.ign`, then `base.platform.d/<platform>/*.ign`, merged in name
//! order), then the user config from the first source that has one: the
//! kernel command line's `ignition.config.url=`, the system `user.ign`, the
//! platform (`file`: `$IGNITION_CONFIG_FILE`; `qemu`: fw_cfg
//! `opt/com.coreos/config`, missing means empty; `metal`: none). Its
//! `merge`/`replace` references are rendered, its CAs fetched and inlined
//! as data URLs, and the result cached for the later stages.

use std::path::{Path, PathBuf};

use crate::fetch::{resolve, FetchError, Fetcher, ResolveError, DEFAULT_MAX_DEPTH};
use crate::model::Config;
use crate::{ParseError, Parsed};

use super::state::{FetchedConfig, State};
use super::Env;

/// Why the config could not be acquired; `NeedsNetwork` is not a failure in `fetch-offline`.
#[derive(Debug)]
pub enum AcquireError {
    NeedsNetwork(String),
    Failed(String),
}

impl From<String> for AcquireError {
    fn from(s: String) -> Self {
        AcquireError::Failed(s)
    }
}

/// One line for a parse failure of the config from `what`.
pub fn parse_error(what: &str, e: &ParseError) -> String {
    match e.report().and_then(|r| r.errors().next().cloned()) {
        Some(f) => format!("config from {what} is not valid: {f}"),
        None => format!("config from {what}: {e}"),
    }
}

/// Parses a config; empty input is `None` (Go's "empty config").
fn parse(raw: &[u8], what: &str) -> Result<Option<Parsed>, String> {
    match crate::parse(raw) {
        Ok(p) => {
            for w in p.report.findings.iter() {
                tracing::warn!("config from {what}: {w}");
            }
            Ok(Some(p))
        }
        Err(ParseError::Empty) => Ok(None),
        Err(e) => Err(parse_error(what, &e)),
    }
}

/// The system base configs merged in Go's order (an empty config when there are none).
pub fn base_config(env: &Env, platform: &str) -> Result<Config, String> {
    let mut cfg = Config::default();
    for dir in [
        env.system_dir.join("base.d"),
        env.system_dir.join("base.platform.d").join(platform),
    ] {
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .flatten()
                .map(|d| d.path())
                .filter(|p| p.extension().is_some_and(|e| e == "ign"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("reading system config dir {}: {e}", dir.display())),
        };
        names.sort();
        for path in names {
            let raw = std::fs::read(&path)
                .map_err(|e| format!("reading system config {}: {e}", path.display()))?;
            if let Some(mut p) = parse(&raw, &path.display().to_string())? {
                tracing::info!("merging system config {}", path.display());
                strip_special_bits(&mut p.config, p.source_version);
                cfg = crate::merge::merge(&cfg, &p.config);
            }
        }
    }
    Ok(cfg)
}

/// `ignition.config.url=` from a kernel command line (the last one wins, as in Go).
pub fn cmdline_url(cmdline: &str) -> Option<String> {
    let mut url = None;
    for arg in cmdline.split_whitespace() {
        if let Some(v) = arg.strip_prefix("ignition.config.url=") {
            url = Some(v.to_string()).filter(|v| !v.is_empty());
        }
    }
    url
}

/// The user config's bytes and where they came from (Go's provider key),
/// or `None` when the source has no config (an empty config follows).
fn provider_bytes(
    env: &Env,
    platform: &str,
    fetchers: &dyn Fetcher,
) -> Result<Option<(Vec<u8>, String, String)>, AcquireError> {
    let cmdline = std::fs::read_to_string(&env.cmdline_path).map_err(|e| {
        format!(
            "reading the kernel command line {}: {e}",
            env.cmdline_path.display()
        )
    })?;
    if let Some(url) = cmdline_url(&cmdline) {
        tracing::info!(
            "fetching config from the kernel command line: {}",
            crate::fetch::display_url(&url)
        );
        let raw = fetchers
            .fetch(&url, &[])
            .map_err(|e| net_error(e, "ignition.config.url"))?;
        return Ok(Some((
            raw,
            "cmdline".into(),
            format!("ignition.config.url ({})", crate::fetch::display_url(&url)),
        )));
    }
    let user = env.system_dir.join("user.ign");
    match std::fs::read(&user) {
        Ok(raw) => return Ok(Some((raw, "system".into(), user.display().to_string()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("reading {}: {e}", user.display()).into()),
    }
    match platform {
        "file" => {
            let path = env
                .config_file
                .clone()
                .unwrap_or_else(|| PathBuf::from("config.ign"));
            let raw = std::fs::read(&path).map_err(|e| {
                format!(
                    "couldn't read config {:?} ($IGNITION_CONFIG_FILE): {e}",
                    path.display()
                )
            })?;
            Ok(Some((raw, "file".into(), path.display().to_string())))
        }
        "qemu" => {
            load_fw_cfg_module(&env.fw_cfg_path);
            match std::fs::read(&env.fw_cfg_path) {
                Ok(raw) => Ok(Some((
                    raw,
                    "qemu".into(),
                    format!("QEMU fw_cfg ({})", env.fw_cfg_path.display()),
                ))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::info!("QEMU firmware config was not found, using an empty config");
                    Ok(None)
                }
                Err(e) => Err(format!(
                    "couldn't read QEMU firmware config {}: {e}",
                    env.fw_cfg_path.display()
                )
                .into()),
            }
        }
        _ => {
            tracing::info!("platform {platform} provides no config");
            Ok(None)
        }
    }
}

/// Loads `qemu_fw_cfg` when its sysfs tree is missing (it may be built in,
/// or absent on a machine without fw_cfg: a failure is only logged).
fn load_fw_cfg_module(path: &Path) {
    if path.starts_with("/sys/firmware/qemu_fw_cfg")
        && !Path::new("/sys/firmware/qemu_fw_cfg").exists()
    {
        if let Err(e) = super::cmd::run("modprobe", &["qemu_fw_cfg".to_string()], None) {
            tracing::info!("loading the QEMU firmware config module failed: {e}");
        }
    }
}

fn net_error(e: FetchError, what: &str) -> AcquireError {
    match e {
        FetchError::NeedsNetwork { url } => AcquireError::NeedsNetwork(url),
        other => AcquireError::Failed(format!("{what}: {other}")),
    }
}

/// Fetches and renders the user config (no base configs in it), recording
/// what was fetched in `state`. `provider` fetches the config itself
/// (bounded by `-fetch-timeout`); `render` is built from the config for its
/// references.
pub fn user_config(
    env: &Env,
    platform: &str,
    provider: &dyn Fetcher,
    render: &dyn Fn(&Config) -> Result<crate::fetch::Fetchers, String>,
    state: &mut State,
) -> Result<Config, AcquireError> {
    let Some((raw, key, what)) = provider_bytes(env, platform, provider)? else {
        return Ok(empty());
    };
    let Some(parsed) = parse(&raw, &what)? else {
        tracing::info!("provider config was empty, continuing with empty cache config");
        return Ok(empty());
    };
    state
        .fetched_configs
        .push(FetchedConfig::new("user", &key, false));
    let parsed_version = parsed.source_version;
    let fetchers = render(&parsed.config)?;
    let recorder = Recorder {
        inner: &fetchers,
        seen: Default::default(),
    };
    let rendered = resolve(parsed.config, &recorder, DEFAULT_MAX_DEPTH).map_err(|e| {
        if let ResolveError::Fetch { error, .. } = e.innermost() {
            if let FetchError::NeedsNetwork { url } = error.as_ref() {
                return AcquireError::NeedsNetwork(url.clone());
            }
        }
        AcquireError::Failed(format!("config from {what}: {e}"))
    })?;
    let mut rendered = rendered;
    strip_special_bits(&mut rendered, parsed_version);
    for url in recorder.seen.into_inner() {
        state
            .fetched_configs
            .push(FetchedConfig::new("user", &url_path(&url), true));
    }
    Ok(rendered)
}

/// setuid, setgid and sticky bits work from spec 3.6.0 on (older specs
/// warn that they are not functional, and Go 2.14 drops them): a config
/// written in an older spec gets its modes without them. The version is the
/// one of the config the machine was given (a pointer's, not those it merges).
pub fn strip_special_bits(cfg: &mut Config, version: crate::SpecVersion) {
    if version >= crate::SpecVersion::new(3, 6) {
        return;
    }
    let modes = cfg
        .storage
        .files
        .iter_mut()
        .map(|f| (&f.path, &mut f.mode))
        .chain(
            cfg.storage
                .directories
                .iter_mut()
                .map(|d| (&d.path, &mut d.mode)),
        );
    for (path, mode) in modes {
        if let Some(m) = mode.as_mut().filter(|m| **m & 0o7000 != 0) {
            tracing::warn!(
                "{path}: ignoring setuid/setgid/sticky bits of mode {m:o} (they need spec 3.6.0)"
            );
            *m &= 0o777;
        }
    }
}

fn empty() -> Config {
    let mut c = Config::default();
    c.ignition.version = crate::model::LATEST.into();
    c
}

/// The path of a URL, as Go's `url.Path` (empty for `data:` URLs).
fn url_path(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return String::new();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    rest.find('/')
        .map(|i| rest[i..].to_string())
        .unwrap_or_default()
}

/// A fetcher that remembers the URLs it fetched (the referenced configs).
struct Recorder<'a> {
    inner: &'a dyn Fetcher,
    seen: std::cell::RefCell<Vec<String>>,
}

impl Fetcher for Recorder<'_> {
    fn fetch(&self, url: &str, h: &[crate::model::HttpHeader]) -> Result<Vec<u8>, FetchError> {
        let r = self.inner.fetch(url, h)?;
        self.seen.borrow_mut().push(url.to_string());
        Ok(r)
    }
}

/// Fetches the config's CAs (verified), and rewrites them as data URLs so
/// that later stages need no network for them. Returns the PEM blobs.
pub fn inline_cas(cfg: &mut Config, fetchers: &dyn Fetcher) -> Result<Vec<Vec<u8>>, AcquireError> {
    let mut blobs = Vec::new();
    for (i, ca) in cfg
        .ignition
        .security
        .tls
        .certificate_authorities
        .iter_mut()
        .enumerate()
    {
        let blob = crate::fetch::fetch_resource(fetchers, ca).map_err(|e| {
            net_error(
                e,
                &format!("$.ignition.security.tls.certificateAuthorities.{i}"),
            )
        })?;
        ca.http_headers.clear();
        ca.compression = None;
        ca.source = Some(data_url(&blob));
        blobs.push(blob);
    }
    Ok(blobs)
}

pub fn data_url(data: &[u8]) -> String {
    use base64::Engine;
    format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(data)
    )
}

/// Reads the config cache written by a fetch stage.
pub fn cached_config(path: &Path) -> Result<Config, String> {
    let raw = std::fs::read(path)
        .map_err(|e| format!("reading the config cache {}: {e}", path.display()))?;
    match crate::parse(&raw) {
        Ok(p) => Ok(p.config),
        // Go's cache holds whatever its "experimental" version was.
        Err(ParseError::Version(_)) => serde_json::from_slice(&raw)
            .map_err(|e| format!("parsing the config cache {}: {e}", path.display())),
        Err(e) => Err(parse_error(
            &format!("the config cache {}", path.display()),
            &e,
        )),
    }
}

/// Writes the config cache: the rendered config as JSON, mode 0640, atomically.
pub fn write_cache(path: &Path, cfg: &Config) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| format!("failed to write cached config {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .open(&tmp)
        .map_err(fail)?;
    std::io::Write::write_all(&mut f, crate::to_json(cfg).as_bytes()).map_err(fail)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o640))
        .map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// Whether anything in the config needs the network (a source that is not
/// a `data:` URL, or a Tang server), as Go's `fetch-offline` decides.
pub fn needs_network(cfg: &Config) -> bool {
    let needs = |r: &crate::model::Resource| {
        r.source.as_deref().is_some_and(|s| {
            !s.is_empty() && !s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:"))
        })
    };
    let i = &cfg.ignition;
    i.config.merge.iter().any(needs)
        || needs(&i.config.replace)
        || i.security.tls.certificate_authorities.iter().any(needs)
        || cfg
            .storage
            .files
            .iter()
            .any(|f| needs(&f.contents) || f.append.iter().any(needs))
        || cfg
            .storage
            .luks
            .iter()
            .any(|l| needs(&l.key_file) || !l.clevis.tang.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_config_url_from_the_command_line() {
        assert_eq!(
            cmdline_url("quiet ignition.config.url=http://h/c.ign ro"),
            Some("http://h/c.ign".into())
        );
        assert_eq!(cmdline_url("a=b ignition.config.url= x"), None);
        assert_eq!(
            cmdline_url("ignition.config.url=a ignition.config.url=b\n"),
            Some("b".into())
        );
        assert_eq!(url_path("http://h:8/c.ign?x=1"), "/c.ign");
        assert_eq!(url_path("data:,x"), "");
    }

    #[test]
    fn finds_what_needs_the_network() {
        let mut c = Config::default();
        assert!(!needs_network(&c));
        c.storage.files.push(crate::model::File {
            path: "/a".into(),
            contents: crate::model::Resource {
                source: Some("data:,x".into()),
                ..Default::default()
            },
            ..Default::default()
        });
        assert!(!needs_network(&c));
        c.storage.files[0].append.push(crate::model::Resource {
            source: Some("https://h/x".into()),
            ..Default::default()
        });
        assert!(needs_network(&c));
    }
}
