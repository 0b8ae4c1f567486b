//! Reading certificates, keys, CSRs and CRLs, as `fedca inspect` shows them.
//!
//! Input is PEM (any number of blocks) or a single DER object. Every object found is
//! described with the fields a person checking a federation certificate needs: names,
//! validity with the time left, key type and size, signature algorithm, constraints,
//! usages, key identifiers and the SHA-256 fingerprint. Private keys are described by
//! type and size only: no key material is ever read out or printed.
//!
//! ```
//! use fedca::inspect::{inspect_bytes, Object};
//!
//! let pem = rcgen::generate_simple_self_signed(vec!["hs1.fed.test".to_string()])
//!     .unwrap()
//!     .cert
//!     .pem();
//! let objects = inspect_bytes(pem.as_bytes()).unwrap();
//! match &objects[0] {
//!     Object::Certificate(c) => assert_eq!(c.names, ["DNS:hs1.fed.test"]),
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::path::Path;

use ::time::OffsetDateTime;
use serde::Serialize;
use x509_parser::der_parser::ber::BerObjectContent;
use x509_parser::prelude::*;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{Error, Field, Result};
use crate::lint::{self, Finding, Role};
use crate::x509::{
    authority_key_id, colon_hex, curve_desc, der_seq, dn_text, eku_names, fixed_size_key,
    general_name_text, key_desc, key_usage_names, oids, parse_cert, pem_blocks, san_names,
    sig_alg_name, subject_key_id, subtree_text, time_left, time_text, uint_bits, Block,
};

pub use crate::x509::KeyDesc;

/// One object found in a file.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Object {
    /// An X.509 certificate.
    Certificate(Box<CertInfo>),
    /// A private key (type and size only).
    PrivateKey(KeyInfo),
    /// A public key (SubjectPublicKeyInfo).
    PublicKey(KeyDesc),
    /// A PKCS#10 certificate signing request.
    Csr(CsrInfo),
    /// A certificate revocation list.
    Crl(CrlInfo),
}

/// basicConstraints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BasicConstraintsInfo {
    /// CA:TRUE.
    pub ca: bool,
    /// pathLenConstraint, when present.
    pub path_len: Option<u32>,
    /// Whether the extension is critical.
    pub critical: bool,
}

/// nameConstraints, as `DNS:fed.test`, `IP:10.0.0.0/8` texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameConstraintsInfo {
    /// Permitted subtrees.
    pub permitted: Vec<String>,
    /// Excluded subtrees.
    pub excluded: Vec<String>,
}

/// Everything `fedca inspect` shows about a certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    /// Subject DN (RFC 4514 style).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, lower-case hex without leading zeros.
    pub serial: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// The time left, in words, as of the moment of inspection.
    pub time_left: String,
    /// subjectAltNames: `DNS:x`, `IP:y`, `email:z`, `URI:u`, ...
    pub names: Vec<String>,
    /// The subject key.
    pub key: KeyDesc,
    /// The signature algorithm (`ecdsa-with-SHA256`, ...).
    pub signature_algorithm: String,
    /// basicConstraints, when present.
    pub basic_constraints: Option<BasicConstraintsInfo>,
    /// keyUsage bits (`digitalSignature`, `keyCertSign`, ...); `None` when absent.
    pub key_usage: Option<Vec<String>>,
    /// extendedKeyUsage purposes (`serverAuth`, `clientAuth`, ...); `None` when absent.
    pub extended_key_usage: Option<Vec<String>>,
    /// nameConstraints, when present.
    pub name_constraints: Option<NameConstraintsInfo>,
    /// authorityKeyIdentifier keyIdentifier, colon hex.
    pub authority_key_id: Option<String>,
    /// subjectKeyIdentifier, colon hex.
    pub subject_key_id: Option<String>,
    /// Whether the issuer DN equals the subject DN.
    pub self_issued: bool,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// Lint findings (only with `--lint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lint: Option<Vec<Finding>>,
}

/// A private key, described without its material.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    /// The container: `pkcs8`, `sec1`, `pkcs1`, `encrypted-pkcs8`.
    pub format: String,
    /// The key's type and size (`None` for an encrypted key).
    pub key: Option<KeyDesc>,
}

