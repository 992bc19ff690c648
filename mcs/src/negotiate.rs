//! The Ignition spec version to serve, from the request's `Accept` header,
//! with the rules of OpenShift's MCS (`detectSpecVersionFromAcceptHeader` in
//! machine-config-operator's `pkg/server/api.go`):
//!
//! 1. The header is a comma-separated list of media ranges with `;`
//!    parameters. A range without `/` is ignored. Of the parameters only
//!    `version` (a semantic version `X.Y.Z[-pre][+build]`; anything else is
//!    ignored) and `q` (a number; default 1) are read; the first valid one of
//!    each counts. Ranges are then ordered by descending `q`, keeping the
//!    header's order among equals.
//! 2. The first range whose subtype is `vnd.coreos.ignition+json` and that has
//!    a version decides: 2.x from 2.2 up is served as 2.2.0; 3.0 to 3.6 as
//!    that minor (`3.2.1` → 3.2.0); a 3.x minor newer than 3.6 as 3.6.0 (the
//!    latest); anything else (1.x, 2.0, 2.1, 4.x, ...) is refused (400).
//! 3. No header, no valid range, or no Ignition range with a version: 2.2.0
//!    (what OpenShift serves to `curl` and other non-Ignition clients).
//!
//! As in OpenShift, `q=0` does not exclude a range, and the top-level type is
//! not checked (only the subtype). Quoted parameter values (`version="3.2.0"`)
//! are accepted; OpenShift ignores them.

use ignition::SpecVersion;

/// The subtype Ignition asks for.
pub const IGNITION_SUBTYPE: &str = "vnd.coreos.ignition+json";

/// What clients that send no usable Accept header get.
pub const DEFAULT_VERSION: SpecVersion = SpecVersion::new(2, 2);

/// The versions served, in the order of [`index`].
pub const SERVED: [SpecVersion; 8] = ignition::downtranslate::TARGETS;

/// The request asks for a spec version that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported Ignition version {requested} in Accept header {header:?} (served: 2.2.0, 3.0.0 to {latest})", latest = SpecVersion::LATEST)]
pub struct Unsupported {
    pub requested: String,
    pub header: String,
}

/// The position of a served version in [`SERVED`].
pub fn index(v: SpecVersion) -> Option<usize> {
    SERVED.iter().position(|s| *s == v)
}

/// The version to serve for an `Accept` header (see the module docs).
pub fn negotiate(accept: Option<&str>) -> Result<SpecVersion, Unsupported> {
    let Some(header) = accept else {
        return Ok(DEFAULT_VERSION);
    };
    let mut ranges = parse_accept(header);
    // Stable: equal q keeps the header's order.
    ranges.sort_by(|a, b| b.q.total_cmp(&a.q));
    for r in ranges {
        if r.subtype != IGNITION_SUBTYPE {
            continue;
        }
        let Some((major, minor)) = r.version else {
            continue;
        };
        return map_version(major, minor).ok_or_else(|| Unsupported {
            requested: r.version_text,
            header: header.to_string(),
        });
    }
    Ok(DEFAULT_VERSION)
}

