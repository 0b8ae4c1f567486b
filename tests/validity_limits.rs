//! The 398-day leaf limit is checked where --validity / --leaf-validity are parsed:
//! exit 2, the option and the value as given named, nothing written.

mod common;

use common::{ok, run, snapshot};

#[test]
fn a_leaf_validity_over_398_days_is_bad_input_where_it_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let c = ca.to_str().unwrap();
    ok(&["init", "--ca-dir", c, "--permit", "fed.test"]);
    let before = snapshot(tmp.path());
    let fresh = tmp.path().join("fresh");
    let f = fresh.to_str().unwrap();
    let mut cases: Vec<(Vec<&str>, &str)> = Vec::new();
    for v in ["399d", "57w", "2y", "9553h"] {
        cases.push((
            vec!["issue", "hs1.fed.test", "--validity", v, "--ca-dir", c],
            "--validity",
        ));
        cases.push((
            vec!["init", "--leaf-validity", v, "--ca-dir", f],
            "--leaf-validity",
        ));
    }
    for (args, option) in &cases {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        let value = args[args.iter().position(|a| a == option).unwrap() + 1];
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("{option} \"{value}\"")) && err.contains("398 days"),
            "{args:?}: {err:?} does not name {option} {value} and the 398-day rule"
        );
        assert!(!fresh.exists(), "{args:?} created {f}");
    }
    common::assert_unchanged(&before, &snapshot(tmp.path()), "over-long validity");
    // The limit itself is allowed, in every unit.
    for v in ["398d", "56w", "9552h"] {
        ok(&["issue", "hs1.fed.test", "--validity", v, "--ca-dir", c]);
    }
    let d = tmp.path().join("ok");
    ok(&[
        "init",
        "--leaf-validity",
        "398d",
        "--ca-dir",
        d.to_str().unwrap(),
    ]);
    ok(&["issue", "hs1.fed.test", "--ca-dir", d.to_str().unwrap()]);
}

#[test]
fn a_ca_whose_policy_holds_a_longer_leaf_validity_says_so_before_signing() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let c = ca.to_str().unwrap();
    ok(&["init", "--ca-dir", c, "--permit", "fed.test"]);
    // As `init --leaf-validity 5y` left it before the option was checked.
    let policy = ca.join("policy.json");
    let text = common::read(&policy).replace("\"90d\"", "\"5y\"");
    assert!(text.contains("\"leaf_validity\": \"5y\""), "{text}");
    std::fs::write(&policy, text).unwrap();
    let before = snapshot(&ca);
    let out = run(&["issue", "hs1.fed.test", "--ca-dir", c]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("leaf_validity in policy.json \"5y\"")
            && err.contains("398 days")
            && err.contains("--validity"),
        "{err}"
    );
    common::assert_unchanged(&before, &snapshot(&ca), "policy over the limit");
    ok(&["issue", "hs1.fed.test", "--validity", "90d", "--ca-dir", c]);
}