/// A certificate signing request.
#[derive(Debug, Clone, Serialize)]
pub struct CsrInfo {
    /// Subject DN.
    pub subject: String,
    /// Requested subjectAltNames.
    pub names: Vec<String>,
    /// The key to be certified.
    pub key: KeyDesc,
    /// The signature algorithm.
    pub signature_algorithm: String,
    /// Whether the self-signature verifies.
    pub signature_valid: bool,
}

/// A certificate revocation list.
#[derive(Debug, Clone, Serialize)]
pub struct CrlInfo {
    /// Issuer DN.
    pub issuer: String,
    /// thisUpdate, RFC 3339.
    pub this_update: String,
    /// nextUpdate, RFC 3339, when present.
    pub next_update: Option<String>,
    /// The CRL number, when present.
    pub crl_number: Option<String>,
    /// Serials of the revoked certificates, lower-case hex.
    pub revoked: Vec<String>,
    /// The signature algorithm.
    pub signature_algorithm: String,
}

/// Reads a file and describes every object in it.
///
/// An unreadable file, or one holding nothing fedca recognises, is bad input
/// ([`Error::InvalidValue`], exit code 2).
pub fn inspect_file(path: &Path) -> Result<Vec<Object>> {
    let bytes = crate::store::read_input(path, Field::InputFile)?;
    inspect_bytes(&bytes).map_err(|rule| {
        Error::invalid(
            Field::InputFile,
            path.display().to_string(),
            rule.to_string(),
        )
    })
}

/// Describes every object in PEM or DER bytes; the error says why nothing could be read.
pub fn inspect_bytes(bytes: &[u8]) -> std::result::Result<Vec<Object>, String> {
    let blocks = pem_blocks(bytes)?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        match describe_block(b) {
            Ok(o) => out.push(o),
            Err(e) => problems.push(format!("block {} ({}): {e}", i + 1, b.tag)),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(out)
}

/// Applies the lint rules to one certificate, choosing leaf or CA rules from its
/// contents (see [`role_of`]).
pub fn lint_certificate(der: &[u8]) -> Vec<Finding> {
    let role = match X509Certificate::from_der(der) {
        Ok((_, c)) => role_of(&c),
        Err(_) => Role::Leaf,
    };
    lint::lint(der, role)
}

/// Whether a certificate is meant as a CA or as a leaf: a CA:TRUE certificate is a CA
/// unless it carries the marks of a server certificate (subjectAltNames or the
/// serverAuth purpose) and is not self-issued — a server certificate wrongly marked
/// CA:TRUE is linted as the leaf it is meant to be.
pub fn role_of(cert: &X509Certificate<'_>) -> Role {
    if !cert.is_ca() {
        return Role::Leaf;
    }
    let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
    let has_san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .is_some_and(|s| !s.value.general_names.is_empty());
    let server_auth = cert
        .extended_key_usage()
        .ok()
        .flatten()
        .is_some_and(|e| e.value.server_auth);
    if !self_issued && (has_san || server_auth) {
        Role::Leaf
    } else {
        Role::Ca
    }
}

fn describe_block(b: &Block) -> std::result::Result<Object, String> {
    match b.tag.as_str() {
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
            parse_cert(&b.der).map(|c| Object::Certificate(Box::new(cert_info(&c, &b.der))))
        }
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => csr_info(&b.der).map(Object::Csr),
        "X509 CRL" => crl_info(&b.der).map(Object::Crl),
        "PRIVATE KEY" => pkcs8_info(&b.der).map(Object::PrivateKey),
        "EC PRIVATE KEY" => sec1_info(&b.der).map(Object::PrivateKey),
        "RSA PRIVATE KEY" => pkcs1_info(&b.der).map(Object::PrivateKey),
        "ENCRYPTED PRIVATE KEY" => Ok(Object::PrivateKey(KeyInfo {
            format: "encrypted-pkcs8".into(),
            key: None,
        })),
        "PUBLIC KEY" => SubjectPublicKeyInfo::from_der(&b.der)
            .map(|(_, spki)| Object::PublicKey(key_desc(&spki)))
            .map_err(|e| format!("not a public key: {e}")),
        "DER" => {
            if let Ok(c) = parse_cert(&b.der) {
                return Ok(Object::Certificate(Box::new(cert_info(&c, &b.der))));
            }
            if let Ok(c) = csr_info(&b.der) {
                return Ok(Object::Csr(c));
            }
            if let Ok(c) = crl_info(&b.der) {
                return Ok(Object::Crl(c));
            }
            if let Ok(k) = pkcs8_info(&b.der) {
                return Ok(Object::PrivateKey(k));
            }
            if let Ok((rest, spki)) = SubjectPublicKeyInfo::from_der(&b.der) {
                if rest.is_empty() {
                    return Ok(Object::PublicKey(key_desc(&spki)));
                }
            }
            Err("DER that is not a certificate, CSR, CRL, PKCS#8 key or public key".into())
        }
        other => Err(format!("fedca does not read {other:?} blocks")),
    }
}

