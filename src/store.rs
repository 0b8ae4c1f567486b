//! The CA directory: fedca's only state.
//!
//! ```text
//! DIR/                     0700
//!   policy.json            the CA's policy: name, key type, validities, name constraints
//!   root.pem               the root certificate
//!   root-key.pem           the root private key (PKCS#8 PEM, 0600)
//!   index.jsonl            one JSON record per issued certificate, oldest first
//!   certs/SERIAL.pem       every certificate ever issued
//!   servers/DIR-NAME/      cert.pem fullchain.pem key.pem (0600) ca.pem
//!   journal.json           exists only while an issuance is in flight
//! PARENT/.DIR.lock         advisory lock serialising fedca processes (beside the CA, so
//!                          it still protects the path while init --force swaps the CA)
//! ```
//!
//! Guarantees (see docs/ca-directory.md):
//!
//! * every file is written atomically: a temporary file in the same directory, written,
//!   fsynced, renamed over the target, and the directory fsynced;
//! * a server's four files are replaced together: they are staged in a sibling
//!   directory and swapped in by rename, with a journal that the next fedca process
//!   uses to roll an interrupted issuance back (or forward, once the index names it);
//! * the index is rewritten atomically *after* the certificate's files are in place:
//!   the index rename is the commit point;
//! * processes serialise on an advisory lock on `PARENT/.DIR.lock`, a file beside the CA
//!   directory: `init --force` swaps the directory under the same lock the issuers
//!   take (docs/decisions/0007-ca-directory-hardening.md);
//! * the process that takes the lock sweeps what a crashed one left: temporary files,
//!   stale staging directories, unfinished `init` directories.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Field, Result};
use crate::name::ServerName;

/// File mode of private keys.
pub const KEY_MODE: u32 = 0o600;
/// File mode of certificates and other public files.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of every directory fedca creates.
pub const DIR_MODE: u32 = 0o700;

/// Names of the files in a CA directory.
pub mod files {
    /// The CA policy.
    pub const POLICY: &str = "policy.json";
    /// The root certificate.
    pub const ROOT_CERT: &str = "root.pem";
    /// The root private key (absent while it is kept offline).
    pub const ROOT_KEY: &str = "root-key.pem";
    /// The intermediate certificate of a CA made with `init --intermediate`.
    pub const INTERMEDIATE_CERT: &str = "intermediate.pem";
    /// The intermediate's private key.
    pub const INTERMEDIATE_KEY: &str = "intermediate-key.pem";
    /// Written by `root export-key`: the fingerprint of the root exported and where.
    pub const ROOT_KEY_EXPORTED: &str = "root-key-exported.json";
    /// During a root rotation: the issuing certificate's key certified by the old root.
    pub const CROSS_CERT: &str = "cross.pem";
    /// The key of the root a rotation replaced (kept, never deleted).
    pub const PREVIOUS_ROOT_KEY: &str = "previous-root-key.pem";
    /// The intermediate a rotation replaced, and its key (kept: CRLs for the leaves it
    /// signed need it).
    pub const PREVIOUS_INTERMEDIATE_CERT: &str = "previous-intermediate.pem";
    /// The key of [`PREVIOUS_INTERMEDIATE_CERT`].
    pub const PREVIOUS_INTERMEDIATE_KEY: &str = "previous-intermediate-key.pem";
    /// Where `rotate-root` stages the files it installs (see `authority::finish_rotation`).
    pub const ROTATION_STAGING: &str = "rotation.new";
    /// The certificate index.
    pub const INDEX: &str = "index.jsonl";
    /// The lock file of fedca before 0.2, inside the CA (unused; the lock now lives
    /// beside the CA directory, see [`super::CaDir::lock_path`]).
    pub const LOCK: &str = ".lock";
    /// Marks an `init` staging directory that holds a new, not yet installed CA.
    pub const INIT_MARK: &str = ".fedca-new";
    /// Revoked serials, append-only (missing: none revoked).
    pub const REVOCATIONS: &str = "revocations.jsonl";
    /// The in-flight issuance journal.
    pub const JOURNAL: &str = "journal.json";
    /// The archive of issued certificates.
    pub const CERTS: &str = "certs";
    /// The per-server output directories.
    pub const SERVERS: &str = "servers";
    /// A server's leaf certificate.
    pub const LEAF: &str = "cert.pem";
    /// A server's leaf plus intermediates.
    pub const FULLCHAIN: &str = "fullchain.pem";
    /// A server's private key.
    pub const KEY: &str = "key.pem";
    /// The root certificate, beside a server's files.
    pub const CA: &str = "ca.pem";
}

/// The state of an index record, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// The newest certificate for its server.
    Active,
    /// A newer certificate was issued for the same server.
    Superseded,
    /// Revoked.
    Revoked,
}

/// One issued certificate, as the index records it.
///
/// Every field is written exactly as fedca has always written it (see
/// docs/ca-directory.md): server names in their [`ServerName`] text, times as RFC 3339
/// UTC whole seconds, key types by their command-line names (`rsa-2048` for an RSA key
/// signed by `sign-csr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRecord {
    /// The serial number, lower-case hex without separators.
    pub serial: String,
    /// The server name the certificate was issued for.
    #[serde(with = "server_name_text")]
    pub server: ServerName,
    /// Every name in the certificate (DNS names and IP addresses).
    pub names: Vec<String>,
    /// The delegated server (`m.server` of `.well-known/matrix/server`), if any.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_server_name_text"
    )]
    pub delegate: Option<ServerName>,
    /// Start of validity (whole seconds, UTC).
    #[serde(with = "rfc3339_text")]
    pub not_before: OffsetDateTime,
    /// End of validity (whole seconds, UTC).
    #[serde(with = "rfc3339_text")]
    pub not_after: OffsetDateTime,
    /// Stored state.
    pub state: RecordState,
    /// Where the server's files were written (relative to the CA directory, or absolute).
    pub path: String,
    /// The leaf key type.
    pub key_type: RecordKeyType,
    /// SHA-256 fingerprint of the certificate (hex).
    pub sha256: String,
    /// The extra names (`--alt`) asked for (the server's stored settings; absent in
    /// records written before fedca stored them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alts: Vec<String>,
    /// The validity asked for, or the CA's default at the time, e.g. `90d` (stored
    /// settings; absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
}

/// The key type of a leaf, as the index records it: a type fedca generates, or an RSA
/// key of a CSR signed by `sign-csr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKeyType {
    /// ECDSA P-256 (`ecdsa-p256`).
    EcdsaP256,
    /// ECDSA P-384 (`ecdsa-p384`).
    EcdsaP384,
    /// Ed25519 (`ed25519`).
    Ed25519,
    /// RSA of this many bits (`rsa-2048`), only from `sign-csr`.
    Rsa(u32),
}

impl RecordKeyType {
    /// Parses the text fedca writes: `ecdsa-p256`, `ecdsa-p384`, `ed25519` or `rsa-BITS`
    /// (canonical decimal, so that the text round-trips).
    pub fn parse(text: &str) -> Option<RecordKeyType> {
        match text {
            "ecdsa-p256" => Some(RecordKeyType::EcdsaP256),
            "ecdsa-p384" => Some(RecordKeyType::EcdsaP384),
            "ed25519" => Some(RecordKeyType::Ed25519),
            _ => {
                let bits = text.strip_prefix("rsa-")?;
                let n: u32 = bits.parse().ok()?;
                (n.to_string() == bits).then_some(RecordKeyType::Rsa(n))
            }
        }
    }
}

impl std::fmt::Display for RecordKeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordKeyType::EcdsaP256 => f.pad("ecdsa-p256"),
            RecordKeyType::EcdsaP384 => f.pad("ecdsa-p384"),
            RecordKeyType::Ed25519 => f.pad("ed25519"),
            RecordKeyType::Rsa(bits) => f.pad(&format!("rsa-{bits}")),
        }
    }
}

impl Serialize for RecordKeyType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordKeyType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        RecordKeyType::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown key type {text:?} (fedca writes ecdsa-p256, ecdsa-p384, ed25519 or rsa-BITS)"
            ))
        })
    }
}

/// Serde for a time as the index writes it: RFC 3339, UTC, whole seconds
/// (`2026-11-28T09:35:22Z`, [`crate::x509::rfc3339`]); reads any RFC 3339 time.
pub mod rfc3339_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    /// Writes `t` as fedca has always written times.
    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::x509::rfc3339(*t))
    }

    /// Reads an RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map_err(|e| serde::de::Error::custom(format!("bad time {text:?}: {e}")))
    }
}

