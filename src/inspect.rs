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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ::time::OffsetDateTime;
use serde::Serialize;
use x509_parser::der_parser::ber::{BerObject, BerObjectContent};
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{Error, Result};
use crate::lint::{self, Finding, Role};

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

/// A key's algorithm and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyDesc {
    /// `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `ed25519`, `ed448`, `rsa`, `rsa-pss`,
    /// `dsa`, or the algorithm's OID when fedca does not know it.
    #[serde(rename = "type")]
    pub key_type: String,
    /// Size in bits (the modulus for RSA, the curve for EC), 0 when unknown.
    pub bits: u32,
}

impl std::fmt::Display for KeyDesc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.bits > 0 {
            write!(f, "{} ({} bits)", self.key_type, self.bits)
        } else {
            f.write_str(&self.key_type)
        }
    }
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
    let bytes = crate::store::read_input(path, "FILE")?;
    inspect_bytes(&bytes)
        .map_err(|rule| Error::invalid("FILE", path.display().to_string(), rule.to_string()))
}

/// Describes every object in PEM or DER bytes; the error says why nothing could be read.
pub fn inspect_bytes(bytes: &[u8]) -> std::result::Result<Vec<Object>, String> {
    let blocks = split_blocks(bytes)?;
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

/// One PEM block (or the whole DER input, tagged `DER`).
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) tag: String,
    pub(crate) der: Vec<u8>,
}

/// Splits PEM text into blocks, or takes the input as one DER object. Refuses empty
/// input, PEM blocks that are not closed or not base64, and input that is neither.
pub(crate) fn split_blocks(bytes: &[u8]) -> std::result::Result<Vec<Block>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the file is empty".into());
    }
    let begins = count(bytes, b"-----BEGIN ");
    if begins == 0 {
        if bytes.first() == Some(&0x30) {
            return Ok(vec![Block {
                tag: "DER".into(),
                der: bytes.to_vec(),
            }]);
        }
        return Err("neither PEM (no -----BEGIN line) nor DER".into());
    }
    let ends = count(bytes, b"-----END ");
    let blocks = ::pem::parse_many(bytes).map_err(|e| format!("bad PEM: {e}"))?;
    if blocks.len() != begins || ends != begins {
        return Err(format!(
            "bad PEM: {begins} BEGIN line(s) but {} complete block(s): a block is truncated or corrupt",
            blocks.len()
        ));
    }
    Ok(blocks
        .into_iter()
        .map(|b| Block {
            tag: b.tag().to_string(),
            der: b.into_contents(),
        })
        .collect())
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
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

/// Parses one DER certificate, refusing trailing bytes.
pub(crate) fn parse_cert(der: &[u8]) -> std::result::Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok(([], c)) => Ok(c),
        Ok(_) => Err("trailing bytes after the certificate".into()),
        Err(e) => Err(format!("not a DER X.509 certificate: {e}")),
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
        serial: crate::issue::serial_hex(c.raw_serial()),
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
        sha256: crate::ca::sha256_hex(der),
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
            .map(|r| crate::issue::serial_hex(&r.serial().to_bytes_be()))
            .collect(),
        signature_algorithm: sig_alg_name(&crl.signature_algorithm.algorithm),
    })
}

mod oids {
    pub const RSA: &str = "1.2.840.113549.1.1.1";
    pub const RSA_PSS: &str = "1.2.840.113549.1.1.10";
    pub const EC: &str = "1.2.840.10045.2.1";
    pub const P256: &str = "1.2.840.10045.3.1.7";
    pub const P384: &str = "1.3.132.0.34";
    pub const P521: &str = "1.3.132.0.35";
    pub const SECP256K1: &str = "1.3.132.0.10";
    pub const ED25519: &str = "1.3.101.112";
    pub const ED448: &str = "1.3.101.113";
    pub const X25519: &str = "1.3.101.110";
    pub const DSA: &str = "1.2.840.10040.4.1";
}

fn curve_desc(curve: Option<&str>, fallback_bits: u32) -> KeyDesc {
    let (t, bits) = match curve {
        Some(oids::P256) => ("ecdsa-p256", 256),
        Some(oids::P384) => ("ecdsa-p384", 384),
        Some(oids::P521) => ("ecdsa-p521", 521),
        Some(oids::SECP256K1) => ("ecdsa-secp256k1", 256),
        Some(other) => {
            return KeyDesc {
                key_type: format!("ecdsa (curve {other})"),
                bits: fallback_bits,
            }
        }
        None => {
            return KeyDesc {
                key_type: "ecdsa (unknown curve)".into(),
                bits: fallback_bits,
            }
        }
    };
    KeyDesc {
        key_type: t.into(),
        bits,
    }
}