/// Describes a parsed certificate.
pub(crate) fn cert_info(c: &X509Certificate<'_>, der: &[u8]) -> CertInfo {
    let v = c.validity();
    let bc = c
        .basic_constraints()
        .ok()
        .flatten()
        .map(|e| BasicConstraintsInfo {
            ca: e.value.ca,
            path_len: e.value.path_len_constraint,
            critical: e.critical,
        });
    let key_usage = c
        .key_usage()
        .ok()
        .flatten()
        .map(|e| key_usage_names(e.value));
    let extended_key_usage = c
        .extended_key_usage()
        .ok()
        .flatten()
        .map(|e| eku_names(e.value));
    let name_constraints = c.name_constraints().ok().flatten().map(|e| {
        let texts = |s: &Option<Vec<GeneralSubtree<'_>>>| {
            s.as_ref()
                .map(|v| v.iter().map(|t| subtree_text(&t.base)).collect())
                .unwrap_or_default()
        };
        NameConstraintsInfo {
            permitted: texts(&e.value.permitted_subtrees),
            excluded: texts(&e.value.excluded_subtrees),
        }
    });
    CertInfo {
        subject: dn_text(c.subject()),
        issuer: dn_text(c.issuer()),
        serial: crate::x509::serial_hex(c.raw_serial()),
        not_before: time_text(v.not_before),
        not_after: time_text(v.not_after),
        time_left: time_left(
            v.not_before.timestamp(),
            v.not_after.timestamp(),
            OffsetDateTime::now_utc().unix_timestamp(),
        ),
        names: san_names(c),
        key: key_desc(c.public_key()),
        signature_algorithm: sig_alg_name(&c.signature_algorithm.algorithm),
        basic_constraints: bc,
        key_usage,
        extended_key_usage,
        name_constraints,
        authority_key_id: authority_key_id(c).map(|k| colon_hex(&k)),
        subject_key_id: subject_key_id(c).map(|k| colon_hex(&k)),
        self_issued: c.subject().as_raw() == c.issuer().as_raw(),
        sha256: crate::x509::sha256_hex(der),
        lint: None,
    }
}

fn csr_info(der: &[u8]) -> std::result::Result<CsrInfo, String> {
    let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes after the CSR".into());
    }
    let info = &csr.certification_request_info;
    let mut names = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            if let ParsedExtension::SubjectAlternativeName(s) = e {
                names.extend(s.general_names.iter().map(general_name_text));
            }
        }
    }
    Ok(CsrInfo {
        subject: dn_text(&info.subject),
        names,
        key: key_desc(&info.subject_pki),
        signature_algorithm: sig_alg_name(&csr.signature_algorithm.algorithm),
        signature_valid: csr.verify_signature().is_ok(),
    })
}

fn crl_info(der: &[u8]) -> std::result::Result<CrlInfo, String> {
    let (rest, crl) = CertificateRevocationList::from_der(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes after the CRL".into());
    }
    Ok(CrlInfo {
        issuer: dn_text(crl.issuer()),
        this_update: time_text(crl.last_update()),
        next_update: crl.next_update().map(time_text),
        crl_number: crl.crl_number().map(|n| n.to_str_radix(16)),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| crate::x509::serial_hex(&r.serial().to_bytes_be()))
            .collect(),
        signature_algorithm: sig_alg_name(&crl.signature_algorithm.algorithm),
    })
}

