//! `initramfs list FILE` and `initramfs append FILE --add DEST=SRC... [--output OUT]`: clap
//! argument structs ([`ListArgs`], [`AppendArgs`]) and the functions the subcommands call.
//!
//! The effects (reading and appending to image files) live here; the format is in [`crate::cpio`].

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cpio::{self, Entry};

/// `initramfs list FILE`: every member of every segment.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// The initramfs (segments: uncompressed, gzip, zstd or xz cpio, zero padding between)
    pub file: PathBuf,
    /// Print a line per segment (offset, length, compression, entry count) before its entries
    #[arg(long)]
    pub segments: bool,
}

/// `initramfs append FILE --add DEST=SRC...`: a gzip cpio segment at the end.
#[derive(Debug, Clone, clap::Args)]
pub struct AppendArgs {
    /// The initramfs to append to (changed in place unless --output is given)
    pub file: PathBuf,
    /// Put the host file SRC at DEST in the initramfs (parents are added as 0755 directories);
    /// DEST=SRC:MODE sets the mode (octal), else SRC's mode is kept
    #[arg(long = "add", value_name = "DEST=SRC[:MODE]", required = true, value_parser = parse_addition)]
    pub adds: Vec<Addition>,
    /// Write the result here (FILE is copied first and left as it is)
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// `initramfs list`: one line per member, like `lsinitrd` (mode, size, path).
pub fn list(args: &ListArgs) -> Result<()> {
    match write_list(args) {
        // `initramfs list F | head` is fine.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn write_list(args: &ListArgs) -> Result<()> {
    let out = std::io::stdout();
    let mut out = out.lock();
    for seg in read_file_segments(&args.file)? {
        if args.segments {
            writeln!(
                out,
                "# segment at {} ({} bytes, {}, {} entries)",
                seg.offset,
                seg.len,
                seg.compression.name(),
                seg.entries.len()
            )?;
        }
        for e in &seg.entries {
            writeln!(out, "{}", cpio::list_line(e))?;
        }
    }
    Ok(())
}

/// Reads and parses every segment of the initramfs at `path`.
pub fn read_file_segments(path: &Path) -> Result<Vec<cpio::Segment>> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    cpio::read_segments(&data).with_context(|| format!("reading initramfs {}", path.display()))
}

/// One `--add DEST=SRC[:MODE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addition {
    pub dest: String,
    pub src: PathBuf,
    pub mode: Option<u32>,
}

/// Parses `DEST=SRC[:MODE]`. Pure.
pub fn parse_addition(v: &str) -> Result<Addition, String> {
    let bad = || format!("expected DEST=SRC[:MODE], got '{v}'");
    let (dest, src) = v.split_once('=').ok_or_else(bad)?;
    let dest = dest.trim_start_matches('/');
    let (src, mode) = match src.rsplit_once(':') {
        Some((path, m)) if !m.is_empty() && m.chars().all(|c| c.is_digit(8)) => {
            let mode = u32::from_str_radix(m, 8).map_err(|_| bad())?;
            if mode > 0o7777 {
                return Err(format!("mode {m} in '{v}' is out of range"));
            }
            (path, Some(mode))
        }
        _ => (src, None),
    };
    if dest.is_empty() || src.is_empty() {
        return Err(bad());
    }
    Ok(Addition {
        dest: dest.to_string(),
        src: PathBuf::from(src),
        mode,
    })
}

/// `initramfs append`.
pub fn append(args: &AppendArgs) -> Result<()> {
    let mut entries = Vec::new();
    for add in &args.adds {
        let meta =
            fs::metadata(&add.src).with_context(|| format!("reading {}", add.src.display()))?;
        if !meta.is_file() {
            bail!("{}: not a regular file", add.src.display());
        }
        let data = fs::read(&add.src).with_context(|| format!("reading {}", add.src.display()))?;
        let mode = add.mode.unwrap_or(meta.permissions().mode() & 0o7777);
        entries.push(Entry::file(&add.dest, mode, data));
    }
    let entries = with_parents(entries);
    let target = append_entries(&args.file, &entries, args.output.as_deref())?;
    eprintln!(
        "initramfs append: {} entr{} appended to {}",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" },
        target.display()
    );
    Ok(())
}

