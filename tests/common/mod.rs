//! The integration tests' one fixture module: run the real fedca binary, require a
//! tool, read a file, snapshot a directory, make an onion name, a standard CA; and, for
//! the verify, inspect and interop tests, the broken-chain corpus, the interop verifiers
//! (a missing verifier fails the test, never skips it), JSON output and a five-server
//! CA fixture.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The path of the fedca binary cargo built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_fedca");

/// The fedca binary cargo built for this test run, without FEDCA_CA_DIR from the
/// environment, and without colour.
pub fn fedca() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("FEDCA_CA_DIR").env("NO_COLOR", "1");
    c
}

/// Runs fedca with `args` and returns its output.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    fedca().args(args).output().expect("run fedca")
}

/// Runs fedca and asserts success, returning stdout.
pub fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "fedca {args:?} failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `fedca init` of a CA named "Test Federation Root" in `dir`, with `extra` options.
pub fn init_ca(dir: &Path, extra: &[&str]) {
    let mut args = vec!["init", "--ca-dir", s(dir), "--name", "Test Federation Root"];
    args.extend_from_slice(extra);
    ok(&args);
}

/// The name constraints of the tests' federation: `fed.test`, loopback and private
/// IPv4 and IPv6 ranges, and onion names.
pub const FEDERATION_PERMITS: &[&str] = &[
    "--permit",
    "fed.test",
    "--permit",
    "127.0.0.0/8",
    "--permit",
    "10.0.0.0/8",
    "--permit",
    "::1/128",
    "--permit",
    "fd00::/8",
    "--permit",
    "onion",
];

/// [`init_ca`] constrained to [`FEDERATION_PERMITS`].
pub fn constrained(dir: &Path) {
    init_ca(dir, FEDERATION_PERMITS);
}

/// Asserts a required external tool exists; tests fail (never skip) without it.
pub fn require(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{tool} is required by this test and is not installed: run scripts/test (it installs every test dependency)")
    })
}

/// Every file under `dir` with its bytes and mode, for before/after comparisons.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            if meta.is_dir() {
                out.insert(rel, (Vec::new(), meta.permissions().mode()));
                stack.push(p);
            } else {
                out.insert(rel, (std::fs::read(&p).unwrap(), meta.permissions().mode()));
            }
        }
    }
    out
}

/// A minimal nginx main configuration for the tests (`daemon off`, its pid and
/// temporary paths under `dir`, its logs under `logs`) whose `http` block holds `http`.
/// nginx started by root as here runs its workers as nobody.
pub fn nginx_conf(dir: &Path, logs: &Path, http: &str) -> String {
    let (d, l) = (s(dir), s(logs));
    format!(
        "daemon off;\npid {d}/nginx.pid;\nerror_log {l}/nginx-error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n    access_log {l}/nginx-access.log;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n{http}}}\n"
    )
}

/// A v3 onion address built from a real ed25519 key.
pub fn onion(seed: u8) -> String {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let kp = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
    let pk: [u8; 32] = kp.public_key().as_ref().try_into().unwrap();
    fedca::name::onion_address_from_pubkey(&pk)
}

/// Reads a file to a string.
pub fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
}

/// Asserts two snapshots are equal, naming only the paths that differ.
pub fn assert_unchanged(
    before: &BTreeMap<PathBuf, (Vec<u8>, u32)>,
    after: &BTreeMap<PathBuf, (Vec<u8>, u32)>,
    what: &str,
) {
    let keys: std::collections::BTreeSet<_> = before.keys().chain(after.keys()).collect();
    let changed: Vec<_> = keys
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "{what}: these paths changed: {changed:?}"
    );
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The broken-chain corpus directory.
pub fn corpus() -> PathBuf {
    repo().join("tests/data/broken")
}

/// The interop verifiers directory.
pub fn interop() -> PathBuf {
    repo().join("tests/interop")
}

/// The Python with pyOpenSSL and service_identity: FEDCA_TEST_PYTHON, else
/// <repo>/target/venv/bin/python. Fails the test when it is missing or lacks the modules.
pub fn python() -> PathBuf {
    let py = std::env::var_os("FEDCA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/venv/bin/python"));
    let out = Command::new(&py)
        .args(["-c", "import OpenSSL, service_identity"])
        .output();
    match out {
        Ok(o) if o.status.success() => py,
        Ok(o) => panic!(
            "{} lacks pyOpenSSL or service_identity ({}): run scripts/install-test-deps or set FEDCA_TEST_PYTHON",
            py.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!(
            "no Python at {} ({e}): run scripts/install-test-deps or set FEDCA_TEST_PYTHON",
            py.display()
        ),
    }
}

