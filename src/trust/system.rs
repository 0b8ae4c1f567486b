//! `system`: the operating system's trust store.
//!
//! * Debian, Ubuntu: anchors are `*.crt` files (one certificate each) in
//!   `/usr/local/share/ca-certificates/`; `update-ca-certificates` adds them to
//!   `/etc/ssl/certs/ca-certificates.crt` and the hashed links in `/etc/ssl/certs/`.
//! * Fedora, RHEL, CentOS: anchors in `/etc/pki/ca-trust/source/anchors/`;
//!   `update-ca-trust extract` regenerates the consolidated bundles.
//!
//! [`emit`] writes the anchors and an `install-trust.sh` that does either; [`install`]
//! (`--install`) does it directly and refuses, before reading anything, when not root.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::templates::Templates;
use super::{Emission, EmitContext, EmittedFile, Target, TrustBundle};
use crate::error::{Error, Result};
use crate::store;

/// The install script's file name.
pub const SCRIPT: &str = "install-trust.sh";

/// The anchor file name of a root (`.crt`, as update-ca-certificates requires).
pub fn anchor_file(id: &str) -> String {
    format!("fedca-root-{id}.crt")
}

/// A system trust store fedca knows how to install into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    /// Debian, Ubuntu and derivatives (ca-certificates).
    Debian,
    /// Fedora, RHEL, CentOS and derivatives (ca-certificates + p11-kit).
    Rhel,
}

impl Store {
    /// The name `--json` prints (`debian`, `rhel`).
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Debian => "debian",
            Store::Rhel => "rhel",
        }
    }

    /// The directory local anchors go into.
    pub fn anchors_dir(self) -> &'static Path {
        match self {
            Store::Debian => Path::new("/usr/local/share/ca-certificates"),
            Store::Rhel => Path::new("/etc/pki/ca-trust/source/anchors"),
        }
    }

    /// The command that rebuilds the store, with its arguments.
    pub fn command(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Store::Debian => ("update-ca-certificates", &[]),
            Store::Rhel => ("update-ca-trust", &["extract"]),
        }
    }

    /// The store of this machine: the first whose update command is installed.
    pub fn detect() -> Option<Store> {
        [Store::Debian, Store::Rhel]
            .into_iter()
            .find(|s| find_program(s.command().0).is_some())
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Renders the anchors and the install script.
pub fn emit(cx: &EmitContext<'_>) -> Result<Emission> {
    let mut context = cx.base(Target::System, Some(&|r| anchor_file(&r.id)));
    context["anchors"] = anchors_json(cx.bundle);
    context["debian_dir"] = Store::Debian.anchors_dir().display().to_string().into();
    context["rhel_dir"] = Store::Rhel.anchors_dir().display().to_string().into();
    let mut emission = Emission::default();
    for (root, file) in render_anchors(cx.bundle, cx.templates)? {
        emission.files.push(EmittedFile::new(
            file,
            root.1,
            store::PUBLIC_MODE,
            format!("trust anchor: {}", root.0),
        ));
    }
    emission.files.push(EmittedFile::new(
        SCRIPT,
        cx.render("install-trust.sh.j2", &context)?,
        0o755,
        "installs the anchors on Debian/Ubuntu or Fedora/RHEL (run as root)",
    ));
    emission.notes.push(format!(
        "install with `sudo sh {}` or `sudo fedca trust {} system {}`",
        cx.out.join(SCRIPT).display(),
        crate::error::Field::Target.mention(),
        crate::error::Field::Install.mention()
    ));
    Ok(emission)
}

fn anchors_json(bundle: &TrustBundle) -> serde_json::Value {
    bundle
        .trusted()
        .iter()
        .map(|r| serde_json::json!({"name": anchor_file(&r.id), "subject": r.subject, "sha256": r.sha256}))
        .collect::<Vec<_>>()
        .into()
}

/// ((subject, contents), file name) of every anchor.
fn render_anchors(
    bundle: &TrustBundle,
    templates: &Templates,
) -> Result<Vec<((String, String), String)>> {
    bundle
        .trusted()
        .iter()
        .map(|r| {
            let ctx = minijinja::Value::from_serialize(serde_json::json!({ "root": r }));
            Ok((
                (r.subject.clone(), templates.render("root.pem.j2", &ctx)?),
                anchor_file(&r.id),
            ))
        })
        .collect()
}

/// The effective user id of this process, from `/proc/self/status` (or `id -u`).
pub fn effective_uid() -> Option<u32> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            // Uid: real effective saved filesystem
            if let Some(e) = line.split_whitespace().nth(2) {
                return e.parse().ok();
            }
        }
    }
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// Refuses (bad input, exit 2) unless running as root.
pub fn check_root() -> Result<()> {
    match effective_uid() {
        Some(0) => Ok(()),
        Some(uid) => Err(Error::invalid(
            crate::error::Field::Install,
            format!("uid {uid}"),
            format!(
                "installing into the system trust store needs root; run `sudo fedca trust {} system {}`, or write the files with {} and run install-trust.sh as root",
                crate::error::Field::Target.mention(),
                crate::error::Field::Install.mention(),
                crate::error::Field::OutputDir.mention()
            ),
        )),
        None => Err(Error::invalid(
            crate::error::Field::Install,
            "unknown uid",
            format!(
                "cannot tell whether this process runs as root; run install-trust.sh (from {}) as root instead",
                crate::error::Field::OutputDir.mention()
            ),
        )),
    }
}

