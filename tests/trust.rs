//! `fedca trust`: every target's files, parsed as the homeservers parse them, every
//! required key checked with its value; bad input exits 2 and writes nothing; the CA's
//! private key appears in no output.
//!
//! Drives the built binary. The real-Synapse proof is tests/synapse_federation.rs.

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value as Yaml;

mod common;
use common::{init_ca, ok, read, run, s, BIN};

/// The nine targets, and whether each needs --server.
const TARGETS: [(&str, bool); 9] = [
    ("synapse", true),
    ("dendrite", true),
    ("conduit", true),
    ("conduwuit", true),
    ("continuwuity", true),
    ("tuwunel", true),
    ("pem", false),
    ("system", false),
    ("kubernetes", true),
];

fn mode(p: impl AsRef<Path>) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A CA with five servers: two IPv4 literals with ports, an IPv6 literal, a DNS name
/// and a delegated DNS name.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ca: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let ca = root.join("ca");
        let c = s(&ca);
        init_ca(&ca, &[]);
        ok(&[
            "issue",
            "127.0.0.1:8448",
            "127.0.0.2:8449",
            "[::1]:8450",
            "hs1.fed.test",
            "--ca-dir",
            c,
        ]);
        ok(&[
            "issue",
            "hs2.fed.test",
            "--delegate",
            "matrix.hs2.fed.test:8500",
            "--ca-dir",
            c,
        ]);
        Fixture {
            _tmp: tmp,
            root,
            ca,
        }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn trust(&self, target: &str, server: Option<&str>, out: &Path, extra: &[&str]) -> String {
        let mut args = vec![
            "trust",
            "--for",
            target,
            "--ca-dir",
            s(&self.ca),
            "--out",
            s(out),
        ];
        if let Some(sv) = server {
            args.extend(["--server", sv]);
        }
        args.extend_from_slice(extra);
        ok(&args)
    }

    fn server_dir(&self, dir_name: &str) -> PathBuf {
        self.ca.join("servers").join(dir_name)
    }

    fn root_pem(&self) -> String {
        read(self.ca.join("root.pem"))
    }
}

fn yaml(p: impl AsRef<Path>) -> Yaml {
    serde_yaml_ng::from_str(&read(p.as_ref()))
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", p.as_ref().display()))
}

fn toml_file(p: impl AsRef<Path>) -> toml::Table {
    read(p.as_ref())
        .parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{} is not TOML: {e}", p.as_ref().display()))
}

fn strs(v: &Yaml) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|x| x.as_str().expect("string").to_string())
        .collect()
}

/// `net` ("a/n") contains `addr`: an implementation independent of fedca's.
fn contains(net: &str, addr: &str) -> bool {
    let (a, p) = net.split_once('/').expect("CIDR");
    let p: u32 = p.parse().unwrap();
    let (n, x): (IpAddr, IpAddr) = (a.parse().unwrap(), addr.parse().unwrap());
    match (n, x) {
        (IpAddr::V4(n), IpAddr::V4(x)) => {
            let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(n) & m == u32::from(x) & m
        }
        (IpAddr::V6(n), IpAddr::V6(x)) => {
            let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(n) & m == u128::from(x) & m
        }
        _ => false,
    }
}

fn blocked(list: &[String], addr: &str) -> bool {
    list.iter().any(|n| contains(n, addr))
}

fn pem_certs(text: &str) -> Vec<Vec<u8>> {
    pem::parse_many(text)
        .unwrap()
        .into_iter()
        .map(|p| {
            assert_eq!(p.tag(), "CERTIFICATE", "only certificates expected");
            p.into_contents()
        })
        .collect()
}

/// Synapse's DEFAULT_IP_RANGE_BLOCKLIST (synapse/config/server.py, 1.163.2).
const SYNAPSE_DEFAULTS: [&str; 19] = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "169.254.0.0/16",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "2001:db8::/32",
    "ff00::/8",
    "fec0::/10",
];

#[test]
fn synapse_fragment_has_every_required_key() {
    let f = Fixture::new();
    let out = f.out("hs1");
    f.trust("synapse", Some("127.0.0.1:8448"), &out, &[]);
    let frag = out.join("homeserver-fedca.yaml");
    let y = yaml(&frag);
    let dir = f.server_dir("127.0.0.1_8448");

    // The bundle is self-contained: the chain and key are copied into it, and the
    // fragment names them there (--install-dir defaults to --out).
    assert_eq!(
        y["tls_certificate_path"].as_str().unwrap(),
        s(&out.join("fullchain.pem"))
    );
    assert_eq!(
        y["tls_private_key_path"].as_str().unwrap(),
        s(&out.join("key.pem"))
    );
    assert_eq!(
        read(out.join("fullchain.pem")),
        read(dir.join("fullchain.pem"))
    );
    assert_eq!(read(out.join("key.pem")), read(dir.join("key.pem")));
    assert_eq!(mode(out.join("key.pem")), 0o600);
    assert_eq!(y["federation_verify_certificates"], Yaml::Bool(true));
    assert_eq!(
        y["federation_client_minimum_tls_version"].as_str(),
        Some("1.2")
    );
    assert_eq!(y["trusted_key_servers"], Yaml::Sequence(vec![]));

    // The TLS federation listener, on the server name's port and its address.
    let listeners = y["listeners"].as_sequence().unwrap();
    let fed = &listeners[0];
    assert_eq!(fed["tls"], Yaml::Bool(true));
    assert_eq!(fed["port"].as_u64(), Some(8448));
    assert_eq!(fed["type"].as_str(), Some("http"));
    assert_eq!(strs(&fed["bind_addresses"]), ["127.0.0.1"]);
    assert_eq!(strs(&fed["resources"][0]["names"]), ["federation"]);
    assert!(listeners
        .iter()
        .skip(1)
        .all(|l| l["tls"] == Yaml::Bool(false)));

    // One file per trusted root, each holding exactly that root.
    let cas = strs(&y["federation_custom_ca_list"]);
    assert_eq!(cas.len(), 1);
    assert!(cas[0].starts_with(s(&out)));
    assert_eq!(pem_certs(&read(&cas[0])), pem_certs(&f.root_pem()));

    // The blacklist: Synapse's defaults minus exactly the federation's IP literals.
    let bl = strs(&y["ip_range_blacklist"]);
    for a in ["127.0.0.1", "127.0.0.2", "::1"] {
        assert!(!blocked(&bl, a), "{a} must be reachable");
    }
    for a in [
        "127.0.0.0",
        "127.0.0.3",
        "127.255.255.255",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "224.0.0.1",
        "fe80::1",
        "fd00::1",
        "ff02::1",
    ] {
        assert!(blocked(&bl, a), "{a} must stay blocked");
    }
    // Every default range survives whole unless it holds a federation address.
    for d in SYNAPSE_DEFAULTS {
        if !["127.0.0.0/8", "::1/128"].contains(&d) {
            assert!(bl.contains(&d.to_string()), "{d} missing");
        }
    }
    // 19 defaults; 127.0.0.0/8 minus two addresses is 24 blocks; ::1/128 is gone.
    assert_eq!(bl.len(), 19 - 1 + 24 - 1);
    // No --federation-addr: no whitelist; the comment explains the IP-literal rule.
    assert!(y.get("ip_range_whitelist").is_none());
    let text = read(&frag);
    assert!(
        text.contains("BlocklistingAgentWrapper"),
        "the why must be in the file"
    );
    assert!(
        text.contains("hs1.fed.test"),
        "unresolved DNS-named servers are mentioned"
    );
    // Every setting carries a comment: the line before each top-level key is one.
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if !l.starts_with(' ') && !l.starts_with('#') && !l.is_empty() {
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "no comment above {l:?}"
            );
        }
    }
    assert!(
        !out.join(".well-known").exists(),
        "not delegated: no .well-known"
    );
}

