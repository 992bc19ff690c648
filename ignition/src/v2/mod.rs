//! Specs 2.2.0 and 2.3.0, translated to the 3.x model.
//!
//! The 2.x config is decoded with its own types ([`types`]), then translated
//! field by field as Fedora CoreOS's ign-converter does (2.3 → 3.0). Whatever
//! 3.x cannot express is an error at the JSON path of the 2.x field.
//!
//! 2.x files, directories and links name a filesystem; 3.x uses absolute
//! paths. `root` is `/`; any other filesystem needs a mount path from the
//! caller ([`translate_with_paths`]), since a 2.x config does not say where
//! Ignition mounted it.

mod storage;
mod translate;
pub mod types;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::json::decode;
use crate::json::Node;
use crate::model::Config;
use crate::report::Report;
use crate::version::SpecVersion;

pub use types::Spec2Fields;

/// Decodes a 2.x config and translates it; errors (decoding or fields that
/// cannot be translated) come back as a report. Only the `root` filesystem
/// has a known mount path.
pub fn translate(root: &Node, version: SpecVersion) -> Result<(Config, Report), Report> {
    translate_with_paths(root, version, &HashMap::new())
}

/// Like [`translate`], with the mount paths of named 2.x filesystems (name →
/// absolute path): those filesystems get that `path` in 3.x, and the nodes on
/// them get absolute paths beneath it.
pub fn translate_with_paths(
    root: &Node,
    version: SpecVersion,
    mount_paths: &HashMap<String, String>,
) -> Result<(Config, Report), Report> {
    let (old, mut report): (types::Config, Report) = decode::decode(root, &Spec2Fields(version));
    if report.has_errors() {
        return Err(report);
    }
    let config = translate::config(&old, version, mount_paths, &mut report);
    if report.has_errors() {
        Err(report)
    } else {
        Ok((config, report))
    }
}
