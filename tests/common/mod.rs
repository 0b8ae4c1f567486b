//! Shared helpers for the integration tests: run the real binary, snapshot a directory.
//! `tests/verify_support` re-exports these for the verify, inspect and interop tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fedca binary cargo built for this test run, without FEDCA_CA_DIR from the
/// environment, and without colour.
pub fn fedca() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fedca"));
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