#[test]
fn synapse_delegated_dns_server_gets_well_known_and_whitelist() {
    let f = Fixture::new();
    let out = f.out("hs2");
    f.trust(
        "synapse",
        Some("hs2.fed.test"),
        &out,
        &[
            "--federation-addr",
            "10.9.0.7",
            "--federation-addr",
            "10.9.0.8",
            "--bind",
            "10.9.0.8",
        ],
    );
    let y = yaml(out.join("homeserver-fedca.yaml"));
    let wk: serde_json::Value =
        serde_json::from_str(&read(out.join(".well-known/matrix/server"))).unwrap();
    assert_eq!(
        wk,
        serde_json::json!({"m.server": "matrix.hs2.fed.test:8500"})
    );
    let fed = &y["listeners"][0];
    assert_eq!(fed["port"].as_u64(), Some(8500), "the delegated port");
    assert_eq!(strs(&fed["bind_addresses"]), ["10.9.0.8"]);
    assert_eq!(
        strs(&y["ip_range_whitelist"]),
        ["10.9.0.7/32", "10.9.0.8/32"]
    );
    let bl = strs(&y["ip_range_blacklist"]);
    for a in ["10.9.0.7", "10.9.0.8", "127.0.0.1", "127.0.0.2", "::1"] {
        assert!(!blocked(&bl, a), "{a}");
    }
    assert!(blocked(&bl, "10.9.0.9") && blocked(&bl, "10.0.0.1"));
    // Without --bind a DNS endpoint listens everywhere.
    let out2 = f.out("hs2b");
    f.trust("synapse", Some("hs2.fed.test"), &out2, &[]);
    let y2 = yaml(out2.join("homeserver-fedca.yaml"));
    assert_eq!(
        strs(&y2["listeners"][0]["bind_addresses"]),
        ["::", "0.0.0.0"]
    );
}

#[test]
fn synapse_with_two_roots_writes_one_file_per_root() {
    let f = Fixture::new();
    let other = f.out("next-ca");
    ok(&["init", "--ca-dir", s(&other), "--name", "Next Root"]);
    let out = f.out("hs1");
    let next_root = other.join("root.pem");
    f.trust(
        "synapse",
        Some("hs1.fed.test"),
        &out,
        &["--also-trust", s(&next_root)],
    );
    let y = yaml(out.join("homeserver-fedca.yaml"));
    let cas = strs(&y["federation_custom_ca_list"]);
    assert_eq!(cas.len(), 2);
    assert_ne!(cas[0], cas[1]);
    assert_eq!(pem_certs(&read(&cas[0])), pem_certs(&f.root_pem()));
    assert_eq!(pem_certs(&read(&cas[1])), pem_certs(&read(&next_root)));
    // The same root twice is one root.
    let out2 = f.out("hs1b");
    let own = f.ca.join("root.pem");
    f.trust(
        "synapse",
        Some("hs1.fed.test"),
        &out2,
        &["--also-trust", s(&own)],
    );
    assert_eq!(
        strs(&yaml(out2.join("homeserver-fedca.yaml"))["federation_custom_ca_list"]).len(),
        1
    );
}

#[test]
fn dendrite_files() {
    let f = Fixture::new();
    let out = f.out("dendrite");
    f.trust("dendrite", Some("127.0.0.2:8449"), &out, &[]);
    let y = yaml(out.join("dendrite-fedca.yaml"));
    let fa = &y["federation_api"];
    assert_eq!(fa["disable_tls_validation"], Yaml::Bool(false));
    assert_eq!(fa["key_perspectives"], Yaml::Sequence(vec![]));
    let deny = strs(&fa["deny_networks"]);
    for a in ["127.0.0.1", "127.0.0.2", "::1"] {
        assert!(!blocked(&deny, a), "{a}");
    }
    for a in ["127.0.0.3", "10.1.1.1", "192.168.0.1", "fd00::1", "fe80::1"] {
        assert!(blocked(&deny, a), "{a}");
    }
    // ::1 is a federation address, and Dendrite's default allow list is IPv4 only.
    assert_eq!(strs(&fa["allow_networks"]), ["0.0.0.0/0", "::/0"]);
    assert!(y.get("global").is_none(), "not delegated");

    let dir = out.clone();
    let run = read(out.join("dendrite-run.sh"));
    assert!(
        run.contains(&format!("--tls-cert '{}'", s(&dir.join("fullchain.pem")))),
        "{run}"
    );
    assert!(run.contains(&format!("--tls-key '{}'", s(&dir.join("key.pem")))));
    assert!(run.contains("--https-bind-address '127.0.0.2:8449'"));
    assert!(run.contains("SSL_CERT_FILE") && run.contains("REPLACES"));
    assert_eq!(mode(out.join("dendrite-run.sh")), 0o755);
    let sh = Command::new("sh")
        .arg("-n")
        .arg(out.join("dendrite-run.sh"))
        .status()
        .unwrap();
    assert!(sh.success());

    let bundle = out.join("fedca-roots.pem");
    assert_eq!(read(&bundle), f.root_pem());
    let env = env_file(&out.join("trust.env"));
    assert_eq!(env["SSL_CERT_FILE"], s(&bundle));
    assert!(read(out.join("trust.env")).contains("WARNING: SSL_CERT_FILE REPLACES"));

    // Delegated: well_known_server_name and the .well-known file.
    let out2 = f.out("dendrite2");
    f.trust("dendrite", Some("hs2.fed.test"), &out2, &[]);
    let y2 = yaml(out2.join("dendrite-fedca.yaml"));
    assert_eq!(
        y2["global"]["well_known_server_name"].as_str(),
        Some("matrix.hs2.fed.test:8500")
    );
    assert!(read(out2.join("dendrite-run.sh")).contains("--https-bind-address ':8500'"));
    assert!(out2.join(".well-known/matrix/server").is_file());
}

