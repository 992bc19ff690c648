//! The Debian root filesystem, made by mmdebstrap from the manifest's package list.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cache::Key;
use crate::manifest::Rootfs;
use crate::run;

/// dracut settings put into the root before any package is installed, so that the kernel's
/// postinst already builds a small, generic initramfs (a minute less than the default).
pub fn dracut_conf() -> String {
    initramfs::dracut::conf(initramfs::dracut::MODULES)
}

/// The rootfs step's inputs.
pub fn key(r: &Rootfs) -> Key {
    let mut k = Key::new();
    k.add_str("suite", &r.suite).add_str("mirror", &r.mirror);
    for p in &r.packages {
        k.add_str("package", p);
    }
    k.add_str("dracut.conf", &dracut_conf());
    k
}

/// The mmdebstrap command line (pure).
pub fn mmdebstrap_args(r: &Rootfs, conf_on_host: &str, target: &str) -> Vec<String> {
    vec![
        "--variant=essential".into(),
        format!("--include={}", r.packages.join(",")),
        "--setup-hook=mkdir -p \"$1/etc/dracut.conf.d\"".into(),
        format!("--setup-hook=cp '{conf_on_host}' \"$1/etc/dracut.conf.d/10-mooring.conf\""),
        r.suite.clone(),
        target.into(),
        r.mirror.clone(),
    ]
}

/// Builds the root into `work/rootfs`.
pub fn build(r: &Rootfs, work: &Path) -> Result<()> {
    let conf = work.join("10-mooring.conf");
    fs::write(&conf, dracut_conf()).with_context(|| format!("writing {}", conf.display()))?;
    let target = work.join("rootfs");
    let args = mmdebstrap_args(r, &conf.to_string_lossy(), &target.to_string_lossy());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run::quiet("mmdebstrap", &args)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_configure_dracut_before_packages() {
        let m = crate::manifest::Manifest::parse(crate::manifest::EMBEDDED, "m").unwrap();
        let a = mmdebstrap_args(&m.rootfs, "/c/10.conf", "/w/rootfs");
        assert_eq!(a[0], "--variant=essential");
        assert!(a[1].starts_with("--include=linux-image-cloud-amd64,"));
        assert!(a[3].contains("/c/10.conf") && a[3].contains("dracut.conf.d"));
        assert_eq!(
            &a[4..],
            ["bookworm", "/w/rootfs", "http://deb.debian.org/debian"]
        );
    }

    #[test]
    fn key_follows_packages() {
        let m = crate::manifest::Manifest::parse(crate::manifest::EMBEDDED, "m").unwrap();
        let mut r = m.rootfs.clone();
        let k1 = key(&r).hex();
        r.packages.push("vim".into());
        assert_ne!(k1, key(&r).hex());
        assert_eq!(key(&m.rootfs).hex(), k1);
    }
}
