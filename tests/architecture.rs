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
