//! Any bytes through the whole config engine; see `ignition::exercise`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ignition::exercise::exercise(data));
