//! The status model with rpm-ostree's JSON field names, and its text rendering. Pure.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// `rpm-ostree status --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Status {
    pub deployments: Vec<DeploymentStatus>,
    /// Always null: there is no daemon, so never a transaction in flight.
    pub transaction: Option<Value>,
    pub cached_update: Option<Value>,
}

/// One deployment, in boot order.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct DeploymentStatus {
    /// `<osname>-<checksum>.<serial>`, as rpm-ostree names it.
    pub id: String,
    pub osname: String,
    pub serial: i32,
    pub checksum: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub timestamp: u64,
    /// The origin refspec (`remote:ref` or a local ref).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_image_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_origin: Option<Vec<String>>,
    pub booted: bool,
    pub staged: bool,
    pub pinned: bool,
    pub unlocked: String,
    pub gpg_enabled: bool,
    pub regenerate_initramfs: bool,
    pub requested_packages: Vec<String>,
    pub requested_local_packages: Vec<String>,
    pub requested_base_removals: Vec<String>,
    pub requested_base_local_replacements: Vec<String>,
    pub packages: Vec<String>,
    pub base_removals: Vec<String>,
    pub base_local_replacements: Vec<String>,
    pub base_commit_meta: Map<String, Value>,
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn format_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl Status {
    /// Keeps only the booted deployment (`--booted`).
    pub fn only_booted(mut self) -> Self {
        self.deployments.retain(|d| d.booted);
        self
    }

    /// The text form: the booted deployment is marked with `●`, like rpm-ostree.
    pub fn render_text(&self) -> String {
        let many_os = self
            .deployments
            .iter()
            .any(|d| d.osname != self.deployments[0].osname);
        let mut out = String::from("State: idle\nDeployments:\n");
        for (i, d) in self.deployments.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let mark = if d.booted { "●" } else { " " };
            let title = match (&d.container_image_reference, &d.origin) {
                (Some(c), _) => c.clone(),
                (None, Some(o)) => format!("ostree://{o}"),
                (None, None) => format!("{} (no origin)", d.checksum),
            };
            let _ = writeln!(out, "{mark} {title}");
            let mut rows: Vec<(&str, String)> = Vec::new();
            let time = format_timestamp(d.timestamp);
            match &d.version {
                Some(v) => rows.push(("Version", format!("{v} ({time})"))),
                None => rows.push(("Timestamp", time)),
            }
            rows.push(("Commit", d.checksum.clone()));
            if many_os {
                rows.push(("OSName", d.osname.clone()));
            }
            if d.staged {
                rows.push(("Staged", "yes".into()));
            }
            if d.pinned {
                rows.push(("Pinned", "yes".into()));
            }
            if d.unlocked != "none" {
                rows.push(("Unlocked", d.unlocked.clone()));
            }
            for (k, v) in rows {
                let _ = writeln!(out, "{k:>25}: {v}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(booted: bool, csum: &str) -> DeploymentStatus {
        DeploymentStatus {
            id: format!("debian-{csum}.0"),
            osname: "debian".into(),
            serial: 0,
            checksum: csum.into(),
            version: Some("1.0".into()),
            timestamp: 1_700_000_000,
            origin: Some("origin:debian/stable".into()),
            container_image_reference: None,
            custom_origin: None,
            booted,
            staged: false,
            pinned: !booted,
            unlocked: "none".into(),
            gpg_enabled: false,
            regenerate_initramfs: false,
            requested_packages: vec![],
            requested_local_packages: vec![],
            requested_base_removals: vec![],
            requested_base_local_replacements: vec![],
            packages: vec![],
            base_removals: vec![],
            base_local_replacements: vec![],
            base_commit_meta: Map::new(),
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_timestamp(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn json_keeps_rpm_ostree_names() {
        let st = Status {
            deployments: vec![sample(true, "aa")],
            transaction: None,
            cached_update: None,
        };
        let v = serde_json::to_value(&st).unwrap();
        assert!(v["transaction"].is_null());
        assert!(v.as_object().unwrap().contains_key("cached-update"));
        let d = &v["deployments"][0];
        for key in [
            "id",
            "osname",
            "serial",
            "checksum",
            "version",
            "timestamp",
            "origin",
            "booted",
            "staged",
            "pinned",
            "unlocked",
            "requested-packages",
            "base-commit-meta",
            "gpg-enabled",
        ] {
            assert!(d.get(key).is_some(), "missing {key}");
        }
        assert!(d.get("container-image-reference").is_none());
        assert_eq!(d["id"], "debian-aa.0");
    }

    #[test]
    fn text_marks_booted() {
        let st = Status {
            deployments: vec![sample(true, "aa"), sample(false, "bb")],
            transaction: None,
            cached_update: None,
        };
        let text = st.render_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "State: idle");
        assert_eq!(lines[1], "Deployments:");
        assert_eq!(lines[2], "● ostree://origin:debian/stable");
        assert!(lines[3].ends_with("Version: 1.0 (2023-11-14T22:13:20Z)"));
        assert!(lines[4].trim_start().starts_with("Commit: aa"));
        assert_eq!(lines[5], "");
        assert_eq!(lines[6], "  ostree://origin:debian/stable");
        assert!(text.contains("Pinned: yes"));
        assert_eq!(st.clone().only_booted().deployments.len(), 1);
    }
}
