//! The newc reader: what the kernel unpacks from an initramfs (see [`crate::cpio`]).

use std::io::{self, Read};

use super::{
    pad4, Compression, CpioError, Entry, Segment, HEADER_LEN, MAGIC_CRC, MAGIC_NEWC, TRAILER,
};

/// Parses the uncompressed newc archives in `data` (one after another, zeros in between) and
/// returns their entries. `base` is the offset of `data` in the file, for messages.
pub fn parse_archives(data: &[u8], base: u64) -> Result<Vec<Entry>, CpioError> {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    loop {
        while pos < data.len() && data[pos] == 0 {
            pos += 1;
        }
        if pos >= data.len() {
            return Ok(entries);
        }
        pos = parse_one(data, pos, base, &mut entries)?;
    }
}

/// Parses one archive starting at `pos`; returns the position after its trailer (padded).
fn parse_one(
    data: &[u8],
    mut pos: usize,
    base: u64,
    entries: &mut Vec<Entry>,
) -> Result<usize, CpioError> {
    let bad = |at: usize, message: String| CpioError::Malformed {
        offset: base + at as u64,
        message,
    };
    loop {
        let header = data
            .get(pos..pos + HEADER_LEN)
            .ok_or_else(|| bad(pos, "truncated cpio header (no TRAILER!!!)".into()))?;
        let magic = &header[..6];
        if magic != MAGIC_NEWC && magic != MAGIC_CRC {
            return Err(bad(
                pos,
                format!(
                    "not a newc cpio header (magic {:?})",
                    String::from_utf8_lossy(magic)
                ),
            ));
        }
        let field = |i: usize| -> Result<u32, CpioError> {
            let raw = &header[6 + i * 8..6 + (i + 1) * 8];
            std::str::from_utf8(raw)
                .ok()
                .and_then(|s| u32::from_str_radix(s, 16).ok())
                .ok_or_else(|| {
                    bad(
                        pos,
                        format!("bad hex field {:?}", String::from_utf8_lossy(raw)),
                    )
                })
        };
        let (ino, mode, uid, gid, nlink, mtime, size, namesize) = (
            field(0)?,
            field(1)?,
            field(2)?,
            field(3)?,
            field(4)?,
            field(5)?,
            field(6)? as usize,
            field(11)? as usize,
        );
        let name_start = pos + HEADER_LEN;
        let name_bytes = data
            .get(name_start..name_start + namesize)
            .ok_or_else(|| bad(pos, "truncated member name".into()))?;
        let name = String::from_utf8_lossy(name_bytes.strip_suffix(&[0]).unwrap_or(name_bytes))
            .into_owned();
        let data_start = name_start + namesize;
        let data_start = data_start + pad4(data_start as u64);
        let body = data.get(data_start..data_start + size).ok_or_else(|| {
            bad(
                pos,
                format!("{name}: truncated data ({size} bytes expected)"),
            )
        })?;
        let next = data_start + size;
        pos = next + pad4(next as u64);
        if name == TRAILER {
            return Ok(pos.min(data.len()));
        }
        entries.push(Entry {
            path: name,
            mode,
            uid,
            gid,
            mtime,
            nlink,
            ino,
            data: body.to_vec(),
        });
    }
}

fn detect(bytes: &[u8]) -> Option<Compression> {
    if bytes.starts_with(b"0707") {
        Some(Compression::None)
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Compression::Xz)
    } else {
        None
    }
}

fn unsupported_kind(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x02, 0x21, 0x4c, 0x18]) || bytes.starts_with(&[0x04, 0x22, 0x4d, 0x18])
    {
        "lz4"
    } else if bytes.starts_with(b"BZh") {
        "bzip2"
    } else if bytes.starts_with(&[0x89, b'L', b'Z', b'O']) {
        "lzo"
    } else if bytes.starts_with(&[0x5d, 0, 0]) {
        "lzma"
    } else {
        "unknown"
    }
}

/// Reads every segment of an initramfs image held in `data`.
pub fn read_segments(data: &[u8]) -> Result<Vec<Segment>, CpioError> {
    let mut segments: Vec<Segment> = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let start = pos;
        let rest = &data[pos..];
        let offset = pos as u64;
        let (compression, entries, consumed) = match detect(rest) {
            Some(Compression::None) => {
                let mut entries = Vec::new();
                let end = parse_one(data, pos, 0, &mut entries)?;
                (Compression::None, entries, end - pos)
            }
            Some(kind) => {
                let (plain, consumed) = decompress(kind, rest, offset)?;
                let entries = parse_archives(&plain, offset)?;
                (kind, entries, consumed)
            }
            None => {
                return Err(CpioError::Unsupported {
                    offset,
                    kind: unsupported_kind(rest),
                })
            }
        };
        pos += consumed.max(1);
        while pos < data.len() && data[pos] == 0 {
            pos += 1;
        }
        segments.push(Segment {
            offset,
            len: (pos - start) as u64,
            compression,
            entries,
        });
    }
    Ok(segments)
}

/// Decompresses the one stream at the start of `rest`; returns the data and the compressed
/// length it took.
fn decompress(kind: Compression, rest: &[u8], offset: u64) -> Result<(Vec<u8>, usize), CpioError> {
    let err = |message: String| CpioError::Decompress {
        offset,
        kind: kind.name(),
        message,
    };
    let mut input: &[u8] = rest;
    let mut out = Vec::new();
    match kind {
        Compression::Gzip => {
            // The bufread decoder stops at the end of the member and leaves the rest unread.
            let mut dec = flate2::bufread::GzDecoder::new(&mut input);
            dec.read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
        }
        Compression::Zstd => {
            // Frames that follow one another directly are one stream (as the kernel reads
            // them): a multi-threaded compressor may write several.
            loop {
                let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut input)
                    .map_err(|e| err(e.to_string()))?;
                dec.read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
                if !input.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                    break;
                }
            }
        }
        Compression::Xz => {
            // lzma-rs wants the stream to end where its input ends. An xz stream is a multiple
            // of 4 bytes and ends with the footer magic "YZ": try each such end in turn.
            let mut last_err = String::from("no xz stream footer found");
            let mut end = 12;
            while end <= rest.len() {
                if &rest[end - 2..end] == b"YZ" {
                    let mut reader = io::BufReader::new(&rest[..end]);
                    out.clear();
                    match lzma_rs::xz_decompress(&mut reader, &mut out) {
                        Ok(()) => return Ok((out, end)),
                        Err(e) => last_err = format!("{e:?}"),
                    }
                }
                end += 4;
            }
            return Err(err(last_err));
        }
        Compression::None => return Ok((rest.to_vec(), rest.len())),
    }
    Ok((out, rest.len() - input.len()))
}

/// All entries of all segments, in order. Later entries with the same path win when the kernel
/// unpacks, so callers looking a path up should take the last match ([`find_last`]).
pub fn read_entries(data: &[u8]) -> Result<Vec<Entry>, CpioError> {
    Ok(read_segments(data)?
        .into_iter()
        .flat_map(|s| s.entries)
        .collect())
}

/// The last entry with `path` (leading `/` ignored).
pub fn find_last<'a>(entries: &'a [Entry], path: &str) -> Option<&'a Entry> {
    let path = path.trim_start_matches('/');
    entries.iter().rev().find(|e| e.path == path)
}
