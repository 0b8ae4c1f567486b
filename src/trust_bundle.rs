//! The one set of trusted roots fedca uses everywhere: `verify` and `probe` check chains
//! against it, `trust` writes it into every homeserver's configuration.
//!
//! A low module (it depends on `inspect`'s PEM/DER reading and the store's file names,
//! nothing above): `verify` re-exports it as `verify::TrustBundle`, `trust` as
//! `trust::TrustBundle`, and adds its verifier methods in `verify.rs`.
//!
//! Two ways in: [`TrustBundle::from_pem`], [`TrustBundle::load`] and friends take any
//! certificate usable as a trust anchor (what `fedca verify --trust` accepts, to
//! diagnose odd chains); [`TrustBundle::anchors_from_pem`] and [`TrustBundle::of_ca`]
//! are for configuration a federation deploys: CA certificates only, and a private key
//! anywhere in the input is refused.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use serde::Serialize;

use crate::error::{Error, Field, Result};
use crate::store::{files, CaDir};
use crate::x509;

/// One trusted root certificate, described.
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
    /// Whether it is a CA certificate (basicConstraints CA:TRUE).
    #[serde(skip)]
    pub is_ca: bool,
    #[serde(skip)]
    der: CertificateDer<'static>,
}

impl TrustedRoot {
    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Describes a DER certificate; the rule it breaks when it is not one.
    fn describe(der: CertificateDer<'static>) -> std::result::Result<TrustedRoot, String> {
        let (rest, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| format!("is not a valid X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err("has trailing data after the certificate".into());
        }
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        let sha256 = crate::x509::sha256_hex(&der);
        let not_after = crate::x509::rfc3339(cert.validity().not_after.to_datetime());
        let subject = cert.subject().to_string();
        let pem = crate::x509::pem_encode_lf("CERTIFICATE", &der);
        Ok(TrustedRoot {
            id: sha256[..16].to_string(),
            sha256,
            subject,
            not_after,
            pem,
            is_ca,
            der,
        })
    }
}

/// Trusted roots: the only certificates a federation client trusts.
///
/// For a federation that is today the CA's own `root.pem`; during a root rotation it is
/// several roots — the old and the new — and every trust emitter writes all of them
/// (Synapse, which reads one certificate per file, gets one file per root).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustBundle {
    roots: Vec<CertificateDer<'static>>,
    described: Vec<TrustedRoot>,
}

impl TrustBundle {
    /// Reads every certificate of PEM text (at least one; each must be usable as a
    /// trust anchor).
    pub fn from_pem(pem_text: &str) -> Result<TrustBundle> {
        Self::from_bytes(pem_text.as_bytes())
            .map_err(|rule| Error::invalid(Field::TrustBundle, "PEM text", rule))
    }

    /// Builds a bundle from DER certificates (at least one).
    pub fn from_der(roots: Vec<CertificateDer<'static>>) -> Result<TrustBundle> {
        Self::checked(roots).map_err(|rule| Error::invalid(Field::TrustBundle, "DER", rule))
    }

    /// Reads a PEM or DER file of roots. An unreadable or unusable file is bad input
    /// (exit code 2).
    pub fn load(path: &Path) -> Result<TrustBundle> {
        let bytes = crate::store::read_input(path, Field::TrustFile)?;
        Self::from_bytes(&bytes)
            .map_err(|rule| Error::invalid(Field::TrustFile, path.display().to_string(), rule))
    }

    /// The root of the fedca CA in `dir`.
    pub fn from_ca_dir(dir: &Path) -> Result<TrustBundle> {
        let root = dir.join(files::ROOT_CERT);
        if !root.is_file() {
            return Err(Error::NoCa(dir.to_path_buf()));
        }
        Self::load(&root)
    }

    fn from_bytes(bytes: &[u8]) -> std::result::Result<TrustBundle, String> {
        let blocks = x509::pem_blocks(bytes)?;
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
        let mut bundle = TrustBundle::default();
        for (i, r) in roots.into_iter().enumerate() {
            x509::parse_cert(&r).map_err(|e| format!("certificate {}: {e}", i + 1))?;
            webpki::anchor_from_trusted_cert(&r)
                .map_err(|e| format!("certificate {} cannot be a trust anchor: {e}", i + 1))?;
            bundle
                .add(TrustedRoot::describe(r).map_err(|e| format!("certificate {}: {e}", i + 1))?);
        }
        Ok(bundle)
    }

    /// The roots of the CA in `dir`, for configuration: its `root.pem`, as
    /// [`TrustBundle::anchors_from_pem`] reads it. The CA key is not read.
    pub fn of_ca(dir: &CaDir) -> Result<TrustBundle> {
        let path = dir.path(files::ROOT_CERT);
        let text = dir.read(files::ROOT_CERT)?;
        TrustBundle::anchors_from_pem(&text, &path.display().to_string())
    }

    /// Every certificate in a PEM text, for configuration a federation deploys: each
    /// must be a CA certificate, and a private key anywhere in the text is refused
    /// (trust material is public).
    pub fn anchors_from_pem(text: &str, source: &str) -> Result<TrustBundle> {
        let bad = |rule: String| Error::invalid(Field::TrustedRoot, source, rule);
        let blocks =
            crate::x509::pem_all(text).map_err(|e| bad(format!("is not valid PEM: {e}")))?;
        let mut bundle = TrustBundle::default();
        for block in blocks {
            match block.tag.as_str() {
                "CERTIFICATE" => {
                    let root =
                        TrustedRoot::describe(CertificateDer::from(block.der))
                            .map_err(bad)?;
                    if !root.is_ca {
                        return Err(bad(format!(
                            "holds {:?}, which is not a CA certificate (basicConstraints CA:TRUE); only roots can be trusted",
                            root.subject
                        )));
                    }
                    bundle.add(root);
                }
                tag if tag.contains("PRIVATE KEY") => {
                    return Err(bad(
                        "contains a private key; give only certificates (a root's key must never leave the CA)".into(),
                    ))
                }
                tag => {
                    return Err(bad(format!(
                        "contains a {tag:?} PEM block; only CERTIFICATE blocks are roots"
                    )))
                }
            }
        }
        if bundle.roots.is_empty() {
            return Err(bad("contains no certificate".into()));
        }
        Ok(bundle)
    }

    /// Adds a root unless the bundle already holds it.
    pub fn add(&mut self, root: TrustedRoot) {
        if !self.described.iter().any(|r| r.sha256 == root.sha256) {
            self.roots.push(root.der.clone());
            self.described.push(root);
        }
    }

    /// Adds every root of `other`.
    pub fn extend(&mut self, other: TrustBundle) {
        for r in other.described {
            self.add(r);
        }
    }

    /// The roots, DER, in the order they were added.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The roots, described, in the order they were added (the CA's own first).
    pub fn trusted(&self) -> &[TrustedRoot] {
        &self.described
    }

    /// Every root as one PEM text.
    pub fn pem(&self) -> String {
        self.described.iter().map(|r| r.pem.as_str()).collect()
    }

    /// The roots as a rustls root store.
    pub fn root_store(&self) -> RootCertStore {
        let mut store = RootCertStore::empty();
        let (_, _) = store.add_parsable_certificates(self.roots.iter().cloned());
        store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_refuse_keys_and_empty_input() {
        let e = TrustBundle::anchors_from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "x.pem",
        )
        .unwrap_err();
        assert!(e.to_string().contains("private key"), "{e}");
        assert_eq!(e.exit_code(), 2);
        assert!(TrustBundle::anchors_from_pem("", "empty.pem").is_err());
    }
}