/// Serde for a server name as its text ([`ServerName`]'s `Display`, read by
/// [`ServerName::parse`]).
mod server_name_text {
    use crate::name::ServerName;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &ServerName, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(n)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ServerName, D::Error> {
        let text = String::deserialize(d)?;
        ServerName::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// [`server_name_text`] for an optional name.
mod opt_server_name_text {
    use crate::name::ServerName;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &Option<ServerName>, s: S) -> Result<S::Ok, S::Error> {
        match n {
            Some(n) => s.collect_str(n),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ServerName>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| ServerName::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// An open CA directory.
#[derive(Debug, Clone)]
pub struct CaDir {
    root: PathBuf,
    insecure_permissions: bool,
    lock_timeout: Duration,
}

/// How long [`CaDir::lock`] waits for another process unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

static LOCK_TIMEOUT_SECS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(60);

/// Sets the lock wait of every [`CaDir`] made after this call and of the output-directory
/// lock of `trust` (the command line sets it from `FEDCA_LOCK_TIMEOUT`; the library
/// reads no environment).
pub fn set_default_lock_timeout(timeout: Duration) {
    LOCK_TIMEOUT_SECS.store(timeout.as_secs(), std::sync::atomic::Ordering::Relaxed);
}

/// The lock wait set by [`set_default_lock_timeout`] (60 s unless set).
pub fn default_lock_timeout() -> Duration {
    Duration::from_secs(LOCK_TIMEOUT_SECS.load(std::sync::atomic::Ordering::Relaxed))
}

/// Proof that this process holds the CA directory's lock; released on drop.
#[derive(Debug)]
pub struct CaLock {
    _file: File,
}

/// The files written for one server.
#[derive(Debug, Clone)]
pub struct ServerFiles {
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// Leaf plus intermediates, PEM.
    pub fullchain_pem: String,
    /// The leaf's private key, PKCS#8 PEM; empty for a CSR-signed certificate, whose
    /// directory then has no `key.pem`.
    pub key_pem: String,
    /// The root certificate, PEM.
    pub ca_pem: String,
}

/// One server of a batch: its record, its files and its directory.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The index record to append.
    pub record: IndexRecord,
    /// The four files.
    pub files: ServerFiles,
    /// The server directory to replace.
    pub target: PathBuf,
}

/// Where one server of a batch is staged and swapped (absolute paths).
#[derive(Debug)]
struct Plan {
    target: PathBuf,
    parent: PathBuf,
    staging: PathBuf,
    backup: PathBuf,
    target_existed: bool,
    keep: bool,
}

/// Whether `target` holds the committed certificate of `record`'s server and path
/// (verifiably fedca's output: only then does a renewal keep the old directory's
/// owner and modes), looked up in `active`.
fn committed_output(
    target: &Path,
    record: &IndexRecord,
    active: &std::collections::HashMap<(&ServerName, &str), &str>,
) -> bool {
    if !is_fedca_dir(target) {
        return false;
    }
    let Some(fp) = fs::read(target.join(files::LEAF))
        .ok()
        .and_then(|c| pem_sha256(&c))
    else {
        return false;
    };
    active
        .get(&(&record.server, record.path.as_str()))
        .is_some_and(|sha| *sha == fp)
}

/// The journal of a batch (format 2): the index length before the batch and one entry
/// per server.
#[derive(Debug, Serialize, Deserialize)]
struct BatchJournal {
    format: u32,
    index_len: u64,
    entries: Vec<Journal>,
}

/// A journal as found on disk: a batch, or one server (written by fedca before the
/// batch commit; still recovered).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AnyJournal {
    Batch(BatchJournal),
    Single(Journal),
}

/// The serial of a line of `revocations.jsonl` (see [`crate::revocation`]).
#[derive(Debug, Deserialize)]
struct RevokedSerial {
    serial: String,
}

/// The state a record has now: revoked if `revocations.jsonl` lists it or it stored
/// `revoked`; superseded if a later record names the same server or it stored
/// `superseded` (indexes written before the append-only index); active otherwise.
/// The one place that decides it.
pub fn effective_state(stored: RecordState, later_for_server: bool, revoked: bool) -> RecordState {
    if revoked || stored == RecordState::Revoked {
        RecordState::Revoked
    } else if later_for_server || stored == RecordState::Superseded {
        RecordState::Superseded
    } else {
        RecordState::Active
    }
}

/// Replaces each record's stored state by its [`effective_state`].
pub fn apply_effective_states(records: &mut [IndexRecord], revoked: &HashSet<String>) {
    let mut seen: HashSet<String> = HashSet::with_capacity(records.len());
    for r in records.iter_mut().rev() {
        let later = !seen.insert(r.server.to_string());
        r.state = effective_state(r.state, later, revoked.contains(&r.serial));
    }
}

/// Parses index text; with `torn_tail`, a last line that does not parse is skipped.
fn parse_index(p: &Path, text: &str, torn_tail: bool) -> Result<Vec<IndexRecord>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(l) {
            Ok(r) => out.push(r),
            Err(_) if torn_tail && i + 1 == lines.len() => {}
            Err(e) => return Err(Error::corrupt(p, format!("line {}: {e}", i + 1))),
        }
    }
    Ok(out)
}

/// Writes one server's staged directory and archived certificate, without syncing.
fn stage(serial: &str, f: &ServerFiles, p: &Plan, certs: &Path) -> Result<()> {
    if fs::symlink_metadata(&p.staging).is_ok() {
        fs::remove_dir_all(&p.staging).map_err(|e| Error::io(&p.staging, e))?;
    }
    create_dir_private(&p.staging)?;
    // A CSR-signed certificate has no key here: the server kept it.
    if !f.key_pem.is_empty() {
        write_new(&p.staging.join(files::KEY), f.key_pem.as_bytes(), KEY_MODE)?;
    }
    write_new(
        &p.staging.join(files::LEAF),
        f.cert_pem.as_bytes(),
        PUBLIC_MODE,
    )?;
    write_new(
        &p.staging.join(files::FULLCHAIN),
        f.fullchain_pem.as_bytes(),
        PUBLIC_MODE,
    )?;
    write_new(&p.staging.join(files::CA), f.ca_pem.as_bytes(), PUBLIC_MODE)?;
    if p.keep {
        keep_ownership(&p.target, &p.staging)?;
    }
    let archived = certs.join(format!("{serial}.pem"));
    if write_new(&archived, f.cert_pem.as_bytes(), PUBLIC_MODE).is_err() {
        // A copy a failed run left (the serial is random: otherwise never there).
        remove_file(&archived)?;
        write_new(&archived, f.cert_pem.as_bytes(), PUBLIC_MODE)?;
    }
    Ok(())
}

/// `f` applied to every item on every core, results in order ([`for_each_parallel`]).
pub(crate) fn parallel_map<T, R, F>(items: &[T], f: F) -> Result<Vec<R>>
where
    T: Sync,
    R: Send + Sync,
    F: Fn(&T) -> Result<R> + Sync,
{
    parallel_collect(items.len(), |i| f(&items[i]))
}

/// `f(0..n)` on every core, results in order ([`for_each_parallel`]).
pub(crate) fn parallel_collect<R, F>(n: usize, f: F) -> Result<Vec<R>>
where
    R: Send + Sync,
    F: Fn(usize) -> Result<R> + Sync,
{
    // One slot per index, each set once: `for_each_parallel` hands each index to one
    // worker.
    let slots: Vec<std::sync::OnceLock<R>> = (0..n).map(|_| std::sync::OnceLock::new()).collect();
    for_each_parallel(n, |i| {
        let _ = slots[i].set(f(i)?);
        Ok(())
    })?;
    slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .ok_or_else(|| Error::Internal("a parallel result was not made".into()))
        })
        .collect()
}

/// How the journal records a path: relative to the CA directory `root` (absolute) when
/// inside it, absolute otherwise (an `--out` directory). Paths must be UTF-8 to be
/// recorded.
fn journal_path(root: &Path, p: &Path) -> Result<PathBuf> {
    if p.to_str().is_none() {
        return Err(Error::invalid(
            Field::Path,
            p.display().to_string(),
            "is not valid UTF-8, which fedca's journal and index cannot record",
        ));
    }
    Ok(match p.strip_prefix(root) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => p.to_path_buf(),
    })
}

/// Runs `f(0..n)` on every core, each index once, stopping when one fails. The error
/// returned is the lowest index's, as a sequential run would return: indices are handed
/// out in order and a worker finishes the one it holds, so every index below a failing
/// one has run.
pub(crate) fn for_each_parallel<F>(n: usize, f: F) -> Result<()>
where
    F: Fn(usize) -> Result<()> + Sync,
{
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(n.max(1));
    if threads <= 1 {
        return (0..n).try_for_each(f);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<std::result::Result<(), (usize, Error)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    use std::sync::atomic::Ordering::Relaxed;
                    loop {
                        let i = next.fetch_add(1, Relaxed);
                        if i >= n || failed.load(Relaxed) {
                            return Ok(());
                        }
                        if let Err(e) = f(i) {
                            failed.store(true, Relaxed);
                            return Err((i, e));
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err((0, Error::Internal("a worker thread panicked".into())))
                })
            })
            .collect()
    });
    match results
        .into_iter()
        .filter_map(|r| r.err())
        .min_by_key(|(i, _)| *i)
    {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Up to this many paths are made durable one `fsync` each; more by one `syncfs` per
/// file system, so that a batch costs a constant number of syncs.
const FSYNC_EACH_MAX: usize = 16;

/// Makes written files and directories (and the renames in directories) durable: an
/// `fsync` each for a few paths, else one `syncfs` per file system.
pub fn make_durable(paths: &[PathBuf]) -> Result<()> {
    if paths.len() <= FSYNC_EACH_MAX {
        for p in paths {
            File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(p, e))?;
        }
        return Ok(());
    }
    sync_file_systems(paths)
}

