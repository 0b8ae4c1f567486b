//! Leaf certificates for homeservers: profiles, serials, signing, and the one
//! issuance path every leaf leaves through.
//!
//! A leaf gets, from its [`LeafProfile`]:
//! * subjectAltNames: the server name's host (port dropped; IP literals as iPAddress,
//!   DNS and `.onion` names as dNSName), the delegated host when `.well-known`
//!   delegates, and any extra names;
//! * a subject of `CN=<first DNS name>` when it fits in 64 characters, else an empty
//!   subject with a critical SAN extension (verifiers ignore the CN either way);
//! * EKU serverAuth + clientAuth, keyUsage digitalSignature, basicConstraints CA:FALSE,
//!   AKI and SKI, a random 128-bit positive serial unique in the index, and explicit
//!   validity (backdated by [`crate::validity::BACKDATE`], clamped to the CA's expiry).
//!
//! Before signing, every name is checked against the CA's name constraints; after
//! signing and before anything is written, the certificate is linted and verified
//! the way a federation client would verify it ([`crate::lint::check_leaf`]).

use std::collections::BTreeSet;
use std::path::Path;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::authority::{Authority, KeyType, LeafPublicKey};
use crate::error::{Error, ExternalError, Field, Result};
use crate::name::{AltName, Host, ServerName};
use crate::validity::{Validity, BACKDATE};
pub use crate::x509::{random_serial, serial_hex};

/// What a caller asks for: one server's certificate.
#[derive(Debug, Clone)]
pub struct LeafRequest {
    /// The Matrix server name.
    pub server: ServerName,
    /// The delegated server from `.well-known/matrix/server` (`m.server`), if any.
    pub delegate: Option<ServerName>,
    /// Extra names.
    pub alts: Vec<AltName>,
    /// Validity; the CA's default when `None`.
    pub validity: Option<Validity>,
    /// Key type; the CA's when `None`.
    pub key_type: Option<KeyType>,
}

impl LeafRequest {
    /// A request for `server` with every option at its default.
    pub fn new(server: ServerName) -> Self {
        LeafRequest {
            server,
            delegate: None,
            alts: Vec::new(),
            validity: None,
            key_type: None,
        }
    }
}

/// Everything that goes into one leaf certificate, decided before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafProfile {
    /// The server the certificate is for.
    pub server: ServerName,
    /// Every name, in order: the server's host, the delegated host, the extra names.
    pub names: Vec<AltName>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The leaf's key type.
    pub key_type: KeyType,
    /// Set when the requested validity was cut to the CA's own expiry.
    pub clamped: bool,
}

impl LeafProfile {
    /// Decides the profile for `req` under `ca` at `now`, refusing any name outside the
    /// CA's name constraints.
    pub fn build(req: &LeafRequest, ca: &Authority, now: OffsetDateTime) -> Result<LeafProfile> {
        let mut names = Vec::new();
        let mut seen = BTreeSet::new();
        let mut push = |n: AltName| {
            if seen.insert(n.san_text()) {
                names.push(n);
            }
        };
        push(AltName::Host(req.server.host().clone()));
        if let Some(d) = &req.delegate {
            push(AltName::Host(d.host().clone()));
        }
        for a in &req.alts {
            push(a.clone());
        }
        for n in &names {
            ca.constraints().check(n)?;
        }
        let validity = match req.validity {
            Some(v) => {
                v.check_leaf(Field::Validity, &v.to_string())?;
                v
            }
            None => {
                // A CA made before --leaf-validity was checked may hold a longer default.
                let v = ca.policy().leaf_validity;
                v.check_leaf(Field::PolicyLeafValidity, &v.to_string())
                    .map_err(|e| match e {
                        Error::InvalidValue { what, value, rule } => Error::InvalidValue {
                            what,
                            value,
                            rule: format!(
                                "{rule}; give {} 398d or less",
                                Field::Validity.mention()
                            ),
                        },
                        other => other,
                    })?;
                v
            }
        };
        let not_before = std::cmp::max(now - BACKDATE, ca.not_before());
        let wanted = now + validity.duration();
        let clamped = wanted > ca.not_after();
        let not_after = std::cmp::min(wanted, ca.not_after());
        if not_after <= now {
            return Err(Error::invalid(
                Field::Ca,
                ca.policy().name.clone(),
                format!(
                    "has expired; it cannot issue (create a new root with `fedca init {}`)",
                    Field::Force.mention()
                ),
            ));
        }
        Ok(LeafProfile {
            server: req.server.clone(),
            names,
            not_before,
            not_after,
            key_type: req.key_type.unwrap_or(ca.policy().key_type),
            clamped,
        })
    }

