//! `fedca trust`: the trust configuration of one homeserver or platform.

use super::outln;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::Cli;
use crate::cidr::IpNet;
use crate::error::{Error, Result};
use crate::name::ServerName;
use crate::store::CaDir;
use crate::trust::templates::Templates;
use crate::trust::{
    self, system, Emission, EmitContext, Federation, ServerInfo, Target, TrustBundle,
};

const EXAMPLES: &str = "\
Examples:
  fedca trust --for synapse --server hs1.fed.test --ca-dir ./ca --out ./hs1-conf
  fedca trust --for synapse --server 127.0.0.1:8448 --out ./hs1-conf
  fedca trust --for synapse --server hs1.fed.test --federation-addr 10.0.0.7 \\
      --federation-addr 10.0.0.8 --out ./hs1-conf   # DNS names on private addresses
  fedca trust --for dendrite --server hs2.fed.test --out ./hs2-conf
  fedca trust --for conduwuit --server hs3.fed.test --bind 10.0.0.9 --out ./hs3-conf
  fedca trust --for pem --out ./bundle
  sudo fedca trust --for system --install
  fedca trust --for kubernetes --server hs1.fed.test --out ./k8s
  fedca trust --for synapse --server hs1.fed.test --templates ./my-templates --out ./conf

Targets: synapse, dendrite, conduit, conduwuit, continuwuity, tuwunel (a homeserver's
config and certificate paths; --server required), pem (the trusted roots), system (the
OS trust store: anchors and install-trust.sh; --install installs them, as root),
kubernetes (a kubernetes.io/tls Secret and a CA ConfigMap; --server required).

Everything is checked and rendered before anything is written: an unknown target or
server, an unusable --out (or a symbolic link below it), a template linked to a file of
the CA directory, or output that would hold a private key (other than the server's own
key in the 0600 Kubernetes Secret), exits 2 and writes nothing. Paths inside the emitted
configuration are absolute. The CA's private key is never read.";

/// Write the configuration that makes a homeserver trust this federation.
///
/// Renders, from templates (embedded; --templates overrides them by file name), the
/// settings a homeserver or platform needs: the certificate and key it serves, the
/// roots it trusts for outbound federation, and — when the federation is on private or
/// loopback addresses — the least change to its IP blocklist that lets it connect.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// What to configure: synapse, dendrite, conduit, conduwuit, continuwuity, tuwunel,
    /// pem, system or kubernetes.
    #[arg(long = "for", value_name = "TARGET")]
    target: String,
    /// The server to configure (its server name, as issued).
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// The directory to write into (created 0700 if missing).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace embedded templates with the *.j2 files of this directory, by file name.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// With --for system: install the roots into this machine's trust store (as root).
    #[arg(long)]
    install: bool,
    /// An address (or CIDR range) of a DNS-named server of the federation, so that the
    /// homeserver may connect to it although it is private or loopback; repeatable.
    /// IP-literal server names in the CA's index are included without this.
    #[arg(long, value_name = "IP")]
    federation_addr: Vec<String>,
    /// The address the federation listener binds (default: the server's IP literal,
    /// or every interface); repeatable where the homeserver allows several.
    #[arg(long, value_name = "IP")]
    bind: Vec<String>,
    /// Also trust the root certificates in this PEM file (e.g. the next root during a
    /// rotation); repeatable.
    #[arg(long, value_name = "FILE")]
    also_trust: Vec<PathBuf>,
}

/// Refuses an output directory that is the CA directory or inside a server's files:
/// `fedca issue` replaces a server directory whole, and would refuse (or drop) files
/// written there.
fn check_not_in_ca(dir: &CaDir, out: &std::path::Path) -> Result<()> {
    let root = crate::store::canonical_lenient(dir.root())?;
    let out = &crate::store::canonical_lenient(out)?;
    let inside_server = dir
        .read_index()?
        .iter()
        .filter_map(|r| crate::store::canonical_lenient(&dir.resolve_record_path(&r.path)).ok())
        .find(|p| out.starts_with(p));
    let place = match inside_server {
        Some(p) => format!("inside the server files at {}", p.display()),
        None if *out == root => "the CA directory itself".into(),
        None if out.starts_with(&root) => format!("inside the CA directory {}", root.display()),
        None => return Ok(()),
    };
    Err(Error::invalid(
        "--out",
        out.display().to_string(),
        format!("is {place}; `fedca issue` replaces server directories whole, so write the configuration somewhere else"),
    ))
}