/// One `syncfs` for each file system holding one of `paths`: everything written there
/// (files, directories, renames) is made durable.
fn sync_file_systems<P: AsRef<Path>>(paths: &[P]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut devices = HashSet::new();
    for p in paths.iter().map(AsRef::as_ref) {
        let meta = fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if devices.insert(meta.dev()) {
            let f = File::open(p).map_err(|e| Error::io(p, e))?;
            rustix::fs::syncfs(&f).map_err(|e| Error::io(p, e.into()))?;
        }
    }
    Ok(())
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    serial: String,
    target: PathBuf,
    staging: PathBuf,
    backup: PathBuf,
    target_existed: bool,
}

impl CaDir {
    /// A handle on `path`; nothing is read until asked. The path is resolved once
    /// (see [`canonical_ca_dir`]), so the lock, `init`'s staging directory and the
    /// sweeps all work beside the real CA directory, not beside a symbolic link to it.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        CaDir {
            root: canonical_ca_dir(path.into()),
            insecure_permissions: false,
            lock_timeout: default_lock_timeout(),
        }
    }

    /// How long [`CaDir::lock`] waits for another fedca process (default 60 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// With `yes`, files and directories of the CA that another user owns or may
    /// write, or a root key readable by others, are used anyway
    /// (`--insecure-permissions`); by default they are refused.
    pub fn insecure_permissions(mut self, yes: bool) -> Self {
        self.insecure_permissions = yes;
        self
    }

    /// Refuses (unless [`CaDir::insecure_permissions`]), like ssh's StrictModes, a CA
    /// that another user could change: see [`check_ancestors`] and
    /// [`check_owner_and_modes`]; with `key`, also a root key that is a symbolic link,
    /// owned by another user or readable by group or others. Each refusal names the
    /// `chmod` or `chown` that fixes it.
    pub fn check_permissions(&self, key: bool) -> Result<()> {
        if self.insecure_permissions {
            return Ok(());
        }
        let euid = euid();
        check_ancestors(&self.root, euid)?;
        check_owner_and_modes(&self.root, "the CA directory", Kind::Dir, euid, 0o022)?;
        for (name, kind) in [
            (files::SERVERS, Kind::Dir),
            (files::CERTS, Kind::Dir),
            (files::INDEX, Kind::File),
            (files::JOURNAL, Kind::File),
            (files::POLICY, Kind::File),
            (files::ROOT_CERT, Kind::File),
        ] {
            let p = self.path(name);
            if fs::symlink_metadata(&p).is_ok() {
                check_owner_and_modes(&p, name, kind, euid, 0o022)?;
            }
        }
        // Every CA key present: the root key may be offline, the intermediate absent.
        for name in [
            files::ROOT_KEY,
            files::INTERMEDIATE_KEY,
            files::PREVIOUS_ROOT_KEY,
            files::PREVIOUS_INTERMEDIATE_KEY,
        ] {
            let p = self.path(name);
            if key && fs::symlink_metadata(&p).is_ok() {
                check_owner_and_modes(&p, name, Kind::File, euid, 0o077)?;
            }
        }
        Ok(())
    }

    /// The lock file: `.NAME.lock` beside the CA directory `NAME`, so that it stays put
    /// while `init --force` moves the CA directory itself.
    pub fn lock_path(&self) -> Result<PathBuf> {
        let (parent, base) = self.parent_and_base()?;
        Ok(parent.join(format!(".{base}.lock")))
    }

    /// The CA directory's parent and its name, after resolving symbolic links and `..`
    /// (every spelling of one CA directory shares one lock).
    pub fn parent_and_base(&self) -> Result<(PathBuf, String)> {
        let canon = canonical_lenient(&self.root)?;
        match (canon.parent(), canon.file_name().and_then(|n| n.to_str())) {
            (Some(parent), Some(base)) => Ok((parent.to_path_buf(), base.to_string())),
            _ => Err(Error::invalid(
                Field::CaDir,
                self.root.display().to_string(),
                "must name a directory with a UTF-8 name below some parent (not /)",
            )),
        }
    }

    /// Opens an existing CA directory, failing with [`Error::NoCa`] when it holds none.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let dir = CaDir::at(path);
        if !dir.exists() {
            return Err(Error::NoCa(dir.root.clone()));
        }
        Ok(dir)
    }

    /// Whether the directory holds a CA (a policy or a root certificate).
    pub fn exists(&self) -> bool {
        self.path(files::POLICY).exists() || self.path(files::ROOT_CERT).exists()
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The default output directory of a server's files.
    pub fn server_dir(&self, dir_name: &str) -> PathBuf {
        self.root.join(files::SERVERS).join(dir_name)
    }

    /// Takes the CA's lock, waiting up to [`CaDir::lock_timeout`] (default 60 s),
    /// then finishes or rolls back any issuance a crashed process left in flight and
    /// sweeps what crashed processes left behind. Refuses a CA directory writable by
    /// others (see [`CaDir::check_permissions`]).
    pub fn lock(&self) -> Result<CaLock> {
        if !self.insecure_permissions {
            check_ancestors(&self.root, euid())?;
        }
        let path = self.lock_path()?;
        let file = open_lock_nofollow(&path, &self.root, self.insecure_permissions)?;
        wait_for_lock(&file, &path, self.lock_timeout)?;
        let lock = CaLock { _file: file };
        if self.root.is_dir() && self.exists() {
            self.check_permissions(false)?;
        }
        self.finish_init(&lock)?;
        self.recover(&lock)?;
        self.finish_rotation(&lock)?;
        self.sweep(&lock)?;
        Ok(lock)
    }

    /// Reads a file of the CA directory as text.
    pub fn read(&self, name: &str) -> Result<String> {
        let p = self.path(name);
        fs::read_to_string(&p).map_err(|e| Error::io(&p, e))
    }

    /// Reads every index record, oldest first, each with its effective state (see
    /// [`effective_state`]): a record that a later one for the same server follows is
    /// superseded, one listed in `revocations.jsonl` is revoked, whatever it stored.
    pub fn read_index(&self) -> Result<Vec<IndexRecord>> {
        let mut records = self.read_index_stored()?;
        let revoked = self.read_revocations()?;
        apply_effective_states(&mut records, &revoked);
        Ok(records)
    }

    /// Reads every index record as stored, oldest first. A last line without its
    /// newline that does not parse is an append in flight (or torn by a crash, which
    /// the next lock rolls back) and is not a record yet.
    pub fn read_index_stored(&self) -> Result<Vec<IndexRecord>> {
        let p = self.path(files::INDEX);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&p, e)),
        };
        parse_index(&p, &text, !text.ends_with('\n'))
    }

    /// The serials `revocations.jsonl` lists (none when the file is missing).
    pub fn read_revocations(&self) -> Result<HashSet<String>> {
        let p = self.path(files::REVOCATIONS);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(e) => return Err(Error::io(&p, e)),
        };
        let torn_tail = !text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let mut out = HashSet::new();
        for (i, l) in lines.iter().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<RevokedSerial>(l) {
                Ok(r) => {
                    out.insert(r.serial);
                }
                Err(_) if torn_tail && i + 1 == lines.len() => {}
                Err(e) => return Err(Error::corrupt(&p, format!("line {}: {e}", i + 1))),
            }
        }
        Ok(out)
    }

    /// Rewrites the index atomically (used by nothing that issues: issuance appends).
    pub fn write_index(&self, _lock: &CaLock, records: &[IndexRecord]) -> Result<()> {
        let mut text = String::new();
        for r in records {
            let line = serde_json::to_string(r).map_err(|e| Error::Internal(e.to_string()))?;
            text.push_str(&line);
            text.push('\n');
        }
        write_atomic(&self.path(files::INDEX), text.as_bytes(), PUBLIC_MODE)
    }

    /// Writes one server's files and its index record as one operation: a batch of
    /// one (see [`CaDir::commit_batch`]).
    pub fn commit_issue(
        &self,
        lock: &CaLock,
        index: &[IndexRecord],
        record: IndexRecord,
        server_files: &ServerFiles,
        target: &Path,
    ) -> Result<()> {
        self.commit_batch(
            lock,
            index,
            &[Staged {
                record,
                files: server_files.clone(),
                target: target.to_path_buf(),
            }],
        )
    }

    /// Writes every server's files and index records of one invocation as one
    /// transaction (docs/decisions/0015-group-commit.md):
    ///
    /// 1. one journal lists every server's target, staging and backup directory and
    ///    the index's length before the batch;
    /// 2. every server's files are staged in `.staging-SERIAL/` beside its target and
    ///    every certificate archived in `certs/`, in parallel, without a sync per file;
    /// 3. all of it is made durable at once (`syncfs` of each file system involved, or
    ///    a few `fsync`s for a small batch);
    /// 4. each staged directory is swapped in (old → `.backup-SERIAL/`), and the
    ///    renames made durable the same way;
    /// 5. the batch's records are appended to `index.jsonl` in one write and fsynced:
    ///    the commit point;
    /// 6. backups and the journal are removed.
    ///
    /// A crash before 5 completes is rolled back by the next [`CaDir::lock`] (the
    /// index truncated to its old length, every server restored); after it, rolled
    /// forward. An error rolls the batch back before this returns.
    ///
    /// `index` is the index as [`CaDir::read_index`] returned it under `lock`.
    pub fn commit_batch(
        &self,
        lock: &CaLock,
        index: &[IndexRecord],
        batch: &[Staged],
    ) -> Result<()> {
        let mut records: Vec<IndexRecord> = batch.iter().map(|s| s.record.clone()).collect();
        let targets: Vec<PathBuf> = batch.iter().map(|s| s.target.clone()).collect();
        self.commit_streamed(lock, index, &mut records, &targets, |i| {
            Ok((batch[i].files.clone(), batch[i].record.sha256.clone()))
        })
    }

    /// [`CaDir::commit_batch`] with each server's files made while the batch is staged,
    /// so that a large batch is never held in memory whole: `make(i)` returns server
    /// `i`'s files and the SHA-256 of its certificate (stored in `records[i].sha256`).
    /// It is called once per server, on every core, after the journal is written and
    /// before anything is made durable; an error from it rolls the batch back. The
    /// records' serials are the batch's: known before anything is signed. `index` is
    /// the index as [`CaDir::read_index`] returned it under `lock` (the caller has read
    /// it already; reading it again would cost as much as the rest of a small commit).
    pub fn commit_streamed<F>(
        &self,
        lock: &CaLock,
        index: &[IndexRecord],
        records: &mut [IndexRecord],
        targets: &[PathBuf],
        make: F,
    ) -> Result<()>
    where
        F: Fn(usize) -> Result<(ServerFiles, String)> + Sync,
    {
        if records.is_empty() {
            return Ok(());
        }
        if records.len() != targets.len() {
            return Err(Error::Internal(format!(
                "{} records for {} targets",
                records.len(),
                targets.len()
            )));
        }
        // The index, read once: the active record of each (server, path).
        let active: std::collections::HashMap<(&ServerName, &str), &str> = index
            .iter()
            .filter(|r| r.state == RecordState::Active)
            .map(|r| ((&r.server, r.path.as_str()), r.sha256.as_str()))
            .collect();
        let mut serials = HashSet::new();
        for record in records.iter() {
            if !serials.insert(record.serial.as_str()) {
                return Err(Error::Internal(format!(
                    "serial {} twice in one batch",
                    record.serial
                )));
            }
        }
        drop(serials);
        // Every target's directory made and checked on every core (a batch of thousands
        // of bundles: a directory created and several looked up for each).
        let root = absolute(&self.root)?;
        let items: Vec<(&IndexRecord, &PathBuf)> = records.iter().zip(targets).collect();
        let prepared = parallel_map(&items, |&(record, target)| {
            let parent = target.parent().ok_or_else(|| {
                Error::invalid(
                    Field::Directory,
                    target.display().to_string(),
                    "has no parent",
                )
            })?;
            create_dir_all_private(parent)?;
            let target = absolute(target)?;
            let parent = absolute(parent)?;
            let staging = parent.join(format!(".staging-{}", record.serial));
            let backup = parent.join(format!(".backup-{}", record.serial));
            check_target(&target)?;
            let target_existed = fs::symlink_metadata(&target).is_ok();
            // A renewal keeps the old directory's owner and modes only when it is
            // verifiably fedca's committed output for this server and path.
            let keep = target_existed && committed_output(&target, record, &active);
            let entry = Journal {
                serial: record.serial.clone(),
                target: journal_path(&root, &target)?,
                staging: journal_path(&root, &staging)?,
                backup: journal_path(&root, &backup)?,
                target_existed,
            };
            let plan = Plan {
                target,
                parent,
                staging,
                backup,
                target_existed,
                keep,
            };
            Ok((entry, plan))
        })?;
        drop(items);
        let (entries, plans): (Vec<Journal>, Vec<Plan>) = prepared.into_iter().unzip();
        let index_len = match fs::metadata(self.path(files::INDEX)) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(Error::io(&self.path(files::INDEX), e)),
        };
        let journal = BatchJournal {
            format: 2,
            index_len,
            entries,
        };
        let journal_text =
            serde_json::to_vec(&journal).map_err(|e| Error::Internal(e.to_string()))?;
        write_atomic(&self.path(files::JOURNAL), &journal_text, KEY_MODE)?;
        drop((journal, journal_text));
        let result = self.swap_in(lock, records, &plans, index_len, &make);
        if let Err(e) = result {
            // A failed command (a full disk, an I/O error) undoes its own work before it
            // exits, so the files served are always a committed pair.
            if fs::symlink_metadata(self.path(files::JOURNAL)).is_ok() {
                if let Err(undo) = self.recover(lock) {
                    return Err(Error::corrupt(
                        &self.path(files::JOURNAL),
                        format!("{e}; rolling it back failed too ({undo}): the next fedca command retries"),
                    ));
                }
            }
            return Err(e);
        }
        Ok(())
    }

    fn swap_in<F>(
        &self,
        _lock: &CaLock,
        records: &mut [IndexRecord],
        plans: &[Plan],
        index_len: u64,
        make: &F,
    ) -> Result<()>
    where
        F: Fn(usize) -> Result<(ServerFiles, String)> + Sync,
    {
        crash_point("after-journal");
        // Make (sign) and stage every server's files and archive every certificate, in
        // parallel; each server's files are dropped once staged.
        let certs = self.path(files::CERTS);
        create_dir_all_private(&certs)?;
        let n = records.len();
        let made = {
            let records: &[IndexRecord] = records;
            parallel_collect(n, |i| {
                let (f, sha256) = make(i)?;
                stage(&records[i].serial, &f, &plans[i], &certs)?;
                Ok((sha256, !f.key_pem.is_empty()))
            })?
        };
        let mut has_key = Vec::with_capacity(n);
        for (r, (sha256, key)) in records.iter_mut().zip(made) {
            r.sha256 = sha256;
            has_key.push(key);
        }
        crash_point("after-stage");
        if n * 6 < FSYNC_EACH_MAX {
            // A batch this small (one `fedca issue`): an fsync per file and directory.
            let mut written = Vec::with_capacity(n * 6 + 1);
            for ((r, p), key) in records.iter().zip(plans).zip(has_key) {
                for f in [files::KEY, files::LEAF, files::FULLCHAIN, files::CA] {
                    if f == files::KEY && !key {
                        continue;
                    }
                    written.push(p.staging.join(f));
                }
                written.push(p.staging.clone());
                written.push(certs.join(format!("{}.pem", r.serial)));
            }
            written.push(certs.clone());
            make_durable(&written)?;
        } else {
            // Every staged file is on its staging directory's file system, which is
            // its parent's (created just now: not a mount point).
            let mut dirs: Vec<&Path> = plans.iter().map(|p| p.parent.as_path()).collect();
            dirs.sort_unstable();
            dirs.dedup();
            dirs.push(&certs);
            sync_file_systems(&dirs)?;
        }

        // Swap every staged directory in.
        let mut parents: Vec<PathBuf> = Vec::new();
        let mut seen = HashSet::new();
        for p in plans {
            if p.target_existed {
                fs::rename(&p.target, &p.backup).map_err(|e| Error::io(&p.target, e))?;
            }
            fs::rename(&p.staging, &p.target).map_err(|e| Error::io(&p.target, e))?;
            if seen.insert(p.parent.as_path()) {
                parents.push(p.parent.clone());
            }
        }
        make_durable(&parents)?;
        crash_point("after-swap");

        // Commit: the batch's records, appended in one write.
        self.append_index(records.iter(), index_len)?;
        crash_point("after-index");

        // Clean up.
        for_each_parallel(plans.len(), |i| {
            let b = &plans[i].backup;
            if plans[i].target_existed && fs::symlink_metadata(b).is_ok() {
                fs::remove_dir_all(b).map_err(|e| Error::io(b, e))?;
            }
            Ok(())
        })?;
        remove_file(&self.path(files::JOURNAL))?;
        sync_dir(&self.root)?;
        Ok(())
    }

    /// Appends `records` to the index in one write (after a newline if the index's last
    /// line lacks one) and fsyncs it.
    fn append_index<'a>(
        &self,
        records: impl Iterator<Item = &'a IndexRecord>,
        index_len: u64,
    ) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let p = self.path(files::INDEX);
        let created = fs::symlink_metadata(&p).is_err();
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        let mut text = Vec::new();
        if index_len > 0 {
            let mut last = [0u8; 1];
            f.read_at(&mut last, index_len - 1)
                .map_err(|e| Error::io(&p, e))?;
            if last[0] != b'\n' {
                text.push(b'\n');
            }
        }
        for r in records {
            serde_json::to_writer(&mut text, r).map_err(|e| Error::Internal(e.to_string()))?;
            text.push(b'\n');
        }
        f.write_all(&text)
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io(&p, e))?;
        if created {
            f.set_permissions(fs::Permissions::from_mode(PUBLIC_MODE))
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io(&p, e))?;
            sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// Whether the batch a journal names reached the index: the index grew past the
    /// recorded length, what follows it parses, and it holds every serial of the batch.
    fn batch_committed(&self, jp: &Path, index_len: u64, entries: &[Journal]) -> Result<bool> {
        let p = self.path(files::INDEX);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(&p, e)),
        };
        let len = bytes.len() as u64;
        if len < index_len {
            return Err(Error::corrupt(
                jp,
                format!(
                    "refusing to recover: {} is shorter ({len} bytes) than before the batch ({index_len} bytes)",
                    p.display()
                ),
            ));
        }
        if len == index_len {
            return Ok(false);
        }
        let Ok(tail) = std::str::from_utf8(&bytes[index_len as usize..]) else {
            return Ok(false);
        };
        let mut found = HashSet::new();
        for l in tail.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<IndexRecord>(l) {
                Ok(r) => {
                    found.insert(r.serial);
                }
                Err(_) => return Ok(false),
            }
        }
        Ok(entries.iter().all(|e| found.contains(&e.serial)))
    }

    /// Finishes or undoes a batch that a crashed (or failed) process left in flight.
    fn recover(&self, _lock: &CaLock) -> Result<()> {
        let jp = self.path(files::JOURNAL);
        let text = match fs::read(&jp) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&jp, e)),
        };
        let journal: AnyJournal = serde_json::from_slice(&text)
            .map_err(|e| Error::corrupt(&jp, format!("unreadable journal: {e}")))?;
        let (entries, index_len) = match journal {
            AnyJournal::Batch(b) => {
                if b.format != 2 || b.entries.is_empty() {
                    return Err(Error::corrupt(
                        &jp,
                        format!(
                            "refusing to recover: journal format {} with {} entries",
                            b.format,
                            b.entries.len()
                        ),
                    ));
                }
                (b.entries, Some(b.index_len))
            }
            AnyJournal::Single(j) => (vec![j], None),
        };
        let entries = entries
            .into_iter()
            .map(|j| self.checked_journal(&jp, j))
            .collect::<Result<Vec<_>>>()?;
        let mut seen = HashSet::new();
        for e in &entries {
            if !seen.insert(e.serial.as_str()) || !seen.insert(e.target.to_str().unwrap_or("")) {
                return Err(Error::corrupt(
                    &jp,
                    format!(
                        "refusing to recover: serial {} or target {} named twice",
                        e.serial,
                        e.target.display()
                    ),
                ));
            }
        }
        let bad = |p: &Path| {
            Error::corrupt(
                &jp,
                format!(
                    "refusing to recover: {} is not a directory fedca wrote (a symbolic link, or it holds other files); nothing was changed",
                    p.display()
                ),
            )
        };
        // Only directories holding nothing but fedca's four files are ever removed.
        let remove_dir = |p: &Path| -> Result<()> {
            if fs::symlink_metadata(p).is_err() {
                return Ok(());
            }
            if !is_fedca_dir(p) {
                return Err(bad(p));
            }
            fs::remove_dir_all(p).map_err(|e| Error::io(p, e))
        };
        let present = |p: &Path| fs::symlink_metadata(p).is_ok();
        let index = self.read_index()?;
        let committed = match index_len {
            Some(len) => self.batch_committed(&jp, len, &entries)?,
            None => self
                .read_index_stored()?
                .iter()
                .any(|r| r.serial == entries[0].serial),
        };
        if committed {
            for e in &entries {
                remove_dir(&e.backup)?;
            }
        } else {
            // Every path is checked before anything is undone.
            for e in &entries {
                let target_removed = present(&e.backup) || !e.target_existed;
                let mut check = vec![&e.staging, &e.backup];
                if target_removed && present(&e.target) {
                    self.safe_to_remove_target(&jp, e, &index)?;
                    check.push(&e.target);
                }
                for p in check {
                    if present(p) && !is_fedca_dir(p) {
                        return Err(bad(p));
                    }
                }
            }
            if let Some(len) = index_len {
                let ip = self.path(files::INDEX);
                if fs::metadata(&ip).is_ok_and(|m| m.len() > len) {
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&ip)
                        .map_err(|e| Error::io(&ip, e))?;
                    f.set_len(len)
                        .and_then(|_| f.sync_all())
                        .map_err(|e| Error::io(&ip, e))?;
                }
            }
            let mut parents: Vec<PathBuf> = Vec::new();
            for e in entries.iter().rev() {
                remove_dir(&e.staging)?;
                if present(&e.backup) {
                    remove_dir(&e.target)?;
                    fs::rename(&e.backup, &e.target).map_err(|err| Error::io(&e.target, err))?;
                } else if !e.target_existed {
                    // A first issuance swapped in but not committed.
                    remove_dir(&e.target)?;
                }
                let archived = self.path(files::CERTS).join(format!("{}.pem", e.serial));
                if fs::symlink_metadata(&archived).is_ok_and(|m| m.is_file() || m.is_symlink()) {
                    remove_file(&archived)?;
                }
                if let Some(parent) = e.target.parent() {
                    if !parents.iter().any(|p| p == parent) {
                        parents.push(parent.to_path_buf());
                    }
                }
            }
            make_durable(&parents)?;
        }
        remove_file(&jp)?;
        sync_dir(&self.root)
    }

    /// Whether rolling back the uncommitted issuance of `j` may remove its target: only
    /// when the target provably holds that issuance's own output. It must be a plain
    /// directory of fedca's four files whose `cert.pem` is byte-identical to the
    /// archived `certs/SERIAL.pem` of the journal's serial (or to the staged cert), and
    /// that certificate must belong to no record of the index (a committed server's
    /// live directory is never removed, even with a forged archive). Otherwise the
    /// journal was not written by fedca for this directory: refuse, naming both.
    fn safe_to_remove_target(&self, jp: &Path, j: &Journal, index: &[IndexRecord]) -> Result<()> {
        let t = &j.target;
        let refuse = |why: &str| {
            Error::corrupt(
                jp,
                format!(
                    "refusing to recover: {} is not the uncommitted output of serial {} ({why}); nothing was changed. If no fedca command was interrupted, this journal was not written by fedca: inspect and remove it",
                    t.display(),
                    j.serial
                ),
            )
        };
        if !is_fedca_dir(t) {
            return Err(refuse(
                "a symbolic link, or it holds files fedca does not write",
            ));
        }
        let Ok(cert) = fs::read(t.join(files::LEAF)) else {
            return Err(refuse("it has no readable cert.pem"));
        };
        let archived = fs::read(self.path(files::CERTS).join(format!("{}.pem", j.serial))).ok();
        let staged = fs::read(j.staging.join(files::LEAF)).ok();
        if archived.as_deref() != Some(cert.as_slice())
            && staged.as_deref() != Some(cert.as_slice())
        {
            return Err(refuse(
                "its cert.pem is not the certificate archived for that serial",
            ));
        }
        let Some(fp) = pem_sha256(&cert) else {
            return Err(refuse("its cert.pem is not a PEM certificate"));
        };
        if let Some(r) = index.iter().find(|r| r.sha256 == fp) {
            return Err(refuse(&format!(
                "its cert.pem is the committed certificate {} of {}",
                r.serial, r.server
            )));
        }
        Ok(())
    }

    /// The journal with absolute paths, after checking that it names only what fedca
    /// itself writes: a lower-case hex serial, a server directory `servers/NAME` (a plain
    /// directory, no symbolic link) or an absolute `--out` target, and its siblings
    /// `.staging-SERIAL` and `.backup-SERIAL`. A tampered journal is refused, never
    /// followed.
    fn checked_journal(&self, jp: &Path, mut j: Journal) -> Result<Journal> {
        use std::path::Component;
        let refuse = |why: String| Error::corrupt(jp, format!("refusing to recover: {why}"));
        if j.serial.is_empty()
            || j.serial.len() > 64
            || !j
                .serial
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(refuse(format!(
                "serial {:?} is not lower-case hex",
                j.serial
            )));
        }
        let root = absolute(&self.root)?;
        let target_rel = j.target.is_relative();
        for p in [&j.target, &j.staging, &j.backup] {
            if p.is_relative() != target_rel {
                return Err(refuse("its paths mix relative and absolute".into()));
            }
            if p.components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::RootDir))
            {
                return Err(refuse(format!("path {} has . or .. in it", p.display())));
            }
        }
        if target_rel {
            let comps: Vec<_> = j.target.components().collect();
            if comps.len() != 2 || comps[0].as_os_str() != files::SERVERS {
                return Err(refuse(format!(
                    "path {} is not a server directory servers/NAME",
                    j.target.display()
                )));
            }
            let servers = root.join(files::SERVERS);
            if !fs::symlink_metadata(&servers).is_ok_and(|m| m.is_dir()) {
                return Err(refuse(format!(
                    "{} is not a plain directory",
                    servers.display()
                )));
            }
            for p in [&mut j.target, &mut j.staging, &mut j.backup] {
                *p = root.join(&*p);
            }
        }
        let parent = j.target.parent().map(Path::to_path_buf);
        let name = j.target.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.is_empty() || name.starts_with('.') {
            return Err(refuse(format!(
                "{} is not a server directory name",
                j.target.display()
            )));
        }
        for (p, want) in [
            (&j.staging, format!(".staging-{}", j.serial)),
            (&j.backup, format!(".backup-{}", j.serial)),
        ] {
            if p.parent().map(Path::to_path_buf) != parent
                || p.file_name().is_none_or(|n| n != want.as_str())
            {
                return Err(refuse(format!(
                    "{} is not {want} beside {}",
                    p.display(),
                    j.target.display()
                )));
            }
        }
        Ok(j)
    }

    /// Moves an `init --force` that was interrupted to its end: an `init` staging
    /// directory that still holds its new CA (marked) is removed; one that holds the
    /// CA it replaced (swapped out, not yet renamed) is moved to `DIR.replaced-TIME`.
    fn finish_init(&self, _lock: &CaLock) -> Result<()> {
        let (parent, base) = self.parent_and_base()?;
        let prefix = init_staging_prefix(&base);
        let entries = match fs::read_dir(&parent) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&parent, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&parent, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_ours = name
                .strip_prefix(&prefix)
                .is_some_and(|rest| rest.len() == INIT_RAND_LEN);
            if !is_ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = entry.path();
            let old_ca = !p.join(files::INIT_MARK).exists()
                && (p.join(files::POLICY).exists() || p.join(files::ROOT_CERT).exists());
            if old_ca {
                let aside = replaced_name(&parent, &base);
                fs::rename(&p, &aside).map_err(|e| Error::io(&p, e))?;
            } else if is_fedca_init_dir(&p) {
                fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            } else {
                // Not provably fedca's: someone's files under a name like ours.
                continue;
            }
            sync_dir(&parent)?;
        }
        remove_file(&self.path(files::INIT_MARK))
    }

    /// Removes what crashed processes leave: `.tmp-*` files in the CA, `certs/` and
    /// `servers/`, and `.staging-*`/`.backup-*` server directories no journal names.
    fn sweep(&self, _lock: &CaLock) -> Result<()> {
        let servers = self.path(files::SERVERS);
        for dir in [self.root.clone(), self.path(files::CERTS), servers.clone()] {
            if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            let entries = fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(&dir, e))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let Ok(ft) = entry.file_type() else { continue };
                let p = entry.path();
                if name.starts_with(".tmp-") && !ft.is_dir() {
                    remove_file(&p)?;
                } else if dir == servers
                    && (name.starts_with(".staging-") || name.starts_with(".backup-"))
                    && is_fedca_dir(&p)
                {
                    fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                }
            }
        }
        Ok(())
    }

    /// Finishes or undoes a root rotation a crashed `rotate-root` left (see
    /// [`ROTATION_COMMIT`]).
    pub fn finish_rotation(&self, _lock: &CaLock) -> Result<()> {
        finish_rotation_impl(self)
    }

    /// Whether `p` is the CA directory or inside it, after resolving `..` and symbolic
    /// links in the part of `p` that exists.
    pub fn contains(&self, p: &Path) -> Result<bool> {
        let root = canonical_lenient(&self.root)?;
        Ok(canonical_lenient(p)?.starts_with(&root))
    }

    /// The absolute directory of a record's files.
    pub fn resolve_record_path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            absolute(&self.root.join(p)).unwrap_or_else(|_| self.root.join(p))
        }
    }
}

