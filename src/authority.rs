//! Root certificate authorities: key types, name constraints, policy, creation and loading.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, GeneralSubtree,
    IsCa, KeyPair, KeyUsagePurpose, NameConstraints,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cidr::IpNet;
use crate::error::{Error, ExternalError, Field, Result};
use crate::name::{AltName, DnsName, Host};
use crate::store::{self, files, CaDir, RecordKeyType, KEY_MODE, PUBLIC_MODE};
use crate::validity::{self, Validity};
use crate::x509::{name_permitted, ConstrainedName, Subtree};

/// The key algorithms fedca generates.
///
/// ECDSA P-256 is the default: every verifier homeservers use accepts it. RSA keys
/// cannot be generated (ring cannot), and enter only through CSRs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum KeyType {
    /// ECDSA on NIST P-256 with SHA-256.
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// Ed25519.
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl KeyType {
    /// Every key type, in the order `--help` lists them.
    pub const ALL: [KeyType; 3] = [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519];

    /// The name used on the command line and in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
        }
    }

    pub(crate) fn algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    /// Generates a fresh key pair of this type, held (and written by
    /// [`KeyPair::serialize_pem`]) as a PKCS#8 document that OpenSSL, Go's crypto/x509
    /// and Python's cryptography all load:
    ///
    /// * ECDSA: PKCS#8 v1 around an RFC 5915 ECPrivateKey with the public key (ring's
    ///   encoding, which every one of them reads);
    /// * Ed25519: RFC 8410 PKCS#8 v1, the 32-byte seed and nothing else. ring's own
    ///   encoding is PKCS#8 v2 (RFC 5958, public key in `[1]`), which OpenSSL 3.0 and so
    ///   pyOpenSSL (Synapse), nginx and haproxy refuse as "unsupported".
    ///
    /// Keys in ring's v2 form, written by earlier fedca versions, still load.
    pub fn generate(self) -> Result<KeyPair> {
        match self {
            KeyType::Ed25519 => {
                use ring::rand::SecureRandom;
                let mut seed = [0u8; 32];
                ring::rand::SystemRandom::new()
                    .fill(&mut seed)
                    .crypto("generating a key")?;
                let der = ed25519_pkcs8_v1(&seed);
                seed.fill(0);
                KeyPair::from_pkcs8_der_and_sign_algo(&der.as_slice().into(), self.algorithm())
                    .crypto("generating a key")
            }
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                KeyPair::generate_for(self.algorithm()).crypto("generating a key")
            }
        }
    }
}

/// A freshly generated leaf key: the PKCS#8 PEM written to `key.pem` and the public key
/// signed into the certificate ([`KeyType::generate_leaf`]).
pub(crate) struct LeafKey {
    /// The private key, PKCS#8 PEM (LF line endings, as [`KeyPair::serialize_pem`]).
    pub pem: String,
    /// The public key.
    pub public: LeafPublicKey,
}

/// A leaf's public key as rcgen signs it: the raw key (for ECDSA the uncompressed point)
/// and its algorithm.
pub(crate) struct LeafPublicKey {
    raw: Vec<u8>,
    alg: &'static rcgen::SignatureAlgorithm,
}

impl rcgen::PublicKeyData for LeafPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

impl LeafPublicKey {
    /// The public key of a key pair.
    pub(crate) fn of(key: &KeyPair) -> Self {
        use rcgen::PublicKeyData;
        LeafPublicKey {
            raw: key.der_bytes().to_vec(),
            alg: key.algorithm(),
        }
    }
}

impl KeyType {
    /// Generates a leaf's key (what [`KeyType::generate`] makes, in the same PKCS#8
    /// form). An ECDSA leaf's public key is read from the document ring generated
    /// instead of loading the document back into a key pair: loading recomputes the
    /// public key from the private one, a tenth of the cost of issuing a leaf, and a
    /// leaf's private key signs nothing here.
    pub(crate) fn generate_leaf(self) -> Result<LeafKey> {
        let (ring_alg, point_len) = match self {
            KeyType::Ed25519 => {
                let key = self.generate()?;
                return Ok(LeafKey {
                    pem: key.serialize_pem(),
                    public: LeafPublicKey::of(&key),
                });
            }
            KeyType::EcdsaP256 => (&ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING, 65),
            KeyType::EcdsaP384 => (&ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING, 97),
        };
        let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(
            ring_alg,
            &ring::rand::SystemRandom::new(),
        )
        .crypto("generating a key")?;
        let der = doc.as_ref();
        // ring's PKCS#8 v1 document ends with the RFC 5915 ECPrivateKey's
        // `[1] { BIT STRING { 0 unused bits, 04 x y } }`.
        let point = der
            .len()
            .checked_sub(point_len)
            .filter(|&at| at >= 5)
            .filter(|&at| {
                der[at - 5..at] == [0xa1, point_len as u8 + 3, 0x03, point_len as u8 + 1, 0x00]
                    && der[at] == 0x04
            })
            .map(|at| &der[at..])
            .ok_or_else(|| {
                Error::Internal(format!(
                    "ring generated a {self} PKCS#8 document without its public key at the end"
                ))
            })?;
        Ok(LeafKey {
            pem: crate::x509::pem_encode_lf("PRIVATE KEY", der),
            public: LeafPublicKey {
                raw: point.to_vec(),
                alg: self.algorithm(),
            },
        })
    }
}

/// The RFC 8410 §7 PKCS#8 v1 document for an Ed25519 seed:
/// `SEQUENCE { INTEGER 0, SEQUENCE { id-Ed25519 }, OCTET STRING { OCTET STRING seed } }`.
fn ed25519_pkcs8_v1(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = Vec::with_capacity(48);
    der.extend_from_slice(&PREFIX);
    der.extend_from_slice(seed);
    der
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| unknown_key_type(s))
    }
}

impl KeyType {
    /// The key type fedca generates that an index record names; an RSA key (signed by
    /// `sign-csr`) is refused as `"key type".parse()` refuses it.
    pub fn from_record(k: RecordKeyType) -> Result<KeyType> {
        match k {
            RecordKeyType::EcdsaP256 => Ok(KeyType::EcdsaP256),
            RecordKeyType::EcdsaP384 => Ok(KeyType::EcdsaP384),
            RecordKeyType::Ed25519 => Ok(KeyType::Ed25519),
            RecordKeyType::Rsa(_) => Err(unknown_key_type(&k.to_string())),
        }
    }
}

impl From<KeyType> for RecordKeyType {
    fn from(k: KeyType) -> RecordKeyType {
        match k {
            KeyType::EcdsaP256 => RecordKeyType::EcdsaP256,
            KeyType::EcdsaP384 => RecordKeyType::EcdsaP384,
            KeyType::Ed25519 => RecordKeyType::Ed25519,
        }
    }
}

fn unknown_key_type(s: &str) -> Error {
    Error::invalid(
        Field::AnyKeyType,
        s,
        "must be one of ecdsa-p256, ecdsa-p384, ed25519 (RSA keys can only come in through a CSR)",
    )
}

/// One permitted subtree of a CA's name constraints.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permit {
    /// A DNS subtree: the name itself and every name below it.
    Dns(DnsName),
    /// An IP range (host bits zero).
    Ip(IpNet),
    /// Every Tor `.onion` name (the DNS subtree `onion`).
    Onion,
}

