//! newc cpio archives, written and read in Rust (no `cpio` command).
//!
//! The writer produces the `070701` ("newc") format the kernel unpacks: a 110-byte ASCII header,
//! the NUL-terminated name, padding to 4 bytes, the data, padding to 4 bytes, and a final
//! `TRAILER!!!` entry. Every entry gets mtime 0, uid/gid 0 and a fresh inode number, so the same
//! entries always give the same bytes.
//!
//! The reader takes what the kernel takes: an initramfs that is a concatenation of segments,
//! each an uncompressed cpio or a gzip/zstd/xz-compressed one (which may itself hold several
//! archives), with zero padding between segments (dracut and Debian's initramfs-tools write an
//! uncompressed early-microcode cpio in front of a compressed main one). See [`read_segments`].

use std::io::{self, Write};

#[path = "cpio_read.rs"]
mod read;
pub use read::{find_last, parse_archives, read_entries, read_segments};

use thiserror::Error;

/// File type bits of `st_mode`.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFLNK: u32 = 0o120000;

const MAGIC_NEWC: &[u8; 6] = b"070701";
const MAGIC_CRC: &[u8; 6] = b"070702";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// One archive member, as written or as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the archive, without a leading `/` (as the kernel and dracut write them).
    pub path: String,
    /// Full `st_mode`: type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    /// Number of links as recorded in the header.
    pub nlink: u32,
    /// Inode number as recorded in the header (hard links share one).
    pub ino: u32,
    /// File contents, or the target of a symlink; empty for directories.
    pub data: Vec<u8>,
}

impl Entry {
    /// A regular file with permission bits `perm` (e.g. `0o600`).
    pub fn file(path: &str, perm: u32, data: Vec<u8>) -> Entry {
        Entry::new(path, S_IFREG | (perm & 0o7777), data)
    }

    /// A directory with permission bits `perm`.
    pub fn dir(path: &str, perm: u32) -> Entry {
        Entry::new(path, S_IFDIR | (perm & 0o7777), Vec::new())
    }

    /// A symbolic link to `target`.
    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::new(path, S_IFLNK | 0o777, target.as_bytes().to_vec())
    }

    fn new(path: &str, mode: u32, data: Vec<u8>) -> Entry {
        let nlink = if mode & S_IFMT == S_IFDIR { 2 } else { 1 };
        Entry {
            path: path.trim_start_matches('/').to_string(),
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            nlink,
            ino: 0,
            data,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    /// The symlink target, when this is a symlink.
    pub fn link_target(&self) -> Option<String> {
        self.is_symlink()
            .then(|| String::from_utf8_lossy(&self.data).into_owned())
    }
}

/// Why an archive could not be read.
#[derive(Debug, Error)]
pub enum CpioError {
    #[error("offset {offset}: {message}")]
    Malformed { offset: u64, message: String },
    #[error(
        "offset {offset}: {kind} compressed segment is not supported (only gzip, zstd and xz are)"
    )]
    Unsupported { offset: u64, kind: &'static str },
    #[error("offset {offset}: cannot decompress the {kind} segment: {message}")]
    Decompress {
        offset: u64,
        kind: &'static str,
        message: String,
    },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// How a segment of an initramfs is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }
}

/// One segment of an initramfs: where it starts in the file, how long it is there (including
/// the zero padding that follows it), how it is stored, and its entries (`TRAILER!!!` excluded).
#[derive(Debug, Clone)]
pub struct Segment {
    pub offset: u64,
    pub len: u64,
    pub compression: Compression,
    pub entries: Vec<Entry>,
}