/// The marker `rotate-root` writes last into its staging directory: the list of files
/// to delete once the staged ones are in place. Its presence is the commit point.
pub const ROTATION_COMMIT: &str = "commit.json";

/// The content of [`ROTATION_COMMIT`].
#[derive(Debug, Serialize, Deserialize)]
pub struct RotationCommit {
    /// Files to delete once the staged ones are installed.
    pub remove: Vec<String>,
}

/// The files a rotation may stage and install (nothing else is ever moved in).
const ROTATION_FILES: [&str; 8] = [
    files::PREVIOUS_ROOT_KEY,
    files::PREVIOUS_INTERMEDIATE_KEY,
    files::PREVIOUS_INTERMEDIATE_CERT,
    files::ROOT_KEY,
    files::INTERMEDIATE_KEY,
    files::INTERMEDIATE_CERT,
    files::CROSS_CERT,
    files::ROOT_CERT,
];

/// Finishes or undoes a `rotate-root` that a crashed process left: run by
/// [`CaDir::lock`] (through [`CaDir::finish_rotation`]). A staging directory with its commit marker is rolled forward (each
/// staged file renamed over its target, in a fixed order; then the marker's removals);
/// one without is removed. Both are idempotent, so a crash during recovery is recovered
/// by the next lock.
fn finish_rotation_impl(dir: &CaDir) -> Result<()> {
    let staging = dir.path(files::ROTATION_STAGING);
    match std::fs::symlink_metadata(&staging) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::corrupt(
                &staging,
                "is not a directory fedca wrote; refusing to recover from it",
            ))
        }
        Err(_) => return Ok(()),
    }
    let marker = staging.join(ROTATION_COMMIT);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let commit: RotationCommit = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(&marker, format!("unreadable rotation marker: {e}")))?;
        for name in ROTATION_FILES {
            let from = staging.join(name);
            if std::fs::symlink_metadata(&from).is_ok() {
                std::fs::rename(&from, dir.path(name)).map_err(|e| Error::io(&from, e))?;
                crash_point("rotate-rename");
            }
        }
        sync_dir(dir.root())?;
        for name in &commit.remove {
            if !ROTATION_FILES.contains(&name.as_str()) {
                return Err(Error::corrupt(
                    &marker,
                    format!("names {name:?}, which a rotation never removes"),
                ));
            }
            match std::fs::remove_file(dir.path(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&dir.path(name), e)),
            }
        }
        sync_dir(dir.root())?;
    }
    std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    sync_dir(dir.root())
}

