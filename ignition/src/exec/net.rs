//! Fetchers for the network schemes, registered in [`crate::fetch::Fetchers`]
//! next to the built-in `data:`.
//!
//! HTTP(S) follows Go Ignition: every request carries `Accept-Encoding:
//! identity` and `Accept: application/vnd.coreos.ignition+json;version=3.6.0,
//! */*;q=0.1`, then the resource's own headers; redirects are followed (at
//! most 10) without the custom headers; 200 and 204 are success, 404 is
//! "not found", other statuses below 500 fail at once, and 5xx or transport
//! errors are retried with a back-off from 200 ms doubling to 5 s until the
//! total timeout (`ignition.timeouts.httpTotal`; 0 or unset waits forever, as
//! in Go). Response headers must arrive within `httpResponseHeaders` (10 s).
//! TLS is rustls; the roots are the system bundle plus the config's
//! `ignition.security.tls.certificateAuthorities` (Mozilla's roots when the
//! system has no bundle). Proxies come from `ignition.proxy` only, as in Go.
//!
//! `s3://bucket/key` and `gs://bucket/object` are fetched anonymously over
//! HTTPS; an object that needs credentials fails with a clear error.
//! `tftp://` goes through our small RFC 1350 client ([`super::tftp`]);
//! `arn:` is not supported yet and says so.

use std::time::{Duration, Instant};

use crate::fetch::{display_url, FetchError, Fetcher, DEFAULT_MAX_DECOMPRESSED};
use crate::model::{HttpHeader, Proxy, Timeouts};

pub const ACCEPT: &str = "application/vnd.coreos.ignition+json;version=3.6.0, */*;q=0.1";
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MAX_REDIRECTS: usize = 10;

/// System CA bundles, first found wins (`$SSL_CERT_FILE` before them).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// How the network fetcher behaves: Go's defaults are 10 s for response
/// headers and no total limit.
#[derive(Debug, Clone)]
pub struct NetSettings {
    pub response_headers: Duration,
    pub total: Option<Duration>,
    /// PEM bundles from the config, already fetched and verified.
    pub cas: Vec<Vec<u8>>,
    pub proxy: Proxy,
}

impl Default for NetSettings {
    fn default() -> Self {
        NetSettings {
            response_headers: Duration::from_secs(10),
            total: None,
            cas: Vec::new(),
            proxy: Proxy::default(),
        }
    }
}

impl NetSettings {
    /// Settings from a config's `ignition.timeouts` and `ignition.proxy`.
    pub fn from_config(t: &Timeouts, proxy: &Proxy) -> Self {
        let secs = |s: i64| Duration::from_secs(s.max(0) as u64);
        NetSettings {
            response_headers: t
                .http_response_headers
                .map(secs)
                .unwrap_or(Duration::from_secs(10)),
            total: t.http_total.filter(|s| *s > 0).map(secs),
            cas: Vec::new(),
            proxy: proxy.clone(),
        }
    }
}

/// The fetcher for `http`, `https`, `s3`, `gs`, `tftp` (and the refusal for `arn`).
pub struct NetFetcher {
    settings: NetSettings,
    direct: ureq::Agent,
    http_proxy: Option<ureq::Agent>,
    https_proxy: Option<ureq::Agent>,
}

impl NetFetcher {
    pub fn new(settings: NetSettings) -> Result<Self, String> {
        let tls = tls_config(&settings.cas)?;
        let agent = |proxy: Option<&str>| -> Result<ureq::Agent, String> {
            let proxy = match proxy {
                Some(p) => {
                    let p = if p.contains("://") {
                        p.to_string()
                    } else {
                        format!("http://{p}")
                    };
                    Some(ureq::Proxy::new(&p).map_err(|e| format!("invalid proxy {p}: {e}"))?)
                }
                None => None,
            };
            Ok(ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .proxy(proxy)
                .tls_config(tls.clone())
                .user_agent(concat!("Ignition/mooring-", env!("CARGO_PKG_VERSION")))
                .timeout_connect(Some(Duration::from_secs(30)))
                .timeout_recv_response(Some(settings.response_headers))
                .build()
                .new_agent())
        };
        let nonempty =
            |o: &Option<String>| o.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
        Ok(NetFetcher {
            direct: agent(None)?,
            http_proxy: nonempty(&settings.proxy.http_proxy)
                .map(|p| agent(Some(&p)))
                .transpose()?,
            https_proxy: nonempty(&settings.proxy.https_proxy)
                .map(|p| agent(Some(&p)))
                .transpose()?,
            settings,
        })
    }

    /// The agent for a URL: its scheme's proxy unless `noProxy` or a
    /// loopback host says direct (Go's `httpproxy` rules, CIDRs aside).
    fn agent_for(&self, scheme: &str, host: &str) -> &ureq::Agent {
        let proxy = if scheme == "https" {
            &self.https_proxy
        } else {
            &self.http_proxy
        };
        match proxy {
            Some(p) if !bypass_proxy(host, &self.settings.proxy.no_proxy) => p,
            _ => &self.direct,
        }
    }

