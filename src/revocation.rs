//! Revocation: `revocations.jsonl`, the append-only list of revoked serials.
//!
//! One JSON object per line, oldest first:
//!
//! ```text
//! {"serial":"5f1c...","revoked_at":"2026-11-28T08:30:00Z","reason":"key-compromise"}
//! ```
//!
//! The index is never rewritten for a revocation: a record's effective status is
//! `revoked` when its serial is listed here ([`revoked_serials`] is the one reader the
//! index's state function consults). The file is small and rewritten whole with
//! [`crate::store::write_atomic`] under the CA lock, so a crash leaves the old list or
//! the new one, never a torn line.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::store::{write_atomic, CaDir, CaLock, IndexRecord, RecordState, PUBLIC_MODE};

/// The revocation file's name in the CA directory.
pub const FILE: &str = "revocations.jsonl";

/// Why a certificate was revoked: RFC 5280 §5.3.1 reason codes, written in kebab case
/// (`keyCompromise` is `key-compromise`). Only the codes that apply to a homeserver's
/// leaf are accepted: `certificateHold` (not a revocation), `removeFromCRL` (delta CRLs),
/// `cACompromise` and `aACompromise` (rotate the root instead) are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No reason given (code 0).
    #[default]
    Unspecified,
    /// The server's private key was (or may have been) exposed (code 1).
    KeyCompromise,
    /// The server left the organisation or changed name (code 3).
    AffiliationChanged,
    /// A newer certificate replaces it (code 4).
    Superseded,
    /// The server was shut down (code 5).
    CessationOfOperation,
    /// The server is no longer allowed to federate (code 9).
    PrivilegeWithdrawn,
}

impl Reason {
    /// Every accepted reason, as written on the command line.
    pub const ALL: [Reason; 6] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::AffiliationChanged,
        Reason::Superseded,
        Reason::CessationOfOperation,
        Reason::PrivilegeWithdrawn,
    ];

    /// The kebab-case name (`key-compromise`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key-compromise",
            Reason::AffiliationChanged => "affiliation-changed",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation-of-operation",
            Reason::PrivilegeWithdrawn => "privilege-withdrawn",
        }
    }

    /// The CRL reason code.
    pub(crate) fn crl_reason(self) -> rcgen::RevocationReason {
        use rcgen::RevocationReason as R;
        match self {
            Reason::Unspecified => R::Unspecified,
            Reason::KeyCompromise => R::KeyCompromise,
            Reason::AffiliationChanged => R::AffiliationChanged,
            Reason::Superseded => R::Superseded,
            Reason::CessationOfOperation => R::CessationOfOperation,
            Reason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Reason {
    type Err = Error;
    /// Accepts the kebab-case name, the snake-case one, or RFC 5280's camel case.
    fn from_str(s: &str) -> Result<Reason> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str().replace('-', "") == norm)
            .ok_or_else(|| {
                let names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
                Error::invalid(
                    crate::error::Field::Reason,
                    s,
                    format!("must be one of {}", names.join(", ")),
                )
            })
    }
}

/// One line of `revocations.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The revoked certificate's serial, lower-case hex as in the index.
    pub serial: String,
    /// When it was revoked, RFC 3339 (UTC, whole seconds).
    pub revoked_at: String,
    /// Why.
    #[serde(default)]
    pub reason: Reason,
}

/// Every revocation, oldest first (none when the file does not exist). A serial listed
/// twice keeps its first line.
pub fn read(dir: &CaDir) -> Result<Vec<Revocation>> {
    let p = dir.path(FILE);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&p, e)),
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: Revocation = serde_json::from_str(line)
            .map_err(|e| Error::corrupt(&p, format!("line {}: {e}", i + 1)))?;
        if seen.insert(r.serial.clone()) {
            out.push(r);
        }
    }
    Ok(out)
}

/// The revoked serials: the one function that decides whether a record is revoked.
pub fn revoked_serials(dir: &CaDir) -> Result<HashSet<String>> {
    Ok(read(dir)?.into_iter().map(|r| r.serial).collect())
}

