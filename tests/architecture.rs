//! The library's module graph, read from the source: no import loops among the
//! library's modules, and the bottom-level modules import nothing above them.
//!
//! A module's dependencies are every `crate::NAME` path in its code (`use` lines and
//! paths written inline), outside comments and its `#[cfg(test)]` section; names the
//! crate root re-exports (`crate::Ca`) count as their module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The bottom of the crate: these import only one another.
const BOTTOM: &[&str] = &["error", "name", "punycode", "cidr", "validity", "x509"];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of a module: `src/NAME.rs` and everything under `src/NAME/`.
fn module_files(src: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = src.join(format!("{name}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let mut dirs = vec![src.join(name)];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.expect("reading src/").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The code of a file without comments and without its `#[cfg(test)]` section.
fn code_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with("#[cfg(test)]") {
            break;
        }
        if l.starts_with("//") {
            continue;
        }
        out.push(line.split(" //").next().unwrap_or(line));
    }
    out
}

/// The first path segments after every `crate::` in `code` (`crate::{a, b::c}` gives
/// `a` and `b`).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '$')) {
            continue; // `foo_crate::` or `$crate::`-like paths
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start => {
                        out.insert(ident_at(&group[j..]).to_string());
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident_at(rest).to_string());
        }
    }
    out
}

/// `mod NAME;` lines of lib.rs, and `pub use NAME::{...}` re-exports (item → module).
fn crate_root(src: &Path) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("reading src/lib.rs");
    let mut modules = BTreeSet::new();
    let mut reexports = BTreeMap::new();
    for line in code_lines(&lib) {
        let l = line.trim();
        if let Some(m) = l
            .strip_prefix("pub mod ")
            .or_else(|| l.strip_prefix("mod "))
            .and_then(|m| m.strip_suffix(';'))
        {
            modules.insert(m.to_string());
        } else if let Some(u) = l.strip_prefix("pub use ") {
            let module = ident_at(u).to_string();
            let items = u[module.len()..].trim_start_matches("::");
            let items = items.trim_end_matches(';');
            let items = items.trim_start_matches('{').trim_end_matches('}');
            for item in items.split(',') {
                let item = item.trim();
                if !item.is_empty() {
                    reexports.insert(item.to_string(), module.clone());
                }
            }
        }
    }
    (modules, reexports)
}

fn graph(src: &Path) -> Graph {
    let (modules, reexports) = crate_root(src);
    let mut g = Graph::new();
    for m in &modules {
        let mut deps = BTreeSet::new();
        for f in module_files(src, m) {
            let text = std::fs::read_to_string(&f).expect("reading a source file");
            for r in crate_refs(&code_lines(&text).join("\n")) {
                let target = if modules.contains(&r) {
                    r
                } else if let Some(m) = reexports.get(&r) {
                    m.clone()
                } else {
                    continue;
                };
                if &target != m {
                    deps.insert(target);
                }
            }
        }
        g.insert(m.clone(), deps);
    }
    g
}

