//! The fedca core, driven through the real binary: init, issue, list; real TLS 1.3
//! handshakes over loopback; OpenSSL interop; bad input; concurrency; permissions;
//! crash recovery.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{constrained, init_ca, ok, onion, read, require, run, s, snapshot};
use fedca::handshake;
use fedca::name::{AltName, Host};
use rustls::pki_types::UnixTime;

fn host(name: &str) -> Host {
    match AltName::parse(name).unwrap() {
        AltName::Host(h) => h,
        AltName::Wildcard(_) => panic!("wildcard"),
    }
}

struct ServerFiles {
    dir: PathBuf,
}

impl ServerFiles {
    fn chain(&self) -> String {
        read(self.dir.join("fullchain.pem"))
    }
    fn key(&self) -> String {
        read(self.dir.join("key.pem"))
    }
    fn ca(&self) -> String {
        read(self.dir.join("ca.pem"))
    }
}

fn files(ca: &Path, dir_name: &str) -> ServerFiles {
    ServerFiles {
        dir: ca.join("servers").join(dir_name),
    }
}

fn at_days(days: u64) -> UnixTime {
    UnixTime::since_unix_epoch(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            + Duration::from_secs(days * 86_400),
    )
}

#[test]
fn issue_and_handshake_for_every_kind_of_server_name() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let c = ca.to_str().unwrap();
    let o = onion(11);
    ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
    ok(&["issue", "127.0.0.1:8448", "[::1]", &o, "--ca-dir", c]);
    ok(&[
        "issue",
        "hs2.fed.test",
        "--delegate",
        "matrix.hs2.fed.test:443",
        "--alt",
        "hs2-admin.fed.test",
        "--ca-dir",
        c,
    ]);

    // (directory, name the client expects, SNI expected)
    let cases: Vec<(String, String, bool)> = vec![
        ("hs1.fed.test".into(), "hs1.fed.test".into(), true),
        ("127.0.0.1_8448".into(), "127.0.0.1".into(), false),
        ("ipv6_--1".into(), "::1".into(), false),
        (o.clone(), o.clone(), true),
        ("hs2.fed.test".into(), "matrix.hs2.fed.test".into(), true),
        ("hs2.fed.test".into(), "hs2.fed.test".into(), true),
        ("hs2.fed.test".into(), "hs2-admin.fed.test".into(), true),
    ];
    for (dir, name, sni) in &cases {
        let f = files(&ca, dir);
        let h = handshake::loopback(&f.chain(), &f.key(), &f.ca(), &host(name), None)
            .unwrap_or_else(|e| panic!("{dir} as {name}: {e}"));
        assert_eq!(h.protocol, "TLSv1_3", "{name}");
        assert_eq!(h.sni.is_some(), *sni, "{name}: SNI {:?}", h.sni);
        if *sni {
            assert_eq!(h.sni.as_deref(), Some(name.as_str()));
        }
    }

    // The same client refuses: a wrong name, an expired certificate, another root.
    let f = files(&ca, "hs1.fed.test");
    let wrong = handshake::loopback(&f.chain(), &f.key(), &f.ca(), &host("hs2.fed.test"), None)
        .unwrap_err();
    assert!(wrong.0.contains("not valid for name"), "{wrong}");
    let ip = files(&ca, "127.0.0.1_8448");
    let wrong_ip = handshake::loopback(&ip.chain(), &ip.key(), &ip.ca(), &host("127.0.0.2"), None)
        .unwrap_err();
    assert!(wrong_ip.0.contains("not valid for name"), "{wrong_ip}");
    let expired = handshake::loopback(
        &f.chain(),
        &f.key(),
        &f.ca(),
        &host("hs1.fed.test"),
        Some(at_days(91)),
    )
    .unwrap_err();
    assert!(expired.0.contains("expired"), "{expired}");
    let other = tmp.path().join("other");
    constrained(&other);
    let foreign = read(other.join("root.pem"));
    let unknown = handshake::loopback(&f.chain(), &f.key(), &foreign, &host("hs1.fed.test"), None)
        .unwrap_err();
    // Same subject name as ours: webpki matches the issuer by name, then the
    // signature does not verify.
    assert!(unknown.0.contains("BadSignature"), "{unknown}");
    let third = tmp.path().join("third");
    ok(&[
        "init",
        "--ca-dir",
        third.to_str().unwrap(),
        "--name",
        "Another Root",
    ]);
    let unknown = handshake::loopback(
        &f.chain(),
        &f.key(),
        &read(third.join("root.pem")),
        &host("hs1.fed.test"),
        None,
    )
    .unwrap_err();
    assert!(unknown.0.contains("UnknownIssuer"), "{unknown}");
}

