//! The authority half of issue 10: an intermediate with the root key offline, CSR
//! signing, encrypted CA keys. Every test runs the real binary; OpenSSL is the
//! independent checker (`openssl verify`, `openssl pkey -passin`, `openssl req`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{assert_unchanged, fedca, ok, read, require, run, s, snapshot};

fn openssl(args: &[&str]) -> Output {
    require("openssl");
    Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl")
}

fn openssl_ok(args: &[&str]) -> String {
    let out = openssl(args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts fedca exited with `code` and its error names `needle`; returns stderr.
fn fails(out: &Output, code: i32, needle: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}; stdout:\n{}stderr:\n{err}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    err
}

fn pem_blocks(text: &str) -> Vec<pem::Pem> {
    pem::parse_many(text).unwrap()
}

struct Lab {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ca: PathBuf,
}

impl Lab {
    fn new(init: &[&str]) -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let ca = root.join("ca");
        let mut args = vec!["init", "--ca-dir", s(&ca), "--permit", "fed.test"];
        args.extend_from_slice(init);
        ok(&args);
        Lab {
            _tmp: tmp,
            root,
            ca,
        }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn ca(&self) -> &str {
        s(&self.ca)
    }

    fn server(&self, name: &str) -> PathBuf {
        self.ca.join("servers").join(name)
    }

    /// `openssl verify` of a server's cert.pem against root.pem only, with its
    /// fullchain.pem as untrusted intermediates.
    fn openssl_verifies(&self, name: &str) {
        let dir = self.server(name);
        let out = openssl_ok(&[
            "verify",
            "-CAfile",
            s(&self.ca.join("root.pem")),
            "-untrusted",
            s(&dir.join("fullchain.pem")),
            "-verify_hostname",
            name,
            s(&dir.join("cert.pem")),
        ]);
        assert!(out.contains(": OK"), "{out}");
    }

    /// A CSR made by `openssl req` with a new key (`newkey`, e.g. `rsa:2048`).
    fn csr(&self, file: &str, newkey: &[&str], subj: &str, exts: &[&str]) -> PathBuf {
        let key = self.p(&format!("{file}.key"));
        let csr = self.p(&format!("{file}.csr"));
        let mut args = vec!["req", "-new"];
        args.extend_from_slice(newkey);
        args.extend(["-nodes", "-keyout", s(&key), "-out", s(&csr), "-subj", subj]);
        for e in exts {
            args.extend(["-addext", e]);
        }
        openssl_ok(&args);
        csr
    }
}

fn x509(pem_text: &str) -> Vec<u8> {
    pem::parse(pem_text).unwrap().into_contents()
}

#[test]
fn intermediate_signs_leaves_and_openssl_verifies_through_it() {
    let lab = Lab::new(&["--intermediate"]);
    let policy: serde_json::Value =
        serde_json::from_str(&read(lab.ca.join("policy.json"))).unwrap();
    assert_eq!(policy["intermediate"], true);
    assert_eq!(
        std::fs::metadata(lab.ca.join("intermediate-key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    ok(&["issue", "hs1.fed.test", "--ca-dir", lab.ca()]);
    let dir = lab.server("hs1.fed.test");
    let chain = pem_blocks(&read(dir.join("fullchain.pem")));
    assert_eq!(chain.len(), 2, "fullchain.pem = leaf + intermediate");
    assert_eq!(
        chain[1].contents(),
        x509(&read(lab.ca.join("intermediate.pem")))
    );
    assert_eq!(read(dir.join("ca.pem")), read(lab.ca.join("root.pem")));

    // The intermediate: pathlen 0, the root's name constraints, signed by the root.
    let inter_der = x509(&read(lab.ca.join("intermediate.pem")));
    let root_der = x509(&read(lab.ca.join("root.pem")));
    let (_, inter) = x509_parser::parse_x509_certificate(&inter_der).unwrap();
    let (_, root) = x509_parser::parse_x509_certificate(&root_der).unwrap();
    let bc = inter.basic_constraints().unwrap().unwrap().value;
    assert!(bc.ca && bc.path_len_constraint == Some(0), "{bc:?}");
    assert_eq!(
        inter.name_constraints().unwrap().unwrap().value,
        root.name_constraints().unwrap().unwrap().value,
        "the intermediate's name constraints are the root's"
    );
    assert_eq!(inter.issuer(), root.subject());

    lab.openssl_verifies("hs1.fed.test");
    // Without the intermediate the leaf does not chain to the root: it really is the
    // intermediate that signs.
    let out = openssl(&[
        "verify",
        "-CAfile",
        s(&lab.ca.join("root.pem")),
        s(&dir.join("cert.pem")),
    ]);
    assert!(
        !out.status.success(),
        "the leaf verified without its intermediate"
    );
    // rustls, as a federation client, through `fedca verify`.
    ok(&[
        "verify",
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&lab.ca.join("root.pem")),
        s(&dir.join("fullchain.pem")),
    ]);
    // Outside the constraints: refused before signing, nothing written.
    let before = snapshot(&lab.ca);
    let out = run(&["issue", "hs1.other.test", "--ca-dir", lab.ca()]);
    fails(&out, 2, "outside the CA's name constraints");
    assert_unchanged(&before, &snapshot(&lab.ca), "issue outside the constraints");

    // Trust outputs carry only the root, never the intermediate.
    let conf = lab.p("conf");
    ok(&[
        "trust",
        "--for",
        "synapse",
        "--server",
        "hs1.fed.test",
        "--ca-dir",
        lab.ca(),
        "--out",
        s(&conf),
    ]);
    let inter_b64 = read(lab.ca.join("intermediate.pem"))
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let root_b64 = read(lab.ca.join("root.pem"))
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let mut saw_root = false;
    for f in walk(&conf) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        if f.file_name().is_some_and(|n| n == "fullchain.pem") {
            continue; // the server's own chain, which must carry it
        }
        assert!(
            !text.contains(&inter_b64),
            "{} carries the intermediate",
            f.display()
        );
        saw_root |= text.contains(&root_b64);
    }
    assert!(saw_root, "no trust output carries the root");
}

use std::os::unix::fs::PermissionsExt;

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn root_key_offline_issuance_keeps_working_and_import_checks_the_key() {
    let lab = Lab::new(&["--intermediate"]);
    let key_text = read(lab.ca.join("root-key.pem"));

    // Removing a key never exported is refused, and changes nothing.
    let before = snapshot(&lab.ca);
    fails(
        &run(&["root", "remove-key", "--ca-dir", lab.ca()]),
        2,
        "root export-key",
    );
    assert_unchanged(&before, &snapshot(&lab.ca), "remove-key before export");

    // Export: a new 0600 file with the key's bytes; an existing file is never overwritten.
    let offline = lab.p("offline-root-key.pem");
    std::fs::write(&offline, "keep me").unwrap();
    fails(
        &run(&[
            "root",
            "export-key",
            "--to",
            s(&offline),
            "--ca-dir",
            lab.ca(),
        ]),
        2,
        "never overwrites",
    );
    assert_eq!(read(&offline), "keep me");
    std::fs::remove_file(&offline).unwrap();
    let out = ok(&[
        "root",
        "export-key",
        "--to",
        s(&offline),
        "--ca-dir",
        lab.ca(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["action"], "export-key");
    assert_eq!(read(&offline), key_text);
    assert_eq!(
        std::fs::metadata(&offline).unwrap().permissions().mode() & 0o777,
        0o600
    );
    ok(&["root", "remove-key", "--ca-dir", lab.ca()]);
    assert!(!lab.ca.join("root-key.pem").exists());

    // Issuance goes on through the intermediate, and verifies.
    ok(&["issue", "hs2.fed.test", "--ca-dir", lab.ca()]);
    lab.openssl_verifies("hs2.fed.test");
    ok(&["list", "--ca-dir", lab.ca()]);

    // Twice: refused, unchanged.
    let before = snapshot(&lab.ca);
    fails(
        &run(&["root", "remove-key", "--ca-dir", lab.ca()]),
        2,
        "already removed",
    );
    // Importing some other key: refused, unchanged.
    let other = Lab::new(&[]);
    fails(
        &run(&[
            "root",
            "import-key",
            s(&other.ca.join("root-key.pem")),
            "--ca-dir",
            lab.ca(),
        ]),
        2,
        "is not the key of this CA's root.pem",
    );
    fails(
        &run(&[
            "root",
            "import-key",
            s(&lab.p("nope.pem")),
            "--ca-dir",
            lab.ca(),
        ]),
        2,
        "cannot be read",
    );
    assert_unchanged(&before, &snapshot(&lab.ca), "refused root commands");

    ok(&["root", "import-key", s(&offline), "--ca-dir", lab.ca()]);
    assert_eq!(read(lab.ca.join("root-key.pem")), key_text);
    assert_eq!(
        std::fs::metadata(lab.ca.join("root-key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    fails(
        &run(&["root", "import-key", s(&offline), "--ca-dir", lab.ca()]),
        2,
        "already in the CA directory",
    );
}

#[test]
fn a_ca_without_intermediate_keeps_its_root_key_and_old_layouts_still_issue() {
    let lab = Lab::new(&[]);
    let policy = read(lab.ca.join("policy.json"));
    assert!(!policy.contains("intermediate"), "{policy}");
    let before = snapshot(&lab.ca);
    fails(
        &run(&["root", "remove-key", "--force", "--ca-dir", lab.ca()]),
        2,
        "no intermediate",
    );
    assert_unchanged(
        &before,
        &snapshot(&lab.ca),
        "remove-key without intermediate",
    );
    ok(&["issue", "hs1.fed.test", "--ca-dir", lab.ca()]);
    let chain = pem_blocks(&read(lab.server("hs1.fed.test").join("fullchain.pem")));
    assert_eq!(
        chain.len(),
        1,
        "the root signs leaves itself: fullchain = leaf"
    );
    lab.openssl_verifies("hs1.fed.test");
}

#[test]
fn sign_csr_gives_fedcas_profile_to_openssl_csrs() {
    let lab = Lab::new(&["--intermediate"]);
    let ec = lab.csr(
        "ec",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=hs8.fed.test",
        &["subjectAltName=DNS:hs8.fed.test,DNS:alt8.fed.test"],
    );
    let rsa = lab.csr(
        "rsa",
        &["-newkey", "rsa:2048"],
        "/CN=hs9.fed.test",
        &["subjectAltName=DNS:hs9.fed.test"],
    );
    // Asks to be a CA, for certificate signing, for code signing: gets a leaf.
    let greedy = lab.csr(
        "greedy",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "/CN=hs10.fed.test",
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
            "extendedKeyUsage=codeSigning",
        ],
    );

    let out = ok(&["sign-csr", s(&ec), "--ca-dir", lab.ca(), "--json"]);
    let rec: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rec["server"], "hs8.fed.test");
    assert_eq!(
        rec["names"],
        serde_json::json!(["hs8.fed.test", "alt8.fed.test"])
    );
    assert_eq!(rec["key_type"], "ecdsa-p256");
    ok(&["sign-csr", s(&rsa), "--ca-dir", lab.ca()]);
    ok(&[
        "sign-csr",
        s(&greedy),
        "--server",
        "hs10.fed.test",
        "--delegate",
        "matrix.hs10.fed.test:443",
        "--validity",
        "30d",
        "--ca-dir",
        lab.ca(),
    ]);

    for (name, key) in [
        ("hs8.fed.test", "ec.key"),
        ("hs9.fed.test", "rsa.key"),
        ("hs10.fed.test", "greedy.key"),
    ] {
        let dir = lab.server(name);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(
            files,
            ["ca.pem", "cert.pem", "fullchain.pem"],
            "{name}: no key.pem"
        );
        lab.openssl_verifies(name);
        // The certificate certifies the CSR's key.
        let cert_pub = openssl_ok(&["x509", "-in", s(&dir.join("cert.pem")), "-noout", "-pubkey"]);
        let key_pub = openssl_ok(&["pkey", "-in", s(&lab.p(key)), "-pubout"]);
        assert_eq!(cert_pub, key_pub, "{name}");
        ok(&[
            "verify",
            "--name",
            name,
            "--trust",
            s(&lab.ca.join("root.pem")),
            s(&dir.join("fullchain.pem")),
        ]);
    }
    let text = openssl_ok(&[
        "x509",
        "-in",
        s(&lab.server("hs10.fed.test").join("cert.pem")),
        "-noout",
        "-ext",
        "basicConstraints,keyUsage,extendedKeyUsage,subjectAltName",
    ]);
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(
        !text.contains("CA:TRUE") && !text.contains("Certificate Sign"),
        "{text}"
    );
    assert!(!text.contains("Code Signing"), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(
        text.contains("DNS:hs10.fed.test") && text.contains("DNS:matrix.hs10.fed.test"),
        "{text}"
    );
    let list = ok(&["list", "--ca-dir", lab.ca(), "--json"]);
    for name in ["hs8.fed.test", "hs9.fed.test", "hs10.fed.test"] {
        assert!(list.contains(name), "{list}");
    }
}

#[test]
fn sign_csr_refuses_small_rsa_tampered_and_outside_names_changing_nothing() {
    let lab = Lab::new(&["--intermediate"]);
    let small = lab.csr("small", &["-newkey", "rsa:1024"], "/CN=hs7.fed.test", &[]);
    let outside = lab.csr(
        "outside",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=hs1.other.test",
        &["subjectAltName=DNS:hs1.other.test"],
    );
    let sneaky = lab.csr(
        "sneaky",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=hs5.fed.test",
        &["subjectAltName=DNS:hs5.fed.test,DNS:evil.other.test"],
    );
    let good = lab.csr(
        "good",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=hs6.fed.test",
        &["subjectAltName=DNS:hs6.fed.test"],
    );
    // Tamper: the signed name changes after signing.
    let der = x509(&read(&good));
    let at = der.windows(12).position(|w| w == b"hs6.fed.test").unwrap();
    let mut bad = der.clone();
    bad[at..at + 3].copy_from_slice(b"hs4");
    let tampered = lab.p("tampered.csr");
    std::fs::write(
        &tampered,
        pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", bad)),
    )
    .unwrap();
    let garbage = lab.p("garbage.csr");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    )
    .unwrap();

    let before = snapshot(&lab.ca);
    fails(
        &run(&["sign-csr", s(&small), "--ca-dir", lab.ca()]),
        2,
        "1024 bits",
    );
    fails(
        &run(&["sign-csr", s(&tampered), "--ca-dir", lab.ca()]),
        2,
        "signature that does not verify",
    );
    fails(
        &run(&["sign-csr", s(&outside), "--ca-dir", lab.ca()]),
        2,
        "outside the CA's name constraints",
    );
    fails(
        &run(&["sign-csr", s(&sneaky), "--ca-dir", lab.ca()]),
        2,
        "evil.other.test",
    );
    fails(
        &run(&[
            "sign-csr",
            s(&good),
            "--server",
            "hs6.other.test",
            "--ca-dir",
            lab.ca(),
        ]),
        2,
        "outside the CA's name constraints",
    );
    fails(
        &run(&["sign-csr", s(&garbage), "--ca-dir", lab.ca()]),
        2,
        "not a certificate signing request",
    );
    fails(
        &run(&["sign-csr", s(&lab.p("missing.csr")), "--ca-dir", lab.ca()]),
        2,
        "cannot be read",
    );
    assert_unchanged(&before, &snapshot(&lab.ca), "refused CSRs");
    // The untampered one signs.
    ok(&["sign-csr", s(&good), "--ca-dir", lab.ca()]);
    lab.openssl_verifies("hs6.fed.test");
}

/// Writes a passphrase file (0600) and returns its path.
fn pass_file(lab: &Lab, name: &str, text: &str) -> PathBuf {
    let p = lab.p(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn with_pass(pass: &Path, args: &[&str]) -> Output {
    fedca()
        .env("FEDCA_PASSPHRASE_FILE", pass)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn encrypted_keys_openssl_reads_them_and_a_wrong_passphrase_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab {
        root: tmp.path().to_path_buf(),
        ca: tmp.path().join("ca"),
        _tmp: tmp,
    };
    let good = pass_file(&lab, "pass", "correct horse battery staple\n");
    let wrong = pass_file(&lab, "wrong", "incorrect horse\n");
    // No passphrase source and no terminal: refused before anything is written.
    let out = fedca()
        .args(["init", "--encrypt", "--intermediate", "--ca-dir", lab.ca()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    fails(&out, 2, "FEDCA_PASSPHRASE_FILE");
    assert!(!lab.ca.exists());

    let out = with_pass(
        &good,
        &[
            "init",
            "--encrypt",
            "--intermediate",
            "--permit",
            "fed.test",
            "--ca-dir",
            lab.ca(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for key in ["root-key.pem", "intermediate-key.pem"] {
        let path = lab.ca.join(key);
        let text = read(&path);
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{key}"
        );
        // OpenSSL decrypts it with the same passphrase (the file's first line), and
        // finds the key of the matching certificate.
        let pass_arg = format!("file:{}", s(&good));
        let public = openssl_ok(&["pkey", "-in", s(&path), "-passin", &pass_arg, "-pubout"]);
        let cert = if key == "root-key.pem" {
            "root.pem"
        } else {
            "intermediate.pem"
        };
        let cert_pub = openssl_ok(&["x509", "-in", s(&lab.ca.join(cert)), "-noout", "-pubkey"]);
        assert_eq!(public, cert_pub, "{key}");
        let params = openssl_ok(&["asn1parse", "-in", s(&path)]);
        assert!(
            params.contains("PBES2") && params.contains("PBKDF2"),
            "{params}"
        );
        assert!(
            params.contains("hmacWithSHA256") && params.contains("aes-256-cbc"),
            "{params}"
        );
        // And refuses a wrong one: the key really is encrypted.
        let out = openssl(&[
            "pkey",
            "-in",
            s(&path),
            "-passin",
            &format!("file:{}", s(&wrong)),
        ]);
        assert!(!out.status.success());
    }

    // Issuance with the right passphrase.
    let out = with_pass(&good, &["issue", "hs1.fed.test", "--ca-dir", lab.ca()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.openssl_verifies("hs1.fed.test");

    // A wrong passphrase, or none without a terminal: a clear error, nothing changed.
    let before = snapshot(&lab.ca);
    let err = fails(
        &with_pass(&wrong, &["issue", "hs2.fed.test", "--ca-dir", lab.ca()]),
        1,
        "wrong passphrase",
    );
    assert!(err.contains("intermediate-key.pem"), "{err}");
    let out = fedca()
        .args(["issue", "hs2.fed.test", "--ca-dir", lab.ca()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    fails(&out, 2, "FEDCA_PASSPHRASE_FILE");
    assert_unchanged(&before, &snapshot(&lab.ca), "refused passphrases");

    // list, trust and verify never need it.
    ok(&["list", "--ca-dir", lab.ca()]);
    ok(&[
        "trust",
        "--for",
        "synapse",
        "--server",
        "hs1.fed.test",
        "--ca-dir",
        lab.ca(),
        "--out",
        s(&lab.p("conf")),
    ]);
    ok(&[
        "verify",
        "--name",
        "hs1.fed.test",
        "--trust",
        s(&lab.ca.join("root.pem")),
        s(&lab.server("hs1.fed.test").join("fullchain.pem")),
    ]);

    // The offline root of an encrypted CA: exported as is (still encrypted), imported
    // back only with the right passphrase.
    let offline = lab.p("offline.pem");
    ok(&[
        "root",
        "export-key",
        "--to",
        s(&offline),
        "--ca-dir",
        lab.ca(),
    ]);
    ok(&["root", "remove-key", "--ca-dir", lab.ca()]);
    let before = snapshot(&lab.ca);
    fails(
        &with_pass(
            &wrong,
            &["root", "import-key", s(&offline), "--ca-dir", lab.ca()],
        ),
        1,
        "wrong passphrase",
    );
    assert_unchanged(
        &before,
        &snapshot(&lab.ca),
        "import with a wrong passphrase",
    );
    let out = with_pass(
        &good,
        &["root", "import-key", s(&offline), "--ca-dir", lab.ca()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read(lab.ca.join("root-key.pem")), read(&offline));

    // A rotation of an encrypted CA: a wrong passphrase changes nothing; the new keys
    // are encrypted with the same passphrase, which OpenSSL reads.
    let before = snapshot(&lab.ca);
    fails(
        &with_pass(&wrong, &["rotate-root", "--ca-dir", lab.ca()]),
        1,
        "wrong passphrase",
    );
    assert_unchanged(
        &before,
        &snapshot(&lab.ca),
        "rotate-root with a wrong passphrase",
    );
    let out = with_pass(&good, &["rotate-root", "--ca-dir", lab.ca()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for key in ["root-key.pem", "intermediate-key.pem"] {
        let path = lab.ca.join(key);
        assert!(read(&path).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        openssl_ok(&[
            "pkey",
            "-in",
            s(&path),
            "-passin",
            &format!("file:{}", s(&good)),
            "-noout",
        ]);
    }
    let out = with_pass(&good, &["issue", "hs2.fed.test", "--ca-dir", lab.ca()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.openssl_verifies("hs2.fed.test");
}

#[test]
fn new_commands_have_help_with_examples() {
    for cmd in [
        vec!["sign-csr", "--help"],
        vec!["root", "--help"],
        vec!["init", "--help"],
    ] {
        let out = ok(&cmd);
        assert!(out.contains("Examples:"), "{cmd:?}:\n{out}");
    }
    let out = ok(&["init", "--help"]);
    assert!(
        out.contains("--intermediate") && out.contains("--encrypt"),
        "{out}"
    );
}

#[test]
fn sign_csr_ed25519_ip_names_and_out() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab {
        root: tmp.path().to_path_buf(),
        ca: tmp.path().join("ca"),
        _tmp: tmp,
    };
    ok(&[
        "init",
        "--ca-dir",
        lab.ca(),
        "--permit",
        "fed.test",
        "--permit",
        "fd00::/8",
        "--permit",
        "10.0.0.0/8",
    ]);
    let key = lab.p("ed.key");
    openssl_ok(&["genpkey", "-algorithm", "ed25519", "-out", s(&key)]);
    let csr = lab.p("ed.csr");
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        s(&key),
        "-out",
        s(&csr),
        "-subj",
        "/CN=ignored",
        "-addext",
        "subjectAltName=IP:fd00::9,IP:10.0.0.9",
    ]);
    let out_dir = lab.p("etc-tls");
    let out = ok(&[
        "sign-csr",
        s(&csr),
        "--out",
        s(&out_dir),
        "--ca-dir",
        lab.ca(),
        "--json",
    ]);
    let rec: serde_json::Value = serde_json::from_str(&out).unwrap();
    // The first subjectAltName is the server name: an IPv6 literal, bracketed.
    assert_eq!(rec["server"], "[fd00::9]");
    assert_eq!(rec["key_type"], "ed25519");
    assert_eq!(rec["names"], serde_json::json!(["fd00::9", "10.0.0.9"]));
    let dir = out_dir.join("ipv6_fd00--9");
    assert!(dir.join("cert.pem").exists() && !dir.join("key.pem").exists());
    let verified = openssl_ok(&[
        "verify",
        "-CAfile",
        s(&lab.ca.join("root.pem")),
        "-verify_ip",
        "10.0.0.9",
        s(&dir.join("cert.pem")),
    ]);
    assert!(verified.contains(": OK"), "{verified}");
    // --out inside the CA directory: refused, nothing written.
    let before = snapshot(&lab.ca);
    fails(
        &run(&[
            "sign-csr",
            s(&csr),
            "--out",
            s(&lab.ca.join("x")),
            "--ca-dir",
            lab.ca(),
        ]),
        2,
        "inside the CA directory",
    );
    assert_unchanged(&before, &snapshot(&lab.ca), "--out inside the CA");
}

#[test]
fn sign_csr_killed_mid_commit_is_rolled_back_or_forward() {
    let lab = Lab::new(&["--intermediate"]);
    let csr = lab.csr(
        "c",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=hs3.fed.test",
        &["subjectAltName=DNS:hs3.fed.test"],
    );
    // Killed after the server directory is swapped in, before the index names it:
    // the next locking command removes the uncommitted three-file directory.
    let out = fedca()
        .env("FEDCA_CRASH_AT", "after-swap")
        .args(["sign-csr", s(&csr), "--ca-dir", lab.ca()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(lab.server("hs3.fed.test").join("cert.pem").exists());
    ok(&["issue", "hs1.fed.test", "--ca-dir", lab.ca()]);
    assert!(
        !lab.server("hs3.fed.test").exists(),
        "uncommitted CSR directory left"
    );
    assert!(!lab.ca.join("journal.json").exists());
    assert!(!ok(&["list", "--ca-dir", lab.ca()]).contains("hs3.fed.test"));
    // Killed after the commit: kept.
    let out = fedca()
        .env("FEDCA_CRASH_AT", "after-index")
        .args(["sign-csr", s(&csr), "--ca-dir", lab.ca()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    ok(&["issue", "hs2.fed.test", "--ca-dir", lab.ca()]);
    assert!(ok(&["list", "--ca-dir", lab.ca()]).contains("hs3.fed.test"));
    lab.openssl_verifies("hs3.fed.test");
    assert!(!lab.ca.join("journal.json").exists());
}

/// The certificates of a PEM file, DER.
fn certs_of(path: &Path) -> Vec<Vec<u8>> {
    pem_blocks(&read(path))
        .into_iter()
        .map(|p| p.into_contents())
        .collect()
}

fn write_pem(path: &Path, der: &[u8]) {
    std::fs::write(
        path,
        pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec())),
    )
    .unwrap();
}

/// OpenSSL, Go (crypto/x509) and rustls (`fedca verify`) on a server's fullchain.pem
/// with `trust` as the only trusted roots: whether each accepts it.
fn three_verifiers(dir: &Path, name: &str, trust: &Path) -> [bool; 3] {
    let ossl = openssl(&[
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        s(trust),
        "-untrusted",
        s(&dir.join("fullchain.pem")),
        "-verify_hostname",
        name,
        s(&dir.join("cert.pem")),
    ])
    .status
    .success();
    let go = Command::new(common::goverify())
        .arg("--chain")
        .arg(dir.join("fullchain.pem"))
        .arg("--trust")
        .arg(trust)
        .args(["--name", name])
        .output()
        .unwrap()
        .status
        .success();
    let rustls = run(&[
        "verify",
        "--name",
        name,
        "--trust",
        s(trust),
        s(&dir.join("fullchain.pem")),
    ])
    .status
    .success();
    [ossl, go, rustls]
}

#[test]
fn rotate_root_cross_signs_so_old_and_new_trust_both_verify() {
    for mode in [&[][..], &["--intermediate"][..]] {
        let lab = Lab::new(mode);
        let old_root = lab.p("old-root.pem");
        std::fs::copy(lab.ca.join("root.pem"), &old_root).unwrap();
        std::fs::copy(lab.ca.join("root-key.pem"), lab.p("old-root-key.pem")).unwrap();
        let old_inter_key = std::fs::read(lab.ca.join("intermediate-key.pem")).ok();
        let out = ok(&["rotate-root", "--ca-dir", lab.ca(), "--json"]);
        // Nothing is deleted: the old intermediate and its key are kept too.
        assert_eq!(
            std::fs::read(lab.ca.join("previous-intermediate-key.pem")).ok(),
            old_inter_key,
            "{mode:?}"
        );
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["finished"], false);
        let roots = certs_of(&lab.ca.join("root.pem"));
        assert_eq!(roots.len(), 2, "{mode:?}: root.pem = new root + old root");
        assert_eq!(roots[1], certs_of(&old_root)[0]);
        let new_root = lab.p("new-root.pem");
        write_pem(&new_root, &roots[0]);
        assert_eq!(
            read(lab.ca.join("previous-root-key.pem")),
            read(lab.p("old-root-key.pem"))
        );

        ok(&["issue", "hs1.fed.test", "--ca-dir", lab.ca()]);
        let dir = lab.server("hs1.fed.test");
        let chain = certs_of(&dir.join("fullchain.pem"));
        assert_eq!(
            chain.len(),
            2 + mode.len(),
            "{mode:?}: leaf + cross [+ intermediate]"
        );
        assert_eq!(chain[1], certs_of(&lab.ca.join("cross.pem"))[0]);
        // A client still trusting only the old root, one trusting both (what `trust`
        // writes during the overlap), and — for a CA without intermediate — one
        // trusting only the new root: OpenSSL, Go and rustls all accept.
        assert_eq!(
            three_verifiers(&dir, "hs1.fed.test", &old_root),
            [true; 3],
            "{mode:?} old root"
        );
        assert_eq!(
            three_verifiers(&dir, "hs1.fed.test", &lab.ca.join("root.pem")),
            [true; 3],
            "{mode:?} both roots"
        );
        if mode.is_empty() {
            assert_eq!(three_verifiers(&dir, "hs1.fed.test", &new_root), [true; 3]);
        }
        // The cross-certificate really is what makes the old root accept: without it
        // the chain stops at the new hierarchy.
        let (_, cross) = x509_parser::parse_x509_certificate(&chain[1]).unwrap();
        let (_, old) = x509_parser::parse_x509_certificate(&roots[1]).unwrap();
        assert_eq!(cross.issuer(), old.subject());
        cross.verify_signature(Some(old.public_key())).unwrap();
        assert_eq!(
            cross
                .basic_constraints()
                .unwrap()
                .unwrap()
                .value
                .path_len_constraint,
            Some(0)
        );

        // Trust outputs list both roots during the overlap (Synapse: one file each).
        let conf = lab.p("conf-overlap");
        ok(&[
            "trust",
            "--for",
            "synapse",
            "--server",
            "hs1.fed.test",
            "--ca-dir",
            lab.ca(),
            "--out",
            s(&conf),
        ]);
        let all: String = walk(&conf)
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect();
        for root in [&old_root, &new_root] {
            let b64 = read(root).lines().nth(1).unwrap().to_string();
            assert!(
                all.contains(&b64),
                "{mode:?}: trust output lacks {}",
                root.display()
            );
        }

        // Refusals: a second rotation; changes nothing.
        let before = snapshot(&lab.ca);
        fails(
            &run(&["rotate-root", "--ca-dir", lab.ca()]),
            2,
            "rotate-root --finish",
        );
        assert_unchanged(&before, &snapshot(&lab.ca), "second rotate-root");

        // --finish: the new root alone, no cross-certificate; new leaves verify under
        // the new root alone, with all three verifiers.
        ok(&["rotate-root", "--finish", "--ca-dir", lab.ca()]);
        assert_eq!(certs_of(&lab.ca.join("root.pem")), vec![roots[0].clone()]);
        assert!(!lab.ca.join("cross.pem").exists());
        ok(&["issue", "hs1.fed.test", "--ca-dir", lab.ca()]);
        assert_eq!(certs_of(&dir.join("fullchain.pem")).len(), 1 + mode.len());
        assert_eq!(
            three_verifiers(&dir, "hs1.fed.test", &new_root),
            [true; 3],
            "{mode:?} after finish"
        );
        assert_eq!(
            three_verifiers(&dir, "hs1.fed.test", &old_root),
            [false; 3],
            "{mode:?} old root retired"
        );
        let conf = lab.p("conf-after");
        ok(&[
            "trust",
            "--for",
            "synapse",
            "--server",
            "hs1.fed.test",
            "--ca-dir",
            lab.ca(),
            "--out",
            s(&conf),
        ]);
        let all: String = walk(&conf)
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect();
        assert!(
            !all.contains(read(&old_root).lines().nth(1).unwrap()),
            "{mode:?}: old root still trusted"
        );
        let before = snapshot(&lab.ca);
        fails(
            &run(&["rotate-root", "--finish", "--ca-dir", lab.ca()]),
            2,
            "no rotation is in progress",
        );
        assert_unchanged(&before, &snapshot(&lab.ca), "--finish without rotation");
    }
}

#[test]
fn rotate_root_needs_the_root_key_and_says_root_import_key() {
    let lab = Lab::new(&["--intermediate"]);
    let offline = lab.p("offline.pem");
    ok(&[
        "root",
        "export-key",
        "--to",
        s(&offline),
        "--ca-dir",
        lab.ca(),
    ]);
    ok(&["root", "remove-key", "--ca-dir", lab.ca()]);
    let before = snapshot(&lab.ca);
    fails(
        &run(&["rotate-root", "--ca-dir", lab.ca()]),
        2,
        "fedca root import-key",
    );
    assert_unchanged(
        &before,
        &snapshot(&lab.ca),
        "rotate-root without the root key",
    );
    ok(&["root", "import-key", s(&offline), "--ca-dir", lab.ca()]);
    ok(&["rotate-root", "--ca-dir", lab.ca()]);
}

/// Checks a CA after an interrupted rotation was recovered: either untouched (the
/// template's root and key) or wholly rotated (two roots, the old key kept, a
/// cross-certificate of the intermediate's key by the old root, keys matching), and a
/// fresh leaf verifies with OpenSSL under both the CA's root.pem and the old root.
fn assert_rotation_consistent(ca: &Path, template: &Path, leaf: &str) {
    assert!(!ca.join("rotation.new").exists(), "staging left behind");
    let roots = certs_of(&ca.join("root.pem"));
    let old_root = certs_of(&template.join("root.pem"));
    let key_pub = |file: &str| {
        let kp = rcgen::KeyPair::from_pem(&read(ca.join(file))).unwrap();
        rcgen::PublicKeyData::subject_public_key_info(&kp)
    };
    let spki = |der: &[u8]| {
        let (_, c) = x509_parser::parse_x509_certificate(der).unwrap();
        c.public_key().raw.to_vec()
    };
    let inter = certs_of(&ca.join("intermediate.pem"));
    assert_eq!(key_pub("intermediate-key.pem"), spki(&inter[0]));
    assert_eq!(key_pub("root-key.pem"), spki(&roots[0]));
    let (_, ic) = x509_parser::parse_x509_certificate(&inter[0]).unwrap();
    let (_, r0) = x509_parser::parse_x509_certificate(&roots[0]).unwrap();
    ic.verify_signature(Some(r0.public_key()))
        .expect("intermediate signed by root.pem's first root");
    match roots.len() {
        1 => {
            assert_eq!(roots, old_root, "not rotated, but root.pem changed");
            assert!(!ca.join("cross.pem").exists());
            assert_eq!(
                read(ca.join("root-key.pem")),
                read(template.join("root-key.pem"))
            );
        }
        2 => {
            assert_eq!(roots[1], old_root[0]);
            assert_eq!(
                read(ca.join("previous-root-key.pem")),
                read(template.join("root-key.pem"))
            );
            assert_eq!(
                read(ca.join("previous-intermediate-key.pem")),
                read(template.join("intermediate-key.pem"))
            );
            let cross = certs_of(&ca.join("cross.pem"));
            let (_, xc) = x509_parser::parse_x509_certificate(&cross[0]).unwrap();
            let (_, r1) = x509_parser::parse_x509_certificate(&roots[1]).unwrap();
            xc.verify_signature(Some(r1.public_key())).unwrap();
            assert_eq!(xc.public_key().raw, ic.public_key().raw);
            assert_eq!(xc.subject(), ic.subject());
        }
        n => panic!("root.pem holds {n} certificates"),
    }
    let dir = ca.join("servers").join(leaf);
    for trust in [ca.join("root.pem"), template.join("root.pem")] {
        let out = openssl(&[
            "verify",
            "-CAfile",
            s(&trust),
            "-untrusted",
            s(&dir.join("fullchain.pem")),
            s(&dir.join("cert.pem")),
        ]);
        assert!(
            out.status.success(),
            "{leaf} under {}: {}",
            trust.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Kills that must land while rotate-root runs (the loop goes on until they have,
/// however loaded the machine is), and the most runs it may take.
const KILLS: usize = 100;
const MAX_RUNS: usize = 500;

#[test]
fn rotate_root_killed_at_random_points_leaves_a_consistent_ca() {
    require("openssl");
    let lab = Lab::new(&["--intermediate"]);
    let template = lab.p("template");
    let cp = |from: &Path, to: &Path| {
        let st = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(st.success());
    };
    cp(&lab.ca, &template);
    // How long one rotation takes here, to spread the kills over it.
    let probe = lab.p("probe");
    cp(&template, &probe);
    let t = std::time::Instant::now();
    ok(&["rotate-root", "--ca-dir", s(&probe)]);
    let mut span = (t.elapsed().as_micros() as u64).max(2000) * 6 / 5;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("rng seed {seed}, span {span} us");
    let mut rotated = 0;
    let mut kills = 0;
    // The explicit crash points first, then random SIGKILLs.
    let points = ["rotate-staged", "rotate-committed", "rotate-rename"];
    let mut runs = 0;
    for i in 0..MAX_RUNS {
        if i >= points.len() && kills >= KILLS {
            break;
        }
        runs += 1;
        let ca = lab.p(&format!("ca-{i}"));
        cp(&template, &ca);
        let mut cmd = fedca();
        cmd.args(["rotate-root", "--ca-dir", s(&ca)])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = points.get(i) {
            cmd.env("FEDCA_CRASH_AT", p);
            assert!(!cmd.status().unwrap().success(), "{p}: did not crash");
        } else {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut child = cmd.spawn().unwrap();
            std::thread::sleep(std::time::Duration::from_micros(seed % span));
            if child.try_wait().unwrap().is_none() {
                kills += 1;
            } else {
                // Finished before the kill: aim earlier (one timing is noisy on a
                // loaded machine).
                span = (span * 9 / 10).max(2000);
            }
            let _ = child.kill(); // SIGKILL
            child.wait().unwrap();
        }
        // The next command recovers; then the CA must be whole, either way.
        ok(&["issue", "hs1.fed.test", "--ca-dir", s(&ca)]);
        assert_rotation_consistent(&ca, &template, "hs1.fed.test");
        if certs_of(&ca.join("root.pem")).len() == 2 {
            rotated += 1;
        }
        std::fs::remove_dir_all(&ca).unwrap();
    }
    eprintln!("{kills} processes killed mid-run in {runs} runs, {rotated} CAs ended rotated");
    assert!(
        kills >= KILLS,
        "only {kills} kills landed while rotate-root ran"
    );
    assert!(
        rotated > 0 && rotated < runs,
        "kills all on one side: {rotated}"
    );
}

#[test]
fn revocation_and_crls_work_through_the_intermediate_with_the_root_key_offline() {
    let lab = Lab::new(&["--intermediate"]);
    ok(&[
        "issue",
        "hs1.fed.test",
        "hs2.fed.test",
        "--ca-dir",
        lab.ca(),
    ]);
    ok(&[
        "root",
        "export-key",
        "--to",
        s(&lab.p("offline.pem")),
        "--ca-dir",
        lab.ca(),
    ]);
    ok(&["root", "remove-key", "--ca-dir", lab.ca()]);
    ok(&[
        "revoke",
        "hs2.fed.test",
        "--reason",
        "key-compromise",
        "--ca-dir",
        lab.ca(),
    ]);
    let crl = lab.p("crl.pem");
    ok(&["crl", "--out", s(&crl), "--ca-dir", lab.ca()]);
    // The CRL is the intermediate's (it signed the leaves): OpenSSL checks it.
    let crl_check = |name: &str| {
        let dir = lab.server(name);
        openssl(&[
            "verify",
            "-crl_check",
            "-CRLfile",
            s(&crl),
            "-CAfile",
            s(&lab.ca.join("root.pem")),
            "-untrusted",
            s(&dir.join("fullchain.pem")),
            s(&dir.join("cert.pem")),
        ])
    };
    assert!(crl_check("hs1.fed.test").status.success());
    let out = crl_check("hs2.fed.test");
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("revoked"), "{text}");
    // Renewal goes on without the root key too.
    ok(&["renew", "hs1.fed.test", "--force", "--ca-dir", lab.ca()]);
    lab.openssl_verifies("hs1.fed.test");
}
