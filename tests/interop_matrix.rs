//! The interop matrix: certificates issued by the real fedca binary, for a DNS name, an
//! IPv4 literal, an IPv6 literal, a v3 onion name and a delegated host, with ECDSA P-256,
//! ECDSA P-384 and Ed25519 keys (root and leaf), directly under a name-constrained
//! root, are checked by every verifier homeservers use — offline and in live TLS
//! handshakes against an OpenSSL server (`openssl s_server`) that loads the chain and
//! the `key.pem` fedca wrote, as nginx, haproxy and Synapse (pyOpenSSL) would:
//!
//! | stack | offline | live |
//! | --- | --- | --- |
//! | rustls/webpki (Rust homeservers, fedca) | `fedca verify` | `fedca::verify` ClientConfig |
//! | OpenSSL 3 | `openssl verify` (openssl-verify.sh) | `openssl s_client` |
//! | GnuTLS | `certtool --verify` (gnutls-verify.sh) | `gnutls-cli` |
//! | pyOpenSSL + service_identity (Synapse) | pyverify.py --chain | pyverify.py --connect |
//! | Go crypto/x509, crypto/tls (Dendrite) | goverify --chain | goverify --connect |
//!
//! Each must accept the leaf for the right name, refuse it for a wrong one, and refuse
//! it when it trusts another root with the same name (a different key): a stack that
//! checked only names would fail that probe. Where a
//! stack cannot accept a combination, [`expected`] says so with the reason and the test
//! asserts exactly that; nothing is skipped, and a missing verifier fails the test.
//! The observed matrix is written to `<target>/tmp/interop-matrix.md` (and to
//! `$FEDCA_INTEROP_MATRIX` when set); docs/interop.md shows it.

mod common;

use std::fmt::Write as _;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{goverify, interop, ok, onion, python, read, require};
use fedca::name::ServerName;
use fedca::verify::TrustBundle;
use rustls::pki_types::ServerName as PkiServerName;

const KEYS: [&str; 3] = ["ecdsa-p256", "ecdsa-p384", "ed25519"];

/// One kind of server name.
#[derive(Debug, Clone)]
struct NameCase {
    label: &'static str,
    /// What `fedca issue` is given.
    server: String,
    /// `--delegate`, for the delegated case.
    delegate: Option<&'static str>,
    /// The host a federation client checks (no port, no brackets).
    right: String,
    /// A name the certificate must not be accepted for.
    wrong: String,
}

fn name_cases() -> Vec<NameCase> {
    let (o1, o2) = (onion(31), onion(32));
    vec![
        NameCase {
            label: "DNS name",
            server: "hs1.fed.test".into(),
            delegate: None,
            right: "hs1.fed.test".into(),
            wrong: "hs9.fed.test".into(),
        },
        NameCase {
            label: "IPv4 literal",
            server: "10.0.0.7:8448".into(),
            delegate: None,
            right: "10.0.0.7".into(),
            wrong: "10.0.0.8".into(),
        },
        NameCase {
            label: "IPv6 literal",
            server: "[fd00::7]:8448".into(),
            delegate: None,
            right: "fd00::7".into(),
            wrong: "fd00::8".into(),
        },
        NameCase {
            label: "v3 onion",
            server: o1.clone(),
            delegate: None,
            right: o1,
            wrong: o2,
        },
        NameCase {
            label: "delegated host",
            server: "hs2.fed.test".into(),
            delegate: Some("matrix.hs2.fed.test:8448"),
            right: "matrix.hs2.fed.test".into(),
            wrong: "matrix.hs3.fed.test".into(),
        },
    ]
}

/// The verifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stack {
    RustlsOffline,
    RustlsTls,
    OpensslVerify,
    OpensslSClient,
    GnutlsCerttool,
    GnutlsCli,
    PyOffline,
    PyTls,
    GoX509,
    GoTls,
}

impl Stack {
    const ALL: [Stack; 10] = [
        Stack::RustlsOffline,
        Stack::RustlsTls,
        Stack::OpensslVerify,
        Stack::OpensslSClient,
        Stack::GnutlsCerttool,
        Stack::GnutlsCli,
        Stack::PyOffline,
        Stack::PyTls,
        Stack::GoX509,
        Stack::GoTls,
    ];

