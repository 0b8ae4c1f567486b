//! Server names that differ only in case are one server (issue 9, item 9): DNS and
//! certificate name matching ignore case, so `fedca issue` refuses the second, naming
//! the first, and changes nothing; the same name again is a renewal.

mod common;

#[test]
fn a_server_name_differing_only_in_case_is_refused_naming_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let c = ca.to_str().unwrap();
    common::ok(&["init", "--ca-dir", c, "--permit", "fed.test"]);
    common::ok(&["issue", "HS4.FED.TEST", "--ca-dir", c]);
    let before = common::snapshot(&ca);
    for (args, first) in [
        (vec!["issue", "hs4.fed.test", "--ca-dir", c], "HS4.FED.TEST"),
        (
            vec!["issue", "b.fed.test", "Hs4.fed.test", "--ca-dir", c],
            "HS4.FED.TEST",
        ),
        (
            vec!["issue", "a.fed.test", "A.FED.test", "--ca-dir", c],
            "a.fed.test",
        ),
    ] {
        let out = common::run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("{first:?}")) && err.contains("case"),
            "{err}"
        );
        assert_eq!(common::snapshot(&ca), before, "{args:?} changed the CA");
    }
    // Refused before anything is made: an --out that does not exist yet stays absent.
    let out_dir = tmp.path().join("new/out");
    let o = out_dir.to_str().unwrap();
    let out = common::run(&["issue", "hs4.fed.test", "--out", o, "--ca-dir", c]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("\"HS4.FED.TEST\"") && err.contains("case"),
        "{err}"
    );
    assert!(
        !tmp.path().join("new").exists(),
        "a refused issue created its --out"
    );
    assert_eq!(common::snapshot(&ca), before, "--out: changed the CA");
    // The same name is a renewal; another port is another server name.
    common::ok(&["issue", "HS4.FED.TEST", "hs4.fed.test:8448", "--ca-dir", c]);
}