impl Permit {
    /// Parses a `--permit` value: a DNS subtree (`fed.test`), an IPv4 or IPv6 CIDR
    /// (`10.0.0.0/8`, `fd00::/8`), a single address (`10.0.0.7` = `/32`), or `onion`.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |rule: &str| Error::invalid(Field::Permit, input, rule);
        if input.eq_ignore_ascii_case("onion") {
            return Ok(Permit::Onion);
        }
        if input.is_empty() {
            return Err(bad("is empty; give a DNS subtree, a CIDR range or 'onion'"));
        }
        if input.starts_with('.') {
            return Err(bad(&format!(
                "write the DNS subtree without the leading dot ({}): it permits the name and every name below it",
                input.trim_start_matches('.')
            )));
        }
        let addr_part = input.split_once('/').map_or(input, |(a, _)| a);
        let addr_part = addr_part
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr_part);
        if IpAddr::from_str(addr_part).is_ok() {
            return IpNet::parse(input, Field::Permit).map(Permit::Ip);
        }
        if input.contains('/') {
            return Err(bad("is not a valid IPv4 or IPv6 CIDR range"));
        }
        let dns = DnsName::parse(input).map_err(|e| bad(e.rule()))?;
        Ok(Permit::Dns(dns))
    }

    fn subtree(&self) -> GeneralSubtree {
        match self {
            Permit::Dns(d) => GeneralSubtree::DnsName(d.to_ascii_lowercase()),
            Permit::Onion => GeneralSubtree::DnsName("onion".to_string()),
            Permit::Ip(net) => {
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(net.addr(), net.prefix()))
            }
        }
    }

    fn matcher_subtree(&self) -> Subtree {
        match self {
            Permit::Dns(d) => Subtree::Dns(d.to_ascii_lowercase()),
            Permit::Onion => Subtree::Dns("onion".to_string()),
            Permit::Ip(net) => Subtree::ip(net.addr(), net.prefix()),
        }
    }
}

impl fmt::Display for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permit::Dns(d) => write!(f, "{d}"),
            Permit::Onion => f.write_str("onion"),
            Permit::Ip(net) => write!(f, "{net}"),
        }
    }
}

impl Serialize for Permit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Permit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Permit::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The permitted subtrees of a CA, and the check issuance runs before signing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Constraints(pub Vec<Permit>);

impl Constraints {
    /// Whether the CA is unconstrained.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks that a verifier applying the root's constraints (RFC 5280 §4.2.1.10, as
    /// webpki, OpenSSL, GnuTLS and Go do) would accept `name`, before anything is signed:
    ///
    /// * a DNS name must equal a permitted DNS subtree or lie below one;
    /// * an address must lie in a permitted range *of its family*;
    /// * a name of a type with nothing permitted is refused: the root excludes that whole
    ///   type ([`Constraints::excluded`]).
    ///
    /// Unconstrained CAs accept every name.
    pub fn check(&self, name: &AltName) -> Result<()> {
        if self.permits(name) {
            Ok(())
        } else {
            let excluded = self.excluded();
            Err(Error::OutsideConstraints {
                name: name.to_string(),
                permitted: if excluded.is_empty() {
                    self.to_string()
                } else {
                    format!("{self}; excluded: {}", self.excluded_text())
                },
            })
        }
    }

    /// Whether the root's permitted and excluded subtrees admit `name`, by the crate's
    /// one matcher ([`crate::x509::name_permitted`]).
    fn permits(&self, name: &AltName) -> bool {
        let permitted: Vec<Subtree> = self.0.iter().map(Permit::matcher_subtree).collect();
        let excluded: Vec<Subtree> = self
            .excluded()
            .iter()
            .map(Excluded::matcher_subtree)
            .collect();
        let octets;
        let (dns, ip);
        let name = match name {
            AltName::Host(Host::Dns(d)) | AltName::Wildcard(d) => {
                dns = d.to_ascii_lowercase();
                ConstrainedName::Dns(&dns)
            }
            AltName::Host(h) => {
                ip = h.ip();
                octets = match ip {
                    Some(IpAddr::V4(a)) => a.octets().to_vec(),
                    Some(IpAddr::V6(a)) => a.octets().to_vec(),
                    None => return true,
                };
                ConstrainedName::Ip(&octets)
            }
        };
        name_permitted(name, &permitted, &excluded)
    }

    /// The name types these constraints exclude outright. RFC 5280 constrains only the
    /// name types a permittedSubtrees lists: a root permitting only IP ranges would
    /// otherwise vouch for every DNS name, and one permitting only DNS subtrees for
    /// every address. So once anything is permitted, each of DNS, IPv4 and IPv6 with
    /// nothing permitted is excluded in the root itself.
    pub fn excluded(&self) -> Vec<Excluded> {
        if self.is_empty() {
            return Vec::new();
        }
        let has = |f: fn(&Permit) -> bool| self.0.iter().any(f);
        let mut out = Vec::new();
        if !has(|p| matches!(p, Permit::Dns(_) | Permit::Onion)) {
            out.push(Excluded::AllDns);
        }
        if !has(|p| matches!(p, Permit::Ip(n) if !n.is_ipv6())) {
            out.push(Excluded::AllIpv4);
        }
        if !has(|p| matches!(p, Permit::Ip(n) if n.is_ipv6())) {
            out.push(Excluded::AllIpv6);
        } else if !self
            .whole_families()
            .iter()
            .any(|f| f.iter().any(|p| matches!(p, Permit::Ip(n) if !n.is_ipv6())))
        {
            // IPv4 is constrained but some IPv6 is permitted: an IPv4-mapped address
            // (::ffff:8.8.8.8) in a permitted IPv6 range would be an IPv4 name to Go's
            // crypto/x509, which matches it against "8.8.8.8". Excluded wins over
            // permitted (RFC 5280), so the mapped range is closed in every verifier.
            out.push(Excluded::Ipv4Mapped);
        }
        out
    }

    /// For each address family whose permitted ranges together span every address of
    /// it (`0.0.0.0/0`, or `0.0.0.0/1` with `128.0.0.0/1`, `::/0`...), the ranges of
    /// that family: they leave the family unconstrained, so `init` refuses them unless
    /// `--allow-all-addresses` is given.
    pub fn whole_families(&self) -> Vec<Vec<&Permit>> {
        let mut out = Vec::new();
        for v6 in [false, true] {
            let family: Vec<&Permit> = self
                .0
                .iter()
                .filter(|p| matches!(p, Permit::Ip(n) if n.is_ipv6() == v6))
                .collect();
            let nets: Vec<IpNet> = family
                .iter()
                .filter_map(|p| match p {
                    Permit::Ip(n) => Some(*n),
                    _ => None,
                })
                .collect();
            let all = if v6 {
                IpNet::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0)
            } else {
                IpNet::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0)
            };
            if let Some(all) = all {
                if !nets.is_empty() && crate::cidr::covers(all, &nets) {
                    out.push(family);
                }
            }
        }
        out
    }

    /// The excluded subtrees, as `init` prints them.
    pub fn excluded_text(&self) -> String {
        let parts: Vec<String> = self.excluded().iter().map(Excluded::to_string).collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    }

    fn to_name_constraints(&self) -> Option<NameConstraints> {
        if self.0.is_empty() {
            return None;
        }
        Some(NameConstraints {
            permitted_subtrees: self.0.iter().map(Permit::subtree).collect(),
            excluded_subtrees: self.excluded().iter().map(Excluded::subtree).collect(),
        })
    }
}

/// A whole name type excluded by a constrained root (see [`Constraints::excluded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excluded {
    /// Every DNS name: the dNSName subtree `""`, which OpenSSL, Go, GnuTLS and webpki
    /// match against every name.
    AllDns,
    /// Every IPv4 address: `0.0.0.0/0`.
    AllIpv4,
    /// Every IPv6 address: `::/0`.
    AllIpv6,
    /// Every IPv4-mapped IPv6 address, `::ffff:0:0/96`, when IPv4 is constrained and
    /// some IPv6 is permitted.
    Ipv4Mapped,
}

impl Excluded {
    /// `::ffff:0:0/96`, the IPv4-mapped IPv6 addresses.
    fn ipv4_mapped() -> IpNet {
        let a = IpAddr::V6(std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0));
        // 96 <= 128: `new` cannot fail; the host fallback only satisfies the types.
        IpNet::new(a, 96).unwrap_or(IpNet::host(a))
    }

    fn matcher_subtree(&self) -> Subtree {
        match self {
            Excluded::AllDns => Subtree::Dns(String::new()),
            Excluded::AllIpv4 => Subtree::ip(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0),
            Excluded::AllIpv6 => Subtree::ip(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0),
            Excluded::Ipv4Mapped => {
                let net = Excluded::ipv4_mapped();
                Subtree::ip(net.addr(), net.prefix())
            }
        }
    }

    fn subtree(&self) -> GeneralSubtree {
        match self {
            Excluded::Ipv4Mapped => {
                let net = Excluded::ipv4_mapped();
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(net.addr(), net.prefix()))
            }
            Excluded::AllDns => GeneralSubtree::DnsName(String::new()),
            Excluded::AllIpv4 => GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                0,
            )),
            Excluded::AllIpv6 => GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                0,
            )),
        }
    }
}

