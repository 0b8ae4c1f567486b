//! The templates every emitted file is rendered from.
//!
//! Each emitted file has one template in `templates/`, embedded in the binary. A
//! directory given with `--templates DIR` overrides them by file name: a file
//! `DIR/synapse-homeserver.yaml.j2` replaces the embedded template of that name.
//! Templates are minijinja (Jinja2 syntax) with strict undefined variables, no
//! automatic escaping, and these filters for the formats fedca writes:
//!
//! * `q` — a double-quoted string, valid in YAML, TOML and JSON;
//! * `sh` — a single-quoted POSIX shell word;
//! * `b64` — standard base64 (Kubernetes `data` values).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::error::{Error, Field, Result};

/// Every template fedca ships: (file name, source).
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "synapse-homeserver.yaml.j2",
        include_str!("../../templates/synapse-homeserver.yaml.j2"),
    ),
    (
        "well-known-matrix-server.json.j2",
        include_str!("../../templates/well-known-matrix-server.json.j2"),
    ),
    ("root.pem.j2", include_str!("../../templates/root.pem.j2")),
    (
        "roots-bundle.pem.j2",
        include_str!("../../templates/roots-bundle.pem.j2"),
    ),
    (
        "dendrite.yaml.j2",
        include_str!("../../templates/dendrite.yaml.j2"),
    ),
    (
        "dendrite-run.sh.j2",
        include_str!("../../templates/dendrite-run.sh.j2"),
    ),
    (
        "conduit-family.toml.j2",
        include_str!("../../templates/conduit-family.toml.j2"),
    ),
    ("trust.env.j2", include_str!("../../templates/trust.env.j2")),
    (
        "install.sh.j2",
        include_str!("../../templates/install.sh.j2"),
    ),
    (
        "nginx-fedca.conf.j2",
        include_str!("../../templates/nginx-fedca.conf.j2"),
    ),
    (
        "Caddyfile-fedca.j2",
        include_str!("../../templates/Caddyfile-fedca.j2"),
    ),
    (
        "haproxy-fedca.cfg.j2",
        include_str!("../../templates/haproxy-fedca.cfg.j2"),
    ),
    (
        "install-trust.sh.j2",
        include_str!("../../templates/install-trust.sh.j2"),
    ),
    (
        "kubernetes-tls-secret.yaml.j2",
        include_str!("../../templates/kubernetes-tls-secret.yaml.j2"),
    ),
    (
        "kubernetes-ca-configmap.yaml.j2",
        include_str!("../../templates/kubernetes-ca-configmap.yaml.j2"),
    ),
];

/// The template set in use: the embedded templates, some replaced from a directory.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    overrides: BTreeMap<&'static str, (String, String)>,
    /// Where each override's bytes came from: its path as given, the file it resolves
    /// to, and the (device, inode) of the file that was read.
    sources: Vec<(PathBuf, PathBuf, (u64, u64))>,
    /// Every template compiled once, on first use (a run of `apply` renders thousands).
    compiled: std::sync::OnceLock<Compiled>,
}

/// The template set compiled: the environment, and the syntax error of each template
/// that did not compile (reported when that template is rendered, as before).
#[derive(Debug, Clone)]
struct Compiled {
    env: Environment<'static>,
    broken: BTreeMap<&'static str, String>,
}

impl Templates {
    /// The embedded templates only.
    pub fn embedded() -> Templates {
        Templates::default()
    }

