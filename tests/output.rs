//! Standard output is buffered (issue 11: `status` at 50,000 records made one `write`
//! call per line), written out completely on every exit path, and a reader that
//! closes the pipe early is not an error.

mod common;

use common::{fedca, ok, require};
use std::io::Read;
use std::process::Stdio;

/// A CA with `n` servers, issued in one call.
fn ca_with(n: usize) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca").display().to_string();
    ok(&["init", "--ca-dir", &ca, "--permit", "fed.test"]);
    let names: Vec<String> = (0..n).map(|i| format!("hs{i}.fed.test")).collect();
    let mut args = vec!["issue".to_string()];
    args.extend(names);
    args.extend(["--ca-dir".into(), ca.clone()]);
    ok(&args);
    (tmp, ca)
}

/// The `write` calls to file descriptor 1 that `fedca ARGS` makes, and its stdout.
fn writes_to_stdout(args: &[&str]) -> (usize, String) {
    let (trace, stdout) = strace("trace=write,writev", args);
    let writes = trace
        .lines()
        .filter(|l| {
            let call = l.split_once(' ').map_or(*l, |(_, rest)| rest.trim_start());
            call.starts_with("write(1,") || call.starts_with("writev(1,")
        })
        .count();
    (writes, stdout)
}

/// `fedca ARGS` under `strace -e FILTER`: the trace and stdout.
fn strace(filter: &str, args: &[&str]) -> (String, String) {
    require("strace");
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace");
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", filter, "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_fedca"))
        .args(args)
        .env_remove("FEDCA_CA_DIR")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .output()
        .expect("run strace");
    assert!(
        out.status.success(),
        "fedca {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(&trace).unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn status_reads_the_index_once() {
    // It read it three times (the servers, the revoked ones, who may federate): 0.65 s
    // at 50,000 records.
    let (_tmp, ca) = ca_with(3);
    let (trace, stdout) = strace("trace=open,openat", &["status", "--ca-dir", &ca]);
    assert!(stdout.contains("hs2.fed.test"), "{stdout}");
    let opens = trace
        .lines()
        .filter(|l| l.contains("index.jsonl\""))
        .count();
    assert_eq!(opens, 1, "index.jsonl opened {opens} times:\n{trace}");
}

#[test]
fn list_and_status_write_stdout_in_a_few_calls_not_one_per_line() {
    let (_tmp, ca) = ca_with(60);
    for cmd in ["list", "status"] {
        let (writes, stdout) = writes_to_stdout(&[cmd, "--ca-dir", &ca]);
        let lines = stdout.lines().count();
        assert!(lines >= 60, "{cmd} printed {lines} lines:\n{stdout}");
        for i in 0..60 {
            assert!(
                stdout.contains(&format!("hs{i}.fed.test")),
                "{cmd} is missing hs{i}.fed.test (the buffer not flushed?):\n{stdout}"
            );
        }
        assert!(
            writes <= 2,
            "{cmd}: {writes} write calls for {lines} lines of output"
        );
    }
    // JSON too, through the same buffer.
    let (writes, stdout) = writes_to_stdout(&["list", "--json", "--ca-dir", &ca]);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(v.to_string().contains("hs59.fed.test"));
    assert!(writes <= 2, "list --json: {writes} write calls");
}

#[test]
fn a_reader_closing_the_pipe_early_is_not_an_error() {
    // `status --json` of 400 records is about 160 KB: more than the pipe (64 KiB) and
    // the buffer (64 KiB) hold, so the closed pipe is seen while writing.
    let (_tmp, ca) = ca_with(400);
    let mut child = fedca()
        .args(["status", "--json", "--ca-dir", &ca])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe (as `fedca status --json | head -c1` does).
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    stdout.read_exact(&mut one).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
