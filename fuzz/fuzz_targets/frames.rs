//! The relay's frame scanner: one settings byte, then a byte stream fed in chunks.
//! Entry point and input format: `wsgate::fuzzing::frames` (src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsgate::fuzzing::frames(data));