/// `KEY=value` lines of an environment file (systemd EnvironmentFile / docker --env-file).
fn env_file(p: &Path) -> BTreeMap<String, String> {
    read(p)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=value: {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn conduit_family_files() {
    let f = Fixture::new();
    for target in ["conduit", "conduwuit", "continuwuity", "tuwunel"] {
        let out = f.out(target);
        f.trust(
            target,
            Some("hs2.fed.test"),
            &out,
            &["--federation-addr", "10.9.0.7"],
        );
        let t = toml_file(out.join(format!("{target}-fedca.toml")));
        let g = t["global"].as_table().unwrap();
        let dir = out.clone();
        let tls = g["tls"].as_table().expect("[global.tls]");
        assert_eq!(
            tls["certs"].as_str(),
            Some(s(&dir.join("fullchain.pem"))),
            "{target}"
        );
        assert_eq!(
            tls["key"].as_str(),
            Some(s(&dir.join("key.pem"))),
            "{target}"
        );
        assert_eq!(
            g["port"].as_integer(),
            Some(8500),
            "{target}: the delegated port"
        );
        assert_eq!(g["allow_federation"].as_bool(), Some(true));
        assert_eq!(g["trusted_servers"].as_array().map(Vec::len), Some(0));
        assert_eq!(
            g["well_known"]["server"].as_str(),
            Some("matrix.hs2.fed.test:8500")
        );
        if target == "conduit" {
            assert_eq!(g["address"].as_str(), Some("0.0.0.0"));
            assert!(
                !g.contains_key("ip_range_denylist"),
                "Conduit has no denylist"
            );
        } else {
            assert_eq!(
                g["address"].as_array().unwrap()[0].as_str(),
                Some("0.0.0.0")
            );
            let deny: Vec<String> = g["ip_range_denylist"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            for a in ["127.0.0.1", "127.0.0.2", "::1", "10.9.0.7"] {
                assert!(!blocked(&deny, a), "{target}: {a}");
            }
            for a in ["127.0.0.3", "10.9.0.8", "fd00::1", "192.168.0.1"] {
                assert!(blocked(&deny, a), "{target}: {a}");
            }
        }
        assert_eq!(read(out.join("fedca-roots.pem")), f.root_pem());
        assert_eq!(
            env_file(&out.join("trust.env"))["SSL_CERT_FILE"],
            s(&out.join("fedca-roots.pem"))
        );
        let wk: serde_json::Value =
            serde_json::from_str(&read(out.join(".well-known/matrix/server"))).unwrap();
        assert_eq!(wk["m.server"], "matrix.hs2.fed.test:8500");
    }
    // An IP-literal server listens on its own address and port.
    let out = f.out("conduwuit-ip");
    f.trust("conduwuit", Some("127.0.0.2:8449"), &out, &[]);
    let t = toml_file(out.join("conduwuit-fedca.toml"));
    assert_eq!(t["global"]["port"].as_integer(), Some(8449));
    assert_eq!(
        t["global"]["address"].as_array().unwrap()[0].as_str(),
        Some("127.0.0.2")
    );
    assert!(t["global"].get("well_known").is_none());
}

#[test]
fn pem_is_the_roots_and_nothing_else() {
    let f = Fixture::new();
    let out = f.out("pem");
    f.trust("pem", None, &out, &[]);
    let names: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["fedca-roots.pem"]);
    assert_eq!(read(out.join("fedca-roots.pem")), f.root_pem());
    // During a rotation: both roots, in order, and only them.
    let other = f.out("next-ca");
    ok(&["init", "--ca-dir", s(&other)]);
    let out2 = f.out("pem2");
    f.trust(
        "pem",
        None,
        &out2,
        &["--also-trust", s(&other.join("root.pem"))],
    );
    assert_eq!(
        read(out2.join("fedca-roots.pem")),
        f.root_pem() + &read(other.join("root.pem"))
    );
}

#[test]
fn system_files() {
    let f = Fixture::new();
    let out = f.out("system");
    f.trust("system", None, &out, &[]);
    let mut anchors: Vec<PathBuf> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    anchors.sort();
    assert_eq!(anchors.len(), 1);
    assert_eq!(
        read(&anchors[0]),
        f.root_pem(),
        "one certificate per anchor file"
    );
    let script = out.join("install-trust.sh");
    assert_eq!(mode(&script), 0o755);
    let text = read(&script);
    let name = anchors[0].file_name().unwrap().to_str().unwrap();
    for needle in [
        "update-ca-certificates",
        "/usr/local/share/ca-certificates/",
        "update-ca-trust extract",
        "/etc/pki/ca-trust/source/anchors/",
        name,
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from install-trust.sh"
        );
    }
    assert!(Command::new("sh")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap()
        .success());
}

fn is_root() -> bool {
    read("/proc/self/status")
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        .unwrap_or(false)
}

#[test]
fn system_install_refuses_without_root() {
    let f = Fixture::new();
    let out = if is_root() {
        // Drop to nobody for this one command.
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .args([
                "trust",
                "--for",
                "system",
                "--install",
                "--ca-dir",
                s(&f.ca),
            ])
            .output()
            .expect("setpriv (util-linux) is needed to test the non-root refusal as root")
    } else {
        run(&[
            "trust",
            "--for",
            "system",
            "--install",
            "--ca-dir",
            s(&f.ca),
        ])
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs root") && err.contains("sudo"), "{err}");
}

/// As root: install into a private trust store (a mount namespace with empty tmpfs
/// over the anchor directory, /etc/ssl/certs and the update hooks), then check that
/// OpenSSL verifies a server certificate against the rebuilt system bundle.
#[test]
fn system_install_adds_the_root_to_the_debian_store() {
    // Fails, never skips (docs/decisions/0004): scripts/test runs as root and installs
    // ca-certificates, which provides update-ca-certificates.
    assert!(
        is_root() && Path::new("/usr/sbin/update-ca-certificates").exists(),
        "this test needs root and update-ca-certificates (run scripts/test as root)"
    );
    let f = Fixture::new();
    let chain = f.server_dir("hs1.fed.test").join("fullchain.pem");
    let script = format!(
        "set -e
for d in /usr/local/share/ca-certificates /etc/ssl/certs /etc/ca-certificates/update.d; do mount -t tmpfs tmpfs $d; done
{BIN} trust --for system --install --ca-dir '{ca}'
openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt '{chain}'
ls /usr/local/share/ca-certificates/",
        ca = s(&f.ca),
        chain = s(&chain),
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("{}: OK", s(&chain))), "{text}");
    assert!(
        text.contains("update-ca-certificates") && text.contains("fedca-root-"),
        "{text}"
    );
}

#[test]
fn kubernetes_files() {
    let f = Fixture::new();
    let out = f.out("k8s");
    f.trust("kubernetes", Some("hs1.fed.test"), &out, &[]);
    let dir = f.server_dir("hs1.fed.test");
    let secret_path = out.join("tls-secret.yaml");
    assert_eq!(mode(&secret_path), 0o600, "the Secret holds a private key");
    let secret = yaml(&secret_path);
    assert_eq!(secret["apiVersion"].as_str(), Some("v1"));
    assert_eq!(secret["kind"].as_str(), Some("Secret"));
    assert_eq!(secret["type"].as_str(), Some("kubernetes.io/tls"));
    assert_eq!(
        secret["metadata"]["name"].as_str(),
        Some("fedca-hs1.fed.test-tls")
    );
    let b64 = |v: &Yaml| {
        data_encoding::BASE64
            .decode(v.as_str().expect("base64 string").as_bytes())
            .expect("valid base64")
    };
    assert_eq!(
        b64(&secret["data"]["tls.crt"]),
        fs::read(dir.join("fullchain.pem")).unwrap()
    );
    assert_eq!(
        b64(&secret["data"]["tls.key"]),
        fs::read(dir.join("key.pem")).unwrap()
    );
    assert_eq!(secret["data"].as_mapping().unwrap().len(), 2);

    let cm = yaml(out.join("ca-configmap.yaml"));
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(cm["data"]["ca.crt"].as_str(), Some(f.root_pem().as_str()));
    assert_eq!(mode(out.join("ca-configmap.yaml")), 0o644);
}

#[test]
fn templates_override_by_file_name() {
    let f = Fixture::new();
    let tdir = f.out("templates");
    fs::create_dir(&tdir).unwrap();
    fs::write(
        tdir.join("roots-bundle.pem.j2"),
        "# {{ roots | length }} root(s)\n{{ bundle_pem }}",
    )
    .unwrap();
    let out = f.out("pem");
    f.trust("pem", None, &out, &["--templates", s(&tdir)]);
    assert_eq!(
        read(out.join("fedca-roots.pem")),
        format!("# 1 root(s)\n{}", f.root_pem())
    );
}

/// Every case of bad input exits 2, names the value, and leaves --out uncreated.
#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let f = Fixture::new();
    let ca = s(&f.ca).to_string();
    let file = f.out("a-file");
    fs::write(&file, "x").unwrap();
    let tdir = f.out("bad-templates");
    fs::create_dir(&tdir).unwrap();
    fs::write(tdir.join("synapse-homeserver.yaml.j2"), "{% if %}").unwrap();
    let tdir2 = f.out("typo-templates");
    fs::create_dir(&tdir2).unwrap();
    fs::write(tdir2.join("synapse.yaml.j2"), "x").unwrap();
    let out = f.out("never");
    let o = s(&out).to_string();
    let under_file = format!("{}/sub", s(&file));
    let ca_key = format!("{ca}/root-key.pem");
    let leaf = format!("{ca}/servers/hs1.fed.test/cert.pem");
    let in_server = format!("{ca}/servers/127.0.0.1_8448/conf");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--for", "matrix", "--server", "hs1.fed.test", "--out", &o],
            "\"matrix\"",
        ),
        (
            vec!["--for", "synapse", "--server", "hs9.fed.test", "--out", &o],
            "hs9.fed.test",
        ),
        (
            vec!["--for", "synapse", "--server", "bad name", "--out", &o],
            "bad name",
        ),
        (vec!["--for", "synapse", "--out", &o], "--server"),
        (
            vec!["--for", "pem", "--server", "hs1.fed.test", "--out", &o],
            "--server",
        ),
        (
            vec!["--for", "synapse", "--server", "hs1.fed.test"],
            "--out",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                "/proc/fedca-never",
            ],
            "/proc",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                s(&file),
            ],
            "a-file",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                &under_file,
            ],
            "a-file",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                &o,
                "--federation-addr",
                "10.0.0.1/8",
            ],
            "10.0.0.1/8",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                &o,
                "--federation-addr",
                "0.0.0.0/0",
            ],
            "0.0.0.0/0",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                &o,
                "--bind",
                "localhost",
            ],
            "localhost",
        ),
        (
            vec!["--for", "pem", "--out", &o, "--federation-addr", "10.0.0.1"],
            "--federation-addr",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                &o,
                "--templates",
                s(&tdir),
            ],
            "synapse-homeserver.yaml.j2",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                &o,
                "--templates",
                s(&tdir2),
            ],
            "synapse.yaml.j2",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                &o,
                "--also-trust",
                &ca_key,
            ],
            "private key",
        ),
        (
            vec![
                "--for",
                "synapse",
                "--server",
                "hs1.fed.test",
                "--out",
                &o,
                "--also-trust",
                &leaf,
            ],
            "not a CA",
        ),
        (
            vec![
                "--for",
                "dendrite",
                "--server",
                "hs1.fed.test",
                "--out",
                &o,
                "--bind",
                "10.0.0.1",
                "--bind",
                "10.0.0.2",
            ],
            "--bind",
        ),
        (vec!["--for", "pem", "--out", &o, "--install"], "--install"),
        (
            vec!["--for", "pem", "--out", &in_server],
            "inside the server files",
        ),
        (
            vec!["--for", "pem", "--out", &ca],
            "the CA directory itself",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["trust", "--ca-dir", &ca];
        all.extend(&args);
        let r = run(&all);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    assert_eq!(read(&file), "x");
}