impl fmt::Display for Excluded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Excluded::AllDns => "every DNS name",
            Excluded::AllIpv4 => "every IPv4 address (0.0.0.0/0)",
            Excluded::AllIpv6 => "every IPv6 address (::/0)",
            Excluded::Ipv4Mapped => "every IPv4-mapped IPv6 address (::ffff:0:0/96)",
        })
    }
}

impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("unconstrained");
        }
        let parts: Vec<String> = self.0.iter().map(Permit::to_string).collect();
        f.write_str(&parts.join(", "))
    }
}

/// The CA's policy, stored as `policy.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Format version of this file.
    pub format: u32,
    /// The CA's name (the root's subject common name).
    pub name: String,
    /// The key type of the root, and the default for leaves.
    pub key_type: KeyType,
    /// The root's validity.
    pub root_validity: Validity,
    /// The default validity of leaf certificates.
    pub leaf_validity: Validity,
    /// The root's permitted subtrees (empty: unconstrained).
    pub permitted: Constraints,
    /// Whether the CA issues through an intermediate (`intermediate.pem`), so that the
    /// root key can be kept offline. Absent in CAs made before it existed: false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub intermediate: bool,
}

/// A passphrase protecting the CA's private keys. The library takes it as a value; only
/// the command line reads it (from `FEDCA_PASSPHRASE_FILE` or a terminal prompt). Its
/// `Debug` never shows it, and it is overwritten when dropped.
#[derive(Clone)]
pub struct Passphrase(Vec<u8>);

impl Passphrase {
    /// Wraps passphrase bytes. An empty passphrase is refused.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Passphrase> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(Error::invalid(
                Field::Passphrase,
                "",
                "is empty; an encrypted key needs a passphrase",
            ));
        }
        Ok(Passphrase(bytes))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

impl Drop for Passphrase {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

/// PBKDF2-HMAC-SHA256 iterations of an encrypted key: OWASP's 2023 figure.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// The PEM label of an encrypted PKCS#8 key.
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// A private key as fedca writes it: PKCS#8 PEM, encrypted (PBES2: PBKDF2-HMAC-SHA256
/// at [`PBKDF2_ITERATIONS`], AES-256-CBC) when a passphrase is given, which
/// `openssl pkey -passin` reads with the same passphrase.
pub fn key_to_pem(key: &KeyPair, passphrase: Option<&Passphrase>) -> Result<String> {
    let Some(pass) = passphrase else {
        return Ok(key.serialize_pem());
    };
    use ring::rand::SecureRandom;
    let rng = ring::rand::SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill(&mut salt)
        .and_then(|_| rng.fill(&mut iv))
        .crypto("drawing a salt")?;
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
            .crypto("encrypting the key")?;
    let der = key.serialize_der();
    let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).crypto("encrypting the key")?;
    let doc = info
        .encrypt_with_params(params, pass.bytes())
        .crypto("encrypting the key")?;
    Ok(crate::x509::pem_encode(ENCRYPTED_LABEL, doc.as_bytes()))
}

/// Whether a key file's text is an encrypted PKCS#8 key.
pub fn is_encrypted_pem(text: &str) -> bool {
    text.trim_start()
        .starts_with(&format!("-----BEGIN {ENCRYPTED_LABEL}-----"))
}

/// Reads a key written by [`key_to_pem`] (or any PKCS#8 key fedca can use). `path`
/// names the file in errors. An encrypted key without a passphrase, or with the wrong
/// one, is a runtime error (exit 1) that says so.
pub fn key_from_pem(
    text: &str,
    passphrase: Option<&Passphrase>,
    path: &std::path::Path,
) -> Result<KeyPair> {
    if !is_encrypted_pem(text) {
        return KeyPair::from_pem(text)
            .map_err(|e| Error::corrupt(path, format!("not a PKCS#8 key fedca can use: {e}")));
    }
    let Some(pass) = passphrase else {
        return Err(Error::Crypto(format!(
            "{} is encrypted and no passphrase was given (set FEDCA_PASSPHRASE_FILE or run on a terminal)",
            path.display()
        )));
    };
    let block = crate::x509::pem_first(text)
        .map_err(|e| Error::corrupt(path, format!("not a PEM key: {e}")))?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(block.der.as_slice())
        .map_err(|e| Error::corrupt(path, format!("not an encrypted PKCS#8 key: {e}")))?;
    let doc = info.decrypt(pass.bytes()).map_err(|_| {
        Error::Crypto(format!(
            "wrong passphrase for {} (or the file is damaged); nothing was changed",
            path.display()
        ))
    })?;
    KeyPair::try_from(doc.as_bytes()).map_err(|_| {
        Error::Crypto(format!(
            "wrong passphrase for {} (or the file is damaged); nothing was changed",
            path.display()
        ))
    })
}

/// What `fedca init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The root's common name.
    pub name: String,
    /// The root key type.
    pub key_type: KeyType,
    /// The root's validity.
    pub validity: Validity,
    /// The default leaf validity.
    pub leaf_validity: Validity,
    /// Name constraints.
    pub permitted: Constraints,
    /// Replace an existing CA.
    pub force: bool,
    /// Issue through an intermediate signed by the root (path length 0, the root's
    /// name constraints), so the root key can go offline (`fedca root remove-key`).
    pub intermediate: bool,
    /// Encrypt the CA's private keys with this passphrase.
    pub passphrase: Option<Passphrase>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            name: "fedca root".to_string(),
            key_type: KeyType::EcdsaP256,
            validity: Validity::days(3650),
            leaf_validity: Validity::days(90),
            permitted: Constraints::default(),
            force: false,
            intermediate: false,
            passphrase: None,
        }
    }
}

