//! The canonical serialization rendered names are hashed over, and the hash.
//!
//! Canonical JSON here: objects with their keys sorted by byte order, no
//! whitespace, strings escaped as `serde_json` escapes them (`"`, `\`,
//! control characters; everything else, non-ASCII included, as UTF-8),
//! numbers as `serde_json` prints them (integers in decimal). It does not
//! depend on map iteration order, the machine or the run.
//!
//! The rendered name is `rendered-<pool>-<hash>`, where `<hash>` is the first
//! 32 hex digits (128 bits) of SHA-256 over `mooring-rendered-spec-v1\n`
//! followed by the canonical JSON of the rendered MachineConfig's `spec`
//! (OpenShift uses salted MD5 over YAML: also 32 hex digits). The prefix is
//! the format's version: changing the serialization means changing it.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// What is hashed before the canonical spec; see the module docs.
pub const HASH_PREFIX: &[u8] = b"mooring-rendered-spec-v1\n";

/// Canonical JSON text of a value.
pub fn to_canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write(value, &mut out);
    // Only valid UTF-8 was written.
    String::from_utf8(out).unwrap_or_default()
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_str(s, out),
        // null, booleans and numbers: serde_json's own text.
        other => {
            // Writing JSON to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // Writing JSON to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The 32-hex-digit hash of a rendered spec (see the module docs).
pub fn spec_hash(spec: &Value) -> String {
    let mut h = Sha256::new();
    h.update(HASH_PREFIX);
    let mut text = Vec::new();
    write(spec, &mut text);
    h.update(&text);
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Sorts every object's keys (for output that must not depend on whether
/// `serde_json` keeps insertion order).
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_keys_no_whitespace() {
        let v = json!({"b": [1, {"z": null, "a": true}], "a": "x\"y", "é": 1.5});
        assert_eq!(
            to_canonical_json(&v),
            r#"{"a":"x\"y","b":[1,{"a":true,"z":null}],"é":1.5}"#
        );
    }

    #[test]
    fn hash_is_stable() {
        // Pinned: a change here changes every rendered name.
        let spec = json!({"fips": false, "kernelArguments": []});
        assert_eq!(spec_hash(&spec).len(), 32);
        assert_eq!(
            spec_hash(&spec),
            spec_hash(&json!({"kernelArguments": [], "fips": false}))
        );
    }
}
