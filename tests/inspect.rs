//! `fedca inspect` and `fedca inspect --lint` on fedca's own certificates, keys, CSRs
//! and CRLs, on broken certificates from the corpus, and on bad input.

mod common;

use common::{corpus, json, ok, read, require, run, s, Fixture};
use serde_json::Value;

fn inspect_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["inspect", "--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    (out.status.code().unwrap_or(-1), json(&out))
}

#[test]
fn inspect_shows_every_field_of_own_certificates() {
    let f = Fixture::new();
    let (code, v) = inspect_json(&[s(&f.chain("hs1.fed.test"))]);
    assert_eq!(code, 0);
    let c = &v["objects"][0];
    assert_eq!(c["type"], "certificate");
    assert_eq!(c["subject"], "CN=hs1.fed.test");
    assert_eq!(c["issuer"], "CN=fedca root");
    assert_eq!(c["serial"].as_str().unwrap().len(), 32);
    assert_eq!(
        c["names"],
        serde_json::json!(["DNS:hs1.fed.test", "DNS:hs1-admin.fed.test"])
    );
    assert_eq!(
        c["key"],
        serde_json::json!({"type": "ecdsa-p256", "bits": 256})
    );
    assert_eq!(c["signature_algorithm"], "ecdsa-with-SHA256");
    assert_eq!(c["basic_constraints"]["ca"], false);
    assert_eq!(c["key_usage"], serde_json::json!(["digitalSignature"]));
    assert_eq!(
        c["extended_key_usage"],
        serde_json::json!(["serverAuth", "clientAuth"])
    );
    // 90 days from issuance: "90 days", or "89 days" once a second has ticked since.
    let left = c["time_left"].as_str().unwrap();
    assert!(
        left == "expires in 90 days" || left == "expires in 89 days",
        "{c}"
    );
    assert!(c["authority_key_id"].as_str().unwrap().contains(':'));
    assert!(c["subject_key_id"].as_str().unwrap().contains(':'));
    assert!(c.get("lint").is_none());
    // The fingerprint is the one in the index.
    let index = read(f.ca.join("index.jsonl"));
    let rec: Value = index
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["server"] == "hs1.fed.test")
        .unwrap();
    assert_eq!(c["sha256"], rec["sha256"]);

    // The root: CA, path length, key usages, name constraints with both IP families.
    let (_, v) = inspect_json(&[s(&f.root())]);
    let r = &v["objects"][0];
    assert_eq!(
        r["basic_constraints"],
        serde_json::json!({"ca": true, "path_len": 1, "critical": true})
    );
    assert_eq!(
        r["key_usage"],
        serde_json::json!(["keyCertSign", "cRLSign"])
    );
    assert_eq!(
        r["name_constraints"]["permitted"],
        serde_json::json!(["DNS:fed.test", "IP:10.0.0.0/8", "IP:fd00::/8", "DNS:onion"])
    );
    assert_eq!(r["self_issued"], true);

    // IP names, and the text form.
    let out = ok(&["inspect", s(&f.chain("10.0.0.7:8448"))]);
    for want in [
        "names:               IP:10.0.0.7",
        "key:                 ecdsa-p256 (256 bits)",
        "sha256:",
        "expires in",
    ] {
        assert!(out.contains(want), "{want:?} in\n{out}");
    }
}

#[test]
fn inspect_reads_keys_without_showing_them_and_der_csr_crl() {
    let f = Fixture::new();
    let key_path = f.file("hs1.fed.test", "key.pem");
    let key_pem = read(&key_path);
    for out in [
        ok(&["inspect", s(&key_path)]),
        ok(&["inspect", "--json", s(&key_path)]),
        ok(&["inspect", "--json", s(&f.ca.join("root-key.pem"))]),
    ] {
        for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!out.contains(line), "key material printed:\n{out}");
        }
        assert!(out.contains("ecdsa-p256"), "{out}");
    }
    let tmp = tempfile::tempdir().unwrap();
    // DER certificate.
    let der = pem::parse(read(f.chain("hs1.fed.test")))
        .unwrap()
        .into_contents();
    let der_path = tmp.path().join("cert.der");
    std::fs::write(&der_path, &der).unwrap();
    let (_, v) = inspect_json(&[s(&der_path)]);
    assert_eq!(v["objects"][0]["subject"], "CN=hs1.fed.test");
    // CSR and CRL, made with rcgen.
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let csr = rcgen::CertificateParams::new(vec!["hs5.fed.test".to_string()])
        .unwrap()
        .serialize_request(&kp)
        .unwrap();
    let csr_path = tmp.path().join("req.pem");
    std::fs::write(&csr_path, csr.pem().unwrap()).unwrap();
    let (_, v) = inspect_json(&[s(&csr_path)]);
    let o = &v["objects"][0];
    assert_eq!(o["type"], "csr");
    assert_eq!(o["names"], serde_json::json!(["DNS:hs5.fed.test"]));
    assert_eq!(o["key"]["type"], "ed25519");
    assert_eq!(o["signature_valid"], true);

    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(ca_cert.der(), &ca_key).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let crl = rcgen::CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(7),
        crl_number: rcgen::SerialNumber::from(7u64),
        issuing_distribution_point: None,
        revoked_certs: vec![rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&[0x0a, 0xbc]),
            revocation_time: now,
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .unwrap();
    let crl_path = tmp.path().join("crl.pem");
    std::fs::write(&crl_path, crl.pem().unwrap()).unwrap();
    let (_, v) = inspect_json(&[s(&crl_path)]);
    let o = &v["objects"][0];
    assert_eq!(o["type"], "crl");
    assert_eq!(o["revoked"], serde_json::json!(["0abc"]));
    assert_eq!(o["crl_number"], "7");

    // Several objects in one file: every one is shown.
    let mixed = tmp.path().join("mixed.pem");
    std::fs::write(
        &mixed,
        read(f.chain("hs1.fed.test")) + &read(f.root()) + &key_pem,
    )
    .unwrap();
    let (_, v) = inspect_json(&[s(&mixed)]);
    let types: Vec<&str> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["certificate", "certificate", "private_key"]);
}