    /// The names as they appear in the certificate.
    pub fn san_texts(&self) -> Vec<String> {
        self.names.iter().map(AltName::san_text).collect()
    }

    /// What [`crate::lint::check_leaf`] checks a leaf signed from this profile against.
    pub fn lint_expectations(&self) -> crate::lint::LeafExpectations {
        crate::lint::LeafExpectations {
            names: self.san_texts(),
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }

    pub(crate) fn params(&self, serial: SerialNumber) -> Result<CertificateParams> {
        let mut p = CertificateParams::default();
        p.serial_number = Some(serial);
        p.not_before = self.not_before;
        p.not_after = self.not_after;
        let mut dn = DistinguishedName::new();
        let cn = self.names.iter().find_map(|n| match n {
            AltName::Host(Host::Dns(d)) if d.as_str().len() <= 64 => Some(d.to_ascii_lowercase()),
            _ => None,
        });
        if let Some(cn) = cn {
            dn.push(DnType::CommonName, cn);
        }
        p.distinguished_name = dn;
        p.subject_alt_names = self
            .names
            .iter()
            .map(|n| match n {
                AltName::Host(h) => match h.ip() {
                    Some(ip) => Ok(SanType::IpAddress(ip)),
                    None => dns_san(&h.verify_name()),
                },
                AltName::Wildcard(_) => dns_san(&n.san_text()),
            })
            .collect::<Result<_>>()?;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.use_authority_key_identifier_extension = true;
        Ok(p)
    }
}

fn dns_san(s: &str) -> Result<SanType> {
    Ok(SanType::DnsName(
        s.to_string().try_into().crypto("encoding a DNS name")?,
    ))
}

/// A signed leaf, not yet written anywhere.
#[derive(Debug)]
pub struct IssuedLeaf {
    /// The profile it was made from.
    pub profile: LeafProfile,
    /// Serial, lower-case hex.
    pub serial: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

/// A server's existing leaf key (`renew --reuse-key`): the new certificate is signed
/// for it, and its PEM is written back byte for byte.
pub struct ExistingKey {
    pem: String,
    key_type: KeyType,
}

impl std::fmt::Debug for ExistingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExistingKey")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl ExistingKey {
    /// Loads the `key.pem` of the server directory `dir` for `server`. It must exist (a
    /// CSR-signed server has none), load as an unencrypted PKCS#8 key fedca can sign
    /// for, be of the record's `key_type`, and be the key certified by the directory's
    /// `cert.pem`, which must be the record's certificate (`cert_sha256`). Each refusal
    /// is bad input against `option`.
    pub fn load(
        dir: &Path,
        server: &str,
        key_type: crate::store::RecordKeyType,
        cert_sha256: &str,
        option: Field,
    ) -> Result<ExistingKey> {
        let refuse = |rule: String| Error::invalid(option.clone(), server, rule);
        let key_path = dir.join(crate::store::files::KEY);
        let pem = match std::fs::read_to_string(&key_path) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(refuse(format!(
                    "has no key to reuse: {} does not exist (a server signed from a CSR keeps its own key: sign a new CSR with `fedca sign-csr`)",
                    key_path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(refuse(format!("{} is not a PEM key", key_path.display())))
            }
            Err(e) => return Err(Error::io(&key_path, e)),
        };
        let key = KeyPair::from_pem(&pem).map_err(|e| {
            refuse(format!(
                "{} is not an unencrypted PKCS#8 key fedca can sign for: {e}",
                key_path.display()
            ))
        })?;
        let found = KeyType::ALL
            .into_iter()
            .find(|k| k.algorithm() == key.algorithm())
            .ok_or_else(|| {
                refuse(format!(
                    "{} is not an ecdsa-p256, ecdsa-p384 or ed25519 key",
                    key_path.display()
                ))
            })?;
        if crate::store::RecordKeyType::from(found) != key_type {
            return Err(refuse(format!(
                "{} is an {found} key, but the server's stored key type is {key_type}",
                key_path.display()
            )));
        }
        let cert_path = dir.join(crate::store::files::LEAF);
        let cert_der = std::fs::read(&cert_path)
            .map_err(|e| Error::io(&cert_path, e))
            .and_then(|b| {
                crate::x509::first_certificate(&b).map_err(|e| Error::corrupt(&cert_path, e))
            })?;
        if crate::x509::sha256_hex(&cert_der) != cert_sha256 {
            return Err(refuse(format!(
                "{} is not the server's current certificate in the index, so its key cannot be checked against it",
                cert_path.display()
            )));
        }
        let cert = crate::x509::parse_cert(&cert_der).map_err(|e| Error::corrupt(&cert_path, e))?;
        if cert.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&key).as_slice() {
            return Err(refuse(format!(
                "{} does not match the server's current certificate {}",
                key_path.display(),
                cert_path.display()
            )));
        }
        Ok(ExistingKey {
            pem,
            key_type: found,
        })
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }
}

/// Signs a leaf for `profile` with a fresh key, then lints and verifies it as a
/// federation client would. Nothing is written: see [`crate::Ca::issue`] for that.
pub fn sign(ca: &Authority, profile: LeafProfile, taken: &BTreeSet<String>) -> Result<IssuedLeaf> {
    sign_for(ca, profile, taken, None)
}

/// [`sign`], for `existing` key when given (its PEM is kept as it is) instead of a
/// fresh one.
pub fn sign_for(
    ca: &Authority,
    profile: LeafProfile,
    taken: &BTreeSet<String>,
    existing: Option<&ExistingKey>,
) -> Result<IssuedLeaf> {
    sign_with_serial(ca, profile, random_serial(taken)?, existing)
}

/// Refuses an existing key whose type is not the one `profile` asks for (bad input:
/// checked before anything is written).
pub fn check_existing_key(profile: &LeafProfile, existing: Option<&ExistingKey>) -> Result<()> {
    match existing {
        Some(k) if k.key_type != profile.key_type => Err(Error::invalid(
            Field::AnyKeyType,
            k.key_type.as_str(),
            format!(
                "is the existing key's type, but the certificate is for a {} key",
                profile.key_type
            ),
        )),
        _ => Ok(()),
    }
}

/// [`sign_for`] with a serial the caller drew (a batch draws all of its serials
/// before it signs: [`crate::Ca::issue`]).
pub fn sign_with_serial(
    ca: &Authority,
    profile: LeafProfile,
    serial: SerialNumber,
    existing: Option<&ExistingKey>,
) -> Result<IssuedLeaf> {
    Signer::new(ca)?.sign(profile, serial, existing)
}

/// A CA ready to sign many leaves: its issuer and chain loaded once (a batch signs
/// thousands; loading the issuer parses the CA certificate).
pub struct Signer<'a> {
    ca: &'a Authority,
    issuer: rcgen::Issuer<'static, &'a KeyPair>,
    chain_der: Vec<Vec<u8>>,
}

