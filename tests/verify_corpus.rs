//! Every case of the broken-chain corpus (tests/data/broken/manifest.json, made with
//! openssl, never fedca): `fedca verify --json` must give exactly the manifest's kind,
//! a detail that mentions each `detail_contains` fact (case-insensitively), exit 1,
//! and a one-line text diagnosis.

mod common;

use common::{corpus, json, read, run};
use serde_json::Value;

#[test]
fn every_corpus_case_gets_its_diagnosis() {
    let dir = corpus();
    let manifest: Value = serde_json::from_str(&read(dir.join("manifest.json"))).unwrap();
    let cases = manifest.as_array().expect("the manifest is a list");
    assert!(cases.len() >= 15, "the corpus has at least 15 cases");
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for c in cases {
        let case = c["case"].as_str().unwrap();
        let want = c["kind"].as_str().unwrap();
        kinds.insert(want.to_string());
        let chain = dir.join(c["chain"].as_str().unwrap());
        let trust = dir.join(c["trust"].as_str().unwrap());
        let name = c["name"].as_str().unwrap();
        let mut args = vec![
            "verify".to_string(),
            "--json".into(),
            "--name".into(),
            name.into(),
            "--trust".into(),
            trust.display().to_string(),
            chain.display().to_string(),
        ];
        if let Some(at) = c["at"].as_str() {
            args.push("--at".into());
            args.push(at.into());
        }
        let out = run(&args);
        let v = json(&out);
        let got = v["error"]["kind"].as_str().unwrap_or("(valid)");
        let detail = v["error"]["detail"].as_str().unwrap_or("");
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit {:?}, want 1", out.status.code()));
        }
        if v["valid"] != false {
            problems.push("valid is not false".to_string());
        }
        if got != want {
            problems.push(format!("kind {got}, want {want}"));
        }
        for fact in c["detail_contains"].as_array().unwrap() {
            let fact = fact.as_str().unwrap();
            if !detail.to_lowercase().contains(&fact.to_lowercase()) {
                problems.push(format!("detail lacks {fact:?}"));
            }
        }
        if detail.contains('\n') || detail.is_empty() {
            problems.push("the detail is not one line".to_string());
        }
        // The text form: the first line is the diagnosis.
        let text = run(&args[..1]
            .iter()
            .chain(args[2..].iter())
            .cloned()
            .collect::<Vec<_>>());
        let text = String::from_utf8_lossy(&text.stdout).into_owned();
        let first = text.lines().next().unwrap_or("");
        if !(first.starts_with("invalid: ") && first.contains(want)) {
            problems.push(format!("text output starts {first:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{case}: {}\n    detail: {detail}",
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // The corpus covers every diagnosis the issue asks for.
    for k in [
        "unknown_issuer",
        "missing_intermediate",
        "expired",
        "not_yet_valid",
        "expired_intermediate",
        "name_mismatch",
        "no_san",
        "name_constraint_violation",
        "wrong_eku",
        "wrong_key_usage",
        "ca_as_leaf",
        "intermediate_not_ca",
        "path_length_exceeded",
        "bad_signature",
        "unsupported_signature_algorithm",
        "malformed",
    ] {
        assert!(kinds.contains(k), "no corpus case of kind {k}");
    }
}
