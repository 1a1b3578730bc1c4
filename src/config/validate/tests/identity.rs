//! Identity headers.

use super::*;

#[test]
fn identity_headers_keep_order_and_refuse_reserved_names() {
    let config = parse(&format!(
        "{MINIMAL}\n[identity.claim_headers]\n\"X-Auth-Email\" = \"email\"\n\"X-Auth-Tenant\" = \"tid\""
    ));
    let names: Vec<_> = config
        .identity
        .claim_headers
        .iter()
        .map(|(h, c)| (h.as_str(), c.as_str()))
        .collect();
    assert_eq!(names, [("x-auth-email", "email"), ("x-auth-tenant", "tid")]);

    let errors = problems(
        "[identity]\nuser_header = \"X-Forwarded-User\"\nmethod_header = \"Sec-WebSocket-Key\"\n[identity.claim_headers]\n\"Authorization\" = \"sub\"\n\"Bad Header\" = \"x\"\n\"X_Forwarded_Host\" = \"h\"",
    );
    assert_has(&errors, "identity.user_header", "reserved");
    assert_has(&errors, "identity.method_header", "reserved");
    assert_has(
        &errors,
        "identity.claim_headers.\"Authorization\"",
        "reserved",
    );
    assert_has(
        &errors,
        "identity.claim_headers.\"Bad Header\"",
        "not a valid HTTP header name",
    );
    assert_has(
        &errors,
        "identity.claim_headers.\"X_Forwarded_Host\"",
        "reserved",
    );
}

#[test]
fn identity_headers_collide_after_alias_folding() {
    let errors = problems(
        "[identity.claim_headers]\n\"x_auth_user\" = \"email\"\n\"X.Auth.Method\" = \"amr\"",
    );
    assert_has(
        &errors,
        "identity.claim_headers.\"x_auth_user\"",
        "identity.user_header",
    );
    assert_has(
        &errors,
        "identity.claim_headers.\"X.Auth.Method\"",
        "identity.method_header",
    );
}

#[test]
fn inbound_headers_cannot_be_identity_headers() {
    let errors = problems(
        "[e2e_bypass]\nuser_header = \"X-Auth-User\"\n[auth]\ntoken_sources = [\"header:X_Auth_Method\"]",
    );
    assert_has(&errors, "e2e_bypass.user_header", "identity.user_header");
    assert_has(&errors, "auth.token_sources[0]", "identity.method_header");
}
