//! [`Ca`]: a CA directory and its authority, the entry point of the library.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::authority::{Authority, InitOptions, KeyType};
use crate::error::{Error, Field, Result};
use crate::issue::{self, ExistingKey, LeafProfile, LeafRequest};
use crate::name::{AltName, ServerName};
use crate::store::{files, CaDir, IndexRecord, RecordKeyType, RecordState, ServerFiles};
use crate::x509::{sha256_hex, whole_seconds};

/// A CA directory with its loaded authority.
#[derive(Debug)]
pub struct Ca {
    dir: CaDir,
    authority: Authority,
}

/// A checked request: its profile, target directory, the path the index records and
/// the existing key it keeps, if any.
type LeafPlan<'k> = (LeafProfile, PathBuf, String, Option<&'k ExistingKey>);

/// One certificate written by [`Ca::issue`].
#[derive(Debug, Clone)]
pub struct Issued {
    /// Its index record.
    pub record: IndexRecord,
    /// The directory holding cert.pem, fullchain.pem, key.pem and ca.pem.
    pub dir: PathBuf,
    /// Set when the requested validity was cut to the CA's own expiry.
    pub clamped: bool,
    /// The serial of the server's certificate this one replaced (its current one when
    /// the lock was taken), if it had one.
    pub supersedes: Option<String>,
}

/// One server to renew ([`Ca::renew_each`]): its request, the `--out` directory its
/// files go to (`None`: the CA's `servers/`), and the existing key to certify instead
/// of a new one (`renew --reuse-key`).
#[derive(Clone)]
pub struct Renewal<'k> {
    /// The server as its record describes it.
    pub request: LeafRequest,
    /// The directory holding its directory, when not the CA's `servers/`.
    pub out: Option<PathBuf>,
    /// The key to keep, if any.
    pub key: Option<&'k ExistingKey>,
}

/// What became of one renewal of [`Ca::renew_each`].
pub enum RenewResult {
    /// Renewed, committed with the others.
    Renewed(Box<Issued>),
    /// Refused on its own, before the transaction; the others went ahead.
    Refused(Error),
    /// Part of the transaction that failed, and rolled back with it (the transaction's
    /// error is returned beside the results).
    RolledBack,
}

/// The status of an issued certificate, as `fedca list` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    /// Current and inside its validity.
    Valid,
    /// Past notAfter.
    Expired,
    /// Before notBefore.
    NotYetValid,
    /// Replaced by a newer certificate for the same server.
    Superseded,
    /// Revoked.
    Revoked,
}

impl CertStatus {
    /// The status at `now` of a record read with its effective state
    /// ([`CaDir::read_index`]), as `fedca list` reports it.
    pub fn of(r: &IndexRecord, now: OffsetDateTime) -> Self {
        match r.state {
            RecordState::Revoked => CertStatus::Revoked,
            RecordState::Superseded => CertStatus::Superseded,
            RecordState::Active if now > r.not_after => CertStatus::Expired,
            RecordState::Active if now < r.not_before => CertStatus::NotYetValid,
            RecordState::Active => CertStatus::Valid,
        }
    }

    /// The name `list` and `status` print (the JSON value).
    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Valid => "valid",
            CertStatus::Expired => "expired",
            CertStatus::NotYetValid => "not_yet_valid",
            CertStatus::Superseded => "superseded",
            CertStatus::Revoked => "revoked",
        }
    }
}

/// One line of `fedca list`.
#[derive(Debug, Clone, Serialize)]
pub struct ListEntry {
    /// Serial, lower-case hex.
    pub serial: String,
    /// The server name.
    pub server: String,
    /// Every name in the certificate.
    pub names: Vec<String>,
    /// Start of validity (RFC 3339 in JSON).
    #[serde(with = "crate::store::rfc3339_text")]
    pub not_before: OffsetDateTime,
    /// End of validity (RFC 3339 in JSON).
    #[serde(with = "crate::store::rfc3339_text")]
    pub not_after: OffsetDateTime,
    /// Status now.
    pub status: CertStatus,
    /// Where its files are.
    pub path: String,
}

impl Ca {
    /// Creates a new CA in `dir` (see [`Authority::init`]). Returns the CA and, with
    /// `force`, where the CA it replaced was moved.
    pub fn init(dir: impl Into<PathBuf>, opts: &InitOptions) -> Result<(Ca, Option<PathBuf>)> {
        Ca::init_in(CaDir::at(dir), opts)
    }

