//! `images embed-ignition`: an Ignition config carried by a live ISO or a PXE initramfs, as
//! coreos-installer does it (the behaviour, not its code).
//!
//! The config always lands at `/usr/lib/ignition/user.ign` (mode 0600) in the initramfs the kernel
//! unpacks; our `ignition` reads that system config before the platform's.
//!
//! - PXE: a gzip newc cpio segment holding only that file (and its parent directories) is
//!   appended to the initramfs. Embedding again replaces that segment; `--remove` cuts it off.
//! - ISO: the ISO built by [`crate::iso`] carries `/images/ignition.img`, a reserved area of
//!   [`ISO_RESERVED`] bytes (an empty gzip cpio and zeros) that isolinux loads as a second initrd.
//!   Embedding writes the config's cpio over that area in place, so every other byte of the ISO
//!   stays as it was; a config too large for the area makes xorriso rewrite the image with the
//!   new file (`-boot_image any replay` keeps the boot records).

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use initramfs::cpio::{self, Entry, Segment};
use initramfs::cpio_cli::{read_file_segments, with_parents};

/// Where the config goes inside the initramfs.
pub const USER_IGN: &str = "usr/lib/ignition/user.ign";
/// The reserved file in the live ISO.
pub const ISO_IGNITION_IMG: &str = "/images/ignition.img";
/// Size of the reserved area (a multiple of the 2048-byte ISO block).
pub const ISO_RESERVED: usize = 256 * 1024;

/// Reads `path` and validates it with our engine. Invalid configs are refused with the
/// findings (JSON path, line, column); warnings are printed on stderr.
pub fn validate_config(path: &Path) -> Result<Vec<u8>> {
    let raw =
        fs::read(path).with_context(|| format!("reading Ignition config {}", path.display()))?;
    validate_bytes(&raw).with_context(|| format!("Ignition config {}", path.display()))?;
    Ok(raw)
}

/// Validates a config held in memory; see [`validate_config`].
pub fn validate_bytes(raw: &[u8]) -> Result<()> {
    match ignition::parse(raw) {
        Ok(parsed) if !parsed.report.has_errors() => {
            if !parsed.report.findings.is_empty() {
                eprint!("{}", parsed.report);
            }
            Ok(())
        }
        Ok(parsed) => bail!("invalid config:\n{}", parsed.report.to_string().trim_end()),
        Err(ignition::ParseError::Invalid(report)) => {
            bail!("invalid config:\n{}", report.to_string().trim_end())
        }
        Err(e) => bail!("invalid config: {e}"),
    }
}

/// The entries of a config segment: the parent directories and `user.ign` (0600).
pub fn config_entries(config: &[u8]) -> Vec<Entry> {
    with_parents(vec![Entry::file(USER_IGN, 0o600, config.to_vec())])
}

/// A segment that holds nothing but an embedded config (what [`embed_pxe`] appends).
fn is_config_segment(seg: &Segment) -> bool {
    seg.compression != cpio::Compression::None
        && seg.entries.iter().any(|e| e.path == USER_IGN)
        && seg.entries.iter().all(|e| {
            e.path == USER_IGN || (e.is_dir() && USER_IGN.starts_with(&format!("{}/", e.path)))
        })
}

fn copy_to(input: &Path, output: Option<&Path>) -> Result<PathBuf> {
    match output {
        Some(out) if out != input => {
            fs::copy(input, out)
                .with_context(|| format!("copying {} to {}", input.display(), out.display()))?;
            Ok(out.to_path_buf())
        }
        _ => Ok(input.to_path_buf()),
    }
}

/// Where the trailing config segments begin, if there are any. Pure.
fn config_segments_start(path: &Path, segments: &[Segment]) -> Result<Option<u64>> {
    let keep = segments
        .iter()
        .rposition(|s| !is_config_segment(s))
        .map(|i| i + 1)
        .unwrap_or(0);
    let Some(first) = segments.get(keep) else {
        return Ok(None);
    };
    if keep == 0 {
        bail!(
            "{}: holds nothing but an embedded config; not an initramfs",
            path.display()
        );
    }
    Ok(Some(first.offset))
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.set_len(len)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("truncating {}", path.display()))
}

/// Embeds `config` in the PXE initramfs `initramfs` (in place, or in a copy at `output`),
/// replacing a config embedded before. Returns the path written.
pub fn embed_pxe(initramfs: &Path, config: &[u8], output: Option<&Path>) -> Result<PathBuf> {
    let segments = read_file_segments(initramfs)?;
    let start = config_segments_start(initramfs, &segments)?;
    let target = copy_to(initramfs, output)?;
    if let Some(at) = start {
        truncate(&target, at)?;
    }
    initramfs::cpio_cli::append_to(&target, &config_entries(config))?;
    Ok(target)
}

/// Takes an embedded config out of a PXE initramfs. Errors when there is none.
pub fn remove_pxe(initramfs: &Path, output: Option<&Path>) -> Result<PathBuf> {
    let segments = read_file_segments(initramfs)?;
    let Some(at) = config_segments_start(initramfs, &segments)? else {
        bail!("{}: no embedded Ignition config", initramfs.display());
    };
    let target = copy_to(initramfs, output)?;
    truncate(&target, at)?;
    Ok(target)
}