/// A loaded certificate authority that can sign.
pub struct Authority {
    policy: Policy,
    cert_pem: String,
    cert_der: Vec<u8>,
    /// The root key: loaded only when the root signs leaves itself (no intermediate).
    key: Option<KeyPair>,
    intermediate: Option<Intermediate>,
    /// During a root rotation: the issuing certificate's key certified by the old root.
    cross_pem: Option<String>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

/// The intermediate that signs leaves when the root key is kept offline.
struct Intermediate {
    cert_pem: String,
    cert_der: Vec<u8>,
    key: KeyPair,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("policy", &self.policy)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The path length of fedca roots: room for one intermediate.
pub const ROOT_PATH_LEN: u8 = 1;

impl Authority {
    /// Creates a CA in `dir`: a new directory (0700) with the policy, the root
    /// certificate and the root key (0600). The directory is built beside its final
    /// place and renamed in, so a crash leaves either no CA or a whole one.
    ///
    /// With `force`, an existing CA is moved aside to `DIR.replaced-TIMESTAMP` (its
    /// keys are kept, never deleted) before the new one is renamed in.
    pub fn init(
        dir: &CaDir,
        opts: &InitOptions,
    ) -> Result<(Authority, Option<std::path::PathBuf>)> {
        validate_ca_name(&opts.name)?;
        let root = dir.root();
        let existing = root.exists();
        if existing && !root.is_dir() {
            return Err(Error::invalid(
                Field::CaDir,
                root.display().to_string(),
                "exists and is not a directory",
            ));
        }
        let non_empty = existing
            && std::fs::read_dir(root)
                .map_err(|e| Error::io(root, e))?
                .next()
                .is_some();
        if non_empty && !dir.exists() {
            // Even with --force: fedca replaces CAs, never other people's directories.
            return Err(Error::invalid(
                Field::CaDir,
                root.display().to_string(),
                "is a non-empty directory that is not a fedca CA; choose an empty or new directory",
            ));
        }
        if non_empty && !opts.force {
            return Err(Error::CaExists(root.to_path_buf()));
        }
        let now = OffsetDateTime::now_utc();
        let not_before = now - validity::BACKDATE;
        let not_after = now + opts.validity.duration();
        if opts.leaf_validity.duration() > opts.validity.duration() {
            return Err(Error::invalid(
                Field::LeafValidity,
                opts.leaf_validity.to_string(),
                format!("is longer than the root's validity ({})", opts.validity),
            ));
        }

        let (policy, cert, key) = build_root(opts, not_before, not_after)?;
        let intermediate = if opts.intermediate {
            Some(build_intermediate(
                opts, &cert, &key, not_before, not_after,
            )?)
        } else {
            None
        };

        // Build the whole directory beside its final place, then rename it in.
        let parent = match root.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        store::create_dir_all_private(&parent).map_err(|e| match e {
            Error::Io { source, .. } => Error::invalid(
                Field::CaDir,
                root.display().to_string(),
                format!(
                    "its parent {} cannot be created ({source})",
                    parent.display()
                ),
            ),
            other => other,
        })?;
        // Everything from here on holds the CA's lock (beside the directory, so it
        // stays the same lock while the directory is swapped): issuers of the old CA
        // finish first, and a concurrent init waits.
        let _lock = dir.lock()?;
        let non_empty = root.exists()
            && std::fs::read_dir(root)
                .map_err(|e| Error::io(root, e))?
                .next()
                .is_some();
        if non_empty && !dir.exists() {
            return Err(Error::invalid(
                Field::CaDir,
                root.display().to_string(),
                "is a non-empty directory that is not a fedca CA; choose an empty or new directory",
            ));
        }
        if non_empty && !opts.force {
            return Err(Error::CaExists(root.to_path_buf()));
        }
        let (_, base) = dir.parent_and_base()?;
        // The new CA is built in a 0700 directory beside its final place, marked as
        // new: a crash leaves it to the next locked command, which removes it.
        let staging = tempfile::Builder::new()
            .prefix(&store::init_staging_prefix(&base))
            .rand_bytes(store::INIT_RAND_LEN)
            .tempdir_in(&parent)
            .map_err(|e| Error::io(&parent, e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            staging.path(),
            std::fs::Permissions::from_mode(store::DIR_MODE),
        )
        .map_err(|e| Error::io(staging.path(), e))?;
        store::write_atomic(&staging.path().join(files::INIT_MARK), b"", KEY_MODE)?;
        let policy_text = serde_json::to_string_pretty(&policy)
            .map_err(|e| Error::Internal(e.to_string()))?
            + "\n";
        store::write_atomic(
            &staging.path().join(files::POLICY),
            policy_text.as_bytes(),
            PUBLIC_MODE,
        )?;
        store::write_atomic(
            &staging.path().join(files::ROOT_CERT),
            cert.pem().as_bytes(),
            PUBLIC_MODE,
        )?;
        store::write_atomic(
            &staging.path().join(files::ROOT_KEY),
            key_to_pem(&key, opts.passphrase.as_ref())?.as_bytes(),
            KEY_MODE,
        )?;
        if let Some((icert, ikey)) = &intermediate {
            store::write_atomic(
                &staging.path().join(files::INTERMEDIATE_CERT),
                icert.pem().as_bytes(),
                PUBLIC_MODE,
            )?;
            store::write_atomic(
                &staging.path().join(files::INTERMEDIATE_KEY),
                key_to_pem(ikey, opts.passphrase.as_ref())?.as_bytes(),
                KEY_MODE,
            )?;
        }
        store::write_atomic(&staging.path().join(files::INDEX), b"", PUBLIC_MODE)?;
        store::create_dir_private(&staging.path().join(files::SERVERS))?;
        store::create_dir_private(&staging.path().join(files::CERTS))?;
        store::sync_dir(staging.path())?;
        store::crash_point("init-staged");

        let mut replaced = None;
        if non_empty {
            // Swap the new CA in and the old one out in one step, so the path always
            // holds a whole CA; then move the old one (now in the staging directory,
            // unmarked) aside. A crash in between is finished by the next lock.
            let aside = store::replaced_name(&parent, &base);
            match store::exchange(staging.path(), root) {
                Ok(()) => {
                    let swapped = staging.keep();
                    std::fs::rename(&swapped, &aside).map_err(|e| Error::io(&swapped, e))?;
                }
                Err(e) if matches!(e.raw_os_error(), Some(22 | 38 | 95)) => {
                    // The file system cannot exchange (EINVAL, ENOSYS, EOPNOTSUPP).
                    std::fs::rename(root, &aside).map_err(|e| Error::io(root, e))?;
                    if let Err(e) = std::fs::rename(staging.path(), root) {
                        let _ = std::fs::rename(&aside, root);
                        return Err(Error::io(root, e));
                    }
                    let _ = staging.keep();
                }
                Err(e) => return Err(Error::io(root, e)),
            }
            replaced = Some(aside);
        } else {
            // An empty directory at `root` is replaced atomically by rename(2). The
            // staging directory (which holds the new key) is removed if that fails.
            std::fs::rename(staging.path(), root).map_err(|e| Error::io(root, e))?;
            let _ = staging.keep();
        }
        std::fs::remove_file(dir.path(files::INIT_MARK))
            .map_err(|e| Error::io(&dir.path(files::INIT_MARK), e))?;
        store::sync_dir(root)?;
        store::sync_dir(&parent)?;

        let authority = Authority::load_with(dir, opts.passphrase.as_ref())?;
        Ok((authority, replaced))
    }

    /// Creates a CA in memory only: the same root, policy and checks as
    /// [`Authority::init`], with nothing written anywhere (`opts.force` is ignored).
    /// [`crate::testing`] builds its federations on it.
    pub fn ephemeral(opts: &InitOptions) -> Result<Authority> {
        validate_ca_name(&opts.name)?;
        if opts.leaf_validity.duration() > opts.validity.duration() {
            return Err(Error::invalid(
                Field::AnyLeafValidity,
                opts.leaf_validity.to_string(),
                format!("is longer than the root's validity ({})", opts.validity),
            ));
        }
        let now = OffsetDateTime::now_utc();
        let not_before = now - validity::BACKDATE;
        let not_after = now + opts.validity.duration();
        let (policy, cert, key) = build_root(opts, not_before, not_after)?;
        let intermediate = if opts.intermediate {
            let (icert, ikey) = build_intermediate(opts, &cert, &key, not_before, not_after)?;
            Some(Intermediate {
                cert_pem: icert.pem(),
                cert_der: icert.der().to_vec(),
                key: ikey,
            })
        } else {
            None
        };
        let cert_der = cert.der().to_vec();
        // The times as the certificate encodes them (whole seconds), as `load` reads them.
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| Error::Internal(format!("fedca's own root does not parse: {e}")))?;
        Ok(Authority {
            policy,
            cert_pem: cert.pem(),
            not_before: x509.validity().not_before.to_datetime(),
            not_after: x509.validity().not_after.to_datetime(),
            cert_der,
            key: Some(key),
            intermediate,
            cross_pem: None,
        })
    }

    /// Loads the CA in `dir`, whose keys are not encrypted.
    pub fn load(dir: &CaDir) -> Result<Authority> {
        Authority::load_with(dir, None)
    }

    /// Whether the CA in `dir` keeps the key it signs with encrypted, so that loading it
    /// needs a passphrase ([`Authority::load_with`]).
    pub fn needs_passphrase(dir: &CaDir) -> Result<bool> {
        let name = if dir.path(files::INTERMEDIATE_CERT).exists() {
            files::INTERMEDIATE_KEY
        } else {
            files::ROOT_KEY
        };
        match std::fs::read_to_string(dir.path(name)) {
            Ok(text) => Ok(is_encrypted_pem(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&dir.path(name), e)),
        }
    }

