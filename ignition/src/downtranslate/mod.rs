//! Down-translation: the internal model (spec 3.6.0) written as an older
//! spec, for clients that ask for one (the Machine Config Server negotiates
//! the version from the `Accept` header).
//!
//! Targets are 3.0.0 to 3.6.0 and 2.2.0. The result is exact or an error:
//! a field the target does not have must be unset in the config (or set to
//! the value that means the same as leaving it out, such as `shouldExist:
//! true` or `resize: false`, which is then left out), and a value the target
//! cannot express (a sha256 hash before 3.1, a `gs://` URL before 3.2, an
//! `arn:` URL before 3.4, filesystem format `none` before 3.3,
//! setuid/setgid/sticky mode bits before 3.6, a custom clevis pin other than
//! tpm2/tang/sss before 3.6) is an error naming its JSON path. Finally the
//! config must pass the target's own validation rules (some rules were
//! stricter in older specs).
//!
//! ```
//! use ignition::{downtranslate, SpecVersion};
//! let cfg = ignition::parse(br#"{"ignition":{"version":"3.6.0"},
//!     "storage":{"luks":[{"name":"a","device":"/dev/vdb"}]}}"#).unwrap().config;
//! let out = downtranslate::to_spec(&cfg, SpecVersion::new(3, 2)).unwrap();
//! assert_eq!(out["ignition"]["version"], "3.2.0");
//! let err = downtranslate::to_spec(&cfg, SpecVersion::new(3, 1)).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "$.storage.luks: not expressible in spec 3.1.0 (luks needs 3.2.0)"
//! );
//! ```
//!
//! The output is a [`serde_json::Value`], which the caller serializes once
//! per render (`serde_json::to_vec`; keys come out sorted). Reading the output back with
//! [`crate::parse`] gives the same model, except for values that mean the
//! same as the default and are written differently by the older spec: see
//! [`v22`] for 2.2.0.

mod check;
pub mod v22;

use std::collections::HashMap;
use std::fmt;

use crate::model::Config;
use crate::path::JsonPath;
use crate::version::SpecVersion;

pub use v22::to_spec_2_2_with_fs_names;

/// One reason the config cannot be written in the target spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the config (the 3.6.0 model's JSON path).
    pub path: JsonPath,
    /// The spec that was asked for.
    pub target: SpecVersion,
    /// What the target lacks, such as `luks needs 3.2.0`.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: not expressible in spec {} ({})",
            self.path, self.target, self.detail
        )
    }
}

/// Why a config could not be down-translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownError {
    /// Not 3.0.0-3.6.0 or 2.2.0.
    #[error("spec {0} is not a down-translation target (3.0.0 to 3.6.0, or 2.2.0)")]
    UnsupportedTarget(SpecVersion),
    /// The config uses what the target cannot express; one entry per field,
    /// in config order. Displayed as the problems joined by `; `.
    #[error("{}", join(.0))]
    NotExpressible(Vec<Problem>),
}

impl DownError {
    /// The problems (empty for an unsupported target).
    pub fn problems(&self) -> &[Problem] {
        match self {
            DownError::NotExpressible(p) => p,
            DownError::UnsupportedTarget(_) => &[],
        }
    }
}

fn join(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("; ")
}

/// Every version [`to_spec`] writes, oldest first.
pub const TARGETS: [SpecVersion; 8] = [
    SpecVersion::new(2, 2),
    SpecVersion::new(3, 0),
    SpecVersion::new(3, 1),
    SpecVersion::new(3, 2),
    SpecVersion::new(3, 3),
    SpecVersion::new(3, 4),
    SpecVersion::new(3, 5),
    SpecVersion::new(3, 6),
];

/// The config written in spec `target` (its `ignition.version` is the
/// target), or every reason it cannot be. For 2.2.0, filesystems with a
/// `path` are named by that path, as ign-converter does; use
/// [`to_spec_2_2_with_fs_names`] to choose the names.
pub fn to_spec(config: &Config, target: SpecVersion) -> Result<serde_json::Value, DownError> {
    if target == SpecVersion::new(2, 2) {
        return to_spec_2_2_with_fs_names(config, &HashMap::new());
    }
    if !TARGETS.contains(&target) {
        return Err(DownError::UnsupportedTarget(target));
    }
    let c = check::normalize(config, target, target)?;
    let mut out = serde_json::to_value(&c).map_err(|e| {
        DownError::NotExpressible(vec![Problem {
            path: JsonPath::root(),
            target,
            detail: format!("cannot serialize: {e}"),
        }])
    })?;
    out["ignition"]["version"] = serde_json::Value::String(target.to_string());
    Ok(out)
}
