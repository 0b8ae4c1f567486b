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
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::error::{Error, Result};

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
                "--templates",
                shown,
                "is not a directory of template files",
            ));
        }
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut overrides = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".j2") {
                continue;
            }
            let Some(&(known, _)) = EMBEDDED.iter().find(|(n, _)| *n == name) else {
                return Err(Error::invalid(
                    "--templates",
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
            let source = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            overrides.insert(known, (path.display().to_string(), source));
        }
        Ok(Templates { overrides })
    }

    /// The names of the templates replaced from the override directory.
    pub fn overridden(&self) -> impl Iterator<Item = &str> {
        self.overrides.keys().copied()
    }

    /// Renders template `name` with `context`. Syntax errors and undefined variables
    /// are bad input (exit 2) naming the template file.
    pub fn render(&self, name: &str, context: &Value) -> Result<String> {
        let (origin, source) = match self.overrides.get(name) {
            Some((path, source)) => (path.clone(), source.as_str()),
            None => {
                let source = EMBEDDED
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| Error::Internal(format!("no embedded template {name}")))?;
                (format!("embedded template {name}"), source)
            }
        };
        let env = environment();
        let bad =
            |e: minijinja::Error| Error::invalid("template", origin.clone(), format!("{e:#}"));
        let template = env.template_from_named_str(name, source).map_err(bad)?;
        template.render(context).map_err(bad)
    }
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
