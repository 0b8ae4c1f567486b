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
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName as PkiServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::Serialize;
use x509_parser::prelude::*;

use crate::error::{Error, Result};
use crate::inspect::{self, dn_label, san_names, time_text, unix_text};
use crate::name::Host;

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
    /// What is wrong and what to do, in one line.
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
        write!(f, "{}: {}", self.kind, self.detail)
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
            subject: inspect::dn_text(c.subject()),
            issuer: inspect::dn_text(c.issuer()),
            serial: crate::issue::serial_hex(c.raw_serial()),
            not_before: time_text(c.validity().not_before),
            not_after: time_text(c.validity().not_after),
            names: san_names(c),
            ca: c.is_ca(),
            key: inspect::key_desc(c.public_key()).to_string(),
            signature_algorithm: inspect::sig_alg_name(&c.signature_algorithm.algorithm),
            sha256: crate::ca::sha256_hex(der),
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

/// Trusted roots: the only certificates a federation client trusts.
#[derive(Debug, Clone)]
pub struct TrustBundle {
    roots: Vec<CertificateDer<'static>>,
}

impl TrustBundle {
    /// Reads every certificate of PEM text (at least one; each must be usable as a
    /// trust anchor).
    pub fn from_pem(pem_text: &str) -> Result<TrustBundle> {
        Self::from_bytes(pem_text.as_bytes())
            .map_err(|rule| Error::invalid("trust bundle", "PEM text", rule))
    }

    /// Builds a bundle from DER certificates (at least one).
    pub fn from_der(roots: Vec<CertificateDer<'static>>) -> Result<TrustBundle> {
        Self::checked(roots).map_err(|rule| Error::invalid("trust bundle", "DER", rule))
    }

