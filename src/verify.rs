//! Chain verification exactly as a rustls federation client runs it, with diagnoses.
//!
//! The verdict always comes from rustls's [`WebPkiServerVerifier`] with the ring
//! provider — the code path a Rust homeserver's federation client runs — for the host
//! a Matrix server name maps to (port dropped; IP literals checked as IP addresses).
//! When it says no, fedca examines the chain with x509-parser (issuer/subject and key
//! identifier matching, validity, extensions) to turn a coarse error such as
//! `UnknownIssuer` into one line an admin can act on, with a stable [`ErrorKind`].
//!
//! Three things webpki deliberately does not check are checked after it accepts a chain,
//! because the other verifiers homeservers use (OpenSSL in Synapse, Go in Dendrite,
//! GnuTLS) refuse the chain over them — a federation certificate must pass them all:
//!
//! * keyUsage: a server certificate whose keyUsage lacks digitalSignature, or a CA whose
//!   keyUsage lacks keyCertSign ([`ErrorKind::WrongKeyUsage`]);
//! * the trusted root's pathLenConstraint ([`ErrorKind::PathLengthExceeded`]);
//! * the trusted root's own validity ([`ErrorKind::Expired`], [`ErrorKind::NotYetValid`]).
//!
//! Such a verdict says in its detail that rustls alone would accept the chain. Every
//! other verdict is rustls's.
//!
//! The same trust bundle gives a rustls [`ServerCertVerifier`] ([`Verifier`]) and a
//! [`ClientConfig`] for Rust programs and tests:
//!
//! ```
//! use std::sync::Arc;
//! use fedca::{Ca, authority::InitOptions, issue::LeafRequest, name::ServerName};
//! use fedca::verify::{ErrorKind, TrustBundle};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tmp = tempfile::tempdir()?;
//! let (ca, _) = Ca::init(tmp.path().join("ca"), &InitOptions::default())?;
//! let name = ServerName::parse("hs1.fed.test:8448")?;
//! let issued = ca.issue(&[LeafRequest::new(name.clone())], None)?;
//! let chain = std::fs::read(issued[0].dir.join("fullchain.pem"))?;
//!
//! let bundle = TrustBundle::from_pem(ca.authority().cert_pem())?;
//! let verifier = bundle.verifier()?;
//! assert!(verifier.verify_pem(&chain, name.host(), None).valid);
//!
//! let other = ServerName::parse("hs2.fed.test")?;
//! let verdict = verifier.verify_pem(&chain, other.host(), None);
//! assert_eq!(verdict.error.unwrap().kind, ErrorKind::NameMismatch);
//!
//! // A rustls client that trusts exactly this bundle, for real connections:
//! let config: Arc<rustls::ClientConfig> = Arc::new(bundle.client_config(None)?);
//! # let _ = config;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName as PkiServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use x509_parser::prelude::*;

use crate::error::{Error, Field, Result};
use crate::name::Host;
use crate::x509::{self, san_names, time_text, unix_text};

mod diagnose;

use diagnose::Context;

/// The stable kinds of failure `fedca verify --json` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The chain leads to a CA that is not trusted.
    UnknownIssuer,
    /// The chain lacks the intermediate between the leaf and a trusted root.
    MissingIntermediate,
    /// The leaf is past its notAfter.
    Expired,
    /// A certificate of the chain is before its notBefore.
    NotYetValid,
    /// An intermediate of the chain is past its notAfter.
    ExpiredIntermediate,
    /// The leaf does not name the server.
    NameMismatch,
    /// The leaf has no subjectAltName (only a CN, which verifiers ignore).
    NoSan,
    /// A name in the chain is outside a CA's name constraints.
    NameConstraintViolation,
    /// The leaf's extendedKeyUsage lacks serverAuth.
    WrongEku,
    /// A keyUsage forbids what the certificate is used for.
    WrongKeyUsage,
    /// The server certificate is a CA certificate.
    CaAsLeaf,
    /// A certificate used as an intermediate is not a CA.
    IntermediateNotCa,
    /// The chain's CA certificates issue each other in a loop and never reach a root.
    ChainLoop,
    /// A CA's pathLenConstraint is exceeded.
    PathLengthExceeded,
    /// A signature does not verify.
    BadSignature,
    /// A signature algorithm (or key) rustls does not accept.
    UnsupportedSignatureAlgorithm,
    /// The chain file is not a readable certificate chain.
    Malformed,
    /// Any other refusal (the detail carries rustls's words).
    Other,
}