    fn label(self) -> &'static str {
        match self {
            Stack::RustlsOffline => "rustls/webpki: fedca verify",
            Stack::RustlsTls => "rustls/webpki: TLS handshake",
            Stack::OpensslVerify => "OpenSSL: openssl verify",
            Stack::OpensslSClient => "OpenSSL: s_client handshake",
            Stack::GnutlsCerttool => "GnuTLS: certtool --verify",
            Stack::GnutlsCli => "GnuTLS: gnutls-cli handshake",
            Stack::PyOffline => "pyOpenSSL+service_identity: X509StoreContext",
            Stack::PyTls => "pyOpenSSL+service_identity: TLS handshake (Synapse)",
            Stack::GoX509 => "Go: crypto/x509 Verify (Dendrite)",
            Stack::GoTls => "Go: crypto/tls handshake (Dendrite)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Stack::RustlsOffline => "rustls verify",
            Stack::RustlsTls => "rustls TLS",
            Stack::OpensslVerify => "openssl verify",
            Stack::OpensslSClient => "s_client",
            Stack::GnutlsCerttool => "certtool",
            Stack::GnutlsCli => "gnutls-cli",
            Stack::PyOffline => "pyOpenSSL",
            Stack::PyTls => "pyOpenSSL TLS",
            Stack::GoX509 => "Go x509",
            Stack::GoTls => "Go TLS",
        }
    }
}

/// What is asked of a verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// The right name, trusting the issuing root.
    Right,
    /// A wrong name, trusting the issuing root.
    WrongName,
    /// The right name, trusting another root with the same name and key type.
    ForeignRoot,
}

impl Probe {
    const ALL: [Probe; 3] = [Probe::Right, Probe::WrongName, Probe::ForeignRoot];

