//! The one header-name folding rule: how CGI, WSGI, PHP and nginx merge `X-Auth-User`,
//! `X_Auth_User` and `x.auth.user` into one variable (`HTTP_X_AUTH_USER`). Config
//! validation uses it to refuse names that collide once folded; the upstream request
//! uses it to strip every spelling of a protected header a client sends.

/// Lowercase, with every byte that is not a letter or digit turned into `-`.
pub fn fold(name: &str) -> String {
    name.bytes().map(|b| char::from(fold_byte(b))).collect()
}

/// Whether `name` folds to `folded`, without allocating.
pub fn folds_to(name: &str, folded: &str) -> bool {
    name.len() == folded.len()
        && name
            .bytes()
            .zip(folded.bytes())
            .all(|(a, b)| fold_byte(a) == b)
}

fn fold_byte(b: u8) -> u8 {
    if b.is_ascii_alphanumeric() {
        b.to_ascii_lowercase()
    } else {
        b'-'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_fold_to_the_same_name() {
        for alias in [
            "X_Auth_User",
            "x.auth.user",
            "X~Auth~User",
            "X+AUTH+USER",
            "x!auth!user",
        ] {
            assert_eq!(fold(alias), "x-auth-user", "{alias}");
            assert!(folds_to(alias, "x-auth-user"), "{alias}");
        }
        assert!(!folds_to("x-auth-users", "x-auth-user"));
        assert!(!folds_to("x-auth-use", "x-auth-user"));
        assert!(!folds_to("x-auth-usar", "x-auth-user"));
    }
}
