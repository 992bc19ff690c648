//! Specs 2.2.0 and 2.3.0, translated to the 3.x model.

use crate::json::Node;
use crate::model::Config;
use crate::report::Report;
use crate::version::SpecVersion;

/// Decodes a 2.x config and translates it; errors (decoding or fields that
/// cannot be translated) come back as a report.
pub fn translate(root: &Node, version: SpecVersion) -> Result<(Config, Report), Report> {
    let _ = (root, version);
    let mut r = Report::default();
    r.error(
        crate::jpath!["ignition", "version"],
        "spec 2.x translation is not implemented yet",
    );
    Err(r)
}
