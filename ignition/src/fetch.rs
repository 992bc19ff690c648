//! Fetching resources through pluggable fetchers, and rendering a config's
//! references (`ignition.config.replace` and `ignition.config.merge`).
//!
//! A [`Fetcher`] turns a URL into bytes. [`Fetchers`] dispatches on the URL
//! scheme to the fetcher registered for it; `data:` is built in, and the
//! executor registers `http`, `https`, `tftp`, `s3`, `gs`... as it grows them.
//!
//! [`fetch_resource`] does what Go Ignition does with a resource, in its
//! order: fetch the bytes, gunzip them when `compression` is `gzip`, then
//! check `verification.hash` against the *decompressed* bytes (the spec: "if
//! compression is specified, the hash describes the decompressed" content).
//! Unlike Go, decompressed output is capped (see [`DEFAULT_MAX_DECOMPRESSED`])
//! so a small gzip bomb cannot exhaust the initramfs's memory.

use std::collections::BTreeMap;
use std::io::Read;

use sha2::{Digest, Sha256, Sha512};

use crate::config::ParseError;
use crate::jpath;
use crate::merge::merge;
use crate::model::{Config, HttpHeader, Resource};
use crate::path::JsonPath;
use crate::report::Report;
use crate::validate;
use crate::version::SpecVersion;

/// The most bytes [`fetch_resource`] lets a gzip stream decompress to (1 GiB).
/// Files bigger than that should not be shipped gzipped inside a config.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 1 << 30;

/// The most bytes a compressed referenced config may decompress to (64 MiB;
/// rendered OpenShift configs are a few MiB).
pub const MAX_CONFIG_SIZE: u64 = 64 << 20;

/// How deep [`resolve`] follows references by default: a pointer config, the
/// config it points to, and a few more levels. Go Ignition has no limit and
/// loops forever on a config that references itself over HTTP.
pub const DEFAULT_MAX_DEPTH: usize = 10;

/// Turns a URL into bytes. Implementations handle one or more URL schemes
/// and return the raw (still compressed) bytes.
pub trait Fetcher {
    fn fetch(&self, url: &str, headers: &[HttpHeader]) -> Result<Vec<u8>, FetchError>;
}

/// Closures are fetchers (handy for tests and one-off schemes).
impl<F> Fetcher for F
where
    F: Fn(&str, &[HttpHeader]) -> Result<Vec<u8>, FetchError>,
{
    fn fetch(&self, url: &str, headers: &[HttpHeader]) -> Result<Vec<u8>, FetchError> {
        self(url, headers)
    }
}

/// Why a resource could not be fetched. URLs in messages are shortened for
/// `data:` URLs (which may hold secrets) by [`display_url`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("resource has no source")]
    NoSource,
    #[error("unable to parse url {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("unsupported URL scheme \"{scheme}\" in {url}: no fetcher is registered for it (registered: {registered})")]
    UnsupportedScheme {
        url: String,
        scheme: String,
        registered: String,
    },
    #[error("invalid data URL {url}: {reason}")]
    DataUrl { url: String, reason: String },
    #[error("{url} needs the network, which is not up yet")]
    NeedsNetwork { url: String },
    #[error("{url}: not found")]
    NotFound { url: String },
    /// Anything else a fetcher reports (HTTP status, I/O, credentials...).
    #[error("fetching {url} failed: {message}")]
    Failed { url: String, message: String },
    #[error("{url}: unsupported compression \"{compression}\"")]
    UnsupportedCompression { url: String, compression: String },
    #[error("{url}: gzip decompression failed: {reason}")]
    Decompress { url: String, reason: String },
    #[error("{url}: decompressed data is larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: invalid verification hash \"{hash}\": {reason}")]
    InvalidHash {
        url: String,
        hash: String,
        reason: String,
    },
    #[error("{url}: hash verification failed ({function}: calculated {calculated} but expected {expected})")]
    HashMismatch {
        url: String,
        function: String,
        calculated: String,
        expected: String,
    },
}

/// A URL as it may appear in logs and errors: a `data:` URL is cut after
/// its media type (`data:text/plain;base64,…`), as its payload may be a secret.
pub fn display_url(url: &str) -> String {
    if url
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
    {
        match url.find(',') {
            Some(i) if i + 1 < url.len() => format!("{},…", &url[..i]),
            _ => url.to_string(),
        }
    } else {
        url.to_string()
    }
}

/// The built-in `data:` fetcher (RFC 2397, decoded by [`crate::dataurl`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DataUrlFetcher;

