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

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
    /// Where `rotate-root` stages the files it installs (see `authority::finish_rotation`).
    pub const ROTATION_STAGING: &str = "rotation.new";
    /// The certificate index.
    pub const INDEX: &str = "index.jsonl";
    /// The lock file of fedca before 0.2, inside the CA (unused; the lock now lives
    /// beside the CA directory, see [`super::CaDir::lock_path`]).
    pub const LOCK: &str = ".lock";
    /// Marks an `init` staging directory that holds a new, not yet installed CA.
    pub const INIT_MARK: &str = ".fedca-new";
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRecord {
    /// The serial number, lower-case hex without separators.
    pub serial: String,
    /// The server name the certificate was issued for.
    pub server: String,
    /// Every name in the certificate (DNS names and IP addresses).
    pub names: Vec<String>,
    /// The delegated server (`m.server` of `.well-known/matrix/server`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate: Option<String>,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Stored state.
    pub state: RecordState,
    /// Where the server's files were written (relative to the CA directory, or absolute).
    pub path: String,
    /// The leaf key type.
    pub key_type: String,
    /// SHA-256 fingerprint of the certificate (hex).
    pub sha256: String,
}

/// An open CA directory.
#[derive(Debug, Clone)]
pub struct CaDir {
    root: PathBuf,
    insecure_permissions: bool,
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

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    serial: String,
    target: PathBuf,
    staging: PathBuf,
    backup: PathBuf,
    target_existed: bool,
}