/// `entries` preceded by the parent directories they need (each once).
pub fn with_parents(entries: Vec<Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for e in entries {
        for d in cpio::parent_dirs(&e.path) {
            if !out.iter().any(|o| o.path == d.path) {
                out.push(d);
            }
        }
        out.push(e);
    }
    out
}

/// Appends a gzip cpio segment holding `entries` to the initramfs `file` (in place), or to a copy
/// at `output`. The file is first zero-padded to a multiple of 4 bytes, which the kernel skips.
/// Returns the path written.
pub fn append_entries(file: &Path, entries: &[Entry], output: Option<&Path>) -> Result<PathBuf> {
    // Refuse what is not an initramfs before touching anything.
    read_file_segments(file)?;
    let target = match output {
        Some(out) if out != file => {
            fs::copy(file, out)
                .with_context(|| format!("copying {} to {}", file.display(), out.display()))?;
            out.to_path_buf()
        }
        _ => file.to_path_buf(),
    };
    append_to(&target, entries)?;
    Ok(target)
}

/// Appends a gzip cpio segment holding `entries` to `path` without reading it first (the caller
/// knows it is an initramfs): zero padding to 4 bytes, the segment, fsync.
pub fn append_to(path: &Path, entries: &[Entry]) -> Result<()> {
    let segment = cpio::gzip_archive(entries).context("building the cpio segment")?;
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let len = f.metadata()?.len();
    let pad = (4 - len % 4) % 4;
    f.write_all(&vec![0u8; pad as usize])
        .and_then(|_| f.write_all(&segment))
        .and_then(|_| f.sync_all())
        .with_context(|| format!("appending to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_additions() {
        let a = parse_addition("/usr/lib/ignition/user.ign=cfg.ign:600").unwrap();
        assert_eq!(a.dest, "usr/lib/ignition/user.ign");
        assert_eq!(a.src, PathBuf::from("cfg.ign"));
        assert_eq!(a.mode, Some(0o600));
        let b = parse_addition("etc/x=/tmp/a:b").unwrap();
        assert_eq!(b.src, PathBuf::from("/tmp/a:b"));
        assert_eq!(b.mode, None);
        for bad in ["nodest", "=src", "dest=", "a=b:77777"] {
            assert!(parse_addition(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parents_once() {
        let e = with_parents(vec![
            Entry::file("a/b/c", 0o644, vec![]),
            Entry::file("a/b/d", 0o644, vec![]),
        ]);
        let names: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["a", "a/b", "a/b/c", "a/b/d"]);
    }

    #[test]
    fn append_in_place_and_to_copy() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.img");
        let mut img =
            cpio::archive(&[Entry::file("init", 0o755, b"#!/bin/sh\n".to_vec())]).unwrap();
        img.push(0); // odd length: the append pads to 4
        std::fs::write(&base, &img).unwrap();
        let copy = dir.path().join("copy.img");
        let entries = with_parents(vec![Entry::file(
            "usr/lib/ignition/user.ign",
            0o600,
            b"{}".to_vec(),
        )]);
        append_entries(&base, &entries, Some(&copy)).unwrap();
        assert_eq!(std::fs::read(&base).unwrap(), img, "input left alone");
        let segs = read_file_segments(&copy).unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[1].offset % 4, 0);
        let all: Vec<Entry> = segs.into_iter().flat_map(|s| s.entries).collect();
        let user = cpio::find_last(&all, "usr/lib/ignition/user.ign").unwrap();
        assert_eq!(user.mode, cpio::S_IFREG | 0o600);
        append_entries(&base, &entries, None).unwrap();
        assert_eq!(read_file_segments(&base).unwrap().len(), 2);
    }

    #[test]
    fn refuses_what_is_not_an_initramfs() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"hello world").unwrap();
        let err = append_entries(&f, &[], None).unwrap_err();
        assert!(
            format!("{err:#}").contains(&f.display().to_string()),
            "{err:#}"
        );
        assert_eq!(std::fs::read(&f).unwrap(), b"hello world");
    }
}