impl ErrorKind {
    /// The stable name (`unknown_issuer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownIssuer => "unknown_issuer",
            ErrorKind::MissingIntermediate => "missing_intermediate",
            ErrorKind::Expired => "expired",
            ErrorKind::NotYetValid => "not_yet_valid",
            ErrorKind::ExpiredIntermediate => "expired_intermediate",
            ErrorKind::NameMismatch => "name_mismatch",
            ErrorKind::NoSan => "no_san",
            ErrorKind::NameConstraintViolation => "name_constraint_violation",
            ErrorKind::WrongEku => "wrong_eku",
            ErrorKind::WrongKeyUsage => "wrong_key_usage",
            ErrorKind::CaAsLeaf => "ca_as_leaf",
            ErrorKind::IntermediateNotCa => "intermediate_not_ca",
            ErrorKind::ChainLoop => "chain_loop",
            ErrorKind::PathLengthExceeded => "path_length_exceeded",
            ErrorKind::BadSignature => "bad_signature",
            ErrorKind::UnsupportedSignatureAlgorithm => "unsupported_signature_algorithm",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a chain is invalid: a stable kind and one line for a homeserver admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// The stable kind.
    pub kind: ErrorKind,
    /// What is wrong and what to do, in one line. A hint may name a setting as a
    /// [`Field::mention`](crate::error::Field::mention): render it with
    /// [`plain_text`](crate::error::plain_text) (as `Display` does) or
    /// [`cli_text`](crate::error::cli_text).
    pub detail: String,
}

impl Diagnosis {
    fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Diagnosis {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = crate::error::plain_text(&self.detail);
        write!(f, "{}: {detail}", self.kind)
    }
}

/// One certificate of the chain, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertSummary {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, lower-case hex.
    pub serial: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// subjectAltNames (`DNS:x`, `IP:y`).
    pub names: Vec<String>,
    /// basicConstraints CA:TRUE.
    pub ca: bool,
    /// Key type and size (`ecdsa-p256 (256 bits)`).
    pub key: String,
    /// Signature algorithm.
    pub signature_algorithm: String,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
}

impl CertSummary {
    fn of(c: &X509Certificate<'_>, der: &[u8]) -> Self {
        CertSummary {
            subject: x509::dn_text(c.subject()),
            issuer: x509::dn_text(c.issuer()),
            serial: crate::x509::serial_hex(c.raw_serial()),
            not_before: time_text(c.validity().not_before),
            not_after: time_text(c.validity().not_after),
            names: san_names(c),
            ca: c.is_ca(),
            key: x509::key_desc(c.public_key()).to_string(),
            signature_algorithm: x509::sig_alg_name(&c.signature_algorithm.algorithm),
            sha256: crate::x509::sha256_hex(der),
        }
    }
}

/// The outcome of verifying a chain for a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Whether the chain is valid for the name at the time.
    pub valid: bool,
    /// The name checked: a lower-case DNS name or an IP address without brackets.
    pub name: String,
    /// The time of the check, RFC 3339.
    pub at: String,
    /// The certificates of the chain as given, leaf first.
    pub chain: Vec<CertSummary>,
    /// Why it is invalid (`None` when valid).
    pub error: Option<Diagnosis>,
    /// Things that do not make the chain invalid but that an admin should know (a root
    /// about to expire, certificates in the chain that serve no purpose).
    pub warnings: Vec<String>,
}

/// The one set of trusted roots ([`crate::trust_bundle`]); `trust` uses the same type.
/// The verifier methods below are `verify`'s.
pub use crate::trust_bundle::TrustBundle;

impl TrustBundle {
    /// A rustls server-certificate verifier trusting exactly these roots.
    pub fn verifier(&self) -> Result<Verifier> {
        Verifier::new(self)
    }

    /// A rustls client configuration (ring provider, safe default protocol versions,
    /// no client certificate) whose server certificates are checked by
    /// [`Verifier`], with the clock at `at` (now when `None`).
    pub fn client_config(&self, at: Option<UnixTime>) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = match at {
            Some(t) => ClientConfig::builder_with_details(provider, Arc::new(FixedTime(t))),
            None => ClientConfig::builder_with_provider(provider),
        };
        Ok(builder
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Internal(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(self.verifier()?))
            .with_no_client_auth())
    }
}

#[derive(Debug)]
struct FixedTime(UnixTime);

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}

/// rustls's [`WebPkiServerVerifier`] (ring provider) over a [`TrustBundle`], usable
/// directly as a rustls [`ServerCertVerifier`] and, through [`Verifier::verify`], as a
/// diagnosing offline checker.
#[derive(Debug, Clone)]
pub struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    roots: Vec<CertificateDer<'static>>,
}

