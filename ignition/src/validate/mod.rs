//! Go Ignition's validation rules, applied to the internal model with the
//! spec version the config was written in (some rules differ by version).
//!
//! Each finding carries the JSON path of the offending value; the caller
//! locates it in the source text.

mod dups;
mod ignition;
pub mod paths;
mod resource;
mod storage;
mod systemd;
pub mod unit;

pub use resource::validate_hash;

use crate::model::Config;
use crate::report::Report;
use crate::version::SpecVersion;

/// Validates a decoded config written in spec `version`.
pub fn validate(cfg: &Config, version: SpecVersion) -> Report {
    let mut r = Report::default();
    ignition::validate(&cfg.ignition, version, &mut r);
    storage::validate(&cfg.storage, version, &mut r);
    systemd::validate(&cfg.systemd, &mut r);
    if version.since(5) {
        systemd::conflicts_with_storage(cfg, &mut r);
    }
    dups::validate(cfg, &mut r);
    r
}