    /// Loads the CA in `dir`, decrypting its signing key with `passphrase` when it is
    /// encrypted. With an intermediate, only the intermediate's key is read: the root
    /// key may be offline.
    pub fn load_with(dir: &CaDir, passphrase: Option<&Passphrase>) -> Result<Authority> {
        if dir.path(files::ROTATION_STAGING).exists() {
            // A rotation was interrupted: taking the lock finishes or undoes it.
            drop(dir.lock()?);
        }
        if !dir.exists() {
            return Err(Error::NoCa(dir.root().to_path_buf()));
        }
        let policy_path = dir.path(files::POLICY);
        let policy: Policy = serde_json::from_str(&dir.read(files::POLICY)?)
            .map_err(|e| Error::corrupt(&policy_path, format!("unreadable policy: {e}")))?;
        let cert_pem = dir.read(files::ROOT_CERT)?;
        let cert_path = dir.path(files::ROOT_CERT);
        let cert_der = crate::x509::first_certificate(cert_pem.as_bytes())
            .map_err(|e| Error::corrupt(&cert_path, format!("not a PEM certificate: {e}")))?;
        dir.check_permissions(true)?;
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| Error::corrupt(&cert_path, format!("not a certificate: {e}")))?;
        let mut not_before = x509.validity().not_before.to_datetime();
        let mut not_after = x509.validity().not_after.to_datetime();
        let (key, intermediate) = if policy.intermediate {
            let icert_path = dir.path(files::INTERMEDIATE_CERT);
            let icert_pem = dir.read(files::INTERMEDIATE_CERT)?;
            let icert_der = crate::x509::pem_first(&icert_pem)
                .map_err(|e| Error::corrupt(&icert_path, format!("not a PEM certificate: {e}")))?
                .der;
            let (_, ix509) = x509_parser::parse_x509_certificate(&icert_der)
                .map_err(|e| Error::corrupt(&icert_path, format!("not a certificate: {e}")))?;
            let ikey = load_key_matching(dir, files::INTERMEDIATE_KEY, &ix509, passphrase)?;
            not_before = not_before.max(ix509.validity().not_before.to_datetime());
            not_after = not_after.min(ix509.validity().not_after.to_datetime());
            let inter = Intermediate {
                cert_pem: icert_pem,
                cert_der: icert_der,
                key: ikey,
            };
            (None, Some(inter))
        } else {
            if !dir.path(files::ROOT_KEY).exists() {
                return Err(root_key_missing(
                    dir,
                    "sign certificates (this CA has no intermediate)",
                ));
            }
            let key = load_key_matching(dir, files::ROOT_KEY, &x509, passphrase)?;
            (Some(key), None)
        };
        let cross_pem = match std::fs::read_to_string(dir.path(files::CROSS_CERT)) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&dir.path(files::CROSS_CERT), e)),
        };
        Ok(Authority {
            policy,
            cert_pem,
            cert_der,
            key,
            intermediate,
            cross_pem,
            not_before,
            not_after,
        })
    }

    /// The intermediate certificate (PEM), when the CA issues through one.
    pub fn intermediate_pem(&self) -> Option<&str> {
        self.intermediate.as_ref().map(|i| i.cert_pem.as_str())
    }

    /// The certificates between a leaf and the root, PEM, concatenated: what follows the
    /// leaf in `fullchain.pem` (empty when the root signs leaves itself).
    ///
    /// During a root rotation the cross-certificate comes first (the issuing key
    /// certified by the old root, for verifiers that trust only the old root; OpenSSL
    /// takes the first matching issuer), then the intermediate.
    pub fn chain_pem(&self) -> String {
        format!(
            "{}{}",
            self.cross_pem.as_deref().unwrap_or(""),
            self.intermediate_pem().unwrap_or("")
        )
    }

    /// The DER certificates between a leaf and the root, as [`Authority::chain_pem`].
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = self
            .cross_pem
            .iter()
            .filter_map(|p| crate::x509::pem_first(p).ok())
            .map(|p| p.der)
            .collect();
        out.extend(self.intermediate.iter().map(|i| i.cert_der.clone()));
        out
    }

    /// The certificate that signs leaves and CRLs (DER): the intermediate when there is
    /// one, else the root.
    pub fn issuing_cert_der(&self) -> Vec<u8> {
        match &self.intermediate {
            Some(i) => i.cert_der.clone(),
            None => self.cert_der.clone(),
        }
    }

    /// Whether a root rotation is in progress (`rotate-root` ran, `--finish` not yet).
    pub fn rotating(&self) -> bool {
        self.cross_pem.is_some()
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The root certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The root certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Start of the root's validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of the root's validity: no leaf outlives it.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The name constraints in force.
    pub fn constraints(&self) -> &Constraints {
        &self.policy.permitted
    }

    /// The issuer of leaves: the intermediate when there is one, else the root.
    pub(crate) fn issuer(&self) -> Result<rcgen::Issuer<'static, &KeyPair>> {
        match (&self.intermediate, &self.key) {
            (Some(i), _) => rcgen::Issuer::from_ca_cert_der(&i.cert_der.clone().into(), &i.key)
                .crypto("loading the intermediate as issuer"),
            (None, Some(key)) => {
                rcgen::Issuer::from_ca_cert_der(&self.cert_der.clone().into(), key)
                    .crypto("loading the root as issuer")
            }
            (None, None) => Err(Error::Internal(
                "a CA without an intermediate was loaded without its root key".into(),
            )),
        }
    }
}

/// The error of an operation that needs the root key when it is offline.
pub fn root_key_missing(dir: &CaDir, what: &str) -> Error {
    Error::invalid(
        Field::RootKey,
        dir.path(files::ROOT_KEY).display().to_string(),
        format!(
            "is not in the CA directory (it was removed to keep it offline), and is needed to {what}; bring it back with `fedca root import-key FILE {ca_dir} {}`",
            dir.root().display(),
            ca_dir = Field::CaDir.mention(),
        ),
    )
}

/// Reads the key `name` of `dir` (decrypting it with `passphrase` when encrypted) and
/// checks it is the key of `cert`.
pub(crate) fn load_key_matching(
    dir: &CaDir,
    name: &str,
    cert: &x509_parser::certificate::X509Certificate<'_>,
    passphrase: Option<&Passphrase>,
) -> Result<KeyPair> {
    let path = dir.path(name);
    let key = key_from_pem(&dir.read(name)?, passphrase, &path)?;
    check_key_matches(&key, cert, &path)?;
    Ok(key)
}

/// Checks that `key` is the key certified by `cert`.
pub(crate) fn check_key_matches(
    key: &KeyPair,
    cert: &x509_parser::certificate::X509Certificate<'_>,
    path: &std::path::Path,
) -> Result<()> {
    if cert.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(key).as_slice() {
        return Err(Error::corrupt(
            path,
            "this key does not match its certificate",
        ));
    }
    Ok(())
}

/// The intermediate's common name: the CA's name and " intermediate", within 64
/// characters.
fn intermediate_name(name: &str) -> String {
    let suffix = " intermediate";
    let keep = 64 - suffix.len();
    let head: String = name.chars().take(keep).collect();
    format!("{head}{suffix}")
}

/// Signs an intermediate with the root: path length 0, keyCertSign and cRLSign, the
/// root's name constraints (so never wider), the root's validity; linted.
pub(crate) fn build_intermediate(
    opts: &InitOptions,
    root_cert: &rcgen::Certificate,
    root_key: &KeyPair,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(rcgen::Certificate, KeyPair)> {
    let key = opts.key_type.generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, intermediate_name(&opts.name));
    params.distinguished_name = dn;
    params.serial_number = Some(crate::x509::random_serial(&Default::default())?);
    params.not_before = not_before;
    params.not_after = not_after;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.name_constraints = opts.permitted.to_name_constraints();
    params.use_authority_key_identifier_extension = true;
    let issuer = rcgen::Issuer::from_ca_cert_der(root_cert.der(), root_key)
        .crypto("loading the root as issuer")?;
    let cert = params
        .signed_by(&key, &issuer)
        .crypto("signing the intermediate")?;
    crate::lint::check_intermediate(cert.der(), root_cert.der())?;
    Ok((cert, key))
}