    /// [`Ca::init`] with a configured [`CaDir`] (e.g. [`CaDir::insecure_permissions`]).
    pub fn init_in(dir: CaDir, opts: &InitOptions) -> Result<(Ca, Option<PathBuf>)> {
        let (authority, replaced) = Authority::init(&dir, opts)?;
        Ok((Ca { dir, authority }, replaced))
    }

    /// Opens the CA in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Ca> {
        Ca::open_in(CaDir::at(dir))
    }

    /// [`Ca::open`] with a configured [`CaDir`] (e.g. [`CaDir::insecure_permissions`]).
    pub fn open_in(dir: CaDir) -> Result<Ca> {
        Ca::open_with(dir, None)
    }

    /// [`Ca::open_in`] for a CA whose keys are encrypted with `passphrase`.
    pub fn open_with(dir: CaDir, passphrase: Option<&crate::authority::Passphrase>) -> Result<Ca> {
        if !dir.exists() {
            return Err(Error::NoCa(dir.root().to_path_buf()));
        }
        let authority = Authority::load_with(&dir, passphrase)?;
        Ok(Ca { dir, authority })
    }

    /// The CA directory.
    pub fn dir(&self) -> &CaDir {
        &self.dir
    }

    /// The signing authority.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Issues one certificate per request, writing each server's files into
    /// `<out>/<dir-name>/` (default: the CA's `servers/`).
    ///
    /// Every request is validated (names, constraints, options, output directories)
    /// before anything is signed or written: bad input changes nothing.
    pub fn issue(&self, requests: &[LeafRequest], out: Option<&Path>) -> Result<Vec<Issued>> {
        self.issue_with_keys(requests, &[], out)
    }

    /// [`Ca::issue`], signing request `i` for `keys[i]` when that is given (its PEM is
    /// written as it is) instead of a fresh key: `renew --reuse-key`.
    pub fn issue_with_keys(
        &self,
        requests: &[LeafRequest],
        keys: &[Option<&ExistingKey>],
        out: Option<&Path>,
    ) -> Result<Vec<Issued>> {
        if let Some(o) = out {
            self.check_out(o)?;
        }
        let targets = requests
            .iter()
            .map(|req| target_for(&self.dir, &req.server, out))
            .collect::<Result<Vec<_>>>()?;
        self.issue_planned(requests, keys, targets, out)
    }

    /// Refuses an `--out` directory the index cannot record (not UTF-8) or inside the
    /// CA directory.
    fn check_out(&self, out: &Path) -> Result<()> {
        if out.to_str().is_none() {
            return Err(Error::invalid(
                Field::OutputDir,
                out.display().to_string(),
                "is not valid UTF-8, which the index cannot record",
            ));
        }
        if self.dir.contains(out)? {
            return Err(Error::invalid(
                Field::OutputDir,
                out.display().to_string(),
                format!("is inside the CA directory; write server files there without {}, or choose a directory outside it", Field::OutputDir.mention()),
            ));
        }
        Ok(())
    }

    /// Renews many servers as one transaction (the guarantees of
    /// [`crate::store::CaDir::commit_batch`]), each [`Renewal`] as
    /// [`Ca::issue_with_keys`] would issue it alone, reading the index once: renewing
    /// every server of a large CA costs what one `apply` does, not one transaction (and
    /// one reading of the index) per server.
    ///
    /// Every check that is about one server is made for each renewal on its own, and a
    /// renewal that fails one is [`RenewResult::Refused`] while the others go ahead:
    /// before the lock its `--out` directory, target, names, constraints and key (a
    /// server given twice is refused the second time); under the lock its name against
    /// the CA's other spellings, its target again (a file planted while this waited)
    /// and its `--out` directory made. What can still fail is the transaction itself (a
    /// full disk, the CA replaced while this waited): then every renewal in it is
    /// [`RenewResult::RolledBack`] and the transaction's error is returned beside the
    /// results. The outer error is the lock's or the index's: nothing was attempted.
    pub fn renew_each(
        &self,
        renewals: &[Renewal<'_>],
    ) -> Result<(Vec<RenewResult>, Option<Error>)> {
        let mut results: Vec<Option<RenewResult>> = renewals.iter().map(|_| None).collect();
        // Each `--out` directory checked once, however many servers it holds.
        let mut outs_checked = std::collections::HashSet::new();
        let mut pending = Vec::with_capacity(renewals.len());
        let mut targets = Vec::with_capacity(renewals.len());
        for (i, r) in renewals.iter().enumerate() {
            let out = r.out.as_deref();
            let checked = match out {
                Some(o) if !outs_checked.contains(o) => {
                    self.check_out(o).map(|()| outs_checked.insert(o))
                }
                _ => Ok(true),
            };
            match checked.and_then(|_| target_for(&self.dir, &r.request.server, out)) {
                Ok(t) => {
                    pending.push(i);
                    targets.push(t);
                }
                Err(e) => results[i] = Some(RenewResult::Refused(e)),
            }
        }
        let requests: Vec<LeafRequest> = pending
            .iter()
            .map(|&i| renewals[i].request.clone())
            .collect();
        let keys: Vec<Option<&ExistingKey>> = pending.iter().map(|&i| renewals[i].key).collect();
        let plans = self.plan_each(&requests, &keys, targets);
        let mut planned = Vec::with_capacity(pending.len());
        for ((i, request), plan) in pending.into_iter().zip(requests).zip(plans) {
            match plan {
                Ok(plan) => planned.push((i, request, plan)),
                Err(e) => results[i] = Some(RenewResult::Refused(e)),
            }
        }
        let mut failed = None;
        if !planned.is_empty() {
            let lock = self.dir.lock()?;
            let index = self.dir.read_index()?;
            let spellings = crate::name::CaseSpellings::of_existing(
                index
                    .iter()
                    .filter(|r| r.state == RecordState::Active)
                    .map(|r| r.server.to_string()),
            );
            let mut requests = Vec::with_capacity(planned.len());
            let mut plans = Vec::with_capacity(planned.len());
            let mut order = Vec::with_capacity(planned.len());
            for (i, request, plan) in planned {
                let alone = spellings
                    .check(&request.server)
                    .map_err(Error::from)
                    .and_then(|_| crate::store::check_target(&plan.1))
                    .and_then(|_| renewals[i].out.as_deref().map_or(Ok(()), prepare_out));
                if let Err(e) = alone {
                    results[i] = Some(RenewResult::Refused(e));
                    continue;
                }
                requests.push(request);
                plans.push(plan);
                order.push(i);
            }
            if !order.is_empty() {
                match self.issue_locked(&lock, &index, &requests, plans, None) {
                    Ok(issued) => {
                        for (i, issued) in order.into_iter().zip(issued) {
                            results[i] = Some(RenewResult::Renewed(Box::new(issued)));
                        }
                    }
                    Err(e) => {
                        for i in order {
                            results[i] = Some(RenewResult::RolledBack);
                        }
                        failed = Some(e);
                    }
                }
            }
        }
        let results = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    RenewResult::Refused(Error::Internal("a renewal was not made".into()))
                })
            })
            .collect();
        Ok((results, failed))
    }

    /// Issues one certificate per request into the matching server directory of
    /// `targets` (absolute paths outside the CA directory), as one transaction. Used by
    /// `apply`, which puts each server's files in its bundle.
    pub fn issue_into(&self, requests: &[LeafRequest], targets: &[PathBuf]) -> Result<Vec<Issued>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let mut planned = Vec::with_capacity(targets.len());
        // `CaDir::contains` for every target, each shared prefix resolved once.
        let mut canonical = crate::store::CanonicalCache::default();
        let root = canonical.get(self.dir.root())?;
        for t in targets {
            let text = t.to_str().ok_or_else(|| {
                Error::invalid(
                    Field::Directory,
                    t.display().to_string(),
                    "is not valid UTF-8, which the index cannot record",
                )
            })?;
            if !t.is_absolute() || canonical.get(t)?.starts_with(&root) {
                return Err(Error::invalid(
                    Field::Directory,
                    text,
                    "must be an absolute path outside the CA directory",
                ));
            }
            planned.push((t.clone(), text.to_string()));
        }
        self.issue_planned(requests, &[], planned, None)
    }

    /// Re-issues each named server with exactly its stored settings (names, extra
    /// names, delegation, key type, validity, output directory), as one transaction;
    /// a server the CA has never issued gets the defaults and the CA's `servers/`.
    pub fn issue_stored(&self, names: &[ServerName]) -> Result<Vec<Issued>> {
        // The stored settings are read under the lock, from the one reading of the index
        // the whole command uses (after the lock finished any interrupted batch).
        let lock = self.dir.lock()?;
        let index = self.dir.read_index()?;
        let current: HashMap<&ServerName, &IndexRecord> = index
            .iter()
            .filter(|r| r.state == RecordState::Active)
            .map(|r| (&r.server, r))
            .collect();
        let mut requests = Vec::with_capacity(names.len());
        let mut targets = Vec::with_capacity(names.len());
        for n in names {
            match current.get(n) {
                Some(r) => {
                    requests.push(stored_request(&self.dir, r)?);
                    targets.push((self.dir.resolve_record_path(&r.path), r.path.clone()));
                }
                None => {
                    let dir_name = n.dir_name();
                    requests.push(LeafRequest::new(n.clone()));
                    targets.push((
                        self.dir.server_dir(&dir_name),
                        format!("{}/{dir_name}", files::SERVERS),
                    ));
                }
            }
        }
        drop(current);
        let plans = self.plan_leaves(&requests, &[], targets)?;
        self.issue_locked(&lock, &index, &requests, plans, None)
    }

    /// Checks every request before the lock is taken, then issues them under it.
    fn issue_planned(
        &self,
        requests: &[LeafRequest],
        keys: &[Option<&ExistingKey>],
        targets: Vec<(PathBuf, String)>,
        out: Option<&Path>,
    ) -> Result<Vec<Issued>> {
        let plans = self.plan_leaves(requests, keys, targets)?;
        let lock = self.dir.lock()?;
        // The index, read once, under the lock: the case check, the serials taken, the
        // certificates superseded and the commit's checks all use this one reading.
        let index = self.dir.read_index()?;
        self.issue_locked(&lock, &index, requests, plans, out)
    }

    /// Each request's profile, target directory (with its path as the index records
    /// it) and existing key, checked: nothing is written. The first refusal, in order.
    fn plan_leaves<'k>(
        &self,
        requests: &[LeafRequest],
        keys: &[Option<&'k ExistingKey>],
        targets: Vec<(PathBuf, String)>,
    ) -> Result<Vec<LeafPlan<'k>>> {
        self.plan_each(requests, keys, targets)
            .into_iter()
            .collect()
    }

    /// [`Ca::plan_leaves`] with each request's plan or refusal on its own (`renew`); a
    /// server or target given a second time is refused there.
    fn plan_each<'k>(
        &self,
        requests: &[LeafRequest],
        keys: &[Option<&'k ExistingKey>],
        targets: Vec<(PathBuf, String)>,
    ) -> Vec<Result<LeafPlan<'k>>> {
        let now = OffsetDateTime::now_utc();
        let mut seen_targets = std::collections::HashSet::with_capacity(requests.len());
        let mut seen_servers = std::collections::HashSet::with_capacity(requests.len());
        let mut plan = |req: &LeafRequest, target: PathBuf, path_text: String, key| {
            let profile = LeafProfile::build(req, &self.authority, now)?;
            let dir_name = req.server.dir_name();
            if !seen_targets.insert(target.clone()) || !seen_servers.insert(req.server.clone()) {
                return Err(Error::invalid(
                    Field::ServerName,
                    req.server.to_string(),
                    "is given twice in one call",
                ));
            }
            if dir_name.len() > 255 {
                return Err(Error::invalid(
                    Field::ServerName,
                    req.server.to_string(),
                    "makes a directory name longer than 255 bytes, which file systems refuse",
                ));
            }
            crate::store::check_target(&target)?;
            issue::check_existing_key(&profile, key)?;
            Ok((profile, target, path_text, key))
        };
        requests
            .iter()
            .zip(targets)
            .enumerate()
            .map(|(i, (req, (target, path_text)))| {
                plan(req, target, path_text, keys.get(i).copied().flatten())
            })
            .collect()
    }

    /// Issues planned leaves under `lock`, `index` being the index read under it.
    fn issue_locked(
        &self,
        lock: &crate::store::CaLock,
        index: &[IndexRecord],
        requests: &[LeafRequest],
        plans: Vec<LeafPlan<'_>>,
        out: Option<&Path>,
    ) -> Result<Vec<Issued>> {
        // Another process may have replaced the CA (init --force) while we waited.
        if self.dir.read(files::ROOT_CERT)? != self.authority.cert_pem() {
            return Err(Error::corrupt(
                &self.dir.path(files::ROOT_CERT),
                "the CA was replaced while this command waited for the lock; run it again",
            ));
        }
        // Bad input is refused before `--out` is made. The CA's names in index order, so
        // that the error names the same first spelling every time.
        let current = || index.iter().filter(|r| r.state == RecordState::Active);
        crate::name::refuse_case_duplicates(
            requests.iter().map(|r| &r.server),
            current().map(|r| r.server.to_string()),
        )?;
        if let Some(o) = out {
            prepare_out(o)?;
        }
        let active: HashMap<&ServerName, &str> =
            current().map(|r| (&r.server, r.serial.as_str())).collect();
        let supersedes: Vec<Option<String>> = requests
            .iter()
            .map(|r| active.get(&r.server).map(|s| s.to_string()))
            .collect();
        drop(active);
        let mut taken: BTreeSet<String> = index.iter().map(|r| r.serial.clone()).collect();
        // Every serial drawn before anything is signed (distinct from the index's and
        // from each other), so that the batch's journal can name them all; then every
        // leaf is signed on every core and staged as it is made: a large batch is never
        // held in memory whole.
        let mut serials = Vec::with_capacity(plans.len());
        for _ in &plans {
            let serial = issue::random_serial(&taken)?;
            taken.insert(issue::serial_hex(serial.as_ref()));
            serials.push(serial);
        }
        drop(taken);
        let ca_pem = self.authority.cert_pem();
        let chain_pem = self.authority.chain_pem();
        let leaf_validity = self.authority.policy().leaf_validity;
        let signer = issue::Signer::new(&self.authority)?;
        let mut records = Vec::with_capacity(plans.len());
        let mut targets = Vec::with_capacity(plans.len());
        let mut clamped = Vec::with_capacity(plans.len());
        for (((profile, target, path_text, _), req), serial) in
            plans.iter().zip(requests).zip(&serials)
        {
            records.push(IndexRecord {
                serial: issue::serial_hex(serial.as_ref()),
                server: profile.server.clone(),
                names: profile.san_texts(),
                delegate: req.delegate.clone(),
                not_before: whole_seconds(profile.not_before),
                not_after: whole_seconds(profile.not_after),
                state: RecordState::Active,
                path: path_text.clone(),
                key_type: profile.key_type.into(),
                // Filled in as each certificate is made.
                sha256: String::new(),
                alts: req.alts.iter().map(|a| a.san_text()).collect(),
                validity: Some(req.validity.unwrap_or(leaf_validity).to_string()),
            });
            targets.push(target.clone());
            clamped.push(profile.clamped);
        }
        self.dir
            .commit_streamed(lock, index, &mut records, &targets, |i| {
                let (profile, _, _, key) = &plans[i];
                let leaf = signer.sign(profile.clone(), serials[i].clone(), *key)?;
                let sha256 = sha256_hex(&leaf.cert_der);
                Ok((
                    ServerFiles {
                        fullchain_pem: format!("{}{chain_pem}", leaf.cert_pem),
                        cert_pem: leaf.cert_pem,
                        key_pem: leaf.key_pem,
                        ca_pem: ca_pem.to_string(),
                    },
                    sha256,
                ))
            })?;
        let issued = records
            .into_iter()
            .zip(targets)
            .zip(clamped)
            .zip(supersedes)
            .map(|(((record, dir), clamped), supersedes)| Issued {
                record,
                dir,
                clamped,
                supersedes,
            })
            .collect();
        Ok(issued)
    }

    /// Every issued certificate with its status now.
    pub fn list(&self) -> Result<Vec<ListEntry>> {
        list(&self.dir)
    }
}