    fn label(self) -> &'static str {
        match self {
            Probe::Right => "right name",
            Probe::WrongName => "wrong name",
            Probe::ForeignRoot => "same-named foreign root",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Refuse,
}

/// What a stack must do with a combination, and why when it is not the obvious answer.
///
/// Every stack accepts every key type and name kind fedca issues for the right name, and
/// refuses it for a wrong name or an untrusted root: measured, there is no combination a
/// stack cannot accept
/// (GnuTLS 3.7, OpenSSL 3, Go 1.19 and pyOpenSSL all handle Ed25519 and P-384 chains,
/// IPv6 iPAddress SANs and name constraints with both IP families). A limitation found
/// later goes here, with its reason, and the test then asserts it.
fn expected(
    _stack: Stack,
    _key: &str,
    _case: &NameCase,
    probe: Probe,
) -> (Verdict, Option<&'static str>) {
    match probe {
        Probe::Right => (Verdict::Accept, None),
        Probe::WrongName | Probe::ForeignRoot => (Verdict::Refuse, None),
    }
}

/// What a verifier said.
#[derive(Debug, Clone)]
struct Observed {
    verdict: Option<Verdict>,
    detail: String,
}

impl Observed {
    fn accept() -> Self {
        Observed {
            verdict: Some(Verdict::Accept),
            detail: String::new(),
        }
    }
    fn refuse(detail: impl Into<String>) -> Self {
        Observed {
            verdict: Some(Verdict::Refuse),
            detail: detail.into(),
        }
    }
    fn broken(detail: impl Into<String>) -> Self {
        Observed {
            verdict: None,
            detail: detail.into(),
        }
    }
}

/// Everything the verifiers need.
struct Tools {
    python: PathBuf,
    goverify: PathBuf,
}

/// An OpenSSL server (`openssl s_server`) on 127.0.0.1 that loads the chain and the
/// `key.pem` fedca wrote, as nginx, haproxy and Synapse (pyOpenSSL) do, for as many
/// handshakes as come (one at a time; each key's checks run one after another).
struct LiveServer {
    addr: SocketAddr,
    child: std::process::Child,
}

impl LiveServer {
    fn start(dir: &Path) -> LiveServer {
        let chain = dir.join("fullchain.pem");
        let key = dir.join("key.pem");
        let mut cmd = Command::new("openssl");
        cmd.args(["s_server", "-accept", "127.0.0.1:0", "-www", "-cert"])
            .arg(&chain)
            .arg("-key")
            .arg(&key);
        // -cert takes the leaf only; anything after it in fullchain.pem is sent as chain.
        let blocks = pem::parse_many(read(&chain)).unwrap();
        if blocks.len() > 1 {
            let rest = dir.join("s_server-chain.pem");
            std::fs::write(&rest, pem::encode_many(&blocks[1..])).unwrap();
            cmd.arg("-cert_chain").arg(rest);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run openssl s_server");
        let mut stderr = child.stderr.take().unwrap();
        let err_t = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        // s_server prints "ACCEPT 127.0.0.1:PORT" once it listens; keep draining after.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(a) = line.strip_prefix("ACCEPT ") {
                    let _ = tx.send(a.trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => LiveServer {
                addr: a.parse().unwrap(),
                child,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "openssl s_server could not serve {} with {}: {}",
                    chain.display(),
                    key.display(),
                    err_t.join().unwrap_or_default()
                );
            }
        }
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with stdin closed and a deadline; (exit code, stdout, stderr).
fn run_with_deadline(
    cmd: &mut Command,
    secs: u64,
) -> Result<(Option<i32>, String, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{cmd:?} timed out after {secs} s"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok((
        status.code(),
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    ))
}

/// A wrapper of tests/interop: one JSON line, exit 0 valid / 1 invalid / 2 usage.
fn wrapper(cmd: &mut Command) -> Observed {
    let (code, out, err) = match run_with_deadline(cmd, 60) {
        Ok(r) => r,
        Err(e) => return Observed::broken(e),
    };
    let line = out.lines().last().unwrap_or("");
    let v: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(_) => return Observed::broken(format!("exit {code:?}, no JSON: {out}{err}")),
    };
    let detail = v["error"].as_str().unwrap_or("").to_string();
    match (code, v["valid"].as_bool()) {
        (Some(0), Some(true)) => Observed::accept(),
        (Some(1), Some(false)) => Observed::refuse(detail),
        _ => Observed::broken(format!("exit {code:?}: {line} {err}")),
    }
}

fn is_ip(name: &str) -> bool {
    name.parse::<std::net::IpAddr>().is_ok()
}