/// The config the kernel would find at `/usr/lib/ignition/user.ign` in `initramfs`.
pub fn show_pxe(initramfs: &Path) -> Result<Option<Vec<u8>>> {
    let entries: Vec<Entry> = read_file_segments(initramfs)?
        .into_iter()
        .flat_map(|s| s.entries)
        .collect();
    Ok(cpio::find_last(&entries, USER_IGN).map(|e| e.data.clone()))
}

/// The content of an empty reserved area: an empty gzip cpio followed by zeros.
pub fn empty_reserved_area() -> Result<Vec<u8>> {
    let mut area = cpio::gzip_archive(&[])?;
    area.resize(ISO_RESERVED, 0);
    Ok(area)
}

/// Where a file's data lies in an ISO image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
}

/// Parses xorriso's `report_lba` line for `path`. Pure.
pub fn parse_report_lba(out: &str, path: &str) -> Option<Extent> {
    out.lines().find_map(|line| {
        let rest = line.strip_prefix("File data lba:")?;
        let fields: Vec<&str> = rest.split(',').map(str::trim).collect();
        if fields.len() < 5 || fields[4].trim_matches('\'') != path {
            return None;
        }
        let start: u64 = fields[1].parse().ok()?;
        let size: u64 = fields[3].parse().ok()?;
        Some(Extent {
            offset: start * 2048,
            len: size,
        })
    })
}

/// Finds `/images/ignition.img` in `iso`.
pub fn locate_iso_area(iso: &Path) -> Result<Extent> {
    let iso_s = iso.to_str().context("ISO path is not UTF-8")?;
    let missing = || {
        format!(
            "{}: no {ISO_IGNITION_IMG} (not a live ISO built by `images build`?)",
            iso.display()
        )
    };
    // xorriso fails (exit 5) when the path is not in the image.
    let out = crate::run::run(
        "xorriso",
        &[
            "-indev",
            iso_s,
            "-find",
            ISO_IGNITION_IMG,
            "-exec",
            "report_lba",
            "--",
        ],
    )
    .with_context(missing)?;
    let text = String::from_utf8_lossy(&out);
    parse_report_lba(&text, ISO_IGNITION_IMG).with_context(missing)
}

fn read_area(iso: &Path, ext: Extent) -> Result<Vec<u8>> {
    let mut f = fs::File::open(iso).with_context(|| format!("opening {}", iso.display()))?;
    let mut buf = vec![0u8; ext.len as usize];
    f.seek(SeekFrom::Start(ext.offset))
        .and_then(|_| f.read_exact(&mut buf))
        .with_context(|| format!("reading {ISO_IGNITION_IMG} from {}", iso.display()))?;
    Ok(buf)
}

fn write_area(iso: &Path, ext: Extent, bytes: &[u8]) -> Result<()> {
    let mut area = bytes.to_vec();
    area.resize(ext.len as usize, 0);
    let mut f = OpenOptions::new()
        .write(true)
        .open(iso)
        .with_context(|| format!("opening {}", iso.display()))?;
    f.seek(SeekFrom::Start(ext.offset))
        .and_then(|_| f.write_all(&area))
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {ISO_IGNITION_IMG} in {}", iso.display()))
}

/// Replaces `/images/ignition.img` through xorriso, for contents larger than the area.
fn rewrite_iso_file(iso: &Path, contents: &[u8]) -> Result<()> {
    let dir = iso
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".embed-")
        .tempdir_in(dir)
        .with_context(|| format!("creating a temporary directory in {}", dir.display()))?;
    let img = tmp.path().join("ignition.img");
    let new_iso = tmp.path().join("new.iso");
    fs::write(&img, contents).with_context(|| format!("writing {}", img.display()))?;
    let s = |p: &Path| p.to_str().map(str::to_string).context("path is not UTF-8");
    crate::run::run(
        "xorriso",
        &[
            "-indev",
            &s(iso)?,
            "-outdev",
            &s(&new_iso)?,
            "-boot_image",
            "any",
            "replay",
            "-map",
            &s(&img)?,
            ISO_IGNITION_IMG,
            "-commit",
        ],
    )?;
    fs::rename(&new_iso, iso)
        .with_context(|| format!("replacing {} with {}", iso.display(), new_iso.display()))
}

/// Embeds `config` in the live ISO (in place, or in a copy at `output`).
pub fn embed_iso(iso: &Path, config: &[u8], output: Option<&Path>) -> Result<PathBuf> {
    let ext = locate_iso_area(iso)?;
    let target = copy_to(iso, output)?;
    let segment = cpio::gzip_archive(&config_entries(config))?;
    if segment.len() as u64 <= ext.len {
        write_area(&target, ext, &segment)?;
    } else {
        eprintln!(
            "embed-ignition: the config ({} bytes compressed) is larger than the {} byte area; \
             rewriting the ISO with xorriso",
            segment.len(),
            ext.len
        );
        rewrite_iso_file(&target, &segment)?;
    }
    Ok(target)
}