/// Writes newc entries to `W`; call [`Writer::finish`] to write the trailer.
pub struct Writer<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Writer {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    /// Appends one entry. Its inode number is assigned here; mtime/uid/gid are taken as given.
    pub fn add(&mut self, entry: &Entry) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.write_member(entry, ino)
    }

    fn write_member(&mut self, e: &Entry, ino: u32) -> io::Result<()> {
        let name = e.path.trim_start_matches('/');
        if name.is_empty() || name.as_bytes().contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid cpio member name {:?}", e.path),
            ));
        }
        let size = u32::try_from(e.data.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: larger than 4 GiB, which newc cannot hold"),
            )
        })?;
        let fields = [
            ino,
            e.mode,
            e.uid,
            e.gid,
            e.nlink,
            e.mtime,
            size,
            0, // dev major
            0, // dev minor
            0, // rdev major
            0, // rdev minor
            name.len() as u32 + 1,
            0, // check
        ];
        let mut header = Vec::with_capacity(HEADER_LEN + name.len() + 4);
        header.extend_from_slice(MAGIC_NEWC);
        for f in fields {
            header.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        header.extend_from_slice(name.as_bytes());
        header.push(0);
        self.emit(&header)?;
        self.pad()?;
        self.emit(&e.data)?;
        self.pad()
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = pad4(self.written);
        self.emit(&[0u8; 3][..n])
    }

    /// Writes `TRAILER!!!` and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        let trailer = Entry {
            path: TRAILER.to_string(),
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: 0,
            nlink: 1,
            ino: 0,
            data: Vec::new(),
        };
        self.write_member(&trailer, 0)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn pad4(n: u64) -> usize {
    ((4 - (n % 4)) % 4) as usize
}

/// An uncompressed newc archive holding `entries`.
pub fn archive(entries: &[Entry]) -> io::Result<Vec<u8>> {
    let mut w = Writer::new(Vec::new());
    for e in entries {
        w.add(e)?;
    }
    w.finish()
}

/// A gzip-compressed newc archive holding `entries` (the form appended to an initramfs).
pub fn gzip_archive(entries: &[Entry]) -> io::Result<Vec<u8>> {
    let raw = archive(entries)?;
    // A fixed header (no name, mtime 0) keeps the output reproducible.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&raw)?;
    gz.finish()
}

/// The directory entries (`0755`) that lead to `path`, outermost first: `a/b/c` gives `a`, `a/b`.
pub fn parent_dirs(path: &str) -> Vec<Entry> {
    let path = path.trim_start_matches('/');
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = path[at..].find('/') {
        let end = at + i;
        if end > 0 {
            out.push(Entry::dir(&path[..end], 0o755));
        }
        at = end + 1;
    }
    out
}

/// `ls -l` style permission string for a mode (`drwxr-xr-x`).
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & S_IFMT {
        S_IFDIR => 'd',
        S_IFLNK => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (bit, c)) in bits.iter().enumerate() {
        let special = match i {
            2 => mode & 0o4000 != 0,
            5 => mode & 0o2000 != 0,
            8 => mode & 0o1000 != 0,
            _ => false,
        };
        let set = mode & bit != 0;
        s.push(match (set, special, i) {
            (true, false, _) => *c,
            (false, false, _) => '-',
            (true, true, 8) => 't',
            (false, true, 8) => 'T',
            (true, true, _) => 's',
            (false, true, _) => 'S',
        });
    }
    s
}