#[test]
fn certificate_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let c = ca.to_str().unwrap();
    ok(&["issue", "10.0.0.7:8448", "--ca-dir", c]);
    let leaf_pem = read(ca.join("servers/10.0.0.7_8448/cert.pem"));
    let der = ::pem::parse(&leaf_pem).unwrap().into_contents();
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(cert.version(), X509Version::V3);
    // The port never reaches the certificate; an IP literal is an iPAddress SAN.
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        san.value.general_names,
        vec![GeneralName::IPAddress(&[10, 0, 0, 7])]
    );
    // No CN for an IP literal: an empty subject makes the SAN critical (RFC 5280).
    assert!(san.critical);
    assert_eq!(cert.subject().iter_common_name().count(), 0);
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
    let exts: Vec<_> = cert
        .extensions()
        .iter()
        .map(|e| e.parsed_extension())
        .collect();
    assert!(exts
        .iter()
        .any(|e| matches!(e, ParsedExtension::AuthorityKeyIdentifier(_))));
    assert!(exts
        .iter()
        .any(|e| matches!(e, ParsedExtension::SubjectKeyIdentifier(_))));
    // 128-bit positive random serial; explicit validity of 90 days plus the backdate.
    let serial = cert.raw_serial();
    let magnitude = serial.iter().skip_while(|b| **b == 0).count();
    assert_eq!(magnitude, 16, "serial {serial:02x?}");
    let v = cert.validity();
    let span = v.not_after.timestamp() - v.not_before.timestamp();
    assert_eq!(span, 90 * 86_400 + 3600);
    assert!(
        v.not_before.timestamp() > 1_700_000_000,
        "not rcgen's 1975 default"
    );
    assert!(!format!("{:?}", cert.subject()).contains("rcgen"));

    // The root: CA:TRUE with a path length, keyCertSign + cRLSign, name constraints.
    let root = ::pem::parse(read(ca.join("root.pem")))
        .unwrap()
        .into_contents();
    let (_, root) = X509Certificate::from_der(&root).unwrap();
    let bc = root.basic_constraints().unwrap().unwrap().value;
    assert!(bc.ca && bc.path_len_constraint == Some(1));
    let ku = root.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    let nc = root.name_constraints().unwrap().unwrap();
    assert!(nc.critical);
    assert_eq!(nc.value.permitted_subtrees.as_ref().unwrap().len(), 6);

    // Validity never outlives the CA.
    let short = tmp.path().join("short");
    init_ca(&short, &["--validity", "30d", "--leaf-validity", "7d"]);
    let out = run(&[
        "issue",
        "a.test",
        "--validity",
        "1y",
        "--ca-dir",
        short.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut to the CA's own expiry"));
    let leaf = ::pem::parse(read(short.join("servers/a.test/cert.pem")))
        .unwrap()
        .into_contents();
    let rootd = ::pem::parse(read(short.join("root.pem")))
        .unwrap()
        .into_contents();
    let (_, leaf) = X509Certificate::from_der(&leaf).unwrap();
    let (_, rootc) = X509Certificate::from_der(&rootd).unwrap();
    assert!(leaf.validity().not_after <= rootc.validity().not_after);
}

#[test]
fn every_key_type_issues_and_handshakes() {
    for key in ["ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca");
        init_ca(&ca, &["--key", key, "--permit", "fed.test"]);
        ok(&["issue", "hs1.fed.test", "--ca-dir", ca.to_str().unwrap()]);
        let f = files(&ca, "hs1.fed.test");
        handshake::loopback(&f.chain(), &f.key(), &f.ca(), &host("hs1.fed.test"), None)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
}

fn openssl_verify(ca: &Path, leaf: &Path, check: &[&str]) -> (bool, String) {
    let out = Command::new(require("openssl"))
        .arg("verify")
        .arg("-CAfile")
        .arg(ca)
        .args(["-purpose", "sslserver"])
        .args(check)
        .arg(leaf)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn openssl_accepts_fedca_leaves_and_refuses_outside_constraints() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let c = ca.to_str().unwrap();
    let o = onion(12);
    ok(&[
        "issue",
        "hs1.fed.test",
        "10.0.0.7:8448",
        "[fd00::7]",
        &o,
        "--ca-dir",
        c,
    ]);
    ok(&[
        "issue",
        "hs2.fed.test",
        "--delegate",
        "matrix.hs2.fed.test",
        "--ca-dir",
        c,
    ]);
    let root = ca.join("root.pem");
    for (dir, flag, name) in [
        ("hs1.fed.test", "-verify_hostname", "hs1.fed.test"),
        ("10.0.0.7_8448", "-verify_ip", "10.0.0.7"),
        ("ipv6_fd00--7", "-verify_ip", "fd00::7"),
        (o.as_str(), "-verify_hostname", o.as_str()),
        ("hs2.fed.test", "-verify_hostname", "matrix.hs2.fed.test"),
        ("hs2.fed.test", "-verify_hostname", "hs2.fed.test"),
    ] {
        let leaf = ca.join("servers").join(dir).join("cert.pem");
        let (good, text) = openssl_verify(&root, &leaf, &[flag, name]);
        assert!(good, "openssl refused {dir} for {name}: {text}");
        let wrong = if flag == "-verify_ip" {
            "10.9.9.9"
        } else {
            "hs9.fed.test"
        };
        let (bad, text) = openssl_verify(&root, &leaf, &[flag, wrong]);
        assert!(!bad, "openssl accepted {dir} for {wrong}: {text}");
    }

    // A leaf outside the constraints, made and signed with openssl using the root key.
    let key = tmp.path().join("evil-key.pem");
    let csr = tmp.path().join("evil.csr");
    let leaf = tmp.path().join("evil.pem");
    let ext = tmp.path().join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:hs1.evil.test\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = require("openssl");
    let st = Command::new(&openssl)
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(["-subj", "/CN=hs1.evil.test"])
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new(&openssl)
        .args(["x509", "-req", "-days", "30"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&root)
        .arg("-CAkey")
        .arg(ca.join("root-key.pem"))
        .arg("-extfile")
        .arg(&ext)
        .arg("-set_serial")
        .arg("0x1234567890abcdef1234")
        .arg("-out")
        .arg(&leaf)
        .status()
        .unwrap();
    assert!(st.success());
    let (good, text) = openssl_verify(&root, &leaf, &["-verify_hostname", "hs1.evil.test"]);
    assert!(!good && text.contains("subtree"), "openssl: {text}");
    let err = handshake::loopback(
        &read(&leaf),
        &read(&key),
        &read(&root),
        &host("hs1.evil.test"),
        None,
    )
    .unwrap_err();
    assert!(err.0.contains("NameConstraintViolation"), "rustls: {err}");
}

#[test]
fn names_outside_the_constraints_are_refused_before_signing() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init_ca(&ca, &["--permit", "fed.test", "--permit", "10.0.0.0/8"]);
    let before = snapshot(&ca);
    for (name, extra) in [
        ("hs1.other.test", vec![]),
        ("11.0.0.1:8448", vec![]),
        ("[fd00::7]", vec![]),
        ("hs1.fed.test", vec!["--alt", "admin.other.test"]),
        ("hs1.fed.test", vec!["--delegate", "matrix.elsewhere.test"]),
    ] {
        let mut args = vec!["issue", name, "--ca-dir", ca.to_str().unwrap()];
        args.extend(extra);
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("outside the CA's name constraints")
                && err.contains("fed.test, 10.0.0.0/8"),
            "{err}"
        );
    }
    common::assert_unchanged(&before, &snapshot(&ca), "refused names");
}

