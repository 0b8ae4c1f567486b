//! Helpers shared by the verify, inspect and interop tests: the shared helpers of
//! `tests/common` (run the real fedca binary, require a tool, read a file, make an onion
//! name), plus the corpus, the interop verifiers and JSON output (a missing verifier
//! fails the test, never skips it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)] // each test file uses some of them
pub use common::{assert_unchanged, fedca, ok, onion, read, require, run, snapshot};

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
    p.to_str().unwrap()
}
