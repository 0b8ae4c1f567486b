//! `fedca apply` (issue 11): a federation from one spec — idempotent, a plan that
//! changes nothing, spec errors with their place, re-issue on changed settings,
//! renewal, and certificates that OpenSSL verifies.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::{assert_unchanged, fedca, ok, read, require, run, s, snapshot};

/// Copies `examples/NAME.yaml` into a fresh directory (so its state goes there).
fn example(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join(format!("{name}.yaml"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.yaml"));
    std::fs::copy(&src, &spec).unwrap();
    (tmp, spec)
}

/// Every path under `dir` with its bytes, mode and modification time.
fn snapshot_mtimes(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32, SystemTime)> {
    use std::os::unix::fs::PermissionsExt;
    snapshot(dir)
        .into_iter()
        .map(|(rel, (bytes, mode))| {
            let meta = std::fs::symlink_metadata(dir.join(&rel)).unwrap();
            assert_eq!(meta.permissions().mode(), mode);
            (rel, (bytes, mode, meta.modified().unwrap()))
        })
        .collect()
}

fn list_json(ca: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&ok(&["list", "--json", "--ca-dir", s(ca)])).unwrap()
}

fn openssl_verify(ca: &Path, tls: &Path, name: &str) {
    let openssl = require("openssl");
    let out = std::process::Command::new(openssl)
        .args(["verify", "-CAfile"])
        .arg(ca.join("root.pem"))
        .args(["-purpose", "sslserver", "-verify_hostname", name])
        .arg(tls.join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl verify {}: {}{}",
        tls.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_lab_example_applies_and_a_second_run_writes_nothing() {
    let (tmp, spec) = example("lab");
    let out = ok(&["apply", s(&spec)]);
    assert!(out.contains("3 certificate(s) issued"), "{out}");
    let state = tmp.path().join("lab.fedca");
    let ca = state.join("ca");
    for (name, host) in [
        ("hs1.fed.test", "hs1.fed.test"),
        ("hs2.fed.test", "matrix.hs2.fed.test"),
        ("hs3.fed.test", "hs3-admin.fed.test"),
    ] {
        let bundle = state.join("bundles").join(name);
        openssl_verify(&ca, &bundle.join("tls"), host);
        assert!(bundle.join("homeserver-fedca.yaml").is_file());
        let key_mode = std::fs::metadata(bundle.join("tls/key.pem")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);
    }
    assert!(state
        .join("bundles/hs2.fed.test/.well-known/matrix/server")
        .is_file());
    // The constraints were derived from the names.
    let policy: serde_json::Value = serde_json::from_str(&read(ca.join("policy.json"))).unwrap();
    assert_eq!(policy["permitted"], serde_json::json!(["fed.test"]));

    let before = snapshot_mtimes(tmp.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = ok(&["apply", s(&spec)]);
    assert!(
        out.contains("0 certificate(s) issued, 0 bundle file(s) written, 3 server(s) unchanged"),
        "{out}"
    );
    let after = snapshot_mtimes(tmp.path());
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(changed.is_empty(), "the second run changed: {changed:?}");
    // --json speaks the plan's vocabulary.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["apply", s(&spec), "--json"])).unwrap();
    assert_eq!(json["issued"], 0);
    assert!(json["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["action"] == "unchanged"));
}

#[test]
fn every_example_applies_and_verifies() {
    for (name, checks) in [
        (
            "mixed",
            vec![
                ("synapse.fed.test", "synapse.fed.test"),
                ("dendrite.fed.test_8448", "dendrite.fed.test"),
                ("conduwuit.fed.test", "matrix.conduwuit.fed.test"),
            ],
        ),
        (
            "literal-onion",
            vec![
                ("10.0.0.7_8448", "10.0.0.7"),
                ("ipv6_fd00--7_8448", "fd00::7"),
            ],
        ),
    ] {
        let (tmp, spec) = example(name);
        ok(&["apply", s(&spec)]);
        let state = tmp.path().join(format!("{name}.fedca"));
        for (dir, host) in checks {
            let tls = state.join("bundles").join(dir).join("tls");
            let openssl = require("openssl");
            let flag = if host.parse::<std::net::IpAddr>().is_ok() {
                "-verify_ip"
            } else {
                "-verify_hostname"
            };
            let out = std::process::Command::new(openssl)
                .args(["verify", "-CAfile"])
                .arg(state.join("ca/root.pem"))
                .args([flag, host])
                .arg(tls.join("cert.pem"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name} {dir}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = ok(&["apply", s(&spec)]);
        assert!(
            out.contains("0 certificate(s) issued, 0 bundle file(s) written"),
            "{name}: {out}"
        );
    }
}

#[test]
fn dry_run_prints_the_plan_with_reasons_and_changes_nothing() {
    let (tmp, spec) = example("lab");
    let out = ok(&["apply", s(&spec), "--dry-run"]);
    assert!(out.contains("would create the CA"), "{out}");
    assert!(
        out.contains("create    hs1.fed.test  (not issued yet)"),
        "{out}"
    );
    assert!(!tmp.path().join("lab.fedca").exists(), "a dry run wrote");
    ok(&["apply", s(&spec)]);
    // hs2 leaves, hs3 gains a name, hs4 joins, hs1 switches to Ed25519.
    let text = read(&spec)
        .replace(
            "  - name: hs2.fed.test\n    implementation: synapse\n    delegate: matrix.hs2.fed.test:443\n    addresses: [127.0.0.2]\n",
            "",
        )
        .replace("alts: [hs3-admin.fed.test]", "alts: [hs3-admin.fed.test, hs3-new.fed.test]")
        .replace(
            "  - name: hs1.fed.test\n    implementation: synapse\n",
            "  - name: hs1.fed.test\n    implementation: synapse\n    key: ed25519\n",
        )
        + "  - name: hs4.fed.test\n";
    std::fs::write(&spec, text).unwrap();
    let before = snapshot_mtimes(tmp.path());
    let out = ok(&["apply", s(&spec), "--dry-run"]);
    for want in [
        "reissue   hs1.fed.test  (key type changed from ecdsa-p256 to ed25519)",
        "reissue   hs3.fed.test  (names changed (added: hs3-new.fed.test; removed: none))",
        "create    hs4.fed.test  (not issued yet)",
        "revoke    hs2.fed.test  (not in the spec any more: its certificates are revoked (cessation-of-operation)",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["apply", s(&spec), "--dry-run", "--json"])).unwrap();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["plan"]["steps"].as_array().unwrap().len(), 4);
    let after = snapshot_mtimes(tmp.path());
    assert!(before == after, "a dry run changed files");
    // Applied: the new certificates replace the old ones, each server one valid cert.
    let out = ok(&["apply", s(&spec)]);
    assert!(out.contains("3 certificate(s) issued"), "{out}");
    let ca = tmp.path().join("lab.fedca/ca");
    let entries = list_json(&ca);
    for server in ["hs1.fed.test", "hs3.fed.test", "hs4.fed.test"] {
        let valid = entries
            .iter()
            .filter(|e| e["server"] == server && e["status"] == "valid")
            .count();
        assert_eq!(valid, 1, "{server}: {entries:?}");
    }
    let superseded = entries
        .iter()
        .filter(|e| e["status"] == "superseded")
        .count();
    assert_eq!(superseded, 2, "{entries:?}");
    let hs2: Vec<_> = entries
        .iter()
        .filter(|e| e["server"] == "hs2.fed.test")
        .collect();
    assert!(
        hs2.len() == 1 && hs2[0]["status"] == "revoked",
        "hs2 left the spec: {hs2:?}"
    );
    openssl_verify(
        &ca,
        &tmp.path().join("lab.fedca/bundles/hs3.fed.test/tls"),
        "hs3-new.fed.test",
    );
}

#[test]
fn spec_errors_name_file_line_column_and_rule_exit_2_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("net.yaml");
    for (text, place, rule) in [
        (
            "servers:\n  - name: hs1.fed.test\n  - name: hs_2.fed.test\n",
            "net.yaml:3:",
            "hs_2.fed.test",
        ),
        (
            "servers:\n  - name: hs1.fed.test\n    implementation: apache\n",
            "net.yaml:3:",
            "apache",
        ),
        (
            "servers:\n  - name: hs1.fed.test\n    colour: blue\n",
            "net.yaml:3:",
            "unknown field `colour`",
        ),
        (
            "servers:\n  - name: hs1.fed.test\n  - name: hs1.fed.test\n",
            "net.yaml:3:",
            "listed twice",
        ),
        (
            "servers:\n  - name: hs1.fed.test\n    validity: 500d\n",
            "net.yaml:3:",
            "398",
        ),
        (
            "servers: [\n",
            "net.yaml:2:1",
            "did not find expected node content",
        ),
    ] {
        std::fs::write(&spec, text).unwrap();
        for extra in [&[][..], &["--dry-run"][..]] {
            let mut args = vec!["apply", s(&spec)];
            args.extend_from_slice(extra);
            let out = run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
            assert!(
                stderr.contains(&format!("{}", tmp.path().join(place).display()))
                    && stderr.contains(rule),
                "{text}: {stderr}"
            );
        }
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("net.yaml")], "{text}");
    }
}

#[test]
fn a_name_outside_the_given_constraints_is_bad_input_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("net.yaml");
    std::fs::write(&spec, "servers:\n  - name: hs1.fed.test\n").unwrap();
    ok(&["apply", s(&spec)]);
    std::fs::write(
        &spec,
        "servers:\n  - name: hs1.fed.test\n  - name: hs9.other.test\n",
    )
    .unwrap();
    let before = snapshot(tmp.path());
    let out = run(&["apply", s(&spec)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hs9.other.test"));
    assert_unchanged(&before, &snapshot(tmp.path()), "a refused apply");
    // Also when the CA is still to be created with the constraints the spec gives.
    let fresh = tmp.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    let spec = fresh.join("net.yaml");
    std::fs::write(
        &spec,
        "ca:\n  permit: [fed.test]\nservers:\n  - name: hs1.fed.test\n  - name: hs9.other.test\n",
    )
    .unwrap();
    let out = run(&["apply", s(&spec)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!fresh.join("net.fedca").exists(), "a CA was created");
}

#[test]
fn renewal_window_renews_and_a_moved_bundle_supersedes_the_old_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("net.yaml");
    // A window longer than the lifetime: every run renews.
    std::fs::write(
        &spec,
        "renew_within: 100d\nservers:\n  - name: hs1.fed.test\n",
    )
    .unwrap();
    ok(&["apply", s(&spec)]);
    let ca = tmp.path().join("net.fedca/ca");
    let first = list_json(&ca);
    let out = ok(&["apply", s(&spec)]);
    assert!(
        out.contains("renew     hs1.fed.test  (expires at") && out.contains("last 100d"),
        "{out}"
    );
    let second = list_json(&ca);
    assert_eq!(second.len(), 2);
    assert_eq!(second[0]["serial"], first[0]["serial"]);
    assert_eq!(second[0]["status"], "superseded");
    assert_eq!(second[1]["status"], "valid");
    // Moving the bundle: the old location's record is superseded, never two valid.
    std::fs::write(
        &spec,
        "servers:\n  - name: hs1.fed.test\n    bundle: elsewhere/hs1\n",
    )
    .unwrap();
    let out = ok(&["apply", s(&spec)]);
    assert!(
        out.contains("reissue   hs1.fed.test  (its files move from"),
        "{out}"
    );
    let third = list_json(&ca);
    let valid: Vec<_> = third.iter().filter(|e| e["status"] == "valid").collect();
    assert_eq!(valid.len(), 1, "{third:?}");
    assert_eq!(valid[0]["path"], s(&tmp.path().join("elsewhere/hs1/tls")));
    openssl_verify(&ca, &tmp.path().join("elsewhere/hs1/tls"), "hs1.fed.test");
    // A certificate replaced by hand is re-issued, not trusted.
    std::fs::write(tmp.path().join("elsewhere/hs1/tls/cert.pem"), "junk").unwrap();
    let out = ok(&["apply", s(&spec), "--dry-run"]);
    assert!(out.contains("missing or not the ones issued"), "{out}");
    let _ = fedca;
}

/// A server that leaves the spec is revoked (as `fedca revoke NAME --reason
/// cessation-of-operation`), drops out of the other servers' federation allow-list,
/// fails OpenSSL's CRL check once a CRL is published; a second run writes nothing;
/// putting it back issues it a new certificate.
#[test]
fn a_server_that_leaves_the_spec_is_revoked_and_shut_out() {
    let (tmp, spec) = example("lab");
    ok(&["apply", s(&spec)]);
    let state = tmp.path().join("lab.fedca");
    let ca = state.join("ca");
    let fragment = state.join("bundles/hs1.fed.test/homeserver-fedca.yaml");
    let allow_list = |text: &str| -> Vec<String> {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
        doc["federation_domain_whitelist"]
            .as_sequence()
            .unwrap_or_else(|| panic!("no federation_domain_whitelist in:\n{text}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        allow_list(&read(&fragment)),
        ["hs1.fed.test", "hs2.fed.test", "hs3.fed.test"]
    );
    let full = read(&spec);
    let hs3 = "  - name: hs3.fed.test\n    implementation: synapse\n    alts: [hs3-admin.fed.test]\n    addresses: [127.0.0.3]\n";
    assert!(full.contains(hs3), "examples/lab.yaml changed: {full}");
    std::fs::write(&spec, full.replace(hs3, "")).unwrap();

    let before = snapshot(tmp.path());
    let out = ok(&["apply", s(&spec), "--dry-run"]);
    assert!(
        out.contains("revoke    hs3.fed.test  (not in the spec any more"),
        "{out}"
    );
    assert_unchanged(&before, &snapshot(tmp.path()), "a dry run");

    let out = ok(&["apply", s(&spec)]);
    assert!(out.contains("1 certificate(s) revoked"), "{out}");
    let entries = list_json(&ca);
    let hs3: Vec<_> = entries
        .iter()
        .filter(|e| e["server"] == "hs3.fed.test")
        .collect();
    assert!(
        hs3.len() == 1 && hs3[0]["status"] == "revoked",
        "{entries:?}"
    );
    let revocations = read(ca.join("revocations.jsonl"));
    assert!(
        revocations.contains(hs3[0]["serial"].as_str().unwrap())
            && revocations.contains("\"cessation-of-operation\""),
        "{revocations}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--json", "--ca-dir", s(&ca)])).unwrap();
    assert_eq!(
        status["allowed_servers"],
        serde_json::json!(["hs1.fed.test", "hs2.fed.test"])
    );
    // The other servers' bundles were rewritten without it.
    assert_eq!(
        allow_list(&read(&fragment)),
        ["hs1.fed.test", "hs2.fed.test"]
    );
    // A published CRL makes OpenSSL refuse its certificate.
    let crl = tmp.path().join("crl.pem");
    ok(&["crl", "--ca-dir", s(&ca), "--out", s(&crl)]);
    let tls3 = state.join("bundles/hs3.fed.test/tls");
    let out = std::process::Command::new(require("openssl"))
        .args(["verify", "-crl_check", "-CAfile"])
        .arg(ca.join("root.pem"))
        .arg("-CRLfile")
        .arg(&crl)
        .arg(tls3.join("cert.pem"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("certificate revoked"),
        "openssl accepted a revoked certificate: {text}"
    );

    // Nothing left to do: a second run writes nothing.
    let before = snapshot_mtimes(tmp.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = ok(&["apply", s(&spec)]);
    assert!(!out.contains("revoke"), "{out}");
    assert!(
        before == snapshot_mtimes(tmp.path()),
        "the second run wrote"
    );

    // Back in the spec: a new certificate, and back in the allow-list.
    std::fs::write(&spec, &full).unwrap();
    let out = ok(&["apply", s(&spec)]);
    assert!(out.contains("create    hs3.fed.test"), "{out}");
    openssl_verify(&ca, &tls3, "hs3.fed.test");
    assert_eq!(
        allow_list(&read(&fragment)),
        ["hs1.fed.test", "hs2.fed.test", "hs3.fed.test"]
    );
}

/// `cat PATH` as nobody (uid and gid 65534, no groups): the kernel's permission checks
/// for another local user, as the homeserver's user or a web server's worker meets them.
fn read_as_nobody(path: &Path) -> std::process::Output {
    std::process::Command::new(require("setpriv"))
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(path)
        .output()
        .unwrap()
}

/// `examples/lab.yaml` applied in a directory others may enter (a temporary directory is
/// 0700; a spec's directory usually is not); returns it and the state directory.
fn lab_applied_in_a_public_directory() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, spec) = example("lab");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(&["apply", s(&spec)]);
    let state = tmp.path().join("lab.fedca");
    (tmp, state)
}

#[test]
fn bundles_are_readable_by_other_users_and_keys_and_the_ca_are_not() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, state) = lab_applied_in_a_public_directory();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    // As `fedca trust --out` makes them (docs/homeservers/synapse.md): directories
    // public, only the CA, `tls/` and the keys private.
    assert_eq!(mode(&state), 0o755, "{}", state.display());
    assert_eq!(mode(&state.join("bundles")), 0o755);
    assert_eq!(mode(&state.join("ca")), 0o700);
    let mut public = 0;
    for (rel, (bytes, st_mode)) in snapshot(&state.join("bundles")) {
        let entry = state.join("bundles").join(&rel);
        let rel = Path::new("bundles").join(rel);
        let private = rel.iter().any(|c| c == "tls") || rel.ends_with("key.pem");
        if st_mode & 0o170000 == 0o040000 {
            assert_eq!(
                st_mode & 0o7777,
                if private { 0o700 } else { 0o755 },
                "{}",
                rel.display()
            );
            continue;
        }
        let out = read_as_nobody(&entry);
        if private {
            assert!(!out.status.success(), "nobody read {}", rel.display());
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
                "{}: {}",
                rel.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            assert!(
                out.status.success(),
                "nobody cannot read {}: {}",
                rel.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, bytes, "{}", rel.display());
            public += 1;
        }
    }
    // Three bundles' configuration, chain and roots, and hs2's `.well-known`.
    assert!(public >= 10, "only {public} public files");
    assert!(
        read_as_nobody(&state.join("bundles/hs2.fed.test/.well-known/matrix/server"))
            .status
            .success()
    );
    for private in [
        "ca/root-key.pem",
        "ca/root.pem",
        "bundles/hs1.fed.test/key.pem",
    ] {
        assert!(
            !read_as_nobody(&state.join(private)).status.success(),
            "{private}"
        );
    }
}

/// Stops nginx when dropped, a failed assertion included: SIGTERM to the master, which
/// stops its workers before it exits (SIGKILL would leave them running), then SIGKILL
/// if it has not exited within 10 s.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn nginx_serves_a_delegated_servers_well_known_from_its_bundle_in_place() {
    use std::io::{Read, Write};
    let nginx = require("nginx");
    let (tmp, state) = lab_applied_in_a_public_directory();
    let well_known = state.join("bundles/hs2.fed.test/.well-known/matrix/server");
    // nginx's master runs as root here; its workers, which open the file, as nobody.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ng = tmp.path().join("nginx");
    std::fs::create_dir(&ng).unwrap();
    let conf = ng.join("nginx.conf");
    std::fs::write(
        &conf,
        common::nginx_conf(
            &ng,
            &ng,
            &format!(
                "    server {{\n        listen 127.0.0.1:{port};\n        location = /.well-known/matrix/server {{\n            default_type application/json;\n            alias {};\n        }}\n    }}\n",
                s(&well_known)
            ),
        ),
    )
    .unwrap();
    let error_log = || std::fs::read_to_string(ng.join("nginx-error.log")).unwrap_or_default();
    let _nginx = StopOnDrop(
        std::process::Command::new(&nginx)
            .args(["-e", s(&ng.join("early.log")), "-c", s(&conf)])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("nginx did not listen on {port}: {e}; {}", error_log()),
        }
    };
    conn.write_all(b"GET /.well-known/matrix/server HTTP/1.0\r\nHost: hs2.fed.test\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).to_string();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "nginx did not serve {}: {response}\n{}",
        well_known.display(),
        error_log()
    );
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert_eq!(body, read(&well_known));
    assert!(body.contains("matrix.hs2.fed.test:443"), "{body}");
}
