//! Certificate revocation lists: `fedca crl`.
//!
//! A CRL (RFC 5280 §5) signed by the issuing CA lists every serial in
//! `revocations.jsonl` with its revocation time and reason code. Each CRL gets the next
//! CRL number; the last one issued is kept in `crl-number` in the CA directory
//! (decimal text), written under the CA lock before the CRL is handed out, so numbers
//! only ever increase (a crash may skip one, never repeat one).

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::error::{Error, ExternalError, Result};
use crate::revocation::{self, Revocation};
use crate::store::{files, write_atomic, PUBLIC_MODE};
use crate::Ca;

/// The file that holds the last CRL number issued.
pub const NUMBER_FILE: &str = "crl-number";

/// The default time until the next update.
pub const DEFAULT_NEXT_UPDATE: Duration = Duration::days(7);

/// A signed CRL and what it says.
#[derive(Debug, Clone, Serialize)]
pub struct Crl {
    /// The CRL number (increases with every CRL this CA signs).
    pub crl_number: u64,
    /// thisUpdate, RFC 3339.
    pub this_update: String,
    /// nextUpdate, RFC 3339.
    pub next_update: String,
    /// The revoked certificates it lists.
    pub revoked: Vec<Revocation>,
    /// The CRL, PEM.
    pub pem: String,
}

/// The last CRL number this CA issued (0 when none).
fn last_number(ca: &Ca) -> Result<u64> {
    let p = ca.dir().path(NUMBER_FILE);
    match std::fs::read_to_string(&p) {
        Ok(t) => t
            .trim()
            .parse()
            .map_err(|e| Error::corrupt(&p, format!("not a CRL number: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(&p, e)),
    }
}

/// Signs a CRL listing every revoked certificate, valid for `next_update`, with the
/// next CRL number (recorded before returning).
pub fn generate(ca: &Ca, next_update: Duration) -> Result<Crl> {
    if next_update <= Duration::ZERO {
        return Err(Error::invalid(
            crate::error::Field::NextUpdate,
            next_update.to_string(),
            "must be longer than zero",
        ));
    }
    let dir = ca.dir();
    let lock = dir.lock()?;
    if dir.read(files::ROOT_CERT)? != ca.authority().cert_pem() {
        return Err(Error::corrupt(
            &dir.path(files::ROOT_CERT),
            "the CA was replaced while this command waited for the lock; run it again",
        ));
    }
    let revoked = revocation::read(dir)?;
    let number = last_number(ca)?
        .checked_add(1)
        .ok_or_else(|| Error::corrupt(&dir.path(NUMBER_FILE), "the CRL number overflowed"))?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let next = now + next_update;
    let mut entries = Vec::with_capacity(revoked.len());
    for r in &revoked {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(r.serial.as_bytes())
            .map_err(|e| {
                Error::corrupt(
                    &dir.path(revocation::FILE),
                    format!("serial {:?}: {e}", r.serial),
                )
            })?;
        let at = OffsetDateTime::parse(&r.revoked_at, &Rfc3339).map_err(|e| {
            Error::corrupt(
                &dir.path(revocation::FILE),
                format!("revoked_at {:?}: {e}", r.revoked_at),
            )
        })?;
        entries.push(rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&bytes),
            revocation_time: at,
            reason_code: Some(r.reason.crl_reason()),
            invalidity_date: None,
        });
    }
    let params = rcgen::CertificateRevocationListParams {
        this_update: now,
        next_update: next,
        crl_number: rcgen::SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: entries,
        key_identifier_method: issuer_key_id(&ca.authority().issuing_cert_der()),
    };
    let issuer = ca.authority().issuer()?;
    let crl = params.signed_by(&issuer).crypto("signing the CRL")?;
    let pem = crl.pem().crypto("encoding the CRL")?;
    write_atomic(
        &dir.path(NUMBER_FILE),
        format!("{number}\n").as_bytes(),
        PUBLIC_MODE,
    )?;
    drop(lock);
    Ok(Crl {
        crl_number: number,
        this_update: crate::x509::rfc3339(now),
        next_update: crate::x509::rfc3339(next),
        revoked,
        pem,
    })
}

/// The issuing CA's subject key identifier, so that the CRL's authority key identifier
/// matches it whatever method made it (verifiers match the two).
fn issuer_key_id(cert_der: &[u8]) -> rcgen::KeyIdMethod {
    use x509_parser::extensions::ParsedExtension;
    let ski = x509_parser::parse_x509_certificate(cert_der)
        .ok()
        .and_then(|(_, c)| {
            c.extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                    _ => None,
                })
        });
    match ski {
        Some(k) => rcgen::KeyIdMethod::PreSpecified(k),
        None => rcgen::KeyIdMethod::Sha256,
    }
}
