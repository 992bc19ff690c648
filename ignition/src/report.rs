//! Findings about a config: errors and warnings, each at a JSON path, with a
//! line and column once they are located in the source text.

use std::fmt;

use crate::json::{LineIndex, Node};
use crate::path::{JsonPath, Seg};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub path: JsonPath,
    pub message: String,
    /// 1-based line and column in the source text, when known.
    pub position: Option<(u32, u32)>,
    /// Byte offset in the source text, when known before location.
    pub offset: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn error(&mut self, path: JsonPath, message: impl Into<String>) {
        self.add(Severity::Error, path, message.into(), None);
    }

    pub fn warning(&mut self, path: JsonPath, message: impl Into<String>) {
        self.add(Severity::Warning, path, message.into(), None);
    }

    /// A finding whose byte offset is already known (decoding and syntax errors).
    pub fn add(
        &mut self,
        severity: Severity,
        path: JsonPath,
        message: String,
        offset: Option<u32>,
    ) {
        self.findings.push(Finding {
            severity,
            path,
            message,
            position: None,
            offset,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn merge(&mut self, other: Report) {
        self.findings.extend(other.findings);
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// Fills in line and column for every finding from the parsed source.
    ///
    /// A path that does not exist in the source (a field left out) is placed
    /// at the deepest value on the path that does exist.
    pub fn locate(&mut self, root: Option<&Node>, text: &[u8]) {
        if self.findings.iter().all(|f| f.position.is_some()) {
            return;
        }
        let index = LineIndex::new(text);
        for f in &mut self.findings {
            if f.position.is_some() {
                continue;
            }
            let offset = f.offset.or_else(|| root.map(|r| offset_of(r, &f.path)));
            f.position = offset.map(|o| index.position(o));
        }
    }
}

/// The offset Go Ignition reports for a path: a key's own offset when the
/// path ends at an object member that is being reported as a key (unknown
/// keys), otherwise the value's offset, falling back to the nearest ancestor.
pub fn offset_of(root: &Node, path: &JsonPath) -> u32 {
    let mut node = root;
    for seg in &path.0 {
        let next = match seg {
            Seg::Key(k) => node.member(k).map(|m| &m.value),
            Seg::Index(i) => node.element(*i),
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node.offset
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.severity, self.path)?;
        if let Some((line, col)) = self.position {
            write!(f, ", line {line} col {col}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpath;

    #[test]
    fn locates_values_and_falls_back_to_ancestors() {
        let text = br#"{"a":{"b":[ "x" ]}}"#;
        let root = crate::json::parse(std::str::from_utf8(text).unwrap()).unwrap();
        let mut r = Report::default();
        r.error(jpath!["a", "b", 0usize], "bad");
        r.warning(jpath!["a", "missing"], "absent");
        r.locate(Some(&root), text);
        assert_eq!(r.findings[0].position, Some((1, 13)));
        assert_eq!(r.findings[1].position, Some((1, 7)));
        assert_eq!(
            r.to_string(),
            "error at $.a.b.0, line 1 col 13: bad\nwarning at $.a.missing, line 1 col 7: absent\n"
        );
        assert!(r.has_errors());
    }
}
