//! TEMPORARY STUB (replaced by the jwt branch).
use crate::config::IssuerConfig;
pub struct VerifyKey {
    pub kid: Option<String>,
    pub algorithm: jsonwebtoken::Algorithm,
    pub key: jsonwebtoken::DecodingKey,
    pub fingerprint: String,
    pub description: String,
}
pub struct IssuerKeys {
    pub keys: Vec<VerifyKey>,
    pub warnings: Vec<String>,
}
pub fn load(_issuer: &IssuerConfig) -> Result<IssuerKeys, Vec<String>> {
    Err(vec!["stub".into()])
}
