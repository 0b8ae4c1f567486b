//! `fedca verify` on fedca's own certificates, on broken ones, and on bad input; the
//! library verifier in a real rustls handshake. (`fedca inspect`: tests/inspect.rs.)

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{fedca, json, ok, read, run, s, Fixture};
use fedca::name::{Host, ServerName};
use fedca::verify::{ErrorKind, TrustBundle};
use serde_json::Value;

fn kind(v: &Value) -> &str {
    v["error"]["kind"].as_str().unwrap_or("(none)")
}

fn detail(v: &Value) -> &str {
    v["error"]["detail"].as_str().unwrap_or("")
}

#[test]
fn own_certificates_verify_for_every_name_kind() {
    let f = Fixture::new();
    let root = f.root();
    let cases: Vec<(String, String, String)> = vec![
        // (server whose chain, --name given, name as checked)
        (
            "hs1.fed.test".into(),
            "hs1.fed.test".into(),
            "hs1.fed.test".into(),
        ),
        (
            "hs1.fed.test".into(),
            "hs1.fed.test:8448".into(),
            "hs1.fed.test".into(),
        ),
        (
            "hs1.fed.test".into(),
            "HS1-Admin.fed.test".into(),
            "hs1-admin.fed.test".into(),
        ),
        (
            "10.0.0.7:8448".into(),
            "10.0.0.7:8448".into(),
            "10.0.0.7".into(),
        ),
        ("10.0.0.7:8448".into(), "10.0.0.7".into(), "10.0.0.7".into()),
        (
            "[fd00::7]".into(),
            "[fd00::7]:8448".into(),
            "fd00::7".into(),
        ),
        ("[fd00::7]".into(), "fd00:0::7".into(), "fd00::7".into()),
        (f.onion.clone(), f.onion.clone(), f.onion.clone()),
        (
            "hs2.fed.test".into(),
            "matrix.hs2.fed.test:8448".into(),
            "matrix.hs2.fed.test".into(),
        ),
        (
            "hs2.fed.test".into(),
            "hs2.fed.test".into(),
            "hs2.fed.test".into(),
        ),
    ];
    for (server, name, checked) in &cases {
        let chain = f.chain(server);
        for trust in [vec!["--trust", s(&root)], vec!["--ca-dir", s(&f.ca)]] {
            let mut args = vec!["--name", name.as_str()];
            args.extend_from_slice(&trust);
            args.push(s(&chain));
            let (code, v) = f.verify(&args);
            assert_eq!(code, 0, "{server} as {name}: {v}");
            assert_eq!(v["valid"], true, "{v}");
            assert_eq!(v["name"], checked.as_str());
            assert!(v["error"].is_null());
            assert_eq!(v["chain"].as_array().unwrap().len(), 1);
            assert_eq!(v["chain"][0]["ca"], false);
        }
    }
    // Text output: one line saying valid.
    let out = run(&[
        "verify",
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&root),
        s(&f.chain("hs1.fed.test")),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("valid: "), "{text}");
}

#[test]
fn past_expiry_is_expired_with_dates_and_before_start_is_not_yet_valid() {
    let f = Fixture::new();
    let chain = f.chain("hs1.fed.test");
    let list: Value = serde_json::from_str(&ok(&["list", "--json", "--ca-dir", s(&f.ca)])).unwrap();
    let rec = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["server"] == "hs1.fed.test")
        .unwrap();
    let nb = rec["not_before"].as_str().unwrap();
    let na = rec["not_after"].as_str().unwrap();
    let after = time::OffsetDateTime::parse(na, &time::format_description::well_known::Rfc3339)
        .unwrap()
        + time::Duration::days(1);
    let after = after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (code, v) = f.verify(&[
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&f.root()),
        s(&chain),
        "--at",
        &after,
    ]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["valid"], false);
    assert_eq!(kind(&v), "expired");
    assert!(detail(&v).contains(na) && detail(&v).contains(nb), "{v}");
    assert!(detail(&v).contains("fedca issue"), "says what to do: {v}");
    assert_eq!(v["at"], after.as_str());

    let (code, v) = f.verify(&[
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&f.root()),
        s(&chain),
        "--at",
        "2001-01-01T00:00:00Z",
    ]);
    assert_eq!(code, 1);
    assert_eq!(kind(&v), "not_yet_valid");
    assert!(detail(&v).contains(nb), "{v}");

    // Text: the diagnosis is one line.
    let out = run(&[
        "verify",
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&f.root()),
        s(&chain),
        "--at",
        &after,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("invalid: ") && first.contains("expired") && first.contains(na),
        "{text}"
    );
}

