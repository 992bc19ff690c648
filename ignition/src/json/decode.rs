//! Typed decoding from a [`Node`] tree through serde, with Go Ignition's rules:
//!
//! - a key that the target struct does not have (in this spec version) is a
//!   warning, `Unused key K`, and is ignored;
//! - keys match field names exactly, or else case-insensitively (with the same
//!   warning, since Go's decoder accepts them but they are still typos);
//! - when a key appears twice, the last one wins;
//! - `null` leaves a field at its zero value;
//! - a value of the wrong type is an error at its JSON path; decoding goes on
//!   so that every such error is reported at once.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Visitor};
use serde::forward_to_deserialize_any;

use super::tree::{Member, Node, Number, Value};
use crate::path::{JsonPath, Seg};
use crate::report::{Report, Severity};

/// Decides which fields of a struct exist in the spec version being decoded.
pub trait FieldFilter {
    /// `strukt` is the Rust struct name, `field` the JSON name, `path` where
    /// the struct sits.
    fn allows(&self, strukt: &'static str, field: &str, path: &PathLink<'_>) -> bool;
}

/// Every field of every struct exists.
pub struct AllFields;

impl FieldFilter for AllFields {
    fn allows(&self, _: &'static str, _: &str, _: &PathLink<'_>) -> bool {
        true
    }
}

/// Decodes `node` into `T`, returning the value and the findings. When the
/// report has errors the value is incomplete and must not be used.
pub fn decode<T: de::DeserializeOwned + Default>(
    node: &Node,
    filter: &dyn FieldFilter,
) -> (T, Report) {
    let cx = Cx {
        report: RefCell::new(Report::default()),
        filter,
    };
    let result = T::deserialize(De {
        node,
        path: &PathLink::Root,
        cx: &cx,
        quiet: false,
    });
    let mut report = cx.report.into_inner();
    match result {
        Ok(value) => (value, report),
        Err(e) => {
            // Only reachable if a visitor rejects what we hand it; keep it an error.
            report.error(JsonPath::root(), e.0);
            (T::default(), report)
        }
    }
}

/// A path kept on the stack while decoding; turned into a [`JsonPath`] only
/// when a finding needs it.
pub enum PathLink<'p> {
    Root,
    Key(&'p PathLink<'p>, &'p str),
    Index(&'p PathLink<'p>, usize),
}

impl PathLink<'_> {
    pub fn to_path(&self) -> JsonPath {
        let mut segs = Vec::new();
        let mut cur = self;
        loop {
            match cur {
                PathLink::Root => break,
                PathLink::Key(parent, k) => {
                    segs.push(Seg::Key(k.to_string()));
                    cur = parent;
                }
                PathLink::Index(parent, i) => {
                    segs.push(Seg::Index(*i));
                    cur = parent;
                }
            }
        }
        segs.reverse();
        JsonPath(segs)
    }

    /// The first key below the root (`ignition`, `storage`, ...).
    pub fn top_key(&self) -> Option<&str> {
        let mut cur = self;
        let mut top = None;
        loop {
            match cur {
                PathLink::Root => return top,
                PathLink::Key(parent, k) => {
                    top = Some(*k);
                    cur = parent;
                }
                PathLink::Index(parent, _) => cur = parent,
            }
        }
    }
}

struct Cx<'f> {
    report: RefCell<Report>,
    filter: &'f dyn FieldFilter,
}

impl Cx<'_> {
    fn add(&self, severity: Severity, path: JsonPath, message: String, offset: u32) {
        self.report
            .borrow_mut()
            .add(severity, path, message, Some(offset));
    }
}