#[test]
fn bad_input_exits_2_names_the_value_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let c = ca.to_str().unwrap();
    ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
    let before = snapshot(&ca);
    let v2 = "expyuzz4wqqyqhjn.onion";
    let servers_dir = format!("{c}/servers");
    let dotdot_dir = format!("{c}/../ca/certs/x");
    let long = |n: usize| {
        format!(
            "{}.{}.{}.{}.fed.test",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(n)
        )
    };
    let long_254 = long(53);
    let long_253_port = format!("{}:65535", long(52));
    assert_eq!((long_254.len(), long(52).len()), (254, 253));
    let mut bad_onion = onion(3);
    bad_onion.replace_range(0..1, if bad_onion.starts_with('a') { "b" } else { "a" });
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["issue", ""], "\"\""),
        (vec!["issue", "hs1.fed.test:0"], "hs1.fed.test:0"),
        (vec!["issue", "hs1.fed.test:65536"], "65536"),
        (vec!["issue", "hs1.fed.test:"], "hs1.fed.test:"),
        (vec!["issue", "hs1.fed.test:http"], "hs1.fed.test:http"),
        (vec!["issue", "256.0.0.1"], "256.0.0.1"),
        (vec!["issue", "10.0.0"], "10.0.0"),
        (vec!["issue", "010.0.0.1"], "010.0.0.1"),
        (vec!["issue", "fd00::7"], "fd00::7"),
        (vec!["issue", "[fd00::7"], "[fd00::7"),
        (vec!["issue", "[fd00::zz]"], "[fd00::zz]"),
        (vec!["issue", "[fe80::1%eth0]"], "[fe80::1%eth0]"),
        (vec!["issue", "hs1.-fed.test"], "hs1.-fed.test"),
        (vec!["issue", "hs..fed.test"], "hs..fed.test"),
        (vec!["issue", "hs_1.fed.test"], "hs_1.fed.test"),
        (vec!["issue", "hs1.fed.test."], "hs1.fed.test."),
        (vec!["issue", "*.fed.test"], "*.fed.test"),
        (vec!["issue", "bücher.fed.test"], "xn--bcher-kva.fed.test"),
        (vec!["issue", v2], v2),
        (vec!["issue", &bad_onion], "checksum"),
        (vec!["issue", "a.fed.test", "a.fed.test"], "twice"),
        (vec!["issue", "a.fed.test", "--alt", "*.test"], "*.test"),
        (
            vec!["issue", "a.fed.test", "--alt", "a.fed.test:443"],
            "a.fed.test:443",
        ),
        (
            vec!["issue", "a.fed.test", "--delegate", "m.fed.test:99999"],
            "99999",
        ),
        (
            vec![
                "issue",
                "a.fed.test",
                "b.fed.test",
                "--delegate",
                "m.fed.test",
            ],
            "one server",
        ),
        (vec!["issue", "a.fed.test", "--validity", "0d"], "0d"),
        (
            vec!["issue", "a.fed.test", "--validity", "ten days"],
            "ten days",
        ),
        (vec!["issue", "a.fed.test", "--validity", "500y"], "500y"),
        (vec!["issue", "a.fed.test", "--key", "rsa"], "rsa"),
        (vec!["issue", "a.fed.test", "--bogus"], "--bogus"),
        (vec!["init", "--permit", "10.0.0.1/8"], "10.0.0.0/8"),
        (vec!["init", "--name", "x"], "already exists"),
        (
            vec!["list", "--ca-dir", "/nonexistent/fedca"],
            "/nonexistent/fedca",
        ),
        (
            vec!["issue", "a.fed.test", "--out", "/proc/fedca-out"],
            "/proc/fedca-out",
        ),
        (
            vec!["issue", "a.fed.test", "--out", c],
            "inside the CA directory",
        ),
        (
            vec!["issue", "a.fed.test", "--out", &servers_dir],
            "inside the CA directory",
        ),
        (
            vec!["issue", "a.fed.test", "--out", &dotdot_dir],
            "inside the CA directory",
        ),
        (vec!["issue", "hs1.fed.test:08448"], "leading zero"),
        (vec!["issue", &long_254], "253"),
        (vec!["issue", &long_253_port], "255 bytes"),
    ];
    assert!(cases.len() >= 25);
    for (args, needle) in &cases {
        let mut full = args.clone();
        if !full.contains(&"--ca-dir") {
            full.extend(["--ca-dir", c]);
        }
        let out = run(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{full:?} → {:?}: {err}",
            out.status.code()
        );
        assert!(
            err.contains(needle),
            "{full:?}: {err:?} does not mention {needle:?}"
        );
        assert!(!err.contains("panicked"), "{full:?}: {err}");
    }
    common::assert_unchanged(&before, &snapshot(&ca), "bad input");
}