#[test]
fn wrong_name_is_name_mismatch_listing_the_names() {
    let f = Fixture::new();
    let (code, v) = f.verify(&[
        "--name",
        "hs3.fed.test",
        "--trust",
        s(&f.root()),
        s(&f.chain("hs1.fed.test")),
    ]);
    assert_eq!(code, 1);
    assert_eq!(kind(&v), "name_mismatch");
    for n in ["hs3.fed.test", "hs1.fed.test", "hs1-admin.fed.test"] {
        assert!(detail(&v).contains(n), "{n} in {v}");
    }
    let (code, v) = f.verify(&[
        "--name",
        "10.0.0.8:8448",
        "--trust",
        s(&f.root()),
        s(&f.chain("10.0.0.7:8448")),
    ]);
    assert_eq!(code, 1);
    assert_eq!(kind(&v), "name_mismatch");
    assert!(
        detail(&v).contains("10.0.0.8") && detail(&v).contains("IP:10.0.0.7"),
        "{v}"
    );
    // A DNS name that happens to be the IP's text is not the IP.
    let (_, v) = f.verify(&[
        "--name",
        "[fd00::8]",
        "--trust",
        s(&f.root()),
        s(&f.chain("[fd00::7]")),
    ]);
    assert_eq!(kind(&v), "name_mismatch");
    assert!(detail(&v).contains("fd00::7"), "{v}");
}

#[test]
fn another_ca_is_unknown_issuer_naming_both() {
    let f = Fixture::new();
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other");
    ok(&[
        "init",
        "--ca-dir",
        s(&other),
        "--name",
        "Other Federation Root",
    ]);
    let (code, v) = f.verify(&[
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&other.join("root.pem")),
        s(&f.chain("hs1.fed.test")),
    ]);
    assert_eq!(code, 1);
    assert_eq!(kind(&v), "unknown_issuer");
    assert!(
        detail(&v).contains("fedca root") && detail(&v).contains("Other Federation Root"),
        "{v}"
    );

    // A re-created CA with the same name: same issuer name, different key.
    let same = tmp.path().join("same");
    ok(&["init", "--ca-dir", s(&same)]);
    let (_, v) = f.verify(&[
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&same.join("root.pem")),
        s(&f.chain("hs1.fed.test")),
    ]);
    assert_eq!(kind(&v), "unknown_issuer");
    // The library's hint names the option the command line has (issue 8).
    assert!(
        detail(&v).contains("the CA was probably re-created (fedca init --force) or"),
        "{v}"
    );
}

#[test]
fn leaf_without_the_root_in_trust_and_with_the_root_in_the_chain() {
    let f = Fixture::new();
    let tmp = tempfile::tempdir().unwrap();
    // The server sends leaf + root: still valid, with a warning.
    let both = tmp.path().join("both.pem");
    std::fs::write(&both, read(f.chain("hs1.fed.test")) + &read(f.root())).unwrap();
    let (code, v) = f.verify(&["--name", "hs1.fed.test", "--trust", s(&f.root()), s(&both)]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["chain"].as_array().unwrap().len(), 2);
    assert!(
        v["warnings"][0].as_str().unwrap().contains("trusted root"),
        "{v}"
    );
    // A DER chain file is read too.
    let der = pem::parse(read(f.chain("hs1.fed.test")))
        .unwrap()
        .into_contents();
    let der_path = tmp.path().join("leaf.der");
    std::fs::write(&der_path, der).unwrap();
    let (code, _) = f.verify(&[
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&f.root()),
        s(&der_path),
    ]);
    assert_eq!(code, 0);
}

