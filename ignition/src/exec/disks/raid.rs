//! Software RAID through `mdadm --create`, with Go's flags.

use std::path::PathBuf;

use crate::model::Raid;

/// The array's device path: `/dev/md/NAME`, or the name when it is a path.
pub fn device_path(r: &Raid) -> PathBuf {
    if r.name.starts_with("/dev") {
        PathBuf::from(&r.name)
    } else {
        PathBuf::from("/dev/md").join(&r.name)
    }
}

/// `mdadm` arguments for creating `r` from the resolved member devices.
pub fn create_args(r: &Raid, members: &[String]) -> Result<Vec<String>, String> {
    let level = r
        .level
        .as_deref()
        .ok_or_else(|| format!("raid {}: no level", r.name))?;
    let spares = r.spares.unwrap_or(0);
    let active = members.len() as i64 - spares;
    if spares < 0 || active < 1 {
        return Err(format!(
            "raid {}: {} devices with {spares} spares leaves no active device",
            r.name,
            members.len()
        ));
    }
    let mut args: Vec<String> = vec![
        "--create".into(),
        r.name.clone(),
        "--force".into(),
        "--run".into(),
        "--homehost".into(),
        "any".into(),
        "--level".into(),
        level.into(),
        "--raid-devices".into(),
        active.to_string(),
    ];
    if spares > 0 {
        args.extend(["--spare-devices".into(), spares.to_string()]);
    }
    args.extend(r.options.iter().cloned());
    args.extend(members.iter().cloned());
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdadm_flags_as_go() {
        let mut r = Raid {
            name: "data".into(),
            level: Some("raid1".into()),
            devices: vec!["/dev/vdb".into(), "/dev/vdc".into(), "/dev/vdd".into()],
            spares: Some(1),
            options: vec!["--metadata=1.2".into()],
        };
        let members: Vec<String> = r.devices.clone();
        assert_eq!(
            create_args(&r, &members).unwrap().join(" "),
            "--create data --force --run --homehost any --level raid1 --raid-devices 2 \
             --spare-devices 1 --metadata=1.2 /dev/vdb /dev/vdc /dev/vdd"
        );
        assert_eq!(device_path(&r), PathBuf::from("/dev/md/data"));
        r.spares = Some(3);
        assert!(create_args(&r, &members).is_err());
        r.name = "/dev/md127".into();
        assert_eq!(device_path(&r), PathBuf::from("/dev/md127"));
    }
}
