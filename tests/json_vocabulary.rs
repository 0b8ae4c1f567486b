//! One JSON vocabulary across every `--json` output (issue 9, item 7), checked against
//! docs/json.md: every command is run with `--json`; every field it prints must be named
//! in docs/json.md, and every field of the vocabulary must have its documented format
//! wherever it appears (`status` is a certificate's status everywhere, times are RFC
//! 3339 UTC, fingerprints 64 hex digits, …). The retired `state` appears nowhere.

use std::collections::BTreeSet;

use serde_json::Value;

mod common;

fn fedca_json(args: &[&str], code: i32) -> Value {
    let out = common::run(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "fedca {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fedca {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

/// The vocabulary's format rule for `key`, if it has one: Err(reason) when `v` breaks it.
fn check(key: &str, v: &Value) -> Result<(), String> {
    let s = v.as_str();
    let ok = match key {
        "state" => return Err("`state` is retired: use `status`".into()),
        "serial" => s.is_some_and(is_hex),
        "supersedes" => v.is_null() || s.is_some_and(is_hex),
        "not_before" | "not_after" | "at" => v.is_null() || s.is_some_and(is_rfc3339_utc),
        "sha256" | "root_sha256" => s.is_some_and(|s| s.len() == 64 && is_hex(s)),
        "status" => s.is_some_and(|s| {
            ["valid", "expired", "not_yet_valid", "superseded", "revoked"].contains(&s)
        }),
        "key_type" => s.is_some_and(|s| ["ecdsa-p256", "ecdsa-p384", "ed25519"].contains(&s)),
        "names" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        "ok" | "valid" => v.is_boolean(),
        "mode" => s.is_some_and(|s| {
            s.len() == 4 && s.starts_with('0') && s.bytes().all(|b| (b'0'..=b'7').contains(&b))
        }),
        "http_status" => v.is_null() || v.is_u64(),
        "server" | "server_name" => v.is_null() || v.is_string(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{v} breaks the format of `{key}`"))
    }
}

/// Walks `v`, checking every field and collecting every field name.
fn walk(cmd: &str, v: &Value, path: &str, keys: &mut BTreeSet<String>, errors: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                keys.insert(k.clone());
                if let Err(e) = check(k, x) {
                    errors.push(format!("{cmd}: {path}.{k}: {e}"));
                }
                walk(cmd, x, &format!("{path}.{k}"), keys, errors);
            }
        }
        Value::Array(a) => {
            for x in a {
                walk(cmd, x, &format!("{path}[]"), keys, errors);
            }
        }
        _ => {}
    }
}

/// The words inside the code spans (`...`) of a Markdown text: where docs/json.md
/// names fields.
fn code_words(doc: &str) -> BTreeSet<String> {
    doc.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|span| {
            span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_json_output_speaks_the_documented_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let c = ca.to_str().unwrap();
    let chain = ca.join("servers/hs1.fed.test/fullchain.pem");
    let ch = chain.to_str().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let pem = tmp.path().join("pem");
    let p = pem.to_str().unwrap();
    let mut outputs: Vec<(String, Value)> = Vec::new();
    let mut run = |args: &[&str], code: i32| {
        outputs.push((args.join(" "), fedca_json(args, code)));
    };
    run(
        &[
            "init",
            "--ca-dir",
            c,
            "--permit",
            "fed.test",
            "--permit",
            "127.0.0.0/8",
            "--json",
        ],
        0,
    );
    run(
        &[
            "issue",
            "hs1.fed.test",
            "127.0.0.1:8448",
            "--ca-dir",
            c,
            "--json",
        ],
        0,
    );
    run(
        &[
            "issue",
            "hs1.fed.test",
            "--delegate",
            "matrix.hs1.fed.test",
            "--ca-dir",
            c,
            "--json",
        ],
        0,
    );
    run(&["list", "--ca-dir", c, "--json"], 0);
    run(
        &[
            "trust",
            "--for",
            "synapse",
            "--server",
            "hs1.fed.test",
            "--ca-dir",
            c,
            "--out",
            o,
            "--tls-at",
            "proxy",
            "--json",
        ],
        0,
    );
    run(
        &["trust", "--for", "pem", "--ca-dir", c, "--out", p, "--json"],
        0,
    );
    run(
        &[
            "verify",
            "--name",
            "hs1.fed.test",
            "--ca-dir",
            c,
            ch,
            "--json",
        ],
        0,
    );
    run(
        &[
            "verify",
            "--name",
            "hs9.fed.test",
            "--ca-dir",
            c,
            ch,
            "--json",
        ],
        1,
    );
    run(&["inspect", "--lint", ch, "--json"], 0);
    run(&["inspect", &format!("{c}/root.pem"), "--json"], 0);
    run(&["demo", "--json"], 0);
    // Nothing listens on port 1: the report of a failed probe.
    run(
        &[
            "probe",
            "127.0.0.1:1",
            "--ca-dir",
            c,
            "--timeout",
            "2",
            "--json",
        ],
        1,
    );

    // A network from a spec: the plan alone, then carried out.
    let spec = tmp.path().join("lab.yaml");
    std::fs::copy(common::repo().join("examples/lab.yaml"), &spec).unwrap();
    let sp = spec.to_str().unwrap();
    run(&["apply", sp, "--dry-run", "--json"], 0);
    run(&["apply", sp, "--json"], 0);

    let doc = std::fs::read_to_string(common::repo().join("docs/json.md")).unwrap();
    let documented = code_words(&doc);
    let mut errors = Vec::new();
    for (cmd, v) in &outputs {
        let mut keys = BTreeSet::new();
        walk(cmd, v, "", &mut keys, &mut errors);
        for k in keys {
            if !documented.contains(&k) {
                errors.push(format!("{cmd}: field `{k}` is not in docs/json.md"));
            }
        }
    }
    // The certificate a renewal replaced is named, in `status`'s vocabulary.
    let issued = &outputs[2].1[0];
    assert_eq!(issued["status"], "valid", "{issued}");
    assert_eq!(issued["supersedes"], outputs[1].1[0]["serial"], "{issued}");
    let list = &outputs[3].1;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|e| e["status"] == "superseded"),
        "{list}"
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