#[test]
fn bad_input_exits_2_and_a_malformed_chain_is_invalid() {
    let f = Fixture::new();
    let tmp = tempfile::tempdir().unwrap();
    let chain = f.chain("hs1.fed.test");
    let empty = tmp.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = tmp.path().join("missing.pem");
    let no_ca = tmp.path().join("no-ca");
    let root = f.root();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--name", "hs1.fed.test", "--trust", s(&missing), s(&chain)],
            "cannot be read",
        ),
        (
            vec!["--name", "hs1.fed.test", "--trust", s(&empty), s(&chain)],
            "--trust",
        ),
        (
            vec!["--name", "hs1.fed.test", "--trust", s(&root), s(&missing)],
            "cannot be read",
        ),
        (
            vec![
                "--name",
                "hs1.fed.test:99999",
                "--trust",
                s(&root),
                s(&chain),
            ],
            "port",
        ),
        (
            vec!["--name", "bad name", "--trust", s(&root), s(&chain)],
            "bad name",
        ),
        (
            vec![
                "--name",
                "hs1.fed.test",
                "--trust",
                s(&root),
                s(&chain),
                "--at",
                "tomorrow",
            ],
            "RFC 3339",
        ),
        (
            vec!["--name", "hs1.fed.test", "--ca-dir", s(&no_ca), s(&chain)],
            "no fedca CA",
        ),
    ];
    for (args, says) in cases {
        let mut all = vec!["verify"];
        all.extend_from_slice(&args);
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    for bad in [&empty, &garbage] {
        let (code, v) = f.verify(&["--name", "hs1.fed.test", "--trust", s(&f.root()), s(bad)]);
        assert_eq!(code, 1, "{v}");
        assert_eq!(kind(&v), "malformed");
    }
}

#[test]
fn library_verifier_drives_a_real_rustls_handshake() {
    let f = Fixture::new();
    let bundle = TrustBundle::load(&f.root()).unwrap();
    let chain = read(f.chain("[fd00::7]"));
    let key = read(f.file("[fd00::7]", "key.pem"));
    let host = ServerName::parse("[fd00::7]").unwrap().host().clone();
    let config = Arc::new(bundle.client_config(None).unwrap());
    let hs = fedca::handshake::loopback_with(&chain, &key, config.clone(), &host).unwrap();
    assert_eq!(hs.sni, None, "no SNI for an IP literal");
    let wrong = Host::Ipv6("fd00::8".parse().unwrap());
    let err = fedca::handshake::loopback_with(&chain, &key, config, &wrong).unwrap_err();
    assert!(err.to_string().contains("not valid for"), "{err}");
    // The same verifier offline.
    let v = bundle
        .verifier()
        .unwrap()
        .verify_pem(chain.as_bytes(), &wrong, None);
    assert_eq!(v.error.unwrap().kind, ErrorKind::NameMismatch);
}

