//! What wsgate reads from an X.509 certificate: when it expires (`notAfter`, for
//! `wsgate_tls_certificate_expiry_timestamp_seconds`) and, for a verified client
//! certificate, the identity it names.
//!
//! Parsed with `x509-cert` (RustCrypto), whose DER layer (`der`, `spki`, `const-oid`) is
//! already in the tree through jsonwebtoken: the crate adds only its derive macro and
//! `flagset`, where x509-parser would bring nom, asn1-rs and der-parser.

use x509_cert::Certificate;
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
use x509_cert::der::{Decode, Tag, Tagged, oid::ObjectIdentifier};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// id-at-commonName (RFC 4519).
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// id-ce-subjectAltName (RFC 5280 §4.2.1.6).
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// `notAfter` as unix seconds; `None` if `der` is not a certificate.
pub fn not_after(der: &[u8]) -> Option<u64> {
    let certificate = Certificate::from_der(der).ok()?;
    Some(
        certificate
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs(),
    )
}

/// The identity a client certificate names: the subject's common name, or, without one,
/// the first DNS, URI or email subject alternative name, in certificate order. `None`
/// when it names none of these (or is not a certificate).
pub fn identity(der: &[u8]) -> Option<String> {
    let certificate = Certificate::from_der(der).ok()?;
    let tbs = &certificate.tbs_certificate;
    let common_name = tbs
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|attribute| attribute.oid == COMMON_NAME)
        .and_then(|attribute| text(&attribute.value));
    if common_name.is_some() {
        return common_name;
    }
    let names = tbs
        .extensions
        .as_ref()?
        .iter()
        .find(|extension| extension.extn_id == SUBJECT_ALT_NAME)
        .and_then(|extension| SubjectAltName::from_der(extension.extn_value.as_bytes()).ok())?;
    names.0.iter().find_map(|name| match name {
        GeneralName::DnsName(name)
        | GeneralName::UniformResourceIdentifier(name)
        | GeneralName::Rfc822Name(name) => Some(name.as_str().to_owned()),
        _ => None,
    })
}

/// A directory string as text (UTF8String, PrintableString or IA5String).
fn text(value: &x509_cert::der::Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::PrintableString => PrintableStringRef::try_from(value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::Ia5String => Ia5StringRef::try_from(value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(params: rcgen::CertificateParams) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("key");
        params
            .self_signed(&key)
            .expect("certificate")
            .der()
            .to_vec()
    }

    #[test]
    fn not_after_is_read_in_unix_seconds() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        // 2031-05-17T00:00:00Z
        assert_eq!(not_after(&certificate(params)), Some(1_936_742_400));
        assert_eq!(not_after(b"not a certificate"), None);
    }

    #[test]
    fn the_common_name_wins_then_the_first_san() {
        let mut params = rcgen::CertificateParams::new(vec!["svc.example".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        assert_eq!(identity(&certificate(params)).as_deref(), Some("alice"));

        let mut params = rcgen::CertificateParams::new(vec!["svc.example".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        assert_eq!(
            identity(&certificate(params)).as_deref(),
            Some("svc.example")
        );

        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.subject_alt_names = vec![rcgen::SanType::URI(
            "spiffe://cluster/ns/chat/sa/worker".try_into().unwrap(),
        )];
        assert_eq!(
            identity(&certificate(params)).as_deref(),
            Some("spiffe://cluster/ns/chat/sa/worker")
        );
    }
}