/// Server files written outside the CA (`issue --out`, as `apply` writes them) are
/// found from the index without resolving every record's path (issue 11): an `--out`
/// inside them is refused, spelled plainly or through `..`, and one beside them is not.
#[test]
fn out_inside_server_files_outside_the_ca_is_refused() {
    let f = Fixture::new();
    let ca = s(&f.ca).to_string();
    let elsewhere = f.out("elsewhere");
    ok(&[
        "issue",
        "hs3.fed.test",
        "--out",
        s(&elsewhere),
        "--ca-dir",
        &ca,
    ]);
    let inside = format!("{}/hs3.fed.test/conf", s(&elsewhere));
    let dotted = format!("{}/x/../hs3.fed.test/conf", s(&elsewhere));
    for (args, needle) in [
        (
            vec!["--for", "pem", "--out", &inside],
            "inside the server files",
        ),
        (
            vec!["--for", "system", "--out", &dotted],
            "inside the server files",
        ),
    ] {
        let mut all = vec!["trust", "--ca-dir", &ca];
        all.extend(&args);
        let r = run(&all);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        assert!(!Path::new(&inside).exists(), "{args:?} wrote {inside}");
    }
    let beside = f.out("elsewhere/roots");
    ok(&[
        "trust",
        "--ca-dir",
        &ca,
        "--for",
        "pem",
        "--out",
        s(&beside),
    ]);
    assert!(beside.is_dir(), "{} not written", beside.display());
}