#[derive(Serialize)]
struct Report<'a> {
    target: Target,
    server: Option<String>,
    out: Option<String>,
    roots: Vec<&'a trust::TrustedRoot>,
    files: Vec<FileReport>,
    notes: &'a [String],
    install: Option<system::InstallReport>,
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    mode: String,
    what: String,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    // Check every argument before reading the CA, in the order a person would fix them.
    let target: Target = args.target.parse()?;
    if args.install && target != Target::System {
        return Err(Error::invalid(
            "--install",
            format!("--for {target}"),
            "applies to --for system only",
        ));
    }
    if args.install {
        // Refuse before reading anything: the CA directory may not be readable either.
        system::check_root()?;
    }
    let server_name = match (&args.server, target.needs_server()) {
        (Some(s), true) => Some(ServerName::parse(s)?),
        (None, true) => {
            return Err(Error::invalid(
                "--server",
                "(not given)",
                format!("is required with --for {target}: name the server to configure, as issued"),
            ))
        }
        (Some(s), false) => {
            return Err(Error::invalid(
                "--server",
                s.clone(),
                format!(
                    "does not apply to --for {target}, which writes the federation's roots only"
                ),
            ))
        }
        (None, false) => None,
    };
    if !target.is_homeserver() {
        if let Some(a) = args.federation_addr.first() {
            return Err(Error::invalid(
                "--federation-addr",
                a.clone(),
                format!("does not apply to --for {target}"),
            ));
        }
        if let Some(a) = args.bind.first() {
            return Err(Error::invalid(
                "--bind",
                a.clone(),
                format!("does not apply to --for {target}"),
            ));
        }
    }
    let extra_addrs = args
        .federation_addr
        .iter()
        .map(|a| IpNet::parse(a, "--federation-addr"))
        .collect::<Result<Vec<_>>>()?;
    let bind = args
        .bind
        .iter()
        .map(|b| {
            let t = b
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .unwrap_or(b);
            t.parse::<IpAddr>()
                .map_err(|_| Error::invalid("--bind", b.clone(), "is not an IP address"))
        })
        .collect::<Result<Vec<_>>>()?;
    let out = match (&args.out, args.install) {
        (Some(o), _) => Some(trust::check_out_dir(o)?),
        (None, true) => None,
        (None, false) => {
            return Err(Error::invalid(
                "--out",
                "(not given)",
                format!("is required with --for {target}: the directory to write into"),
            ))
        }
    };
    let templates = match &args.templates {
        Some(d) => Templates::with_overrides(d)?,
        None => Templates::embedded(),
    };

    let dir = CaDir::open(&cli.ca_dir)?;
    templates.refuse_ca_files(dir.root())?;
    let mut bundle = TrustBundle::from_ca_dir(&dir)?;
    for f in &args.also_trust {
        let bytes = crate::store::read_input(f, "--also-trust")?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::invalid("--also-trust", f.display().to_string(), "is not PEM text")
        })?;
        bundle.extend(TrustBundle::from_pem(&text, &f.display().to_string())?);
    }
    let server = server_name
        .as_ref()
        .map(|n| ServerInfo::lookup(&dir, n))
        .transpose()?;
    let federation = Federation::from_index(&dir, extra_addrs)?;
    if let Some(out) = &out {
        check_not_in_ca(&dir, out)?;
    }

    let mut emission = Emission::default();
    if let Some(out) = &out {
        let cx = EmitContext {
            bundle: &bundle,
            server: server.as_ref(),
            federation: &federation,
            out,
            templates: &templates,
            bind: &bind,
        };
        emission = trust::emit(target, &cx)?;
        trust::write_emission(out, &emission)?;
    }
    let install = if args.install {
        Some(system::install(&bundle, &templates)?)
    } else {
        None
    };
    if let Some(s) = &server {
        if crate::ca::is_past(&s.not_after) {
            emission.notes.push(format!(
                "{}'s certificate expired at {}; renew it with `fedca issue {}`",
                s.name, s.not_after, s.name
            ));
        }
    }

    let report = Report {
        target,
        server: server.as_ref().map(|s| s.name.to_string()),
        out: out.as_ref().map(|o| o.display().to_string()),
        roots: bundle.roots().iter().collect(),
        files: emission
            .files
            .iter()
            .map(|f| FileReport {
                path: out
                    .as_ref()
                    .map(|o| o.join(&f.path))
                    .unwrap_or_else(|| f.path.clone())
                    .display()
                    .to_string(),
                mode: format!("{:04o}", f.mode),
                what: f.what.clone(),
            })
            .collect(),
        notes: &emission.notes,
        install,
    };
    if cli.json {
        super::print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(o) = &report.out {
        outln!(
            "wrote {} file(s) for {}{} into {o}",
            report.files.len(),
            target,
            report
                .server
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        );
        for f in &report.files {
            outln!("  {} {}  {}", f.mode, f.path, f.what);
        }
    }
    outln!("trusted roots:");
    for r in bundle.roots() {
        outln!(
            "  {}  SHA-256 {}  until {}",
            r.subject,
            r.sha256,
            r.not_after
        );
    }
    if let Some(i) = &report.install {
        outln!(
            "installed {} anchor(s) into the {} trust store ({}) and ran `{}`",
            i.anchors.len(),
            serde_json::to_value(i.store)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            i.anchors
                .first()
                .and_then(|a| a.parent())
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            i.command
        );
        for line in i.output.lines().filter(|l| !l.trim().is_empty()) {
            outln!("  | {line}");
        }
        for o in &i.other_fedca_anchors {
            outln!(
                "  note: {} is another fedca root, not in this bundle; remove it if it is retired",
                o.display()
            );
        }
    }
    for n in report.notes {
        outln!("next: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
