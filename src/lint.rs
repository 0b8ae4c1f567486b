//! Lint rules every fedca certificate meets before it is written.
//!
//! The rules come from RFC 5280, the Matrix specification and MSC1711 (a SAN the
//! verifier can match, serverAuth, names that are valid Matrix hostnames and v3
//! `.onion` addresses), and the parts of the CA/Browser Forum baseline that make sense
//! for a private CA (positive serials with at least 64 bits of entropy, key strength —
//! RSA ≥ 2048, ECDSA P-256/P-384, Ed25519 —, sane validity). `fedca inspect --lint`
//! applies the same rules to any certificate.
//! The issuance path runs [`check_leaf`] on every leaf and [`check_root`] on every
//! root after signing and before anything is written: a certificate that fails is
//! never written.

use std::fmt;

use rustls::pki_types::{CertificateDer, ServerName as PkiServerName, UnixTime};
use x509_parser::prelude::*;

use crate::error::{Error, Result};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// A stable identifier of the rule (`san_present`, `serial_entropy`, ...).
    pub rule: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule, self.message)
    }
}

/// Whether a certificate is meant to be a leaf or a CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A homeserver's certificate.
    Leaf,
    /// A root or intermediate.
    Ca,
}

/// Applies the structural rules for `role` to a DER certificate.
pub fn lint(der: &[u8], role: Role) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |rule: &'static str, message: String| out.push(Finding { rule, message });
    let cert = match X509Certificate::from_der(der) {
        Ok(([], c)) => c,
        Ok(_) => {
            add("der", "trailing bytes after the certificate".into());
            return out;
        }
        Err(e) => {
            add("der", format!("not a DER certificate: {e}"));
            return out;
        }
    };
    if cert.version() != X509Version::V3 {
        add(
            "version",
            format!("version is {:?}, must be v3", cert.version()),
        );
    }
    let serial = cert.raw_serial();
    let magnitude: &[u8] = match serial.iter().position(|b| *b != 0) {
        Some(i) => &serial[i..],
        None => &[],
    };
    if serial.first().is_some_and(|b| b & 0x80 != 0) || magnitude.is_empty() {
        add(
            "serial_positive",
            "the serial number must be positive".into(),
        );
    }
    if magnitude.len() < 8 {
        add(
            "serial_entropy",
            format!(
                "the serial has {} bytes; at least 64 bits of randomness are required",
                magnitude.len()
            ),
        );
    }
    if serial.len() > 20 {
        add(
            "serial_length",
            "the serial is longer than 20 octets".into(),
        );
    }
    let v = cert.validity();
    if v.not_before >= v.not_after {
        add("validity_order", "notBefore is not before notAfter".into());
    }
    let (nb, na) = (v.not_before.timestamp(), v.not_after.timestamp());
    if nb < SANE_NOT_BEFORE || na > SANE_NOT_AFTER {
        add(
            "validity_sane",
            format!(
                "validity {} to {} looks like a library placeholder (rcgen's default is 1975 to 4096): a certificate needs explicit dates after 2000 and before 2200",
                crate::x509::time_text(v.not_before),
                crate::x509::time_text(v.not_after)
            ),
        );
    }
    if let Some(problem) = key_strength(&cert) {
        add("key_strength", problem);
    }
    let sig = crate::x509::sig_alg_name(&cert.signature_algorithm.algorithm);
    if !crate::x509::SUPPORTED_SIGNATURES.contains(&sig.as_str()) {
        add(
            "signature_algorithm",
            format!("signed with {sig}; rustls, Go and GnuTLS accept only SHA-256 or better (ECDSA P-256/P-384, Ed25519, RSA PKCS#1 or PSS)"),
        );
    }
    let bc = cert
        .basic_constraints()
        .ok()
        .flatten()
        .map(|e| e.value.clone());
    let ku = cert.key_usage().ok().flatten().map(|e| *e.value);
    let has_ski = cert.extensions().iter().any(|e| {
        matches!(
            e.parsed_extension(),
            ParsedExtension::SubjectKeyIdentifier(_)
        )
    });
    if !has_ski {
        add("ski_present", "no subjectKeyIdentifier".into());
    }
    match role {
        Role::Ca => {
            if !bc.as_ref().is_some_and(|b| b.ca) {
                add(
                    "ca_basic_constraints",
                    "a CA needs basicConstraints CA:TRUE".into(),
                );
            }
            if !ku.as_ref().is_some_and(|k| k.key_cert_sign()) {
                add("ca_key_usage", "a CA needs keyUsage keyCertSign".into());
            }
        }
        Role::Leaf => {
            if bc.as_ref().is_some_and(|b| b.ca) {
                add("leaf_not_ca", "a leaf must not be CA:TRUE".into());
            }
            if !ku.as_ref().is_some_and(|k| k.digital_signature()) {
                add(
                    "leaf_key_usage",
                    "a TLS server leaf needs keyUsage digitalSignature".into(),
                );
            }
            let eku = cert
                .extended_key_usage()
                .ok()
                .flatten()
                .map(|e| e.value.clone());
            if !eku.as_ref().is_some_and(|e| e.server_auth || e.any) {
                add(
                    "leaf_server_auth",
                    "no serverAuth extended key usage".into(),
                );
            }
            let san_count = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .map_or(0, |s| s.value.general_names.len());
            if san_count == 0 {
                add(
                    "san_present",
                    "no subjectAltName: service_identity and webpki ignore the CN".into(),
                );
            }
            for (rule, message) in name_findings(&cert) {
                add(rule, message);
            }
            let has_aki = cert.extensions().iter().any(|e| {
                matches!(
                    e.parsed_extension(),
                    ParsedExtension::AuthorityKeyIdentifier(_)
                )
            });
            if !has_aki {
                add("aki_present", "no authorityKeyIdentifier".into());
            }
            let days = (v.not_after.timestamp() - v.not_before.timestamp()) / 86_400;
            if days > crate::validity::MAX_LEAF_DAYS {
                add(
                    "leaf_validity",
                    format!(
                        "valid for {days} days; a federation leaf should live at most {} days",
                        crate::validity::MAX_LEAF_DAYS
                    ),
                );
            }
        }
    }
    out
}

