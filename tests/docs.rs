//! The documentation's commands run as written.
//!
//! A shell block in README.md or docs/ preceded by the line `<!-- runnable -->` is run,
//! command by command, in order, in one fresh directory per file (so a file's blocks
//! build on each other, as a reader following it would), with the freshly built
//! `fedca` first on `PATH`. Every command must exit 0 unless its line announces
//! otherwise with a trailing comment `# exit N` (the text says what fails and why).
//! Continuation lines (ending in `\`) are joined; blank and comment lines are skipped.
//!
//! A shell block that runs `fedca` and is not runnable must say why, with
//! `<!-- not runnable: REASON -->` on the line before it (e.g. it needs root and changes
//! the machine): no fedca example is left unchecked by accident.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fedca");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// One command of a runnable block.
#[derive(Debug)]
struct Cmd {
    line: usize,
    text: String,
    exit: i32,
}

/// A shell block: its first line number, whether it is runnable, its commands, and
/// whether it is marked either way.
struct Block {
    line: usize,
    runnable: bool,
    marked: bool,
    body: Vec<(usize, String)>,
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        if l == "```sh" || l == "```bash" || l == "```console" {
            let prev = lines[..i]
                .iter()
                .rev()
                .find(|p| !p.trim().is_empty())
                .map(|p| p.trim())
                .unwrap_or("");
            let runnable = prev == "<!-- runnable -->";
            let marked = runnable || prev.starts_with("<!-- not runnable:");
            let start = i + 1;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && lines[i].trim() != "```" {
                body.push((i + 1, lines[i].to_string()));
                i += 1;
            }
            out.push(Block {
                line: start,
                runnable,
                marked,
                body,
            });
        }
        i += 1;
    }
    out
}

/// The commands of a block: continuation lines joined, comments and blanks skipped,
/// `# exit N` read from a command's end.
fn commands(body: &[(usize, String)]) -> Vec<Cmd> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (n, raw) in body {
        let line = raw.trim_end();
        let (start, mut text) = match cur.take() {
            Some((s, t)) => (s, t + "\n" + line),
            None => {
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                (*n, line.to_string())
            }
        };
        if line.ends_with('\\') {
            cur = Some((start, text));
            continue;
        }
        let mut exit = 0;
        if let Some(pos) = text.rfind("# exit ") {
            let code = text[pos + 7..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap_or("");
            exit = code
                .parse()
                .unwrap_or_else(|_| panic!("line {start}: bad `# exit N` annotation"));
            text.truncate(pos);
        }
        out.push(Cmd {
            line: start,
            text,
            exit,
        });
    }
    assert!(cur.is_none(), "a block ends in a continuation line");
    out
}

fn run_doc(doc: &str) -> usize {
    let path = Path::new(REPO).join(doc);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path_var = std::env::join_paths(std::iter::once(PathBuf::from(bin_dir)).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut ran = 0;
    for b in blocks(&text) {
        let runs_fedca = b
            .body
            .iter()
            .any(|(_, l)| l.split_whitespace().any(|w| w == "fedca"));
        assert!(
            b.marked || !runs_fedca,
            "{doc}:{}: a shell block that runs fedca must be marked `<!-- runnable -->` or `<!-- not runnable: REASON -->`",
            b.line
        );
        if !b.runnable {
            continue;
        }
        for c in commands(&b.body) {
            let out = Command::new("sh")
                .arg("-c")
                .arg(&c.text)
                .current_dir(tmp.path())
                .env("PATH", &path_var)
                .env_remove("FEDCA_CA_DIR")
                .output()
                .unwrap();
            let code = out.status.code().unwrap_or(-1);
            assert_eq!(
                code,
                c.exit,
                "{doc}:{}: `{}` exited {code}, the text announces {}\nstdout:\n{}\nstderr:\n{}",
                c.line,
                c.text.trim(),
                c.exit,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    println!("{doc}: {ran} command(s) ran as documented");
    ran
}

#[test]
fn readme_commands_run_as_written() {
    let ran = run_doc("README.md");
    assert!(ran >= 25, "only {ran} README commands ran");
}

#[test]
fn homeserver_guides_commands_run_as_written() {
    for (doc, min) in [
        ("docs/homeservers/synapse.md", 8),
        ("docs/homeservers/dendrite.md", 3),
        ("docs/homeservers/conduit-family.md", 3),
        ("docs/homeservers/pem-system-kubernetes.md", 5),
    ] {
        let ran = run_doc(doc);
        assert!(ran >= min, "{doc}: only {ran} commands ran");
    }
}

/// Every Markdown file of README.md and docs/: its fedca blocks are marked either way.
#[test]
fn every_fedca_block_in_the_docs_is_marked() {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut docs = vec![Path::new(REPO).join("README.md")];
    walk(&Path::new(REPO).join("docs"), &mut docs);
    let mut unmarked = Vec::new();
    for d in &docs {
        let text = fs::read_to_string(d).unwrap();
        for b in blocks(&text) {
            let runs_fedca = b
                .body
                .iter()
                .any(|(_, l)| l.split_whitespace().any(|w| w == "fedca"));
            if runs_fedca && !b.marked {
                unmarked.push(format!("{}:{}", d.display(), b.line));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "shell blocks running fedca without `<!-- runnable -->` or `<!-- not runnable: REASON -->`:\n{}",
        unmarked.join("\n")
    );
}

#[test]
fn parser_reads_markers_continuations_and_announced_exits() {
    let text = "<!-- runnable -->\n```sh\n# comment\nfedca a \\\n  --b # exit 2\n\nfedca c\n```\n\n```sh\nls\n```\n";
    let bs = blocks(text);
    assert_eq!(bs.len(), 2);
    assert!(bs[0].runnable && !bs[1].runnable && !bs[1].marked);
    let cs = commands(&bs[0].body);
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0].exit, 2);
    assert_eq!(cs[0].line, 4);
    assert_eq!(cs[0].text.trim(), "fedca a \\\n  --b");
    assert_eq!(cs[1].exit, 0);
}