#[test]
fn help_has_examples() {
    for cmd in ["verify", "inspect"] {
        let out = fedca().args([cmd, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Examples:") && text.contains(&format!("fedca {cmd} ")),
            "{text}"
        );
    }
}

/// A root → intermediate → leaf PKI made with rcgen, with the root's path length and
/// validity chosen by the test.
struct Pki {
    root_pem: String,
    inter_pem: String,
    leaf_pem: String,
}

fn pki(root_pathlen: u8, root_not_after: time::OffsetDateTime) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let now = time::OffsetDateTime::now_utc();
    let ca = |cn: &str, pathlen: u8| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(pathlen));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.not_before = now - time::Duration::days(400);
        p.not_after = now + time::Duration::days(365);
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x42; 16]));
        p
    };
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut root_params = ca("Test Federation Root", root_pathlen);
    root_params.not_after = root_not_after;
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::from_ca_cert_der(root.der(), &root_key).unwrap();
    let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut inter_params = ca("Test Federation Issuing CA 1", 0);
    inter_params.use_authority_key_identifier_extension = true;
    let inter = inter_params.signed_by(&inter_key, &root_issuer).unwrap();
    let inter_issuer = Issuer::from_ca_cert_der(inter.der(), &inter_key).unwrap();
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf_params = CertificateParams::new(vec!["hs1.fed.test".to_string()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "hs1.fed.test");
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.not_before = now - time::Duration::days(1);
    leaf_params.not_after = now + time::Duration::days(30);
    let leaf = leaf_params.signed_by(&leaf_key, &inter_issuer).unwrap();
    Pki {
        root_pem: root.pem(),
        inter_pem: inter.pem(),
        leaf_pem: leaf.pem(),
    }
}

fn verify_files(dir: &Path, root: &str, chain: &str) -> (i32, Value) {
    let root_path = dir.join("root.pem");
    let chain_path = dir.join("chain.pem");
    std::fs::write(&root_path, root).unwrap();
    std::fs::write(&chain_path, chain).unwrap();
    let out = run(&[
        "verify",
        "--json",
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&root_path),
        s(&chain_path),
    ]);
    (out.status.code().unwrap_or(-1), json(&out))
}

#[test]
fn chains_through_an_intermediate() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let p = pki(1, later);

    // Leaf + intermediate: valid, no warning.
    let (code, v) = verify_files(d, &p.root_pem, &(p.leaf_pem.clone() + &p.inter_pem));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["chain"].as_array().unwrap().len(), 2);
    assert_eq!(v["warnings"], serde_json::json!([]));

    // Leaf + intermediate + root: valid, with a warning about the root.
    let (code, v) = verify_files(
        d,
        &p.root_pem,
        &(p.leaf_pem.clone() + &p.inter_pem + &p.root_pem),
    );
    assert_eq!(code, 0, "{v}");
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("Test Federation Root"),
        "{v}"
    );

    // The leaf alone: nothing tells a missing intermediate from a foreign issuer, so
    // the kind is unknown_issuer, and the detail names the issuer and both remedies.
    let (code, v) = verify_files(d, &p.root_pem, &p.leaf_pem);
    assert_eq!(code, 1);
    assert_eq!(kind(&v), "unknown_issuer");
    assert!(detail(&v).contains("Test Federation Issuing CA 1"), "{v}");
    assert!(detail(&v).contains("serve fullchain.pem"), "{v}");

    // Leaf + root, without the intermediate: missing too (the chain shows the link).
    let (_, v) = verify_files(d, &p.root_pem, &(p.leaf_pem.clone() + &p.root_pem));
    assert_eq!(kind(&v), "missing_intermediate", "{v}");

    // Intermediate first: the chain is in the wrong order.
    let (code, v) = verify_files(d, &p.root_pem, &(p.inter_pem.clone() + &p.leaf_pem));
    assert_eq!(code, 1);
    assert_eq!(kind(&v), "ca_as_leaf");
    assert!(detail(&v).contains("wrong order"), "{v}");

    // A root with pathlen:0 above an intermediate: webpki does not apply a trust
    // anchor's path length, OpenSSL/Go/GnuTLS do, and so does fedca verify.
    let p0 = pki(0, later);
    let (code, v) = verify_files(d, &p0.root_pem, &(p0.leaf_pem.clone() + &p0.inter_pem));
    assert_eq!(code, 1, "{v}");
    assert_eq!(kind(&v), "path_length_exceeded");
    assert!(
        detail(&v).contains("Test Federation Root") && detail(&v).contains("rustls/webpki"),
        "{v}"
    );

    // An expired trusted root: webpki does not check a trust anchor's dates; fedca does.
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    let pe = pki(1, past);
    let (code, v) = verify_files(d, &pe.root_pem, &(pe.leaf_pem.clone() + &pe.inter_pem));
    assert_eq!(code, 1, "{v}");
    assert_eq!(kind(&v), "expired");
    assert!(
        detail(&v).contains("trusted root \"Test Federation Root\""),
        "{v}"
    );
}