#[derive(Debug)]
pub struct DeError(String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

#[derive(Clone, Copy)]
struct De<'a, 'p> {
    node: &'a Node,
    path: &'p PathLink<'p>,
    cx: &'p Cx<'p>,
    /// Below a key that matched only case-insensitively, Go cannot relate the
    /// value to the source, so it reports no unknown keys there; neither do we.
    quiet: bool,
}

impl De<'_, '_> {
    fn wrong_type(&self, expected: &str) {
        let found = match &self.node.value {
            Value::Number(Number::Other(text)) => format!("number {text}"),
            v => v.type_name().to_string(),
        };
        self.cx.add(
            Severity::Error,
            self.path.to_path(),
            format!("cannot use {found} as {expected}"),
            self.node.offset,
        );
    }
}

impl<'de, 'p> de::Deserializer<'de> for De<'de, 'p> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Number(Number::Int(n)) => v.visit_i64(*n),
            Value::Number(Number::Other(t)) => v.visit_f64(t.parse().unwrap_or(f64::NAN)),
            Value::String(s) => v.visit_borrowed_str(s),
            Value::Array(items) => v.visit_seq(Seq {
                items,
                next: 0,
                de: self,
            }),
            Value::Object(members) => {
                let fields: Vec<_> = members
                    .iter()
                    .map(|m| (m.key.as_str(), &m.value, self.quiet))
                    .collect();
                v.visit_map(Fields {
                    fields,
                    next: 0,
                    value: None,
                    de: self,
                })
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Bool(b) => v.visit_bool(*b),
            Value::Null => v.visit_bool(false),
            _ => {
                self.wrong_type("a boolean");
                v.visit_bool(false)
            }
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Number(Number::Int(n)) => v.visit_i64(*n),
            Value::Null => v.visit_i64(0),
            _ => {
                self.wrong_type("an integer");
                v.visit_i64(0)
            }
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::String(s) => v.visit_borrowed_str(s),
            Value::Null => v.visit_borrowed_str(""),
            _ => {
                self.wrong_type("a string");
                v.visit_borrowed_str("")
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Array(items) => v.visit_seq(Seq {
                items,
                next: 0,
                de: self,
            }),
            Value::Null => v.visit_seq(Seq {
                items: &[],
                next: 0,
                de: self,
            }),
            _ => {
                self.wrong_type("an array");
                v.visit_seq(Seq {
                    items: &[],
                    next: 0,
                    de: self,
                })
            }
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let members: &[Member] = match &self.node.value {
            Value::Object(members) => members,
            Value::Null => &[],
            _ => {
                self.wrong_type("an object");
                &[]
            }
        };
        let accepted = self.accept_fields(name, fields, members);
        v.visit_map(Fields {
            fields: accepted,
            next: 0,
            value: None,
            de: self,
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct map enum identifier
    }
}

impl<'de> De<'de, '_> {
    /// The members that map to fields of `strukt`, under their field names,
    /// each field once (the last occurrence wins); warns about the others.
    fn accept_fields(
        &self,
        strukt: &'static str,
        fields: &'static [&'static str],
        members: &'de [Member],
    ) -> Vec<(&'static str, &'de Node, bool)> {
        let mut accepted: Vec<(&'static str, &'de Node, bool)> = Vec::with_capacity(members.len());
        for m in members {
            let allowed = |f: &&str| self.cx.filter.allows(strukt, f, self.path);
            let exact = fields.iter().copied().filter(allowed).find(|f| *f == m.key);
            let (field, quiet) = match exact {
                Some(f) => (f, self.quiet),
                None => {
                    let key_path = PathLink::Key(self.path, &m.key).to_path();
                    let mut message = format!("Unused key {}", m.key);
                    if let Some(near) = fields
                        .iter()
                        .copied()
                        .filter(allowed)
                        .find(|f| is_typo_of(&m.key, f))
                    {
                        message.push_str(&format!(" (did you mean {near}?)"));
                    }
                    if !self.quiet {
                        self.cx
                            .add(Severity::Warning, key_path, message, m.key_offset);
                    }
                    match fields
                        .iter()
                        .copied()
                        .filter(allowed)
                        .find(|f| f.eq_ignore_ascii_case(&m.key))
                    {
                        Some(f) => (f, true),
                        None => continue,
                    }
                }
            };
            accepted.retain(|(f, _, _)| *f != field);
            accepted.push((field, &m.value, quiet));
        }
        accepted
    }
}

/// True when `key` is one edit (insertion, deletion, substitution or swap of
/// neighbours) away from `field`, ignoring case: a likely typo.
fn is_typo_of(key: &str, field: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (
        key.to_lowercase().chars().collect(),
        field.to_lowercase().chars().collect(),
    );
    if a == b {
        return false; // a case-only difference is accepted under the field's name
    }
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    match long.len() - short.len() {
        0 => {
            let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            diff.len() == 1
                || (diff.len() == 2
                    && diff[1] == diff[0] + 1
                    && a[diff[0]] == b[diff[1]]
                    && a[diff[1]] == b[diff[0]])
        }
        1 => {
            let i = (0..short.len())
                .find(|&i| short[i] != long[i])
                .unwrap_or(short.len());
            short[i..] == long[i + 1..]
        }
        _ => false,
    }
}

struct Seq<'a, 'p> {
    items: &'a [Node],
    next: usize,
    de: De<'a, 'p>,
}

impl<'de> de::SeqAccess<'de> for Seq<'de, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.get(self.next) else {
            return Ok(None);
        };
        let link = PathLink::Index(self.de.path, self.next);
        self.next += 1;
        seed.deserialize(De {
            node,
            path: &link,
            cx: self.de.cx,
            quiet: self.de.quiet,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.next)
    }
}