    /// The embedded templates, with every `*.j2` file of `dir` replacing the embedded
    /// template of the same name. A `*.j2` file that matches no template is refused
    /// (a misspelt override would otherwise be silently ignored), as is a directory
    /// that does not exist.
    pub fn with_overrides(dir: &Path) -> Result<Templates> {
        let shown = dir.display().to_string();
        if !dir.is_dir() {
            return Err(Error::invalid(
                crate::error::Field::Templates,
                shown,
                "is not a directory of template files",
            ));
        }
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut overrides = BTreeMap::new();
        let mut sources = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".j2") {
                continue;
            }
            let Some(&(known, _)) = EMBEDDED.iter().find(|(n, _)| *n == name) else {
                return Err(Error::invalid(
                    crate::error::Field::Templates,
                    entry.path().display().to_string(),
                    format!(
                        "matches no fedca template; the names are: {}",
                        EMBEDDED
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let path = entry.path();
            // The identity of the file actually read (not of a path that could be
            // swapped between a check and the read), for `refuse_ca_files`.
            let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
            let resolved = std::fs::canonicalize(&path).map_err(|e| Error::io(&path, e))?;
            let mut source = String::new();
            std::io::Read::read_to_string(&mut file, &mut source)
                .map_err(|e| Error::io(&path, e))?;
            sources.push((path.clone(), resolved, (meta.dev(), meta.ino())));
            overrides.insert(known, (path.display().to_string(), source));
        }
        Ok(Templates {
            overrides,
            sources,
            compiled: Default::default(),
        })
    }

    /// Refuses an override that is, through a symbolic link or as a hard link (same
    /// device and inode), any file of the CA directory `ca_root`: a template linked to
    /// `root-key.pem` would render the CA's private key. Checked before rendering.
    pub fn refuse_ca_files(&self, ca_root: &Path) -> Result<()> {
        if self.sources.is_empty() {
            return Ok(());
        }
        let root = std::fs::canonicalize(ca_root).map_err(|e| Error::io(ca_root, e))?;
        let mut ca_files = BTreeMap::new();
        collect_files(&root, &mut ca_files)?;
        for (path, resolved, id) in &self.sources {
            let hit = if resolved.starts_with(&root) {
                Some(resolved.clone())
            } else {
                ca_files.get(id).cloned()
            };
            if let Some(ca_file) = hit {
                return Err(Error::invalid(
                    crate::error::Field::Templates,
                    path.display().to_string(),
                    format!(
                        "is {} (a link into the CA directory); a template must be a file of its own, never a CA file such as a private key",
                        ca_file.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The names of the templates replaced from the override directory.
    pub fn overridden(&self) -> impl Iterator<Item = &str> {
        self.overrides.keys().copied()
    }

    /// Renders template `name` with `context`. Syntax errors and undefined variables
    /// are bad input (exit 2) naming the template file.
    pub fn render(&self, name: &str, context: &Value) -> Result<String> {
        let overridden = self.overrides.contains_key(name);
        let origin = match self.overrides.get(name) {
            Some((path, _)) => path.clone(),
            None if EMBEDDED.iter().any(|(n, _)| *n == name) => {
                format!("embedded template {name}")
            }
            None => return Err(Error::Internal(format!("no embedded template {name}"))),
        };
        // A template from --templates is the user's input; name the option.
        let option = if overridden {
            Field::Templates
        } else {
            Field::Template
        };
        let bad = |e: String| Error::invalid(option.clone(), origin.clone(), e);
        let compiled = self.compiled.get_or_init(|| self.compile());
        if let Some(e) = compiled.broken.get(name) {
            return Err(bad(e.clone()));
        }
        let template = compiled
            .env
            .get_template(name)
            .map_err(|e| bad(format!("{e:#}")))?;
        template.render(context).map_err(|e| bad(format!("{e:#}")))
    }

    /// Every template (each override in place of its embedded one) compiled into one
    /// environment; a template that does not compile is left out, with its error.
    fn compile(&self) -> Compiled {
        let mut env = environment();
        let mut broken = BTreeMap::new();
        for (name, embedded) in EMBEDDED {
            let added = match self.overrides.get(name) {
                Some((_, source)) => env.add_template_owned(*name, source.clone()),
                None => env.add_template(name, embedded),
            };
            if let Err(e) = added {
                broken.insert(*name, format!("{e:#}"));
            }
        }
        Compiled { env, broken }
    }
}

/// Every file below `dir` (not following symbolic links), by (device, inode).
fn collect_files(dir: &Path, found: &mut BTreeMap<(u64, u64), PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            collect_files(&path, found)?;
        } else {
            found.insert((meta.dev(), meta.ino()), path);
        }
    }
    Ok(())
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env.add_filter("q", quote);
    env.add_filter("sh", shell_word);
    env.add_filter("b64", base64);
    env
}

/// A double-quoted string that YAML, TOML and JSON all read back as `s`.
pub fn quote(s: &str) -> String {
    // JSON string syntax is a subset of YAML's and TOML's double-quoted strings for
    // everything serde_json emits (\" \\ \n \r \t \b \f and \u with four hex digits).
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.escape_default()))
}

/// A single-quoted POSIX shell word.
pub fn shell_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn base64(s: &str) -> String {
    data_encoding::BASE64.encode(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_template_compiles() {
        let env = environment();
        for (name, source) in EMBEDDED {
            env.template_from_named_str(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn filters() {
        assert_eq!(quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(base64("hi"), "aGk=");
    }

    #[test]
    fn unknown_override_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("synapse.yaml.j2"), "x").unwrap();
        let e = Templates::with_overrides(d.path()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("synapse-homeserver.yaml.j2"), "{e}");
    }

    #[test]
    fn override_replaces_and_errors_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("root.pem.j2"), "{{ nope }}").unwrap();
        std::fs::write(d.path().join("README"), "not a template").unwrap();
        let t = Templates::with_overrides(d.path()).unwrap();
        assert_eq!(t.overridden().collect::<Vec<_>>(), ["root.pem.j2"]);
        let e = t.render("root.pem.j2", &Value::from(())).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("root.pem.j2"), "{e}");
    }
}