fn map_version(major: u64, minor: u64) -> Option<SpecVersion> {
    let latest = SpecVersion::LATEST;
    match major {
        2 if minor >= 2 => Some(DEFAULT_VERSION),
        3 if minor > u64::from(latest.minor) => Some(latest),
        3 => Some(SpecVersion::new(3, minor as u8)),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
struct MediaRange {
    subtype: String,
    /// Major and minor of a valid `version` parameter.
    version: Option<(u64, u64)>,
    version_text: String,
    q: f64,
}

fn parse_accept(header: &str) -> Vec<MediaRange> {
    let mut out = Vec::new();
    for range in header.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let Some((_, subtype)) = media.split_once('/') else {
            continue;
        };
        let mut version = None;
        let mut version_text = String::new();
        let mut q = None;
        for p in parts {
            let Some((key, value)) = p.split_once('=') else {
                continue;
            };
            let value = unquote(value);
            match key {
                "version" if version.is_none() => {
                    if let Some(v) = parse_semver(value) {
                        version = Some(v);
                        version_text = value.to_string();
                    }
                }
                "q" if q.is_none() => q = value.parse::<f64>().ok().filter(|q| q.is_finite()),
                _ => {}
            }
        }
        out.push(MediaRange {
            subtype: subtype.to_string(),
            version,
            version_text,
            q: q.unwrap_or(1.0),
        });
    }
    out
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// `X.Y.Z` with an optional `-pre` and `+build` (as go-semver reads it);
/// returns major and minor.
fn parse_semver(v: &str) -> Option<(u64, u64)> {
    let core = v.split_once('+').map_or(v, |(c, _)| c);
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    if pre.is_some_and(|p| p.is_empty()) {
        return None;
    }
    let nums: Vec<&str> = core.split('.').collect();
    if nums.len() != 3
        || nums
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let major = nums[0].parse().ok()?;
    let minor = nums[1].parse().ok()?;
    nums[2].parse::<u64>().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SpecVersion {
        let (a, b) = s.split_once('.').unwrap();
        SpecVersion::new(a.parse().unwrap(), b.parse().unwrap())
    }

    #[test]
    fn table() {
        let ign = |ver: &str| format!("application/vnd.coreos.ignition+json;version={ver}");
        let cases: Vec<(Option<String>, Option<&str>)> = vec![
            (None, Some("2.2")),
            (Some(String::new()), Some("2.2")),
            (Some("*/*".into()), Some("2.2")),
            (Some("garbage".into()), Some("2.2")),
            (Some("application/json".into()), Some("2.2")),
            (Some("application/vnd.coreos.ignition+json".into()), Some("2.2")),
            (Some(ign("3.0.0")), Some("3.0")),
            (Some(ign("3.1.0")), Some("3.1")),
            (Some(ign("3.2.0")), Some("3.2")),
            (Some(ign("3.3.0")), Some("3.3")),
            (Some(ign("3.4.0")), Some("3.4")),
            (Some(ign("3.5.0")), Some("3.5")),
            (Some(ign("3.6.0")), Some("3.6")),
            (Some(ign("3.2.1")), Some("3.2")),
            (Some(ign("3.5.0-experimental")), Some("3.5")),
            (Some(ign("3.7.0")), Some("3.6")),
            (Some(ign("3.9.0")), Some("3.6")),
            (Some(ign("2.2.0")), Some("2.2")),
            (Some(ign("2.3.0")), Some("2.2")),
            (Some(ign("2.4.0")), Some("2.2")),
            (Some(ign("2.1.0")), None),
            (Some(ign("2.0.0")), None),
            (Some(ign("1.0.0")), None),
            (Some(ign("4.0.0")), None),
            // Not a semantic version: the range counts as versionless.
            (Some(ign("3.2")), Some("2.2")),
            (Some(ign("banana")), Some("2.2")),
            (Some(r#"application/vnd.coreos.ignition+json;version="3.1.0""#.into()), Some("3.1")),
            // What Ignition 2.x sends.
            (Some("application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1".into()), Some("3.3")),
            // What Ignition 0.x sends.
            (
                Some("application/vnd.coreos.ignition+json; version=2.4.0, application/vnd.coreos.ignition+json; version=1; q=0.5, */*; q=0.1".into()),
                Some("2.2"),
            ),
            // Higher q first; equal q in header order.
            (Some(format!("{};q=0.5, {}", ign("3.1.0"), ign("3.4.0"))), Some("3.4")),
            (Some(format!("{}, {}", ign("3.1.0"), ign("3.4.0"))), Some("3.1")),
            (Some(format!("{};q=0.2, {};q=0.9", ign("4.0.0"), ign("3.0.0"))), Some("3.0")),
            // An invalid first version parameter does not hide a valid second one.
            (Some(format!("{};version=3.2.0", ign("x"))), Some("3.2")),
            (Some("text/plain;version=3.2.0".into()), Some("2.2")),
        ];
        for (header, want) in cases {
            let got = negotiate(header.as_deref());
            match want {
                Some(w) => assert_eq!(got, Ok(v(w)), "Accept: {header:?}"),
                None => assert!(got.is_err(), "Accept: {header:?} gave {got:?}"),
            }
        }
    }

    #[test]
    fn error_names_the_version() {
        let e = negotiate(Some("application/vnd.coreos.ignition+json;version=4.0.0")).unwrap_err();
        assert!(
            e.to_string().contains("unsupported Ignition version 4.0.0"),
            "{e}"
        );
    }

    #[test]
    fn every_negotiated_version_is_served() {
        for minor in 0..20 {
            if let Ok(v) = negotiate(Some(&format!(
                "application/vnd.coreos.ignition+json;version=3.{minor}.0"
            ))) {
                assert!(index(v).is_some(), "{v}");
            }
        }
    }
}
