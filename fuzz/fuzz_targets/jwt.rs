//! The token verifier: raw tokens, or `sign:` header/payload JSON signed with the fuzzing secret.
//! Entry point and input format: `wsgate::fuzzing::jwt` (src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsgate::fuzzing::jwt(data));