/// Empties the reserved area of the ISO. Errors when no config is embedded.
pub fn remove_iso(iso: &Path, output: Option<&Path>) -> Result<PathBuf> {
    if show_iso(iso)?.is_none() {
        bail!("{}: no embedded Ignition config", iso.display());
    }
    let ext = locate_iso_area(iso)?;
    let target = copy_to(iso, output)?;
    write_area(&target, ext, &cpio::gzip_archive(&[])?)?;
    Ok(target)
}

/// The config embedded in the ISO's reserved area, if any.
pub fn show_iso(iso: &Path) -> Result<Option<Vec<u8>>> {
    let ext = locate_iso_area(iso)?;
    let area = read_area(iso, ext)?;
    let entries = cpio::read_entries(&area)
        .with_context(|| format!("reading {ISO_IGNITION_IMG} of {}", iso.display()))?;
    Ok(cpio::find_last(&entries, USER_IGN).map(|e| e.data.clone()))
}

/// `images embed-ignition` arguments.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["iso", "pxe_initramfs"])))]
#[command(group(clap::ArgGroup::new("action").required(true).args(["config", "remove", "show"])))]
pub struct EmbedArgs {
    /// The Ignition config to embed (validated first; an invalid one is refused)
    #[arg(long, value_name = "CFG.ign")]
    pub config: Option<PathBuf>,
    /// A live ISO built by `images build` (DIR/live.iso)
    #[arg(long, value_name = "ISO")]
    pub iso: Option<PathBuf>,
    /// A PXE initramfs (DIR/pxe/initramfs.img)
    #[arg(long, value_name = "FILE")]
    pub pxe_initramfs: Option<PathBuf>,
    /// Write the result here instead of changing the input
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Take an embedded config out again
    #[arg(long)]
    pub remove: bool,
    /// Print the embedded config on stdout (exit status 1 when there is none)
    #[arg(long)]
    pub show: bool,
}

/// `images embed-ignition`.
pub fn run(args: &EmbedArgs) -> Result<()> {
    let out = args.output.as_deref();
    match (&args.iso, &args.pxe_initramfs) {
        (Some(iso), None) => {
            if args.show {
                print_config(show_iso(iso)?, iso)
            } else if args.remove {
                report("removed the config from", &remove_iso(iso, out)?)
            } else {
                let cfg = validate_config(args.config.as_deref().context("--config is needed")?)?;
                report("embedded the config in", &embed_iso(iso, &cfg, out)?)
            }
        }
        (None, Some(img)) => {
            if args.show {
                print_config(show_pxe(img)?, img)
            } else if args.remove {
                report("removed the config from", &remove_pxe(img, out)?)
            } else {
                let cfg = validate_config(args.config.as_deref().context("--config is needed")?)?;
                report("embedded the config in", &embed_pxe(img, &cfg, out)?)
            }
        }
        _ => bail!("give exactly one of --iso and --pxe-initramfs"),
    }
}

fn report(what: &str, path: &Path) -> Result<()> {
    eprintln!("embed-ignition: {what} {}", path.display());
    Ok(())
}

fn print_config(cfg: Option<Vec<u8>>, path: &Path) -> Result<()> {
    let cfg = cfg.with_context(|| format!("{}: no embedded Ignition config", path.display()))?;
    std::io::stdout().write_all(&cfg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lba_line() {
        let out = "Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path\n\
                   File data lba:  0 ,       34 ,      128 ,   262144 , '/images/ignition.img'\n";
        assert_eq!(
            parse_report_lba(out, ISO_IGNITION_IMG),
            Some(Extent {
                offset: 34 * 2048,
                len: 262144
            })
        );
        assert_eq!(parse_report_lba(out, "/images/other"), None);
        assert_eq!(parse_report_lba("", ISO_IGNITION_IMG), None);
    }

    #[test]
    fn reserved_area_is_an_empty_cpio() {
        let area = empty_reserved_area().unwrap();
        assert_eq!(area.len(), ISO_RESERVED);
        let segs = cpio::read_segments(&area).unwrap();
        assert_eq!(segs.len(), 1);
        assert!(segs[0].entries.is_empty());
    }

    #[test]
    fn config_segment_is_recognised() {
        let seg = |entries| Segment {
            offset: 0,
            len: 0,
            compression: cpio::Compression::Gzip,
            entries,
        };
        assert!(is_config_segment(&seg(config_entries(b"{}"))));
        let mut other = config_entries(b"{}");
        other.push(Entry::file("etc/x", 0o644, vec![]));
        assert!(!is_config_segment(&seg(other)));
        assert!(!is_config_segment(&seg(vec![Entry::dir("usr", 0o755)])));
    }

    #[test]
    fn validation_names_the_json_path() {
        let err = validate_bytes(
            br#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"rel"}]}}"#,
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("$.storage.files.0.path"), "{msg}");
        assert!(validate_bytes(br#"{"ignition":{"version":"3.4.0"}}"#).is_ok());
        assert!(validate_bytes(b"not json").is_err());
    }
}
