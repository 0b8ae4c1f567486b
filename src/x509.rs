//! X.509 building blocks the rest of the crate shares: the one PEM/DER reader,
//! certificate parsing, names, times, serials, hex, fingerprints, key descriptions,
//! signature algorithm names, and the one name-constraint matcher.
//!
//! This module sits at the bottom of the crate: it imports nothing from fedca but
//! [`crate::error`]. `lint`, `inspect`, `verify`, `issue`, `authority` and `trust`
//! build on it.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ::time::format_description::well_known::Rfc3339;
use ::time::OffsetDateTime;
use data_encoding::{HEXLOWER, HEXUPPER};
use rcgen::SerialNumber;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use x509_parser::der_parser::ber::{BerObject, BerObjectContent};
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{Error, Result};

// ---- PEM and DER -------------------------------------------------------------------

/// One PEM block (or the whole DER input, tagged `DER`).
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) tag: String,
    pub(crate) der: Vec<u8>,
}

/// Splits PEM text into blocks, or takes the input as one DER object. Refuses empty
/// input, PEM blocks that are not closed or not base64, and input that is neither.
///
/// The crate's one PEM reader: every file of certificates, keys, CSRs or CRLs that
/// fedca reads goes through it.
pub(crate) fn pem_blocks(bytes: &[u8]) -> std::result::Result<Vec<Block>, String> {
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
    Ok(blocks.into_iter().map(Block::from).collect())
}

/// The first PEM block of `text`, as the `pem` crate reads it (no DER fallback); its
/// error text on failure.
pub(crate) fn pem_first(text: impl AsRef<[u8]>) -> std::result::Result<Block, String> {
    ::pem::parse(text)
        .map(Block::from)
        .map_err(|e| e.to_string())
}

/// Every PEM block of `text`, as the `pem` crate reads it (no DER fallback, no check
/// that every BEGIN line closed: [`pem_blocks`] is the strict reader); its error text
/// on failure.
pub(crate) fn pem_all(text: impl AsRef<[u8]>) -> std::result::Result<Vec<Block>, String> {
    ::pem::parse_many(text)
        .map(|blocks| blocks.into_iter().map(Block::from).collect())
        .map_err(|e| e.to_string())
}

/// PEM text of one block with CRLF line endings (the `pem` crate's default, which
/// fedca's encrypted keys and rotated roots have always used).
pub(crate) fn pem_encode(tag: &str, der: &[u8]) -> String {
    ::pem::encode(&::pem::Pem::new(tag, der.to_vec()))
}

