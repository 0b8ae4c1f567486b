//! A CA directory written by an earlier fedca (tests/data/stored-ca, made by the build
//! before `IndexRecord` was typed) keeps working: the current fedca prints the same
//! `list` and `status` for it as that fedca did, reads it without changing a byte, and
//! can still issue and renew in it with each server's stored settings.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{assert_unchanged, ok, read, run, s, snapshot};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/stored-ca")
}

/// Copies `from` to `to` with the modes fedca insists on (git keeps none): directories
/// 0700, private keys 0600, everything else 0644.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let mode = if name.ends_with("key.pem") {
                0o600
            } else {
                0o644
            };
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

/// The fixture's CA, copied into `tmp`.
fn stored_ca(tmp: &Path) -> PathBuf {
    let ca = tmp.join("ca");
    copy_tree(&fixture().join("ca"), &ca);
    ca
}

fn time_of(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("a time"), &Rfc3339).expect("an RFC 3339 time")
}

const NOW_DEPENDENT: [&str; 3] = ["valid", "expired", "not_yet_valid"];

/// Replaces the `status` of `e` by a placeholder when it depends on the time of the
/// run; with `now`, first checks it is what the entry's dates give at `now`.
fn normalise_entry(e: &mut Value, now: Option<OffsetDateTime>) {
    let status = e["status"].as_str().expect("a status").to_string();
    if !NOW_DEPENDENT.contains(&status.as_str()) {
        return;
    }
    if let Some(now) = now {
        let (nb, na) = (time_of(&e["not_before"]), time_of(&e["not_after"]));
        let want = if now > na {
            "expired"
        } else if now < nb {
            "not_yet_valid"
        } else {
            "valid"
        };
        assert_eq!(status, want, "status of {e}");
    }
    e["status"] = "<depends on now>".into();
}

/// `status --json` without what depends on the time of the run (checked against the
/// dates first, with `now`).
fn normalise_status(report: &mut Value, now: Option<OffsetDateTime>) {
    let mut any_bad = false;
    for srv in report["servers"].as_array_mut().expect("servers") {
        if let Some(now) = now {
            let due = srv["status"] != "revoked" && now >= time_of(&srv["renew_after"]);
            assert_eq!(srv["due"], due, "due of {srv}");
            any_bad |= due || now > time_of(&srv["not_after"]);
        }
        srv["due"] = "<depends on now>".into();
        normalise_entry(srv, now);
    }
    if now.is_some() {
        assert_eq!(report["ok"], !any_bad, "ok of {report}");
        time_of(&report["checked_at"]);
    }
    let o = report.as_object_mut().unwrap();
    o.remove("ok");
    o.remove("checked_at");
}