#[test]
fn inspect_bad_input_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("g.pem");
    std::fs::write(&garbage, "hello\n").unwrap();
    for p in [
        tmp.path().join("missing.pem"),
        garbage,
        corpus().join("malformed-truncated-pem.pem"),
    ] {
        let out = run(&["inspect", s(&p)]);
        assert_eq!(out.status.code(), Some(2), "{}", p.display());
        assert!(String::from_utf8_lossy(&out.stderr).contains(s(&p)));
    }
}

#[test]
fn lint_passes_own_certificates() {
    let f = Fixture::new();
    for p in [
        f.chain("hs1.fed.test"),
        f.chain("10.0.0.7:8448"),
        f.chain("[fd00::7]"),
        f.chain(&f.onion),
        f.chain("hs2.fed.test"),
        f.root(),
    ] {
        let (code, v) = inspect_json(&["--lint", s(&p)]);
        assert_eq!(code, 0, "{}: {v}", p.display());
        assert_eq!(v["lint_ok"], true);
        assert_eq!(v["objects"][0]["lint"], serde_json::json!([]));
        let text = ok(&["inspect", "--lint", s(&p)]);
        assert!(text.ends_with("lint: ok\n"), "{text}");
    }
}

#[test]
fn lint_fails_broken_certificates_with_the_rule() {
    let cases = [
        ("no-san.pem", "san_present"),
        ("wrong-eku-client-auth.pem", "leaf_server_auth"),
        ("wrong-key-usage-certsign-only.pem", "leaf_key_usage"),
        ("ca-as-leaf.pem", "leaf_not_ca"),
        ("self-signed-leaf.pem", "aki_present"),
        ("unsupported-sig-rsa-sha1.pem", "signature_algorithm"),
        ("unsupported-sig-rsa-md5.pem", "signature_algorithm"),
        ("expired.pem", "serial_entropy"),
        ("expired.pem", "leaf_validity"),
    ];
    for (file, rule) in cases {
        let p = corpus().join(file);
        let (code, v) = inspect_json(&["--lint", s(&p)]);
        assert_eq!(code, 1, "{file}: {v}");
        assert_eq!(v["lint_ok"], false);
        let rules: Vec<&str> = v["objects"][0]["lint"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert!(rules.contains(&rule), "{file}: {rules:?}");
        let text = run(&["inspect", "--lint", s(&p)]);
        assert_eq!(text.status.code(), Some(1));
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains(&format!("FAIL [{rule}]")) && text.contains("lint: FAILED"),
            "{text}"
        );
    }
}

#[test]
fn lint_refuses_weak_keys_and_names_that_are_not_matrix_hostnames() {
    require("openssl");
    let tmp = tempfile::tempdir().unwrap();
    let cert = tmp.path().join("weak.pem");
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout"])
        .arg(tmp.path().join("weak.key"))
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "30",
            "-subj",
            "/CN=hs1.fed.test",
            "-addext",
            "subjectAltName=DNS:hs1.fed.test,DNS:bad_name.fed.test,DNS:expyuzz4wqqyqhjn.onion",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, v) = inspect_json(&["--lint", s(&cert)]);
    assert_eq!(code, 1);
    let findings = v["objects"][0]["lint"].as_array().unwrap();
    let find = |rule: &str| {
        findings
            .iter()
            .find(|f| f["rule"] == rule)
            .unwrap_or_else(|| panic!("no {rule} in {findings:?}"))["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(find("key_strength").contains("1024"));
    assert!(find("matrix_hostname").contains("bad_name.fed.test"));
    assert!(find("onion_v3").contains("v2"));
    assert_eq!(
        v["objects"][0]["key"],
        serde_json::json!({"type": "rsa", "bits": 1024})
    );
    // The same key, inspected as a key.
    let (_, k) = inspect_json(&[s(&tmp.path().join("weak.key"))]);
    assert_eq!(
        k["objects"][0]["key"],
        serde_json::json!({"type": "rsa", "bits": 1024})
    );
}