#[test]
fn init_force_takes_the_lock_and_finishes_the_old_cas_work_first() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let c = ca.to_str().unwrap();
    ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
    let old_cert = read(ca.join("servers/hs1.fed.test/cert.pem"));

    // A held lock makes init --force wait, then fail, changing nothing.
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.path().join(".ca.lock"))
        .unwrap();
    lock.lock().unwrap();
    let before = snapshot(tmp.path());
    let out = common::fedca()
        .env("FEDCA_LOCK_TIMEOUT", "1")
        .args(["init", "--force", "--ca-dir", c])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::assert_unchanged(
        &before,
        &snapshot(tmp.path()),
        "init --force without the lock",
    );
    lock.unlock().unwrap();

    // An issuance killed mid-way is rolled back before the CA is moved aside, so the
    // old CA's journal can never touch the new CA's files.
    let crashed = common::fedca()
        .env("FEDCA_CRASH_AT", "after-swap")
        .args(["issue", "hs1.fed.test", "--ca-dir", c])
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    assert!(ca.join("journal.json").exists());
    ok(&["init", "--force", "--ca-dir", c, "--permit", "fed.test"]);
    let aside = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ca.replaced-")
        })
        .unwrap();
    assert!(!aside.join("journal.json").exists());
    assert_eq!(old_cert, read(aside.join("servers/hs1.fed.test/cert.pem")));
    ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
    let new_files = snapshot(&ca.join("servers"));
    ok(&[
        "issue",
        "other.fed.test",
        "--ca-dir",
        aside.to_str().unwrap(),
    ]);
    common::assert_unchanged(
        &new_files,
        &snapshot(&ca.join("servers")),
        "the new CA's servers",
    );

    // Two replacements in the same second both keep the CA they replace.
    ok(&["init", "--force", "--ca-dir", c, "--permit", "fed.test"]);
    ok(&["init", "--force", "--ca-dir", c, "--permit", "fed.test"]);
    let kept = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("ca.replaced-")
        })
        .count();
    assert_eq!(kept, 3);
}

