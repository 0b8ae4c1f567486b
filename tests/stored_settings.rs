//! A server's settings are stored and re-issuing keeps them (issue 10, first bullet),
//! and a CA directory written the old way — a rewritten index with stored states, no
//! stored settings, a one-server journal — keeps working (issue 11).

mod common;

use std::path::Path;

use common::{init_with_hs2_of_every_setting, ok, read, s};

fn list(ca: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&ok(&["list", "--json", "--ca-dir", s(ca)])).unwrap()
}

fn index(ca: &Path) -> Vec<serde_json::Value> {
    read(ca.join("index.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn valid<'a>(entries: &'a [serde_json::Value], server: &str) -> Vec<&'a serde_json::Value> {
    entries
        .iter()
        .filter(|e| e["server"] == server && e["status"] == "valid")
        .collect()
}

#[test]
fn a_plain_reissue_keeps_every_setting_and_a_move_never_leaves_two_valid_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let out = tmp.path().join("etc-tls");
    init_with_hs2_of_every_setting(&ca, &out);
    let first = index(&ca);
    assert_eq!(first[0]["alts"], serde_json::json!(["hs2-admin.fed.test"]));
    assert_eq!(first[0]["validity"], "30d");
    ok(&["issue", "hs2.fed.test", "--ca-dir", s(&ca)]);
    let second = index(&ca);
    assert_eq!(second.len(), 2);
    for field in ["names", "delegate", "key_type", "path", "alts", "validity"] {
        assert_eq!(second[1][field], first[0][field], "{field} kept");
    }
    assert!(
        !ca.join("servers/hs2.fed.test").exists(),
        "a copy under servers/"
    );
    let entries = list(&ca);
    assert_eq!(valid(&entries, "hs2.fed.test").len(), 1);
    // Different settings: what changes is said, and the old copy is superseded.
    let res = common::fedca()
        .args([
            "issue",
            "hs2.fed.test",
            "--alt",
            "hs2-admin.fed.test",
            "--ca-dir",
            s(&ca),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    for want in [
        "names removed: matrix.hs2.fed.test",
        "key type ed25519 -> ecdsa-p256",
        "output directory",
        "servers/hs2.fed.test",
    ] {
        assert!(stderr.contains(want), "missing {want:?}: {stderr}");
    }
    let entries = list(&ca);
    let v = valid(&entries, "hs2.fed.test");
    assert_eq!(v.len(), 1, "{entries:?}");
    assert_eq!(v[0]["path"], "servers/hs2.fed.test");
}

/// A CA directory as fedca wrote it before the append-only index: an index rewritten
/// on every issuance with each record's state stored, no stored settings, and a
/// one-server journal from a crash.
#[test]
fn a_ca_written_the_old_way_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    ok(&["init", "--ca-dir", s(&ca), "--permit", "fed.test"]);
    ok(&[
        "issue",
        "hs1.fed.test",
        "--delegate",
        "matrix.hs1.fed.test:443",
        "--alt",
        "hs1-admin.fed.test",
        "--key",
        "ed25519",
        "--ca-dir",
        s(&ca),
    ]);
    ok(&["issue", "hs3.fed.test", "--ca-dir", s(&ca)]);
    let now = index(&ca);
    let (hs1, hs3) = (&now[0], &now[1]);
    // The old format: exactly these fields, in this order, states stored.
    let old = |r: &serde_json::Value, serial: &str, state: &str| {
        let mut line = format!(
            "{{\"serial\":\"{serial}\",\"server\":{},\"names\":{}",
            r["server"], r["names"]
        );
        if !r["delegate"].is_null() {
            line.push_str(&format!(",\"delegate\":{}", r["delegate"]));
        }
        line.push_str(&format!(
            ",\"not_before\":{},\"not_after\":{},\"state\":\"{state}\",\"path\":{},\"key_type\":{},\"sha256\":{}}}\n",
            r["not_before"], r["not_after"], r["path"], r["key_type"], r["sha256"]
        ));
        line
    };
    let serial = |r: &serde_json::Value| r["serial"].as_str().unwrap().to_string();
    let mut text = String::new();
    // An earlier hs1 certificate, superseded the old way (stored).
    std::fs::copy(
        ca.join(format!("certs/{}.pem", serial(hs1))),
        ca.join("certs/0abc.pem"),
    )
    .unwrap();
    text.push_str(&old(hs1, "0abc", "superseded"));
    text.push_str(&old(hs1, &serial(hs1), "active"));
    text.push_str(&old(hs3, &serial(hs3), "revoked"));
    std::fs::write(ca.join("index.jsonl"), &text).unwrap();

    let entries = list(&ca);
    let status: Vec<_> = entries
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["superseded", "valid", "revoked"]);
    let trust = tmp.path().join("hs1-conf");
    ok(&[
        "trust",
        "--for",
        "synapse",
        "--server",
        "hs1.fed.test",
        "--out",
        s(&trust),
        "--ca-dir",
        s(&ca),
    ]);
    assert!(trust.join("homeserver-fedca.yaml").is_file());
    // A plain re-issue keeps what the old record has: names, delegate, key type, path.
    ok(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
    let after = index(&ca);
    assert_eq!(after.len(), 4);
    assert_eq!(after[3]["names"], hs1["names"]);
    assert_eq!(after[3]["delegate"], hs1["delegate"]);
    assert_eq!(after[3]["key_type"], "ed25519");
    assert_eq!(after[3]["alts"], serde_json::json!(["hs1-admin.fed.test"]));
    assert_eq!(
        read(ca.join("index.jsonl")).find(&text),
        Some(0),
        "appended, not rewritten"
    );
    let entries = list(&ca);
    let status: Vec<_> = entries
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["superseded", "superseded", "revoked", "valid"]);

    // A one-server journal of the old format, from a crash after the swap of a first
    // issuance, still rolls back.
    let staged = ca.join("servers/hs5.fed.test");
    std::fs::create_dir(&staged).unwrap();
    // Its certificate (any PEM no record names), archived as the journal's serial.
    let pem = read(ca.join("root.pem"));
    for f in ["cert.pem", "fullchain.pem", "key.pem", "ca.pem"] {
        std::fs::write(staged.join(f), &pem).unwrap();
    }
    std::fs::write(ca.join("certs/beef.pem"), &pem).unwrap();
    std::fs::write(
        ca.join("journal.json"),
        serde_json::json!({
            "serial": "beef", "target": "servers/hs5.fed.test",
            "staging": "servers/.staging-beef", "backup": "servers/.backup-beef",
            "target_existed": false,
        })
        .to_string(),
    )
    .unwrap();
    ok(&["issue", "hs6.fed.test", "--ca-dir", s(&ca)]);
    assert!(!staged.exists());
    assert!(!ca.join("certs/beef.pem").exists());
    assert!(!ca.join("journal.json").exists());
}

/// Revocations are read from the append-only revocations.jsonl (what `fedca revoke`
/// writes): a listed serial is revoked whatever the index says.
#[test]
fn revocations_file_makes_a_record_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    ok(&["init", "--ca-dir", s(&ca), "--permit", "fed.test"]);
    ok(&["issue", "hs1.fed.test", "hs2.fed.test", "--ca-dir", s(&ca)]);
    let serial = index(&ca)[1]["serial"].as_str().unwrap().to_string();
    std::fs::write(
        ca.join("revocations.jsonl"),
        format!("{{\"serial\":\"{serial}\",\"revoked_at\":\"2026-01-01T00:00:00Z\",\"reason\":\"key-compromise\"}}\n"),
    )
    .unwrap();
    let entries = list(&ca);
    assert_eq!(entries[0]["status"], "valid");
    assert_eq!(entries[1]["status"], "revoked");
}
