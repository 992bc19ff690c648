//! The fuzzer's corpus (ignition/fuzz/corpus/engine) through the whole
//! engine on stable Rust, so every input the fuzzer kept stays covered.

use std::path::Path;

#[test]
fn fuzz_corpus_runs_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/engine");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz corpus directory") {
        let path = entry.expect("corpus entry").path();
        // A running fuzzer replaces files as it shrinks them; skip vanished ones.
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let outcome = std::panic::catch_unwind(|| ignition::exercise::exercise(&data));
        assert!(outcome.is_ok(), "{} broke an invariant", path.display());
        count += 1;
    }
    assert!(
        count > 100,
        "only {count} corpus files in {}",
        dir.display()
    );
    eprintln!("fuzz corpus: {count} inputs ran clean");
}