#[allow(clippy::too_many_arguments)]
fn check(
    stack: Stack,
    tools: &Tools,
    chain: &Path,
    root: &Path,
    root_pem: &str,
    addr: SocketAddr,
    name: &str,
) -> Observed {
    let connect = addr.to_string();
    match stack {
        Stack::RustlsOffline => {
            let out = common::fedca()
                .args(["verify", "--json", "--name", name, "--trust"])
                .arg(root)
                .arg(chain)
                .output()
                .unwrap();
            let v = common::json(&out);
            match (out.status.code(), v["valid"].as_bool()) {
                (Some(0), Some(true)) => Observed::accept(),
                (Some(1), Some(false)) => Observed::refuse(format!(
                    "{}: {}",
                    v["error"]["kind"].as_str().unwrap_or(""),
                    v["error"]["detail"].as_str().unwrap_or("")
                )),
                (c, _) => Observed::broken(format!("exit {c:?}: {v}")),
            }
        }
        Stack::RustlsTls => rustls_handshake(root_pem, addr, name),
        Stack::OpensslVerify => wrapper(
            Command::new("bash")
                .arg(interop().join("openssl-verify.sh"))
                .arg("--chain")
                .arg(chain)
                .arg("--trust")
                .arg(root)
                .args(["--name", name]),
        ),
        Stack::GnutlsCerttool => wrapper(
            Command::new("bash")
                .arg(interop().join("gnutls-verify.sh"))
                .arg("--chain")
                .arg(chain)
                .arg("--trust")
                .arg(root)
                .args(["--name", name]),
        ),
        Stack::PyOffline => wrapper(
            Command::new(&tools.python)
                .arg(interop().join("pyverify.py"))
                .arg("--chain")
                .arg(chain)
                .arg("--trust")
                .arg(root)
                .args(["--name", name]),
        ),
        Stack::PyTls => wrapper(
            Command::new(&tools.python)
                .arg(interop().join("pyverify.py"))
                .args(["--connect", &connect, "--trust"])
                .arg(root)
                .args(["--name", name]),
        ),
        Stack::GoX509 => wrapper(
            Command::new(&tools.goverify)
                .arg("--chain")
                .arg(chain)
                .arg("--trust")
                .arg(root)
                .args(["--name", name]),
        ),
        Stack::GoTls => wrapper(
            Command::new(&tools.goverify)
                .args(["--connect", &connect, "--trust"])
                .arg(root)
                .args(["--name", name]),
        ),
        Stack::OpensslSClient => {
            let mut cmd = Command::new("openssl");
            cmd.args(["s_client", "-connect", &connect, "-CAfile"])
                .arg(root)
                .args([
                    "-no-CApath",
                    "-no-CAstore",
                    "-verify",
                    "9",
                    "-verify_return_error",
                ]);
            if is_ip(name) {
                cmd.args(["-verify_ip", name, "-noservername"]);
            } else {
                cmd.args(["-verify_hostname", name, "-servername", name]);
            }
            match run_with_deadline(&mut cmd, 30) {
                Err(e) => Observed::broken(e),
                Ok((code, out, err)) => {
                    let verify_line = out
                        .lines()
                        .find(|l| l.contains("Verify return code:"))
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    if code == Some(0) && verify_line.contains("Verify return code: 0 (ok)") {
                        Observed::accept()
                    } else if code == Some(1) {
                        let why = err
                            .lines()
                            .chain(out.lines())
                            .find(|l| l.contains("verify error"))
                            .unwrap_or(&verify_line)
                            .trim()
                            .to_string();
                        Observed::refuse(why)
                    } else {
                        Observed::broken(format!("exit {code:?}: {verify_line} {err}"))
                    }
                }
            }
        }
        Stack::GnutlsCli => {
            let mut cmd = Command::new("gnutls-cli");
            cmd.arg("--x509cafile").arg(root).args([
                "--port",
                &addr.port().to_string(),
                "--verify-hostname",
                name,
            ]);
            if !is_ip(name) {
                cmd.args(["--sni-hostname", name]);
            }
            cmd.arg(addr.ip().to_string());
            match run_with_deadline(&mut cmd, 30) {
                Err(e) => Observed::broken(e),
                Ok((code, out, err)) => {
                    let all = format!("{out}{err}");
                    let status = all
                        .lines()
                        .find(|l| l.contains("- Status:"))
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    if code == Some(0) && status.contains("The certificate is trusted") {
                        Observed::accept()
                    } else if code == Some(1) && status.contains("NOT trusted") {
                        Observed::refuse(status)
                    } else {
                        Observed::broken(format!("exit {code:?}: {all}"))
                    }
                }
            }
        }
    }
}

/// A rustls client with fedca's library ClientConfig.
fn rustls_handshake(root_pem: &str, addr: SocketAddr, name: &str) -> Observed {
    let bundle = TrustBundle::from_pem(root_pem).unwrap();
    let config = Arc::new(bundle.client_config(None).unwrap());
    let server_name = match name.parse::<std::net::IpAddr>() {
        Ok(ip) => PkiServerName::IpAddress(ip.into()),
        Err(_) => PkiServerName::try_from(name.to_string()).unwrap(),
    };
    let mut conn = rustls::ClientConnection::new(config, server_name).unwrap();
    let mut sock = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) => return Observed::broken(format!("connect: {e}")),
    };
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return Observed::refuse(e.to_string());
        }
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    Observed::accept()
}

/// One cell of the matrix.
struct Row {
    key: &'static str,
    case: String,
    stack: Stack,
    probe: Probe,
    name: String,
    expected: Verdict,
    reason: Option<&'static str>,
    observed: Observed,
}