/// One cycle of the graph, if it has any.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &Graph,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == d).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(d.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(d, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_parser_sees_inline_and_grouped_paths() {
    let refs = crate_refs(
        "use crate::{error::{Error, Result}, name};\nlet x = crate::lint::check(a, crate::Ca::x);\n$crate::no; my_crate::no;",
    );
    let want: BTreeSet<String> = ["error", "name", "lint", "Ca"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, want);
    let g: Graph = [("a", &["b"][..]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(
        find_cycle(&g).map(|c| c.join(" -> ")),
        Some("a -> b -> c -> a".to_string())
    );
}

#[test]
fn library_modules_have_no_import_loops() {
    let g = graph(&src());
    assert!(g.len() > 10, "too few modules found: {g:?}");
    assert!(
        g.get("issue").is_some_and(|d| d.contains("authority")),
        "the graph misses issue -> authority: {g:?}"
    );
    if let Some(cycle) = find_cycle(&g) {
        panic!("import loop among library modules: {}", cycle.join(" -> "));
    }
}

#[test]
fn bottom_modules_import_nothing_above_them() {
    let g = graph(&src());
    let mut bad = Vec::new();
    for m in BOTTOM {
        let deps = g
            .get(*m)
            .unwrap_or_else(|| panic!("no module {m} in src/lib.rs"));
        for d in deps {
            if !BOTTOM.contains(&d.as_str()) {
                bad.push(format!("{m} -> {d}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "bottom-level modules ({}) import higher modules: {}",
        BOTTOM.join(", "),
        bad.join(", ")
    );
}

// ---- Source scanning: code, string literals, comments -------------------------------

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("reading src/").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A file's text before its `#[cfg(test)]` section (unit tests may name anything).
fn before_tests(text: &str) -> &str {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("#[cfg(test)]") {
            return &text[..at];
        }
        at += line.len();
    }
    text
}

/// A file split by a small Rust lexer: its code (with comments and string literals
/// blanked out) and its string literals with their 1-based line numbers. Comments,
/// doc comments included, are dropped; raw strings, escapes, byte strings and char
/// literals are handled; lifetimes are code.
fn lex(text: &str) -> (String, Vec<(usize, String)>) {
    let c: Vec<char> = text.chars().collect();
    let mut code = String::new();
    let mut strings = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if c[i] == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                        code.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && at(i + 2) != '['))
            && !at(i.wrapping_sub(1)).is_ascii_alphanumeric()
            && (i == 0 || c[i - 1] != '_')
        {
            // raw string r"..." / r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                code.push(c[i]);
                i += 1;
                continue;
            }
            let start_line = line;
            let mut s = String::new();
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|h| at(j + 1 + h) == '#') {
                    j += 1 + hashes;
                    break;
                }
                if c[j] == '\n' {
                    line += 1;
                }
                s.push(c[j]);
                j += 1;
            }
            strings.push((start_line, s));
            code.push_str("\"\"");
            i = j;
        } else if c[i] == '"' {
            let start_line = line;
            let mut s = String::new();
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                if c[j] == '\\' {
                    s.push(c[j]);
                    j += 1;
                }
                if at(j) == '\n' {
                    line += 1;
                }
                s.push(at(j));
                j += 1;
            }
            strings.push((start_line, s));
            code.push_str("\"\"");
            i = j + 1;
        } else if c[i] == '\'' {
            // a char literal ('x', '\n', '\u{1}') or a lifetime ('a)
            if at(i + 1) == '\\' {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                code.push_str("' '");
                i = j + 1;
            } else if at(i + 2) == '\'' {
                code.push_str("' '");
                i += 3;
            } else {
                code.push('\'');
                i += 1;
            }
        } else {
            if c[i] == '\n' {
                line += 1;
            }
            code.push(c[i]);
            i += 1;
        }
    }
    (code, strings)
}

/// A source file relative to `src/`, its code and its string literals ([`lex`]).
type Lexed = (String, String, Vec<(usize, String)>);

/// Each library file (outside `#[cfg(test)]`) relative to `src/`, lexed.
fn library_sources() -> Vec<Lexed> {
    let src = src();
    rust_files(&src)
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("reading a source file");
            let (code, strings) = lex(before_tests(&text));
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            (rel, code, strings)
        })
        .collect()
}

#[test]
fn the_lexer_separates_code_strings_and_comments() {
    let (code, strings) = lex(
        "/// doc \"--no\"\nfn f<'a>(x: &'a str) { let c = '\"'; let d = '\\''; // \"--no\"\n let s = \"a \\\"q\\\" --yes\"; let r = r#\"raw \"--raw\"\"#; /* \"--no\" */ pem::x }",
    );
    let texts: Vec<&str> = strings.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(texts, vec!["a \\\"q\\\" --yes", "raw \"--raw\""]);
    assert_eq!(strings[0].0, 3);
    assert!(code.contains("pem::x") && code.contains("<'a>"), "{code}");
    assert!(!code.contains("--"), "{code}");
}

/// Where code names the `pem` crate (`pem::`, `::pem::`, `use pem`), not a module
/// called `pem` below another (`super::pem::`, `pki_types::pem::`).
fn names_pem_crate(code: &str) -> bool {
    let b = code.as_bytes();
    code.match_indices("pem::").any(|(i, _)| {
        let before = |k: usize| i.checked_sub(k).map(|j| b[j]);
        match before(1) {
            Some(c) if c.is_ascii_alphanumeric() || c == b'_' => false,
            Some(b':') => !before(3).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_'),
            _ => true,
        }
    }) || code.contains("use pem")
}

