//! The guest's serial console, captured to a file by QEMU: searching it for a line (from a
//! cursor, so that waiting twice for the same text finds the next occurrence), its last lines
//! for errors, and streaming it to the terminal (`--console`).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use regex::Regex;

/// How many console lines an error shows.
pub const TAIL_LINES: usize = 30;

/// What a console line must contain.
#[derive(Debug, Clone)]
pub enum Pattern {
    Substring(String),
    Regex(Regex),
}

impl Pattern {
    pub fn regex(re: &str) -> Result<Pattern> {
        Ok(Pattern::Regex(Regex::new(re).with_context(|| {
            format!("bad regular expression {re:?}")
        })?))
    }

    pub fn matches(&self, line: &str) -> bool {
        match self {
            Pattern::Substring(s) => line.contains(s.as_str()),
            Pattern::Regex(r) => r.is_match(line),
        }
    }
}

impl From<&str> for Pattern {
    fn from(s: &str) -> Pattern {
        Pattern::Substring(s.to_string())
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Substring(s) => write!(f, "{s:?}"),
            Pattern::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// The first complete line at or after byte `from` that matches: (the line, the offset just
/// after it). A line still being written (no newline yet) is not considered. Pure.
pub fn find_line(text: &str, from: usize, pattern: &Pattern) -> Option<(String, usize)> {
    let start = from.min(text.len());
    let mut pos = start;
    // Align to a character boundary (the file may end inside a multi-byte character).
    while !text.is_char_boundary(pos) {
        pos += 1;
    }
    for line in text[pos..].split_inclusive('\n') {
        let end = pos + line.len();
        if !line.ends_with('\n') {
            break;
        }
        let clean = clean_line(line);
        if pattern.matches(&clean) {
            return Some((clean, end));
        }
        pos = end;
    }
    None
}

/// A line without its line ending and without terminal escape sequences.
pub fn clean_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.trim_end_matches(['\n', '\r']).chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// The last `n` lines of the text, cleaned. Pure.
pub fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| clean_line(l))
        .collect()
}

/// The console log of one machine.
pub struct Console {
    path: PathBuf,
    /// Searches start here: just after the last line a wait returned.
    pub cursor: usize,
    _stream: Option<Streamer>,
}

impl Console {
    pub fn new(path: &Path, stream: bool) -> Console {
        Console {
            path: path.to_path_buf(),
            cursor: 0,
            _stream: stream.then(|| Streamer::start(path)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything the guest printed so far (lossy UTF-8).
    pub fn text(&self) -> String {
        std::fs::read(&self.path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Looks for a matching line after the cursor; moves the cursor past it when found.
    pub fn poll(&mut self, pattern: &Pattern) -> Option<String> {
        let (line, end) = find_line(&self.text(), self.cursor, pattern)?;
        self.cursor = end;
        Some(line)
    }

    /// The last [`TAIL_LINES`] lines, for an error message.
    pub fn tail_report(&self) -> String {
        let lines = tail(&self.text(), TAIL_LINES);
        if lines.is_empty() {
            return format!("the console ({}) is empty", self.path.display());
        }
        format!(
            "last {} console lines ({}):\n  | {}",
            lines.len(),
            self.path.display(),
            lines.join("\n  | ")
        )
    }
}

/// Copies the console file to stderr as it grows; stops on drop.
struct Streamer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Streamer {
    fn start(path: &Path) -> Streamer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let path = path.to_path_buf();
        let thread = std::thread::spawn(move || {
            let mut pos = 0u64;
            loop {
                let done = flag.load(Ordering::Relaxed);
                if let Ok(mut f) = std::fs::File::open(&path) {
                    let mut buf = Vec::new();
                    if f.seek(SeekFrom::Start(pos)).is_ok() && f.read_to_end(&mut buf).is_ok() {
                        pos += buf.len() as u64;
                        let _ = std::io::stderr().write_all(&buf);
                    }
                }
                if done {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Streamer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Streamer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_complete_lines_after_the_cursor() {
        let text = "boot\r\nlogin: \r\nMARK one\nMARK two\nMARK thr";
        let p = Pattern::from("MARK");
        let (l, end) = find_line(text, 0, &p).unwrap();
        assert_eq!(l, "MARK one");
        let (l, end) = find_line(text, end, &p).unwrap();
        assert_eq!(l, "MARK two");
        assert!(find_line(text, end, &p).is_none(), "incomplete line");
    }

    #[test]
    fn regex_and_escapes() {
        let text = "\u{1b}[0;32m  OK  \u{1b}[0m] Reached target multi-user.target\n";
        let p = Pattern::regex(r"OK\s+\] Reached target multi-user").unwrap();
        assert_eq!(
            find_line(text, 0, &p).unwrap().0,
            "  OK  ] Reached target multi-user.target"
        );
        assert!(Pattern::regex("(?i)ignition FAILED")
            .unwrap()
            .matches("mooring: Ignition failed; stop"));
        assert!(Pattern::regex("(").is_err());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text, 30);
        assert_eq!(t.len(), 30);
        assert_eq!(t[0], "line 70");
        assert_eq!(t[29], "line 99");
    }

    #[test]
    fn cursor_inside_a_character() {
        let text = "é\nxé\n";
        assert_eq!(find_line(text, 1, &Pattern::from("x")).unwrap().0, "xé");
    }
}
