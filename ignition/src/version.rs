//! Spec versions: which ones exist, how a config says which it is, and which
//! fields each 3.x version has.

use std::fmt;

use crate::json::decode::{FieldFilter, PathLink};
use crate::json::{Node, Value};

/// A supported Ignition spec version (all supported versions have patch 0 and
/// no pre-release tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpecVersion {
    pub major: u8,
    pub minor: u8,
}

impl SpecVersion {
    pub const fn new(major: u8, minor: u8) -> Self {
        SpecVersion { major, minor }
    }

    pub const LATEST: SpecVersion = SpecVersion::new(3, 6);

    /// Every version this engine reads, oldest first.
    pub const SUPPORTED: [SpecVersion; 9] = [
        SpecVersion::new(2, 2),
        SpecVersion::new(2, 3),
        SpecVersion::new(3, 0),
        SpecVersion::new(3, 1),
        SpecVersion::new(3, 2),
        SpecVersion::new(3, 3),
        SpecVersion::new(3, 4),
        SpecVersion::new(3, 5),
        SpecVersion::new(3, 6),
    ];

    /// At least 3.`minor` (and a 3.x version).
    pub fn since(self, minor: u8) -> bool {
        self.major == 3 && self.minor >= minor
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.0", self.major, self.minor)
    }
}

/// Why a config's version was refused; the messages are Go Ignition's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid config version (couldn't parse)")]
    Invalid,
    #[error("unsupported config version")]
    Unsupported,
}

/// Reads `ignition.version` from a parsed config. A missing or non-string
/// version, or one that is not a semantic version, is invalid.
pub fn detect(root: &Node) -> Result<SpecVersion, VersionError> {
    let version = root
        .member("ignition")
        .and_then(|m| m.value.member("version"))
        .map(|m| &m.value.value);
    match version {
        Some(Value::String(s)) => classify(s),
        _ => Err(VersionError::Invalid),
    }
}

/// Classifies a version string: not semver → invalid; semver but not one of
/// ours (other patch levels, pre-releases such as `-experimental`, build
/// metadata) → unsupported.
pub fn classify(s: &str) -> Result<SpecVersion, VersionError> {
    let (core, suffix) = match s.find(['-', '+']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(numeric) || suffix.len() == 1 {
        return Err(VersionError::Invalid);
    }
    let num = |p: &str| p.parse::<u64>().map_err(|_| VersionError::Invalid);
    let (major, minor, patch) = (num(parts[0])?, num(parts[1])?, num(parts[2])?);
    if patch != 0 || !suffix.is_empty() {
        return Err(VersionError::Unsupported);
    }
    SpecVersion::SUPPORTED
        .into_iter()
        .find(|v| u64::from(v.major) == major && u64::from(v.minor) == minor)
        .ok_or(VersionError::Unsupported)
}

/// The fields of the 3.x model that a given 3.x version has: each later
/// version only added fields, so a field has the minor version it came with.
pub struct Spec3Fields(pub SpecVersion);

impl Spec3Fields {
    fn since(strukt: &str, field: &str, path: &PathLink<'_>) -> u8 {
        match (strukt, field) {
            ("Resource", "httpHeaders") => 1,
            // 3.0 config references and CAs had no compression; file contents did.
            ("Resource", "compression") if path.top_key() == Some("ignition") => 1,
            ("Ignition", "proxy") => 1,
            ("Filesystem", "mountOptions") => 1,
            ("PasswdUser" | "PasswdGroup", "shouldExist") => 2,
            ("Partition", "resize") => 2,
            ("Storage", "luks") => 2,
            ("Config", "kernelArguments") => 3,
            ("Tang", "advertisement") => 4,
            ("Luks", "discard" | "openOptions") => 4,
            ("Luks", "cex") => 5,
            _ => 0,
        }
    }
}

impl FieldFilter for Spec3Fields {
    fn allows(&self, strukt: &'static str, field: &str, path: &PathLink<'_>) -> bool {
        self.0.since(Self::since(strukt, field, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_versions_like_go() {
        assert_eq!(classify("3.3.0"), Ok(SpecVersion::new(3, 3)));
        assert_eq!(classify("2.2.0"), Ok(SpecVersion::new(2, 2)));
        assert_eq!(classify("3.6.0"), Ok(SpecVersion::LATEST));
        for bad in ["", "abc", "3.3", "3.3.0.0", "3.x.0", "3.3.0-", "v3.3.0"] {
            assert_eq!(classify(bad), Err(VersionError::Invalid), "{bad}");
        }
        for unsupported in [
            "3.7.0",
            "3.4.0-experimental",
            "3.3.1",
            "2.1.0",
            "2.4.0",
            "1.0.0",
            "3.3.0+meta",
            "4.0.0",
        ] {
            assert_eq!(
                classify(unsupported),
                Err(VersionError::Unsupported),
                "{unsupported}"
            );
        }
    }

    #[test]
    fn detect_needs_a_string_version() {
        let node = crate::json::parse(r#"{"ignition":{"version":3}}"#).unwrap();
        assert_eq!(detect(&node), Err(VersionError::Invalid));
        let node = crate::json::parse(r#"{"ignition":{}}"#).unwrap();
        assert_eq!(detect(&node), Err(VersionError::Invalid));
    }
}