impl<'a> Signer<'a> {
    /// Loads `ca`'s issuer (the intermediate when there is one).
    pub fn new(ca: &'a Authority) -> Result<Signer<'a>> {
        Ok(Signer {
            ca,
            issuer: ca.issuer()?,
            chain_der: ca.chain_der(),
        })
    }

    /// Signs one leaf with `serial`, for `existing` key when given (its PEM kept as
    /// it is) or a fresh one, and checks it (lint and webpki) before returning it.
    pub fn sign(
        &self,
        profile: LeafProfile,
        serial: SerialNumber,
        existing: Option<&ExistingKey>,
    ) -> Result<IssuedLeaf> {
        check_existing_key(&profile, existing)?;
        let serial_text = serial_hex(serial.as_ref());
        let (key, key_pem) = match existing {
            Some(k) => (
                LeafPublicKey::of(&KeyPair::from_pem(&k.pem).crypto("loading the existing key")?),
                k.pem.clone(),
            ),
            None => {
                let key = profile.key_type.generate_leaf()?;
                (key.public, key.pem)
            }
        };
        let cert = profile
            .params(serial)?
            .signed_by(&key, &self.issuer)
            .crypto("signing the leaf")?;
        crate::lint::check_leaf_chain(
            cert.der(),
            self.ca.cert_der(),
            &self.chain_der,
            &profile.lint_expectations(),
        )?;
        Ok(IssuedLeaf {
            serial: serial_text,
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_pem,
            profile,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_random_positive_and_distinct() {
        let mut taken = BTreeSet::new();
        for _ in 0..2000 {
            let s = random_serial(&taken).unwrap();
            assert_eq!(s.len(), 16);
            assert_ne!(s.as_ref()[0], 0);
            assert!(taken.insert(serial_hex(s.as_ref())));
        }
    }

    fn ca(permits: &[&str], validity: &str) -> (tempfile::TempDir, crate::Ca) {
        use crate::authority::{Constraints, InitOptions, Permit};
        let tmp = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            permitted: Constraints(permits.iter().map(|p| Permit::parse(p).unwrap()).collect()),
            validity: Validity::parse(validity).unwrap(),
            leaf_validity: Validity::days(7),
            ..InitOptions::default()
        };
        let (ca, _) = crate::Ca::init(tmp.path().join("ca"), &opts).unwrap();
        (tmp, ca)
    }

    #[test]
    fn profile_names_ports_and_validity() {
        let (_t, ca) = ca(&["fed.test", "10.0.0.0/8"], "10y");
        let now = OffsetDateTime::now_utc();
        let mut req = LeafRequest::new(ServerName::parse("hs2.fed.test:8448").unwrap());
        req.delegate = Some(ServerName::parse("matrix.hs2.fed.test:443").unwrap());
        req.alts = vec![
            AltName::parse("10.0.0.9").unwrap(),
            AltName::parse("hs2.fed.test").unwrap(), // a duplicate: kept once
            AltName::parse("*.hs2.fed.test").unwrap(),
        ];
        let p = LeafProfile::build(&req, ca.authority(), now).unwrap();
        assert_eq!(
            p.san_texts(),
            [
                "hs2.fed.test",
                "matrix.hs2.fed.test",
                "10.0.0.9",
                "*.hs2.fed.test"
            ]
        );
        assert_eq!(p.not_before, now - BACKDATE);
        assert_eq!(p.not_after, now + time::Duration::days(7));
        assert!(!p.clamped);
        assert_eq!(p.key_type, KeyType::EcdsaP256);
        let leaf = sign(ca.authority(), p, &BTreeSet::new()).unwrap();
        assert!(leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn profile_is_clamped_to_the_ca_and_checked_against_constraints() {
        let (_t, ca) = ca(&["fed.test"], "8d");
        let now = OffsetDateTime::now_utc();
        let mut req = LeafRequest::new(ServerName::parse("hs1.fed.test").unwrap());
        req.validity = Some(Validity::days(30));
        let p = LeafProfile::build(&req, ca.authority(), now).unwrap();
        assert!(p.clamped);
        assert_eq!(p.not_after, ca.authority().not_after());
        let outside = LeafRequest::new(ServerName::parse("hs1.other.test").unwrap());
        let err = LeafProfile::build(&outside, ca.authority(), now).unwrap_err();
        assert!(matches!(err, Error::OutsideConstraints { .. }), "{err}");
    }

    #[test]
    fn serial_hex_trims_leading_zeros() {
        assert_eq!(serial_hex(&[0, 0, 0x0a, 0xff]), "0aff");
        assert_eq!(serial_hex(&[0]), "00");
    }
}