    /// Reads a PEM or DER file of roots. An unreadable or unusable file is bad input
    /// (exit code 2).
    pub fn load(path: &Path) -> Result<TrustBundle> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::invalid(
                "--trust",
                path.display().to_string(),
                format!("cannot be read: {e}"),
            )
        })?;
        Self::from_bytes(&bytes)
            .map_err(|rule| Error::invalid("--trust", path.display().to_string(), rule))
    }

    /// The root of the fedca CA in `dir`.
    pub fn from_ca_dir(dir: &Path) -> Result<TrustBundle> {
        let root = dir.join(crate::store::files::ROOT_CERT);
        if !root.is_file() {
            return Err(Error::NoCa(dir.to_path_buf()));
        }
        Self::load(&root)
    }

    fn from_bytes(bytes: &[u8]) -> std::result::Result<TrustBundle, String> {
        let blocks = inspect::split_blocks(bytes)?;
        let roots: Vec<CertificateDer<'static>> = blocks
            .into_iter()
            .filter(|b| b.tag.contains("CERTIFICATE") || b.tag == "DER")
            .map(|b| CertificateDer::from(b.der))
            .collect();
        Self::checked(roots)
    }

    fn checked(roots: Vec<CertificateDer<'static>>) -> std::result::Result<TrustBundle, String> {
        if roots.is_empty() {
            return Err("holds no certificate".into());
        }
        for (i, r) in roots.iter().enumerate() {
            inspect::parse_cert(r).map_err(|e| format!("certificate {}: {e}", i + 1))?;
            webpki::anchor_from_trusted_cert(r)
                .map_err(|e| format!("certificate {} cannot be a trust anchor: {e}", i + 1))?;
        }
        Ok(TrustBundle { roots })
    }

    /// The roots, DER.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The roots as a rustls root store.
    pub fn root_store(&self) -> RootCertStore {
        let mut store = RootCertStore::empty();
        let (_, _) = store.add_parsable_certificates(self.roots.iter().cloned());
        store
    }

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
            .map_err(|e| Error::Crypto(e.to_string()))?
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
        .map_err(|e| Error::invalid("trust bundle", "roots", e.to_string()))?;
        Ok(Verifier {
            inner,
            roots: bundle.roots.clone(),
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
            match inspect::parse_cert(der) {
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
            .filter_map(|r| inspect::parse_cert(r).ok())
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
    let blocks = inspect::split_blocks(bytes)?;
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

/// Everything the refinement looks at.
struct Context<'c, 'a> {
    chain: &'c [X509Certificate<'a>],
    roots: &'c [X509Certificate<'c>],
    host: &'c Host,
    at: i64,
}

/// Whether `issuer` could have issued `child`: names match, and key identifiers match
/// when both are present.
fn issues(issuer: &X509Certificate<'_>, child: &X509Certificate<'_>) -> bool {
    if issuer.subject().as_raw() != child.issuer().as_raw() {
        return false;
    }
    match (
        inspect::subject_key_id(issuer),
        inspect::authority_key_id(child),
    ) {
        (Some(ski), Some(aki)) => ski == aki,
        _ => true,
    }
}

fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names_text(c: &X509Certificate<'_>) -> String {
    let names = san_names(c);
    if names.is_empty() {
        format!("\"{}\"", dn_label(c.subject()))
    } else {
        names.join(", ")
    }
}

impl Context<'_, '_> {
    fn leaf(&self) -> &X509Certificate<'_> {
        &self.chain[0]
    }

    fn label(&self, c: &X509Certificate<'_>) -> String {
        format!("\"{}\"", dn_label(c.subject()))
    }

    fn trusted_text(&self) -> String {
        let names: Vec<String> = self.roots.iter().map(|r| dn_label(r.subject())).collect();
        quote_list(&names)
    }

    fn host_text(&self) -> String {
        self.host.verify_name()
    }

    /// The path through the chain from the leaf, following issuer links (each
    /// certificate once) until a certificate a trusted root issues, or a self-issued
    /// one. Returns chain indices.
    fn path(&self) -> Vec<usize> {
        let mut path = vec![0];
        loop {
            let cur = &self.chain[path[path.len() - 1]];
            if cur.subject().as_raw() == cur.issuer().as_raw() || self.root_for(cur).is_some() {
                break;
            }
            let next =
                (1..self.chain.len()).find(|i| !path.contains(i) && issues(&self.chain[*i], cur));
            match next {
                Some(i) => path.push(i),
                None => break,
            }
        }
        path
    }

    /// The trusted root that issues `c`, if any.
    fn root_for(&self, c: &X509Certificate<'_>) -> Option<&X509Certificate<'_>> {
        self.roots.iter().find(|r| issues(r, c))
    }

    fn diagnose(&self, err: &rustls::Error) -> Diagnosis {
        use CertificateError as CE;
        let rustls::Error::InvalidCertificate(ce) = err else {
            return Diagnosis::new(ErrorKind::Other, format!("rustls refuses the chain: {err}"));
        };
        #[allow(deprecated)]
        match ce {
            CE::BadEncoding => Diagnosis::new(
                ErrorKind::Malformed,
                format!("rustls cannot decode the certificate ({err}); re-issue it or check the file is the server's certificate"),
            ),
            CE::Expired | CE::ExpiredContext { .. } => self.expired(),
            CE::NotValidYet | CE::NotValidYetContext { .. } => self.not_yet_valid(),
            CE::UnknownIssuer => self.unknown_issuer(),
            CE::BadSignature => self.bad_signature(),
            CE::UnsupportedSignatureAlgorithm
            | CE::UnsupportedSignatureAlgorithmContext { .. }
            | CE::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                self.unsupported_signature()
            }
            CE::NotValidForName | CE::NotValidForNameContext { .. } => self.name_mismatch(),
            CE::InvalidPurpose | CE::InvalidPurposeContext { .. } => self.wrong_eku(),
            CE::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
                Some(w) => self.diagnose_webpki(w, err),
                None => Diagnosis::new(ErrorKind::Other, format!("rustls refuses the chain: {err}")),
            },
            _ => Diagnosis::new(ErrorKind::Other, format!("rustls refuses the chain: {err}")),
        }
    }

    fn diagnose_webpki(&self, w: &webpki::Error, err: &rustls::Error) -> Diagnosis {
        use webpki::Error as W;
        #[allow(deprecated)]
        match w {
            W::CaUsedAsEndEntity => self.ca_as_leaf(),
            W::EndEntityUsedAsCa => self.intermediate_not_ca(),
            W::PathLenConstraintViolated | W::MaximumPathDepthExceeded => self.path_length(),
            W::NameConstraintViolation => self.name_constraints(),
            W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => {
                self.wrong_eku()
            }
            W::InvalidSignatureForPublicKey | W::SignatureAlgorithmMismatch => self.bad_signature(),
            W::BadDer
            | W::BadDerTime
            | W::MalformedExtensions
            | W::ExtensionValueInvalid
            | W::MalformedDnsIdentifier
            | W::MalformedNameConstraint
            | W::InvalidNetworkMaskConstraint
            | W::InvalidSerialNumber
            | W::UnsupportedCertVersion
            | W::TrailingData(_) => Diagnosis::new(
                ErrorKind::Malformed,
                format!("webpki cannot accept how a certificate of the chain is encoded: {w}; re-issue it with a standard tool (fedca issue)"),
            ),
            _ => Diagnosis::new(ErrorKind::Other, format!("rustls refuses the chain: {err}")),
        }
    }

    fn expired(&self) -> Diagnosis {
        let leaf = self.leaf();
        let v = leaf.validity();
        if v.not_after.timestamp() < self.at {
            return Diagnosis::new(
                ErrorKind::Expired,
                format!(
                    "the certificate for {} expired on {} (valid from {} to {}; checked at {}): issue a new one (fedca issue {}) and reload the homeserver",
                    names_text(leaf),
                    time_text(v.not_after),
                    time_text(v.not_before),
                    time_text(v.not_after),
                    unix_text(self.at),
                    self.host
                ),
            );
        }
        for c in self.path().iter().skip(1).map(|i| &self.chain[*i]) {
            let v = c.validity();
            if v.not_after.timestamp() < self.at {
                return Diagnosis::new(
                    ErrorKind::ExpiredIntermediate,
                    format!(
                        "the intermediate CA {} in the chain expired on {} (valid from {} to {}; checked at {}), although the server certificate itself is still valid: put the current intermediate in the served chain (fullchain.pem), or re-issue the certificate under a valid intermediate",
                        self.label(c),
                        time_text(v.not_after),
                        time_text(v.not_before),
                        time_text(v.not_after),
                        unix_text(self.at)
                    ),
                );
            }
        }
        // Some other chain certificate (not on the name path) expired.
        for c in self.chain.iter().skip(1) {
            let v = c.validity();
            if v.not_after.timestamp() < self.at {
                return Diagnosis::new(
                    ErrorKind::ExpiredIntermediate,
                    format!(
                        "the CA certificate {} in the chain expired on {} (valid from {} to {}; checked at {}): replace it in the served chain with the current one",
                        self.label(c),
                        time_text(v.not_after),
                        time_text(v.not_before),
                        time_text(v.not_after),
                        unix_text(self.at)
                    ),
                );
            }
        }
        Diagnosis::new(
            ErrorKind::Expired,
            format!(
                "a certificate of the chain has expired (checked at {}): renew it",
                unix_text(self.at)
            ),
        )
    }

    fn not_yet_valid(&self) -> Diagnosis {
        let advice =
            "check this machine's clock and the issuing machine's clock, or wait until then";
        for (i, c) in self.chain.iter().enumerate() {
            let v = c.validity();
            if v.not_before.timestamp() > self.at {
                let what = if i == 0 {
                    format!("the certificate for {}", names_text(c))
                } else {
                    format!("the intermediate CA {}", self.label(c))
                };
                return Diagnosis::new(
                    ErrorKind::NotYetValid,
                    format!(
                        "{what} is not valid until {} (valid from {} to {}; checked at {}): {advice}",
                        time_text(v.not_before),
                        time_text(v.not_before),
                        time_text(v.not_after),
                        unix_text(self.at)
                    ),
                );
            }
        }
        Diagnosis::new(
            ErrorKind::NotYetValid,
            format!(
                "a certificate of the chain is not valid yet at {}: {advice}",
                unix_text(self.at)
            ),
        )
    }

    fn unknown_issuer(&self) -> Diagnosis {
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        let trusted = self.trusted_text();
        let top_is_leaf = path.len() == 1;
        let what = if top_is_leaf {
            format!("the certificate for {}", names_text(top))
        } else {
            format!("the chain's last certificate {}", self.label(top))
        };
        if top.subject().as_raw() == top.issuer().as_raw() {
            let detail = if top_is_leaf {
                format!("{what} is self-signed (issuer = subject {}), and a self-signed certificate is trusted by no federation peer; trusted roots: {trusted}. Issue a certificate from your federation's CA (fedca issue {}) instead", self.label(top), self.host)
            } else {
                format!("the chain ends at the root {} that the server sends itself, but a root sent by the server is never trusted, and it is not among the trusted roots ({trusted}): trust that root on every federation peer, or re-issue the certificate from a trusted CA", self.label(top))
            };
            return Diagnosis::new(ErrorKind::UnknownIssuer, detail);
        }
        let issuer = dn_label(top.issuer());
        // A trusted root with the same name but another key: a re-created CA.
        if self
            .roots
            .iter()
            .any(|r| r.subject().as_raw() == top.issuer().as_raw())
        {
            return Diagnosis::new(
                ErrorKind::UnknownIssuer,
                format!("{what} names the issuer \"{issuer}\", and a trusted root has that name but a different key (its key identifier does not match): the CA was probably re-created (fedca init --force) or the certificate comes from another CA with the same name. Trusted roots: {trusted}. Re-issue the certificate from the current CA, or trust the CA that issued it"),
            );
        }
        // Certificates in the chain that are not on the path, but lead to a trusted
        // root: the server sends part of a chain with a link missing.
        let off_path: Vec<&X509Certificate<'_>> = (1..self.chain.len())
            .filter(|i| !path.contains(i))
            .map(|i| &self.chain[i])
            .collect();
        let linked_to_trust = off_path.iter().any(|c| {
            self.root_for(c).is_some()
                || self
                    .roots
                    .iter()
                    .any(|r| r.subject().as_raw() == c.subject().as_raw())
        });
        let missing = format!("{what} is issued by \"{issuer}\", which is neither in the chain nor a trusted root ({trusted})");
        let fix_chain = format!("if \"{issuer}\" is an intermediate CA, the server must send it after its certificate (serve fullchain.pem, not cert.pem); if it is a root, trust it on every federation peer");
        if linked_to_trust || looks_intermediate(top.issuer()) {
            return Diagnosis::new(
                ErrorKind::MissingIntermediate,
                format!("{missing}: the intermediate \"{issuer}\" is missing from the chain the server sends — {fix_chain}"),
            );
        }
        Diagnosis::new(ErrorKind::UnknownIssuer, format!("{missing}: {fix_chain}"))
    }

    fn bad_signature(&self) -> Diagnosis {
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        // A trusted root with the issuer's name but another key (the key identifiers
        // say so): not a forged signature but a different CA.
        if self.root_for(top).is_none() {
            if let Some(aki) = inspect::authority_key_id(top) {
                let same_name = self
                    .roots
                    .iter()
                    .find(|r| r.subject().as_raw() == top.issuer().as_raw());
                if let Some(root) = same_name {
                    if inspect::subject_key_id(root).is_some_and(|ski| ski != aki) {
                        return self.unknown_issuer();
                    }
                }
            }
        }
        for (pos, i) in path.iter().enumerate() {
            let c = &self.chain[*i];
            let issuer = match path.get(pos + 1) {
                Some(j) => Some(&self.chain[*j]),
                None => self.root_for(c).or_else(|| {
                    self.roots
                        .iter()
                        .find(|r| r.subject().as_raw() == c.issuer().as_raw())
                }),
            };
            let Some(issuer) = issuer else { continue };
            if let Some(d) = self.weak_issuer_key(c, issuer) {
                return d;
            }
            if c.verify_signature(Some(issuer.public_key())).is_err() {
                return Diagnosis::new(
                    ErrorKind::BadSignature,
                    format!("the signature on {} does not verify with the key of its issuer {}: the certificate was altered after signing, or it was signed by a different CA that has the same name; re-issue it from the CA you trust", self.label(c), self.label(issuer)),
                );
            }
        }
        Diagnosis::new(
            ErrorKind::BadSignature,
            format!(
                "a signature in the chain does not verify (issuer of the leaf: \"{}\"): re-issue the certificate",
                dn_label(self.leaf().issuer())
            ),
        )
    }

    fn weak_issuer_key(
        &self,
        c: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
    ) -> Option<Diagnosis> {
        let key = inspect::key_desc(issuer.public_key());
        (key.key_type.starts_with("rsa") && key.bits > 0 && key.bits < 2048).then(|| {
            Diagnosis::new(
                ErrorKind::UnsupportedSignatureAlgorithm,
                format!("{} is signed by {} with an RSA key of {} bits; rustls accepts RSA signatures from 2048 bits up: re-create that CA with a stronger key", self.label(c), self.label(issuer), key.bits),
            )
        })
    }

    fn unsupported_signature(&self) -> Diagnosis {
        for c in self.chain {
            let id = c.signature_algorithm.algorithm.to_id_string();
            if let Some(words) = weak_algorithm(&id) {
                return Diagnosis::new(
                    ErrorKind::UnsupportedSignatureAlgorithm,
                    format!("{} is signed with {words} ({}), which rustls refuses (as do Go, GnuTLS and OpenSSL at its default security level): re-issue it signed with SHA-256 or better, or with ECDSA/Ed25519 as fedca does", self.label(c), inspect::sig_alg_name(&c.signature_algorithm.algorithm)),
                );
            }
        }
        for c in self.chain {
            let name = inspect::sig_alg_name(&c.signature_algorithm.algorithm);
            if !inspect::SUPPORTED_SIGNATURES.contains(&name.as_str()) {
                return Diagnosis::new(
                    ErrorKind::UnsupportedSignatureAlgorithm,
                    format!("{} is signed with {name}, which rustls (ring) does not support: re-issue it with ECDSA P-256/P-384, Ed25519, or RSA with SHA-256/384/512", self.label(c)),
                );
            }
        }
        Diagnosis::new(
            ErrorKind::UnsupportedSignatureAlgorithm,
            "a signature in the chain uses an algorithm or key combination rustls does not support (for instance an ECDSA P-256 key with SHA-512): re-issue with ECDSA P-256/P-384 + SHA-256/384, Ed25519, or RSA with SHA-256/384/512",
        )
    }

    fn name_mismatch(&self) -> Diagnosis {
        let leaf = self.leaf();
        let name = self.host_text();
        let has_san = leaf
            .subject_alternative_name()
            .ok()
            .flatten()
            .is_some_and(|s| !s.value.general_names.is_empty());
        if !has_san {
            let cn: Vec<String> = leaf
                .subject()
                .iter_common_name()
                .filter_map(|c| c.as_str().ok().map(str::to_string))
                .collect();
            let cn_text = if cn.is_empty() {
                "no CN either".to_string()
            } else {
                format!("only the common name (CN) {}", quote_list(&cn))
            };
            return Diagnosis::new(
                ErrorKind::NoSan,
                format!("the certificate has no subjectAltName, {cn_text}; rustls/webpki, Go and service_identity (Synapse) ignore the CN, so it is valid for no name: re-issue it with {name} as a subjectAltName (fedca issue {})", self.host),
            );
        }
        let names = san_names(leaf);
        let mut hint = String::new();
        match self.host.ip() {
            Some(ip) => {
                if names.iter().any(|n| {
                    n.strip_prefix("DNS:")
                        .and_then(|d| d.parse::<IpAddr>().ok())
                        == Some(ip)
                }) {
                    hint = format!(" ({ip} is there as a DNS name, but an IP literal server name must be an iPAddress SAN)");
                }
            }
            None => {
                let wanted = name.to_ascii_lowercase();
                for n in &names {
                    let Some(base) = n.strip_prefix("DNS:*.") else {
                        continue;
                    };
                    if wanted.ends_with(&format!(".{}", base.to_ascii_lowercase())) {
                        hint = format!(" (a wildcard covers exactly one label: *.{base} does not match {wanted})");
                    }
                }
            }
        }
        Diagnosis::new(
            ErrorKind::NameMismatch,
            format!("the certificate is not valid for {name}: it names {}{hint}; issue one that names {name} (fedca issue {}), or check the server presents the right certificate (SNI, .well-known delegation)", names.join(", "), self.host),
        )
    }

    fn wrong_eku(&self) -> Diagnosis {
        for (i, c) in self.chain.iter().enumerate() {
            let Ok(Some(e)) = c.extended_key_usage() else {
                continue;
            };
            if e.value.server_auth || e.value.any {
                continue;
            }
            let names = inspect::eku_names(e.value);
            let has = if names.is_empty() {
                "is empty".to_string()
            } else {
                format!("is {} only", names.join(", "))
            };
            let what = if i == 0 {
                format!("the certificate for {}", names_text(c))
            } else {
                format!("the intermediate CA {}", self.label(c))
            };
            return Diagnosis::new(
                ErrorKind::WrongEku,
                format!("the extended key usage of {what} {has}; a federation server certificate (and any CA above it that restricts usages) needs serverAuth: re-issue it with serverAuth (fedca issues serverAuth + clientAuth)"),
            );
        }
        Diagnosis::new(
            ErrorKind::WrongEku,
            "a certificate of the chain is not allowed for TLS servers: it needs the serverAuth extended key usage",
        )
    }

    fn ca_as_leaf(&self) -> Diagnosis {
        let leaf = self.leaf();
        // A chain in the wrong order: a server certificate this CA issued comes later.
        if let Some(real) = self
            .chain
            .iter()
            .skip(1)
            .find(|c| !c.is_ca() && issues(leaf, c))
        {
            return Diagnosis::new(
                ErrorKind::CaAsLeaf,
                format!("the chain is in the wrong order: it starts with the CA certificate {}, and the server certificate for {} comes after it; the server certificate must come first (serve fullchain.pem as fedca writes it: leaf, then intermediates)", self.label(leaf), names_text(real)),
            );
        }
        Diagnosis::new(
            ErrorKind::CaAsLeaf,
            format!("the certificate presented for {} is a CA certificate (basicConstraints CA:TRUE); rustls/webpki refuses a CA as a server certificate (OpenSSL, GnuTLS, Go and service_identity accept it): issue a server certificate (CA:FALSE) for it (fedca issue {})", names_text(leaf), self.host),
        )
    }

    fn intermediate_not_ca(&self) -> Diagnosis {
        for c in self.chain.iter().skip(1) {
            if c.is_ca() {
                continue;
            }
            let child = self.chain.iter().find(|x| issues(c, x));
            let issued = child
                .map(|x| format!(" (it issued {})", self.label(x)))
                .unwrap_or_default();
            return Diagnosis::new(
                ErrorKind::IntermediateNotCa,
                format!("{} is used as an intermediate CA{issued} but it is not a CA (no basicConstraints CA:TRUE): the chain holds a server certificate where the intermediate CA should be — serve the leaf followed by the real intermediate CA, or re-issue from a proper CA", self.label(c)),
            );
        }
        Diagnosis::new(
            ErrorKind::IntermediateNotCa,
            "a certificate used as a CA in the chain is not a CA (basicConstraints CA:FALSE): serve the leaf followed by the real intermediate CA",
        )
    }

    fn path_length(&self) -> Diagnosis {
        self.path_length_violation().unwrap_or_else(|| {
            Diagnosis::new(
                ErrorKind::PathLengthExceeded,
                "the chain is longer than a CA's path length constraint allows: issue the certificate from a CA closer to the root",
            )
        })
    }

    fn path_length_violation(&self) -> Option<Diagnosis> {
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        // Candidate CAs with their position: chain intermediates, then the root.
        let mut cas: Vec<(&X509Certificate<'_>, usize)> = path
            .iter()
            .enumerate()
            .skip(1)
            .map(|(pos, i)| (&self.chain[*i], pos - 1))
            .collect();
        if let Some(root) = self.root_for(top) {
            cas.push((root, path.len() - 1));
        }
        for (ca, below) in cas {
            let limit = ca
                .basic_constraints()
                .ok()
                .flatten()
                .and_then(|b| b.value.path_len_constraint);
            if let Some(limit) = limit {
                if below > limit as usize {
                    let inters: Vec<String> = path[1..]
                        .iter()
                        .map(|i| dn_label(self.chain[*i].subject()))
                        .take(below)
                        .collect();
                    return Some(Diagnosis::new(
                        ErrorKind::PathLengthExceeded,
                        format!("{} allows {limit} intermediate CA(s) below it (pathlen:{limit}), but the chain puts {below} between it and the server certificate: {}; issue the certificate directly from {}, or re-create that CA with a larger path length", self.label(ca), quote_list(&inters), self.label(ca)),
                    ));
                }
            }
        }
        None
    }

    fn name_constraints(&self) -> Diagnosis {
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        let mut cas: Vec<(usize, &X509Certificate<'_>)> = path
            .iter()
            .enumerate()
            .skip(1)
            .map(|(pos, i)| (pos, &self.chain[*i]))
            .collect();
        if let Some(root) = self.root_for(top) {
            cas.push((path.len(), root));
        }
        for (pos, ca) in &cas {
            let Ok(Some(nc)) = ca.name_constraints() else {
                continue;
            };
            let nc = nc.value;
            let permitted: Vec<String> = nc
                .permitted_subtrees
                .iter()
                .flatten()
                .map(|s| inspect::subtree_text(&s.base))
                .collect();
            let excluded: Vec<String> = nc
                .excluded_subtrees
                .iter()
                .flatten()
                .map(|s| inspect::subtree_text(&s.base))
                .collect();
            let mut bad = Vec::new();
            for i in &path[..*pos] {
                let c = &self.chain[*i];
                let Ok(Some(san)) = c.subject_alternative_name() else {
                    continue;
                };
                for g in &san.value.general_names {
                    if !name_allowed(g, nc) {
                        bad.push(inspect::general_name_text(g));
                    }
                }
            }
            if bad.is_empty() {
                continue;
            }
            let mut constraints = format!("permitted: {}", or_none(&permitted));
            if !excluded.is_empty() {
                constraints.push_str(&format!("; excluded: {}", excluded.join(", ")));
            }
            let is_v6 = |t: &str| t.contains(':');
            let family_missing = |b: &String| {
                b.strip_prefix("IP:").is_some_and(|ip| {
                    permitted.iter().any(|p| p.starts_with("IP:"))
                        && !permitted
                            .iter()
                            .any(|p| p.strip_prefix("IP:").is_some_and(|r| is_v6(r) == is_v6(ip)))
                })
            };
            let family_hint = if bad.iter().any(family_missing) {
                " (once a CA permits any IP range, an address of a family with no permitted range is refused)"
            } else {
                ""
            };
            return Diagnosis::new(
                ErrorKind::NameConstraintViolation,
                format!("{} is outside the name constraints of {} ({constraints}){family_hint}; every name in the certificate must be permitted: issue a certificate with only permitted names, or from a CA whose constraints include them", bad.join(", "), self.label(ca)),
            );
        }
        let all: Vec<String> = cas
            .iter()
            .filter_map(|(_, ca)| {
                ca.name_constraints().ok().flatten().map(|nc| {
                    format!(
                        "{}: {}",
                        self.label(ca),
                        nc.value
                            .permitted_subtrees
                            .iter()
                            .flatten()
                            .map(|s| inspect::subtree_text(&s.base))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect();
        Diagnosis::new(
            ErrorKind::NameConstraintViolation,
            format!("a name in the chain is outside a CA's name constraints ({}): issue a certificate with only permitted names", or_none(&all)),
        )
    }

    /// The checks webpki skips and the other federation verifiers make (see the module
    /// documentation), run on a chain rustls accepted.
    fn beyond_webpki(&self) -> Option<Diagnosis> {
        if let Some(d) = self.key_usage() {
            return Some(d);
        }
        if let Some(mut d) = self.path_length_violation() {
            d.detail.push_str(" (rustls/webpki does not apply a trusted root's path length and would accept the chain; OpenSSL, and so Synapse, Go, and so Dendrite, and GnuTLS refuse it)");
            return Some(d);
        }
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        let root = self.root_for(top)?;
        let v = root.validity();
        let dates = format!(
            "valid from {} to {}; checked at {}",
            time_text(v.not_before),
            time_text(v.not_after),
            unix_text(self.at)
        );
        let why = "rustls/webpki does not check a trust anchor's dates and would accept the chain, but OpenSSL, and so Synapse, and Go, and so Dendrite, refuse it";
        if v.not_after.timestamp() < self.at {
            return Some(Diagnosis::new(
                ErrorKind::Expired,
                format!("the trusted root {} expired on {} ({dates}): {why}; create a new root (fedca init), re-issue the federation's certificates from it, and distribute it to every peer", self.label(root), time_text(v.not_after)),
            ));
        }
        if v.not_before.timestamp() > self.at {
            return Some(Diagnosis::new(
                ErrorKind::NotYetValid,
                format!(
                    "the trusted root {} is not valid until {} ({dates}): {why}; check the clocks",
                    self.label(root),
                    time_text(v.not_before)
                ),
            ));
        }
        None
    }

    /// webpki ignores keyUsage; OpenSSL (Synapse) does not.
    fn key_usage(&self) -> Option<Diagnosis> {
        let leaf = self.leaf();
        if let Ok(Some(ku)) = leaf.key_usage() {
            if !ku.value.digital_signature() {
                let has = inspect::key_usage_names(ku.value);
                return Some(Diagnosis::new(
                    ErrorKind::WrongKeyUsage,
                    format!("the keyUsage of the certificate for {} is {} only, without digitalSignature, which a TLS server key needs to sign the handshake: OpenSSL, and so Synapse, refuses it (rustls/webpki, Go and GnuTLS ignore keyUsage and would accept it); re-issue it with digitalSignature (fedca issue {})", names_text(leaf), or_none(&has), self.host),
                ));
            }
        }
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        let mut cas: Vec<&X509Certificate<'_>> =
            path.iter().skip(1).map(|i| &self.chain[*i]).collect();
        cas.extend(self.root_for(top));
        for ca in cas {
            if let Ok(Some(ku)) = ca.key_usage() {
                if !ku.value.key_cert_sign() {
                    let has = inspect::key_usage_names(ku.value);
                    return Some(Diagnosis::new(
                        ErrorKind::WrongKeyUsage,
                        format!("the CA {} has keyUsage {} without keyCertSign: OpenSSL, and so Synapse, refuses certificates it signed (rustls/webpki ignores keyUsage and would accept them); re-create the CA with keyCertSign", self.label(ca), or_none(&has)),
                    ));
                }
            }
        }
        None
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        if let Some(root) = self.root_for(top) {
            let left = root.validity().not_after.timestamp() - self.at;
            if left < 30 * 86_400 {
                out.push(format!(
                    "the trusted root {} expires on {}: plan its rotation now",
                    self.label(root),
                    time_text(root.validity().not_after)
                ));
            }
        }
        let is_root = |c: &X509Certificate<'_>| self.roots.iter().any(|r| r.as_raw() == c.as_raw());
        let sent_roots: Vec<String> = (1..self.chain.len())
            .filter(|i| is_root(&self.chain[*i]))
            .map(|i| self.label(&self.chain[i]))
            .collect();
        if !sent_roots.is_empty() {
            out.push(format!(
                "the chain includes the trusted root {}: harmless, but peers never use a root the server sends",
                sent_roots.join(", ")
            ));
        }
        let unused: Vec<String> = (1..self.chain.len())
            .filter(|i| !path.contains(i) && !is_root(&self.chain[*i]))
            .map(|i| self.label(&self.chain[i]))
            .collect();
        if !unused.is_empty() {
            out.push(format!(
                "the chain carries certificates that are not part of the path to the leaf: {}",
                unused.join(", ")
            ));
        }
        out
    }
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// The words for a broken digest in a signature algorithm OID.
fn weak_algorithm(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.113549.1.1.2" => Some("RSA with MD2"),
        "1.2.840.113549.1.1.4" => Some("RSA with MD5"),
        "1.2.840.113549.1.1.5" => Some("RSA with SHA-1"),
        "1.2.840.10045.4.1" => Some("ECDSA with SHA-1"),
        "1.2.840.10040.4.3" => Some("DSA with SHA-1"),
        _ => None,
    }
}

/// Whether an issuer name reads like an intermediate rather than a root: it does not
/// say "root". A heuristic, used only when nothing in the chain or trust bundle tells
/// the two apart; the detail always gives both readings.
fn looks_intermediate(name: &X509Name<'_>) -> bool {
    !name.to_string().to_ascii_lowercase().contains("root")
}

/// RFC 5280 §4.2.1.10 for the name types federation certificates use: a DNS name or IP
/// address must not be in an excluded subtree of its type and, when any permitted
/// subtree of its type exists, must be in one. (An IP range of the other family is
/// still an IP subtree: an address whose family has no range is refused, as webpki,
/// OpenSSL and Go do.)
fn name_allowed(g: &GeneralName<'_>, nc: &NameConstraints<'_>) -> bool {
    // Some(matches) when the subtree has the name's type, None otherwise.
    let test = |base: &GeneralName<'_>| -> Option<bool> {
        match (g, base) {
            (GeneralName::DNSName(n), GeneralName::DNSName(b)) => {
                Some(dns_in_subtree(&n.to_ascii_lowercase(), b))
            }
            (GeneralName::IPAddress(a), GeneralName::IPAddress(r)) => Some(ip_in_range(a, r)),
            _ => None,
        }
    };
    let excluded = nc
        .excluded_subtrees
        .iter()
        .flatten()
        .any(|s| test(&s.base) == Some(true));
    if excluded {
        return false;
    }
    let results: Vec<bool> = nc
        .permitted_subtrees
        .iter()
        .flatten()
        .filter_map(|s| test(&s.base))
        .collect();
    results.is_empty() || results.contains(&true)
}

fn dns_in_subtree(name: &str, base: &str) -> bool {
    let base = base.trim_start_matches('.').to_ascii_lowercase();
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
    fn subtrees() {
        assert!(dns_in_subtree("hs1.corp.test", "corp.test"));
        assert!(dns_in_subtree("corp.test", "corp.test"));
        assert!(!dns_in_subtree("evilcorp.test", "corp.test"));
        assert!(dns_in_subtree("*.corp.test", "corp.test"));
        assert!(ip_in_range(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_in_range(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        let v6 = [0xfdu8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        assert!(!ip_in_range(&v6, &[10, 0, 0, 0, 255, 0, 0, 0]));
    }

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
