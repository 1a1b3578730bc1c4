//! `wsgate mint`: sign a test token with a configured issuer; refused in production.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jsonwebtoken::{EncodingKey, Header};

use crate::config::{Config, KeySource, PRODUCTION};

#[derive(clap::Args)]
pub struct MintArgs {
    /// Config file (TOML).
    #[arg(long, env = "WSGATE_CONFIG")]
    pub config: PathBuf,
    /// The configured issuer name (`[[auth.issuers]] name`).
    #[arg(long)]
    pub issuer: String,
    #[arg(long)]
    pub sub: String,
    /// Lifetime, e.g. `15m`, `1h`.
    #[arg(long, default_value = "15m")]
    pub ttl: String,
    /// Audience (default: the issuer's first configured audience).
    #[arg(long)]
    pub aud: Option<String>,
    /// Extra claim `name=value`; a JSON value is used as JSON, anything else as a string.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    pub claims: Vec<String>,
    /// PEM private key for RS*/PS*/ES*/EdDSA issuers.
    #[arg(long)]
    pub private_key: Option<PathBuf>,
}

/// `wsgate mint`: prints a signed test token; refused when `environment = "production"`.
pub fn mint(args: &MintArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("wsgate mint: {message}");
        ExitCode::from(2)
    };
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    if config.environment == PRODUCTION {
        eprintln!(
            "wsgate mint: refused: environment is \"production\"; mint signs test tokens only"
        );
        return ExitCode::FAILURE;
    }
    let Some(issuer) = config.auth.issuers.iter().find(|i| i.name == args.issuer) else {
        let names: Vec<&str> = config
            .auth
            .issuers
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        return fail(format!(
            "no issuer named {:?}; configured: {names:?}",
            args.issuer
        ));
    };
    if !issuer.enabled {
        // Its secret was never read here: signing would use an empty key, and the proxy
        // would answer issuer_unknown anyway.
        return fail(format!(
            "issuer {:?} is not enabled in environment {:?} (environments {:?}); its tokens would get issuer_unknown here",
            issuer.name, config.environment, issuer.environments
        ));
    }
    let ttl = match humantime::parse_duration(&args.ttl) {
        Ok(ttl) => ttl,
        Err(error) => return fail(format!("--ttl {:?}: {error}", args.ttl)),
    };
    let Some(&algorithm) = issuer.algorithms.first() else {
        return fail(format!("issuer {:?} has no algorithms", issuer.name));
    };
    let (key, kid) = match (&issuer.keys, &args.private_key) {
        (KeySource::Secret { secret, kid }, _) => {
            (EncodingKey::from_secret(secret.expose()), kid.clone())
        }
        (KeySource::PublicKeyFile { kid, .. }, Some(path)) => match private_key(path, algorithm) {
            Ok(key) => (key, kid.clone()),
            Err(message) => return fail(message),
        },
        (KeySource::JwksFile { .. } | KeySource::Remote(_), Some(path)) => {
            match private_key(path, algorithm) {
                Ok(key) => (key, None),
                Err(message) => return fail(message),
            }
        }
        (_, None) => {
            return fail(format!(
                "issuer {:?} verifies with a public key; pass --private-key FILE to sign",
                issuer.name
            ));
        }
    };
    let now = crate::domain::clock::unix_now();
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), issuer.issuer.clone().into());
    claims.insert("sub".into(), args.sub.clone().into());
    if let Some(aud) = args
        .aud
        .clone()
        .or_else(|| issuer.audiences.first().cloned())
    {
        claims.insert("aud".into(), aud.into());
    }
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + ttl.as_secs()).into());
    for claim in &args.claims {
        let Some((name, value)) = claim.split_once('=') else {
            return fail(format!("--claim {claim:?} is not name=value"));
        };
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        claims.insert(name.to_owned(), value);
    }
    let mut header = Header::new(algorithm);
    header.kid = kid;
    if let Some(typ) = &issuer.typ {
        header.typ = Some(typ.clone());
    }
    match jsonwebtoken::encode(&header, &claims, &key) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(format!("signing failed: {error}")),
    }
}

fn private_key(path: &Path, algorithm: jsonwebtoken::Algorithm) -> Result<EncodingKey, String> {
    use jsonwebtoken::{Algorithm, AlgorithmFamily};
    let pem = std::fs::read(path).map_err(|e| format!("--private-key {}: {e}", path.display()))?;
    let family = match algorithm {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => AlgorithmFamily::Rsa,
        Algorithm::ES256 | Algorithm::ES384 => AlgorithmFamily::Ec,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        _ => AlgorithmFamily::Hmac,
    };
    let key = match family {
        AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&pem),
        AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&pem),
        AlgorithmFamily::Ed => EncodingKey::from_ed_pem(&pem),
        AlgorithmFamily::Hmac => {
            return Err("an HMAC issuer signs with its configured secret".into());
        }
    };
    key.map_err(|e| {
        format!(
            "--private-key {}: not a {family:?} private key PEM: {e}",
            path.display()
        )
    })
}