/// Generates the root key and self-signs the root `opts` describes, linted; returns
/// it with its policy.
fn build_root(
    opts: &InitOptions,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(Policy, rcgen::Certificate, KeyPair)> {
    let key = opts.key_type.generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, opts.name.as_str());
    params.distinguished_name = dn;
    params.serial_number = Some(crate::x509::random_serial(&Default::default())?);
    params.not_before = not_before;
    params.not_after = not_after;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(ROOT_PATH_LEN));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.name_constraints = opts.permitted.to_name_constraints();
    let cert = params.self_signed(&key).crypto("self-signing the root")?;
    crate::lint::check_root(cert.der())?;
    let policy = Policy {
        format: 1,
        name: opts.name.clone(),
        key_type: opts.key_type,
        root_validity: opts.validity,
        leaf_validity: opts.leaf_validity,
        permitted: opts.permitted.clone(),
        intermediate: opts.intermediate,
    };
    Ok((policy, cert, key))
}

/// What `root export-key` recorded in the CA directory: the exported key's SHA-256
/// and where it went, so that `root remove-key` knows a copy exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootKeyExport {
    /// Lower-case hex SHA-256 of the exported file's bytes (the root key file as is).
    pub sha256: String,
    /// Where it was written.
    pub to: String,
    /// When, RFC 3339.
    pub at: String,
}

fn read_root_cert(dir: &CaDir) -> Result<Vec<u8>> {
    let path = dir.path(files::ROOT_CERT);
    Ok(crate::x509::pem_first(dir.read(files::ROOT_CERT)?)
        .map_err(|e| Error::corrupt(&path, format!("not a PEM certificate: {e}")))?
        .der)
}

/// Copies the root key, as stored (encrypted if it is), to a new file `to` (0600; an
/// existing file is refused), reads the copy back, and records the export in the CA
/// directory. Under the CA's lock.
pub fn export_root_key(dir: &CaDir, to: &std::path::Path) -> Result<RootKeyExport> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if !dir.exists() {
        return Err(Error::NoCa(dir.root().to_path_buf()));
    }
    let bad = |rule: String| Error::invalid(Field::ExportTo, to.display().to_string(), rule);
    if to.to_str().is_none() {
        return Err(bad(
            "is not valid UTF-8, which the CA directory cannot record".into(),
        ));
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(bad(
            "exists; fedca never overwrites a key file, choose a new name".into(),
        ));
    }
    if dir.contains(to)? {
        return Err(bad(
            "is inside the CA directory; the point is a copy outside it".into(),
        ));
    }
    let _lock = dir.lock()?;
    dir.check_permissions(true)?;
    let key_path = dir.path(files::ROOT_KEY);
    if !key_path.exists() {
        return Err(root_key_missing(dir, "export it"));
    }
    let text = dir.read(files::ROOT_KEY)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_MODE)
        .open(to)
        .map_err(|e| bad(format!("cannot be created: {e}")))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(to, e))?;
    drop(f);
    let parent = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    store::sync_dir(parent)?;
    if std::fs::read(to).map_err(|e| Error::io(to, e))? != text.as_bytes() {
        return Err(Error::corrupt(
            to,
            "the copy reads back different from the root key",
        ));
    }
    let record = RootKeyExport {
        sha256: crate::x509::sha256_hex(text.as_bytes()),
        to: std::path::absolute(to)
            .map_err(|e| Error::io(to, e))?
            .display()
            .to_string(),
        at: crate::x509::rfc3339(OffsetDateTime::now_utc()),
    };
    let json = serde_json::to_string_pretty(&record).map_err(|e| Error::Internal(e.to_string()))?;
    store::write_atomic(
        &dir.path(files::ROOT_KEY_EXPORTED),
        (json + "\n").as_bytes(),
        PUBLIC_MODE,
    )?;
    Ok(record)
}

/// Removes the root key from the CA directory, under the CA's lock. Refused (bad
/// input, nothing changed) when the CA has no intermediate (nothing could sign), and,
/// unless `force`, when `root export-key` has not recorded a copy of exactly this key.
/// Returns the recorded export, if any.
pub fn remove_root_key(dir: &CaDir, force: bool) -> Result<Option<RootKeyExport>> {
    if !dir.exists() {
        return Err(Error::NoCa(dir.root().to_path_buf()));
    }
    let _lock = dir.lock()?;
    let policy_path = dir.path(files::POLICY);
    let policy: Policy = serde_json::from_str(&dir.read(files::POLICY)?)
        .map_err(|e| Error::corrupt(&policy_path, format!("unreadable policy: {e}")))?;
    let key_path = dir.path(files::ROOT_KEY);
    if !policy.intermediate {
        return Err(Error::invalid(
            Field::RootKey,
            key_path.display().to_string(),
            format!("signs every certificate of this CA (it has no intermediate), so removing it would stop all issuance; create a CA with `fedca init {}` to keep the root offline", Field::Intermediate.mention()),
        ));
    }
    if !key_path.exists() {
        return Err(Error::invalid(
            Field::RootKey,
            key_path.display().to_string(),
            "is already removed",
        ));
    }
    let text = dir.read(files::ROOT_KEY)?;
    let export: Option<RootKeyExport> =
        match std::fs::read_to_string(dir.path(files::ROOT_KEY_EXPORTED)) {
            Ok(t) => serde_json::from_str(&t).ok(),
            Err(_) => None,
        };
    let exported = export
        .as_ref()
        .is_some_and(|e| e.sha256 == crate::x509::sha256_hex(text.as_bytes()));
    if !exported && !force {
        return Err(Error::invalid(
            Field::RootKey,
            key_path.display().to_string(),
            format!(
                "has not been exported (removing it would lose it for good); run `fedca root export-key {} FILE` first, or pass {} if a copy exists elsewhere",
                Field::ExportTo.mention(),
                Field::Force.mention()
            ),
        ));
    }
    std::fs::remove_file(&key_path).map_err(|e| Error::io(&key_path, e))?;
    store::sync_dir(dir.root())?;
    Ok(export)
}

/// Puts the root key back from `from` (as `root export-key` wrote it), after checking
/// it is the key of `root.pem` (decrypting with `passphrase` when it is encrypted).
/// The file is stored as is. Under the CA's lock; bad input changes nothing.
pub fn import_root_key(
    dir: &CaDir,
    from: &std::path::Path,
    passphrase: Option<&Passphrase>,
) -> Result<()> {
    if !dir.exists() {
        return Err(Error::NoCa(dir.root().to_path_buf()));
    }
    let text = store::read_input_text(from, Field::KeyFile, "is not a PEM file")?;
    let key = match key_from_pem(&text, passphrase, from) {
        Ok(k) => k,
        Err(Error::Corrupt { detail, .. }) => {
            return Err(Error::invalid(
                Field::KeyFile,
                from.display().to_string(),
                detail,
            ))
        }
        Err(e) => return Err(e),
    };
    let _lock = dir.lock()?;
    let key_path = dir.path(files::ROOT_KEY);
    if key_path.exists() {
        return Err(Error::invalid(
            Field::RootKey,
            key_path.display().to_string(),
            "is already in the CA directory; nothing to import",
        ));
    }
    let der = read_root_cert(dir)?;
    let (_, root) = x509_parser::parse_x509_certificate(&der).map_err(|e| {
        Error::corrupt(
            &dir.path(files::ROOT_CERT),
            format!("not a certificate: {e}"),
        )
    })?;
    check_key_matches(&key, &root, from).map_err(|_| {
        Error::invalid(
            Field::KeyFile,
            from.display().to_string(),
            "is not the key of this CA's root.pem",
        )
    })?;
    store::write_atomic(&key_path, text.as_bytes(), KEY_MODE)
}