#[test]
fn init_refuses_directories_that_are_not_cas_and_leaves_no_key_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("thesis.txt"), "important").unwrap();
    let out = run(&["init", "--force", "--ca-dir", docs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a fedca CA"));
    assert_eq!(read(docs.join("thesis.txt")), "important");

    // A rename that fails at the last step (a dangling symbolic link in the way)
    // must not leave the staged root key behind.
    let dangling = tmp.path().join("dangling");
    std::os::unix::fs::symlink("/nonexistent/fedca", &dangling).unwrap();
    let out = run(&["init", "--ca-dir", dangling.to_str().unwrap()]);
    assert!(!out.status.success());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".fedca-init-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A --ca-dir whose parent cannot be created is bad input.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let out = run(&["init", "--ca-dir", file.join("sub").to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn renewal_keeps_the_owner_and_mode_the_operator_set() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let c = ca.to_str().unwrap();
    ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
    let dir = ca.join("servers/hs1.fed.test");
    // As the Synapse guide says: hand the files to the homeserver's user (here nobody).
    for p in [
        dir.clone(),
        dir.join("key.pem"),
        dir.join("fullchain.pem"),
        dir.join("cert.pem"),
        dir.join("ca.pem"),
    ] {
        std::os::unix::fs::chown(&p, Some(65534), Some(65534))
            .expect("chown needs root: run scripts/test as root");
    }
    std::fs::set_permissions(dir.join("key.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let old = read(dir.join("cert.pem"));
    ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
    assert_ne!(old, read(dir.join("cert.pem")));
    for p in [dir.clone(), dir.join("key.pem"), dir.join("fullchain.pem")] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", p.display());
    }
    // The group may read the key; others never.
    let key_mode = std::fs::metadata(dir.join("key.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o640);
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    ok(&[
        "issue",
        "hs1.fed.test",
        "hs2.fed.test",
        "--ca-dir",
        ca.to_str().unwrap(),
    ]);
    for args in [vec!["list"], vec!["list", "--json"]] {
        let mut child = common::fedca()
            .args(&args)
            .args(["--ca-dir", ca.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away, as `| head -0` would
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn a_non_utf8_out_is_bad_input() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let before = snapshot(tmp.path());
    let bad = tmp
        .path()
        .join(std::ffi::OsStr::from_bytes(b"out-\xff\xfe"));
    let out = common::fedca()
        .args([
            "issue",
            "hs1.fed.test",
            "--ca-dir",
            ca.to_str().unwrap(),
            "--out",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("UTF-8"));
    common::assert_unchanged(&before, &snapshot(tmp.path()), "a non-UTF-8 --out");
}

#[test]
fn init_never_replaces_a_ca_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let out = run(&["init", "--ca-dir", ca.to_str().unwrap()]);
    assert!(out.status.success());
    let warning = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        warning
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .count(),
        1,
        "{warning}"
    );
    assert!(warning.contains("unconstrained"));
    let before = snapshot(&ca);
    let again = run(&[
        "init",
        "--ca-dir",
        ca.to_str().unwrap(),
        "--permit",
        "fed.test",
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    common::assert_unchanged(&before, &snapshot(&ca), "init without --force");
    let old_root = read(ca.join("root.pem"));
    let forced = ok(&[
        "init",
        "--ca-dir",
        ca.to_str().unwrap(),
        "--permit",
        "fed.test",
        "--force",
    ]);
    assert_ne!(old_root, read(ca.join("root.pem")));
    // The replaced CA is kept, never deleted.
    let moved: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("ca.replaced-"))
        .collect();
    assert_eq!(moved.len(), 1, "{forced}");
    assert_eq!(old_root, read(tmp.path().join(&moved[0]).join("root.pem")));
}

#[test]
fn permissions_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    ok(&["issue", "hs1.fed.test", "--ca-dir", ca.to_str().unwrap()]);
    let out = tmp.path().join("out");
    ok(&[
        "issue",
        "hs2.fed.test",
        "--out",
        out.to_str().unwrap(),
        "--ca-dir",
        ca.to_str().unwrap(),
    ]);
    let mode = |p: PathBuf| std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(ca.clone()), 0o700);
    assert_eq!(mode(ca.join("root-key.pem")), 0o600);
    assert_eq!(mode(ca.join("servers")), 0o700);
    assert_eq!(mode(ca.join("servers/hs1.fed.test")), 0o700);
    assert_eq!(mode(ca.join("servers/hs1.fed.test/key.pem")), 0o600);
    assert_eq!(mode(ca.join("servers/hs1.fed.test/cert.pem")), 0o644);
    assert_eq!(mode(out.clone()), 0o700);
    assert_eq!(mode(out.join("hs2.fed.test/key.pem")), 0o600);
    assert!(read(ca.join("root-key.pem")).starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn list_reports_every_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let c = ca.to_str().unwrap();
    ok(&["issue", "hs1.fed.test", "10.0.0.7:8448", "--ca-dir", c]);
    ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["list", "--json", "--ca-dir", c])).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    for r in arr {
        for field in [
            "serial",
            "server",
            "names",
            "not_before",
            "not_after",
            "status",
            "path",
        ] {
            assert!(r.get(field).is_some(), "{field} missing in {r}");
        }
    }
    let status: Vec<(&str, &str)> = arr
        .iter()
        .map(|r| (r["server"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        status,
        vec![
            ("hs1.fed.test", "superseded"),
            ("10.0.0.7:8448", "valid"),
            ("hs1.fed.test", "valid")
        ]
    );
    assert_eq!(arr[1]["names"], serde_json::json!(["10.0.0.7"]));
    let text = ok(&["list", "--ca-dir", c]);
    assert!(
        text.contains("superseded") && text.contains("10.0.0.7:8448"),
        "{text}"
    );
    // The index is one JSON record per line, human-readable.
    assert_eq!(read(ca.join("index.jsonl")).lines().count(), 3);
}

#[test]
fn concurrent_processes_serialise_on_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let c = ca.to_str().unwrap().to_string();
    let children: Vec<_> = (0..4)
        .map(|p| {
            let names: Vec<String> = (0..25).map(|i| format!("p{p}-{i}.fed.test")).collect();
            let c = c.clone();
            std::thread::spawn(move || {
                // 25 separate processes per worker: maximum contention on the lock.
                for n in names {
                    let out = common::fedca()
                        .args(["issue", &n, "--ca-dir", &c])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{n}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for ch in children {
        ch.join().unwrap();
    }
    let index = read(ca.join("index.jsonl"));
    let serials: BTreeSet<String> = index
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["serial"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(index.lines().count(), 100);
    assert_eq!(serials.len(), 100);
    assert_eq!(std::fs::read_dir(ca.join("certs")).unwrap().count(), 100);
    let leftovers: Vec<_> = snapshot(&ca)
        .into_keys()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(".tmp-")
                || n.starts_with(".staging-")
                || n.starts_with(".backup-")
                || n == "journal.json"
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_held_lock_makes_a_second_process_wait_then_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.path().join(".ca.lock"))
        .unwrap();
    lock.lock().unwrap();
    let before = snapshot(&ca);
    let start = std::time::Instant::now();
    let out = common::fedca()
        .env("FEDCA_LOCK_TIMEOUT", "1")
        .args(["issue", "hs1.fed.test", "--ca-dir", ca.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(start.elapsed() >= Duration::from_secs(1), "it did not wait");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another fedca process holds the lock") && err.contains(".lock"),
        "{err}"
    );
    common::assert_unchanged(&before, &snapshot(&ca), "a process without the lock");
    lock.unlock().unwrap();
    ok(&["issue", "hs1.fed.test", "--ca-dir", ca.to_str().unwrap()]);
}

#[test]
fn a_crash_mid_issuance_rolls_back_or_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    constrained(&ca);
    let c = ca.to_str().unwrap();
    ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
    let before = snapshot(&ca);
    let old_cert = read(ca.join("servers/hs1.fed.test/cert.pem"));

    // Killed after the new files were swapped in, before the index named them: the
    // next run rolls back to exactly the old state.
    let out = common::fedca()
        .env("FEDCA_CRASH_AT", "after-swap")
        .args(["issue", "hs1.fed.test", "--ca-dir", c])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_ne!(old_cert, read(ca.join("servers/hs1.fed.test/cert.pem")));
    ok(&["list", "--ca-dir", c]); // read-only: no recovery needed to read
    ok(&["issue", "other.fed.test", "--ca-dir", c]); // takes the lock: recovers
    assert_eq!(old_cert, read(ca.join("servers/hs1.fed.test/cert.pem")));
    let after = snapshot(&ca);
    for (p, v) in &before {
        if p.to_str() != Some("index.jsonl") && p.to_str() != Some(".lock") {
            assert_eq!(Some(v), after.get(p), "{} changed", p.display());
        }
    }
    assert_eq!(read(ca.join("index.jsonl")).lines().count(), 2);

    // Killed after the index commit: the next run finishes the clean-up.
    let out = common::fedca()
        .env("FEDCA_CRASH_AT", "after-index")
        .args(["issue", "hs1.fed.test", "--ca-dir", c])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let new_cert = read(ca.join("servers/hs1.fed.test/cert.pem"));
    assert_ne!(old_cert, new_cert);
    ok(&["issue", "third.fed.test", "--ca-dir", c]);
    assert_eq!(new_cert, read(ca.join("servers/hs1.fed.test/cert.pem")));
    assert!(!ca.join("journal.json").exists());
    assert!(!snapshot(&ca)
        .keys()
        .any(|p| p.to_string_lossy().contains(".backup-")));
    assert_eq!(read(ca.join("index.jsonl")).lines().count(), 4);
}

#[test]
fn demo_runs_the_embedded_example() {
    let out = run(&["demo", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["wrong_name_refused"], true);
    let hs = v["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 6);
    assert!(hs.iter().all(|h| h["ok"] == true), "{v}");
}

/// A server directory that is a symbolic link: the resolved directory is no option's
/// value, so the refusal names the field ("output directory"), and its advice names the
/// option (issue 8: byte for byte as before).
#[test]
fn a_linked_server_directory_is_refused_naming_the_directory_then_the_option() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init_ca(&ca, &[]);
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, real.join("hs1.fed.test")).unwrap();
    let out = run(&[
        "issue",
        "hs1.fed.test",
        "--ca-dir",
        s(&ca),
        "--out",
        s(&real),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "fedca: error: invalid output directory \"{}\": is a symbolic link; fedca replaces server directories whole and never through a link: remove the link, or give the real directory with --out\n",
            real.join("hs1.fed.test").display()
        )
    );
}