/// The CA's private key — as PEM, as base64 DER (one line or wrapped), as raw DER, as
/// base64 of the PEM (Kubernetes `data`) — appears in no file of any target. A
/// server's own key appears only in the Kubernetes Secret; elsewhere it is a path.
#[test]
fn ca_private_key_never_appears_in_any_output() {
    let f = Fixture::new();
    let ca_key_pem = read(f.ca.join("root-key.pem"));
    let ca_key_der = pem::parse(&ca_key_pem).unwrap().into_contents();
    let b64 = data_encoding::BASE64.encode(&ca_key_der);
    let mut needles: Vec<Vec<u8>> = vec![
        ca_key_pem.as_bytes().to_vec(),
        ca_key_der.clone(),
        b64.as_bytes().to_vec(),
        data_encoding::BASE64
            .encode(ca_key_pem.as_bytes())
            .into_bytes(),
        data_encoding::HEXLOWER.encode(&ca_key_der).into_bytes(),
    ];
    // Every line of the PEM body, so that re-wrapping cannot hide it.
    needles.extend(
        ca_key_pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
            .map(|l| l.as_bytes().to_vec()),
    );
    let mut scanned = 0;
    for (target, needs_server) in TARGETS {
        let servers: &[Option<&str>] = if needs_server {
            &[
                Some("127.0.0.1:8448"),
                Some("[::1]:8450"),
                Some("hs2.fed.test"),
            ]
        } else {
            &[None]
        };
        let homeserver = !matches!(target, "pem" | "system" | "kubernetes");
        let modes: &[&str] = if homeserver {
            &["homeserver", "proxy"]
        } else {
            &[""]
        };
        for (i, (server, tls_at)) in servers
            .iter()
            .flat_map(|sv| modes.iter().map(move |m| (sv, *m)))
            .enumerate()
        {
            let out = f.out(&format!("scan-{target}-{i}"));
            let root = f.ca.join("root.pem");
            let mut extra = vec!["--also-trust", s(&root)];
            if !tls_at.is_empty() {
                extra.extend(["--tls-at", tls_at]);
            }
            f.trust(target, *server, &out, &extra);
            let server_key = server.map(|sv| {
                let dir = f.ca.join("servers").join(match sv {
                    "127.0.0.1:8448" => "127.0.0.1_8448",
                    "[::1]:8450" => "ipv6_--1_8450",
                    _ => "hs2.fed.test",
                });
                read(dir.join("key.pem"))
            });
            for file in walk(&out) {
                let bytes = fs::read(&file).unwrap();
                scanned += 1;
                for n in &needles {
                    assert!(
                        !find(&bytes, n),
                        "{}: holds the CA private key",
                        file.display()
                    );
                }
                let text = String::from_utf8_lossy(&bytes);
                // The server's own key, in the files meant to carry it (0600): the
                // Kubernetes Secret, and a homeserver bundle's key.pem.
                let key_file = (target == "kubernetes" && file.ends_with("tls-secret.yaml"))
                    || file.ends_with("key.pem")
                    || file.ends_with("haproxy-fedca.pem");
                assert!(
                    !text.contains("PRIVATE KEY") || key_file,
                    "{}",
                    file.display()
                );
                if key_file {
                    assert_eq!(mode(&file), 0o600, "{}", file.display());
                }
                if let Some(k) = &server_key {
                    let k_b64 = data_encoding::BASE64.encode(k.as_bytes());
                    let in_file = text.contains(k.as_str()) || text.contains(&k_b64);
                    assert_eq!(in_file, key_file, "{}: server key presence", file.display());
                }
            }
        }
    }
    assert!(scanned >= 40, "scanned only {scanned} files");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn output_is_stable_and_json_report_names_the_files() {
    let f = Fixture::new();
    let out = f.out("hs1");
    f.trust("synapse", Some("hs1.fed.test"), &out, &[]);
    let first = read(out.join("homeserver-fedca.yaml"));
    let json = f.trust("synapse", Some("hs1.fed.test"), &out, &["--json"]);
    assert_eq!(
        read(out.join("homeserver-fedca.yaml")),
        first,
        "re-running rewrites the same file"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["target"], "synapse");
    assert_eq!(v["server"], "hs1.fed.test");
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(files.iter().any(|p| p.ends_with("homeserver-fedca.yaml")));
    assert_eq!(v["roots"].as_array().unwrap().len(), 1);
    // Public: a web server's workers must read .well-known and the certificates.
    assert_eq!(mode(&out), 0o755);
}

/// Runs `fedca trust` and returns (exit code, stderr).
fn trust_fails(
    f: &Fixture,
    target: &str,
    server: Option<&str>,
    out: &Path,
    extra: &[&str],
) -> (i32, String) {
    let mut args = vec![
        "trust",
        "--for",
        target,
        "--ca-dir",
        s(&f.ca),
        "--out",
        s(out),
    ];
    if let Some(sv) = server {
        args.extend(["--server", sv]);
    }
    args.extend_from_slice(extra);
    let o = run(&args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A template that is a symbolic or hard link to a file of the CA directory (the root
/// key, a server key), or that carries a private key in any encoding, is refused with
/// exit 2, and nothing is written.
#[test]
fn templates_that_link_to_ca_files_or_hold_private_keys_are_refused() {
    let f = Fixture::new();
    let root_key = f.ca.join("root-key.pem");
    let leaf_key = f.server_dir("hs1.fed.test").join("key.pem");
    let mut n = 0;
    let mut case = |what: &str, template: &str, make: &dyn Fn(&Path)| {
        n += 1;
        let tdir = f.out(&format!("tmpl-{n}"));
        fs::create_dir(&tdir).unwrap();
        make(&tdir.join(template));
        let out = f.out(&format!("leak-{n}"));
        let (target, server) = if template.starts_with("kubernetes") {
            ("kubernetes", Some("hs1.fed.test"))
        } else {
            ("pem", None)
        };
        let (code, err) = trust_fails(&f, target, server, &out, &["--templates", s(&tdir)]);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(err.contains("--templates"), "{what}: {err}");
        assert!(!out.exists(), "{what}: wrote {}", out.display());
    };
    let bundle = "roots-bundle.pem.j2";
    case("symlink to the root key", bundle, &|t| {
        std::os::unix::fs::symlink(&root_key, t).unwrap()
    });
    case("hard link to the root key", bundle, &|t| {
        fs::hard_link(&root_key, t).unwrap()
    });
    case("hard link to a server key", bundle, &|t| {
        fs::hard_link(&leaf_key, t).unwrap()
    });
    case("symlink to root.pem (a CA file)", bundle, &|t| {
        std::os::unix::fs::symlink(f.ca.join("root.pem"), t).unwrap()
    });
    // Key literals of a key the CA has never seen: found by their structure.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let der = key.serialize_der();
    let b64 = data_encoding::BASE64.encode(&der);
    let hex = data_encoding::HEXLOWER.encode(&der);
    let pem_b64 = data_encoding::BASE64.encode(key.serialize_pem().as_bytes());
    for (what, literal) in [
        ("base64 PKCS#8", b64.clone()),
        (
            "wrapped base64 PKCS#8",
            format!("{}\n  {}", &b64[..40], &b64[40..]),
        ),
        ("hex PKCS#8", hex.clone()),
        (
            "colon hex PKCS#8",
            der.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        ),
        ("base64 of the PEM", pem_b64.clone()),
        ("PEM", key.serialize_pem()),
    ] {
        let text =
            format!("# {{{{ roots | length }}}} root(s)\n# key: {literal}\n{{{{ bundle_pem }}}}");
        case(what, bundle, &|t| fs::write(t, &text).unwrap());
    }
    // The server's own key belongs in the Secret only, never in the public ConfigMap.
    case(
        "server key in the ConfigMap",
        "kubernetes-ca-configmap.yaml.j2",
        &|t| fs::write(t, "data:\n  leaked: {{ key_pem | b64 }}\n").unwrap(),
    );
    // Attack review 9(b): a filter the key scan cannot undo (reversal) must not reach
    // the key either: the ConfigMap's context holds no key at all, so `key_pem` is
    // undefined there and the template fails to render.
    case(
        "reversed server key in the ConfigMap",
        "kubernetes-ca-configmap.yaml.j2",
        &|t| fs::write(t, "data:\n  leaked: {{ key_pem | reverse }}\n").unwrap(),
    );
}

/// A symbolic link planted below --out (a directory or the file itself) is refused,
/// and nothing is written through it.
#[test]
fn symlinks_planted_below_out_are_refused() {
    let f = Fixture::new();
    let elsewhere = f.out("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let victim = elsewhere.join("victim");
    fs::write(&victim, "keep").unwrap();

    // out/.well-known -> elsewhere: the delegated server's well-known file.
    let out = f.out("conf-wk");
    fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join(".well-known")).unwrap();
    let (code, err) = trust_fails(&f, "synapse", Some("hs2.fed.test"), &out, &[]);
    assert!(code == 1 || code == 2, "{code}: {err}");
    assert!(err.contains("symbolic link"), "{err}");

    // out/.well-known/matrix -> elsewhere.
    let out2 = f.out("conf-wk2");
    fs::create_dir_all(out2.join(".well-known")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out2.join(".well-known/matrix")).unwrap();
    let (code, err) = trust_fails(&f, "synapse", Some("hs2.fed.test"), &out2, &[]);
    assert!(code == 1 || code == 2, "{code}: {err}");
    assert!(err.contains("symbolic link"), "{err}");

    // out/fedca-roots.pem -> elsewhere/victim.
    let out3 = f.out("conf-file");
    fs::create_dir(&out3).unwrap();
    std::os::unix::fs::symlink(&victim, out3.join("fedca-roots.pem")).unwrap();
    let (code, err) = trust_fails(&f, "pem", None, &out3, &[]);
    assert!(code == 1 || code == 2, "{code}: {err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert!(fs::symlink_metadata(out3.join("fedca-roots.pem"))
        .unwrap()
        .file_type()
        .is_symlink());

    assert_eq!(read(&victim), "keep");
    assert_eq!(
        fs::read_dir(&elsewhere).unwrap().count(),
        1,
        "wrote outside --out"
    );
    // Below each --out, nothing but what the test made: no file was written.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                found.extend(files(&p));
            } else if !m.file_type().is_symlink() {
                found.push(p);
            }
        }
        found
    }
    for o in [&out, &out2, &out3] {
        assert_eq!(
            files(o),
            Vec::<PathBuf>::new(),
            "wrote below {}",
            o.display()
        );
    }
}

/// SIGKILL at random points of `trust --out` (which stages a copy of the server's key)
/// strands nothing: after the next run, no `.tmp-*` file is left and every output
/// parses.
#[test]
fn sigkill_during_trust_out_leaves_no_staged_copies() {
    let f = Fixture::new();
    let out_k = f.out("crash-k8s");
    let out_s = f.out("crash-synapse");
    let args = |target: &'static str, server: &'static str, out: &Path| -> Vec<String> {
        [
            "trust",
            "--for",
            target,
            "--server",
            server,
            "--ca-dir",
            s(&f.ca),
            "--out",
            s(out),
        ]
        .map(String::from)
        .to_vec()
    };
    let k = args("kubernetes", "hs1.fed.test", &out_k);
    let syn = args("synapse", "hs2.fed.test", &out_s);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    for i in 0..240 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let a = if i % 2 == 0 { &k } else { &syn };
        let mut child = Command::new(BIN)
            .args(a)
            .env_remove("FEDCA_CA_DIR")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(seed % 20_000));
        let _ = child.kill();
        child.wait().unwrap();
    }
    // The sweep removes fedca's staged files only: not a user's file, not a link.
    let mine = out_k.join(".tmp-notes.txt");
    let link = out_k.join(".tmp-fedca-link");
    if out_k.is_dir() {
        fs::write(&mine, "mine").unwrap();
        std::os::unix::fs::symlink(f.ca.join("root.pem"), &link).unwrap();
    }
    ok(&k.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&syn.iter().map(String::as_str).collect::<Vec<_>>());
    if mine.exists() {
        assert_eq!(read(&mine), "mine");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        fs::remove_file(&mine).unwrap();
        fs::remove_file(&link).unwrap();
    }
    for out in [&out_k, &out_s] {
        for p in walk(out) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(!name.starts_with(".tmp-"), "stranded {}", p.display());
        }
    }
    let secret = yaml(out_k.join("tls-secret.yaml"));
    assert_eq!(secret["kind"].as_str(), Some("Secret"));
    assert_eq!(mode(out_k.join("tls-secret.yaml")), 0o600);
    assert_eq!(
        yaml(out_k.join("ca-configmap.yaml"))["kind"].as_str(),
        Some("ConfigMap")
    );
    for p in walk(&out_s) {
        let text = read(&p);
        if p.extension().is_some_and(|e| e == "yaml") {
            yaml(&p);
        } else if p.ends_with("key.pem") {
            assert!(text.contains("PRIVATE KEY"), "{}", p.display());
        } else if p.extension().is_some_and(|e| e == "pem") {
            assert!(!pem_certs(&text).is_empty(), "{}", p.display());
        } else if p.ends_with(".well-known/matrix/server") {
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    }
}

/// The uid and user name running the tests (install.sh's --owner in the tests).
fn me() -> (u32, String) {
    let uid = Command::new("id").arg("-u").output().unwrap();
    let name = Command::new("id").arg("-un").output().unwrap();
    (
        String::from_utf8_lossy(&uid.stdout).trim().parse().unwrap(),
        String::from_utf8_lossy(&name.stdout).trim().to_string(),
    )
}

/// Every absolute path a fragment names, found by scanning for the install directory.
fn paths_under(text: &str, dir: &Path) -> Vec<PathBuf> {
    let d = s(dir);
    text.match_indices(d)
        .map(|(i, _)| {
            let rest = &text[i..];
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | ','))
                .unwrap_or(rest.len());
            PathBuf::from(&rest[..end])
        })
        .collect()
}