/// 2000-01-01T00:00:00Z: no fedca certificate starts earlier.
const SANE_NOT_BEFORE: i64 = 946_684_800;
/// 2200-01-01T00:00:00Z: no fedca certificate ends later (the longest root is 100 years).
const SANE_NOT_AFTER: i64 = 7_258_118_400;

/// RSA of at least 2048 bits, ECDSA on P-256 or P-384, or Ed25519: what every verifier
/// homeservers use accepts and considers strong enough.
fn key_strength(cert: &X509Certificate<'_>) -> Option<String> {
    let key = crate::x509::key_desc(cert.public_key());
    match key.key_type.as_str() {
        "ecdsa-p256" | "ecdsa-p384" | "ed25519" => None,
        "rsa" | "rsa-pss" if key.bits >= 2048 => None,
        "rsa" | "rsa-pss" => Some(format!(
            "an RSA key of {} bits; at least 2048 bits are required",
            key.bits
        )),
        other => Some(format!(
            "a {other} key; use ECDSA P-256 or P-384, Ed25519, or RSA of at least 2048 bits (what rustls, OpenSSL, GnuTLS and Go all accept)"
        )),
    }
}

/// Every DNS name must be a valid Matrix hostname (or a wildcard of one), every
/// `.onion` name a valid v3 address, every IP address 4 or 16 bytes.
fn name_findings(cert: &X509Certificate<'_>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return out;
    };
    for g in &san.value.general_names {
        match g {
            GeneralName::DNSName(d) => {
                if let Err(e) = crate::name::AltName::parse(d) {
                    let lower = d.to_ascii_lowercase();
                    let rule = if lower == "onion" || lower.ends_with(".onion") {
                        "onion_v3"
                    } else {
                        "matrix_hostname"
                    };
                    out.push((rule, format!("DNS name {d:?}: {}", e.rule())));
                }
            }
            GeneralName::IPAddress(b) if b.len() != 4 && b.len() != 16 => out.push((
                "ip_san",
                format!("an iPAddress name of {} bytes (must be 4 or 16)", b.len()),
            )),
            _ => {}
        }
    }
    out
}

