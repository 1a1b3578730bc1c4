//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`, written by
//! fuzz/make_corpus.py) and every crash a fuzzer found through the same entry points, on
//! stable Rust, so `cargo test` guards what the fuzzers explored.

use std::path::PathBuf;

use super::*;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "{}: only {} seeds; run fuzz/make_corpus.py",
        dir.display(),
        files.len()
    );
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn jwt_corpus_replays_cleanly() {
    replay("jwt", jwt);
}

#[test]
fn request_head_corpus_replays_cleanly() {
    replay("request_head", request_head);
}

#[test]
fn frames_corpus_replays_cleanly() {
    replay("frames", frames);
}

#[test]
fn upstream_answer_corpus_replays_cleanly() {
    replay("upstream_answer", upstream_answer);
}

#[test]
fn config_corpus_replays_cleanly() {
    replay("config", config);
}

#[test]
fn decide_corpus_replays_cleanly() {
    replay("decide", decide);
}

#[test]
fn the_jwt_seeds_reach_an_accepted_token() {
    // The corpus is only useful if it gets past the signature: one seed must verify.
    let fixture = fixture();
    let accepted = corpus("jwt").iter().any(|(_, bytes)| {
        let token = match bytes.strip_prefix(b"sign:") {
            Some(rest) => {
                let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                sign(&rest[..split], &rest[split + 1..])
            }
            None => String::from_utf8_lossy(bytes).into_owned(),
        };
        jwt::verify(
            &token,
            &fixture.gate.config().auth,
            &fixture.keys,
            NOW,
            &mut NoTrace,
        )
        .is_ok()
    });
    assert!(accepted, "no seed in fuzz/corpus/jwt verifies");
}

#[test]
fn the_decide_seeds_reach_every_kind_of_verdict() {
    // Seeds that only ever get `token_missing` would leave the fuzzer outside the gate.
    let fixture = fixture();
    let mut methods = std::collections::BTreeSet::new();
    let mut reasons = std::collections::BTreeSet::new();
    for (_, bytes) in corpus("decide") {
        let Some((uri, headers)) = request_of(&bytes) else {
            continue;
        };
        let view = RequestView {
            path: uri.path(),
            query: uri.query(),
            headers: &headers,
            client_cert: &ClientCertificate::NotRequested,
        };
        match fixture
            .runtime
            .block_on(fixture.gate.decide(&view, NOW, &mut NoTrace))
        {
            Ok(grant) => methods.insert(grant.method.label()),
            Err(denial) => reasons.insert(denial.reason.as_str()),
        };
    }
    for method in ["jwt", "e2e_bypass", "anonymous"] {
        assert!(
            methods.contains(method),
            "no seed admitted by {method}: {methods:?}"
        );
    }
    assert!(reasons.len() >= 6, "seeds reach only {reasons:?}");
}
