//! The TOML config parser and validator, and `check`'s rendering.
//! Entry point and input format: `wsgate::fuzzing::config` (src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsgate::fuzzing::config(data));
