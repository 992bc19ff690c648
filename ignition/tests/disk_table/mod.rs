//! Reading a partition table back from an image file, shared by the disk tests.

use std::path::Path;
use std::process::Command;

/// True when `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// (number, start, size, type, name) of every partition, as `sfdisk -J`
/// reads them (gptman when sfdisk is missing).
pub fn table(img: &Path) -> Vec<(u32, u64, u64, String, String)> {
    if have("sfdisk") {
        let out = Command::new("sfdisk").arg("-J").arg(img).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let img_s = img.display().to_string();
        v["partitiontable"]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let node = p["node"].as_str().unwrap();
                let number = node[img_s.len()..].parse().unwrap();
                (
                    number,
                    p["start"].as_u64().unwrap(),
                    p["size"].as_u64().unwrap(),
                    p["type"].as_str().unwrap().to_string(),
                    p["name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    } else {
        let mut f = std::fs::File::open(img).unwrap();
        let (layout, _) = ignition::exec::disks::gpt::read_layout(&mut f, 512).unwrap();
        layout
            .parts
            .into_iter()
            .map(|p| (p.number, p.start, p.size, p.type_guid, p.label))
            .collect()
    }
}