/// Two CA certificates X and Y that issue each other, and a leaf issued by X: the chain
/// the server sends (leaf, X, Y) never reaches a trusted root. The diagnosis must say it
/// is a loop, not that X is missing from a chain that holds it.
#[test]
fn certificates_that_issue_each_other_are_a_chain_loop() {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let now = time::OffsetDateTime::now_utc();
    let ca = |cn: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.use_authority_key_identifier_extension = true;
        p.not_before = now - time::Duration::days(1);
        p.not_after = now + time::Duration::days(365);
        p
    };
    let (kx, ky) = (
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
    );
    let (px, py) = (ca("Loop CA X"), ca("Loop CA Y"));
    let x = px.signed_by(&kx, &Issuer::from_params(&py, &ky)).unwrap();
    let y = py.signed_by(&ky, &Issuer::from_params(&px, &kx)).unwrap();
    let mut lp = CertificateParams::new(vec!["hs1.fed.test".to_string()]).unwrap();
    lp.distinguished_name
        .push(DnType::CommonName, "hs1.fed.test");
    lp.is_ca = IsCa::ExplicitNoCa;
    lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    lp.use_authority_key_identifier_extension = true;
    lp.not_before = now - time::Duration::days(1);
    lp.not_after = now + time::Duration::days(30);
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = lp
        .signed_by(&leaf_key, &Issuer::from_params(&px, &kx))
        .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let later = now + time::Duration::days(365);
    let other = pki(1, later);
    let (code, v) = verify_files(
        tmp.path(),
        &other.root_pem,
        &(leaf.pem() + &x.pem() + &y.pem()),
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(kind(&v), "chain_loop", "{v}");
    let d = detail(&v);
    assert!(
        d.contains("Loop CA X") && d.contains("Loop CA Y") && d.contains("loop"),
        "{v}"
    );
    assert!(!d.contains("neither in the chain"), "{v}");
}

#[test]
fn a_leaf_and_a_ca_that_issue_each_other_are_a_chain_loop() {
    // The leaf L is itself in the loop: L issues Y, and Y issues L.
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let now = time::OffsetDateTime::now_utc();
    let mut py = CertificateParams::new(Vec::<String>::new()).unwrap();
    py.distinguished_name.push(DnType::CommonName, "Loop CA Y");
    py.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    py.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    py.use_authority_key_identifier_extension = true;
    py.not_before = now - time::Duration::days(1);
    py.not_after = now + time::Duration::days(365);
    let mut lp = CertificateParams::new(vec!["hs1.fed.test".to_string()]).unwrap();
    lp.distinguished_name
        .push(DnType::CommonName, "hs1.fed.test");
    lp.is_ca = IsCa::ExplicitNoCa;
    lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    lp.use_authority_key_identifier_extension = true;
    lp.not_before = now - time::Duration::days(1);
    lp.not_after = now + time::Duration::days(30);
    let (kl, ky) = (
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
    );
    let leaf = lp.signed_by(&kl, &Issuer::from_params(&py, &ky)).unwrap();
    let y = py.signed_by(&ky, &Issuer::from_params(&lp, &kl)).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let later = now + time::Duration::days(365);
    let other = pki(1, later);
    let (code, v) = verify_files(tmp.path(), &other.root_pem, &(leaf.pem() + &y.pem()));
    assert_eq!(code, 1, "{v}");
    assert_eq!(kind(&v), "chain_loop", "{v}");
    let d = detail(&v);
    assert!(
        d.contains("hs1.fed.test") && d.contains("Loop CA Y") && d.contains("loop"),
        "{v}"
    );
}
