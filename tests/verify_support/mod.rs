//! Helpers shared by the verify, inspect and interop tests: run the real fedca binary,
//! find the external verifiers (a missing one fails the test, never skips it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fedca binary cargo built for this test run, without FEDCA_CA_DIR from the
/// environment.
pub fn fedca() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fedca"));
    c.env_remove("FEDCA_CA_DIR").env("NO_COLOR", "1");
    c
}

/// Runs fedca with `args`.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    fedca().args(args).output().expect("run fedca")
}

/// Runs fedca, asserts success, returns stdout.
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

/// Asserts a tool is on PATH; the test fails (never skips) without it.
pub fn require(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{tool} is required by this test and is not installed: run scripts/install-test-deps"
        )
    })
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

/// Reads a file to a string.
pub fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
}

/// A v3 onion address built from a real ed25519 key.
pub fn onion(seed: u8) -> String {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let kp = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("ed25519 seed");
    let pk: [u8; 32] = kp.public_key().as_ref().try_into().expect("32 bytes");
    fedca::name::onion_address_from_pubkey(&pk)
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
