//! Resources (file contents, config references, CAs, key files): compression,
//! hashes, URL schemes per version, HTTP headers.

use crate::model::Resource;
use crate::path::JsonPath;
use crate::report::Report;
use crate::url;
use crate::version::SpecVersion;

/// The rules every resource follows in `version`. In 3.0 only file contents
/// had `compression` and no resource had headers, so those checks are moot
/// there and skipped.
pub fn validate(res: &Resource, at: &JsonPath, version: SpecVersion, r: &mut Report) {
    if let Some(c) = &res.compression {
        if !c.is_empty() && c != "gzip" {
            r.error(at.key("compression"), "invalid compression method");
        }
    }
    let hash_at = at.key("verification").key("hash");
    if let Some(hash) = &res.verification.hash {
        if res.source.is_none() {
            r.error(
                hash_at.clone(),
                "source must be specified if verification is specified",
            );
        }
        if let Err(e) = validate_hash(hash, version) {
            r.error(hash_at, e);
        }
    }
    if let Some(source) = res.source.as_deref().filter(|s| !s.is_empty()) {
        if let Err(e) = validate_url(source, version) {
            r.error(at.key("source"), e);
        }
    }
    if !res.http_headers.is_empty() {
        let scheme_ok = match res
            .source
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(url::parse)
        {
            None | Some(Err(_)) => Err("unable to parse url"),
            Some(Ok(u)) if u.scheme == "http" || u.scheme == "https" => Ok(()),
            Some(Ok(_)) => Err("cannot use HTTP headers with this source scheme"),
        };
        if let Err(e) = scheme_ok {
            r.error(at.key("httpHeaders"), e);
        }
    }
    for (i, h) in res.http_headers.iter().enumerate() {
        let h_at = at.key("httpHeaders").index(i);
        if h.name.is_empty() {
            r.error(h_at.key("name"), "HTTP header name can't be empty");
        }
        if h.value.as_deref() == Some("") {
            r.error(h_at.key("value"), "unable to parse HTTP header");
        }
    }
}

/// A resource whose source must be given (merged configs, CAs from 3.1 on).
pub fn require_source(res: &Resource, at: &JsonPath, version: SpecVersion, r: &mut Report) {
    match res.source.as_deref() {
        None | Some("") => r.error(at.clone(), "source is required"),
        Some(s) => {
            if let Err(e) = validate_url(s, version) {
                r.error(at.clone(), e);
            }
        }
    }
}

/// 3.0 config references and CAs: a source URL (required for CAs) and a
/// well-formed hash, nothing else.
pub fn validate_reference_30(
    res: &Resource,
    at: &JsonPath,
    required: bool,
    v: SpecVersion,
    r: &mut Report,
) {
    let source = res.source.as_deref().unwrap_or("");
    if required || !source.is_empty() {
        if let Err(e) = validate_url(source, v) {
            r.error(at.key("source"), e);
        }
    }
    if let Some(hash) = &res.verification.hash {
        if let Err(e) = validate_hash(hash, v) {
            r.error(at.key("verification").key("hash"), e);
        }
    }
}

/// `function-hexdigest`: `sha512` in every 3.x, `sha256` from 3.1.
pub fn validate_hash(hash: &str, version: SpecVersion) -> Result<(), &'static str> {
    let (function, sum) = hash.split_once('-').ok_or("malformed hash specifier")?;
    let hex_len = match function {
        "sha512" => 128,
        "sha256" if version.since(1) => 64,
        _ => return Err("unrecognized hash function"),
    };
    if sum.len() != hex_len {
        return Err("incorrect size for hash sum");
    }
    Ok(())
}

/// The URL schemes a version accepts, with their own checks.
pub fn validate_url(s: &str, version: SpecVersion) -> Result<(), String> {
    let u = url::parse(s).map_err(|_| "unable to parse url".to_string())?;
    match u.scheme.as_str() {
        "http" | "https" | "tftp" => Ok(()),
        "gs" if version.since(2) => Ok(()),
        "s3" => match u.query.map(|q| url::query_values(q, "versionId")) {
            Some(v) if v.first().is_some_and(|id| id.is_empty()) => {
                Err("invalid S3 object VersionId".into())
            }
            _ => Ok(()),
        },
        "arn" if version.since(4) => validate_s3_arn(s),
        "data" => crate::dataurl::decode(s).map(|_| ()),
        _ => Err("invalid url scheme".into()),
    }
}

/// `arn:PARTITION:s3:REGION:ACCOUNT:RESOURCE` naming an object (`bucket/key`
/// or `accesspoint/NAME/object/key`).
fn validate_s3_arn(s: &str) -> Result<(), String> {
    let bad = || "invalid S3 ARN format".to_string();
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[2] != "s3" {
        return Err(bad());
    }
    let segments = s.split('/').count();
    let needed = if parts[5].starts_with("accesspoint/") {
        3
    } else {
        2
    };
    if segments < needed {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V30: SpecVersion = SpecVersion::new(3, 0);
    const V31: SpecVersion = SpecVersion::new(3, 1);
    const V34: SpecVersion = SpecVersion::new(3, 4);

    #[test]
    fn hashes_by_version() {
        let sha512 = format!("sha512-{}", "a".repeat(128));
        let sha256 = format!("sha256-{}", "a".repeat(64));
        assert_eq!(validate_hash(&sha512, V30), Ok(()));
        assert_eq!(
            validate_hash(&sha256, V30),
            Err("unrecognized hash function")
        );
        assert_eq!(validate_hash(&sha256, V31), Ok(()));
        assert_eq!(
            validate_hash("sha512-00", V31),
            Err("incorrect size for hash sum")
        );
        assert_eq!(
            validate_hash("sha512", V31),
            Err("malformed hash specifier")
        );
        assert_eq!(
            validate_hash("md5-00", V31),
            Err("unrecognized hash function")
        );
    }

    #[test]
    fn schemes_by_version() {
        assert!(validate_url("gs://b/o", V31).is_err());
        assert!(validate_url("gs://b/o", SpecVersion::new(3, 2)).is_ok());
        assert!(validate_url("tftp://h/f", V30).is_ok());
        assert!(validate_url("ftp://h/f", V34).is_err());
        assert!(validate_url("s3://b/k?versionId=", V30).is_err());
        assert!(validate_url("s3://b/k?versionId=1", V30).is_ok());
        assert!(validate_url("arn:aws:s3:::bucket/key", V34).is_ok());
        assert!(validate_url("arn:aws:s3:::bucket/key", SpecVersion::new(3, 3)).is_err());
        assert!(validate_url("arn:aws:s3:::bucket", V34).is_err());
        assert!(validate_url("arn:aws:sqs:::bucket/key", V34).is_err());
        assert!(validate_url("data:,hi", V30).is_ok());
        assert!(validate_url("data:x", V30).is_err());
        assert!(validate_url("no-scheme", V30).is_err());
    }
}