/// How many random characters follow [`init_staging_prefix`] in an `init` staging
/// directory's name.
pub const INIT_RAND_LEN: usize = 6;

/// The name prefix of the directory `init` builds a new CA in, beside the CA `base`.
pub fn init_staging_prefix(base: &str) -> String {
    format!(".fedca-init-{base}.")
}

/// A free name `BASE.replaced-YYYYMMDDTHHMMSSZ` (then `-2`, `-3`...) in `parent` for
/// a CA that `init --force` moves aside. Call it holding the CA's lock.
pub fn replaced_name(parent: &Path, base: &str) -> PathBuf {
    let t = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let mut aside = parent.join(format!("{base}.replaced-{stamp}"));
    let mut n = 1;
    while fs::symlink_metadata(&aside).is_ok() {
        n += 1;
        aside = parent.join(format!("{base}.replaced-{stamp}-{n}"));
    }
    aside
}

/// Whether `p` is a plain directory (not a symbolic link) holding nothing but regular
/// files with the names of a server's four files: the only directories fedca removes.
fn is_fedca_dir(p: &Path) -> bool {
    let known = [files::LEAF, files::FULLCHAIN, files::KEY, files::CA];
    if !fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
        return false;
    }
    let Ok(entries) = fs::read_dir(p) else {
        return false;
    };
    entries.into_iter().all(|e| {
        e.is_ok_and(|e| {
            e.file_type().is_ok_and(|t| t.is_file()) && known.iter().any(|k| e.file_name() == *k)
        })
    })
}

