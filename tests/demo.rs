//! `fedca demo` as a new user reads it (issue 9, item 9): the expected refusal is
//! labelled as such (not "ok"), a temporary CA's path (gone after the run) is not
//! printed, and the table's columns line up, the onion row included.

mod common;

#[test]
fn demo_labels_the_expected_refusal_and_prints_no_vanished_path() {
    let out = common::ok(&["demo"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("temporary CA"), "{out}");
    assert!(
        !lines[0].contains(&std::env::temp_dir().display().to_string()),
        "{out}"
    );
    let refusal = lines
        .iter()
        .find(|l| l.contains("hs9.fed.test"))
        .expect("the wrong-name handshake");
    assert!(refusal.starts_with("refused as expected"), "{refusal}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .contains("1 refused as expected, 0 failed"),
        "{out}"
    );
    // Every row's "as" column starts at the same character position.
    let cols: Vec<usize> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.find("  as ").map(|b| l[..b].chars().count()).unwrap())
        .collect();
    assert!(
        cols.windows(2).all(|w| w[0] == w[1]),
        "misaligned: {cols:?}\n{out}"
    );
    assert!(out.contains(".onion"), "{out}");

    let v: serde_json::Value = serde_json::from_str(&common::ok(&["demo", "--json"])).unwrap();
    assert!(
        v["ca_dir"].is_null(),
        "a temporary CA has no path to show: {v}"
    );
    let kept = tempfile::tempdir().unwrap();
    let dir = kept.path().join("ca");
    let out = common::ok(&["demo", "--keep", dir.to_str().unwrap()]);
    assert!(
        out.lines().next().unwrap().contains(dir.to_str().unwrap()),
        "{out}"
    );
}