/// Normalises a serial as typed (`5F:1C:...`, `0x5f1c`, leading zeros) to the index's
/// form; `None` when it is not hexadecimal.
pub fn normalise_serial(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let trimmed = lower.trim_start_matches('0');
    let mut out = if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    };
    if out.len() % 2 == 1 {
        out.insert(0, '0');
    }
    Some(out)
}

/// What `revoke` found for a NAME or SERIAL.
#[derive(Debug, Clone, Serialize)]
pub struct RevokeOutcome {
    /// The certificates revoked now.
    pub revoked: Vec<Revocation>,
    /// Serials that matched but were already revoked (nothing written for them).
    pub already_revoked: Vec<String>,
    /// The server the certificates were issued for.
    pub server: String,
}

/// The records `target` names: a server name's certificates that are not expired (the
/// current one and any superseded one still inside its validity: its key may still be
/// on disk), or the one certificate with that serial. Unknown: [`Error::InvalidValue`].
pub fn select(
    records: &[IndexRecord],
    target: &str,
    now: OffsetDateTime,
) -> Result<Vec<IndexRecord>> {
    let as_server = crate::name::ServerName::parse(target).ok();
    let for_server: Vec<&IndexRecord> = records
        .iter()
        .filter(|r| as_server.as_ref() == Some(&r.server))
        .collect();
    if !for_server.is_empty() {
        let live: Vec<IndexRecord> = for_server
            .iter()
            .filter(|r| !expired(r, now))
            .map(|r| (*r).clone())
            .collect();
        if live.is_empty() {
            // Every certificate expired: revoking the newest still records the decision.
            return Ok(for_server
                .last()
                .map(|r| vec![(*r).clone()])
                .unwrap_or_default());
        }
        return Ok(live);
    }
    if let Some(serial) = normalise_serial(target) {
        if let Some(r) = records.iter().find(|r| r.serial == serial) {
            return Ok(vec![r.clone()]);
        }
    }
    Err(Error::invalid(
        crate::error::Field::RevokeTarget,
        target,
        "is neither a server name nor a serial this CA issued (see `fedca list`)",
    ))
}

fn expired(r: &IndexRecord, now: OffsetDateTime) -> bool {
    r.not_after < now
}

/// Revokes what `target` names (see [`select`]) under the CA lock: appends a line per
/// certificate not yet revoked to `revocations.jsonl` (rewritten atomically). The
/// index is not touched. Needs no CA key.
pub fn revoke(dir: &CaDir, target: &str, reason: Reason) -> Result<RevokeOutcome> {
    let mut outcomes = revoke_each(dir, &[target], reason)?;
    Ok(outcomes.remove(0))
}

/// [`revoke`] for several targets at once (`fedca apply` revoking the servers that left
/// its spec): one lock, one read of the index and of the revocations, one append.
pub fn revoke_each(dir: &CaDir, targets: &[&str], reason: Reason) -> Result<Vec<RevokeOutcome>> {
    let now = OffsetDateTime::now_utc();
    let lock = dir.lock()?;
    let records = dir.read_index()?;
    let mut done: HashSet<String> = read(dir)?.into_iter().map(|r| r.serial).collect();
    let mut outcomes = Vec::with_capacity(targets.len());
    let mut new = Vec::new();
    for target in targets {
        let chosen = select(&records, target, now)?;
        let server = chosen
            .first()
            .map(|r| r.server.to_string())
            .unwrap_or_default();
        let mut out = RevokeOutcome {
            revoked: Vec::new(),
            already_revoked: Vec::new(),
            server,
        };
        for r in chosen {
            if done.insert(r.serial.clone()) {
                out.revoked.push(Revocation {
                    serial: r.serial,
                    revoked_at: crate::x509::rfc3339(now),
                    reason,
                });
            } else {
                out.already_revoked.push(r.serial);
            }
        }
        new.extend(out.revoked.iter().cloned());
        outcomes.push(out);
    }
    if !new.is_empty() {
        append(dir, &lock, &new)?;
    }
    Ok(outcomes)
}

/// Appends revocations: the whole file (it is small) rewritten atomically.
pub fn append(dir: &CaDir, _lock: &CaLock, new: &[Revocation]) -> Result<()> {
    let p = dir.path(FILE);
    let mut text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(&p, e)),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for r in new {
        let line = serde_json::to_string(r).map_err(|e| Error::Internal(e.to_string()))?;
        text.push_str(&line);
        text.push('\n');
    }
    write_atomic(&p, text.as_bytes(), PUBLIC_MODE)
}