impl CaDir {
    /// A handle on `path`; nothing is read until asked.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        CaDir {
            root: path.into(),
            insecure_permissions: false,
        }
    }

    /// With `yes`, a root key readable by others or a CA directory writable by others is
    /// used anyway (`--insecure-permissions`); by default both are refused.
    pub fn insecure_permissions(mut self, yes: bool) -> Self {
        self.insecure_permissions = yes;
        self
    }

    /// Refuses (unless [`CaDir::insecure_permissions`]) a CA directory that group or
    /// others may write, and, with `key`, a root key that group or others may read,
    /// naming the `chmod` that fixes it.
    pub fn check_permissions(&self, key: bool) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        if self.insecure_permissions {
            return Ok(());
        }
        let refuse = |p: &Path, what: &str, mode: u32, fix: &str| {
            let abs = absolute(p).unwrap_or_else(|_| p.to_path_buf());
            Error::corrupt(
                p,
                format!(
                    "{what} (mode {:04o}); fix it with `chmod {fix} {}`, or pass --insecure-permissions to use it anyway",
                    mode & 0o7777,
                    abs.display()
                ),
            )
        };
        let dir_mode = fs::metadata(&self.root)
            .map_err(|e| Error::io(&self.root, e))?
            .mode();
        if dir_mode & 0o022 != 0 {
            return Err(refuse(
                &self.root,
                "the CA directory is writable by group or others, who could replace its files",
                dir_mode,
                "go-w",
            ));
        }
        // Every CA key present: the root key may be offline, the intermediate absent.
        for kp in [files::ROOT_KEY, files::INTERMEDIATE_KEY]
            .iter()
            .map(|n| self.path(n))
            .filter(|p| key && fs::symlink_metadata(p).is_ok())
        {
            let mode = fs::metadata(&kp).map_err(|e| Error::io(&kp, e))?.mode();
            if mode & 0o077 != 0 {
                return Err(refuse(
                    &kp,
                    "a CA key is accessible by group or others",
                    mode,
                    "600",
                ));
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
                "--ca-dir",
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

    /// Takes the CA's lock, waiting up to `FEDCA_LOCK_TIMEOUT` seconds (default 60),
    /// then finishes or rolls back any issuance a crashed process left in flight and
    /// sweeps what crashed processes left behind. Refuses a CA directory writable by
    /// others (see [`CaDir::check_permissions`]).
    pub fn lock(&self) -> Result<CaLock> {
        let path = self.lock_path()?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode_0600()
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let timeout = std::env::var("FEDCA_LOCK_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(60);
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    if start.elapsed() >= Duration::from_secs(timeout) {
                        return Err(Error::LockTimeout {
                            path,
                            waited_secs: timeout,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
        let lock = CaLock { _file: file };
        if self.root.is_dir() && self.exists() {
            self.check_permissions(false)?;
        }
        self.finish_init(&lock)?;
        self.recover(&lock)?;
        crate::authority::finish_rotation(self, &lock)?;
        self.sweep(&lock)?;
        Ok(lock)
    }

    /// Reads a file of the CA directory as text.
    pub fn read(&self, name: &str) -> Result<String> {
        let p = self.path(name);
        fs::read_to_string(&p).map_err(|e| Error::io(&p, e))
    }

    /// Reads every index record, oldest first.
    pub fn read_index(&self) -> Result<Vec<IndexRecord>> {
        let p = self.path(files::INDEX);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&p, e)),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| Error::corrupt(&p, format!("line {}: {e}", i + 1)))
            })
            .collect()
    }

    /// Rewrites the index atomically.
    pub fn write_index(&self, _lock: &CaLock, records: &[IndexRecord]) -> Result<()> {
        let mut text = String::new();
        for r in records {
            let line = serde_json::to_string(r).map_err(|e| Error::Internal(e.to_string()))?;
            text.push_str(&line);
            text.push('\n');
        }
        write_atomic(&self.path(files::INDEX), text.as_bytes(), PUBLIC_MODE)
    }

    /// Writes a server's files and its index record as one operation.
    ///
    /// The files are staged beside `target`, swapped in by rename, the certificate is
    /// archived under `certs/`, and the index (with `record` appended and any earlier
    /// active record for the same server and path marked superseded) is rewritten: that
    /// rewrite is the commit point. A crash before it is rolled back by the next
    /// [`CaDir::lock`].
    pub fn commit_issue(
        &self,
        lock: &CaLock,
        record: IndexRecord,
        server_files: &ServerFiles,
        target: &Path,
    ) -> Result<()> {
        let parent = target.parent().ok_or_else(|| {
            Error::invalid(
                "output directory",
                target.display().to_string(),
                "has no parent",
            )
        })?;
        create_dir_all_private(parent)?;
        let target = absolute(target)?;
        let parent = absolute(parent)?;
        let staging = parent.join(format!(".staging-{}", record.serial));
        let backup = parent.join(format!(".backup-{}", record.serial));
        let target_existed = target.exists();
        if target_existed {
            check_replaceable(&target)?;
        }
        let journal = Journal {
            serial: record.serial.clone(),
            target: self.journal_path(&target)?,
            staging: self.journal_path(&staging)?,
            backup: self.journal_path(&backup)?,
            target_existed,
        };
        let journal_text =
            serde_json::to_vec_pretty(&journal).map_err(|e| Error::Internal(e.to_string()))?;
        let result = self.swap_in(
            lock,
            record,
            server_files,
            &journal_text,
            (&target, &parent),
            (&staging, &backup),
            target_existed,
        );
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

    #[allow(clippy::too_many_arguments)]
    fn swap_in(
        &self,
        lock: &CaLock,
        record: IndexRecord,
        server_files: &ServerFiles,
        journal_text: &[u8],
        (target, parent): (&Path, &Path),
        (staging, backup): (&Path, &Path),
        target_existed: bool,
    ) -> Result<()> {
        write_atomic(&self.path(files::JOURNAL), journal_text, KEY_MODE)?;

        // Stage the four files.
        if staging.exists() {
            fs::remove_dir_all(staging).map_err(|e| Error::io(staging, e))?;
        }
        create_dir_private(staging)?;
        // A CSR-signed certificate has no key here: the server kept it.
        if !server_files.key_pem.is_empty() {
            write_new(
                &staging.join(files::KEY),
                server_files.key_pem.as_bytes(),
                KEY_MODE,
            )?;
        }
        write_new(
            &staging.join(files::LEAF),
            server_files.cert_pem.as_bytes(),
            PUBLIC_MODE,
        )?;
        write_new(
            &staging.join(files::FULLCHAIN),
            server_files.fullchain_pem.as_bytes(),
            PUBLIC_MODE,
        )?;
        write_new(
            &staging.join(files::CA),
            server_files.ca_pem.as_bytes(),
            PUBLIC_MODE,
        )?;
        if target_existed {
            keep_ownership(target, staging)?;
        }
        sync_dir(staging)?;

        // Archive the certificate.
        let certs = self.path(files::CERTS);
        create_dir_all_private(&certs)?;
        write_atomic(
            &certs.join(format!("{}.pem", record.serial)),
            server_files.cert_pem.as_bytes(),
            PUBLIC_MODE,
        )?;

        // Swap the staged directory in.
        if target.exists() {
            fs::rename(target, backup).map_err(|e| Error::io(target, e))?;
        }
        fs::rename(staging, target).map_err(|e| Error::io(target, e))?;
        sync_dir(parent)?;
        crash_point("after-swap");

        // Commit: the index names the new certificate.
        let mut records = self.read_index()?;
        for r in records.iter_mut() {
            if r.server == record.server && r.path == record.path && r.state == RecordState::Active
            {
                r.state = RecordState::Superseded;
            }
        }
        records.push(record);
        self.write_index(lock, &records)?;
        crash_point("after-index");

        // Clean up.
        if backup.exists() {
            fs::remove_dir_all(backup).map_err(|e| Error::io(backup, e))?;
        }
        remove_file(&self.path(files::JOURNAL))?;
        sync_dir(&self.root)?;
        Ok(())
    }

    /// Finishes or undoes an issuance that a crashed process left in flight.
    fn recover(&self, _lock: &CaLock) -> Result<()> {
        let jp = self.path(files::JOURNAL);
        let text = match fs::read(&jp) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&jp, e)),
        };
        let journal: Journal = serde_json::from_slice(&text)
            .map_err(|e| Error::corrupt(&jp, format!("unreadable journal: {e}")))?;
        let journal = self.checked_journal(&jp, journal)?;
        let bad = |p: &Path| {
            Error::corrupt(
                &jp,
                format!(
                    "refusing to recover: {} is not a directory fedca wrote (a symbolic link, or it holds other files)",
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
        let committed = self
            .read_index()?
            .iter()
            .any(|r| r.serial == journal.serial);
        if committed {
            remove_dir(&journal.backup)?;
        } else {
            remove_dir(&journal.staging)?;
            if present(&journal.backup) {
                if !is_fedca_dir(&journal.backup) {
                    return Err(bad(&journal.backup));
                }
                remove_dir(&journal.target)?;
                fs::rename(&journal.backup, &journal.target)
                    .map_err(|e| Error::io(&journal.target, e))?;
            } else if !journal.target_existed {
                // A first issuance swapped in but not committed.
                remove_dir(&journal.target)?;
            }
            let archived = self
                .path(files::CERTS)
                .join(format!("{}.pem", journal.serial));
            if fs::symlink_metadata(&archived).is_ok_and(|m| m.is_file() || m.is_symlink()) {
                remove_file(&archived)?;
            }
            if let Some(parent) = journal.target.parent() {
                sync_dir(parent)?;
            }
        }
        remove_file(&jp)?;
        sync_dir(&self.root)
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
            } else {
                fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
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

    /// How the journal records a path: relative to the CA directory when inside it,
    /// absolute otherwise (an `--out` directory). Paths must be UTF-8 to be recorded.
    fn journal_path(&self, p: &Path) -> Result<PathBuf> {
        if p.to_str().is_none() {
            return Err(Error::invalid(
                "path",
                p.display().to_string(),
                "is not valid UTF-8, which fedca's journal and index cannot record",
            ));
        }
        let root = absolute(&self.root)?;
        Ok(match p.strip_prefix(&root) {
            Ok(rel) => rel.to_path_buf(),
            Err(_) => p.to_path_buf(),
        })
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
        let Ok(meta) = fs::metadata(&from) else {
            continue;
        };
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
pub fn check_target(target: &Path) -> Result<()> {
    if !target.exists() {
        return Ok(());
    }
    if !target.is_dir() {
        return Err(Error::invalid(
            "output directory",
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
                "output directory",
                target.display().to_string(),
                format!(
                    "it holds {:?}, which is not a fedca file; fedca replaces this directory whole, so move that file away or choose another --out",
                    name
                ),
            ));
        }
    }
    Ok(())
}

trait OpenMode {
    fn mode_0600(&mut self) -> &mut Self;
}

impl OpenMode for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(KEY_MODE)
    }
}

/// Test hook: `FEDCA_CRASH_AT=<point>` aborts the process at that point, as a power
/// cut would, so tests can check that the directory recovers. Only the points named
/// in [`CaDir::commit_issue`] exist.
fn crash_point(name: &str) {
    if std::env::var("FEDCA_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

/// `p` made absolute with `..` and symbolic links resolved in its longest existing
/// prefix (the rest, which does not exist yet, is appended as written, minus `.`).
pub fn canonical_lenient(p: &Path) -> Result<PathBuf> {
    let abs = absolute(p)?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut out = existing
        .canonicalize()
        .map_err(|e| Error::io(existing, e))?;
    for name in rest.into_iter().rev() {
        if name == ".." {
            out.pop();
        } else {
            out.push(name);
        }
    }
    Ok(out)
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

/// The largest input file fedca reads (certificates, chains, keys, CSRs, CRLs).
pub const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// Reads a user-supplied input file, refusing (as bad input, naming `what`) one that
/// cannot be read or is larger than [`MAX_INPUT`] (`/dev/zero` must not exhaust memory).
pub fn read_input(path: &Path, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let bad = |rule: String| Error::invalid(what, path.display().to_string(), rule);
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

/// Writes a new file (in a directory nobody else sees yet) with `mode`, and fsyncs it.
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
    f.write_all(contents)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
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
