//! Every entry point of the config engine on one input, with the invariants
//! that must hold for any input. The fuzz target (`ignition/fuzz`) and the
//! corpus regression test (`tests/fuzz_corpus.rs`) both run this.

use crate::fetch::{fetch_resource_limited, resolve, Fetchers};
use crate::merge::{merge, merge_and_validate};

/// Parses, translates and validates `data`; on an accepted config, checks
/// that its latest-spec JSON parses back to the same model, and runs merge,
/// reference resolution (`data:` URLs only) and resource fetching (hash,
/// gzip). Panics only if an invariant is broken.
pub fn exercise(data: &[u8]) {
    let Ok(parsed) = crate::parse(data) else {
        return;
    };
    let config = parsed.config;

    let json = crate::to_json(&config);
    if let Ok(again) = crate::parse(json.as_bytes()) {
        assert_eq!(again.config, config, "round trip changed the config");
    }

    let _ = merge(&config, &config);
    let _ = merge_and_validate(&crate::Config::default(), &config);

    let fetchers = Fetchers::new();
    let _ = resolve(config.clone(), &fetchers, 3);
    for file in config.storage.files.iter().take(8) {
        let _ = fetch_resource_limited(&fetchers, &file.contents, 1 << 20);
    }
}