/// The current (active) record of each server, by server name.
pub fn current_records(dir: &CaDir) -> Result<std::collections::HashMap<ServerName, IndexRecord>> {
    Ok(dir
        .read_index()?
        .into_iter()
        .filter(|r| r.state == RecordState::Active)
        .map(|r| (r.server.clone(), r))
        .collect())
}

/// The request a record stores: its server, delegation, extra names, key type and
/// validity. Records written before fedca stored extra names and validity read as
/// they are: every name besides the server's and the delegate's host is an extra
/// name, and the validity is the CA's default.
pub fn stored_request(dir: &CaDir, r: &IndexRecord) -> Result<LeafRequest> {
    let corrupt = |what: &str, e: String| {
        Error::corrupt(
            &dir.path(files::INDEX),
            format!("record {}: bad {what}: {e}", r.serial),
        )
    };
    let server = r.server.clone();
    let delegate = r.delegate.clone();
    let alt_texts: Vec<String> = if r.alts.is_empty() && r.validity.is_none() {
        let mut own = vec![AltName::Host(server.host().clone()).san_text()];
        if let Some(d) = &delegate {
            own.push(AltName::Host(d.host().clone()).san_text());
        }
        r.names
            .iter()
            .filter(|n| !own.contains(n))
            .cloned()
            .collect()
    } else {
        r.alts.clone()
    };
    let alts = alt_texts
        .iter()
        .map(|a| AltName::parse(a))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| corrupt("extra name", e.to_string()))?;
    // A server signed from a CSR with an RSA key is re-issued with a key fedca makes,
    // of the CA's default type (fedca makes no RSA keys).
    let key_type = match r.key_type {
        crate::store::RecordKeyType::Rsa(_) => None,
        k => Some(KeyType::from_record(k).map_err(|e| corrupt("key type", e.to_string()))?),
    };
    let validity = r
        .validity
        .as_deref()
        .map(crate::validity::Validity::parse)
        .transpose()
        .map_err(|e| corrupt("validity", e.to_string()))?;
    Ok(LeafRequest {
        server,
        delegate,
        alts,
        validity,
        key_type,
    })
}

