//! `Config::files`: every file a configuration read, for the reload watcher.

use super::*;

#[test]
fn every_file_the_configuration_read_is_listed() {
    let dir = TempDir::new();
    let secret = dir.write("jwt.secret", SECRET.as_bytes());
    let bypass = dir.write("bypass.key", KEY.as_bytes());
    let pem = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ec256.pub.pem");
    let jwks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwks.json");
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/localhost.crt.pem");
    dir.write("cert.pem", b"-");
    dir.write("key.pem", b"-");
    let text = format!(
        r#"environment = "staging"
[server.tls]
cert_file = "cert.pem"
key_file = "key.pem"
[upstream]
url = "wss://app.internal"
ca_file = {ca:?}
[[auth.issuers]]
name = "hmac"
issuer = "https://a"
algorithms = ["HS256"]
secret = {{ file = "jwt.secret" }}
[[auth.issuers]]
name = "pem"
issuer = "https://b"
algorithms = ["ES256"]
public_key_file = {pem:?}
[[auth.issuers]]
name = "jwks"
issuer = "https://c"
algorithms = ["RS256"]
jwks_file = {jwks:?}
[[auth.issuers]]
name = "elsewhere"
issuer = "https://d"
algorithms = ["HS256"]
secret = {{ file = "not-read-here.secret" }}
environments = ["production"]
[e2e_bypass]
enabled = true
keys = [{{ name = "ci", secret = {{ file = "bypass.key" }} }}]
"#
    );
    let config = match parse_in(&text, &[], &dir.0) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let mut expected = vec![
        secret,
        bypass,
        pem,
        jwks,
        ca,
        dir.0.join("cert.pem"),
        dir.0.join("key.pem"),
    ];
    expected.sort();
    assert_eq!(config.files(), expected);
}