/// Bit length of a big-endian unsigned integer.
fn uint_bits(bytes: &[u8]) -> u32 {
    match bytes.iter().position(|b| *b != 0) {
        None => 0,
        Some(i) => {
            let rest = &bytes[i..];
            (rest.len() as u32 - 1) * 8 + (8 - rest[0].leading_zeros())
        }
    }
}

/// Key types whose size the algorithm alone determines.
fn fixed_size_key(oid: &str) -> Option<KeyDesc> {
    let (key_type, bits) = match oid {
        oids::ED25519 => ("ed25519", 256),
        oids::ED448 => ("ed448", 456),
        oids::X25519 => ("x25519", 256),
        _ => return None,
    };
    Some(KeyDesc {
        key_type: key_type.into(),
        bits,
    })
}

/// Describes a public key.
pub(crate) fn key_desc(spki: &SubjectPublicKeyInfo<'_>) -> KeyDesc {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        oids::RSA | oids::RSA_PSS => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(k)) => uint_bits(k.modulus),
                _ => 0,
            };
            KeyDesc {
                key_type: if alg == oids::RSA { "rsa" } else { "rsa-pss" }.into(),
                bits,
            }
        }
        oids::EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let fallback = match spki.parsed() {
                Ok(PublicKey::EC(p)) => p.key_size() as u32,
                _ => 0,
            };
            curve_desc(curve.as_deref(), fallback)
        }
        oids::DSA => KeyDesc {
            key_type: "dsa".into(),
            bits: match spki.parsed() {
                Ok(PublicKey::DSA(y)) => uint_bits(y),
                _ => 0,
            },
        },
        other => fixed_size_key(other).unwrap_or_else(|| KeyDesc {
            key_type: other.to_string(),
            bits: 0,
        }),
    }
}

fn der_seq(der: &[u8]) -> std::result::Result<Vec<BerObject<'_>>, String> {
    let (_, obj) = x509_parser::der_parser::parse_der(der).map_err(|e| e.to_string())?;
    match obj.content {
        BerObjectContent::Sequence(items) => Ok(items),
        _ => Err("not a DER SEQUENCE".into()),
    }
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

/// A DN as text (`CN=hs1.fed.test, O=Example`), or `(empty)`.
pub(crate) fn dn_text(name: &X509Name<'_>) -> String {
    let t = name.to_string();
    if t.is_empty() {
        "(empty)".into()
    } else {
        t
    }
}

/// The name a person knows a certificate by: its CN, or its whole DN.
pub(crate) fn dn_label(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| dn_text(name))
}

/// RFC 3339 text of an ASN.1 time.
pub(crate) fn time_text(t: ASN1Time) -> String {
    crate::ca::rfc3339(t.to_datetime())
}

/// RFC 3339 text of a Unix time.
pub(crate) fn unix_text(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .map(crate::ca::rfc3339)
        .unwrap_or_else(|_| secs.to_string())
}

/// "expires in 89 days", "expired 3 days ago", "not valid for another 2 days".
pub(crate) fn time_left(not_before: i64, not_after: i64, now: i64) -> String {
    fn span(secs: i64) -> String {
        let secs = secs.abs();
        if secs >= 2 * 86_400 {
            format!("{} days", secs / 86_400)
        } else if secs >= 2 * 3600 {
            format!("{} hours", secs / 3600)
        } else if secs >= 120 {
            format!("{} minutes", secs / 60)
        } else {
            format!("{secs} seconds")
        }
    }
    if now < not_before {
        format!("not valid yet: starts in {}", span(not_before - now))
    } else if now > not_after {
        format!("expired {} ago", span(now - not_after))
    } else {
        format!("expires in {}", span(not_after - now))
    }
}

/// An IP address from its 4 or 16 SAN bytes.
pub(crate) fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// A general name as `DNS:x`, `IP:y`, ...
pub(crate) fn general_name_text(g: &GeneralName<'_>) -> String {
    match g {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(b) => match ip_from_bytes(b) {
            Some(ip) => format!("IP:{ip}"),
            None => format!("IP:<{} bytes>", b.len()),
        },
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::DirectoryName(n) => format!("DirName:{n}"),
        GeneralName::RegisteredID(o) => format!("RID:{o}"),
        GeneralName::OtherName(o, _) => format!("othername:{o}"),
        _ => "(unsupported name)".into(),
    }
}