/// Item 1 and 4 of issue 9: `--out` is a self-contained bundle for the server (chain,
/// key 0600, roots, fragments, .well-known, install.sh) for every homeserver target;
/// `--install-dir` makes the configuration name the paths on the homeserver; install.sh
/// run into a scratch root puts every file there with its owner and mode, public files
/// 0644 in 0755 directories; every path the configuration names then exists.
#[test]
fn bundle_is_self_contained_and_install_sh_installs_it() {
    let f = Fixture::new();
    let (uid, user) = me();
    for (target, server, fragment) in [
        ("synapse", "hs2.fed.test", "homeserver-fedca.yaml"),
        ("dendrite", "127.0.0.2:8449", "dendrite-run.sh"),
        ("conduwuit", "hs2.fed.test", "conduwuit-fedca.toml"),
        ("conduit", "[::1]:8450", "conduit-fedca.toml"),
    ] {
        let out = f.out(&format!("bundle-{target}"));
        let scratch = f.out(&format!("scratch-{target}"));
        let install = scratch.join("etc/fedca-hs");
        f.trust(
            target,
            Some(server),
            &out,
            &["--install-dir", s(&install), "--owner", &user],
        );
        // Modes in the bundle: directories 0755, keys 0600, scripts 0755, the rest 0644.
        assert_eq!(mode(&out), 0o755, "{target}");
        let files = walk(&out);
        for p in &files {
            let want = if p.ends_with("key.pem") {
                0o600
            } else if p.extension().is_some_and(|e| e == "sh") {
                0o755
            } else {
                0o644
            };
            assert_eq!(mode(p), want, "{target}: {}", p.display());
            let mut d = p.parent().unwrap();
            while d != out {
                assert_eq!(mode(d), 0o755, "{target}: {}", d.display());
                d = d.parent().unwrap();
            }
        }
        let dir = f.server_dir(&match server {
            "127.0.0.2:8449" => "127.0.0.2_8449".to_string(),
            "[::1]:8450" => "ipv6_--1_8450".to_string(),
            x => x.to_string(),
        });
        assert_eq!(
            read(out.join("fullchain.pem")),
            read(dir.join("fullchain.pem"))
        );
        assert_eq!(read(out.join("key.pem")), read(dir.join("key.pem")));
        if server == "hs2.fed.test" {
            assert!(out.join(".well-known/matrix/server").is_file(), "{target}");
        }
        // The configuration names the homeserver's paths, never the CA's or --out.
        let text = read(out.join(fragment));
        assert!(!text.contains(s(&f.ca)), "{target}: names the CA directory");
        assert!(!text.contains(s(&out)), "{target}: names --out");
        let named = paths_under(&text, &install);
        assert!(named.len() >= 2, "{target}: {named:?}");

        let run = Command::new("sh")
            .arg(out.join("install.sh"))
            .current_dir(&f.root)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{target}: install.sh: {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        for p in &named {
            assert!(p.is_file(), "{target}: {} not installed", p.display());
        }
        for p in &files {
            let rel = p.strip_prefix(&out).unwrap();
            let installed = install.join(rel);
            if rel == Path::new("install.sh") {
                continue;
            }
            assert_eq!(
                fs::read(&installed).unwrap(),
                fs::read(p).unwrap(),
                "{target}"
            );
            assert_eq!(
                mode(&installed),
                mode(p),
                "{target}: {}",
                installed.display()
            );
            assert_eq!(
                std::os::unix::fs::MetadataExt::uid(&fs::metadata(&installed).unwrap()),
                uid
            );
        }
        assert_eq!(mode(&install), 0o755);
        if server == "hs2.fed.test" {
            assert_eq!(mode(install.join(".well-known/matrix")), 0o755);
        }
    }
}

#[test]
fn install_sh_refuses_an_owner_that_does_not_exist() {
    let f = Fixture::new();
    let out = f.out("no-owner");
    let install = f.out("scratch/etc/x");
    f.trust(
        "synapse",
        Some("127.0.0.1:8448"),
        &out,
        &[
            "--install-dir",
            s(&install),
            "--owner",
            "no-such-user-fedca",
        ],
    );
    let run = Command::new("sh")
        .arg(out.join("install.sh"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("no-such-user-fedca") && err.contains("--owner"),
        "{err}"
    );
    assert!(!install.exists(), "nothing installed");
}

/// The Synapse listeners for every port combination (issue 9, item 3).
fn synapse_listeners(f: &Fixture, server: &str, extra: &[&str]) -> Vec<(u64, bool, Vec<String>)> {
    let out = f.out(&format!("listeners-{}", extra.join("_").replace('-', "")));
    let _ = fs::remove_dir_all(&out);
    f.trust("synapse", Some(server), &out, extra);
    let y = yaml(out.join("homeserver-fedca.yaml"));
    y["listeners"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["port"].as_u64().unwrap(),
                l["tls"].as_bool().unwrap(),
                strs(&l["resources"][0]["names"]),
            )
        })
        .collect()
}

#[test]
fn client_port_gives_a_correct_listener_list_for_every_port_combination() {
    let f = Fixture::new();
    ok(&["issue", "127.0.0.3:8008", "--ca-dir", s(&f.ca)]);
    let cf = || vec!["client".to_string(), "federation".to_string()];
    let fed = || vec!["federation".to_string()];
    // Default: TLS federation on the name's port, plain client on 8008.
    assert_eq!(
        synapse_listeners(&f, "127.0.0.1:8448", &[]),
        [(8448, true, fed()), (8008, false, cf())]
    );
    assert_eq!(
        synapse_listeners(&f, "127.0.0.1:8448", &["--client-port", "8018"]),
        [(8448, true, fed()), (8018, false, cf())]
    );
    // 8008 as the federation port: the client listener is not dropped, it moves.
    assert_eq!(
        synapse_listeners(&f, "127.0.0.3:8008", &["--client-port", "8009"]),
        [(8008, true, fed()), (8009, false, cf())]
    );
    // TLS at the proxy: one plain listener for both APIs.
    assert_eq!(
        synapse_listeners(
            &f,
            "127.0.0.3:8008",
            &["--tls-at", "proxy", "--client-port", "8010"]
        ),
        [(8010, false, cf())]
    );
    // A client port equal to the federation port (given or by default) is refused.
    for extra in [&[][..], &["--client-port", "8008"], &["--tls-at", "proxy"]] {
        let out = f.out("clash");
        let mut args = vec![
            "trust",
            "--for",
            "synapse",
            "--server",
            "127.0.0.3:8008",
            "--ca-dir",
            s(&f.ca),
            "--out",
            s(&out),
        ];
        args.extend_from_slice(extra);
        let r = run(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains("--client-port") && err.contains("8008"),
            "{err}"
        );
        assert!(!out.exists(), "nothing written");
    }
    ok(&[
        "trust",
        "--for",
        "synapse",
        "--server",
        "127.0.0.1:8448",
        "--ca-dir",
        s(&f.ca),
        "--out",
        s(&f.out("proxied")),
        "--tls-at",
        "proxy",
    ]);
    let y = yaml(f.out("proxied").join("homeserver-fedca.yaml"));
    assert!(
        y.get("tls_certificate_path").is_none(),
        "no TLS at the homeserver"
    );
    assert!(y.get("tls_private_key_path").is_none());
}

/// The nginx, Caddy and haproxy snippets of `--tls-at proxy` pass each server's own
/// configuration check (`nginx -t`, `caddy validate`, `haproxy -c`), for an IPv4
/// literal, an IPv6 literal and a delegated DNS name (with its .well-known on 443).
/// Federating through nginx is proven with Synapse in tests/synapse_federation.rs.
#[test]
fn proxy_snippets_pass_nginx_caddy_and_haproxy_checks() {
    let nginx = common::require("nginx");
    let caddy = common::require("caddy");
    let haproxy = common::require("haproxy");
    let f = Fixture::new();
    for (i, server) in ["127.0.0.1:8448", "[::1]:8450", "hs2.fed.test"]
        .iter()
        .enumerate()
    {
        let out = f.out(&format!("proxy-{i}"));
        f.trust(
            "synapse",
            Some(server),
            &out,
            &["--tls-at", "proxy", "--client-port", "8123"],
        );
        for name in ["nginx-fedca.conf", "Caddyfile-fedca", "haproxy-fedca.cfg"] {
            assert_eq!(mode(out.join(name)), 0o644);
            assert!(
                read(out.join(name)).contains("127.0.0.1:8123"),
                "{name}: upstream"
            );
        }
        assert_eq!(mode(out.join("haproxy-fedca.pem")), 0o600);
        let check = |what: &str, mut c: Command| {
            let r = c.output().unwrap();
            assert!(
                r.status.success(),
                "{server}: {what} refused the snippet:\n{}{}",
                String::from_utf8_lossy(&r.stdout),
                String::from_utf8_lossy(&r.stderr)
            );
        };
        // nginx: the snippet in the http context of a minimal main config.
        let main = out.join("test-nginx.conf");
        fs::write(
            &main,
            format!(
                "pid {}/nginx.pid;\nevents {{}}\nhttp {{ access_log off; include {}; }}\n",
                s(&out),
                s(&out.join("nginx-fedca.conf"))
            ),
        )
        .unwrap();
        let mut c = Command::new(&nginx);
        c.args(["-t", "-e", s(&out.join("nginx-error.log")), "-c", s(&main)]);
        check("nginx -t", c);
        let mut c = Command::new(&caddy);
        c.args(["validate", "--adapter", "caddyfile", "--config"])
            .arg(out.join("Caddyfile-fedca"))
            .env("HOME", &out)
            .env("XDG_DATA_HOME", out.join("caddy-data"))
            .env("XDG_CONFIG_HOME", out.join("caddy-config"));
        check("caddy validate", c);
        let cfg = out.join("test-haproxy.cfg");
        fs::write(
            &cfg,
            format!(
                "global\n    log stdout local0\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n{}",
                read(out.join("haproxy-fedca.cfg"))
            ),
        )
        .unwrap();
        let mut c = Command::new(&haproxy);
        c.args(["-c", "-f", s(&cfg)]);
        check("haproxy -c", c);
    }
}

