//! A JSON value tree that remembers where each value sits in the source text.
//!
//! Ignition reports findings with a JSON path and a line and column, so the
//! config engine parses the text into this tree first; typed decoding and
//! position look-ups both work on it.

/// One JSON value and the byte offset it is reported at.
///
/// The offset follows Go Ignition's reports: for objects and arrays it is the
/// byte after the opening bracket, for everything else the first byte of the
/// token.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub offset: u32,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<Member>),
}

/// An object member: the key, the offset of its opening quote, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_offset: u32,
    pub value: Node,
}

/// A JSON number: integers that fit an `i64` are kept exactly, the rest as
/// their source text (Ignition has no field that takes a fraction).
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    Int(i64),
    Other(String),
}

impl Value {
    /// The JSON type name, as used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

impl Node {
    /// The member of an object with this key (the last one, as a JSON decoder
    /// that keeps the last duplicate would see it).
    pub fn member(&self, key: &str) -> Option<&Member> {
        match &self.value {
            Value::Object(members) => members.iter().rev().find(|m| m.key == key),
            _ => None,
        }
    }

    pub fn element(&self, index: usize) -> Option<&Node> {
        match &self.value {
            Value::Array(items) => items.get(index),
            _ => None,
        }
    }
}

/// Turns byte offsets into 1-based line and column numbers.
pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(text: &[u8]) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i as u32 + 1),
        );
        LineIndex { starts }
    }

    /// (line, column), both starting at 1; the column counts bytes.
    pub fn position(&self, offset: u32) -> (u32, u32) {
        let line = self.starts.partition_point(|s| *s <= offset);
        let start = self.starts[line - 1];
        (line as u32, offset - start + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_from_one() {
        let idx = LineIndex::new(b"ab\ncd\n\nx");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(1), (1, 2));
        assert_eq!(idx.position(3), (2, 1));
        assert_eq!(idx.position(6), (3, 1));
        assert_eq!(idx.position(7), (4, 1));
    }
}
