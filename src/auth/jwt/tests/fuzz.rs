//! Random input (docs/security-cases.md E5): deterministic fuzz-ish checks.

use super::*;

/// xorshift64*: deterministic, dependency-free randomness for the fuzz-ish tests.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_input_never_panics_and_is_never_accepted() {
    // E5
    let gate = Gate::hs256();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let alphabet: Vec<char> =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n\0é€{}\""
            .chars()
            .collect();
    for _ in 0..3000 {
        let len = rng.below(200);
        let token: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        assert!(gate.verify(&token).is_err(), "{token:?}");
    }
    // Random JSON-ish segments that decode fine, and single-character mutations of a
    // valid token: refused, whatever the reason, never a panic.
    let pieces = [
        "{",
        "}",
        "[",
        "]",
        "\"alg\"",
        "\"HS256\"",
        ":",
        ",",
        "\"exp\"",
        "1e400",
        "-1",
        "null",
        "\"iss\"",
        "\"\\u0000\"",
        "\u{FEFF}",
    ];
    for _ in 0..2000 {
        let segment = |rng: &mut Rng| -> String {
            let n = rng.below(12);
            (0..n).map(|_| pieces[rng.below(pieces.len())]).collect()
        };
        let (header, payload) = (segment(&mut rng), segment(&mut rng));
        assert!(
            gate.verify(&hs_raw(&header, &payload)).is_err(),
            "{header} {payload}"
        );
    }
    let valid = hs(claims());
    assert!(gate.verify(&valid).is_ok());
    let bytes: Vec<char> = valid.chars().collect();
    for _ in 0..2000 {
        let mut mutated = bytes.clone();
        let at = rng.below(mutated.len());
        let replacement = alphabet[rng.below(alphabet.len())];
        if mutated[at] == replacement {
            continue;
        }
        mutated[at] = replacement;
        let token: String = mutated.into_iter().collect();
        assert!(gate.verify(&token).is_err(), "mutation accepted: {token:?}");
    }
}