#[test]
fn deployment_options_refuse_bad_input_and_write_nothing() {
    let f = Fixture::new();
    let out = f.out("bad");
    let cases: [(&[&str], &str); 8] = [
        (
            &[
                "--for",
                "synapse",
                "--server",
                "127.0.0.1:8448",
                "--tls-at",
                "proxy",
                "--install-dir",
                "/etc/my fedca",
            ],
            "--install-dir",
        ),
        (
            &[
                "--for",
                "synapse",
                "--server",
                "127.0.0.1:8448",
                "--install-dir",
                "etc/x",
            ],
            "--install-dir",
        ),
        (
            &[
                "--for",
                "synapse",
                "--server",
                "127.0.0.1:8448",
                "--tls-at",
                "edge",
            ],
            "--tls-at",
        ),
        (
            &[
                "--for",
                "synapse",
                "--server",
                "127.0.0.1:8448",
                "--owner",
                "a b",
            ],
            "--owner",
        ),
        (
            &[
                "--for",
                "synapse",
                "--server",
                "127.0.0.1:8448",
                "--client-port",
                "0",
            ],
            "--client-port",
        ),
        (
            &["--for", "pem", "--install-dir", "/etc/x"],
            "--install-dir",
        ),
        (&["--for", "pem", "--tls-at", "proxy"], "--tls-at"),
        (
            &[
                "--for",
                "kubernetes",
                "--server",
                "hs1.fed.test",
                "--owner",
                "root",
            ],
            "--owner",
        ),
    ];
    for (extra, flag) in cases {
        let mut args = vec!["trust", "--ca-dir", s(&f.ca), "--out", s(&out)];
        args.extend_from_slice(extra);
        let r = run(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(flag), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?}: wrote something");
    }
}