/// Stages `files` (name, contents, mode) in the rotation directory, writes the commit
/// marker, and installs them ([`CaDir::finish_rotation`]).
fn install_rotation(
    dir: &CaDir,
    lock: &store::CaLock,
    staged: &[(&str, String, u32)],
    remove: &[&str],
) -> Result<()> {
    let staging = dir.path(files::ROTATION_STAGING);
    store::create_dir_private(&staging)?;
    for (name, text, mode) in staged {
        store::write_atomic(&staging.join(name), text.as_bytes(), *mode)?;
    }
    store::crash_point("rotate-staged");
    let commit = store::RotationCommit {
        remove: remove.iter().map(|s| s.to_string()).collect(),
    };
    let json = serde_json::to_string(&commit).map_err(|e| Error::Internal(e.to_string()))?;
    store::write_atomic(
        &staging.join(store::ROTATION_COMMIT),
        json.as_bytes(),
        KEY_MODE,
    )?;
    store::crash_point("rotate-committed");
    dir.finish_rotation(lock)
}

/// What `rotate-root` did.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    /// The new root's common name.
    pub new_root: String,
    /// SHA-256 of the new root certificate (DER).
    pub new_root_sha256: String,
    /// SHA-256 of the root it replaces (still trusted until `--finish`).
    pub old_root_sha256: String,
    /// SHA-256 of the cross-certificate (the issuing key certified by the old root).
    pub cross_sha256: Option<String>,
    /// Whether this was `--finish`.
    pub finished: bool,
}

/// Starts a root rotation: a new root (and, for a CA with an intermediate, a new
/// intermediate under it), and a cross-certificate — the new issuing key certified by
/// the old root — so that leaves issued from now on verify both for clients trusting
/// the new root and for clients still trusting only the old one. `root.pem` holds the
/// new root then the old one (so `trust` outputs list both, and `ca.pem` carries both);
/// `fullchain.pem` of every new leaf carries the cross-certificate. The old root key
/// moves to `previous-root-key.pem`. Needs the root key (and the passphrase when the
/// keys are encrypted; new keys are encrypted with it).
pub fn rotate_root(dir: &CaDir, passphrase: Option<&Passphrase>) -> Result<Rotation> {
    if !dir.exists() {
        return Err(Error::NoCa(dir.root().to_path_buf()));
    }
    let lock = dir.lock()?;
    dir.check_permissions(true)?;
    let policy_path = dir.path(files::POLICY);
    let policy: Policy = serde_json::from_str(&dir.read(files::POLICY)?)
        .map_err(|e| Error::corrupt(&policy_path, format!("unreadable policy: {e}")))?;
    if dir.path(files::CROSS_CERT).exists() {
        return Err(Error::invalid(
            Field::RotationStart,
            dir.root().display().to_string(),
            format!(
                "a rotation is already in progress; retire the old root with `fedca {}` first",
                Field::RotationFinish.mention()
            ),
        ));
    }
    if !dir.path(files::ROOT_KEY).exists() {
        return Err(root_key_missing(dir, "rotate the root"));
    }
    let old_text = dir.read(files::ROOT_CERT)?;
    let old_der = read_root_cert(dir)?;
    let (_, old_x509) = x509_parser::parse_x509_certificate(&old_der).map_err(|e| {
        Error::corrupt(
            &dir.path(files::ROOT_CERT),
            format!("not a certificate: {e}"),
        )
    })?;
    let old_key_text = dir.read(files::ROOT_KEY)?;
    let old_key = key_from_pem(&old_key_text, passphrase, &dir.path(files::ROOT_KEY))?;
    check_key_matches(&old_key, &old_x509, &dir.path(files::ROOT_KEY))?;
    let encrypt = if is_encrypted_pem(&old_key_text) {
        passphrase
    } else {
        None
    };

    let now = OffsetDateTime::now_utc();
    let not_before = now - validity::BACKDATE;
    let not_after = now + policy.root_validity.duration();
    let stamp = format!(" {}", &crate::x509::rfc3339(now)[..10]);
    let head: String = policy.name.chars().take(64 - stamp.len()).collect();
    let opts = InitOptions {
        name: format!("{head}{stamp}"),
        key_type: policy.key_type,
        validity: policy.root_validity,
        leaf_validity: policy.leaf_validity,
        permitted: policy.permitted.clone(),
        force: false,
        intermediate: policy.intermediate,
        passphrase: None,
    };
    let (_, new_root, new_key) = build_root(&opts, not_before, not_after)?;
    let intermediate = if policy.intermediate {
        Some(build_intermediate(
            &opts, &new_root, &new_key, not_before, not_after,
        )?)
    } else {
        None
    };
    // The issuing certificate of the new hierarchy, certified by the old root too.
    let (issuing_cn, issuing_key) = match &intermediate {
        Some((_, k)) => (intermediate_name(&opts.name), k),
        None => (opts.name.clone(), &new_key),
    };
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, issuing_cn);
    params.distinguished_name = dn;
    params.serial_number = Some(crate::x509::random_serial(&Default::default())?);
    params.not_before = not_before;
    params.not_after = std::cmp::min(not_after, old_x509.validity().not_after.to_datetime());
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.name_constraints = policy.permitted.to_name_constraints();
    params.use_authority_key_identifier_extension = true;
    let old_issuer = rcgen::Issuer::from_ca_cert_der(&old_der.clone().into(), &old_key)
        .crypto("loading the old root as issuer")?;
    let cross = params
        .signed_by(issuing_key, &old_issuer)
        .crypto("cross-signing the new root")?;
    crate::lint::check_intermediate(cross.der(), &old_der)?;

    let mut staged = vec![
        (files::PREVIOUS_ROOT_KEY, old_key_text, KEY_MODE),
        (files::ROOT_KEY, key_to_pem(&new_key, encrypt)?, KEY_MODE),
    ];
    if let Some((c, k)) = &intermediate {
        // The old intermediate is kept, as the old root key is.
        staged.push((
            files::PREVIOUS_INTERMEDIATE_KEY,
            dir.read(files::INTERMEDIATE_KEY)?,
            KEY_MODE,
        ));
        staged.push((
            files::PREVIOUS_INTERMEDIATE_CERT,
            dir.read(files::INTERMEDIATE_CERT)?,
            PUBLIC_MODE,
        ));
        staged.push((files::INTERMEDIATE_KEY, key_to_pem(k, encrypt)?, KEY_MODE));
        staged.push((files::INTERMEDIATE_CERT, c.pem(), PUBLIC_MODE));
    }
    staged.push((files::CROSS_CERT, cross.pem(), PUBLIC_MODE));
    let old_first = crate::x509::pem_first(&old_text)
        .map(|p| crate::x509::pem_encode(&p.tag, &p.der))
        .map_err(|e| Error::corrupt(&dir.path(files::ROOT_CERT), e))?;
    staged.push((
        files::ROOT_CERT,
        format!("{}{}", new_root.pem(), old_first),
        PUBLIC_MODE,
    ));
    install_rotation(dir, &lock, &staged, &[])?;
    Ok(Rotation {
        new_root: opts.name,
        new_root_sha256: crate::x509::sha256_hex(new_root.der()),
        old_root_sha256: crate::x509::sha256_hex(&old_der),
        cross_sha256: Some(crate::x509::sha256_hex(cross.der())),
        finished: false,
    })
}

/// Ends a rotation: `root.pem` holds the new root alone and the cross-certificate is
/// removed, so `trust` outputs stop listing the old root and new leaves' `fullchain.pem`
/// stops carrying the cross-certificate. Needs no key. Renew every server afterwards so
/// that no `fullchain.pem` still leads to the old root.
pub fn finish_root_rotation(dir: &CaDir) -> Result<Rotation> {
    if !dir.exists() {
        return Err(Error::NoCa(dir.root().to_path_buf()));
    }
    let lock = dir.lock()?;
    if !dir.path(files::CROSS_CERT).exists() {
        return Err(Error::invalid(
            Field::RotationFinish,
            dir.root().display().to_string(),
            "no rotation is in progress (start one with `fedca rotate-root`)",
        ));
    }
    let text = dir.read(files::ROOT_CERT)?;
    let blocks =
        crate::x509::pem_all(&text).map_err(|e| Error::corrupt(&dir.path(files::ROOT_CERT), e))?;
    let (Some(new), Some(old)) = (blocks.first(), blocks.get(1)) else {
        return Err(Error::corrupt(
            &dir.path(files::ROOT_CERT),
            "a rotation is in progress but root.pem does not hold two roots",
        ));
    };
    let new_pem = crate::x509::pem_encode(&new.tag, &new.der);
    install_rotation(
        dir,
        &lock,
        &[(files::ROOT_CERT, new_pem, PUBLIC_MODE)],
        &[files::CROSS_CERT],
    )?;
    let (_, x) = x509_parser::parse_x509_certificate(&new.der)
        .map_err(|e| Error::corrupt(&dir.path(files::ROOT_CERT), e.to_string()))?;
    let new_root = x
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .unwrap_or("")
        .to_string();
    let rotation = Rotation {
        new_root,
        new_root_sha256: crate::x509::sha256_hex(&new.der),
        old_root_sha256: crate::x509::sha256_hex(&old.der),
        cross_sha256: None,
        finished: true,
    };
    Ok(rotation)
}