/// What re-issuing `r` with `names`, `key_type` and the directory `path` changes, in
/// words (empty: nothing).
pub fn describe_changes(
    r: &IndexRecord,
    names: &[String],
    key_type: RecordKeyType,
    path: &str,
) -> Vec<String> {
    let have: BTreeSet<&str> = r.names.iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    let added: Vec<&str> = want.difference(&have).copied().collect();
    let removed: Vec<&str> = have.difference(&want).copied().collect();
    if !added.is_empty() {
        out.push(format!("names added: {}", added.join(", ")));
    }
    if !removed.is_empty() {
        out.push(format!("names removed: {}", removed.join(", ")));
    }
    if key_type != r.key_type {
        out.push(format!("key type {} -> {key_type}", r.key_type));
    }
    if path != r.path {
        out.push(format!(
            "output directory {} -> {path} (the old copy is superseded)",
            r.path
        ));
    }
    out
}

/// Every certificate in a CA directory's index with its status now. Reads only the
/// index: listing needs no access to the CA key.
pub fn list(dir: &CaDir) -> Result<Vec<ListEntry>> {
    Ok(list_records(dir.read_index()?))
}

/// [`list`] of index records already read with their effective states
/// ([`CaDir::read_index`]: revoked and superseded as `revocations.jsonl` and the
/// later records make them), so neither file is read again (`fedca status` reads the
/// index once).
pub fn list_records(records: Vec<IndexRecord>) -> Vec<ListEntry> {
    let now = OffsetDateTime::now_utc();
    records
        .into_iter()
        .map(|r| {
            let status = CertStatus::of(&r, now);
            ListEntry {
                serial: r.serial,
                server: r.server.to_string(),
                names: r.names,
                not_before: r.not_before,
                not_after: r.not_after,
                status,
                path: r.path,
            }
        })
        .collect()
}