/// A name-constraint subtree as `DNS:fed.test`, `IP:10.0.0.0/8`.
pub(crate) fn subtree_text(g: &GeneralName<'_>) -> String {
    match g {
        GeneralName::IPAddress(b) if b.len() == 8 || b.len() == 32 => {
            let (addr, mask) = b.split_at(b.len() / 2);
            let prefix: u32 = mask.iter().map(|m| m.count_ones()).sum();
            match ip_from_bytes(addr) {
                Some(ip) => format!("IP:{ip}/{prefix}"),
                None => "IP:?".into(),
            }
        }
        // The empty dNSName subtree matches every DNS name (fedca excludes it when a
        // root permits no DNS subtree).
        GeneralName::DNSName("") => "DNS:\"\" (every DNS name)".into(),
        other => general_name_text(other),
    }
}

/// Every subjectAltName of a certificate as text.
pub(crate) fn san_names(c: &X509Certificate<'_>) -> Vec<String> {
    c.subject_alternative_name()
        .ok()
        .flatten()
        .map(|s| {
            s.value
                .general_names
                .iter()
                .map(general_name_text)
                .collect()
        })
        .unwrap_or_default()
}

/// keyUsage bit names.
pub(crate) fn key_usage_names(ku: &KeyUsage) -> Vec<String> {
    let bits = [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ];
    bits.iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// extendedKeyUsage purpose names.
pub(crate) fn eku_names(e: &ExtendedKeyUsage<'_>) -> Vec<String> {
    let mut out: Vec<String> = [
        (e.server_auth, "serverAuth"),
        (e.client_auth, "clientAuth"),
        (e.code_signing, "codeSigning"),
        (e.email_protection, "emailProtection"),
        (e.time_stamping, "timeStamping"),
        (e.ocsp_signing, "OCSPSigning"),
        (e.any, "anyExtendedKeyUsage"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| n.to_string())
    .collect();
    out.extend(e.other.iter().map(|o| o.to_id_string()));
    out
}

/// The certificate signature algorithms rustls's ring provider verifies, by the names
/// [`sig_alg_name`] gives them.
pub(crate) const SUPPORTED_SIGNATURES: &[&str] = &[
    "ecdsa-with-SHA256",
    "ecdsa-with-SHA384",
    "Ed25519",
    "sha256WithRSAEncryption",
    "sha384WithRSAEncryption",
    "sha512WithRSAEncryption",
    "RSASSA-PSS",
];

/// A signature algorithm's name (`ecdsa-with-SHA256`), or its OID.
pub(crate) fn sig_alg_name(oid: &x509_parser::asn1_rs::Oid<'_>) -> String {
    let id = oid.to_id_string();
    let name = match id.as_str() {
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.3" => "dsa-with-SHA1",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-SHA256",
        _ => return id,
    };
    name.to_string()
}

/// The keyIdentifier of the authorityKeyIdentifier extension.
pub(crate) fn authority_key_id(c: &X509Certificate<'_>) -> Option<Vec<u8>> {
    c.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

/// The subjectKeyIdentifier.
pub(crate) fn subject_key_id(c: &X509Certificate<'_>) -> Option<Vec<u8>> {
    c.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
}

/// Upper-case colon-separated hex (`AB:CD:...`).
pub(crate) fn colon_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_words() {
        assert_eq!(
            time_left(0, 100 * 86_400, 10 * 86_400),
            "expires in 90 days"
        );
        assert_eq!(time_left(0, 100, 400), "expired 5 minutes ago");
        assert_eq!(
            time_left(10 * 3600, 20 * 3600, 0),
            "not valid yet: starts in 10 hours"
        );
    }

    #[test]
    fn uint_bits_counts_significant_bits() {
        assert_eq!(uint_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(uint_bits(&[0x01]), 1);
        assert_eq!(uint_bits(&[0, 0]), 0);
    }

    #[test]
    fn blocks_refuse_truncation_and_garbage() {
        assert!(split_blocks(b"").is_err());
        assert!(split_blocks(b"hello").is_err());
        let err = split_blocks(b"-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap_err();
        assert!(err.contains("truncated"), "{err}");
    }

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
