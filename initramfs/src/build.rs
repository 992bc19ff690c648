//! `initramfs build`: put our dracut module and `ignition` into a root and run dracut there.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{cmd, dracut, module, mounts::ChrootMounts};

/// Where our ignition goes in the root (dracut's `inst_binary` takes it from there).
pub const IGNITION_IN_ROOT: &str = "usr/bin/ignition";

#[derive(Debug, Clone)]
pub struct Options {
    /// The root with a kernel, dracut and ostree-boot installed.
    pub root: PathBuf,
    /// Kernel version; the only one under ROOT/usr/lib/modules when not given.
    pub kver: Option<String>,
    /// Our `ignition` binary; `/usr/bin/ignition` of the root when not given.
    pub ignition: Option<PathBuf>,
    /// The initramfs to write (a host path).
    pub output: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub kver: String,
    pub output: PathBuf,
    pub bytes: u64,
    pub modules: Vec<String>,
}

/// The kernel versions installed in a root (`usr/lib/modules/*` with a `modules.dep` or kernel).
pub fn kernel_versions(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("usr/lib/modules");
    let mut v = Vec::new();
    for e in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        if e.path().join("modules.dep").exists() || e.path().join("kernel").is_dir() {
            v.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    v.sort();
    Ok(v)
}

pub fn build(opts: &Options) -> Result<Report> {
    let root = &opts.root;
    if !root.join("usr/bin/dracut").exists() && !root.join("bin/dracut").exists() {
        bail!(
            "{}: no dracut in this root (install the dracut package into it)",
            root.display()
        );
    }
    let kver = match &opts.kver {
        Some(k) => k.clone(),
        None => {
            let all = kernel_versions(root)?;
            match all.as_slice() {
                [one] => one.clone(),
                [] => bail!("{}: no kernel under usr/lib/modules", root.display()),
                many => bail!(
                    "{}: several kernels ({}); pick one with --kver",
                    root.display(),
                    many.join(", ")
                ),
            }
        }
    };
    if !root.join("usr/lib/modules").join(&kver).is_dir() {
        bail!("{}: no usr/lib/modules/{kver}", root.display());
    }
    module::install(root)?;
    let extra = module::install_extra(root)?;
    let in_root = root.join(IGNITION_IN_ROOT);
    let placed = match &opts.ignition {
        Some(src) => {
            fs::copy(src, &in_root)
                .with_context(|| format!("copying {} to {}", src.display(), in_root.display()))?;
            true
        }
        None => {
            if !in_root.exists() {
                bail!(
                    "{}: no /{IGNITION_IN_ROOT}; give our ignition binary with --ignition",
                    root.display()
                );
            }
            false
        }
    };
    let mut modules = dracut::modules_for(|p| root.join(p).exists());
    modules.extend(extra.iter().map(String::as_str));
    let conf = root.join("etc/dracut.conf.d/10-mooring.conf");
    fs::create_dir_all(conf.parent().unwrap_or(root))
        .and_then(|_| fs::write(&conf, dracut::conf(&modules)))
        .with_context(|| format!("writing {}", conf.display()))?;

    let tmp_name = format!("tmp/mooring-initramfs-{}.img", std::process::id());
    let args = dracut::args(&kver, &format!("/{tmp_name}"), &modules);
    let started = Instant::now();
    let result = {
        let _mounts = ChrootMounts::new(root)?;
        // The host's TMPDIR means nothing inside the root (dracut refuses a missing one).
        let mut full: Vec<&str> = vec![
            "-u",
            "TMPDIR",
            "chroot",
            root.to_str().context("root path is not UTF-8")?,
            "dracut",
        ];
        full.extend(args.iter().map(String::as_str));
        cmd::run("env", &full, None)
    };
    if placed {
        // Only the initramfs carries ignition; the root does not.
        let _ = fs::remove_file(&in_root);
    }
    result?;
    let built = root.join(&tmp_name);
    if let Some(parent) = opts.output.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::copy(&built, &opts.output)
        .with_context(|| format!("copying {} to {}", built.display(), opts.output.display()))?;
    fs::remove_file(&built).with_context(|| format!("removing {}", built.display()))?;
    let bytes = fs::metadata(&opts.output).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "[initramfs] {} ({} KiB, kernel {kver}) in {:.1}s",
        opts.output.display(),
        bytes / 1024,
        started.elapsed().as_secs_f64()
    );
    Ok(Report {
        kver,
        output: opts.output.clone(),
        bytes,
        modules: modules.iter().map(|s| s.to_string()).collect(),
    })
}