fn pkcs8_info(der: &[u8]) -> std::result::Result<KeyInfo, String> {
    let items = der_seq(der)?;
    let (Some(alg), Some(key)) = (items.get(1), items.get(2)) else {
        return Err("not a PKCS#8 PrivateKeyInfo".into());
    };
    let alg_items = alg.as_sequence().map_err(|e| e.to_string())?;
    let oid = alg_items
        .first()
        .and_then(|o| o.as_oid().ok())
        .map(|o| o.to_id_string())
        .ok_or("no algorithm OID")?;
    let octets = key.as_slice().map_err(|e| e.to_string())?;
    let desc = match oid.as_str() {
        oids::RSA | oids::RSA_PSS => {
            let inner = der_seq(octets)?;
            let modulus = inner
                .get(1)
                .and_then(|m| m.as_slice().ok())
                .ok_or("no RSA modulus")?;
            KeyDesc {
                key_type: if oid == oids::RSA { "rsa" } else { "rsa-pss" }.into(),
                bits: uint_bits(modulus),
            }
        }
        oids::EC => {
            let curve = alg_items
                .get(1)
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let inner = der_seq(octets).ok();
            let fallback = inner
                .as_ref()
                .and_then(|i| i.get(1))
                .and_then(|p| p.as_slice().ok())
                .map_or(0, |p| p.len() as u32 * 8);
            curve_desc(curve.as_deref(), fallback)
        }
        other => fixed_size_key(other).unwrap_or_else(|| KeyDesc {
            key_type: other.to_string(),
            bits: 0,
        }),
    };
    Ok(KeyInfo {
        format: "pkcs8".into(),
        key: Some(desc),
    })
}

fn sec1_info(der: &[u8]) -> std::result::Result<KeyInfo, String> {
    let items = der_seq(der)?;
    let private = items
        .get(1)
        .and_then(|p| p.as_slice().ok())
        .ok_or("not an RFC 5915 ECPrivateKey")?;
    // The optional [0] parameters hold the curve OID.
    let curve = items.iter().skip(2).find_map(|o| {
        if o.header.class() != x509_parser::asn1_rs::Class::ContextSpecific || o.header.tag().0 != 0
        {
            return None;
        }
        let data = match &o.content {
            BerObjectContent::Unknown(any) => any.data,
            _ => return None,
        };
        x509_parser::der_parser::parse_der(data)
            .ok()
            .and_then(|(_, oid)| oid.as_oid().ok().map(|x| x.to_id_string()))
    });
    Ok(KeyInfo {
        format: "sec1".into(),
        key: Some(curve_desc(curve.as_deref(), private.len() as u32 * 8)),
    })
}

fn pkcs1_info(der: &[u8]) -> std::result::Result<KeyInfo, String> {
    let items = der_seq(der)?;
    let modulus = items
        .get(1)
        .and_then(|m| m.as_slice().ok())
        .ok_or("not a PKCS#1 RSAPrivateKey")?;
    Ok(KeyInfo {
        format: "pkcs1".into(),
        key: Some(KeyDesc {
            key_type: "rsa".into(),
            bits: uint_bits(modulus),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_described_without_material() {
        for (alg, want) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, "ecdsa-p256 (256 bits)"),
            (&rcgen::PKCS_ECDSA_P384_SHA384, "ecdsa-p384 (384 bits)"),
            (&rcgen::PKCS_ED25519, "ed25519 (256 bits)"),
        ] {
            let k = rcgen::KeyPair::generate_for(alg).unwrap();
            let objs = inspect_bytes(k.serialize_pem().as_bytes()).unwrap();
            match &objs[0] {
                Object::PrivateKey(info) => {
                    assert_eq!(info.key.as_ref().unwrap().to_string(), want)
                }
                o => panic!("{o:?}"),
            }
            let json = serde_json::to_string(&objs).unwrap();
            assert!(!json.contains(&k.serialize_pem()[30..60]));
        }
    }
}