/// PEM text of one block with LF line endings.
pub(crate) fn pem_encode_lf(tag: &str, der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(tag, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

impl From<::pem::Pem> for Block {
    fn from(b: ::pem::Pem) -> Block {
        Block {
            tag: b.tag().to_string(),
            der: b.into_contents(),
        }
    }
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Parses one DER certificate, refusing trailing bytes.
pub(crate) fn parse_cert(der: &[u8]) -> std::result::Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok(([], c)) => Ok(c),
        Ok(_) => Err("trailing bytes after the certificate".into()),
        Err(e) => Err(format!("not a DER X.509 certificate: {e}")),
    }
}

// ---- Keys --------------------------------------------------------------------------

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

pub(crate) mod oids {
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

pub(crate) fn curve_desc(curve: Option<&str>, fallback_bits: u32) -> KeyDesc {
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
pub(crate) fn uint_bits(bytes: &[u8]) -> u32 {
    match bytes.iter().position(|b| *b != 0) {
        None => 0,
        Some(i) => {
            let rest = &bytes[i..];
            (rest.len() as u32 - 1) * 8 + (8 - rest[0].leading_zeros())
        }
    }
}

/// Key types whose size the algorithm alone determines.
pub(crate) fn fixed_size_key(oid: &str) -> Option<KeyDesc> {
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

pub(crate) fn der_seq(der: &[u8]) -> std::result::Result<Vec<BerObject<'_>>, String> {
    let (_, obj) = x509_parser::der_parser::parse_der(der).map_err(|e| e.to_string())?;
    match obj.content {
        BerObjectContent::Sequence(items) => Ok(items),
        _ => Err("not a DER SEQUENCE".into()),
    }
}

// ---- Names, times, extensions ------------------------------------------------------

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
    rfc3339(t.to_datetime())
}

/// RFC 3339 text of a Unix time.
pub(crate) fn unix_text(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .map(rfc3339)
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
    let hex = HEXUPPER.encode(b);
    let pairs: Vec<&str> = (0..hex.len()).step_by(2).map(|i| &hex[i..i + 2]).collect();
    pairs.join(":")
}

/// The DER of the first CERTIFICATE block of PEM text (or of DER input).
pub(crate) fn first_certificate(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    pem_blocks(bytes)?
        .into_iter()
        .find(|b| b.tag.contains("CERTIFICATE") || b.tag == "DER")
        .map(|b| b.der)
        .ok_or_else(|| "no CERTIFICATE block".to_string())
}

/// RFC 3339 text of a time (UTC, whole seconds).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// `t` without its fraction of a second, as the index and certificates hold times.
pub(crate) fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Lower-case hex SHA-256 of bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

// ---- Serials -----------------------------------------------------------------------

/// Draws a random positive 128-bit serial that is not in `taken` (lower-case hex).
///
/// The first byte is never zero, so the value always has 128 significant bits; the DER
/// encoding adds a leading zero byte when the top bit is set, keeping it positive.
pub fn random_serial(taken: &BTreeSet<String>) -> Result<SerialNumber> {
    let rng = SystemRandom::new();
    loop {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes)
            .map_err(|_| Error::Crypto("the system random number generator failed".into()))?;
        if bytes[0] == 0 {
            continue;
        }
        let serial = SerialNumber::from_slice(&bytes);
        if !taken.contains(&serial_hex(&bytes)) {
            return Ok(serial);
        }
    }
}

/// Lower-case hex of serial bytes, without leading zero bytes.
pub fn serial_hex(bytes: &[u8]) -> String {
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => &[0],
    };
    HEXLOWER.encode(trimmed)
}

// ---- Name constraints --------------------------------------------------------------

/// A name of a type federation certificates use, as name constraints see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConstrainedName<'a> {
    /// A dNSName (a leading `*.` is matched as its base name).
    Dns(&'a str),
    /// An iPAddress: 4 or 16 bytes.
    Ip(&'a [u8]),
}

/// A name-constraint subtree of a type federation certificates use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subtree {
    /// A dNSName subtree: the name and every name below it; `""` matches every name.
    Dns(String),
    /// An iPAddress subtree: address bytes followed by mask bytes (8 or 32 bytes).
    Ip(Vec<u8>),
}