/// A text table with its time-dependent columns blanked: the status (13 wide) of a
/// line whose status depends on the time, with `due_column` the DUE column (4 wide),
/// and the closing summary of `status`.
fn normalise_text(text: &str, due_column: bool) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("all current certificates valid") || line.contains("due for renewal") {
            continue;
        }
        let first = line.split(' ').next().unwrap_or("");
        let mut l = line.to_string();
        if NOW_DEPENDENT.contains(&first) {
            l.replace_range(..13, &format!("{:<13}", "<now>"));
        }
        if due_column && (NOW_DEPENDENT.contains(&first) || first == "revoked") && l.len() > 18 {
            l.replace_range(14..18, "<?> ");
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn expected(name: &str) -> String {
    read(fixture().join("expected").join(name))
}

/// Runs fedca, allowing exit 1 (`status` once something is due), never 2 or a crash.
fn output(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "fedca {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn list_and_status_print_what_the_fedca_that_wrote_the_ca_printed_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = stored_ca(tmp.path());
    let before = snapshot(&ca);
    let now = OffsetDateTime::now_utc();

    let mut got: Value =
        serde_json::from_str(&output(&["list", "--json", "--ca-dir", s(&ca)])).unwrap();
    let mut want: Value = serde_json::from_str(&expected("list.json")).unwrap();
    for e in got.as_array_mut().unwrap() {
        normalise_entry(e, Some(now));
    }
    for e in want.as_array_mut().unwrap() {
        normalise_entry(e, None);
    }
    assert_eq!(got, want, "list --json");
    assert_eq!(got.as_array().unwrap().len(), 12);

    let mut got: Value =
        serde_json::from_str(&output(&["status", "--json", "--ca-dir", s(&ca)])).unwrap();
    let mut want: Value = serde_json::from_str(&expected("status.json")).unwrap();
    normalise_status(&mut got, Some(now));
    normalise_status(&mut want, None);
    assert_eq!(got, want, "status --json");

    assert_eq!(
        normalise_text(&output(&["list", "--ca-dir", s(&ca)]), false),
        normalise_text(&expected("list.txt"), false),
        "list"
    );
    assert_eq!(
        normalise_text(&output(&["status", "--ca-dir", s(&ca)]), true),
        normalise_text(&expected("status.txt"), true),
        "status"
    );
    // Read-only commands change nothing: index.jsonl and every other file, byte for byte.
    assert_unchanged(&before, &snapshot(&ca), "list and status");
    assert_eq!(
        std::fs::read(ca.join("index.jsonl")).unwrap(),
        std::fs::read(fixture().join("ca/index.jsonl")).unwrap()
    );
}

fn index(ca: &Path) -> Vec<Value> {
    read(ca.join("index.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The newest record of `server`.
fn newest(ca: &Path, server: &str) -> Value {
    index(ca)
        .into_iter()
        .rev()
        .find(|r| r["server"] == server)
        .unwrap_or_else(|| panic!("no record for {server}"))
}

#[test]
fn issue_and_renew_work_in_the_stored_ca_and_keep_each_servers_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = stored_ca(tmp.path());
    let old_index = std::fs::read(ca.join("index.jsonl")).unwrap();

    ok(&["issue", "new.fed.test", "--ca-dir", s(&ca)]);
    let after_issue = std::fs::read(ca.join("index.jsonl")).unwrap();
    assert!(
        after_issue.starts_with(&old_index),
        "issue rewrote the earlier records"
    );
    assert_eq!(newest(&ca, "new.fed.test")["key_type"], "ecdsa-p256");

    // Renewal re-issues each server with the settings its old record stores.
    let servers = [
        "hs1.fed.test",
        "10.0.0.7:8448",
        "[fd00::7]",
        "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion",
        "deleg.fed.test",
        "alt.fed.test",
        "ed.fed.test",
        "renewed.fed.test",
    ];
    let olds: Vec<Value> = servers.iter().map(|n| newest(&ca, n)).collect();
    let mut args = vec!["renew", "--force", "--json", "--ca-dir", s(&ca)];
    args.extend(servers);
    let report: Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(
        report["renewed"].as_array().unwrap().len(),
        servers.len(),
        "{report}"
    );
    // --reuse-key reads the stored key type (ecdsa-p384) and checks the key against it.
    let p384_key = std::fs::read(ca.join("servers/p384.fed.test/key.pem")).unwrap();
    ok(&[
        "renew",
        "p384.fed.test",
        "--force",
        "--reuse-key",
        "--ca-dir",
        s(&ca),
    ]);
    assert_eq!(
        std::fs::read(ca.join("servers/p384.fed.test/key.pem")).unwrap(),
        p384_key
    );
    assert_eq!(newest(&ca, "p384.fed.test")["key_type"], "ecdsa-p384");

    let after = read(ca.join("index.jsonl"));
    assert!(after.as_bytes().starts_with(&after_issue));
    for (name, old) in servers.iter().zip(&olds) {
        let new = newest(&ca, name);
        assert_ne!(new["serial"], old["serial"], "{name} was not renewed");
        for field in ["names", "delegate", "path", "key_type", "alts", "validity"] {
            assert_eq!(new[field], old[field], "{name}: {field}");
        }
    }
    let alt = newest(&ca, "alt.fed.test");
    let days = (time_of(&alt["not_after"]) - time_of(&alt["not_before"])).whole_hours();
    assert_eq!(
        days,
        30 * 24 + 1,
        "alt.fed.test keeps its 30d validity (plus the backdating)"
    );

    // Everything renewed is listed valid; the old records superseded; the revoked stays.
    let list: Vec<Value> =
        serde_json::from_str(&ok(&["list", "--json", "--ca-dir", s(&ca)])).unwrap();
    for old in olds {
        let e = list.iter().find(|e| e["serial"] == old["serial"]).unwrap();
        assert_eq!(e["status"], "superseded", "{e}");
    }
    let revoked = list
        .iter()
        .find(|e| e["server"] == "revoked.fed.test")
        .unwrap();
    assert_eq!(revoked["status"], "revoked");
}

/// Every file under `dir`, relative path to text with `dir`'s path replaced by @OUT@.
fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    snapshot(dir)
        .into_iter()
        .filter(|(rel, _)| !dir.join(rel).is_dir())
        .map(|(rel, (bytes, _))| {
            let text = String::from_utf8(bytes).expect("utf-8 output");
            (rel, text.replace(s(dir), "@OUT@"))
        })
        .collect()
}

/// `trust` reads the stored records (the server's delegate, dates and files, the whole
/// federation's names) and writes and prints what the fedca that wrote the CA did.
#[test]
fn trust_writes_what_the_fedca_that_wrote_the_ca_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = stored_ca(tmp.path());
    let now = OffsetDateTime::now_utc();
    for (target, server) in [("synapse", "deleg.fed.test"), ("dendrite", "[fd00::7]")] {
        let out = tmp.path().join(format!("trust-{target}"));
        let printed = ok(&[
            "trust",
            "--json",
            "--for",
            target,
            "--server",
            server,
            "--out",
            s(&out),
            "--ca-dir",
            s(&ca),
        ]);
        let mut got: Value = serde_json::from_str(&printed.replace(s(&out), "@OUT@")).unwrap();
        // Once the fixture's certificate has expired, trust says so: the one difference
        // the time of the run makes.
        let expired = now > time_of(&newest(&ca, server)["not_after"]);
        let notes = got["notes"].as_array_mut().unwrap();
        let before = notes.len();
        notes.retain(|n| !n.as_str().unwrap().contains("'s certificate expired at"));
        assert_eq!(
            before - notes.len(),
            usize::from(expired),
            "{target}: {notes:?}"
        );
        let want: Value = serde_json::from_str(&expected(&format!("trust-{target}.json"))).unwrap();
        assert_eq!(got, want, "trust --for {target} --json");
        let want_tree = tree(&fixture().join("expected").join(format!("trust-{target}")));
        assert!(want_tree.len() >= 6, "{want_tree:?}");
        assert_eq!(tree(&out), want_tree, "trust --for {target}: the files");
    }
}

/// A server signed from a CSR (`rsa.fed.test`: an RSA key fedca never held) does not
/// stop `renew --all`: it is skipped and named, the others are renewed. Renewing it by
/// name is bad input naming `fedca sign-csr`, with nothing written; `fedca issue` gives
/// it a key of the CA's default type. (Before: `renew --all --force` and `issue
/// rsa.fed.test` both failed with "bad key type rsa-2048".)
#[test]
fn a_server_signed_from_a_csr_is_skipped_by_renew_and_reissued_by_issue() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = stored_ca(tmp.path());
    assert_eq!(newest(&ca, "rsa.fed.test")["key_type"], "rsa-2048");

    let before = snapshot(&ca);
    let out = run(&["renew", "rsa.fed.test", "--force", "--ca-dir", s(&ca)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("rsa.fed.test") && err.contains("fedca sign-csr"),
        "{err}"
    );
    assert_unchanged(&before, &snapshot(&ca), "a refused renew");

    let report: Value = serde_json::from_str(&ok(&[
        "renew",
        "--all",
        "--force",
        "--json",
        "--ca-dir",
        s(&ca),
    ]))
    .unwrap();
    assert_eq!(report["skipped_csr"], serde_json::json!(["rsa.fed.test"]));
    assert!(report["failed"].as_array().unwrap().is_empty(), "{report}");
    let renewed: Vec<&str> = report["renewed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["server"].as_str().unwrap())
        .collect();
    assert!(
        renewed.contains(&"hs1.fed.test") && !renewed.contains(&"rsa.fed.test"),
        "{renewed:?}"
    );
    assert!(!renewed.contains(&"revoked.fed.test"), "{renewed:?}");

    ok(&["issue", "rsa.fed.test", "--ca-dir", s(&ca)]);
    let now = newest(&ca, "rsa.fed.test");
    assert_eq!(now["key_type"], "ecdsa-p256");
    let dir = PathBuf::from(now["path"].as_str().unwrap());
    let dir = if dir.is_absolute() { dir } else { ca.join(dir) };
    assert!(
        dir.join("key.pem").is_file(),
        "no key.pem in {}",
        dir.display()
    );
}
