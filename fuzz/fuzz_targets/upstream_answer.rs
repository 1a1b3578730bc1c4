//! The upstream's answer to the upgrade request: 101 checks, refusal framing and body.
//! Entry point and input format: `wsgate::fuzzing::upstream_answer` (src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsgate::fuzzing::upstream_answer(data));
