//! Retention of rendered configs.

use std::collections::HashSet;

use machine_config::{prune, RenderHistory, RenderedRecord};

fn history(entries: &[(&str, &str)]) -> Vec<RenderedRecord> {
    entries
        .iter()
        .enumerate()
        .map(|(i, (pool, name))| RenderedRecord {
            pool: pool.to_string(),
            name: name.to_string(),
            created: 1_700_000_000 + i as u64,
        })
        .collect()
}

fn set(names: &[&str]) -> HashSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn prune_table() {
    let h = history(&[
        ("worker", "w1"),
        ("master", "m1"),
        ("worker", "w2"),
        ("worker", "w3"),
        ("master", "m2"),
        ("worker", "w4"),
    ]);
    let cases: &[(&str, &[&str], usize, &[&str])] = &[
        ("keep only current", &[], 0, &["w1", "m1", "w2", "w3"]),
        ("1 is the same as 0", &[], 1, &["w1", "m1", "w2", "w3"]),
        ("keep two per pool", &[], 2, &["w1", "w2"]),
        ("keep a lot", &[], 10, &[]),
        ("a node at w1 keeps it", &["w1"], 0, &["m1", "w2", "w3"]),
        (
            "in use and current both kept",
            &["w4", "m2", "w2"],
            0,
            &["w1", "m1", "w3"],
        ),
    ];
    for (name, in_use, keep, want) in cases {
        assert_eq!(prune(&h, &set(in_use), *keep), *want, "{name}");
    }
}

#[test]
fn never_the_current_one() {
    // Back to an earlier config: w1 is current again.
    let h = history(&[("worker", "w1"), ("worker", "w2"), ("worker", "w1")]);
    assert_eq!(prune(&h, &set(&[]), 0), ["w2"]);
    assert!(prune(&[], &set(&[]), 0).is_empty());
}

#[test]
fn history_state_file() {
    let mut h = RenderHistory::new();
    assert!(h.record("worker", "w1", 1));
    assert!(!h.record("worker", "w1", 2), "already current");
    assert!(h.record("worker", "w2", 3));
    assert!(h.record("master", "m1", 4));
    assert_eq!(h.current("worker"), Some("w2"));
    let doomed = prune(&h.records, &HashSet::new(), 0);
    assert_eq!(doomed, ["w1"]);
    h.forget(&doomed);
    let text = h.to_json();
    assert!(text.contains("\"version\": 1"), "{text}");
    let back = RenderHistory::from_json(&text).expect("parse");
    assert_eq!(back, h);
    assert!(RenderHistory::from_json(r#"{"version":2,"records":[]}"#).is_err());
}