    fn http_get(&self, url: &str, headers: &[HttpHeader]) -> Result<Vec<u8>, FetchError> {
        let start = Instant::now();
        let shown = display_url(url);
        let failed = |message: String| FetchError::Failed {
            url: shown.clone(),
            message,
        };
        let mut backoff = INITIAL_BACKOFF;
        let mut attempt = 0;
        loop {
            attempt += 1;
            tracing::info!(url = %shown, attempt, "GET {shown}: attempt #{attempt}");
            let remaining = self
                .settings
                .total
                .map(|t| t.saturating_sub(start.elapsed()));
            let last_error = match self.get_following_redirects(url, headers, remaining) {
                Ok((200 | 204, body)) => return Ok(body),
                Ok((404, _)) => return Err(FetchError::NotFound { url: shown }),
                Ok((status, _)) if status < 500 => {
                    return Err(failed(format!("HTTP status {status}")))
                }
                Ok((status, _)) => format!("HTTP status {status}"),
                Err(e) => e,
            };
            tracing::info!(url = %shown, "GET error: {last_error}");
            if let Some(total) = self.settings.total {
                if start.elapsed() + backoff >= total {
                    return Err(failed(format!(
                        "unable to fetch resource in time ({} s; last error: {last_error})",
                        total.as_secs()
                    )));
                }
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One GET with its redirects; the status and body, or a transport error.
    fn get_following_redirects(
        &self,
        url: &str,
        headers: &[HttpHeader],
        remaining: Option<Duration>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut url = url.to_string();
        for hop in 0..=MAX_REDIRECTS {
            let uri: ureq::http::Uri =
                url.parse().map_err(|e| format!("invalid URL {url}: {e}"))?;
            let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
            let host = uri.host().unwrap_or("").to_string();
            let mut req = self
                .agent_for(&scheme, &host)
                .get(&url)
                .header("Accept-Encoding", "identity")
                .header("Accept", ACCEPT);
            // Go drops every header on redirect, the resource's included.
            if hop == 0 {
                for h in headers {
                    if let Some(v) = &h.value {
                        req = req.header(h.name.as_str(), v.as_str());
                    }
                }
            }
            let mut resp = req
                .config()
                .timeout_global(remaining)
                .build()
                .call()
                .map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            if (300..400).contains(&status) && status != 304 {
                if let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok()) {
                    url = join_location(&url, loc);
                    continue;
                }
            }
            let body = if status == 200 || status == 204 {
                resp.body_mut()
                    .with_config()
                    .limit(DEFAULT_MAX_DECOMPRESSED)
                    .read_to_vec()
                    .map_err(|e| format!("reading the body: {e}"))?
            } else {
                Vec::new()
            };
            return Ok((status, body));
        }
        Err(format!("stopped after {MAX_REDIRECTS} redirects"))
    }
}

impl Fetcher for NetFetcher {
    fn fetch(&self, url: &str, headers: &[HttpHeader]) -> Result<Vec<u8>, FetchError> {
        let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
        let unsupported = |message: &str| FetchError::Failed {
            url: display_url(url),
            message: message.to_string(),
        };
        match scheme.as_str() {
            "http" | "https" => self.http_get(url, headers),
            "s3" | "gs" => {
                let rest = &url[scheme.len() + 3..];
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                let https = if scheme == "s3" {
                    format!("https://{bucket}.s3.amazonaws.com/{key}")
                } else {
                    format!("https://storage.googleapis.com/{bucket}/{key}")
                };
                self.http_get(&https, headers).map_err(|e| match e {
                    FetchError::Failed { message, .. } if message.contains("status 403") || message.contains("status 401") => {
                        unsupported(&format!(
                            "access denied ({message}): only public {scheme} objects can be fetched; authenticated {scheme} fetches are not supported yet"
                        ))
                    }
                    FetchError::Failed { message, .. } => unsupported(&format!("{message} (via {https})")),
                    other => other,
                })
            }
            "tftp" => super::tftp::get(
                url,
                &super::tftp::TftpSettings {
                    total: self.settings.total,
                    ..Default::default()
                },
            )
            .map_err(|m| unsupported(&m)),
            "arn" => Err(unsupported(
                "S3 access points (arn:) need AWS credentials, which are not supported yet",
            )),
            _ => Err(unsupported("no network fetcher for this scheme")),
        }
    }
}

/// The fetcher used while the network is not up (`fetch-offline`): every
/// URL that needs the network says so.
pub struct OfflineFetcher;

impl Fetcher for OfflineFetcher {
    fn fetch(&self, url: &str, _: &[HttpHeader]) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::NeedsNetwork {
            url: display_url(url),
        })
    }
}