/// What [`install`] did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    /// The store installed into.
    pub store: Store,
    /// The anchor files written.
    pub anchors: Vec<PathBuf>,
    /// The command run.
    pub command: String,
    /// Its output (stdout and stderr).
    pub output: String,
    /// Other fedca anchors in the directory that are not in this bundle (a retired
    /// root, or another federation's): left alone, reported.
    pub other_fedca_anchors: Vec<PathBuf>,
}

/// Installs the bundle into this machine's trust store: writes one anchor per root
/// and runs the store's update command. Must run as root ([`check_root`]).
pub fn install(bundle: &TrustBundle, templates: &Templates) -> Result<InstallReport> {
    check_root()?;
    let store = Store::detect().ok_or_else(|| Error::Io {
        path: PathBuf::from("update-ca-certificates"),
        source: std::io::Error::other(format!(
            "no supported trust store: neither update-ca-certificates (Debian/Ubuntu) nor update-ca-trust (Fedora/RHEL) is installed; use {} pem and your platform's own tool",
            crate::error::Field::Target.mention()
        )),
    })?;
    let anchors = render_anchors(bundle, templates)?;
    for ((_, contents), name) in &anchors {
        // The same rule as every file under --out: no private key, in any encoding.
        EmittedFile::new(name.clone(), contents.clone(), store::PUBLIC_MODE, "anchor")
            .refuse_private_keys()?;
    }
    let dir = store.anchors_dir();
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .recursive(true)
            .create(dir)
            .map_err(|e| Error::io(dir, e))?;
    }
    let mut written = Vec::new();
    for ((_, contents), name) in &anchors {
        let path = dir.join(name);
        store::write_atomic(&path, contents.as_bytes(), store::PUBLIC_MODE)?;
        written.push(path);
    }
    let (program, args) = store.command();
    let exe = find_program(program).unwrap_or_else(|| PathBuf::from(program));
    let out = Command::new(&exe)
        .args(args)
        .output()
        .map_err(|e| Error::io(&exe, e))?;
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    if !out.status.success() {
        return Err(Error::Io {
            path: exe,
            source: std::io::Error::other(format!(
                "`{command}` failed ({}): {}",
                out.status,
                output.trim()
            )),
        });
    }
    let mut others = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("fedca-root-") && !anchors.iter().any(|(_, n)| *n == name) {
                others.push(e.path());
            }
        }
    }
    others.sort();
    Ok(InstallReport {
        store,
        anchors: written,
        command,
        output,
        other_fedca_anchors: others,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_known() {
        assert!(effective_uid().is_some());
    }
}