fn fail(findings: Vec<Finding>) -> Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = findings.iter().map(Finding::to_string).collect();
    Err(Error::Lint(text.join("; ")))
}

/// The root checks run by `init` before the root is written.
pub fn check_root(der: &[u8]) -> Result<()> {
    fail(lint(der, Role::Ca))?;
    // The root must be usable as a trust anchor by webpki.
    webpki::anchor_from_trusted_cert(&CertificateDer::from(der))
        .map_err(|e| Error::Lint(format!("webpki cannot use the root as a trust anchor: {e}")))?;
    Ok(())
}

/// What a leaf was signed to be, as [`check_leaf`] checks it: decided by the issuance
/// path ([`crate::issue::LeafProfile::lint_expectations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafExpectations {
    /// Every subjectAltName, as text (`hs1.fed.test`, `10.0.0.7`, `*.fed.test`).
    pub names: Vec<String>,
    /// Start of validity.
    pub not_before: ::time::OffsetDateTime,
    /// End of validity.
    pub not_after: ::time::OffsetDateTime,
}

/// The leaf checks run by issuance before anything is written: the structural rules,
/// the profile (every name present, validity inside the issuer's), and verification
/// through webpki exactly as a rustls federation client does it, for every name.
pub fn check_leaf(der: &[u8], root_der: &[u8], profile: &LeafExpectations) -> Result<()> {
    check_leaf_chain(der, root_der, &[], profile)
}

/// The intermediate checks run before an intermediate is written: the CA rules, and
/// webpki accepting it under the root.
pub fn check_intermediate(der: &[u8], root_der: &[u8]) -> Result<()> {
    fail(lint(der, Role::Ca))?;
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| Error::Lint(format!("the intermediate does not parse: {e}")))?;
    let (_, root) = X509Certificate::from_der(root_der)
        .map_err(|e| Error::Lint(format!("the root does not parse: {e}")))?;
    cert.verify_signature(Some(root.public_key()))
        .map_err(|e| {
            Error::Lint(format!(
                "the root's signature on the intermediate does not verify: {e}"
            ))
        })?;
    Ok(())
}

/// [`check_leaf`] for a leaf issued below `intermediates` (DER, leaf-side first).
pub fn check_leaf_chain(
    der: &[u8],
    root_der: &[u8],
    intermediates: &[Vec<u8>],
    profile: &LeafExpectations,
) -> Result<()> {
    let mut findings = lint(der, Role::Leaf);
    if let Ok((_, cert)) = X509Certificate::from_der(der) {
        let v = cert.validity();
        if v.not_before.timestamp() != profile.not_before.unix_timestamp()
            || v.not_after.timestamp() != profile.not_after.unix_timestamp()
        {
            findings.push(Finding {
                rule: "profile_validity",
                message: "the validity differs from the profile".into(),
            });
        }
    }
    fail(findings)?;

    let root = CertificateDer::from(root_der);
    let anchor = webpki::anchor_from_trusted_cert(&root)
        .map_err(|e| Error::Lint(format!("root is not a usable trust anchor: {e}")))?;
    let leaf = CertificateDer::from(der);
    let ee = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|e| Error::Lint(format!("webpki cannot parse the leaf: {e}")))?;
    let mid: ::time::OffsetDateTime =
        profile.not_before + (profile.not_after - profile.not_before) / 2;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(mid.unix_timestamp()).unwrap_or(0),
    ));
    ee.verify_for_usage(
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all,
        &[anchor],
        &intermediates
            .iter()
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect::<Vec<_>>(),
        at,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| Error::Lint(format!("webpki refuses the chain: {e}")))?;
    for name in &profile.names {
        let probe = name
            .strip_prefix("*.")
            .map(|b| format!("wildcard-probe.{b}"));
        let text = probe.as_deref().unwrap_or(name.as_str());
        let sn = PkiServerName::try_from(text)
            .map_err(|e| Error::Lint(format!("{name}: not a name webpki can check: {e}")))?;
        ee.verify_is_valid_for_subject_name(&sn).map_err(|e| {
            Error::Lint(format!("webpki says the leaf is not valid for {name}: {e}"))
        })?;
    }
    Ok(())
}