/// Whether `p` is provably an unfinished `init` directory of fedca's: a plain
/// directory holding nothing but the files `init` writes (the `.fedca-new` mark, the
/// policy, root certificate, root key, empty index, `.tmp-*` files) and empty
/// `servers/` and `certs/` directories. Only such a directory is removed; one holding
/// anything else is left alone.
fn is_fedca_init_dir(p: &Path) -> bool {
    let file_names = [
        files::INIT_MARK,
        files::POLICY,
        files::ROOT_CERT,
        files::ROOT_KEY,
        files::INDEX,
    ];
    let dir_names = [files::SERVERS, files::CERTS];
    if !fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
        return false;
    }
    let Ok(entries) = fs::read_dir(p) else {
        return false;
    };
    entries.into_iter().all(|e| {
        let Ok(e) = e else { return false };
        let Ok(ft) = e.file_type() else { return false };
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            return false;
        };
        if ft.is_file() {
            file_names.contains(&name) || name.starts_with(".tmp-")
        } else if ft.is_dir() {
            dir_names.contains(&name)
                && fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_none())
        } else {
            false
        }
    })
}

/// The lower-case hex SHA-256 of the DER of the first PEM block of `pem_bytes` (the
/// fingerprint the index records), or `None` if it is not PEM.
fn pem_sha256(pem_bytes: &[u8]) -> Option<String> {
    let block = crate::x509::pem_first(pem_bytes).ok()?;
    Some(
        ring::digest::digest(&ring::digest::SHA256, &block.der)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// Swaps two paths atomically (`renameat2(RENAME_EXCHANGE)`): both exist before and
/// after, so a crash never leaves either path empty.
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// A renewal keeps what the operator set on the old files: owner, group and mode of
/// the directory and of each file (`chown -R synapse:` once, not after every renewal),
/// except that a key is never left readable by others.
fn keep_ownership(old: &Path, new: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let names = [files::KEY, files::LEAF, files::FULLCHAIN, files::CA];
    let pairs = std::iter::once((old.to_path_buf(), new.to_path_buf()))
        .chain(names.iter().map(|n| (old.join(n), new.join(n))));
    for (from, to) in pairs {
        let Ok(meta) = fs::symlink_metadata(&from) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        std::os::unix::fs::chown(&to, Some(meta.uid()), Some(meta.gid()))
            .map_err(|e| Error::io(&to, e))?;
        let mut mode = meta.mode() & 0o7777;
        if to.ends_with(files::KEY) {
            // A group the operator chose may read the key; everybody else never.
            mode &= !0o007;
        }
        fs::set_permissions(&to, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(&to, e))?;
    }
    Ok(())
}

/// A server directory is replaced whole, so it may hold only fedca's own files.
/// Checks, before anything is written, that `target` can be replaced by a server directory.
/// A symbolic link is refused: fedca would otherwise write through it into (and copy
/// ownership from) a directory someone else chose.
pub fn check_target(target: &Path) -> Result<()> {
    if fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::invalid(
            Field::Directory,
            target.display().to_string(),
            format!("is a symbolic link; fedca replaces server directories whole and never through a link: remove the link, or give the real directory with {}", Field::OutputDir.mention()),
        ));
    }
    if !target.exists() {
        return Ok(());
    }
    if !target.is_dir() {
        return Err(Error::invalid(
            Field::Directory,
            target.display().to_string(),
            "exists and is not a directory",
        ));
    }
    check_replaceable(target)
}