/// One PEM reader and writer: only `src/x509.rs` uses the `pem` crate.
#[test]
fn only_x509_uses_the_pem_crate() {
    assert!(names_pem_crate("let b = ::pem::parse(t);"));
    assert!(names_pem_crate("x(pem::parse(t))"));
    assert!(!names_pem_crate(
        "super::pem::emit(cx); rustls::pki_types::pem::PemObject"
    ));
    let users: Vec<String> = library_sources()
        .into_iter()
        .filter(|(rel, code, _)| rel != "x509.rs" && names_pem_crate(code))
        .map(|(rel, ..)| format!("src/{rel}"))
        .collect();
    assert!(
        users.is_empty(),
        "these files use the pem crate directly; read and write PEM through crate::x509: {users:?}"
    );
}

/// Option text (`--out`) in a string: `--` and a letter, not inside a word (`xn--`).
fn option_texts(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    for (i, _) in s.match_indices("--") {
        let starts_word = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-');
        if starts_word && b.get(i + 2).is_some_and(|c| c.is_ascii_lowercase()) {
            let end = s[i + 2..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(s.len(), |e| i + 2 + e);
            out.push(s[i..end].to_string());
        }
    }
    out
}

/// Option text the library may write, each with why: other programs' options, which
/// no fedca field sets.
const FOREIGN_OPTIONS: &[(&str, &str, &str)] = &[
    (
        "trust/dendrite.rs",
        "--https-bind-address",
        "Dendrite's own option, which its run script passes",
    ),
    (
        "trust/dendrite.rs",
        "--tls-cert",
        "Dendrite's own option, which its run script passes",
    ),
    (
        "trust/dendrite.rs",
        "--tls-key",
        "Dendrite's own option, which its run script passes",
    ),
];

/// The library speaks its domain: outside `src/cli`, no string names a command-line
/// option. A library text names a field with `Field::X.mention()`, which the command
/// line renders as the option (`Error::cli_message`, `error::cli_text`) from the one
/// table in src/error.rs (`Field::FLAGS`), whose bare option names are the only ones
/// allowed there. Comments and doc comments may name options.
#[test]
fn library_strings_name_no_command_line_options() {
    assert_eq!(
        option_texts("give --validity 398d; xn--bcher; ---"),
        vec!["--validity"]
    );
    let mut bad = Vec::new();
    for (rel, _, strings) in library_sources() {
        if rel.starts_with("cli/") || rel == "main.rs" {
            continue;
        }
        for (line, s) in strings {
            let table_entry = rel == "error.rs"
                && (s.starts_with("--") && !s.contains(' ') || s == "rotate-root --finish");
            if table_entry {
                continue;
            }
            for opt in option_texts(&s) {
                let foreign = FOREIGN_OPTIONS
                    .iter()
                    .any(|(file, o, _)| *file == rel && *o == opt);
                if !foreign {
                    bad.push(format!("src/{rel}:{line}: {opt} in {s:?}"));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "library strings name command-line options; name the field (Field::X.mention(), or Field::X as an error's field) and let the command line map it:\n{}",
        bad.join("\n")
    );
}

/// The integration tests share one fixture module, tests/common: no test file defines
/// a function of the same name as one of its helpers (a second `fedca`, `ok`, `read`,
/// `onion`, `s` …), and no other shared module exists beside it.
#[test]
fn test_helpers_live_in_tests_common() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let common = std::fs::read_to_string(tests.join("common/mod.rs")).expect("tests/common/mod.rs");
    let shared: BTreeSet<String> = common
        .lines()
        .filter_map(|l| l.strip_prefix("pub fn "))
        .map(|rest| ident_at(rest).to_string())
        .collect();
    for helper in [
        "fedca", "ok", "run", "read", "onion", "s", "require", "init_ca",
    ] {
        assert!(
            shared.contains(helper),
            "tests/common lost {helper}: {shared:?}"
        );
    }
    let mut bad = Vec::new();
    for entry in std::fs::read_dir(&tests).expect("reading tests/") {
        let p = entry.expect("reading tests/").path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            let has_rust = rust_files(&p).iter().any(|f| f.ends_with("mod.rs"));
            if has_rust && name != "common" {
                bad.push(format!("tests/{name}/mod.rs: a second shared module"));
            }
            continue;
        }
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("reading a test file");
        for line in text.lines() {
            if let Some(rest) = line
                .strip_prefix("fn ")
                .or_else(|| line.strip_prefix("pub fn "))
            {
                let f = ident_at(rest);
                if shared.contains(f) {
                    bad.push(format!("tests/{name}: fn {f} (tests/common has it)"));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "test helpers defined outside tests/common:\n{}",
        bad.join("\n")
    );
}