/// The schemes [`NetFetcher`] (or [`OfflineFetcher`]) is registered for.
pub const NET_SCHEMES: &[&str] = &["http", "https", "s3", "gs", "tftp", "arn"];

/// The registry of fetchers: `data:` plus the network ones.
pub fn fetchers(settings: Option<NetSettings>) -> Result<crate::fetch::Fetchers, String> {
    let mut f = crate::fetch::Fetchers::new();
    match settings {
        Some(s) => {
            let net = std::sync::Arc::new(NetFetcher::new(s)?);
            for scheme in NET_SCHEMES {
                let net = net.clone();
                f.register(scheme, move |u: &str, h: &[HttpHeader]| net.fetch(u, h));
            }
        }
        None => {
            for scheme in NET_SCHEMES {
                f.register(scheme, OfflineFetcher);
            }
        }
    }
    Ok(f)
}

fn tls_config(cas: &[Vec<u8>]) -> Result<ureq::tls::TlsConfig, String> {
    let mut roots = Vec::new();
    let system = std::env::var("SSL_CERT_FILE")
        .ok()
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(|s| s.to_string()))
        .find_map(|p| std::fs::read(p).ok());
    let system_found = system.is_some();
    if let Some(bundle) = system {
        roots.extend(ureq::tls::parse_pem(&bundle).filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        }));
    }
    for (i, blob) in cas.iter().enumerate() {
        let before = roots.len();
        for item in ureq::tls::parse_pem(blob) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => roots.push(c),
                Ok(_) => {}
                Err(e) => return Err(format!("$.ignition.security.tls.certificateAuthorities.{i}: unable to parse CA bundle: {e}")),
            }
        }
        if roots.len() == before {
            return Err(format!("$.ignition.security.tls.certificateAuthorities.{i}: unable to decode CA: no PEM certificate in it"));
        }
    }
    let builder = ureq::tls::TlsConfig::builder();
    Ok(if !system_found && cas.is_empty() {
        builder.root_certs(ureq::tls::RootCerts::WebPki).build()
    } else {
        builder
            .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
            .build()
    })
}

/// Whether `host` goes direct: loopback, or matched by a `noProxy` entry.
fn bypass_proxy(host: &str, no_proxy: &[String]) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    no_proxy.iter().any(|entry| {
        let e = entry.trim().to_ascii_lowercase();
        let e = e.split(':').next().unwrap_or("");
        let e = e.trim_start_matches("*.").trim_start_matches('.');
        entry.trim() == "*" || (!e.is_empty() && (host == e || host.ends_with(&format!(".{e}"))))
    })
}

/// The URL a `Location` header points to, relative to `base`.
fn join_location(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(path) = loc.strip_prefix("//") {
        return format!("{scheme}://{path}");
    }
    if loc.starts_with('/') {
        return format!("{scheme}://{authority}{loc}");
    }
    let path = &rest[authority.len()..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{scheme}://{authority}{dir}{loc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_bypass_follows_go() {
        let np = vec!["example.com".to_string(), ".corp".to_string()];
        assert!(bypass_proxy("127.0.0.1", &[]));
        assert!(bypass_proxy("localhost", &[]));
        assert!(bypass_proxy("[::1]", &[]));
        assert!(bypass_proxy("example.com", &np));
        assert!(bypass_proxy("a.example.com", &np));
        assert!(bypass_proxy("x.corp", &np));
        assert!(!bypass_proxy("notexample.com", &np));
        assert!(bypass_proxy("any", &["*".to_string()]));
    }

    #[test]
    fn joins_redirect_locations() {
        assert_eq!(join_location("http://h:1/a/b?q", "/c"), "http://h:1/c");
        assert_eq!(join_location("http://h/a/b", "c"), "http://h/a/c");
        assert_eq!(join_location("http://h/a", "https://o/x"), "https://o/x");
        assert_eq!(join_location("https://h/a", "//o/x"), "https://o/x");
    }

    #[test]
    fn refuses_what_it_cannot_fetch_with_a_reason() {
        let f = NetFetcher::new(NetSettings::default()).unwrap();
        let e = f.fetch("tftp:///x", &[]).unwrap_err().to_string();
        assert_eq!(e, "fetching tftp:///x failed: invalid tftp URL: no host");
        let e = f.fetch("arn:aws:s3:x", &[]).unwrap_err().to_string();
        assert!(e.contains("not supported yet"), "{e}");
        let bad = NetFetcher::new(NetSettings {
            cas: vec![b"junk".to_vec()],
            ..Default::default()
        });
        assert!(bad.err().unwrap().contains("certificateAuthorities.0"));
        let off = OfflineFetcher.fetch("https://h/x", &[]).unwrap_err();
        assert!(matches!(off, FetchError::NeedsNetwork { .. }));
    }
}
