//! Any bytes through parse + validate (+ translation), then our own output
//! back through the engine: nothing may panic, and a config we accept must
//! survive a round trip through its latest-spec JSON unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = ignition::parse(data) else { return };
    let json = ignition::to_json(&parsed.config);
    if let Ok(again) = ignition::parse(json.as_bytes()) {
        assert_eq!(again.config, parsed.config, "round trip changed the config");
    }
});
