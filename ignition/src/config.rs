//! Bytes to a validated config of the latest spec: the engine's front door.

use crate::json::{self, decode, Node, Value};
use crate::model::{self, Config};
use crate::path::JsonPath;
use crate::report::{Report, Severity};
use crate::validate;
use crate::version::{self, Spec3Fields, SpecVersion, VersionError};

/// A config that parsed and validated: the latest-spec model, the version
/// it was written in, and its warnings.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub config: Config,
    pub source_version: SpecVersion,
    pub report: Report,
}

/// Why a config was refused. The messages are Go Ignition's.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ParseError {
    #[error("not a config (empty)")]
    Empty,
    #[error(transparent)]
    Version(#[from] VersionError),
    /// The report holds the errors, located in the source text.
    #[error("config is not valid")]
    Invalid(Report),
}

impl ParseError {
    /// The findings that explain the error (empty for empty input and bad versions).
    pub fn report(&self) -> Option<&Report> {
        match self {
            ParseError::Invalid(r) => Some(r),
            _ => None,
        }
    }
}

/// Parses, translates to the latest spec and validates a config of any
/// supported version (3.0.0 to 3.6.0; 2.2.0 and 2.3.0).
pub fn parse(raw: &[u8]) -> Result<Parsed, ParseError> {
    if raw.is_empty() {
        return Err(ParseError::Empty);
    }
    let text = String::from_utf8_lossy(raw);
    let root = match json::parse(&text) {
        Ok(root) => root,
        Err(e) => {
            let mut r = Report::default();
            r.add(Severity::Error, e.path, e.message, Some(e.offset));
            r.locate(None, text.as_bytes());
            return Err(ParseError::Invalid(r));
        }
    };
    let fail = |mut r: Report| {
        r.locate(Some(&root), text.as_bytes());
        ParseError::Invalid(r)
    };
    if let Some(r) = shape_errors(&root) {
        return Err(fail(r));
    }
    let source_version = version::detect(&root)?;
    let (config, report) = if source_version.major == 2 {
        match crate::v2::translate(&root, source_version) {
            Ok((config, report)) => (config, report),
            Err(report) => return Err(fail(report)),
        }
    } else {
        decode::decode::<Config>(&root, &Spec3Fields(source_version))
    };
    if report.has_errors() {
        return Err(fail(report));
    }
    // Translated 2.x configs are checked with the rules of 3.0, their target.
    let rules = if source_version.major == 2 {
        SpecVersion::new(3, 0)
    } else {
        source_version
    };
    // Validation findings first, then unknown keys, as Go Ignition orders them.
    let mut findings = validate::validate(&config, rules);
    findings.merge(report);
    let mut report = findings;
    if report.has_errors() {
        return Err(fail(report));
    }
    report.locate(Some(&root), text.as_bytes());
    let mut config = config;
    config.ignition.version = model::LATEST.to_string();
    Ok(Parsed {
        config,
        source_version,
        report,
    })
}

/// The top level must be an object, `ignition` an object and `version` a
/// string; anything else is a type error, reported before the version.
fn shape_errors(root: &Node) -> Option<Report> {
    let wrong = |node: &Node, path: JsonPath, expected: &str| {
        let mut r = Report::default();
        let found = node.value.type_name();
        r.add(
            Severity::Error,
            path,
            format!("cannot use {found} as {expected}"),
            Some(node.offset),
        );
        Some(r)
    };
    if !matches!(root.value, Value::Object(_)) {
        return wrong(root, JsonPath::root(), "an object");
    }
    let ign = &root.member("ignition")?.value;
    if !matches!(ign.value, Value::Object(_) | Value::Null) {
        return wrong(ign, crate::jpath!["ignition"], "an object");
    }
    let v = &ign.member("version")?.value;
    if !matches!(v.value, Value::String(_) | Value::Null) {
        return wrong(v, crate::jpath!["ignition", "version"], "a string");
    }
    None
}

/// The config as JSON of the latest spec (what the config cache holds).
pub fn to_json(config: &Config) -> String {
    // Serializing plain structs of strings, numbers and bools cannot fail.
    serde_json::to_string(config).unwrap_or_default()
}