/// The Python with matrix-synapse: FEDCA_TEST_PYTHON, else <repo>/target/venv/bin/python.
/// Fails the test when it is missing or cannot import synapse.
pub fn synapse_python() -> PathBuf {
    let p = std::env::var_os("FEDCA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/venv/bin/python"));
    assert!(
        p.is_file(),
        "Synapse's Python ({}) is missing: run scripts/install-test-deps (or set FEDCA_TEST_PYTHON to a Python with matrix-synapse)",
        p.display()
    );
    let check = Command::new(&p)
        .args(["-c", "import synapse, yaml; print(synapse.__version__)"])
        .output()
        .expect("run the venv's Python");
    assert!(
        check.status.success(),
        "{} cannot import synapse: {}; run scripts/install-test-deps",
        p.display(),
        String::from_utf8_lossy(&check.stderr)
    );
    p
}

/// Builds tests/interop/goverify into the test's temporary target directory.
pub fn goverify() -> PathBuf {
    go_tool("goverify")
}

/// Builds the Go program tests/interop/NAME (standard library only, offline) into the
/// test's temporary target directory.
pub fn go_tool(name: &str) -> PathBuf {
    require("go");
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let bin = out_dir.join(name);
    let mut cmd = Command::new("go");
    cmd.args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(interop().join(name))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local");
    if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
        cmd.env("GOCACHE", out_dir.join("go-cache"));
    }
    let out = cmd.output().expect("run go build");
    assert!(
        out.status.success(),
        "building {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Parses stdout as JSON.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A CA with five servers: a DNS name (with an extra name), an IPv4 literal with a port,
/// an IPv6 literal, a v3 onion name and a delegated server.
pub struct Fixture {
    _tmp: tempfile::TempDir,
    pub ca: PathBuf,
    pub onion: String,
}

impl Fixture {
    pub fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca");
        let ca_s = ca.to_str().unwrap();
        ok(&[
            "init",
            "--ca-dir",
            ca_s,
            "--permit",
            "fed.test",
            "--permit",
            "10.0.0.0/8",
            "--permit",
            "fd00::/8",
            "--permit",
            "onion",
        ]);
        ok(&[
            "issue",
            "--ca-dir",
            ca_s,
            "hs1.fed.test",
            "--alt",
            "hs1-admin.fed.test",
        ]);
        let onion = onion(21);
        ok(&[
            "issue",
            "--ca-dir",
            ca_s,
            "10.0.0.7:8448",
            "[fd00::7]",
            &onion,
        ]);
        ok(&[
            "issue",
            "--ca-dir",
            ca_s,
            "hs2.fed.test",
            "--delegate",
            "matrix.hs2.fed.test:8448",
        ]);
        Fixture {
            _tmp: tmp,
            ca,
            onion,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.ca.join("root.pem")
    }

    pub fn chain(&self, server: &str) -> PathBuf {
        let dir = fedca::name::ServerName::parse(server).unwrap().dir_name();
        self.ca.join("servers").join(dir).join("fullchain.pem")
    }

    pub fn file(&self, server: &str, name: &str) -> PathBuf {
        self.chain(server).with_file_name(name)
    }

    /// `fedca verify --json` with the given arguments; returns (exit code, JSON).
    pub fn verify(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["verify", "--json"];
        all.extend_from_slice(args);
        let out = run(&all);
        (out.status.code().unwrap_or(-1), json(&out))
    }
}

/// A path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A CA in `ca` (permitting `fed.test`) with `hs2.fed.test` issued with every stored
/// setting: a delegate, an extra name, an Ed25519 key, 30 days, files under `out`.
pub fn init_with_hs2_of_every_setting(ca: &Path, out: &Path) {
    ok(&["init", "--ca-dir", s(ca), "--permit", "fed.test"]);
    ok(&[
        "issue",
        "hs2.fed.test",
        "--delegate",
        "matrix.hs2.fed.test:443",
        "--alt",
        "hs2-admin.fed.test",
        "--key",
        "ed25519",
        "--validity",
        "30d",
        "--out",
        s(out),
        "--ca-dir",
        s(ca),
    ]);
}