/// One listing line: mode, size, path (and ` -> target` for symlinks).
pub fn list_line(e: &Entry) -> String {
    let mut line = format!("{} {:>10} {}", mode_string(e.mode), e.data.len(), e.path);
    if let Some(t) = e.link_target() {
        line.push_str(" -> ");
        line.push_str(&t);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Entry> {
        vec![
            Entry::dir("usr", 0o755),
            Entry::dir("usr/lib", 0o755),
            Entry::file("usr/lib/hello", 0o600, b"hello\n".to_vec()),
            Entry::file("odd", 0o644, b"12345".to_vec()),
            Entry::symlink("init", "usr/lib/systemd/systemd"),
        ]
    }

    #[test]
    fn round_trip() {
        let bytes = archive(&sample()).unwrap();
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.starts_with(b"070701"));
        let back = parse_archives(&bytes, 0).unwrap();
        assert_eq!(back.len(), 5);
        for (a, b) in sample().iter().zip(&back) {
            assert_eq!(a.path, b.path);
            assert_eq!(a.mode, b.mode);
            assert_eq!(a.data, b.data);
            assert_eq!(b.mtime, 0);
        }
        assert_eq!(
            back[4].link_target().as_deref(),
            Some("usr/lib/systemd/systemd")
        );
    }

    #[test]
    fn header_layout_matches_newc() {
        let bytes = archive(&[Entry::file("a", 0o644, b"xy".to_vec())]).unwrap();
        // magic, ino 1, mode 0100644, uid, gid, nlink 1, mtime 0, size 2
        let head = std::str::from_utf8(&bytes[..6 + 8 * 7]).unwrap();
        assert_eq!(
            head,
            "07070100000001000081A40000000000000000000000010000000000000002"
        );
        // name "a\0" at 110, padded to 112, data at 112..114, padded to 116, then the trailer
        assert_eq!(&bytes[110..112], b"a\0");
        assert_eq!(&bytes[112..114], b"xy");
        assert_eq!(&bytes[114..116], &[0, 0]);
        assert_eq!(&bytes[116..122], b"070701");
        let trailer_name = &bytes[116 + 110..116 + 110 + 11];
        assert_eq!(trailer_name, b"TRAILER!!!\0");
    }

    #[test]
    fn same_entries_same_bytes() {
        assert_eq!(
            gzip_archive(&sample()).unwrap(),
            gzip_archive(&sample()).unwrap()
        );
    }

    #[test]
    fn concatenated_segments_with_padding() {
        let mut image = archive(&[Entry::file(
            "kernel/x86/microcode/GenuineIntel.bin",
            0o644,
            vec![7; 13],
        )])
        .unwrap();
        image.resize(512, 0); // dracut pads the early cpio
        let seg2_at = image.len();
        image.extend(gzip_archive(&sample()).unwrap());
        image.extend([0u8; 3]);
        let seg3_at = image.len();
        image.extend(gzip_archive(&[Entry::file("late", 0o600, b"z".to_vec())]).unwrap());
        let segs = read_segments(&image).unwrap();
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[0].compression, Compression::None);
        assert_eq!(segs[0].len, 512);
        assert_eq!(segs[1].offset, seg2_at as u64);
        assert_eq!(segs[1].compression, Compression::Gzip);
        assert_eq!(segs[1].entries.len(), 5);
        assert_eq!(segs[2].offset, seg3_at as u64);
        let all = read_entries(&image).unwrap();
        assert_eq!(find_last(&all, "/late").unwrap().data, b"z");
    }

    #[test]
    fn two_archives_inside_one_compressed_stream() {
        let mut raw = archive(&[Entry::file("a", 0o644, b"1".to_vec())]).unwrap();
        raw.extend(archive(&[Entry::file("b", 0o644, b"2".to_vec())]).unwrap());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let image = gz.finish().unwrap();
        let all = read_entries(&image).unwrap();
        let names: Vec<_> = all.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn an_archive_split_across_zstd_frames() {
        // Two frames, each holding half of one archive (level 0: raw blocks are fine).
        let raw = archive(&sample()).unwrap();
        let (a, b) = raw.split_at(raw.len() / 2);
        let mut image = Vec::new();
        for part in [a, b] {
            let mut frame = Vec::new();
            ruzstd::encoding::compress(
                part,
                &mut frame,
                ruzstd::encoding::CompressionLevel::Uncompressed,
            );
            image.extend(frame);
        }
        let segs = read_segments(&image).unwrap();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].compression, Compression::Zstd);
        assert_eq!(segs[0].entries.len(), 5);
    }

    #[test]
    fn garbage_is_reported_with_offset() {
        let mut image = archive(&sample()).unwrap();
        let at = image.len();
        image.extend(b"BZh91AY&SY");
        let err = read_segments(&image).unwrap_err().to_string();
        assert!(err.contains(&format!("offset {at}")), "{err}");
        assert!(err.contains("bzip2"), "{err}");
        let err = read_segments(b"070701zzzz").unwrap_err().to_string();
        assert!(err.contains("offset 0"), "{err}");
    }

    #[test]
    fn truncated_archive_is_an_error() {
        let image = archive(&sample()).unwrap();
        let err = read_segments(&image[..image.len() - 60]).unwrap_err();
        assert!(matches!(err, CpioError::Malformed { .. }), "{err}");
    }

    #[test]
    fn parents() {
        let p: Vec<_> = parent_dirs("/usr/lib/ignition/user.ign")
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(p, ["usr", "usr/lib", "usr/lib/ignition"]);
        assert!(parent_dirs("top").is_empty());
    }

    #[test]
    fn modes() {
        assert_eq!(mode_string(S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(S_IFREG | 0o600), "-rw-------");
        assert_eq!(mode_string(S_IFREG | 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(S_IFDIR | 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(S_IFLNK | 0o777), "lrwxrwxrwx");
        let line = list_line(&Entry::symlink("init", "sbin/init"));
        assert_eq!(line, "lrwxrwxrwx          9 init -> sbin/init");
    }
}