impl Fetcher for DataUrlFetcher {
    fn fetch(&self, url: &str, _headers: &[HttpHeader]) -> Result<Vec<u8>, FetchError> {
        crate::dataurl::decode(url)
            .map(|d| d.data)
            .map_err(|reason| FetchError::DataUrl {
                url: display_url(url),
                reason,
            })
    }
}

type BoxedFetcher = Box<dyn Fetcher + Send + Sync>;

/// Fetchers by URL scheme (lower case). [`Fetchers::new`] knows `data:`.
pub struct Fetchers {
    by_scheme: BTreeMap<String, BoxedFetcher>,
}

impl Default for Fetchers {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Fetchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetchers")
            .field("schemes", &self.by_scheme.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Fetchers {
    /// The built-in fetchers: `data:`.
    pub fn new() -> Self {
        Self::empty().with("data", DataUrlFetcher)
    }

    /// No fetcher at all (every URL is an unsupported scheme).
    pub fn empty() -> Self {
        Fetchers {
            by_scheme: BTreeMap::new(),
        }
    }

    /// Registers `fetcher` for `scheme`, replacing any fetcher registered
    /// for it before (which is returned).
    pub fn register(
        &mut self,
        scheme: &str,
        fetcher: impl Fetcher + Send + Sync + 'static,
    ) -> Option<BoxedFetcher> {
        self.by_scheme
            .insert(scheme.to_ascii_lowercase(), Box::new(fetcher))
    }

    /// [`Fetchers::register`], builder style.
    pub fn with(mut self, scheme: &str, fetcher: impl Fetcher + Send + Sync + 'static) -> Self {
        self.register(scheme, fetcher);
        self
    }

    /// The schemes that have a fetcher, sorted.
    pub fn schemes(&self) -> impl Iterator<Item = &str> {
        self.by_scheme.keys().map(String::as_str)
    }
}

impl Fetcher for Fetchers {
    fn fetch(&self, url: &str, headers: &[HttpHeader]) -> Result<Vec<u8>, FetchError> {
        let scheme = crate::url::parse(url)
            .map_err(|reason| FetchError::InvalidUrl {
                url: display_url(url),
                reason,
            })?
            .scheme;
        match self.by_scheme.get(&scheme) {
            Some(f) => f.fetch(url, headers),
            None => Err(FetchError::UnsupportedScheme {
                url: display_url(url),
                scheme,
                registered: self.schemes().collect::<Vec<_>>().join(", "),
            }),
        }
    }
}

/// Fetches a resource, gunzips it when asked to, and checks its hash (over
/// the decompressed bytes, as Ignition does). Decompressed output is capped
/// at [`DEFAULT_MAX_DECOMPRESSED`].
pub fn fetch_resource(f: &dyn Fetcher, res: &Resource) -> Result<Vec<u8>, FetchError> {
    fetch_resource_limited(f, res, DEFAULT_MAX_DECOMPRESSED)
}

/// [`fetch_resource`] with another cap on decompressed output (in bytes).
pub fn fetch_resource_limited(
    f: &dyn Fetcher,
    res: &Resource,
    max_decompressed: u64,
) -> Result<Vec<u8>, FetchError> {
    let source = res.source.as_deref().ok_or(FetchError::NoSource)?;
    let raw = f.fetch(source, &res.http_headers)?;
    let data = match res.compression.as_deref() {
        None | Some("") => raw,
        Some("gzip") => gunzip(&raw, max_decompressed, source)?,
        Some(other) => {
            return Err(FetchError::UnsupportedCompression {
                url: display_url(source),
                compression: other.to_string(),
            })
        }
    };
    if let Some(hash) = &res.verification.hash {
        verify_hash(hash, &data, source)?;
    }
    Ok(data)
}

/// Decompresses gzip (all members, as Go's reader does), refusing to
/// produce more than `limit` bytes.
fn gunzip(raw: &[u8], limit: u64, url: &str) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(raw)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| FetchError::Decompress {
            url: display_url(url),
            reason: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(FetchError::TooLarge {
            url: display_url(url),
            limit,
        });
    }
    Ok(out)
}

/// Checks `function-hexdigest` (sha512 or sha256) against `data`. As in Go,
/// the digest must be given in lower-case hex.
pub fn verify_hash(hash: &str, data: &[u8], url: &str) -> Result<(), FetchError> {
    let invalid = |reason: &str| FetchError::InvalidHash {
        url: display_url(url),
        hash: hash.to_string(),
        reason: reason.to_string(),
    };
    validate::validate_hash(hash, SpecVersion::LATEST).map_err(invalid)?;
    let (function, expected) = hash
        .split_once('-')
        .ok_or_else(|| invalid("malformed hash specifier"))?;
    let calculated = match function {
        "sha512" => hex(&Sha512::digest(data)),
        "sha256" => hex(&Sha256::digest(data)),
        _ => return Err(invalid("unrecognized hash function")),
    };
    if calculated != expected {
        return Err(FetchError::HashMismatch {
            url: display_url(url),
            function: function.to_string(),
            calculated,
            expected: expected.to_string(),
        });
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Why a config's references could not be rendered. `at` is the reference's
/// place in the config that holds it (`$.ignition.config.merge.1`,
/// `$.ignition.config.replace`); `url` its source (shortened for `data:`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error("config reference at {at} ({url}): {error}")]
    Fetch {
        at: JsonPath,
        url: String,
        error: Box<FetchError>,
    },
    #[error("config reference at {at} ({url}): {}", parse_message(.error))]
    Parse {
        at: JsonPath,
        url: String,
        error: ParseError,
    },
    #[error("config reference at {at} ({url}): references nest deeper than {max_depth} levels")]
    TooDeep {
        at: JsonPath,
        url: String,
        max_depth: usize,
    },
    /// A failure inside the referenced config's own references.
    #[error("config reference at {at} ({url}): {error}")]
    Nested {
        at: JsonPath,
        url: String,
        error: Box<ResolveError>,
    },
    /// The rendered (merged) config breaks the latest spec's rules.
    #[error("the rendered config is not valid: {}", findings(.0))]
    Invalid(Report),
}

impl ResolveError {
    /// The findings behind the error, if it is about an invalid config.
    pub fn report(&self) -> Option<&Report> {
        match self {
            ResolveError::Parse { error, .. } => error.report(),
            ResolveError::Nested { error, .. } => error.report(),
            ResolveError::Invalid(r) => Some(r),
            _ => None,
        }
    }

    /// The innermost error: the reference that actually failed.
    pub fn innermost(&self) -> &ResolveError {
        match self {
            ResolveError::Nested { error, .. } => error.innermost(),
            other => other,
        }
    }
}

fn parse_message(e: &ParseError) -> String {
    match e.report() {
        Some(r) => format!("the referenced config is not valid: {}", findings(r)),
        None => format!("the referenced config is not valid: {e}"),
    }
}

fn findings(r: &Report) -> String {
    r.errors()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Renders a parsed config's references as Go Ignition does:
///
/// - `ignition.config.replace.source` set: fetch that config (with its
///   headers, compression and hash), parse it, render it in turn, and use it
///   instead; the rest of the config is dropped.
/// - Otherwise, for each `ignition.config.merge` entry in order: fetch,
///   parse and render the referenced config, then merge it as the child over
///   the result so far (which starts as the config itself, its own
///   `ignition.config.merge` list included; Go does not clear it).
///
/// References nest at most `max_depth` levels (0: none are followed). The
/// result is validated with the latest spec's rules, as Go does after
/// rendering; warnings are dropped.
pub fn resolve(
    parsed: Config,
    fetchers: &dyn Fetcher,
    max_depth: usize,
) -> Result<Config, ResolveError> {
    let renderer = Renderer {
        fetchers,
        max_depth,
    };
    let cfg = renderer.render(parsed, 0)?;
    let report = validate::validate(&cfg, SpecVersion::LATEST);
    if report.has_errors() {
        return Err(ResolveError::Invalid(report));
    }
    Ok(cfg)
}

struct Renderer<'a> {
    fetchers: &'a dyn Fetcher,
    max_depth: usize,
}

impl Renderer<'_> {
    fn render(&self, cfg: Config, depth: usize) -> Result<Config, ResolveError> {
        let refs = &cfg.ignition.config;
        if refs.replace.source.is_some() {
            let at = jpath!["ignition", "config", "replace"];
            return self.reference(&refs.replace, at, depth);
        }
        let merges = refs.merge.clone();
        let mut merged = cfg;
        for (i, r) in merges.iter().enumerate() {
            let at = jpath!["ignition", "config", "merge", i];
            let child = self.reference(r, at, depth)?;
            merged = merge(&merged, &child);
        }
        Ok(merged)
    }

    /// Fetches, parses and renders the config `res` points to, from a
    /// config at `depth`.
    fn reference(
        &self,
        res: &Resource,
        at: JsonPath,
        depth: usize,
    ) -> Result<Config, ResolveError> {
        let url = display_url(res.source.as_deref().unwrap_or(""));
        if depth >= self.max_depth {
            return Err(ResolveError::TooDeep {
                at,
                url,
                max_depth: self.max_depth,
            });
        }
        let bytes =
            fetch_resource_limited(self.fetchers, res, MAX_CONFIG_SIZE).map_err(|error| {
                ResolveError::Fetch {
                    at: at.clone(),
                    url: url.clone(),
                    error: Box::new(error),
                }
            })?;
        let parsed = crate::parse(&bytes).map_err(|error| ResolveError::Parse {
            at: at.clone(),
            url: url.clone(),
            error,
        })?;
        self.render(parsed.config, depth + 1)
            .map_err(|error| ResolveError::Nested {
                at,
                url,
                error: Box::new(error),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_handles_multibyte_prefixes() {
        // Found by the fuzzer: a 5-byte prefix that ends inside a character.
        assert_eq!(display_url("s3:/\u{96}x"), "s3:/\u{96}x");
        assert_eq!(display_url("DATA:text/plain,secret"), "DATA:text/plain,…");
    }
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn res(source: &str) -> Resource {
        Resource {
            source: Some(source.to_string()),
            ..Resource::default()
        }
    }

    #[test]
    fn shortens_data_urls() {
        assert_eq!(display_url("data:;base64,c2VjcmV0"), "data:;base64,…");
        assert_eq!(display_url("DATA:text/plain,secret"), "DATA:text/plain,…");
        assert_eq!(display_url("data:,"), "data:,");
        assert_eq!(display_url("https://h/x"), "https://h/x");
    }

    #[test]
    fn hashes_are_checked_after_decompression() {
        let plain = b"hello";
        let sha256 = "sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        verify_hash(sha256, plain, "x").unwrap();
        let upper = sha256.to_uppercase().replace("SHA256", "sha256");
        assert!(matches!(
            verify_hash(&upper, plain, "x"),
            Err(FetchError::HashMismatch { .. })
        ));
        assert!(matches!(
            verify_hash("md5-00", plain, "x"),
            Err(FetchError::InvalidHash { .. })
        ));

        let compressed = gzip(plain);
        let f = move |_: &str, _: &[HttpHeader]| Ok(compressed.clone());
        let mut r = res("x://y");
        r.compression = Some("gzip".into());
        r.verification.hash = Some(sha256.into());
        assert_eq!(fetch_resource(&f, &r).unwrap(), plain);
    }

    #[test]
    fn caps_decompressed_output() {
        let bomb = gzip(&vec![0u8; 1 << 20]);
        let f = move |_: &str, _: &[HttpHeader]| Ok(bomb.clone());
        let mut r = res("x://y");
        r.compression = Some("gzip".into());
        assert_eq!(
            fetch_resource_limited(&f, &r, 1000),
            Err(FetchError::TooLarge {
                url: "x://y".into(),
                limit: 1000
            })
        );
        assert_eq!(
            fetch_resource_limited(&f, &r, 1 << 20).unwrap().len(),
            1 << 20
        );
    }

    #[test]
    fn reads_concatenated_gzip_members_and_rejects_garbage() {
        let mut two = gzip(b"ab");
        two.extend(gzip(b"cd"));
        assert_eq!(gunzip(&two, 100, "u").unwrap(), b"abcd");
        assert!(matches!(
            gunzip(b"not gzip", 100, "u"),
            Err(FetchError::Decompress { .. })
        ));
    }

    #[test]
    fn dispatches_by_scheme() {
        let f = Fetchers::new().with("HTTPS", |url: &str, h: &[HttpHeader]| {
            Ok(format!("{url} {}", h.len()).into_bytes())
        });
        assert_eq!(f.schemes().collect::<Vec<_>>(), ["data", "https"]);
        assert_eq!(f.fetch("HTTPS://h/x", &[]).unwrap(), b"HTTPS://h/x 0");
        assert_eq!(f.fetch("data:,hi", &[]).unwrap(), b"hi");
        let err = f.fetch("tftp://h/x", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported URL scheme \"tftp\" in tftp://h/x: no fetcher is registered for it (registered: data, https)"
        );
        assert!(matches!(
            f.fetch("data:x", &[]),
            Err(FetchError::DataUrl { .. })
        ));
        assert_eq!(
            fetch_resource(&f, &Resource::default()),
            Err(FetchError::NoSource)
        );
    }
}
