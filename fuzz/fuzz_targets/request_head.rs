//! The first request head as wsgate reads it (httparse, http types) and the RFC 6455 checks.
//! Entry point and input format: `wsgate::fuzzing::request_head` (src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsgate::fuzzing::request_head(data));