fn check_replaceable(target: &Path) -> Result<()> {
    let known = [files::LEAF, files::FULLCHAIN, files::KEY, files::CA];
    let entries = fs::read_dir(target).map_err(|e| Error::io(target, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(target, e))?;
        let name = entry.file_name();
        if !known.iter().any(|k| name == *k) {
            return Err(Error::invalid(
                Field::Directory,
                target.display().to_string(),
                format!(
                    "it holds {:?}, which is not a fedca file; fedca replaces this directory whole, so move that file away or choose another {}",
                    name,
                    Field::OutputDir.mention()
                ),
            ));
        }
    }
    Ok(())
}

/// The effective user id of this process.
fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// What a path of the CA must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// The `--ca-dir` path resolved once, before anything derives a path from it: made
/// absolute, with symbolic links and `..` resolved in its longest existing prefix and
/// the rest applied lexically (`x/../ca` with no `x` is `ca`, and creates no `x`).
/// `init --force` through a symbolic link then replaces the CA it points to, and the
/// lock, `init`'s staging directory and the sweep of its leftovers all sit in the real
/// parent. Falls back to the path as given if even that cannot be resolved (the first
/// use then reports the error).
pub fn canonical_ca_dir(path: PathBuf) -> PathBuf {
    canonical_lenient(&path).unwrap_or(path)
}