/// The directory `server`'s files go to, with its path as the index records it:
/// `out/NAME` made absolute, or the CA's `servers/NAME`.
fn target_for(dir: &CaDir, server: &ServerName, out: Option<&Path>) -> Result<(PathBuf, String)> {
    let dir_name = server.dir_name();
    match out {
        Some(o) => {
            let t = std::path::absolute(o.join(&dir_name)).map_err(|e| Error::io(o, e))?;
            let text = t.display().to_string();
            Ok((t, text))
        }
        None => Ok((
            dir.server_dir(&dir_name),
            format!("{}/{dir_name}", files::SERVERS),
        )),
    }
}

/// Creates `--out` (0700) if needed and checks it is a writable directory, before any
/// certificate is signed; a bad `--out` is bad input.
pub(crate) fn prepare_out(out: &Path) -> Result<()> {
    let bad = |e: std::io::Error| {
        Error::invalid(
            Field::OutputDir,
            out.display().to_string(),
            format!("is not a writable directory ({e})"),
        )
    };
    if out.exists() && !out.is_dir() {
        return Err(Error::invalid(
            Field::OutputDir,
            out.display().to_string(),
            "exists and is not a directory",
        ));
    }
    crate::store::create_dir_all_private(out).map_err(|e| match e {
        Error::Io { source, .. } => bad(source),
        other => other,
    })?;
    tempfile::tempfile_in(out).map_err(bad)?;
    Ok(())
}