/// The federation's current servers that are allowed to federate: every server whose
/// newest certificate is not revoked, sorted. This is the list a homeserver's
/// federation allow-list (Synapse `federation_domain_whitelist`) carries, since
/// homeservers do not consult CRLs.
pub fn allowed_servers(dir: &CaDir) -> Result<Vec<String>> {
    Ok(allowed_in(&dir.read_index()?))
}

/// As [`allowed_servers`], from index records already read with their effective states
/// ([`CaDir::read_index`]: a revoked record reads as revoked), so that `fedca trust`,
/// `status` and `apply` read neither file again.
pub fn allowed_in(records: &[IndexRecord]) -> Vec<String> {
    let mut newest: BTreeMap<String, &IndexRecord> = BTreeMap::new();
    for r in records {
        newest.insert(r.server.to_string(), r);
    }
    newest
        .into_iter()
        .filter(|(_, r)| r.state != RecordState::Revoked)
        .map(|(s, _)| s)
        .collect()
}

/// Of `servers`, those whose newest certificate is revoked, with that serial: `issue`
/// says so when it re-issues one.
pub fn revoked_among(dir: &CaDir, servers: &[String]) -> Result<Vec<(String, String)>> {
    let revoked = revoked_serials(dir)?;
    if revoked.is_empty() {
        return Ok(Vec::new());
    }
    let mut newest: BTreeMap<String, String> = BTreeMap::new();
    for r in dir.read_index()? {
        newest.insert(r.server.to_string(), r.serial);
    }
    Ok(servers
        .iter()
        .filter_map(|s| {
            newest
                .get(s)
                .filter(|serial| revoked.contains(*serial))
                .map(|serial| (s.clone(), serial.clone()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_in_every_spelling() {
        for s in [
            "key-compromise",
            "key_compromise",
            "keyCompromise",
            "KEY-COMPROMISE",
        ] {
            assert_eq!(s.parse::<Reason>().unwrap(), Reason::KeyCompromise, "{s}");
        }
        let err = "certificate-hold".parse::<Reason>().unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.cli_message().contains("--reason"), "{err}");
    }

    #[test]
    fn allowed_servers_leave_out_the_revoked_until_reissued() {
        use crate::issue::LeafRequest;
        use crate::name::ServerName;
        let tmp = tempfile::tempdir().unwrap();
        let (ca, _) =
            crate::Ca::init(tmp.path().join("ca"), &crate::InitOptions::default()).unwrap();
        let req = |n: &str| LeafRequest::new(ServerName::parse(n).unwrap());
        ca.issue(&[req("hs1.fed.test"), req("hs2.fed.test:8448")], None)
            .unwrap();
        assert_eq!(
            allowed_servers(ca.dir()).unwrap(),
            ["hs1.fed.test", "hs2.fed.test:8448"]
        );
        let out = revoke(ca.dir(), "hs2.fed.test:8448", Reason::KeyCompromise).unwrap();
        assert_eq!(out.revoked.len(), 1);
        assert_eq!(allowed_servers(ca.dir()).unwrap(), ["hs1.fed.test"]);
        assert_eq!(
            revoked_among(ca.dir(), &["hs2.fed.test:8448".into()]).unwrap()[0].1,
            out.revoked[0].serial
        );
        ca.issue(&[req("hs2.fed.test:8448")], None).unwrap();
        assert_eq!(
            allowed_servers(ca.dir()).unwrap(),
            ["hs1.fed.test", "hs2.fed.test:8448"]
        );
        assert!(revoked_among(ca.dir(), &["hs2.fed.test:8448".into()])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn serials_normalise() {
        assert_eq!(normalise_serial("5F:1C").as_deref(), Some("5f1c"));
        assert_eq!(normalise_serial("0x005f1c").as_deref(), Some("5f1c"));
        assert_eq!(normalise_serial("f1c").as_deref(), Some("0f1c"));
        assert_eq!(normalise_serial("hs1.fed.test"), None);
    }
}