/// Refuses, like ssh's StrictModes, a path of the CA that another user could change:
/// a symbolic link, not of `kind`, owned by neither `euid` nor root, or with any of the
/// `forbidden` mode bits (0o022 for what others must not write, 0o077 for the root
/// key). `what` names it in the message, which gives the command that fixes it.
fn check_owner_and_modes(
    p: &Path,
    what: &str,
    kind: Kind,
    euid: u32,
    forbidden: u32,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let abs = absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let anyway = format!(
        "or pass {} to use it anyway",
        Field::InsecurePermissions.mention()
    );
    let meta = fs::symlink_metadata(p).map_err(|e| Error::io(p, e))?;
    if meta.file_type().is_symlink() {
        return Err(Error::corrupt(
            p,
            format!("{what} is a symbolic link, which another user could point elsewhere; replace it with the {} it points to, {anyway}", if kind == Kind::Dir { "directory" } else { "file" }),
        ));
    }
    if (kind == Kind::Dir && !meta.is_dir()) || (kind == Kind::File && !meta.is_file()) {
        return Err(Error::corrupt(
            p,
            format!(
                "{what} is not a {}",
                if kind == Kind::Dir {
                    "directory"
                } else {
                    "regular file"
                }
            ),
        ));
    }
    if meta.uid() != euid && meta.uid() != 0 {
        return Err(Error::corrupt(
            p,
            format!(
                "{what} is owned by uid {}, neither you (uid {euid}) nor root, so that user could replace it; fix it with `chown {euid} {}`, {anyway}",
                meta.uid(),
                abs.display()
            ),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & forbidden != 0 {
        let (why, fix) = if forbidden == 0o077 {
            ("is accessible by group or others", "chmod 600")
        } else if kind == Kind::Dir {
            (
                "is writable by group or others, who could replace its files",
                "chmod go-w",
            )
        } else {
            ("is writable by group or others", "chmod go-w")
        };
        return Err(Error::corrupt(
            p,
            format!(
                "{what} {why} (mode {mode:04o}); fix it with `{fix} {}`, {anyway}",
                abs.display()
            ),
        ));
    }
    Ok(())
}

/// Refuses a CA directory below a directory that another user could use to move the
/// CA away and put another in its place (its lock and `init`'s staging directory live
/// in the parent too): every existing ancestor of `root` must be owned by `euid` or
/// root, and not writable by group or others unless sticky (like `/tmp`, mode 1777).
fn check_ancestors(root: &Path, euid: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for dir in root.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(dir) else {
            continue;
        };
        let anyway = format!(
            "or move the CA into a directory only you can change, or pass {} to use it anyway",
            Field::InsecurePermissions.mention()
        );
        if meta.uid() != euid && meta.uid() != 0 {
            return Err(Error::corrupt(
                dir,
                format!(
                    "this directory above the CA directory {} is owned by uid {}, neither you (uid {euid}) nor root, so that user could move the CA away and put another in its place; fix it with `chown {euid} {}`, {anyway}",
                    root.display(),
                    meta.uid(),
                    dir.display()
                ),
            ));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(Error::corrupt(
                dir,
                format!(
                    "this directory above the CA directory {} is writable by group or others (mode {mode:04o}, not sticky), who could move the CA away and put another in its place; fix it with `chmod go-w {}`, {anyway}",
                    root.display(),
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Opens (creating it 0600 if needed) the lock file `path` of the CA directory `root`
/// without following a symbolic link (`O_NOFOLLOW`: a planted link would make fedca
/// create or lock a file elsewhere), and refuses anything but a regular file owned by
/// this user or root (unless `insecure`): another user's lock file could be held to
/// block every fedca command. A parent directory this user cannot write gets an
/// explanation of where the lock lives.
fn open_lock_nofollow(path: &Path, root: &Path, insecure: bool) -> Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let parent = path.parent().unwrap_or(Path::new("/"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(KEY_MODE)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(40) => Error::corrupt(
                path,
                "the CA's lock file is a symbolic link, which fedca never follows; remove it (fedca creates the lock file itself)",
            ),
            _ if e.kind() == std::io::ErrorKind::PermissionDenied => Error::corrupt(
                path,
                format!(
                    "cannot create or open the CA's lock file ({e}): fedca's lock lives beside the CA directory {}, in {}, so that `init {}` can swap the CA under it; make {} writable by you, or move the CA into a directory you own",
                    root.display(),
                    parent.display(),
                    Field::Force.mention(),
                    parent.display()
                ),
            ),
            _ => Error::io(path, e),
        })?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::corrupt(
            path,
            "the CA's lock file is not a regular file; remove it",
        ));
    }
    let me = euid();
    if !insecure && meta.uid() != me && meta.uid() != 0 {
        return Err(Error::corrupt(
            path,
            format!(
                "the CA's lock file is owned by uid {}, neither you (uid {me}) nor root, who could hold it to block every fedca command; remove it (`rm {}`) and fedca creates its own, or pass {}",
                meta.uid(),
                path.display(),
                Field::InsecurePermissions.mention()
            ),
        ));
    }
    Ok(file)
}

/// Takes an exclusive advisory lock on `file` (the lock file or directory `path`),
/// waiting up to `FEDCA_LOCK_TIMEOUT` seconds (default 60), then failing with
/// [`Error::LockTimeout`] rather than hanging.
pub fn wait_for_lock(file: &File, path: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {
                if start.elapsed() >= timeout {
                    return Err(Error::LockTimeout {
                        path: path.to_path_buf(),
                        waited_secs: timeout.as_secs(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
    }
}

/// Test hook, compiled only with the `crash-points` feature (the tests enable it):
/// `FEDCA_CRASH_AT=<point>` aborts the process at that point, as a power cut would, so
/// tests can check that the directory recovers. The points are `after-journal`,
/// `after-stage`, `after-swap` and `after-index` in [`CaDir::commit_batch`].
#[cfg(feature = "crash-points")]
pub(crate) fn crash_point(name: &str) {
    if std::env::var("FEDCA_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

#[cfg(not(feature = "crash-points"))]
pub(crate) fn crash_point(_name: &str) {}

/// `p` made absolute with symbolic links and `..` resolved component by component:
/// each prefix that exists is canonicalized (so a `..` after a symbolic link goes up
/// from the real directory); one that does not exist yet is kept as written, and a
/// `..` after it removes it lexically (`x/../ca` with no `x` is `ca`).
pub fn canonical_lenient(p: &Path) -> Result<PathBuf> {
    use std::path::Component;
    let abs = absolute(p)?;
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                match out.canonicalize() {
                    Ok(real) => out = real,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&out, e)),
                }
            }
        }
    }
    Ok(out)
}

/// [`canonical_lenient`] of many paths sharing prefixes (the targets of one batch):
/// each distinct prefix is resolved once, with one `lstat` when it is no symbolic link.
#[derive(Debug, Default)]
pub struct CanonicalCache(std::collections::HashMap<PathBuf, PathBuf>);

impl CanonicalCache {
    /// `canonical_lenient(p)`.
    pub fn get(&mut self, p: &Path) -> Result<PathBuf> {
        use std::path::Component;
        let abs = absolute(p)?;
        if let Some(c) = self.0.get(&abs) {
            return Ok(c.clone());
        }
        let (Some(parent), Some(Component::Normal(name))) =
            (abs.parent(), abs.components().next_back())
        else {
            // The root, or a path ending in `..`: resolved the long way.
            return canonical_lenient(&abs);
        };
        let mut out = self.get(parent)?;
        out.push(name);
        match fs::symlink_metadata(&out) {
            // The parent is resolved and this is no link: `out` is resolved too.
            Ok(m) if !m.file_type().is_symlink() => {}
            Ok(_) => match out.canonicalize() {
                Ok(real) => out = real,
                // A dangling link: kept as written, as `canonical_lenient` does.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&out, e)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&out, e)),
        }
        self.0.insert(abs, out.clone());
        Ok(out)
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(p, e))
}

/// Creates one directory with mode 0700 (the parent must exist).
pub fn create_dir_private(p: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(DIR_MODE)
        .create(p)
        .map_err(|e| Error::io(p, e))
}

/// Creates a directory and its missing parents with mode 0700.
pub fn create_dir_all_private(p: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(DIR_MODE)
        .recursive(true)
        .create(p)
        .map_err(|e| Error::io(p, e))
}

/// [`read_input`] of a file that must be text: one that is not UTF-8 is bad input,
/// refused with `not_text` as the rule.
pub fn read_input_text(path: &Path, what: impl Into<Field>, not_text: &str) -> Result<String> {
    let what = what.into();
    let bytes = read_input(path, what.clone())?;
    String::from_utf8(bytes).map_err(|_| Error::invalid(what, path.display().to_string(), not_text))
}

/// The largest input file fedca reads (certificates, chains, keys, CSRs, CRLs).
pub const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// Reads a user-supplied input file, refusing (as bad input, naming `what`) one that
/// cannot be read or is larger than [`MAX_INPUT`] (`/dev/zero` must not exhaust memory).
pub fn read_input(path: &Path, what: impl Into<Field>) -> Result<Vec<u8>> {
    let what = what.into();
    use std::io::Read;
    let bad = |rule: String| Error::invalid(what.clone(), path.display().to_string(), rule);
    let file = File::open(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(bad(format!(
            "is larger than {} MiB; certificates, keys, CSRs and CRLs are far smaller",
            MAX_INPUT / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// Fsyncs a directory so that renames in it survive a crash.
pub fn sync_dir(p: &Path) -> Result<()> {
    File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(p, e))
}

fn remove_file(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Writes a new file (in a directory nobody else sees yet) with `mode`; the caller
/// makes it durable (see `make_durable`).
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))?;
    f.write_all(contents).map_err(|e| Error::io(path, e))
}

/// Replaces `path` atomically: a temporary file in the same directory (mode `mode`
/// from the start), written, fsynced, renamed over `path`, then the directory fsynced.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.write_all(contents)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_cache_resolves_as_canonical_lenient() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("ca/servers")).unwrap();
        fs::create_dir_all(r.join("out/a")).unwrap();
        symlink(r.join("ca"), r.join("link-to-ca")).unwrap();
        symlink(r.join("ca/servers"), r.join("out/a/into")).unwrap();
        symlink(r.join("nowhere"), r.join("out/dangling")).unwrap();
        let paths = [
            "out/a/b/tls",
            "out/a/into/x/tls",
            "link-to-ca/servers/s1",
            "link-to-ca/../out/a",
            "out/a/into/../../b",
            "out/missing/../a/c",
            "out/dangling/x",
            "ca",
            ".",
        ];
        let mut cache = CanonicalCache::default();
        for _ in 0..2 {
            for p in paths {
                let p = r.join(p);
                assert_eq!(
                    cache.get(&p).unwrap(),
                    canonical_lenient(&p).unwrap(),
                    "{}",
                    p.display()
                );
            }
        }
    }

    #[test]
    fn atomic_write_sets_mode_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.pem");
        write_atomic(&p, b"one", KEY_MODE).unwrap();
        write_atomic(&p, b"two", KEY_MODE).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    /// Every line of an index written before the record was typed (the stored-ca
    /// fixture: every kind of record fedca writes) and of the older forms (no stored
    /// settings, stored states, `--out` paths) reads into an [`IndexRecord`] and writes
    /// back byte for byte.
    #[test]
    fn every_stored_index_line_round_trips_byte_for_byte() {
        let fixture = include_str!("../tests/data/stored-ca/ca/index.jsonl");
        let older = [
            r#"{"serial":"0abc","server":"hs1.fed.test","names":["hs1.fed.test","matrix.hs1.fed.test","hs1-admin.fed.test"],"delegate":"matrix.hs1.fed.test:443","not_before":"2026-01-01T00:00:00Z","not_after":"2026-04-01T01:00:00Z","state":"superseded","path":"servers/hs1.fed.test","key_type":"ed25519","sha256":"00"}"#,
            r#"{"serial":"0abd","server":"[fd00::7]:8448","names":["fd00::7"],"not_before":"2026-01-01T00:00:00Z","not_after":"2026-04-01T01:00:00Z","state":"revoked","path":"/etc/tls/ipv6_fd00--7_8448","key_type":"ecdsa-p384","sha256":"01"}"#,
            r#"{"serial":"0abe","server":"HS2.Fed.Test","names":["hs2.fed.test"],"not_before":"2026-01-01T00:00:00Z","not_after":"2026-04-01T01:00:00Z","state":"active","path":"servers/HS2.Fed.Test","key_type":"rsa-4096","sha256":"02","alts":["hs2.fed.test"]}"#,
        ];
        let lines: Vec<&str> = fixture.lines().chain(older).collect();
        assert_eq!(lines.len(), 15);
        for line in lines {
            let r: IndexRecord =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(serde_json::to_string(&r).unwrap(), line);
        }
        let rsa: IndexRecord = serde_json::from_str(fixture.lines().last().unwrap()).unwrap();
        assert_eq!(rsa.key_type, RecordKeyType::Rsa(2048));
        assert_eq!(rsa.server, ServerName::parse("rsa.fed.test").unwrap());
        let deleg: IndexRecord = serde_json::from_str(older[0]).unwrap();
        assert_eq!(deleg.delegate.unwrap().port(), Some(443));
        assert_eq!(deleg.not_before.unix_timestamp(), 1_767_225_600);
    }

    #[test]
    fn key_types_read_only_the_text_fedca_writes() {
        for (text, k) in [
            ("ecdsa-p256", RecordKeyType::EcdsaP256),
            ("ecdsa-p384", RecordKeyType::EcdsaP384),
            ("ed25519", RecordKeyType::Ed25519),
            ("rsa-2048", RecordKeyType::Rsa(2048)),
            ("rsa-3071", RecordKeyType::Rsa(3071)),
        ] {
            assert_eq!(RecordKeyType::parse(text), Some(k));
            assert_eq!(k.to_string(), text);
        }
        for bad in [
            "rsa",
            "rsa-",
            "rsa-02048",
            "rsa-+2048",
            "RSA-2048",
            "ecdsa",
            "Ed25519",
            "",
        ] {
            assert_eq!(RecordKeyType::parse(bad), None, "{bad}");
        }
    }

    /// A record whose server name, time or key type does not parse makes the index
    /// corrupt, naming the line (it used to fail only where the field was used).
    #[test]
    fn a_bad_typed_field_is_a_corrupt_index() {
        let good = include_str!("../tests/data/stored-ca/ca/index.jsonl")
            .lines()
            .next()
            .unwrap();
        for (from, to, says) in [
            (
                "\"hs1.fed.test\",\"names\"",
                "\"hs1..fed.test\",\"names\"",
                "hs1..fed.test",
            ),
            (
                "\"ecdsa-p256\"",
                "\"rsa-1x\"",
                "unknown key type \"rsa-1x\"",
            ),
            (
                "\"not_after\":\"2027",
                "\"not_after\":\"27",
                "bad time \"27",
            ),
        ] {
            assert!(good.contains(from), "{from}");
            let text = format!("{good}\n{}\n{good}\n", good.replacen(from, to, 1));
            let err = parse_index(Path::new("index.jsonl"), &text, true).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("line 2") && msg.contains(says), "{msg}");
        }
    }

    #[test]
    fn lock_is_exclusive_between_handles() {
        let d = tempfile::tempdir().unwrap();
        let ca = CaDir::at(d.path());
        let held = ca.lock().unwrap();
        let f = OpenOptions::new()
            .write(true)
            .open(ca.lock_path().unwrap())
            .unwrap();
        assert!(matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock)));
        drop(held);
        f.try_lock().unwrap();
    }
}
