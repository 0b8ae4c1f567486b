//! The CA directory's promises under races, crashes, full disks and hostile files
//! (issue 7: the lock, in-process rollback, the journal, leftovers, permissions).
//!
//! Every test runs the real binary. The full-disk test mounts a small tmpfs and fails
//! (never skips) when it cannot.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{fedca, ok, read, run, s};

/// The fixed file names of a server directory.
const SERVER_FILES: [&str; 4] = ["cert.pem", "fullchain.pem", "key.pem", "ca.pem"];

fn init(ca: &Path) {
    ok(&["init", "--ca-dir", s(ca)]);
}

/// A small xorshift generator: the tests need arbitrary kill times, not good randomness.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("rng seed {seed}");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn pem_der(text: &str, what: &Path) -> Vec<u8> {
    pem::parse(text)
        .unwrap_or_else(|e| panic!("{}: not PEM: {e}", what.display()))
        .contents()
        .to_vec()
}

/// The fields of an index line the checks read (the rest is ignored).
#[derive(serde::Deserialize)]
struct Rec {
    serial: String,
    server: String,
    state: String,
    path: String,
    sha256: String,
}

/// (root, cert.pem, key.pem) triples whose signature and key match were checked.
static PROVEN: std::sync::Mutex<std::collections::BTreeSet<[u8; 32]>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks that a CA directory keeps its promises: no serial twice, every record's
/// certificate archived, every active record's four files present, the served
/// certificate the committed one, matching its key and signed by this CA's root,
/// and no server directory without an active record.
fn assert_consistent(ca: &Path) {
    let root_pem = read(ca.join("root.pem"));
    let root_der = pem_der(&root_pem, &ca.join("root.pem"));
    let (_, root) = x509_parser::parse_x509_certificate(&root_der).unwrap();
    let index = std::fs::read_to_string(ca.join("index.jsonl")).unwrap_or_default();
    let mut serials = HashSet::new();
    let mut live_dirs = HashSet::new();
    let records: Vec<Rec> = index
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: bad index line {line}: {e}", ca.display()))
        })
        .collect();
    // The index is append-only: a record is active when it stored "active" and no later
    // record names the same server (docs/ca-directory.md).
    let mut later = HashSet::new();
    let mut active = vec![false; records.len()];
    for (i, r) in records.iter().enumerate().rev() {
        let server = r.server.clone();
        active[i] = r.state == "active" && !later.contains(&server);
        later.insert(server);
    }
    for (r, active) in records.iter().zip(active) {
        let serial = r.serial.as_str();
        assert!(
            serials.insert(serial.to_string()),
            "{}: serial {serial} twice in the index",
            ca.display()
        );
        assert!(
            ca.join("certs").join(format!("{serial}.pem")).is_file(),
            "{}: certs/{serial}.pem missing",
            ca.display()
        );
        if !active {
            continue;
        }
        let path = r.path.as_str();
        let dir = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            ca.join(path)
        };
        assert!(
            live_dirs.insert(dir.clone()),
            "{}: two active records for {path}",
            ca.display()
        );
        for f in SERVER_FILES {
            assert!(
                dir.join(f).is_file(),
                "{}: active record {serial} lacks {f} in {}",
                ca.display(),
                dir.display()
            );
        }
        assert_eq!(
            read(dir.join("ca.pem")),
            root_pem,
            "{}: ca.pem is not this CA's root",
            dir.display()
        );
        let cert_pem = read(dir.join("cert.pem"));
        let der = pem_der(&cert_pem, &dir.join("cert.pem"));
        assert_eq!(
            sha256_hex(&der),
            r.sha256,
            "{}: the served certificate is not the committed one ({serial})",
            dir.display()
        );
        // The signature and key checks are a function of (root, cert.pem, key.pem):
        // a pair already proven is not proven again (the crash tests check 1,000
        // servers after every kill, most of them unchanged).
        let key_pem = read(dir.join("key.pem"));
        let proof = ring::digest::digest(
            &ring::digest::SHA256,
            [root_pem.as_bytes(), cert_pem.as_bytes(), key_pem.as_bytes()]
                .join(&b'\n')
                .as_slice(),
        );
        let proof: [u8; 32] = proof.as_ref().try_into().unwrap();
        if PROVEN.lock().unwrap().contains(&proof) {
            continue;
        }
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        cert.verify_signature(Some(root.public_key()))
            .unwrap_or_else(|e| {
                panic!(
                    "{}: cert.pem is not signed by {}/root.pem: {e:?}",
                    dir.display(),
                    ca.display()
                )
            });
        let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
        assert_eq!(
            cert.public_key().raw,
            rcgen::PublicKeyData::subject_public_key_info(&key).as_slice(),
            "{}: key.pem does not match cert.pem",
            dir.display()
        );
        PROVEN.lock().unwrap().insert(proof);
    }
    if let Ok(entries) = std::fs::read_dir(ca.join("servers")) {
        for e in entries {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_str().unwrap().starts_with('.') {
                continue;
            }
            assert!(
                live_dirs.contains(&p),
                "{}: server directory without an active record",
                p.display()
            );
        }
    }
}

