//! `mcs pointer`: the small Ignition config a new machine boots with. It
//! merges the pool's full config from the server, with the pool's bootstrap
//! token as `Authorization: Bearer` (the server refuses `/config/<pool>`
//! without it unless run with `--allow-anonymous-config`), and trusts the
//! server's CA:
//!
//! ```json
//! {"ignition": {"version": "3.3.0",
//!   "config": {"merge": [{"source": "https://mcs.example.com:22623/config/worker",
//!     "httpHeaders": [{"name": "Authorization", "value": "Bearer 0123..."}]}]},
//!   "security": {"tls": {"certificateAuthorities": [{"source": "data:,-----BEGIN%20CERTIFICATE..."}]}}}}
//! ```
//!
//! The pointer config holds a secret then: hand it to machines as user data is
//! handed to them, and make new ones after `mcs token rotate`.
//!
//! The default spec is 3.3.0: the newest that both our executor and Go
//! Ignition 2.14 (Debian's) read; 2.14 refuses 3.4.0 ("unsupported config
//! version"). Any 3.x this engine reads can be asked for with `--spec`.

use std::path::Path;

use anyhow::{bail, Context};
use ignition::SpecVersion;

/// The spec of the pointer config unless `--spec` says otherwise.
pub const DEFAULT_SPEC: SpecVersion = SpecVersion::new(3, 3);

/// The pointer config for `pool` at `url` (the server's base URL), trusting
/// the CA in `ca_pem`, sending `token` (the pool's bootstrap token) as a bearer
/// token when given, as pretty JSON.
pub fn pointer_config(
    url: &str,
    pool: &str,
    ca_pem: &str,
    spec: SpecVersion,
    token: Option<&str>,
) -> anyhow::Result<String> {
    if spec.major != 3 {
        bail!("--spec {spec}: the pointer needs a 3.x spec (merge and certificate authorities)");
    }
    if token.is_some() && spec < SpecVersion::new(3, 1) {
        bail!("--spec {spec}: the token needs httpHeaders, spec 3.1.0 or later (or --anonymous for a server run with --allow-anonymous-config)");
    }
    let base = url.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) || base.len() <= 8 {
        bail!("--url {url:?}: not an http(s) URL such as https://mcs.example.com:22623");
    }
    if !machine_config::node_api::valid_name(pool) {
        bail!("invalid pool name {pool:?}");
    }
    let mut merge = serde_json::json!({"source": format!("{base}/config/{pool}")});
    if let Some(t) = token {
        merge["httpHeaders"] =
            serde_json::json!([{"name": "Authorization", "value": format!("Bearer {t}")}]);
    }
    let value = serde_json::json!({
        "ignition": {
            "version": spec.to_string(),
            "config": {"merge": [merge]},
            "security": {"tls": {"certificateAuthorities": [
                {"source": crate::served::data_url(ca_pem.as_bytes())}
            ]}},
        }
    });
    let mut out = serde_json::to_string_pretty(&value)?;
    out.push('\n');
    Ok(out)
}

/// `mcs pointer --state-dir S --pool P --url URL [--spec V] [--ca FILE] [--anonymous]`.
pub fn run(
    state_dir: &Path,
    pool: &str,
    url: &str,
    spec: Option<&str>,
    ca: Option<&Path>,
    anonymous: bool,
) -> anyhow::Result<String> {
    let spec = match spec {
        None => DEFAULT_SPEC,
        Some(s) => {
            ignition::version::classify(s).map_err(|e| anyhow::anyhow!("--spec {s:?}: {e}"))?
        }
    };
    let ca_path = ca
        .map(Path::to_path_buf)
        .unwrap_or_else(|| state_dir.join(crate::tls::CA_CERT));
    let ca_pem = std::fs::read_to_string(&ca_path).with_context(|| {
        format!(
            "cannot read the CA {} (has `mcs serve --state-dir {}` run? with --tls-cert, give --ca)",
            ca_path.display(),
            state_dir.display()
        )
    })?;
    if !ca_pem.contains("-----BEGIN CERTIFICATE-----") {
        bail!("{}: no PEM certificate in it", ca_path.display());
    }
    // When the server has recorded its pools, the pool must be one of them.
    if let Ok(status) = crate::status::read(state_dir) {
        if !status.pools.iter().any(|p| p.name == pool) {
            let known: Vec<&str> = status.pools.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "unknown pool {pool:?} (the server has {})",
                known.join(", ")
            );
        }
    }
    let token = if anonymous {
        None
    } else {
        let tokens = crate::tokens::BootstrapTokens::open(state_dir)?;
        let t = tokens.get(pool).map(str::to_string).ok_or_else(|| {
            anyhow::anyhow!(
                "pool {pool:?} has no bootstrap token in {} yet (has `mcs serve` rendered it?)",
                state_dir.display()
            )
        })?;
        Some(t)
    };
    pointer_config(url, pool, &ca_pem, spec, token.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn parses_in_every_3x_spec() {
        for v in SpecVersion::SUPPORTED.into_iter().filter(|v| v.major == 3) {
            let token = (v >= SpecVersion::new(3, 1)).then_some("abc");
            let text = pointer_config("https://mcs:22623/", "worker", PEM, v, token).unwrap();
            let parsed = ignition::parse(text.as_bytes()).unwrap();
            assert!(!parsed.report.has_errors(), "{v}: {:?}", parsed.report);
            assert_eq!(parsed.source_version, v);
            let ign = &parsed.config.ignition;
            assert_eq!(
                ign.config.merge[0].source.as_deref(),
                Some("https://mcs:22623/config/worker")
            );
            let h = &ign.config.merge[0].http_headers;
            match token {
                Some(_) => {
                    assert_eq!(h.len(), 1, "{v}");
                    assert_eq!(h[0].name, "Authorization");
                    assert_eq!(h[0].value.as_deref(), Some("Bearer abc"));
                }
                None => assert!(h.is_empty()),
            }
            let ca = ign.security.tls.certificate_authorities[0]
                .source
                .as_deref()
                .unwrap();
            assert_eq!(ignition::dataurl::decode(ca).unwrap().data, PEM.as_bytes());
        }
    }

    #[test]
    fn refuses_bad_input() {
        assert!(pointer_config("mcs:22623", "worker", PEM, DEFAULT_SPEC, None).is_err());
        assert!(pointer_config("https://m", "a/b", PEM, DEFAULT_SPEC, None).is_err());
        assert!(pointer_config("https://m", "w", PEM, SpecVersion::new(2, 2), None).is_err());
        // spec 3.0 has no httpHeaders
        assert!(pointer_config("https://m", "w", PEM, SpecVersion::new(3, 0), Some("t")).is_err());
        assert!(pointer_config("https://m", "w", PEM, SpecVersion::new(3, 0), None).is_ok());
    }
}
