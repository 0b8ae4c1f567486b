//! Name constraints close every name type: once anything is permitted, a root excludes
//! each of DNS, IPv4 and IPv6 with nothing permitted, in the certificate itself. Leaves
//! of an excluded type, made and signed with OpenSSL using the root key (fedca's own
//! issuance refuses them before signing) are refused by OpenSSL, Go, GnuTLS and
//! rustls/webpki.

mod common;

use std::path::Path;
use std::process::Command;

use common::{goverify, ok, require, run};

/// Signs a leaf for `san` (an openssl subjectAltName value) with the CA's root key,
/// using OpenSSL only. Returns the leaf's path.
fn openssl_leaf(ca: &Path, work: &Path, tag: &str, san: &str) -> std::path::PathBuf {
    let openssl = require("openssl");
    let key = work.join(format!("{tag}-key.pem"));
    let csr = work.join(format!("{tag}.csr"));
    let leaf = work.join(format!("{tag}.pem"));
    let ext = work.join(format!("{tag}.cnf"));
    std::fs::write(
        &ext,
        format!("subjectAltName={san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
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
        .args(["-subj", "/O=outside"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let st = Command::new(&openssl)
        .args([
            "x509",
            "-req",
            "-days",
            "30",
            "-set_serial",
            "0x1234567890abcdef1234",
        ])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(ca.join("root.pem"))
        .arg("-CAkey")
        .arg(ca.join("root-key.pem"))
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    leaf
}

/// (OpenSSL, Go, GnuTLS, rustls/webpki) verdicts for `leaf` and `name`: true = accepted.
fn verdicts(ca: &Path, leaf: &Path, name: &str) -> [(bool, String); 4] {
    let root = ca.join("root.pem");
    let ip = name.parse::<std::net::IpAddr>().is_ok();
    let o = Command::new(require("openssl"))
        .args(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(&root)
        .args([if ip { "-verify_ip" } else { "-verify_hostname" }, name])
        .arg(leaf)
        .output()
        .unwrap();
    let g = Command::new(goverify())
        .arg("--chain")
        .arg(leaf)
        .arg("--trust")
        .arg(&root)
        .args(["--name", name])
        .output()
        .unwrap();
    let t = Command::new(require("bash"))
        .arg(common::interop().join("gnutls-verify.sh"))
        .arg("--chain")
        .arg(leaf)
        .arg("--trust")
        .arg(&root)
        .args(["--name", name])
        .output()
        .unwrap();
    let r = common::fedca()
        .args(["verify", "--name", name, "--trust"])
        .arg(&root)
        .arg(leaf)
        .output()
        .unwrap();
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    [
        (o.status.success(), text(&o)),
        (g.status.code() == Some(0), text(&g)),
        (t.status.code() == Some(0), text(&t)),
        (r.status.code() == Some(0), text(&r)),
    ]
}

/// (the root's permits, an in-constraint leaf (SAN, name), leaves of excluded types).
type Case = (
    &'static [&'static str],
    (&'static str, &'static str),
    &'static [(&'static str, &'static str)],
);

const VERIFIERS: [&str; 4] = [
    "OpenSSL",
    "Go crypto/x509",
    "GnuTLS certtool",
    "rustls/webpki (fedca verify)",
];

#[test]
fn a_type_with_nothing_permitted_is_excluded_and_every_verifier_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [Case; 3] = [
        (
            &["10.0.0.0/8", "fd00::/8"],
            ("IP:10.0.0.7", "10.0.0.7"),
            &[("DNS:www.google.com", "www.google.com")],
        ),
        (
            &["lab.test"],
            ("DNS:hs1.lab.test", "hs1.lab.test"),
            &[
                ("IP:8.8.8.8", "8.8.8.8"),
                ("IP:2001:4860:4860::8888", "2001:4860:4860::8888"),
            ],
        ),
        (
            &["10.0.0.0/8"],
            ("IP:10.0.0.7", "10.0.0.7"),
            &[
                ("IP:fd00::7", "fd00::7"),
                ("DNS:hs1.lab.test", "hs1.lab.test"),
            ],
        ),
    ];
    for (i, (permits, control, outside)) in cases.iter().enumerate() {
        let ca = tmp.path().join(format!("ca{i}"));
        let c = ca.to_str().unwrap();
        let mut args = vec!["init", "--ca-dir", c];
        for p in *permits {
            args.extend(["--permit", p]);
        }
        let out = ok(&args);
        assert!(out.contains("excluded:  every"), "{permits:?}: {out}");
        let (san, name) = control;
        let leaf = openssl_leaf(&ca, tmp.path(), &format!("ok{i}"), san);
        for ((good, text), who) in verdicts(&ca, &leaf, name).iter().zip(VERIFIERS) {
            assert!(
                good,
                "{permits:?}: {who} refused the in-constraint {name}: {text}"
            );
        }
        for (j, (san, name)) in outside.iter().enumerate() {
            let server = if name.contains(':') {
                format!("[{name}]")
            } else {
                name.to_string()
            };
            let issued = run(&["issue", &server, "--ca-dir", c]);
            let err = String::from_utf8_lossy(&issued.stderr);
            assert_eq!(
                issued.status.code(),
                Some(2),
                "{permits:?}: fedca issued {name}: {err}"
            );
            assert!(
                err.contains("outside the CA's name constraints")
                    && err.contains("excluded: every"),
                "{permits:?}: {name}: {err}"
            );
            let leaf = openssl_leaf(&ca, tmp.path(), &format!("out{i}-{j}"), san);
            for ((good, text), who) in verdicts(&ca, &leaf, name).iter().zip(VERIFIERS) {
                assert!(!good, "{permits:?}: {who} accepted {name}: {text}");
            }
        }
    }
}

#[test]
fn a_permit_of_a_whole_address_family_needs_a_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let c = ca.to_str().unwrap();
    for whole in ["0.0.0.0/0", "::/0"] {
        let out = run(&[
            "init", "--ca-dir", c, "--permit", "fed.test", "--permit", whole,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{whole}: {err}");
        assert!(
            err.contains(&format!("--permit \"{whole}\"")) && err.contains("--allow-all-addresses"),
            "{whole}: {err}"
        );
        assert!(!ca.exists(), "{whole}: {c} was created");
    }
    let out = ok(&[
        "init",
        "--ca-dir",
        c,
        "--permit",
        "0.0.0.0/0",
        "--allow-all-addresses",
    ]);
    assert!(
        out.contains("permitted: 0.0.0.0/0")
            && out.contains("excluded:  every DNS name, every IPv6 address (::/0)"),
        "{out}"
    );
}

#[test]
fn ranges_that_together_cover_a_whole_family_need_the_flag_too() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let c = ca.to_str().unwrap();
    for (a, b) in [("0.0.0.0/1", "128.0.0.0/1"), ("::/1", "8000::/1")] {
        let out = run(&[
            "init", "--ca-dir", c, "--permit", "fed.test", "--permit", a, "--permit", b,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{a} + {b}: {err}");
        assert!(
            err.contains(a) && err.contains(b) && err.contains("--allow-all-addresses"),
            "{a} + {b}: {err}"
        );
        assert!(!ca.exists(), "{a} + {b}: {c} was created");
    }
    // Half of the family is still a constraint.
    ok(&[
        "init",
        "--ca-dir",
        c,
        "--permit",
        "0.0.0.0/1",
        "--permit",
        "128.0.0.0/2",
    ]);
}

#[test]
fn ipv4_mapped_ipv6_names_cannot_bypass_the_ipv4_constraints() {
    let tmp = tempfile::tempdir().unwrap();
    // (extra init args, in-constraint leaves (SAN, name))
    type MappedCase = (
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
    );
    let cases: [MappedCase; 3] = [
        (&["--permit", "::ffff:0:0/96"], &[]),
        (
            &["--permit", "fed.test", "--permit", "fd00::/8"],
            &[
                ("IP:fd00::7", "fd00::7"),
                ("DNS:hs1.fed.test", "hs1.fed.test"),
            ],
        ),
        (
            &[
                "--permit",
                "10.0.0.0/8",
                "--permit",
                "::/0",
                "--allow-all-addresses",
            ],
            &[("IP:10.0.0.7", "10.0.0.7"), ("IP:fd00::7", "fd00::7")],
        ),
    ];
    for (i, (extra, controls)) in cases.iter().enumerate() {
        let ca = tmp.path().join(format!("ca{i}"));
        let c = ca.to_str().unwrap();
        let mut args = vec!["init", "--ca-dir", c];
        args.extend(extra.iter());
        let out = ok(&args);
        assert!(
            out.contains("every IPv4-mapped IPv6 address (::ffff:0:0/96)"),
            "{extra:?}: {out}"
        );
        // fedca refuses the names at parse time, naming the IPv4 form.
        for (argv, value) in [
            (vec!["issue", "[::ffff:8.8.8.8]"], "::ffff:8.8.8.8"),
            (vec!["issue", "[::8.8.8.8]"], "::8.8.8.8"),
            (
                vec!["issue", "10.0.0.9", "--alt", "::ffff:8.8.8.8"],
                "::ffff:8.8.8.8",
            ),
        ] {
            let mut a = argv.clone();
            a.extend(["--ca-dir", c]);
            let issued = run(&a);
            let err = String::from_utf8_lossy(&issued.stderr);
            assert_eq!(issued.status.code(), Some(2), "{extra:?} {argv:?}: {err}");
            assert!(
                err.contains(value) && err.contains("write 8.8.8.8 instead"),
                "{extra:?} {argv:?}: {err}"
            );
        }
        for (j, (san, name)) in controls.iter().enumerate() {
            let leaf = openssl_leaf(&ca, tmp.path(), &format!("ok{i}-{j}"), san);
            for ((good, text), who) in verdicts(&ca, &leaf, name).iter().zip(VERIFIERS) {
                assert!(
                    good,
                    "{extra:?}: {who} refused the in-constraint {name}: {text}"
                );
            }
        }
        // The bypass leaf, signed with the root key by OpenSSL: every verifier refuses
        // it, Go included (it matches ::ffff:8.8.8.8 against "8.8.8.8").
        let leaf = openssl_leaf(&ca, tmp.path(), &format!("mapped{i}"), "IP:::ffff:8.8.8.8");
        for name in ["8.8.8.8", "::ffff:8.8.8.8"] {
            for ((good, text), who) in verdicts(&ca, &leaf, name).iter().zip(VERIFIERS) {
                assert!(!good, "{extra:?}: {who} accepted {name}: {text}");
            }
        }
    }
}