impl Subtree {
    /// The subtree of an IP range.
    pub(crate) fn ip(addr: IpAddr, prefix: u8) -> Subtree {
        let addr: Vec<u8> = match addr {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let bits = addr.len() * 8;
        let prefix = usize::from(prefix).min(bits);
        let mask: Vec<u8> = (0..addr.len())
            .map(|i| {
                let on = prefix.saturating_sub(i * 8).min(8);
                if on == 0 {
                    0
                } else {
                    0xffu8 << (8 - on)
                }
            })
            .collect();
        let mut bytes = addr;
        bytes.extend(mask);
        Subtree::Ip(bytes)
    }

    /// The subtree of a parsed GeneralName, for the types fedca constrains.
    pub(crate) fn from_general_name(g: &GeneralName<'_>) -> Option<Subtree> {
        match g {
            GeneralName::DNSName(b) => Some(Subtree::Dns(b.to_string())),
            GeneralName::IPAddress(r) => Some(Subtree::Ip(r.to_vec())),
            _ => None,
        }
    }

    /// Some(whether `name` lies in this subtree) when they have the same type.
    fn matches(&self, name: ConstrainedName<'_>) -> Option<bool> {
        match (name, self) {
            (ConstrainedName::Dns(n), Subtree::Dns(b)) => Some(dns_in_subtree(n, b)),
            (ConstrainedName::Ip(a), Subtree::Ip(r)) => Some(ip_in_range(a, r)),
            _ => None,
        }
    }
}

/// RFC 5280 §4.2.1.10 for the name types federation certificates use, the one matcher
/// of the crate (issuance checks names with it before signing; `verify` diagnoses
/// chains with it): a DNS name or IP address must not be in an excluded subtree of its
/// type and, when any permitted subtree of its type exists, must be in one. An IP range
/// of the other family is still an IP subtree: an address whose family has no range is
/// refused, as webpki, OpenSSL and Go do. With no subtrees at all, every name passes.
pub(crate) fn name_permitted(
    name: ConstrainedName<'_>,
    permitted: &[Subtree],
    excluded: &[Subtree],
) -> bool {
    if excluded.iter().any(|s| s.matches(name) == Some(true)) {
        return false;
    }
    let results: Vec<bool> = permitted.iter().filter_map(|s| s.matches(name)).collect();
    results.is_empty() || results.contains(&true)
}

fn dns_in_subtree(name: &str, base: &str) -> bool {
    let base = base.trim_start_matches('.').to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    let name = name.trim_start_matches("*.");
    base.is_empty() || name == base || name.ends_with(&format!(".{base}"))
}

fn ip_in_range(addr: &[u8], range: &[u8]) -> bool {
    if range.len() != addr.len() * 2 {
        return false;
    }
    let (net, mask) = range.split_at(addr.len());
    addr.iter()
        .zip(net)
        .zip(mask)
        .all(|((a, n), m)| a & m == n & m)
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
        assert!(pem_blocks(b"").is_err());
        assert!(pem_blocks(b"hello").is_err());
        let err = pem_blocks(b"-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap_err();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn hex_forms() {
        assert_eq!(colon_hex(&[0xab, 0x01, 0xff]), "AB:01:FF");
        assert_eq!(colon_hex(&[]), "");
        assert_eq!(serial_hex(&[0, 0, 0x0a, 0xbc]), "0abc");
        assert_eq!(serial_hex(&[0, 0]), "00");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn subtrees() {
        let dns = |n| ConstrainedName::Dns(n);
        let corp = [Subtree::Dns("corp.test".into())];
        assert!(name_permitted(dns("hs1.corp.test"), &corp, &[]));
        assert!(name_permitted(dns("HS1.Corp.Test"), &corp, &[]));
        assert!(name_permitted(dns("corp.test"), &corp, &[]));
        assert!(!name_permitted(dns("evilcorp.test"), &corp, &[]));
        assert!(name_permitted(dns("*.corp.test"), &corp, &[]));
        assert!(!name_permitted(
            dns("a.test"),
            &[],
            &[Subtree::Dns(String::new())]
        ));
        assert!(name_permitted(dns("anything.example"), &[], &[]));
        let ten = [Subtree::ip("10.0.0.0".parse().unwrap(), 8)];
        assert_eq!(ten[0], Subtree::Ip(vec![10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(name_permitted(
            ConstrainedName::Ip(&[10, 1, 2, 3]),
            &ten,
            &[]
        ));
        assert!(!name_permitted(
            ConstrainedName::Ip(&[11, 1, 2, 3]),
            &ten,
            &[]
        ));
        let v6 = [0xfdu8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        // A v6 address against only a v4 range: an IP subtree exists, none matches.
        assert!(!name_permitted(ConstrainedName::Ip(&v6), &ten, &[]));
        // DNS subtrees do not constrain addresses.
        assert!(name_permitted(ConstrainedName::Ip(&v6), &corp, &[]));
        assert_eq!(
            Subtree::ip("fd00::".parse().unwrap(), 12),
            Subtree::Ip(
                [[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], {
                    let mut m = [0u8; 16];
                    m[0] = 0xff;
                    m[1] = 0xf0;
                    m
                }]
                .concat()
            )
        );
    }
}