/// Issue 9, item 5: `--carve-out permitted` opens the CA's permitted IP ranges whole
/// (a new server inside them needs no re-run), `issued` (the default) exactly the
/// issued addresses; the fragment says which, and what to re-run. A CA without IP
/// ranges is refused for `permitted`.
#[test]
fn carve_out_choice_between_issued_addresses_and_permitted_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    let ca = root.join("ca");
    ok(&[
        "init",
        "--ca-dir",
        s(&ca),
        "--permit",
        "10.20.0.0/16",
        "--permit",
        "fd00::/8",
        "--permit",
        "fed.test",
    ]);
    ok(&[
        "issue",
        "10.20.0.7:8448",
        "hs1.fed.test",
        "--ca-dir",
        s(&ca),
    ]);
    let trust = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "trust",
            "--for",
            "synapse",
            "--server",
            "10.20.0.7:8448",
            "--ca-dir",
            s(&ca),
            "--out",
        ];
        let o = root.join(out);
        let o_s = s(&o).to_string();
        args.push(&o_s);
        args.extend_from_slice(extra);
        ok(&args);
        (
            yaml(o.join("homeserver-fedca.yaml")),
            read(o.join("homeserver-fedca.yaml")),
        )
    };
    let (issued, text) = trust("issued", &[]);
    let bl = strs(&issued["ip_range_blacklist"]);
    assert!(!blocked(&bl, "10.20.0.7"));
    assert!(
        blocked(&bl, "10.20.0.8"),
        "a server not issued stays blocked"
    );
    assert!(text.contains("re-run `fedca trust`"), "{text}");
    let (permitted, text) = trust("permitted", &["--carve-out", "permitted"]);
    let bl = strs(&permitted["ip_range_blacklist"]);
    for a in ["10.20.0.7", "10.20.0.8", "10.20.255.1", "fd00::1"] {
        assert!(!blocked(&bl, a), "{a} is in a permitted range");
    }
    for a in ["10.21.0.1", "127.0.0.1", "192.168.1.1", "fe80::1"] {
        assert!(blocked(&bl, a), "{a} stays blocked");
    }
    // DNS names resolving into the ranges are allowed too.
    let wl = strs(&permitted["ip_range_whitelist"]);
    assert!(wl.contains(&"10.20.0.0/16".to_string()), "{wl:?}");
    assert!(
        text.contains("--carve-out permitted") && text.contains("every address"),
        "{text}"
    );

    // A CA without IP ranges cannot open them.
    let f = Fixture::new();
    let out = f.out("carve");
    let r = run(&[
        "trust",
        "--for",
        "synapse",
        "--server",
        "127.0.0.1:8448",
        "--ca-dir",
        s(&f.ca),
        "--out",
        s(&out),
        "--carve-out",
        "permitted",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--carve-out"));
    assert!(!out.exists());
}

/// Issue 9, items 6 and 8: `trust` for a server the CA never issued and cannot issue
/// (outside its constraints) says so instead of suggesting `fedca issue`; an onion
/// server's listener binds loopback (Tor forwards there), not every interface.
#[test]
fn unknown_server_outside_constraints_and_onion_bind() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    ok(&[
        "init",
        "--ca-dir",
        s(&ca),
        "--permit",
        "fed.test",
        "--permit",
        "10.0.0.0/8",
        "--permit",
        "fd00::/8",
        "--permit",
        "onion",
    ]);
    let r = run(&[
        "trust",
        "--for",
        "synapse",
        "--server",
        "127.0.0.1:8448",
        "--ca-dir",
        s(&ca),
        "--out",
        s(&tmp.path().join("x")),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot issue") && err.contains("10.0.0.0/8"),
        "{err}"
    );
    assert!(
        !err.contains("fedca issue 127.0.0.1"),
        "suggests a fix that fails: {err}"
    );
    let r = run(&[
        "trust",
        "--for",
        "synapse",
        "--server",
        "hs9.fed.test",
        "--ca-dir",
        s(&ca),
        "--out",
        s(&tmp.path().join("x")),
    ]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("fedca issue hs9.fed.test"));

    let onion = common::onion(7);
    ok(&["issue", &onion, "--ca-dir", s(&ca)]);
    let out = tmp.path().join("onion");
    ok(&[
        "trust",
        "--for",
        "synapse",
        "--server",
        &onion,
        "--ca-dir",
        s(&ca),
        "--out",
        s(&out),
    ]);
    let y = yaml(out.join("homeserver-fedca.yaml"));
    assert_eq!(strs(&y["listeners"][0]["bind_addresses"]), ["127.0.0.1"]);
}

/// Issue 9, item 9: a wrong --ca-dir says where fedca looked and points at --ca-dir /
/// FEDCA_CA_DIR, without inviting a second CA (`fedca init`).
#[test]
fn wrong_ca_dir_says_where_fedca_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("not-a-ca");
    for args in [
        vec!["list", "--ca-dir", s(&nowhere)],
        vec![
            "trust",
            "--for",
            "pem",
            "--ca-dir",
            s(&nowhere),
            "--out",
            "x",
        ],
    ] {
        let r = run(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{err}");
        assert!(
            err.contains(s(&nowhere)) && err.contains("--ca-dir") && err.contains("FEDCA_CA_DIR"),
            "{err}"
        );
        assert!(!err.contains("fedca init"), "{err}");
    }
}

/// Caddy and haproxy, started with the bundle's snippet as written (haproxy after a
/// minimal global/defaults section), serve the server's certificate on its IP-literal
/// federation port — with no SNI, as homeservers connect to IP literals — verified by
/// `openssl s_client` against the federation's root, and forward the request to the
/// homeserver's client port (a stand-in upstream here). nginx is proven with Synapse in
/// tests/synapse_federation.rs.
#[test]
fn caddy_and_haproxy_serve_the_certificate_and_forward_to_the_client_port() {
    use std::io::{Read, Write};
    let caddy = common::require("caddy");
    let haproxy = common::require("haproxy");
    common::require("openssl");
    let f = Fixture::new();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    // The stand-in homeserver: answers every request with a marker.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client_port = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in upstream.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n\r\nfedca-upstream-ok",
            );
        }
    });
    for proxy in ["caddy", "haproxy"] {
        let port = free();
        let name = format!("127.0.0.1:{port}");
        ok(&["issue", &name, "--ca-dir", s(&f.ca)]);
        let out = f.out(&format!("live-{proxy}"));
        let cp = client_port.to_string();
        f.trust(
            "synapse",
            Some(&name),
            &out,
            &["--tls-at", "proxy", "--client-port", &cp],
        );
        let mut cmd = if proxy == "caddy" {
            let mut c = Command::new(&caddy);
            c.args(["run", "--adapter", "caddyfile", "--config"])
                .arg(out.join("Caddyfile-fedca"))
                .env("HOME", &out)
                .env("XDG_DATA_HOME", out.join("caddy-data"))
                .env("XDG_CONFIG_HOME", out.join("caddy-config"));
            c
        } else {
            let cfg = out.join("test-haproxy.cfg");
            fs::write(
                &cfg,
                format!(
                    "global\n    log stdout local0\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n{}",
                    read(out.join("haproxy-fedca.cfg"))
                ),
            )
            .unwrap();
            let mut c = Command::new(&haproxy);
            c.args(["-db", "-f", s(&cfg)]);
            c
        };
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Ready when the federation port accepts (bounded: 20 s).
        let mut ready = false;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                ready = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let result = ready.then(|| {
            let mut s_client = Command::new("openssl")
                .args(["s_client", "-quiet", "-verify_return_error", "-verify_ip", "127.0.0.1"])
                .arg("-CAfile")
                .arg(f.ca.join("root.pem"))
                .args(["-connect", &format!("127.0.0.1:{port}")])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            s_client
                .stdin
                .take()
                .unwrap()
                .write_all(
                    format!("GET /_matrix/federation/v1/version HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .unwrap();
            s_client.wait_with_output().unwrap()
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(ready, "{proxy} did not listen on 127.0.0.1:{port}");
        let r = result.unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(r.status.success(), "{proxy}: openssl s_client: {text}");
        assert!(text.contains("verify return:1"), "{proxy}: {text}");
        assert!(
            text.contains("fedca-upstream-ok"),
            "{proxy}: not forwarded: {text}"
        );
    }
}

/// Issue 10: homeservers read no CRL, so every homeserver target writes the federation's
/// current servers (newest certificate not revoked) as its allow-list where it has one:
/// Synapse federation_domain_whitelist, exact; the conduwuit family
/// allowed_remote_server_names as anchored, escaped expressions (continuwuity also
/// forbidding everything else); Dendrite and Conduit say they have none. A revoked
/// server drops out and comes back when re-issued; --open-federation leaves the list out.
#[test]
fn allow_list_is_the_federations_current_servers() {
    let f = Fixture::new();
    let all = [
        "127.0.0.1:8448",
        "127.0.0.2:8449",
        "[::1]:8450",
        "hs1.fed.test",
        "hs2.fed.test",
    ];
    let whitelist =
        |out: &Path| strs(&yaml(out.join("homeserver-fedca.yaml"))["federation_domain_whitelist"]);
    let out = f.out("allow-1");
    f.trust("synapse", Some("hs1.fed.test"), &out, &[]);
    assert_eq!(whitelist(&out), all);

    ok(&["revoke", "127.0.0.2:8449", "--ca-dir", s(&f.ca)]);
    let out = f.out("allow-2");
    f.trust("synapse", Some("hs1.fed.test"), &out, &[]);
    let without: Vec<&str> = all
        .iter()
        .copied()
        .filter(|n| *n != "127.0.0.2:8449")
        .collect();
    assert_eq!(whitelist(&out), without);
    let text = read(out.join("homeserver-fedca.yaml"));
    assert!(
        text.contains("re-run `fedca trust` for EVERY OTHER server"),
        "{text}"
    );

    // The family: anchored, escaped; continuwuity also forbids every other name.
    for target in ["conduwuit", "continuwuity", "tuwunel"] {
        let out = f.out(&format!("allow-{target}"));
        f.trust(target, Some("hs1.fed.test"), &out, &[]);
        let t = toml_file(out.join(format!("{target}-fedca.toml")));
        let g = t["global"].as_table().unwrap();
        let pats: Vec<&str> = g["allowed_remote_server_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            pats,
            [
                r"^127\.0\.0\.1:8448$",
                r"^\[::1\]:8450$",
                r"^hs1\.fed\.test$",
                r"^hs2\.fed\.test$"
            ],
            "{target}"
        );
        let forbidden = g.get("forbidden_remote_server_names");
        if target == "continuwuity" {
            assert_eq!(
                forbidden.unwrap().as_array().unwrap()[0].as_str(),
                Some(".*")
            );
        } else {
            assert!(forbidden.is_none(), "{target}: {forbidden:?}");
        }
    }
    // No allow-list where the implementation has none: the fragment says so.
    let out = f.out("allow-dendrite");
    f.trust("dendrite", Some("hs1.fed.test"), &out, &[]);
    let text = read(out.join("dendrite-fedca.yaml"));
    assert!(
        text.contains("Dendrite has no federation allow-list"),
        "{text}"
    );
    assert!(text.contains("firewall"), "{text}");
    let out = f.out("allow-conduit");
    f.trust("conduit", Some("hs1.fed.test"), &out, &[]);
    let text = read(out.join("conduit-fedca.toml"));
    assert!(
        text.contains("Conduit has no federation allow-list"),
        "{text}"
    );
    assert!(!text.contains("allowed_remote_server_names ="), "{text}");

    // --open-federation: no list at all.
    let out = f.out("allow-open");
    f.trust(
        "synapse",
        Some("hs1.fed.test"),
        &out,
        &["--open-federation"],
    );
    let y = yaml(out.join("homeserver-fedca.yaml"));
    assert!(y.get("federation_domain_whitelist").is_none(), "{y:?}");
    let out = f.out("allow-open-c");
    f.trust(
        "continuwuity",
        Some("hs1.fed.test"),
        &out,
        &["--open-federation"],
    );
    let t = toml_file(out.join("continuwuity-fedca.toml"));
    let g = t["global"].as_table().unwrap();
    assert!(!g.contains_key("allowed_remote_server_names"), "{g:?}");
    assert!(!g.contains_key("forbidden_remote_server_names"), "{g:?}");
    // --open-federation is for homeserver targets only.
    let out = f.out("allow-open-pem");
    let (code, err) = trust_fails(&f, "pem", None, &out, &["--open-federation"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--open-federation"), "{err}");
    assert!(!out.exists());

    // Re-issued, the revoked server is back.
    ok(&["issue", "127.0.0.2:8449", "--ca-dir", s(&f.ca)]);
    let out = f.out("allow-3");
    f.trust("synapse", Some("hs1.fed.test"), &out, &[]);
    assert_eq!(whitelist(&out), all);
}

/// The library names settings as fields (issue 8); the command line prints them as the
/// options, byte for byte as before: in notes on stdout, in `--json`, and in a refusal's
/// rule. No mention character of the library's escapes.
#[test]
fn notes_json_and_refusals_name_the_options() {
    let f = Fixture::new();
    let out = f.trust("system", None, &f.out("system"), &[]);
    assert!(
        out.contains("` or `sudo fedca trust --for system --install`\n"),
        "{out}"
    );
    let json = f.trust(
        "dendrite",
        Some("hs1.fed.test"),
        &f.out("dendrite"),
        &["--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.contains(&"outbound trust: run `fedca trust --for system --install` on the host (adds the roots to the system store), or load trust.env (SSL_CERT_FILE replaces the system bundle)"),
        "{notes:?}"
    );
    let (code, err) = trust_fails(
        &f,
        "dendrite",
        Some("hs1.fed.test"),
        &f.out("two-binds"),
        &["--bind", "127.0.0.1", "--bind", "127.0.0.2"],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        "fedca: error: invalid --bind \"127.0.0.1 127.0.0.2\": Dendrite's --https-bind-address takes one address; give --bind once\n"
    );
    for text in [&out, &json, &err] {
        assert!(
            !text.contains(['\u{E000}', '\u{E001}']),
            "a field mention escaped: {text:?}"
        );
    }
}
