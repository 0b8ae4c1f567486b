//! The proof: real Synapse homeservers federating over fedca certificates, configured
//! only with what `fedca trust --for synapse` emitted (plus Synapse's own generated
//! defaults and the harness's test plumbing, see tests/synapse/README.md).
//!
//! 1. two servers named by IP literals, 127.0.0.1:P1 and 127.0.0.2:P2;
//! 2. two servers named by DNS names resolved to loopback in a private mount namespace,
//!    hs2.fed.test delegated by `.well-known/matrix/server` to matrix.hs2.fed.test:P;
//! 3. as 1, but one server's certificate comes from another fedca root: the join fails,
//!    on certificate verification.
//!
//! Each scenario runs `fedca init`/`issue`/`trust` with the built binary, writes the
//! harness's scenario JSON and runs `tests/synapse/harness.py` with the venv's Python
//! (`<repo>/target/venv/bin/python`, or `FEDCA_TEST_PYTHON`). These tests FAIL when
//! Synapse is missing: run scripts/install-test-deps. Logs (Synapse's, the harness's,
//! the merged homeserver.yaml) stay under `<target>/synapse-logs/`. The scenarios run
//! one at a time (each starts two Synapse processes). Scenario 2 needs root (a mount
//! namespace, port 443).

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

mod common;
use common::{ok, repo, require, s, synapse_python, BIN};

/// One Synapse scenario at a time: each starts two homeservers on a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

/// A fresh directory under `<target>/synapse-logs/` that is kept after the test.
fn scenario_dir(name: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let d = target
        .join("synapse-logs")
        .join(format!("{name}-{stamp}-{}", std::process::id()));
    fs::create_dir_all(&d).unwrap();
    d
}

