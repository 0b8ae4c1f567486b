//! Signing certificate signing requests: the server keeps its key.
//!
//! A CSR contributes exactly two things: its public key, and (when no `--server` is
//! given) the names it asks for. Its signature must verify; its key must be ECDSA
//! P-256/P-384, Ed25519 or RSA of at least 2048 bits; its names must be valid Matrix
//! names inside the CA's name constraints. Everything else it asks for (CA:TRUE, key
//! usages, other extensions) is ignored: the certificate gets fedca's leaf profile
//! ([`crate::issue::LeafProfile`]), exactly as `fedca issue` would give it.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::error::{Error, ExternalError, Result};
use crate::issue::{self, LeafProfile, LeafRequest};
use crate::name::{AltName, ServerName};
use crate::store::{files, IndexRecord, RecordKeyType, RecordState, ServerFiles};
use crate::validity::Validity;
use crate::x509::{sha256_hex, whole_seconds};
use crate::{Ca, Issued};

/// A verified CSR: its public key and the names it asks for.
#[derive(Debug, Clone)]
pub struct Csr {
    spki_der: Vec<u8>,
    /// The key, as fedca names key types (`rsa-2048`, `ecdsa-p256`, `ed25519`...).
    pub key_type: RecordKeyType,
    /// The subjectAltNames it asks for (DNS names and IP addresses, as text).
    pub names: Vec<String>,
    /// The subject's common name, if any.
    pub common_name: Option<String>,
}

impl Csr {
    /// Parses a PEM or DER CSR, verifies its signature and checks its key. `what` names
    /// the input in errors; every refusal is bad input (exit 2).
    pub fn parse(bytes: &[u8], what: &str) -> Result<Csr> {
        let bad = |rule: String| Error::invalid(crate::error::Field::Csr, what, rule);
        let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let block =
                crate::x509::pem_first(bytes).map_err(|e| bad(format!("is not a PEM CSR: {e}")))?;
            if !matches!(
                block.tag.as_str(),
                "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"
            ) {
                return Err(bad(format!(
                    "holds a {:?} PEM block, not a CERTIFICATE REQUEST",
                    block.tag
                )));
            }
            block.der
        } else {
            bytes.to_vec()
        };
        let (rest, csr) = X509CertificationRequest::from_der(&der)
            .map_err(|e| bad(format!("is not a certificate signing request: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("has trailing bytes after the request".into()));
        }
        let info = &csr.certification_request_info;
        let key = crate::x509::key_desc(&info.subject_pki);
        let key_type = match key.key_type.as_str() {
            "ecdsa-p256" => RecordKeyType::EcdsaP256,
            "ecdsa-p384" => RecordKeyType::EcdsaP384,
            "ed25519" => RecordKeyType::Ed25519,
            "rsa" if key.bits >= 2048 => RecordKeyType::Rsa(key.bits),
            "rsa" => {
                return Err(bad(format!(
                    "has an RSA key of {} bits; at least 2048 bits are required (what rustls, OpenSSL, GnuTLS and Go accept)",
                    key.bits
                )))
            }
            other => {
                return Err(bad(format!(
                    "has a {other} key; fedca signs ECDSA P-256 or P-384, Ed25519, or RSA keys of at least 2048 bits"
                )))
            }
        };
        csr.verify_signature().map_err(|e| {
            bad(format!(
                "has a signature that does not verify ({e}): it was altered after it was signed, or is damaged"
            ))
        })?;
        let mut names = Vec::new();
        if let Some(exts) = csr.requested_extensions() {
            for e in exts {
                if let ParsedExtension::SubjectAlternativeName(san) = e {
                    for g in &san.general_names {
                        match g {
                            GeneralName::DNSName(d) => names.push(d.to_string()),
                            GeneralName::IPAddress(b) => names.push(ip_text(b).ok_or_else(
                                || bad("asks for an IP address that is not 4 or 16 bytes".into()),
                            )?),
                            other => {
                                return Err(bad(format!(
                                    "asks for the name {other:?}; fedca certifies DNS names and IP addresses only"
                                )))
                            }
                        }
                    }
                }
            }
        }
        let common_name = info
            .subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        Ok(Csr {
            spki_der: info.subject_pki.raw.to_vec(),
            key_type,
            names,
            common_name,
        })
    }

    /// The server name: `server` when given, else the CSR's first subjectAltName, else
    /// its common name.
    pub fn server_name(&self, server: Option<&ServerName>) -> Result<ServerName> {
        if let Some(s) = server {
            return Ok(s.clone());
        }
        let first = self
            .names
            .first()
            .or(self.common_name.as_ref())
            .ok_or_else(|| {
                Error::invalid(
                    crate::error::Field::Csr,
                    "",
                    format!(
                        "names no server (no subjectAltName, no common name); give {}",
                        crate::error::Field::Server.mention()
                    ),
                )
            })?;
        let text = match first.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{first}]"),
            _ => first.clone(),
        };
        ServerName::parse(&text).map_err(|e| {
            Error::invalid(
                crate::error::Field::Csr,
                first.clone(),
                format!(
                    "its first name is not a Matrix server name ({e}); give {}",
                    crate::error::Field::Server.mention()
                ),
            )
        })
    }
}

fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?).to_string()),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?).to_string()),
        _ => None,
    }
}

/// What `fedca sign-csr` asks for besides the CSR.
#[derive(Debug, Clone, Default)]
pub struct CsrOptions {
    /// The Matrix server name; the CSR's first name when `None`.
    pub server: Option<ServerName>,
    /// The delegated server.
    pub delegate: Option<ServerName>,
    /// Extra names, beyond those the CSR asks for.
    pub alts: Vec<AltName>,
    /// Validity; the CA's default when `None`.
    pub validity: Option<Validity>,
}

impl Ca {
    /// Signs `csr` with fedca's leaf profile and writes `cert.pem`, `fullchain.pem` and
    /// `ca.pem` (no `key.pem`: the server keeps its key) into `<out>/<dir-name>/`
    /// (default: the CA's `servers/`), recording it in the index like any issuance.
    /// Every name (the server's, the CSR's, `alts`) is checked before anything is
    /// signed or written.
    pub fn sign_csr(&self, csr: &Csr, opts: &CsrOptions, out: Option<&Path>) -> Result<Issued> {
        let server = csr.server_name(opts.server.as_ref())?;
        let mut alts = Vec::new();
        for n in &csr.names {
            alts.push(AltName::parse(n).map_err(|e| {
                Error::invalid(
                    crate::error::Field::Csr,
                    n.clone(),
                    format!("asks for a name fedca refuses: {e}"),
                )
            })?);
        }
        alts.extend(opts.alts.iter().cloned());
        let req = LeafRequest {
            server,
            delegate: opts.delegate.clone(),
            alts,
            validity: opts.validity,
            key_type: None,
        };
        let authority = self.authority();
        let profile = LeafProfile::build(&req, authority, OffsetDateTime::now_utc())?;
        let dir_name = req.server.dir_name();
        let (target, path_text) = match out {
            Some(o) => {
                if o.to_str().is_none() {
                    return Err(Error::invalid(
                        crate::error::Field::OutputDir,
                        o.display().to_string(),
                        "is not valid UTF-8, which the index cannot record",
                    ));
                }
                if self.dir().contains(o)? {
                    return Err(Error::invalid(
                        crate::error::Field::OutputDir,
                        o.display().to_string(),
                        format!("is inside the CA directory; write server files there without {}, or choose a directory outside it", crate::error::Field::OutputDir.mention()),
                    ));
                }
                let t: PathBuf =
                    std::path::absolute(o.join(&dir_name)).map_err(|e| Error::io(o, e))?;
                let text = t.display().to_string();
                (t, text)
            }
            None => (
                self.dir().server_dir(&dir_name),
                format!("{}/{dir_name}", files::SERVERS),
            ),
        };
        crate::store::check_target(&target)?;
        let spki = rcgen::SubjectPublicKeyInfo::from_der(&csr.spki_der)
            .crypto("reading the CSR's public key")?;

        let lock = self.dir().lock()?;
        if self.dir().read(files::ROOT_CERT)? != authority.cert_pem() {
            return Err(Error::corrupt(
                &self.dir().path(files::ROOT_CERT),
                "the CA was replaced while this command waited for the lock; run it again",
            ));
        }
        if let Some(o) = out {
            crate::ca::prepare_out(o)?;
        }
        let index = self.dir().read_index()?;
        let taken: BTreeSet<String> = index.iter().map(|r| r.serial.clone()).collect();
        let supersedes = index
            .iter()
            .find(|r| r.state == RecordState::Active && r.server == req.server)
            .map(|r| r.serial.clone());
        let serial = issue::random_serial(&taken)?;
        let serial_text = issue::serial_hex(serial.as_ref());
        let issuer = authority.issuer()?;
        let cert = profile
            .params(serial)?
            .signed_by(&spki, &issuer)
            .crypto("signing the certificate")?;
        crate::lint::check_leaf_chain(
            cert.der(),
            authority.cert_der(),
            &authority.chain_der(),
            &profile.lint_expectations(),
        )?;
        let record = IndexRecord {
            serial: serial_text,
            server: profile.server.clone(),
            names: profile.san_texts(),
            delegate: req.delegate.clone(),
            not_before: whole_seconds(profile.not_before),
            not_after: whole_seconds(profile.not_after),
            state: RecordState::Active,
            path: path_text,
            key_type: csr.key_type,
            sha256: sha256_hex(cert.der()),
            alts: req.alts.iter().map(|a| a.san_text()).collect(),
            validity: req.validity.map(|v| v.to_string()),
        };
        let server_files = ServerFiles {
            cert_pem: cert.pem(),
            fullchain_pem: format!("{}{}", cert.pem(), authority.chain_pem()),
            key_pem: String::new(),
            ca_pem: authority.cert_pem().to_string(),
        };
        self.dir()
            .commit_issue(&lock, &index, record.clone(), &server_files, &target)?;
        Ok(Issued {
            record,
            dir: target,
            clamped: profile.clamped,
            supersedes,
        })
    }
}
