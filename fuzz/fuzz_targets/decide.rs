//! The whole decision (`Gate::decide`): a request target and header lines.
//! Entry point and input format: `wsgate::fuzzing::decide` (src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsgate::fuzzing::decide(data));
