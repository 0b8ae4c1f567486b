//! Every private key fedca writes (the CA's root-key.pem and each leaf's key.pem, for
//! every key type) loads in OpenSSL, Go's crypto/x509 and Python's cryptography, and
//! matches its certificate. Ed25519 keys are RFC 8410 PKCS#8 v1 documents; CAs whose
//! root key is in ring's older PKCS#8 v2 form keep working.

mod common;

use std::path::Path;
use std::process::Command;

use common::{go_tool, ok, python, require};

const KEYS: [&str; 3] = ["ecdsa-p256", "ecdsa-p384", "ed25519"];

/// RFC 8410 §7: PKCS#8 v1 (version 0), id-Ed25519, the 32-byte seed; nothing else.
const ED25519_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn der(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    let p = pem::parse(&text).unwrap();
    assert_eq!(p.tag(), "PRIVATE KEY", "{}", path.display());
    p.contents().to_vec()
}

fn openssl(args: &[&str], file: &Path) -> (bool, String) {
    let out = Command::new(require("openssl"))
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const PY_LOAD: &str = r#"
import sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization as s
key = s.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
cert = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
spki = lambda k: k.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
if spki(key.public_key()) != spki(cert.public_key()):
    sys.exit("the key does not match the certificate")
print(type(key).__name__)
"#;

/// Asserts that OpenSSL, Python's cryptography and Go's crypto/x509 each load `key`
/// and find it matches `cert`.
fn assert_loads_everywhere(key: &Path, cert: &Path, gokey: &Path, what: &str) {
    let (good, text) = openssl(&["pkey", "-noout", "-in"], key);
    assert!(
        good,
        "{what}: openssl pkey refused {}: {text}",
        key.display()
    );
    let (good, key_pub) = openssl(&["pkey", "-pubout", "-in"], key);
    assert!(good, "{what}: openssl pkey -pubout: {key_pub}");
    let (good, cert_pub) = openssl(&["x509", "-pubkey", "-noout", "-in"], cert);
    assert!(good, "{what}: openssl x509 -pubkey: {cert_pub}");
    assert_eq!(key_pub, cert_pub, "{what}: openssl: key and cert differ");

    let out = Command::new(python())
        .args(["-c", PY_LOAD])
        .arg(key)
        .arg(cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what}: Python cryptography refused {}: {}",
        key.display(),
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(gokey).arg(key).arg(cert).output().unwrap();
    assert!(
        out.status.success(),
        "{what}: Go x509.ParsePKCS8PrivateKey refused {}: {}",
        key.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_private_key_loads_in_openssl_go_and_python() {
    let gokey = go_tool("gokey");
    for key_type in KEYS {
        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca");
        let c = ca.to_str().unwrap();
        ok(&[
            "init", "--ca-dir", c, "--key", key_type, "--permit", "fed.test",
        ]);
        ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
        let leaf = ca.join("servers/hs1.fed.test");
        for (key, cert, what) in [
            (ca.join("root-key.pem"), ca.join("root.pem"), "root"),
            (leaf.join("key.pem"), leaf.join("cert.pem"), "leaf"),
        ] {
            let what = format!("{key_type} {what}");
            assert_loads_everywhere(&key, &cert, &gokey, &what);
            if key_type == "ed25519" {
                let d = der(&key);
                assert!(
                    d.len() == 48 && d[..16] == ED25519_V1_PREFIX,
                    "{what}: not an RFC 8410 PKCS#8 v1 document: {d:02x?}"
                );
            }
        }
    }
}

/// The PKCS#8 v2 document ring generates for an Ed25519 seed (RFC 5958 with the public
/// key in `[1]`): how fedca wrote Ed25519 keys before.
fn ring_v2(seed: &[u8]) -> Vec<u8> {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let public = Ed25519KeyPair::from_seed_unchecked(seed)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let mut v2 = vec![
        0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    v2.extend_from_slice(seed);
    v2.extend_from_slice(&[0xa1, 0x23, 0x03, 0x21, 0x00]);
    v2.extend_from_slice(&public);
    // ring's strict parser accepts only v2 documents whose public key matches the seed.
    Ed25519KeyPair::from_pkcs8(&v2).expect("ring accepts the v2 document");
    v2
}

#[test]
fn a_ca_with_an_old_v2_ed25519_root_key_still_issues() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let c = ca.to_str().unwrap();
    ok(&[
        "init", "--ca-dir", c, "--key", "ed25519", "--permit", "fed.test",
    ]);
    let root_key = ca.join("root-key.pem");
    let v1 = der(&root_key);
    assert_eq!(v1.len(), 48, "fedca writes Ed25519 keys as PKCS#8 v1");
    let v2 = ring_v2(&v1[16..]);
    std::fs::write(&root_key, pem::encode(&pem::Pem::new("PRIVATE KEY", v2))).unwrap();
    ok(&["issue", "hs1.fed.test", "--ca-dir", c]);
    let leaf = ca.join("servers/hs1.fed.test");
    let out = Command::new(require("openssl"))
        .args(["verify", "-CAfile"])
        .arg(ca.join("root.pem"))
        .args(["-verify_hostname", "hs1.fed.test"])
        .arg(leaf.join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the leaf signed with the v2 root key: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The new leaf key is written in the v1 form.
    let d = der(&leaf.join("key.pem"));
    assert!(d.len() == 48 && d[..16] == ED25519_V1_PREFIX, "{d:02x?}");
}
