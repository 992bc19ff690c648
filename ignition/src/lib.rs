//! mooring's Ignition: the config engine (parse every supported spec,
//! translate to the latest, validate with Go Ignition's rules, merge) and,
//! later, the first-boot executor.
//!
//! ```
//! let parsed = ignition::parse(br#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
//! assert_eq!(parsed.config.ignition.version, "3.6.0");
//! ```

pub mod config;
pub mod dataurl;
pub mod downtranslate;
pub mod exec;
pub mod exercise;
pub mod fetch;
pub mod json;
pub mod merge;
pub mod model;
pub mod path;
pub mod report;
pub mod url;
pub mod v2;
pub mod validate;
pub mod version;

pub use config::{parse, to_json, ParseError, Parsed};
pub use model::Config;
pub use report::{Finding, Report, Severity};
pub use version::SpecVersion;
