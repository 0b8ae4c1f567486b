//! The roots a federation trusts, with what every emitter needs of each one.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::{files, CaDir};

/// One trusted root certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedRoot {
    /// A short stable identifier: the first 16 hex digits of the SHA-256 fingerprint.
    /// File names use it, so a root keeps its file name across runs and rotations.
    pub id: String,
    /// SHA-256 fingerprint of the DER certificate, lower-case hex.
    pub sha256: String,
    /// The subject, as text.
    pub subject: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// The certificate as PEM (one block, ending in a newline).
    pub pem: String,
    #[serde(skip)]
    der: Vec<u8>,
}

impl TrustedRoot {
    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    fn from_der(der: Vec<u8>, source: &str) -> Result<TrustedRoot> {
        let bad = |rule: String| Error::invalid("trusted root", source, rule);
        let (rest, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| bad(format!("is not a valid X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("has trailing data after the certificate".into()));
        }
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        if !is_ca {
            return Err(bad(format!(
                "holds {:?}, which is not a CA certificate (basicConstraints CA:TRUE); only roots can be trusted",
                cert.subject().to_string()
            )));
        }
        let sha256 = crate::ca::sha256_hex(&der);
        let not_after = crate::ca::rfc3339(cert.validity().not_after.to_datetime());
        let subject = cert.subject().to_string();
        let pem = ::pem::encode_config(
            &::pem::Pem::new("CERTIFICATE", der.clone()),
            ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
        );
        Ok(TrustedRoot {
            id: sha256[..16].to_string(),
            sha256,
            subject,
            not_after,
            pem,
            der,
        })
    }
}

/// The roots a federation currently trusts.
///
/// Today that is the CA's own `root.pem`. During a root rotation it is several roots
/// — the old and the new — and every emitter writes all of them (Synapse, which
/// reads one certificate per file, gets one file per root).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrustBundle {
    roots: Vec<TrustedRoot>,
}

impl TrustBundle {
    /// The roots of the CA in `dir`: its `root.pem`. The CA key is not read.
    pub fn from_ca_dir(dir: &CaDir) -> Result<TrustBundle> {
        let path = dir.path(files::ROOT_CERT);
        let text = dir.read(files::ROOT_CERT)?;
        TrustBundle::from_pem(&text, &path.display().to_string())
    }

    /// Every certificate in a PEM text, each of which must be a CA certificate.
    /// A private key anywhere in the text is refused: trust material is public.
    pub fn from_pem(text: &str, source: &str) -> Result<TrustBundle> {
        let blocks = ::pem::parse_many(text).map_err(|e| {
            Error::invalid("trusted root", source, format!("is not valid PEM: {e}"))
        })?;
        let mut bundle = TrustBundle::default();
        for block in blocks {
            match block.tag() {
                "CERTIFICATE" => bundle.add(TrustedRoot::from_der(block.into_contents(), source)?),
                tag if tag.contains("PRIVATE KEY") => {
                    return Err(Error::invalid(
                        "trusted root",
                        source,
                        "contains a private key; give only certificates (a root's key must never leave the CA)",
                    ))
                }
                tag => {
                    return Err(Error::invalid(
                        "trusted root",
                        source,
                        format!("contains a {tag:?} PEM block; only CERTIFICATE blocks are roots"),
                    ))
                }
            }
        }
        if bundle.roots.is_empty() {
            return Err(Error::invalid(
                "trusted root",
                source,
                "contains no certificate",
            ));
        }
        Ok(bundle)
    }

    /// Adds a root unless the bundle already holds it.
    pub fn add(&mut self, root: TrustedRoot) {
        if !self.roots.iter().any(|r| r.sha256 == root.sha256) {
            self.roots.push(root);
        }
    }

    /// Adds every root of `other`.
    pub fn extend(&mut self, other: TrustBundle) {
        for r in other.roots {
            self.add(r);
        }
    }

    /// The roots, in the order they were added (the CA's own first).
    pub fn roots(&self) -> &[TrustedRoot] {
        &self.roots
    }

    /// Every root as one PEM text.
    pub fn pem(&self) -> String {
        self.roots.iter().map(|r| r.pem.as_str()).collect()
    }
}