fn run_key(key: &'static str, tools: &Tools, base: &Path) -> Vec<Row> {
    let ca = base.join(format!("ca-{key}"));
    let ca_s = ca.to_str().unwrap();
    ok(&[
        "init",
        "--ca-dir",
        ca_s,
        "--key",
        key,
        "--name",
        &format!("fedca interop {key}"),
        "--permit",
        "fed.test",
        "--permit",
        "10.0.0.0/8",
        "--permit",
        "fd00::/8",
        "--permit",
        "onion",
    ]);
    let root = ca.join("root.pem");
    let root_pem = read(&root);
    // Another root with the same name and key type: only the key differs.
    let other = base.join(format!("other-{key}"));
    ok(&[
        "init",
        "--ca-dir",
        other.to_str().unwrap(),
        "--key",
        key,
        "--name",
        &format!("fedca interop {key}"),
    ]);
    let other_root = other.join("root.pem");
    let other_root_pem = read(&other_root);
    let mut rows = Vec::new();
    for case in name_cases() {
        let mut args = vec![
            "issue",
            "--ca-dir",
            ca_s,
            "--key",
            key,
            case.server.as_str(),
        ];
        if let Some(d) = case.delegate {
            args.extend_from_slice(&["--delegate", d]);
        }
        ok(&args);
        let dir = ca
            .join("servers")
            .join(ServerName::parse(&case.server).unwrap().dir_name());
        let chain = dir.join("fullchain.pem");
        let server = LiveServer::start(&dir);
        for stack in Stack::ALL {
            for probe in Probe::ALL {
                let (name, trust, trust_pem) = match probe {
                    Probe::Right => (&case.right, &root, &root_pem),
                    Probe::WrongName => (&case.wrong, &root, &root_pem),
                    Probe::ForeignRoot => (&case.right, &other_root, &other_root_pem),
                };
                let (expected, reason) = expected(stack, key, &case, probe);
                let observed = check(stack, tools, &chain, trust, trust_pem, server.addr, name);
                rows.push(Row {
                    key,
                    case: case.label.to_string(),
                    stack,
                    probe,
                    name: name.clone(),
                    expected,
                    reason,
                    observed,
                });
            }
        }
    }
    rows
}

fn version(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|e| format!("{cmd}: {e}"))
}