/// Asserts that nothing a crashed or failed process writes is left behind.
fn assert_no_leftovers(ca: &Path) {
    assert!(
        !ca.join("journal.json").exists(),
        "{}: journal.json left",
        ca.display()
    );
    let parent = ca.parent().unwrap();
    for d in [
        ca.to_path_buf(),
        ca.join("certs"),
        ca.join("servers"),
        parent.to_path_buf(),
    ] {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let name = e.unwrap().file_name().into_string().unwrap();
            for bad in [
                ".tmp-",
                ".staging-",
                ".backup-",
                ".fedca-init-",
                ".fedca-new",
            ] {
                assert!(
                    !name.starts_with(bad),
                    "{}: {name} left behind",
                    d.display()
                );
            }
        }
    }
}

/// Every CA moved aside by `init --force` next to `ca`.
fn replaced(ca: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}.replaced-", ca.file_name().unwrap().to_str().unwrap());
    let mut out: Vec<_> = std::fs::read_dir(ca.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&prefix)
        })
        .collect();
    out.sort();
    out
}

/// Item 2: 8 processes issuing 50 names each, a `list` loop and 3 concurrent
/// `init --force`: the live CA and every CA moved aside are each self-consistent.
#[test]
fn concurrent_issuers_list_and_init_force_leave_every_ca_consistent() {
    let mount = tmpfs("256m");
    let ca = mount.0.join("ca");
    init(&ca);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::scope(|scope| {
        let mut issuers = Vec::new();
        for w in 0..8 {
            let ca = ca.clone();
            issuers.push(scope.spawn(move || {
                for n in 0..50 {
                    let out = fedca()
                        .env("FEDCA_LOCK_TIMEOUT", "600")
                        .args(["issue", &format!("w{w}-n{n}.fed.test"), "--ca-dir"])
                        .arg(&ca)
                        .output()
                        .unwrap();
                    // A CA replaced while this issue waited is an honest exit 1.
                    assert!(
                        matches!(out.status.code(), Some(0 | 1)),
                        "issue crashed: {:?} {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }));
        }
        let lister = {
            let ca = ca.clone();
            let done = done.clone();
            scope.spawn(move || {
                let mut runs = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let out = run(&["list", "--ca-dir", s(&ca), "--json"]);
                    assert!(
                        out.status.success(),
                        "list failed while other processes ran: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    runs += 1;
                }
                runs
            })
        };
        let mut inits = Vec::new();
        for round in 0..3u64 {
            let ca = ca.clone();
            inits.push(scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(400 + 50 * round));
                let out = fedca()
                    .env("FEDCA_LOCK_TIMEOUT", "600")
                    .args(["init", "--force", "--ca-dir"])
                    .arg(&ca)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "init --force failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }));
        }
        for h in issuers.into_iter().chain(inits) {
            h.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let runs = lister.join().unwrap();
        assert!(runs > 0, "the list loop never ran");
    });
    ok(&["issue", "after.fed.test", "--ca-dir", s(&ca)]);
    let aside = replaced(&ca);
    assert_eq!(aside.len(), 3, "three CAs moved aside: {aside:?}");
    for dir in aside.iter().chain(std::iter::once(&ca)) {
        assert_consistent(dir);
        assert_no_leftovers(dir);
    }
    let roots: HashSet<_> = aside
        .iter()
        .chain(std::iter::once(&ca))
        .map(|d| read(d.join("root.pem")))
        .collect();
    assert_eq!(roots.len(), 4, "four distinct roots");
}

/// Spawns fedca with `args`, kills it with SIGKILL after `delay`, and reaps it.
fn kill_after(args: &[String], delay: Duration) {
    let mut child = fedca()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().unwrap();
}

/// After a killed process: `list` works, and after the next locking command the CA is
/// consistent with nothing left behind.
fn check_after_kill(ca: &Path, next: &str) {
    let out = run(&["list", "--ca-dir", s(ca)]);
    assert!(
        out.status.success(),
        "list failed after a kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(&["issue", next, "--ca-dir", s(ca)]);
    assert_consistent(ca);
    assert_no_leftovers(ca);
}

/// Items 2, 3 and 8: `issue` (5-20 names, renewals included) and `init --force` killed
/// with SIGKILL at random points, 200 times each, plus once at each named crash point.
#[test]
fn sigkill_at_random_points_leaves_a_consistent_ca() {
    let mount = tmpfs("256m");
    let ca = mount.0.join("ca");
    init(&ca);
    let pool: Vec<String> = (0..24).map(|i| format!("s{i}.fed.test")).collect();
    let mut rng = Rng::new();
    for point in ["after-swap", "after-index"] {
        let out = fedca()
            .env("FEDCA_CRASH_AT", point)
            .args(["issue", "s0.fed.test", "--ca-dir", s(&ca)])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{point}: the crash hook did not fire"
        );
        check_after_kill(&ca, "s1.fed.test");
    }
    for i in 0..200 {
        let n = 5 + rng.below(16) as usize;
        let start = rng.below(pool.len() as u64) as usize;
        let mut args: Vec<String> = vec!["issue".into()];
        args.extend((0..n).map(|k| pool[(start + k) % pool.len()].clone()));
        args.extend(["--ca-dir".into(), s(&ca).into()]);
        kill_after(&args, Duration::from_millis(rng.below(31)));
        check_after_kill(&ca, &pool[i % pool.len()]);
    }
    let args: Vec<String> = ["init", "--force", "--ca-dir", s(&ca)]
        .iter()
        .map(|a| a.to_string())
        .collect();
    for i in 0..200 {
        kill_after(&args, Duration::from_millis(rng.below(31)));
        check_after_kill(&ca, &pool[i % pool.len()]);
    }
    for dir in replaced(&ca) {
        assert!(dir.join("root-key.pem").is_file(), "{}", dir.display());
        assert_consistent(&dir);
        assert_no_leftovers(&dir);
    }
}

/// No `.staging-*`/`.backup-*` directory left in any bundle below `bundles`.
fn assert_no_bundle_leftovers(bundles: &Path) {
    for e in std::fs::read_dir(bundles).unwrap() {
        let p = e.unwrap().path();
        for f in std::fs::read_dir(&p).unwrap() {
            let name = f.unwrap().file_name().into_string().unwrap();
            assert!(
                !name.starts_with(".staging-") && !name.starts_with(".backup-"),
                "{}: {name} left behind",
                p.display()
            );
        }
    }
}

/// Issue 11: a batch commit (`apply` of 1,000 servers, every run renewing all of them
/// in one transaction) killed with SIGKILL at 200 random points, and once at each named
/// crash point: after each, `list` works, the next locking command rolls the batch back
/// or forward (every server keeps one committed, matching pair: `assert_consistent`
/// checks all of them), and a re-run completes the spec. Every 25 kills the CA is made
/// anew, so that the runs that rolled forward do not grow the index without bound and
/// the CA's creation is killed too.
#[test]
fn sigkill_during_a_batch_apply_rolls_back_or_forward() {
    const SERVERS: usize = 1000;
    let mount = tmpfs("2g");
    let spec = mount.0.join("net.yaml");
    // `pem`: each bundle holds tls/ and the roots (the servers' own files are what the
    // batch commits; the trust emission of every implementation is tested elsewhere).
    let mut text = String::from("renew_within: 1000d\nservers:\n");
    for i in 0..SERVERS {
        text.push_str(&format!(
            "  - name: b{i}.fed.test\n    implementation: pem\n"
        ));
    }
    std::fs::write(&spec, text).unwrap();
    let state = mount.0.join("net.fedca");
    let ca = state.join("ca");
    let bundles = state.join("bundles");
    let apply: Vec<String> = vec!["apply".into(), s(&spec).into()];
    let complete = |ca: &Path| {
        ok(&["apply", s(&spec)]);
        assert_consistent(ca);
        assert_no_leftovers(ca);
        assert_no_bundle_leftovers(&bundles);
        let entries: Vec<serde_json::Value> =
            serde_json::from_str(&ok(&["list", "--json", "--ca-dir", s(ca)])).unwrap();
        let mut valid = HashMap::new();
        for e in &entries {
            if e["status"] == "valid" {
                *valid
                    .entry(e["server"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
        }
        for i in 0..SERVERS {
            let server = format!("b{i}.fed.test");
            assert_eq!(
                valid.get(&server),
                Some(&1),
                "{server}: one valid certificate"
            );
        }
    };
    let start = std::time::Instant::now();
    complete(&ca);
    // Every apply renews all servers: a whole batch each time. One run timed: when its
    // journal appears (signing is over, the commit starts) and when it ends.
    let started = std::time::Instant::now();
    let mut child = fedca()
        .args(&apply)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut journal_at, mut journal_gone) = (None, None);
    let status = loop {
        let journal = ca.join("journal.json").exists();
        if journal_at.is_none() && journal {
            journal_at = Some(started.elapsed());
        }
        if journal_at.is_some() && journal_gone.is_none() && !journal {
            journal_gone = Some(started.elapsed());
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(status.success(), "the timed apply failed");
    let whole = started.elapsed().max(Duration::from_millis(20));
    let commit_from = journal_at
        .expect("the timed apply never showed a journal: the commit was not seen")
        .min(whole);
    let commit_to = journal_gone.unwrap_or(whole).max(commit_from);
    for point in ["after-journal", "after-stage", "after-swap", "after-index"] {
        let out = fedca()
            .env("FEDCA_CRASH_AT", point)
            .args(&apply)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{point}: the crash hook did not fire"
        );
        assert!(ca.join("journal.json").exists(), "{point}: no journal");
        check_after_kill(&ca, "next.fed.test");
        assert_no_bundle_leftovers(&bundles);
        complete(&ca);
    }
    let mut rng = Rng::new();
    let ms = |d: Duration| d.as_millis() as u64;
    let (span, from, to) = (ms(whole), ms(commit_from), ms(commit_to));
    let mut in_flight = 0;
    for i in 0..200 {
        // Three kills in five aim at the commit (while the journal exists, widened by
        // a fifth of the run either side: timing varies from run to run), one at the
        // bundles written after it, one while it signs.
        let delay = match i % 5 {
            0 => rng.below(from + 1),
            1 => to + rng.below(span.saturating_sub(to) + span / 20 + 1),
            _ => {
                let lo = from.saturating_sub(span / 5);
                lo + rng.below(to + span / 5 - lo + 1)
            }
        };
        kill_after(&apply, Duration::from_millis(delay));
        in_flight += usize::from(ca.join("journal.json").exists());
        check_after_kill(&ca, &format!("k{}.fed.test", i % 8));
        assert_no_bundle_leftovers(&bundles);
        if i % 25 == 24 {
            complete(&ca);
            std::fs::remove_dir_all(&state).unwrap();
            complete(&ca);
        }
    }
    complete(&ca);
    eprintln!(
        "batch crash test ({SERVERS} servers): {:?} (one apply {whole:?}, its commit {commit_from:?}..{commit_to:?}); {in_flight} of 200 kills left a batch in flight",
        start.elapsed()
    );
    assert!(
        in_flight > 0,
        "no kill landed inside a commit: the delays miss the write phase"
    );
}

/// A tmpfs mounted on a fresh temporary directory, unmounted when dropped.
struct Mount(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `size` (the full-disk test fills it; the crash tests use it so
/// that hundreds of runs do not wait on a disk's fsync). Fails, never skips, when it
/// cannot mount.
fn tmpfs(size: &str) -> Mount {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let status = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(&mnt)
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "this test mounts a tmpfs and needs root (or CAP_SYS_ADMIN) for that: mount failed"
    );
    Mount(mnt, tmp)
}

/// Fills the file system holding `filler` until it is full, then frees `pages` pages.
fn fill_leaving(filler: &Path, pages: u64) {
    use std::io::Write;
    let _ = std::fs::remove_file(filler);
    let mut f = std::fs::File::create(filler).unwrap();
    let chunk = vec![0u8; 4096];
    let mut len = 0u64;
    while f.write_all(&chunk).is_ok() {
        len += 4096;
    }
    drop(f);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(filler)
        .unwrap();
    f.set_len(len.saturating_sub(pages * 4096)).unwrap();
    f.sync_all().unwrap();
}

/// Item 3: a commit that fails on a full disk is rolled back before the command exits:
/// no journal, no server directory without a record, no orphan certs/SERIAL.pem, and a
/// failed renewal still serves the old, committed pair.
#[test]
fn failed_commit_on_a_full_disk_rolls_back_in_process() {
    let mount = tmpfs("1m");
    let mnt = mount.0.clone();
    let ca = mnt.join("ca");
    init(&ca);
    ok(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
    let filler = mnt.join("filler");
    let mut failures = 0;
    let mut late_failures = 0;
    for pages in 0..12 {
        fill_leaving(&filler, pages);
        let old_cert = read(ca.join("servers/hs1.fed.test/cert.pem"));
        let renew = run(&[
            "issue",
            "hs1.fed.test",
            &format!("new{pages}.fed.test"),
            "--ca-dir",
            s(&ca),
        ]);
        let stderr = String::from_utf8_lossy(&renew.stderr);
        if !renew.status.success() {
            failures += 1;
            assert_eq!(renew.status.code(), Some(1), "{stderr}");
            // A failure after the journal was written is one the old code left behind.
            if !stderr.contains("journal.json") {
                late_failures += 1;
            }
        }
        assert_no_leftovers(&ca);
        assert_consistent(&ca);
        if !renew.status.success() && !read(ca.join("index.jsonl")).contains(&format!("new{pages}"))
        {
            assert!(
                !ca.join(format!("servers/new{pages}.fed.test")).exists(),
                "a server directory without a record"
            );
        }
        let now_cert = read(ca.join("servers/hs1.fed.test/cert.pem"));
        if !renew.status.success() && now_cert != old_cert {
            // Renewed (committed) and then the second name failed: the index says so.
            assert_consistent(&ca);
        }
    }
    std::fs::remove_file(&filler).unwrap();
    assert!(failures > 0, "the full disk never made issue fail");
    assert!(
        late_failures > 0,
        "no failure after the journal was written"
    );
    ok(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
    assert_consistent(&ca);
}

/// Item 4: a journal naming a directory outside the CA, or a path through a symbolic
/// link inside servers/, is refused with an error naming journal.json; nothing is
/// deleted.
#[test]
fn tampered_journal_is_refused_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init(&ca);
    let victim = tmp.path().join("victim");
    std::fs::create_dir_all(victim.join("sub")).unwrap();
    std::fs::write(victim.join("precious"), "data").unwrap();
    std::fs::write(victim.join("sub/precious"), "data").unwrap();
    std::os::unix::fs::symlink(&victim, ca.join("servers/link")).unwrap();
    let cases = [
        serde_json::json!({
            "serial": "ab", "target": victim, "staging": tmp.path().join(".staging-ab"),
            "backup": tmp.path().join(".backup-ab"), "target_existed": false,
        }),
        serde_json::json!({
            "serial": "ab", "target": victim.join("sub"), "staging": victim.join(".staging-ab"),
            "backup": victim.join(".backup-ab"), "target_existed": false,
        }),
        serde_json::json!({
            "serial": "ab", "target": "servers/link/sub", "staging": "servers/link/.staging-ab",
            "backup": "servers/link/.backup-ab", "target_existed": false,
        }),
        serde_json::json!({
            "serial": "ab", "target": "servers/link", "staging": "servers/.staging-ab",
            "backup": "servers/.backup-ab", "target_existed": false,
        }),
        serde_json::json!({
            "serial": "ab", "target": "servers/x", "staging": "victim",
            "backup": "servers/.backup-ab", "target_existed": false,
        }),
    ];
    for journal in cases {
        std::fs::write(ca.join("journal.json"), journal.to_string()).unwrap();
        let out = run(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{journal}: {stderr}");
        assert!(
            stderr.contains("journal.json") && stderr.contains("refusing to recover"),
            "{journal}: {stderr}"
        );
        assert_eq!(read(victim.join("precious")), "data", "{journal}");
        assert_eq!(read(victim.join("sub/precious")), "data", "{journal}");
        assert!(ca.join("servers/link").is_symlink());
    }
    // A genuine journal (a crashed first issuance) still recovers.
    std::fs::remove_file(ca.join("servers/link")).unwrap();
    std::fs::remove_file(ca.join("journal.json")).unwrap();
    let out = fedca()
        .env("FEDCA_CRASH_AT", "after-swap")
        .args(["issue", "hs1.fed.test", "--ca-dir", s(&ca)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(ca.join("journal.json").exists());
    ok(&["issue", "hs2.fed.test", "--ca-dir", s(&ca)]);
    assert!(!ca.join("servers/hs1.fed.test").exists());
    assert_consistent(&ca);
    assert_no_leftovers(&ca);
    // So does one for an --out target outside the CA (journaled by absolute path),
    // a first issuance and a renewal, on either side of the commit point.
    let out_dir = tmp.path().join("out");
    for (point, name) in [
        ("after-swap", "hs3.fed.test"),
        ("after-index", "hs3.fed.test"),
        ("after-swap", "hs3.fed.test"),
    ] {
        let out = fedca()
            .env("FEDCA_CRASH_AT", point)
            .args(["issue", name, "--out", s(&out_dir), "--ca-dir", s(&ca)])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{point}: the crash hook did not fire"
        );
        ok(&["issue", "hs4.fed.test", "--ca-dir", s(&ca)]);
        assert_consistent(&ca);
        assert_no_leftovers(&ca);
        let names: Vec<_> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with('.')),
            "{point}: left in --out: {names:?}"
        );
    }
    assert!(out_dir.join("hs3.fed.test/key.pem").is_file());
}

/// Item 8: the next command that takes the lock sweeps temporary files, stale staging
/// directories and unfinished `init` directories (with their root keys); an old CA an
/// interrupted `init --force` had swapped out is moved aside, not deleted.
#[test]
fn next_locking_command_sweeps_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init(&ca);
    ok(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
    std::fs::write(ca.join(".tmp-index"), "x").unwrap();
    std::fs::write(ca.join("certs/.tmp-cert"), "x").unwrap();
    std::fs::create_dir(ca.join("servers/.staging-abcd")).unwrap();
    std::fs::write(ca.join("servers/.staging-abcd/key.pem"), "KEY").unwrap();
    // An init killed while it built its new CA (marked .fedca-new).
    let unfinished = tmp.path().join(".fedca-init-ca.Ab12Cd");
    std::fs::create_dir(&unfinished).unwrap();
    std::fs::write(unfinished.join(".fedca-new"), "").unwrap();
    std::fs::write(unfinished.join("root-key.pem"), "KEY").unwrap();
    // An init killed after it swapped the old CA out (unmarked, a whole CA).
    let swapped = tmp.path().join(".fedca-init-ca.Zz99Yy");
    std::fs::create_dir(&swapped).unwrap();
    for f in ["policy.json", "root.pem", "root-key.pem", "index.jsonl"] {
        std::fs::copy(ca.join(f), swapped.join(f)).unwrap();
    }
    // Another CA's init in the same parent is not ours to touch.
    let other = tmp.path().join(".fedca-init-other.Ab12Cd");
    std::fs::create_dir(&other).unwrap();
    ok(&["issue", "hs2.fed.test", "--ca-dir", s(&ca)]);
    assert!(other.exists(), "another CA's init directory was swept");
    std::fs::remove_dir(&other).unwrap();
    assert_no_leftovers(&ca);
    assert_consistent(&ca);
    let aside = replaced(&ca);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(read(aside[0].join("root.pem")), read(ca.join("root.pem")));
}

/// Item 10: a root key readable by group or others, or a CA directory writable by
/// them, is refused (exit 1, naming the chmod to run) unless --insecure-permissions.
#[test]
fn insecure_permissions_are_refused_with_the_chmod_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init(&ca);
    let key = ca.join("root-key.pem");
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    for mode in [0o640, 0o604, 0o620] {
        chmod(&key, mode);
        let out = run(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{mode:o}: {stderr}");
        assert!(
            stderr.contains(&format!("chmod 600 {}", key.display())),
            "{mode:o}: {stderr}"
        );
        assert!(!ca.join("servers/hs1.fed.test").exists());
    }
    ok(&[
        "issue",
        "hs1.fed.test",
        "--ca-dir",
        s(&ca),
        "--insecure-permissions",
    ]);
    chmod(&key, 0o600);
    for mode in [0o777, 0o720, 0o702] {
        chmod(&ca, mode);
        for args in [
            vec!["issue", "hs2.fed.test", "--ca-dir", s(&ca)],
            vec!["init", "--force", "--ca-dir", s(&ca)],
        ] {
            let out = run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{mode:o} {args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("chmod go-w {}", ca.display())),
                "{mode:o}: {stderr}"
            );
        }
    }
    assert!(replaced(&ca).is_empty());
    ok(&[
        "issue",
        "hs2.fed.test",
        "--ca-dir",
        s(&ca),
        "--insecure-permissions",
    ]);
    chmod(&ca, 0o700);
    ok(&["issue", "hs3.fed.test", "--ca-dir", s(&ca)]);
    // Reading the index needs no key: list still works with a loose key.
    chmod(&key, 0o644);
    ok(&["list", "--ca-dir", s(&ca)]);
}

// ---- Attack review of issue 7 (findings 1, 2, 3, 4, 7, 8, 9a) ----

const NOBODY: u32 = 65534;

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid))
        .unwrap_or_else(|e| panic!("chown {}: {e} (these tests run as root)", p.display()));
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn uid_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).unwrap().uid()
}

fn refused(args: &[&str], code: i32, needles: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: {n:?} not in: {stderr}");
    }
    stderr
}

/// Finding 1: a journal naming a directory that is not this issuance's own
/// uncommitted work (a foreign directory outside the CA, a live committed server
/// directory, even with a forged archive) is refused: exit 1, naming journal.json and
/// the path, nothing changed.
#[test]
fn journal_never_removes_foreign_or_committed_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init(&ca);
    ok(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
    let nginx = tmp.path().join("v/etc-nginx-ssl");
    let victim = nginx.join("example.com");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("key.pem"), "KEY").unwrap();
    std::fs::write(victim.join("cert.pem"), "CERT").unwrap();
    let live = ca.join("servers/hs1.fed.test");
    let live_cert = read(live.join("cert.pem"));
    let servers = ca.join("servers");
    let journal = |target: &Path, parent: &Path| {
        serde_json::json!({
            "serial": "abcdef", "target": target, "staging": parent.join(".staging-abcdef"),
            "backup": parent.join(".backup-abcdef"), "target_existed": false,
        })
        .to_string()
    };
    let cases = [
        (journal(&victim, &nginx), victim.clone(), false),
        (journal(&live, &servers), live.clone(), false),
        // The attacker also forges the archive of the uncommitted serial.
        (journal(&live, &servers), live.clone(), true),
        (journal(&victim, &nginx), victim.clone(), true),
    ];
    for (text, target, forge) in cases {
        std::fs::write(ca.join("journal.json"), &text).unwrap();
        if forge {
            std::fs::copy(target.join("cert.pem"), ca.join("certs/abcdef.pem")).unwrap();
        }
        refused(
            &["issue", "hs2.fed.test", "--ca-dir", s(&ca)],
            1,
            &["journal.json", s(&target)],
        );
        assert_eq!(read(ca.join("journal.json")), text, "journal changed");
        assert_eq!(read(victim.join("key.pem")), "KEY");
        assert_eq!(read(victim.join("cert.pem")), "CERT");
        assert_eq!(read(live.join("cert.pem")), live_cert);
        assert!(live.join("key.pem").is_file());
        let _ = std::fs::remove_file(ca.join("certs/abcdef.pem"));
    }
    std::fs::remove_file(ca.join("journal.json")).unwrap();
    ok(&["issue", "hs2.fed.test", "--ca-dir", s(&ca)]);
    assert_consistent(&ca);
}

/// Finding 2: like ssh's StrictModes, commands that load the key or write the CA
/// refuse files and directories another user owns or may write, up the whole path,
/// and a root key that is a symbolic link; --insecure-permissions overrides.
#[test]
fn strict_modes_check_owners_symlinks_and_every_ancestor() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("p");
    std::fs::create_dir(&parent).unwrap();
    chmod(&parent, 0o755);
    let ca = parent.join("ca");
    init(&ca);
    let issue = |n: &str| {
        vec![
            "issue".to_string(),
            n.to_string(),
            "--ca-dir".into(),
            s(&ca).into(),
        ]
    };
    let mut n = 0;
    let mut check = |setup: &dyn Fn(), undo: &dyn Fn(), needles: &[String]| {
        n += 1;
        setup();
        let name = format!("hs{n}.fed.test");
        let args = issue(&name);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        refused(&args, 1, &needles);
        assert!(!ca.join("servers").join(&name).exists());
        let mut insecure = args.clone();
        insecure.push("--insecure-permissions");
        ok(&insecure);
        undo();
    };
    let p = |x: &Path| s(x).to_string();
    let key = ca.join("root-key.pem");
    check(
        &|| chown(&ca, NOBODY),
        &|| chown(&ca, 0),
        &[p(&ca), "chown".into()],
    );
    check(
        &|| chown(&key, NOBODY),
        &|| chown(&key, 0),
        &[p(&key), "chown".into()],
    );
    let idx = ca.join("index.jsonl");
    check(
        &|| chown(&idx, NOBODY),
        &|| chown(&idx, 0),
        &[p(&idx), "chown".into()],
    );
    for sub in ["servers", "certs"] {
        let d = ca.join(sub);
        check(
            &|| chmod(&d, 0o777),
            &|| chmod(&d, 0o700),
            &[format!("chmod go-w {}", d.display())],
        );
        check(
            &|| chown(&d, NOBODY),
            &|| chown(&d, 0),
            &[p(&d), "chown".into()],
        );
    }
    check(
        &|| chmod(&parent, 0o777),
        &|| chmod(&parent, 0o755),
        &[format!("chmod go-w {}", parent.display())],
    );
    check(
        &|| chown(&parent, NOBODY),
        &|| chown(&parent, 0),
        &[p(&parent), "chown".into()],
    );
    // A root key that is a symbolic link (to a 0600 key elsewhere).
    let elsewhere = tmp.path().join("key-elsewhere.pem");
    check(
        &|| {
            std::fs::rename(&key, &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &key).unwrap();
        },
        &|| std::fs::rename(&elsewhere, &key).unwrap(),
        &[p(&key), "symbolic link".into()],
    );
    // A sticky, root-owned, world-writable ancestor (like /tmp) is fine.
    chmod(&parent, 0o1777);
    ok(&["issue", "hs99.fed.test", "--ca-dir", s(&ca)]);
    chmod(&parent, 0o755);
    // init --force is refused as well (it writes the CA).
    chmod(&parent, 0o777);
    refused(&["init", "--force", "--ca-dir", s(&ca)], 1, &["chmod go-w"]);
    assert!(replaced(&ca).is_empty());
    chmod(&parent, 0o755);
    assert_consistent(&ca);
}

/// Finding 3: a renewal copies owner and mode only from a directory fedca verifiably
/// wrote (its cert.pem is the active record's); a planted directory gives its owner
/// nothing, and a symbolic link as the target is refused.
#[test]
fn renewal_keeps_ownership_only_of_committed_output() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init(&ca);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // Planted by nobody before the first issuance.
    let planted = out.join("hs1.fed.test");
    std::fs::create_dir(&planted).unwrap();
    std::fs::write(planted.join("cert.pem"), "x").unwrap();
    std::fs::write(planted.join("key.pem"), "x").unwrap();
    for f in [
        planted.clone(),
        planted.join("cert.pem"),
        planted.join("key.pem"),
    ] {
        chown(&f, NOBODY);
    }
    chmod(&planted.join("key.pem"), 0o640);
    ok(&[
        "issue",
        "hs1.fed.test",
        "--out",
        s(&out),
        "--ca-dir",
        s(&ca),
    ]);
    assert_eq!(
        uid_of(&planted.join("key.pem")),
        0,
        "the key went to the planter"
    );
    assert_eq!(uid_of(&planted), 0);
    // The operator's chown of committed output is kept on renewal.
    for f in SERVER_FILES {
        chown(&planted.join(f), NOBODY);
    }
    chown(&planted, NOBODY);
    ok(&[
        "issue",
        "hs1.fed.test",
        "--out",
        s(&out),
        "--ca-dir",
        s(&ca),
    ]);
    assert_eq!(uid_of(&planted.join("key.pem")), NOBODY);
    // A symbolic link as the target is refused.
    let attacker = tmp.path().join("attacker");
    std::fs::create_dir(&attacker).unwrap();
    chown(&attacker, NOBODY);
    std::os::unix::fs::symlink(&attacker, out.join("hs2.fed.test")).unwrap();
    refused(
        &[
            "issue",
            "hs2.fed.test",
            "--out",
            s(&out),
            "--ca-dir",
            s(&ca),
        ],
        2,
        &["symbolic link", "hs2.fed.test"],
    );
    assert_eq!(std::fs::read_dir(&attacker).unwrap().count(), 0);
    assert!(out.join("hs2.fed.test").is_symlink());
}

/// Finding 4: the lock beside the CA is never followed through a symbolic link nor
/// shared with a file another user owns; a parent the user cannot write gets an
/// explanation of where the lock lives.
#[test]
fn lock_file_is_not_followed_nor_owned_by_another_user() {
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let planted = tmp.path().join("created-by-fedca");
    std::os::unix::fs::symlink(&planted, tmp.path().join(".ca2.lock")).unwrap();
    let ca2 = tmp.path().join("ca2");
    refused(
        &["init", "--ca-dir", s(&ca2)],
        1,
        &[".ca2.lock", "symbolic link"],
    );
    assert!(!planted.exists(), "the lock followed a symbolic link");
    assert!(!ca2.exists());
    // A lock file another user owns (and holds) is refused at once.
    let ca = tmp.path().join("ca");
    init(&ca);
    let lock = tmp.path().join(".ca.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::write(&lock, "").unwrap();
    chown(&lock, NOBODY);
    let held = std::fs::File::open(&lock).unwrap();
    held.lock().unwrap();
    let out = fedca()
        .env("FEDCA_LOCK_TIMEOUT", "1")
        .args(["issue", "hs1.fed.test", "--ca-dir", s(&ca)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(".ca.lock") && stderr.contains("owned by"),
        "{stderr}"
    );
    drop(held);
    std::fs::remove_file(&lock).unwrap();
    ok(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
    // nobody's CA in a directory only root may write: the lock cannot be created.
    let theirs = tmp.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    chown(&theirs, NOBODY);
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_fedca"))
        .args(["init", "--ca-dir", s(&theirs)])
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv (util-linux) is required");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(".theirs.lock") && stderr.contains("beside the CA directory"),
        "{stderr}"
    );
}

/// Finding 7: --ca-dir is resolved once: init --force through a symbolic link replaces
/// the CA it points to (the link stays), an interrupted init through the link leaves
/// nothing the next command does not sweep, and `x/../ca` creates no `x`.
#[test]
fn ca_dir_symlink_is_resolved_once() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    let links = tmp.path().join("links");
    std::fs::create_dir(&real).unwrap();
    std::fs::create_dir(&links).unwrap();
    let ca = real.join("ca");
    init(&ca);
    let old_root = read(ca.join("root.pem"));
    let link = links.join("ca");
    std::os::unix::fs::symlink(&ca, &link).unwrap();
    ok(&["init", "--force", "--ca-dir", s(&link)]);
    assert!(link.is_symlink(), "init --force replaced the link");
    assert_ne!(read(ca.join("root.pem")), old_root);
    let aside = replaced(&ca);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(read(aside[0].join("root.pem")), old_root);
    assert_eq!(std::fs::read_dir(&links).unwrap().count(), 1);
    // An init killed after staging its new CA (root key included).
    let out = fedca()
        .env("FEDCA_CRASH_AT", "init-staged")
        .args(["init", "--force", "--ca-dir", s(&link)])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the crash hook did not fire");
    ok(&["issue", "hs1.fed.test", "--ca-dir", s(&link)]);
    for d in [&real, &links] {
        for e in std::fs::read_dir(d).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(
                !name.starts_with(".fedca-init-"),
                "stranded {name} in {}",
                d.display()
            );
        }
    }
    let dotted = tmp.path().join("x/../ca3");
    ok(&["init", "--ca-dir", s(&dotted)]);
    assert!(tmp.path().join("ca3/root.pem").is_file());
    assert!(!tmp.path().join("x").exists(), "a stray x was created");
}

/// Finding 8: leftover `init` directories are removed only when they hold nothing but
/// fedca's own files; one holding anything else is left alone.
#[test]
fn init_leftovers_holding_other_files_are_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init(&ca);
    let unmarked = tmp.path().join(".fedca-init-ca.Ab12Cd");
    std::fs::create_dir(&unmarked).unwrap();
    std::fs::write(unmarked.join("important.txt"), "data").unwrap();
    let marked = tmp.path().join(".fedca-init-ca.Xy34Zw");
    std::fs::create_dir(&marked).unwrap();
    std::fs::write(marked.join(".fedca-new"), "").unwrap();
    std::fs::write(marked.join("important.txt"), "data").unwrap();
    ok(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
    assert_eq!(read(unmarked.join("important.txt")), "data");
    assert_eq!(read(marked.join("important.txt")), "data");
}

/// Finding 9(a): trust --out waits for its directory lock no longer than the CA lock
/// does, then fails with a clear error (it used to hang forever).
#[test]
fn trust_out_lock_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init(&ca);
    let out_dir = tmp.path().join("trust-out");
    std::fs::create_dir(&out_dir).unwrap();
    let held = std::fs::File::open(&out_dir).unwrap();
    held.lock().unwrap();
    let mut child = fedca()
        .env("FEDCA_LOCK_TIMEOUT", "1")
        .args([
            "trust",
            "--for",
            "system",
            "--ca-dir",
            s(&ca),
            "--out",
            s(&out_dir),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut waited = 0;
    while child.try_wait().unwrap().is_none() {
        if waited > 600 {
            child.kill().unwrap();
            panic!("trust --out still waits for its lock after 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("lock") && stderr.contains(s(&out_dir)),
        "{stderr}"
    );
    drop(held);
}

/// Issue 10: `renew --all` (eight servers, three with their files under an `--out`
/// directory, one revoked) killed with SIGKILL at 120 random points and once at each
/// named crash point: after each, `list` works and the next locking command leaves a
/// consistent CA (every current server's served pair is its committed, matching pair),
/// the revoked server is still revoked and not renewed, and every server has exactly
/// one current certificate.
#[test]
fn sigkill_during_renew_all_leaves_a_consistent_ca() {
    let mount = tmpfs("256m");
    let ca = mount.0.join("ca");
    let out = mount.0.join("etc-tls");
    init(&ca);
    let inside: Vec<String> = (0..5).map(|i| format!("r{i}.fed.test")).collect();
    let outside: Vec<String> = (0..3).map(|i| format!("o{i}.fed.test")).collect();
    let mut args = vec!["issue".to_string()];
    args.extend(inside.iter().cloned());
    args.extend(["--ca-dir".into(), s(&ca).into()]);
    ok(&args);
    let mut args = vec!["issue".to_string()];
    args.extend(outside.iter().cloned());
    args.extend([
        "--out".into(),
        s(&out).into(),
        "--ca-dir".into(),
        s(&ca).into(),
    ]);
    ok(&args);
    ok(&["revoke", "r4.fed.test", "--ca-dir", s(&ca)]);
    let revocations = read(ca.join("revocations.jsonl"));
    let renew: Vec<String> = ["renew", "--all", "--force", "--ca-dir", s(&ca)]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let check = |ca: &Path| {
        check_after_kill(ca, "r0.fed.test");
        assert_eq!(read(ca.join("revocations.jsonl")), revocations);
        let list: serde_json::Value =
            serde_json::from_str(&ok(&["list", "--json", "--ca-dir", s(ca)])).unwrap();
        for server in inside.iter().chain(&outside) {
            let current: Vec<_> = list
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["server"] == server.as_str() && e["status"] != "superseded")
                .collect();
            assert_eq!(current.len(), 1, "{server}: {current:?}");
            let want = if server == "r4.fed.test" {
                "revoked"
            } else {
                "valid"
            };
            assert_eq!(current[0]["status"], want, "{server}");
        }
    };
    for point in ["after-swap", "after-index"] {
        let status = fedca()
            .env("FEDCA_CRASH_AT", point)
            .args(&renew)
            .output()
            .unwrap()
            .status;
        assert!(!status.success(), "{point}: the crash hook did not fire");
        check(&ca);
    }
    let mut rng = Rng::new();
    let current_serials = |ca: &Path| -> HashSet<String> {
        let list: serde_json::Value =
            serde_json::from_str(&ok(&["list", "--json", "--ca-dir", s(ca)])).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"] == "valid")
            .map(|e| e["serial"].as_str().unwrap().to_string())
            .collect()
    };
    let (mut none, mut partial, mut all) = (0, 0, 0);
    for _ in 0..120 {
        let before = current_serials(&ca);
        // An uninterrupted run takes about 150 ms here: kills land all along it.
        kill_after(&renew, Duration::from_millis(rng.below(201)));
        let kept = before.intersection(&current_serials(&ca)).count();
        match kept {
            0 => all += 1,
            k if k == before.len() => none += 1,
            _ => partial += 1,
        }
        check(&ca);
    }
    eprintln!("killed renewals: {none} before any server, {partial} part-way, {all} after all");
    // Finally an uninterrupted run renews every server but the revoked one.
    let report: serde_json::Value =
        serde_json::from_str(&ok(&[renew.clone(), vec!["--json".into()]].concat())).unwrap();
    assert_eq!(report["renewed"].as_array().unwrap().len(), 7, "{report}");
    assert_eq!(report["skipped_revoked"][0], "r4.fed.test");
    check(&ca);
}