fn validate_ca_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid(Field::CaName, name, "cannot be empty"));
    }
    if name.chars().count() > 64 {
        return Err(Error::invalid(
            Field::CaName,
            name,
            "is longer than 64 characters (RFC 5280's limit for a common name)",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            Field::CaName,
            name,
            "contains control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(list: &[&str]) -> Constraints {
        Constraints(list.iter().map(|p| Permit::parse(p).unwrap()).collect())
    }

    #[test]
    fn a_generated_leaf_key_loads_and_its_public_key_is_the_pairs() {
        use rcgen::PublicKeyData;
        for kt in KeyType::ALL {
            for _ in 0..20 {
                let leaf = kt.generate_leaf().unwrap();
                // ring checks, loading it, that the public key is the private key's.
                let pair = KeyPair::from_pem(&leaf.pem).unwrap();
                assert_eq!(leaf.public.der_bytes(), pair.der_bytes(), "{kt}");
                assert_eq!(leaf.public.algorithm(), kt.algorithm(), "{kt}");
                assert_eq!(leaf.pem, pair.serialize_pem(), "{kt}");
            }
        }
    }

    #[test]
    fn ed25519_keys_are_rfc8410_pkcs8_v1_and_round_trip() {
        let key = KeyType::Ed25519.generate().unwrap();
        let der = key.serialize_der();
        assert_eq!(der.len(), 48);
        assert_eq!(der[..16], ed25519_pkcs8_v1(&[0; 32])[..16]);
        let back = KeyPair::from_pem(&key.serialize_pem()).unwrap();
        assert_eq!(back.public_key_raw(), key.public_key_raw());
        assert!(std::ptr::eq(back.algorithm(), &rcgen::PKCS_ED25519));
    }

    #[test]
    fn encrypted_keys_round_trip_for_every_key_type_and_refuse_a_wrong_passphrase() {
        let pass = Passphrase::new(b"correct horse".to_vec()).unwrap();
        let wrong = Passphrase::new(b"correct horsf".to_vec()).unwrap();
        assert_eq!(format!("{pass:?}"), "Passphrase(..)");
        assert!(Passphrase::new(Vec::new()).is_err());
        let path = std::path::Path::new("k.pem");
        for kt in KeyType::ALL {
            let key = kt.generate().unwrap();
            let text = key_to_pem(&key, Some(&pass)).unwrap();
            assert!(is_encrypted_pem(&text), "{kt}");
            assert!(!text.contains(&key.serialize_pem()[40..80]), "{kt}");
            let back = key_from_pem(&text, Some(&pass), path).unwrap();
            assert_eq!(back.public_key_raw(), key.public_key_raw(), "{kt}");
            let err = key_from_pem(&text, Some(&wrong), path).unwrap_err();
            assert!(err.to_string().contains("wrong passphrase"), "{kt}: {err}");
            assert_eq!(err.exit_code(), 1);
            let err = key_from_pem(&text, None, path).unwrap_err();
            assert!(err.to_string().contains("no passphrase"), "{kt}: {err}");
            // Unencrypted keys are read with or without a passphrase.
            let plain = key_to_pem(&key, None).unwrap();
            assert!(!is_encrypted_pem(&plain));
            assert!(key_from_pem(&plain, Some(&pass), path).is_ok());
        }
    }

    #[test]
    fn intermediate_names_fit_a_common_name() {
        assert_eq!(intermediate_name("fedca root"), "fedca root intermediate");
        let long = "x".repeat(64);
        assert_eq!(intermediate_name(&long).chars().count(), 64);
    }

    #[test]
    fn permits_parse() {
        assert_eq!(Permit::parse("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert_eq!(
            Permit::parse("10.0.0.7").unwrap().to_string(),
            "10.0.0.7/32"
        );
        assert!(Permit::parse("10.0.0.7/8")
            .unwrap_err()
            .to_string()
            .contains("10.0.0.0/8"));
        assert!(Permit::parse("10.0.0.0/33").is_err());
        assert!(Permit::parse(".fed.test").is_err());
        assert!(Permit::parse("fed_test").is_err());
        assert_eq!(Permit::parse("ONION").unwrap(), Permit::Onion);
    }

    #[test]
    fn constraint_precheck() {
        let cs = c(&["fed.test", "10.0.0.0/8", "onion"]);
        let ok = |n: &str| cs.check(&AltName::parse(n).unwrap()).is_ok();
        assert!(ok("fed.test"));
        assert!(ok("hs1.fed.test"));
        assert!(ok("*.fed.test"));
        assert!(!ok("evilfed.test"));
        assert!(!ok("hs1.other.test"));
        assert!(ok("10.1.2.3"));
        assert!(!ok("11.0.0.1"));
        // Only IPv4 ranges permitted: verifiers refuse any IPv6 address.
        assert!(!ok("fd00::7"));
        let o = crate::name::onion_address_from_pubkey(&[1; 32]);
        assert!(ok(&o));
        // Unconstrained.
        assert!(Constraints::default()
            .check(&AltName::parse("x.y").unwrap())
            .is_ok());
        // A type with nothing permitted is excluded: IP-only roots sign no DNS name,
        // DNS-only roots no address, IPv4-only roots no IPv6 address.
        let ok_in = |cs: &[&str], n: &str| c(cs).check(&AltName::parse(n).unwrap()).is_ok();
        assert!(!ok_in(&["10.0.0.0/8", "fd00::/8"], "www.google.com"));
        assert!(!ok_in(&["lab.test"], "8.8.8.8"));
        assert!(!ok_in(&["lab.test"], "2001:4860:4860::8888"));
        assert!(!ok_in(&["onion"], "8.8.8.8"));
        assert!(ok_in(&["10.0.0.0/8", "fd00::/8"], "fd00::1"));
        assert_eq!(
            c(&["fd00::/8"]).excluded(),
            [Excluded::AllDns, Excluded::AllIpv4, Excluded::Ipv4Mapped]
        );
        // IPv4 wholly permitted: a mapped address escapes nothing.
        assert_eq!(c(&["0.0.0.0/0", "::/0"]).excluded(), [Excluded::AllDns]);
        let mapped = AltName::Host(Host::Ipv6("::ffff:8.8.8.8".parse().unwrap()));
        assert!(c(&["::/0", "10.0.0.0/8"]).check(&mapped).is_err());
        assert_eq!(
            c(&["lab.test"]).excluded(),
            [Excluded::AllIpv4, Excluded::AllIpv6]
        );
        assert!(cs.excluded().contains(&Excluded::AllIpv6) && cs.excluded().len() == 1);
        assert!(Constraints::default().excluded().is_empty());
        assert_eq!(c(&["0.0.0.0/0", "fed.test"]).whole_families().len(), 1);
        let split = c(&["0.0.0.0/1", "fd00::/8", "128.0.0.0/1", "::/1", "8000::/1"]);
        assert_eq!(split.whole_families().len(), 2);
        assert!(c(&["0.0.0.0/1", "128.0.0.0/2", "::/1"])
            .whole_families()
            .is_empty());
        let msg = cs
            .check(&AltName::parse("hs1.other.test").unwrap())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("hs1.other.test") && msg.contains("fed.test, 10.0.0.0/8, onion"));
    }
}