fn markdown(rows: &[Row], tools: &Tools) -> String {
    let mut md = String::new();
    let py = version(
        tools.python.to_str().unwrap(),
        &[
            "-c",
            "import OpenSSL, service_identity, sys; from OpenSSL import SSL; print('Python', sys.version.split()[0], '/ pyOpenSSL', OpenSSL.__version__, '/ service_identity', service_identity.__version__, '/', SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode())",
        ],
    );
    let _ = writeln!(md, "Verifier versions:\n");
    let _ = writeln!(
        md,
        "- rustls 0.23 + rustls-webpki 0.103 (ring provider), through fedca"
    );
    let _ = writeln!(md, "- {}", version("openssl", &["version"]));
    let _ = writeln!(md, "- GnuTLS {}", version("certtool", &["--version"]));
    let _ = writeln!(md, "- {py}");
    let _ = writeln!(md, "- {}", version("go", &["version"]));
    let _ = writeln!(
        md,
        "\nLive handshakes are made against `openssl s_server -cert fullchain.pem -key key.pem`: OpenSSL loads the key.pem fedca wrote, for every key type."
    );
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Each cell: right name / wrong name / same-named foreign root — `A` accepted, `R` refused (`!` marks a result that differs from the expectation; none do)."
    );
    let _ = writeln!(md);
    let mut header = "| key | name |".to_string();
    let mut rule = "| --- | --- |".to_string();
    for s in Stack::ALL {
        let _ = write!(header, " {} |", s.short());
        rule.push_str(" :-: |");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for key in KEYS {
        for case in name_cases() {
            let mut line = format!("| {key} | {} |", case.label);
            for s in Stack::ALL {
                let cell = |probe: Probe| {
                    rows.iter()
                        .find(|r| {
                            r.key == key && r.case == case.label && r.stack == s && r.probe == probe
                        })
                        .map(|r| {
                            let letter = match r.observed.verdict {
                                Some(Verdict::Accept) => "A",
                                Some(Verdict::Refuse) => "R",
                                None => "?",
                            };
                            if r.observed.verdict == Some(r.expected) {
                                letter.to_string()
                            } else {
                                format!("{letter}!")
                            }
                        })
                        .unwrap_or_default()
                };
                let _ = write!(
                    line,
                    " {} / {} / {} |",
                    cell(Probe::Right),
                    cell(Probe::WrongName),
                    cell(Probe::ForeignRoot)
                );
            }
            let _ = writeln!(md, "{line}");
        }
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "How each stack refuses a wrong name (ecdsa-p256):\n");
    for case in name_cases() {
        let _ = writeln!(md, "- {} (asked for `{}`):", case.label, case.wrong);
        for s in Stack::ALL {
            if let Some(r) = rows.iter().find(|r| {
                r.key == "ecdsa-p256"
                    && r.case == case.label
                    && r.stack == s
                    && r.probe == Probe::WrongName
            }) {
                let detail: String = r.observed.detail.chars().take(220).collect();
                let _ = writeln!(md, "  - {}: {}", s.label(), detail.replace('|', "\\|"));
            }
        }
    }
    let _ = writeln!(
        md,
        "\nHow each stack refuses a same-named foreign root (ed25519, DNS name):\n"
    );
    for s in Stack::ALL {
        if let Some(r) = rows.iter().find(|r| {
            r.key == "ed25519"
                && r.case == "DNS name"
                && r.stack == s
                && r.probe == Probe::ForeignRoot
        }) {
            let detail: String = r.observed.detail.chars().take(220).collect();
            let _ = writeln!(md, "- {}: {}", s.label(), detail.replace('|', "\\|"));
        }
    }
    let exceptions: Vec<&Row> = rows.iter().filter(|r| r.reason.is_some()).collect();
    let _ = writeln!(md);
    if exceptions.is_empty() {
        let _ = writeln!(md, "Expected limitations: none — every stack accepts every combination for the right name.");
    } else {
        let _ = writeln!(md, "Expected limitations:\n");
        for r in exceptions {
            let _ = writeln!(
                md,
                "- {} / {} / {}: {:?} — {}",
                r.key,
                r.case,
                r.stack.label(),
                r.expected,
                r.reason.unwrap_or("")
            );
        }
    }
    md
}

#[test]
fn every_verifier_accepts_the_right_name_and_refuses_a_wrong_one() {
    let started = Instant::now();
    for tool in ["openssl", "certtool", "gnutls-cli", "go", "bash"] {
        require(tool);
    }
    let tools = Tools {
        python: python(),
        goverify: goverify(),
    };
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<Row> = std::thread::scope(|s| {
        let handles: Vec<_> = KEYS
            .iter()
            .map(|key| {
                let tools = &tools;
                let base = tmp.path();
                s.spawn(move || run_key(key, tools, base))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a key thread panicked"))
            .collect()
    });
    assert_eq!(
        rows.len(),
        KEYS.len() * 5 * Stack::ALL.len() * Probe::ALL.len()
    );

    let md = markdown(&rows, &tools);
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop-matrix.md");
    std::fs::write(&out, &md).unwrap();
    if let Some(p) = std::env::var_os("FEDCA_INTEROP_MATRIX") {
        std::fs::write(p, &md).unwrap();
    }
    println!(
        "{md}\n(written to {}; {} checks in {:.1} s)",
        out.display(),
        rows.len(),
        started.elapsed().as_secs_f64()
    );

    let wrong: Vec<String> = rows
        .iter()
        .filter(|r| r.observed.verdict != Some(r.expected))
        .map(|r| {
            format!(
                "{} / {} / {} / {} {}: expected {:?}, got {}: {}",
                r.key,
                r.case,
                r.stack.label(),
                r.probe.label(),
                r.name,
                r.expected,
                match r.observed.verdict {
                    Some(v) => format!("{v:?}"),
                    None => "a broken verifier run".into(),
                },
                r.observed.detail
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} checks differ from the expected matrix:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}
