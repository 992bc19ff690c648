//! Refspecs (`remote:ref` or a local `ref`) and the targets `rebase` accepts. Pure.

use std::fmt;
use thiserror::Error;

/// Prefixes of container-image references (rpm-ostree's ostree-ext forms).
const CONTAINER_PREFIXES: &[&str] = &[
    "ostree-unverified-registry:",
    "ostree-unverified-image:",
    "ostree-remote-registry:",
    "ostree-remote-image:",
    "ostree-image-signed:",
];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RefspecError {
    #[error(
        "container image references are not supported yet: {0:?} \
         (this rpm-ostree shim deploys ostree refs and commits only; see docs/rpm-ostree.md)"
    )]
    ContainerUnsupported(String),
    #[error("invalid refspec {0:?}: {1}")]
    Invalid(String, &'static str),
}

/// An ostree refspec: an optional remote and a ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refspec {
    pub remote: Option<String>,
    pub ref_: String,
}

impl fmt::Display for Refspec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.remote {
            Some(r) => write!(f, "{r}:{}", self.ref_),
            None => f.write_str(&self.ref_),
        }
    }
}

/// True for container-image references in any form we know (`ostree-*-image:`, `docker://`...).
pub fn is_container_ref(s: &str) -> bool {
    CONTAINER_PREFIXES.iter().any(|p| s.starts_with(p))
        || (s.contains("://") && !s.starts_with("ostree://"))
}

/// Refuses container references with a clear error.
pub fn refuse_container(s: &str) -> Result<(), RefspecError> {
    if is_container_ref(s) {
        Err(RefspecError::ContainerUnsupported(s.to_string()))
    } else {
        Ok(())
    }
}

fn check_ref(whole: &str, r: &str) -> Result<(), RefspecError> {
    if r.is_empty() {
        return Err(RefspecError::Invalid(whole.into(), "empty ref"));
    }
    if r.starts_with('/') || r.ends_with('/') || r.contains("//") || r.contains("..") {
        return Err(RefspecError::Invalid(whole.into(), "malformed ref path"));
    }
    if r.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RefspecError::Invalid(whole.into(), "whitespace in ref"));
    }
    Ok(())
}

impl Refspec {
    /// Parses a stored refspec (`remote:ref`, `ref`; an `ostree://` prefix is accepted).
    pub fn parse(s: &str) -> Result<Self, RefspecError> {
        refuse_container(s)?;
        let body = s.strip_prefix("ostree://").unwrap_or(s);
        let (remote, r) = match body.split_once(':') {
            Some((rem, r)) => (Some(rem), r),
            None => (None, body),
        };
        if let Some(rem) = remote {
            if rem.is_empty() || rem.contains('/') {
                return Err(RefspecError::Invalid(s.into(), "bad remote name"));
            }
        }
        check_ref(s, r)?;
        Ok(Refspec {
            remote: remote.map(str::to_string),
            ref_: r.to_string(),
        })
    }

    /// Resolves the argument of `rebase` against the current refspec, as rpm-ostree does:
    /// `remote:ref` is taken as is; `remote:` keeps the ref and switches remote; `:ref` is a
    /// local ref; a bare `ref` keeps the current remote.
    pub fn for_rebase(arg: &str, current: Option<&Refspec>) -> Result<Self, RefspecError> {
        refuse_container(arg)?;
        let body = arg.strip_prefix("ostree://").unwrap_or(arg);
        if let Some(local) = body.strip_prefix(':') {
            check_ref(arg, local)?;
            return Ok(Refspec {
                remote: None,
                ref_: local.to_string(),
            });
        }
        if let Some(remote) = body.strip_suffix(':') {
            let Some(cur) = current else {
                return Err(RefspecError::Invalid(
                    arg.into(),
                    "no current ref to keep (give remote:ref)",
                ));
            };
            let r = Refspec::parse(&format!("{remote}:{}", cur.ref_))?;
            return Ok(r);
        }
        if body.contains(':') {
            return Refspec::parse(body);
        }
        check_ref(arg, body)?;
        Ok(Refspec {
            remote: current.and_then(|c| c.remote.clone()),
            ref_: body.to_string(),
        })
    }
}

/// What `deploy REV` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    Checksum(String),
    Version(String),
}

impl Revision {
    /// `revision=X` and 64 hex digits are checksums; `version=X` and anything else, versions.
    pub fn parse(s: &str) -> Self {
        if let Some(c) = s.strip_prefix("revision=") {
            return Revision::Checksum(c.to_string());
        }
        if let Some(v) = s.strip_prefix("version=") {
            return Revision::Version(v.to_string());
        }
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Revision::Checksum(s.to_ascii_lowercase())
        } else {
            Revision::Version(s.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(remote: Option<&str>, r: &str) -> Refspec {
        Refspec {
            remote: remote.map(Into::into),
            ref_: r.into(),
        }
    }

    #[test]
    fn parse_table() {
        assert_eq!(Refspec::parse("os:a/b").unwrap(), rs(Some("os"), "a/b"));
        assert_eq!(Refspec::parse("a/b").unwrap(), rs(None, "a/b"));
        assert_eq!(
            Refspec::parse("ostree://os:a/b").unwrap(),
            rs(Some("os"), "a/b")
        );
        for bad in ["", "os:", ":x", "a//b", "/a", "a b", "x/y:z"] {
            assert!(Refspec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(rs(Some("os"), "a").to_string(), "os:a");
        assert_eq!(rs(None, "a").to_string(), "a");
    }

    #[test]
    fn rebase_table() {
        let cur = rs(Some("fedora"), "fedora/stable");
        let cases = [
            ("other:x/y", rs(Some("other"), "x/y")),
            ("x/y", rs(Some("fedora"), "x/y")),
            ("mirror:", rs(Some("mirror"), "fedora/stable")),
            (":local/ref", rs(None, "local/ref")),
        ];
        for (arg, want) in cases {
            assert_eq!(Refspec::for_rebase(arg, Some(&cur)).unwrap(), want, "{arg}");
        }
        assert_eq!(Refspec::for_rebase("x/y", None).unwrap(), rs(None, "x/y"));
        assert!(Refspec::for_rebase("mirror:", None).is_err());
    }

    #[test]
    fn container_refs_refused() {
        for r in [
            "ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable",
            "ostree-unverified-image:docker://quay.io/x",
            "ostree-remote-image:fedora:docker://quay.io/x",
            "ostree-image-signed:docker://quay.io/x",
            "ostree-remote-registry:fedora:quay.io/x",
            "docker://quay.io/x",
            "oci-archive://x",
        ] {
            let err = Refspec::for_rebase(r, None).unwrap_err();
            assert!(matches!(err, RefspecError::ContainerUnsupported(_)), "{r}");
            assert!(err.to_string().contains("not supported yet"));
        }
    }

    #[test]
    fn revisions() {
        let c = "A".repeat(64);
        assert_eq!(Revision::parse(&c), Revision::Checksum("a".repeat(64)));
        assert_eq!(
            Revision::parse("revision=abc"),
            Revision::Checksum("abc".into())
        );
        assert_eq!(Revision::parse("version=1"), Revision::Version("1".into()));
        assert_eq!(Revision::parse("38.1"), Revision::Version("38.1".into()));
    }
}