impl Verifier {
    /// Builds the verifier.
    pub fn new(bundle: &TrustBundle) -> Result<Verifier> {
        let inner = WebPkiServerVerifier::builder_with_provider(
            Arc::new(bundle.root_store()),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(|e| Error::invalid(Field::TrustBundle, "roots", e.to_string()))?;
        Ok(Verifier {
            inner,
            roots: bundle.roots().to_vec(),
        })
    }

    /// Verifies a chain file's bytes (PEM, or one DER certificate; leaf first) for
    /// `host` at `at` (now when `None`). A file that is not a readable chain gives
    /// [`ErrorKind::Malformed`].
    pub fn verify_pem(&self, chain: &[u8], host: &Host, at: Option<UnixTime>) -> Verdict {
        let at = at.unwrap_or_else(UnixTime::now);
        match read_chain(chain) {
            Ok(certs) => self.verify(&certs, host, at),
            Err(e) => Verdict {
                valid: false,
                name: host.verify_name(),
                at: unix_text(secs(at)),
                chain: Vec::new(),
                error: Some(Diagnosis::new(
                    ErrorKind::Malformed,
                    format!("the chain file is not a readable certificate chain: {e}; give the PEM file the server serves (fullchain.pem: the leaf first, then any intermediates)"),
                )),
                warnings: Vec::new(),
            },
        }
    }

    /// Verifies `chain` (leaf first, then intermediates) for `host` at `at`, through
    /// rustls, and diagnoses a refusal.
    pub fn verify(&self, chain: &[CertificateDer<'_>], host: &Host, at: UnixTime) -> Verdict {
        let mut verdict = Verdict {
            valid: false,
            name: host.verify_name(),
            at: unix_text(secs(at)),
            chain: Vec::new(),
            error: None,
            warnings: Vec::new(),
        };
        let mut parsed = Vec::with_capacity(chain.len());
        for (i, der) in chain.iter().enumerate() {
            match x509::parse_cert(der) {
                Ok(c) => {
                    verdict.chain.push(CertSummary::of(&c, der));
                    parsed.push(c);
                }
                Err(e) => {
                    verdict.error = Some(Diagnosis::new(
                        ErrorKind::Malformed,
                        format!("certificate {} of the chain cannot be parsed: {e}; the file must hold only whole PEM certificates, leaf first", i + 1),
                    ));
                    return verdict;
                }
            }
        }
        let Some(leaf) = chain.first() else {
            verdict.error = Some(Diagnosis::new(
                ErrorKind::Malformed,
                "the chain holds no certificate",
            ));
            return verdict;
        };
        let name = match host.ip() {
            Some(ip) => PkiServerName::IpAddress(ip.into()),
            None => match PkiServerName::try_from(host.verify_name()) {
                Ok(n) => n,
                Err(e) => {
                    verdict.error = Some(Diagnosis::new(
                        ErrorKind::Other,
                        format!("{host}: rustls cannot check this name: {e}"),
                    ));
                    return verdict;
                }
            },
        };
        let roots: Vec<X509Certificate<'_>> = self
            .roots
            .iter()
            .filter_map(|r| x509::parse_cert(r).ok())
            .collect();
        let cx = Context {
            chain: &parsed,
            roots: &roots,
            host,
            at: secs(at),
        };
        match self
            .inner
            .verify_server_cert(leaf, &chain[1..], &name, &[], at)
        {
            Ok(_) => match cx.beyond_webpki() {
                Some(d) => verdict.error = Some(d),
                None => {
                    verdict.valid = true;
                    verdict.warnings = cx.warnings();
                }
            },
            Err(e) => verdict.error = Some(cx.diagnose(&e)),
        }
        verdict
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &PkiServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// Reads a chain file: PEM certificates (other PEM blocks are ignored), or one DER
/// certificate.
pub fn read_chain(bytes: &[u8]) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    let blocks = x509::pem_blocks(bytes)?;
    let certs: Vec<CertificateDer<'static>> = blocks
        .into_iter()
        .filter(|b| b.tag.contains("CERTIFICATE") || b.tag == "DER")
        .map(|b| CertificateDer::from(b.der))
        .collect();
    if certs.is_empty() {
        return Err("no CERTIFICATE block".into());
    }
    Ok(certs)
}

fn secs(t: UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stable() {
        for (k, s) in [
            (ErrorKind::UnknownIssuer, "unknown_issuer"),
            (ErrorKind::MissingIntermediate, "missing_intermediate"),
            (
                ErrorKind::UnsupportedSignatureAlgorithm,
                "unsupported_signature_algorithm",
            ),
            (
                ErrorKind::NameConstraintViolation,
                "name_constraint_violation",
            ),
        ] {
            assert_eq!(k.as_str(), s);
            assert_eq!(serde_json::to_value(k).unwrap(), s);
        }
    }
}