struct Fields<'a, 'p> {
    fields: Vec<(&'a str, &'a Node, bool)>,
    next: usize,
    value: Option<(&'a str, &'a Node, bool)>,
    de: De<'a, 'p>,
}

impl<'de> de::MapAccess<'de> for Fields<'de, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(&(key, node, quiet)) = self.fields.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        self.value = Some((key, node, quiet));
        let key_de = de::value::BorrowedStrDeserializer::<DeError>::new(key);
        seed.deserialize(key_de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, node, quiet) = self
            .value
            .take()
            .ok_or_else(|| DeError("value before key".into()))?;
        let link = PathLink::Key(self.de.path, key);
        seed.deserialize(De {
            node,
            path: &link,
            cx: self.de.cx,
            quiet,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, rename_all = "camelCase")]
    struct Inner {
        path: String,
        mode: Option<i64>,
        on: Option<bool>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Outer {
        items: Vec<Inner>,
        name: String,
    }

    fn run(text: &str) -> (Outer, Vec<String>) {
        let node = crate::json::parse(text).unwrap();
        let (v, mut r): (Outer, Report) = decode(&node, &AllFields);
        r.locate(Some(&node), text.as_bytes());
        (v, r.findings.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn decodes_and_warns_about_unknown_keys() {
        let (v, f) = run(r#"{"items":[{"path":"/a","mode":420,"extra":1}],"name":null}"#);
        assert_eq!(
            v.items,
            vec![Inner {
                path: "/a".into(),
                mode: Some(420),
                on: None
            }]
        );
        assert_eq!(
            f,
            vec!["warning at $.items.0.extra, line 1 col 35: Unused key extra"]
        );
    }

    #[test]
    fn unknown_keys_suggest_a_near_field() {
        let (_, f) = run(r#"{"items":[{"pth":"/a","mdoe":1,"paths":"x","zzz":1}]}"#);
        assert!(
            f[0].ends_with("Unused key pth (did you mean path?)"),
            "{}",
            f[0]
        );
        assert!(
            f[1].ends_with("Unused key mdoe (did you mean mode?)"),
            "{}",
            f[1]
        );
        assert!(
            f[2].ends_with("Unused key paths (did you mean path?)"),
            "{}",
            f[2]
        );
        assert!(f[3].ends_with("Unused key zzz"), "{}", f[3]);
    }

    #[test]
    fn no_unknown_keys_below_a_case_insensitive_match() {
        let (v, f) = run(r#"{"Items":[{"Path":"/a","zzz":1}]}"#);
        assert_eq!(v.items[0].path, "/a");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("Unused key Items"));
    }

    #[test]
    fn case_insensitive_keys_are_used_with_a_warning_and_last_wins() {
        let (v, f) = run(r#"{"items":[{"Path":"/x","path":"/y","PATH":"/z"}]}"#);
        assert_eq!(v.items[0].path, "/z");
        assert_eq!(f.len(), 2);
        assert!(f[0].contains("Unused key Path"));
    }

    #[test]
    fn wrong_types_are_errors_at_their_path() {
        let (_, f) = run(r#"{"items":[{"mode":"x","on":1}, {"mode": 1.5}],"name":[]}"#);
        assert_eq!(
            f,
            vec![
                "error at $.items.0.mode, line 1 col 19: cannot use string as an integer",
                "error at $.items.0.on, line 1 col 28: cannot use number as a boolean",
                "error at $.items.1.mode, line 1 col 41: cannot use number 1.5 as an integer",
                "error at $.name, line 1 col 55: cannot use array as a string",
            ]
        );
    }

    #[test]
    fn null_leaves_zero_values() {
        let (v, f) = run(r#"{"items":null,"name":null}"#);
        assert_eq!(v, Outer::default());
        assert!(f.is_empty());
    }

    struct NoMode;
    impl FieldFilter for NoMode {
        fn allows(&self, strukt: &'static str, field: &str, _: &PathLink<'_>) -> bool {
            !(strukt == "Inner" && field == "mode")
        }
    }

    #[test]
    fn filtered_fields_are_unknown() {
        let node = crate::json::parse(r#"{"items":[{"path":"/a","mode":420}]}"#).unwrap();
        let (v, r): (Outer, Report) = decode(&node, &NoMode);
        assert_eq!(v.items[0].mode, None);
        assert_eq!(r.findings[0].message, "Unused key mode");
    }
}