/// A port nobody listens on at `addr` right now.
fn free_port(addr: Ipv4Addr) -> u16 {
    TcpListener::bind((addr, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on {addr}: {e}"))
}

/// Runs the harness on `scenario`; returns its exit code and output (also printed).
fn harness(dir: &Path, scenario: serde_json::Value) -> (i32, String) {
    let py = synapse_python();
    let path = dir.join("scenario.json");
    fs::write(&path, serde_json::to_string_pretty(&scenario).unwrap()).unwrap();
    let t0 = Instant::now();
    let out = Command::new(&py)
        .arg(repo().join("tests/synapse/harness.py"))
        .arg(&path)
        .current_dir(repo())
        .output()
        .expect("run the harness");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "{text}\nharness: exit {:?} after {:.1}s; logs in {}",
        out.status.code(),
        t0.elapsed().as_secs_f64(),
        dir.join("logs").display()
    );
    (out.status.code().unwrap_or(-1), text)
}

fn server(name: &str, bind: Ipv4Addr, fed_port: u16, fragment: &Path) -> serde_json::Value {
    serde_json::json!({
        "server_name": name,
        "bind_address": bind.to_string(),
        "federation_port": fed_port,
        "client_port": free_port(bind),
        "fragment": s(fragment),
    })
}

fn scenario(dir: &Path, expect: &str, servers: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({
        "expect": expect,
        "workdir": s(&dir.join("work")),
        "log_dir": s(&dir.join("logs")),
        "timeout": 300,
        "hosts": {},
        "servers": servers,
    })
}

/// Checks the emitted blacklist against the installed Synapse: its own
/// DEFAULT_IP_RANGE_BLOCKLIST minus the federation's addresses, computed by Python's
/// `ipaddress`, must be the same set of networks fedca wrote.
fn check_blacklist_against_synapse(fragment: &Path, open: &[&str]) {
    let script = r#"
import ipaddress, sys, yaml
from synapse.config.server import DEFAULT_IP_RANGE_BLOCKLIST
nets = [ipaddress.ip_network(n) for n in DEFAULT_IP_RANGE_BLOCKLIST]
for a in sys.argv[2:]:
    hole = ipaddress.ip_network(a)
    out = []
    for n in nets:
        if n.version == hole.version and hole.subnet_of(n):
            out.extend(n.address_exclude(hole))
        else:
            out.append(n)
    nets = out
want = sorted(nets, key=lambda n: (n.version, n))
got = sorted((ipaddress.ip_network(n) for n in yaml.safe_load(open(sys.argv[1]))["ip_range_blacklist"]),
             key=lambda n: (n.version, n))
if want != got:
    print("want", [str(n) for n in want]); print("got ", [str(n) for n in got]); sys.exit(1)
print(len(got), "networks, as Synapse's own list minus", sys.argv[2:])
"#;
    let out = Command::new(synapse_python())
        .arg("-c")
        .arg(script)
        .arg(fragment)
        .args(open)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip_range_blacklist differs from Synapse's DEFAULT_IP_RANGE_BLOCKLIST minus {open:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout).trim());
}

/// Takes the scenario lock, after checking (failing, not skipping) that Synapse is there.
fn lock() -> std::sync::MutexGuard<'static, ()> {
    synapse_python();
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const LO1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const LO2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Two servers named 127.0.0.1:P1 and 127.0.0.2:P2 from one CA, each configured with
/// its own `fedca trust --for synapse` output. Returns (dir, fragments, ports).
struct IpFederation {
    dir: PathBuf,
    ca: PathBuf,
    names: [String; 2],
    ports: [u16; 2],
}

impl IpFederation {
    fn new(label: &str) -> IpFederation {
        let dir = scenario_dir(label);
        let ca = dir.join("ca");
        let ports = [free_port(LO1), free_port(LO2)];
        let names = [
            format!("127.0.0.1:{}", ports[0]),
            format!("127.0.0.2:{}", ports[1]),
        ];
        ok(&[
            "init",
            "--ca-dir",
            s(&ca),
            "--name",
            "Loopback Federation Root",
            "--permit",
            "127.0.0.0/8",
            "--permit",
            "::1/128",
        ]);
        ok(&["issue", &names[0], &names[1], "--ca-dir", s(&ca)]);
        IpFederation {
            dir,
            ca,
            names,
            ports,
        }
    }

    fn emit(&self, i: usize, ca: &Path, extra: &[&str]) -> PathBuf {
        let out = self.dir.join(format!("conf-hs{}", i + 1));
        let mut args = vec![
            "trust",
            "--for",
            "synapse",
            "--server",
            &self.names[i],
            "--ca-dir",
            s(ca),
            "--out",
            s(&out),
        ];
        args.extend_from_slice(extra);
        println!("{}", ok(&args));
        out.join("homeserver-fedca.yaml")
    }
}

#[test]
fn synapse_federates_between_ip_literal_server_names() {
    let _serial = lock();
    let fed = IpFederation::new("ip-literals");
    let frag1 = fed.emit(0, &fed.ca, &[]);
    let frag2 = fed.emit(1, &fed.ca, &[]);
    check_blacklist_against_synapse(&frag1, &["127.0.0.1/32", "127.0.0.2/32"]);
    let sc = scenario(
        &fed.dir,
        "federate",
        vec![
            server(&fed.names[0], LO1, fed.ports[0], &frag1),
            server(&fed.names[1], LO2, fed.ports[1], &frag2),
        ],
    );
    // While they are up, `fedca probe` finds both OK (issue 12).
    let sc = with_probes(sc, &fed.ca, &fed.names);
    let (code, out) = harness(&fed.dir, sc);
    assert_eq!(
        code,
        0,
        "the servers did not federate; see {}",
        fed.dir.join("logs").display()
    );
    assert!(out.contains("PASS"), "{out}");
    assert_probed(&out, &fed.names, "ip_literal");
    let _ = fs::remove_dir_all(fed.dir.join("work"));
}

#[test]
fn synapse_refuses_a_certificate_from_another_root() {
    let _serial = lock();
    let fed = IpFederation::new("other-root");
    // A second fedca CA issues 127.0.0.1:P1 a certificate of its own. That server is
    // configured from the second CA, trusting both roots and reaching 127.0.0.2 as
    // before: the set-up is the same except for the certificate 127.0.0.1 presents.
    let rogue = fed.dir.join("rogue-ca");
    ok(&[
        "init",
        "--ca-dir",
        s(&rogue),
        "--name",
        "Another Root",
        "--permit",
        "127.0.0.0/8",
        "--permit",
        "::1/128",
    ]);
    ok(&["issue", &fed.names[0], "--ca-dir", s(&rogue)]);
    let root = fed.ca.join("root.pem");
    let frag1 = fed.emit(
        0,
        &rogue,
        // --open-federation: the rogue CA knows only 127.0.0.1, and its allow-list
        // would name nobody else; the test is about the certificate.
        &[
            "--also-trust",
            s(&root),
            "--federation-addr",
            "127.0.0.2",
            "--open-federation",
        ],
    );
    let frag2 = fed.emit(1, &fed.ca, &[]);
    let sc = scenario(
        &fed.dir,
        "cert_failure",
        vec![
            server(&fed.names[0], LO1, fed.ports[0], &frag1),
            server(&fed.names[1], LO2, fed.ports[1], &frag2),
        ],
    );
    let (code, out) = harness(&fed.dir, sc);
    assert_eq!(
        code,
        0,
        "the join did not fail on certificate verification; see {}",
        fed.dir.join("logs").display()
    );
    let evidence = out.to_lowercase();
    assert!(
        [
            "certificate verify failed",
            "unknown ca",
            "verificationerror",
            "unable to get local issuer"
        ]
        .iter()
        .any(|e| evidence.contains(e)),
        "no certificate-verification evidence in the harness output:\n{out}"
    );
    let _ = fs::remove_dir_all(fed.dir.join("work"));
}

/// A loopback address in 127.64.0.0/10 not used by anything else, so that this
/// scenario's port 443 does not collide with another run's.
fn random_loopback(taken: &[Ipv4Addr]) -> Ipv4Addr {
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id().rotate_left(16);
    loop {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let b = seed.to_be_bytes();
        let a = Ipv4Addr::new(127, 64 | (b[0] & 63), b[1], b[2].clamp(1, 254));
        if !taken.contains(&a) && TcpListener::bind((a, 443)).is_ok() {
            return a;
        }
    }
}

#[test]
fn synapse_federates_between_dns_names_with_well_known_delegation() {
    let _serial = lock();
    let dir = scenario_dir("dns-well-known");
    let ca = dir.join("ca");
    let a1 = random_loopback(&[]);
    let a2 = random_loopback(&[a1]); // matrix.hs2.fed.test: hs2's delegated server
    let a3 = random_loopback(&[a1, a2]); // hs2.fed.test: serves .well-known on 443
    let p1 = free_port(a1);
    let p2 = free_port(a2);
    let hs1 = format!("hs1.fed.test:{p1}");
    let delegate = format!("matrix.hs2.fed.test:{p2}");
    ok(&[
        "init",
        "--ca-dir",
        s(&ca),
        "--name",
        "DNS Federation Root",
        "--permit",
        "fed.test",
    ]);
    ok(&["issue", &hs1, "--ca-dir", s(&ca)]);
    ok(&[
        "issue",
        "hs2.fed.test",
        "--delegate",
        &delegate,
        "--ca-dir",
        s(&ca),
    ]);
    let addrs = [a1.to_string(), a2.to_string(), a3.to_string()];
    let emit = |name: &str, bind: Ipv4Addr, out: &Path| {
        let b = bind.to_string();
        let mut args = vec![
            "trust",
            "--for",
            "synapse",
            "--server",
            name,
            "--ca-dir",
            s(&ca),
            "--out",
            s(out),
            "--bind",
            &b,
        ];
        for a in &addrs {
            args.extend(["--federation-addr", a.as_str()]);
        }
        println!("{}", ok(&args));
        out.join("homeserver-fedca.yaml")
    };
    let conf1 = dir.join("conf-hs1");
    let conf2 = dir.join("conf-hs2");
    let frag1 = emit(&hs1, a1, &conf1);
    let frag2 = emit("hs2.fed.test", a2, &conf2);
    let opened: Vec<String> = addrs.iter().map(|a| format!("{a}/32")).collect();
    check_blacklist_against_synapse(
        &frag1,
        &opened.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let body = conf2.join(".well-known/matrix/server");
    let wk: serde_json::Value = serde_json::from_str(&fs::read_to_string(&body).unwrap()).unwrap();
    assert_eq!(wk["m.server"], delegate.as_str());
    let hs2_files = ca.join("servers/hs2.fed.test");
    let mut hs2 = server("hs2.fed.test", a2, p2, &frag2);
    hs2["well_known"] = serde_json::json!({
        "port": 443,
        "bind_address": a3.to_string(),
        "cert": s(&hs2_files.join("fullchain.pem")),
        "key": s(&hs2_files.join("key.pem")),
        "body_file": s(&body),
    });
    let mut sc = scenario(&dir, "federate", vec![server(&hs1, a1, p1, &frag1), hs2]);
    sc["hosts"] = serde_json::json!({
        "hs1.fed.test": a1.to_string(),
        "matrix.hs2.fed.test": a2.to_string(),
        "hs2.fed.test": a3.to_string(),
    });
    // While they are up, `fedca probe` (through the private resolv.conf) finds both OK.
    let names = [hs1.clone(), "hs2.fed.test".to_string()];
    let sc = with_probes(sc, &ca, &names);
    let (code, out) = harness(&dir, sc);
    assert_eq!(
        code,
        0,
        "the servers did not federate; see {}",
        dir.join("logs").display()
    );
    assert!(out.contains("PASS"), "{out}");
    assert_probed(&out, &names, "delegated_explicit_port");
    assert!(out.contains("\"decided_by\": \"explicit_port\""), "{out}");
    let _ = fs::remove_dir_all(dir.join("work"));
}

/// The uid's user name, for install.sh's `--owner` (the tests run Synapse as themselves).
fn me() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sh(script: &Path) {
    let out = Command::new("sh").arg(script).output().expect("run sh");
    assert!(
        out.status.success(),
        "{}: {}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

/// Issue 9, deployed as documented, no hand edits to anything fedca wrote:
///
/// * 127.0.0.1:P1 sits behind real nginx (`--tls-at proxy`): nginx loads the bundle's
///   `nginx-fedca.conf` as it is, from a minimal main config (pid, logs, `include`);
///   Synapse serves plain HTTP on its client port only;
/// * 127.0.0.1:P2 serves TLS itself; both homeservers run on one host (127.0.0.1) with
///   different `--client-port`s, and the fragments' listener lists are used as written;
/// * each bundle is installed by its own `install.sh` into a scratch root
///   (`--install-dir` under the scenario directory), the bundles are then deleted, and
///   Synapse (and nginx) start from the installed paths.
///
/// nginx's access log must show the federation requests it forwarded.
#[test]
fn synapse_federates_from_installed_bundles_behind_nginx_and_side_by_side() {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect(
            "nginx is required by this test and is not installed: run scripts/install-test-deps",
        );
    let _serial = lock();
    let dir = scenario_dir("installed-nginx");
    let ca = dir.join("ca");
    let ports = [free_port(LO1), free_port(LO1)];
    let clients = [free_port(LO1), free_port(LO1)];
    assert!(
        ports[0] != ports[1]
            && clients[0] != clients[1]
            && !ports.contains(&clients[0])
            && !ports.contains(&clients[1])
    );
    let names = [
        format!("127.0.0.1:{}", ports[0]),
        format!("127.0.0.1:{}", ports[1]),
    ];
    ok(&[
        "init",
        "--ca-dir",
        s(&ca),
        "--name",
        "Deployed Federation Root",
        "--permit",
        "127.0.0.0/8",
    ]);
    ok(&["issue", &names[0], &names[1], "--ca-dir", s(&ca)]);
    let owner = me();
    let mut fragments = Vec::new();
    for (i, tls_at) in ["proxy", "homeserver"].iter().enumerate() {
        let bundle = dir.join(format!("bundle-hs{}", i + 1));
        let install = dir.join(format!("root-hs{}/etc/matrix-synapse/fedca", i + 1));
        let client = clients[i].to_string();
        println!(
            "{}",
            ok(&[
                "trust",
                "--for",
                "synapse",
                "--server",
                &names[i],
                "--ca-dir",
                s(&ca),
                "--out",
                s(&bundle),
                "--install-dir",
                s(&install),
                "--owner",
                &owner,
                "--tls-at",
                tls_at,
                "--client-port",
                &client,
            ])
        );
        sh(&bundle.join("install.sh"));
        fs::remove_dir_all(&bundle).unwrap();
        fragments.push(install);
    }
    // nginx: a minimal main config (test plumbing: pid, logs, temp paths under the
    // scenario directory) that includes the installed snippet as written.
    let ng = dir.join("nginx");
    let logs = dir.join("logs");
    fs::create_dir_all(&ng).unwrap();
    fs::create_dir_all(&logs).unwrap();
    let conf = ng.join("nginx.conf");
    fs::write(
        &conf,
        common::nginx_conf(
            &ng,
            &logs,
            &format!(
                "    include {};\n",
                s(&fragments[0].join("nginx-fedca.conf"))
            ),
        ),
    )
    .unwrap();
    let early = logs.join("nginx-early.log");
    let check = Command::new(&nginx)
        .args(["-t", "-e", s(&early), "-c", s(&conf)])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nginx -t refused the installed snippet: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let server_in = |i: usize, fragment: &Path| {
        let mut v = server(&names[i], LO1, ports[i], fragment);
        v["client_port"] = clients[i].into();
        v["listeners"] = "fragment".into();
        v
    };
    let sc = scenario(
        &dir,
        "federate",
        vec![
            server_in(0, &fragments[0].join("homeserver-fedca.yaml")),
            server_in(1, &fragments[1].join("homeserver-fedca.yaml")),
        ],
    );
    let mut sc = with_probes(sc, &ca, &names);
    sc["processes"] = serde_json::json!([{
        "name": "nginx",
        "argv": [s(&nginx), "-e", s(&early), "-c", s(&conf)],
        "ready_tcp": ["127.0.0.1", ports[0]],
    }]);
    let (code, out) = harness(&dir, sc);
    assert_eq!(
        code,
        0,
        "the servers did not federate; see {}",
        logs.display()
    );
    assert!(out.contains("PASS"), "{out}");
    // `fedca probe` reaches both, the first through nginx.
    assert_probed(&out, &names, "ip_literal");
    let access = fs::read_to_string(logs.join("nginx-access.log")).unwrap_or_default();
    assert!(
        access.contains("/_matrix/federation/"),
        "nginx forwarded no federation request:\n{access}"
    );
    println!(
        "nginx forwarded {} federation request(s)",
        access
            .lines()
            .filter(|l| l.contains("/_matrix/federation/"))
            .count()
    );
    let _ = fs::remove_dir_all(dir.join("work"));
}

/// Adds `fedca probe NAME --json` for each server to the harness's `after` commands.
fn with_probes(mut sc: serde_json::Value, ca: &Path, names: &[String]) -> serde_json::Value {
    let cmds: Vec<Vec<String>> = names
        .iter()
        .map(|n| {
            ["probe", n, "--ca-dir", s(ca), "--json", "--timeout", "10"]
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<String>>()
        })
        .map(|mut argv| {
            argv.insert(0, BIN.to_string());
            argv
        })
        .collect();
    sc["after"] = serde_json::json!(cmds);
    sc
}

/// The harness printed a passing probe of every name (it fails the run otherwise).
fn assert_probed(out: &str, names: &[String], decided_by: &str) {
    for n in names {
        assert!(
            out.contains(&format!("\"server_name\": \"{n}\",\n  \"ok\": true")),
            "no passing probe of {n}:\n{out}"
        );
    }
    assert!(
        out.contains(&format!("\"decided_by\": \"{decided_by}\"")),
        "{out}"
    );
    assert!(out.contains("\"server_software\": \"Synapse"), "{out}");
}

/// Synapse itself reads the fragment as is: as a second config file (`-c homeserver.yaml
/// -c homeserver-fedca.yaml`, Synapse's own shallow merge), its configuration loader
/// accepts it — including loading every root file of federation_custom_ca_list — for
/// an IP-literal server, a delegated DNS server, and two roots during a rotation.
#[test]
fn synapse_config_loader_accepts_every_fragment_as_a_second_config_file() {
    let py = synapse_python();
    let dir = scenario_dir("config-check");
    let ca = dir.join("ca");
    let next = dir.join("next-ca");
    ok(&[
        "init",
        "--ca-dir",
        s(&ca),
        "--permit",
        "fed.test",
        "--permit",
        "127.0.0.0/8",
        "--permit",
        "::1/128",
    ]);
    ok(&["init", "--ca-dir", s(&next), "--name", "Next Root"]);
    ok(&[
        "issue",
        "127.0.0.1:8448",
        "[::1]:8449",
        "127.0.0.1:8008",
        "--ca-dir",
        s(&ca),
    ]);
    ok(&[
        "issue",
        "hs2.fed.test",
        "--delegate",
        "matrix.hs2.fed.test:8500",
        "--ca-dir",
        s(&ca),
    ]);
    let next_root = next.join("root.pem");
    // (server, extra arguments, the TLS and plain listeners Synapse must end up with)
    let cases: [(&str, Vec<&str>); 6] = [
        ("127.0.0.1:8448", vec![]),
        // 8008 as the federation port: the client listener moves, it is not dropped.
        ("127.0.0.1:8008", vec!["--client-port", "8009"]),
        // TLS at a proxy: one plain listener, no TLS listener, no certificate.
        (
            "127.0.0.1:8448",
            vec!["--tls-at", "proxy", "--client-port", "8010"],
        ),
        ("[::1]:8449", vec![]),
        (
            "hs2.fed.test",
            vec![
                "--federation-addr",
                "10.1.2.3",
                "--federation-addr",
                "fd00::7",
            ],
        ),
        ("127.0.0.1:8448", vec!["--also-trust", s(&next_root)]),
    ];
    for (i, (name, extra)) in cases.iter().enumerate() {
        let conf = dir.join(format!("case{i}"));
        let out = conf.join("fedca");
        let mut args = vec![
            "trust",
            "--for",
            "synapse",
            "--server",
            name,
            "--ca-dir",
            s(&ca),
            "--out",
            s(&out),
        ];
        args.extend(extra);
        ok(&args);
        let generated = conf.join("homeserver.yaml");
        let gen = Command::new(&py)
            .args([
                "-m",
                "synapse.app.homeserver",
                "--generate-config",
                "--server-name",
                name,
            ])
            .args([
                "--config-path",
                s(&generated),
                "--data-directory",
                s(&conf.join("data")),
            ])
            .arg("--report-stats=no")
            .current_dir(&conf)
            .output()
            .unwrap();
        assert!(
            gen.status.success(),
            "{}",
            String::from_utf8_lossy(&gen.stderr)
        );
        let fragment = out.join("homeserver-fedca.yaml");
        // Synapse's own loader (what `python -m synapse.config` runs), on both files.
        let load = r#"
import sys
from synapse.config.homeserver import HomeServerConfig
c = HomeServerConfig.load_config("", ["-c", sys.argv[1], "-c", sys.argv[2]])
print("verify", c.tls.federation_verify_certificates)
print("min_tls", c.tls.federation_client_minimum_tls_version)
print("custom_ca", c.tls.federation_ca_trust_root is not None)
print("roots", len(c.tls.federation_ca_trust_root._caCerts))
print("tls_listeners", [(l.port, l.bind_addresses) for l in c.server.listeners if l.tls])
print("plain_ports", [l.port for l in c.server.listeners if not l.tls])
print("blocked_127_0_0_1", "127.0.0.1" in c.server.federation_ip_range_blocklist)
print("blocked_127_0_0_9", "127.0.0.9" in c.server.federation_ip_range_blocklist)
print("whitelist", sorted(c.federation.federation_domain_whitelist or []))
"#;
        let run = Command::new(&py)
            .args(["-c", load, s(&generated), s(&fragment)])
            .current_dir(&conf)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        println!("{name} {extra:?}:\n{text}");
        assert!(
            run.status.success(),
            "{name} {extra:?}: Synapse refused the config: {text}"
        );
        let (tls, plain) = match (*name, extra.first().copied()) {
            ("127.0.0.1:8008", _) => ("[(8008, ['127.0.0.1'])]", "[8009]"),
            (_, Some("--tls-at")) => ("[]", "[8010]"),
            ("127.0.0.1:8448", _) => ("[(8448, ['127.0.0.1'])]", "[8008]"),
            _ => ("", ""),
        };
        assert!(
            text.contains(&format!("tls_listeners {tls}"))
                && text.contains(&format!("plain_ports {plain}")),
            "{name} {extra:?}: listeners: {text}"
        );
        for want in [
            "verify True",
            "min_tls 1.2",
            "custom_ca True",
            "blocked_127_0_0_1 False",
            "blocked_127_0_0_9 True",
            // The federation allow-list, as Synapse loaded it: every issued server.
            "whitelist ['127.0.0.1:8008', '127.0.0.1:8448', '[::1]:8449', 'hs2.fed.test']",
        ] {
            assert!(
                text.contains(want),
                "{name} {extra:?}: {want:?} not in {text}"
            );
        }
    }
}

/// Issue 10: two Synapse servers federate (a message each way), then
/// `fedca renew --all --force --deploy-hook …` renews both certificates with new keys and
/// its hook asks for each server's restart (the harness plays the service manager); both
/// restart on the renewed files, exchange a second round of messages, and each serves
/// its new certificate (compared by SHA-256 with `openssl s_client`).
#[test]
fn synapse_keeps_federating_across_a_renewal_with_a_restarting_deploy_hook() {
    let _serial = lock();
    let fed = IpFederation::new("renewal");
    let frag1 = fed.emit(0, &fed.ca, &[]);
    let frag2 = fed.emit(1, &fed.ca, &[]);
    let serials = |ca: &Path| -> Vec<(String, String, String)> {
        let list: serde_json::Value =
            serde_json::from_str(&ok(&["list", "--ca-dir", s(ca), "--json"])).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["server"].as_str().unwrap().to_string(),
                    e["serial"].as_str().unwrap().to_string(),
                    e["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let before = serials(&fed.ca);
    // The hook deploys as an operator would: `fedca trust` rewrites the server's bundle
    // (its fragment names the bundle's copy of the chain and key, not the CA's files),
    // then asks for the restart.
    let hook = format!(
        "echo \"deploy hook: $FEDCA_SERVER renewed in $FEDCA_SERVER_DIR\" && \
         case \"$FEDCA_SERVER\" in {n0}) d=conf-hs1;; {n1}) d=conf-hs2;; *) exit 3;; esac && \
         {bin} trust --for synapse --server \"$FEDCA_SERVER\" --ca-dir {ca} --out {dir}/$d >/dev/null && \
         touch \"$HARNESS_RESTART_DIR/$FEDCA_SERVER\"",
        n0 = fed.names[0],
        n1 = fed.names[1],
        bin = BIN,
        ca = s(&fed.ca),
        dir = s(&fed.dir),
    );
    let hook = hook.as_str();
    let mut sc = scenario(
        &fed.dir,
        "federate",
        vec![
            server(&fed.names[0], LO1, fed.ports[0], &frag1),
            server(&fed.names[1], LO2, fed.ports[1], &frag2),
        ],
    );
    sc["after"] = serde_json::json!([[
        BIN,
        "renew",
        "--all",
        "--force",
        "--ca-dir",
        s(&fed.ca),
        "--deploy-hook",
        hook
    ]]);
    sc["exchange_after"] = serde_json::json!(true);
    let openssl = require("openssl");
    let mut checks = Vec::new();
    for (i, lo) in [LO1, LO2].iter().enumerate() {
        let cert = fed
            .ca
            .join("servers")
            .join(format!("{}_{}", lo, fed.ports[i]))
            .join("cert.pem");
        assert!(cert.is_file(), "{}", cert.display());
        let script = format!(
            "served=$({o} s_client -connect {lo}:{p} </dev/null 2>/dev/null | {o} x509 -outform DER | sha256sum) && \
             want=$({o} x509 -in {c} -outform DER | sha256sum) && \
             echo \"{n}: served $served, renewed $want\" && [ \"$served\" = \"$want\" ]",
            o = s(&openssl),
            p = fed.ports[i],
            c = s(&cert),
            n = fed.names[i],
        );
        checks.push(serde_json::json!(["sh", "-c", script]));
    }
    sc["after_exchange"] = serde_json::json!(checks);
    let sc = {
        // And `fedca probe` of both, after the restarts.
        let probes = with_probes(serde_json::json!({}), &fed.ca, &fed.names);
        let mut sc = sc;
        let mut after = sc["after_exchange"].as_array().unwrap().clone();
        after.extend(probes["after"].as_array().unwrap().iter().cloned());
        sc["after_exchange"] = serde_json::json!(after);
        sc
    };
    let (code, out) = harness(&fed.dir, sc);
    assert_eq!(
        code,
        0,
        "the servers did not keep federating across the renewal; see {}",
        fed.dir.join("logs").display()
    );
    for n in &fed.names {
        assert!(
            out.contains(&format!("deploy hook: {n} renewed")),
            "{n}: hook: {out}"
        );
        assert!(
            out.contains(&format!("{n}: restarted on request")),
            "{n}: {out}"
        );
    }
    assert!(out.contains("still federated"), "{out}");
    assert_probed(&out, &fed.names, "ip_literal");
    let after = serials(&fed.ca);
    for (server, serial, _) in &before {
        let old = after.iter().find(|(_, s, _)| s == serial).unwrap();
        assert_eq!(old.2, "superseded", "{server}: {after:?}");
        let current: Vec<_> = after
            .iter()
            .filter(|(n, _, st)| n == server && st == "valid")
            .collect();
        assert_eq!(current.len(), 1, "{server}: {after:?}");
        assert_ne!(&current[0].1, serial, "{server} was not renewed");
    }
    let _ = fs::remove_dir_all(fed.dir.join("work"));
}

const LO3: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// Issue 10: Synapse reads no CRL, so revocation reaches it through
/// federation_domain_whitelist. Three servers federate (one room, messages each way);
/// then, while they run, `fedca revoke` the third and `fedca trust` is re-run for the
/// other two, which restart on the new fragments (the harness re-reads them). The first
/// two still exchange messages; the revoked server's transaction is refused (403 in the
/// first server's log), its user cannot be invited, and it cannot join a new room.
#[test]
fn synapse_shuts_out_a_revoked_server_after_trust_is_re_run() {
    let _serial = lock();
    let dir = scenario_dir("revoked");
    let ca = dir.join("ca");
    let los = [LO1, LO2, LO3];
    let ports = los.map(free_port);
    let names: Vec<String> = los
        .iter()
        .zip(ports)
        .map(|(lo, p)| format!("{lo}:{p}"))
        .collect();
    ok(&["init", "--ca-dir", s(&ca), "--permit", "127.0.0.0/8"]);
    ok(&["issue", &names[0], &names[1], &names[2], "--ca-dir", s(&ca)]);
    let trust_args = |i: usize| -> Vec<String> {
        [
            BIN,
            "trust",
            "--for",
            "synapse",
            "--server",
            &names[i],
            "--ca-dir",
            s(&ca),
            "--out",
            s(&dir.join(format!("conf-hs{}", i + 1))),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let frags: Vec<PathBuf> = (0..3)
        .map(|i| {
            let a = trust_args(i);
            let a: Vec<&str> = a[1..].iter().map(String::as_str).collect();
            ok(&a);
            dir.join(format!("conf-hs{}", i + 1))
                .join("homeserver-fedca.yaml")
        })
        .collect();
    let mut sc = scenario(
        &dir,
        "federate",
        (0..3)
            .map(|i| server(&names[i], los[i], ports[i], &frags[i]))
            .collect(),
    );
    sc["after"] = serde_json::json!([
        [BIN, "revoke", &names[2], "--ca-dir", s(&ca)],
        trust_args(0),
        trust_args(1),
        [
            "sh",
            "-c",
            format!(
                "touch \"$HARNESS_RESTART_DIR/{}\" \"$HARNESS_RESTART_DIR/{}\"",
                names[0], names[1]
            )
        ]
    ]);
    sc["exchange_after"] = serde_json::json!(true);
    sc["shut_out"] = serde_json::json!([&names[2]]);
    let (code, out) = harness(&dir, sc);
    assert_eq!(
        code,
        0,
        "the revoked server was not shut out; see {}",
        dir.join("logs").display()
    );
    // The re-run fragments name the first two servers only.
    for f in &frags[..2] {
        let text = fs::read_to_string(f).unwrap();
        let y: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(
            y["federation_domain_whitelist"],
            serde_json::json!([&names[0], &names[1]]),
            "{}",
            f.display()
        );
    }
    assert!(
        out.contains(&format!(
            "PASS: {} still federated with {}",
            names[0], names[1]
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "PASS: {} is shut out by {}'s federation_domain_whitelist",
            names[2], names[0]
        )),
        "{out}"
    );
    let _ = fs::remove_dir_all(dir.join("work"));
}
