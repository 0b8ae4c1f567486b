//! `fedca trust`: the trust configuration of one homeserver or platform.

use super::outln;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::Cli;
use crate::cidr::IpNet;
use crate::error::{Error, Field, Result};
use crate::name::ServerName;
use crate::store::CaDir;
use crate::trust::deploy::{CarveOut, Owner, TlsAt, DEFAULT_CLIENT_PORT};
use crate::trust::plan::TrustRequest;
use crate::trust::templates::Templates;
use crate::trust::{self, system, Target};

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
  fedca trust --for synapse --server hs1.fed.test --open-federation --out ./hs1-conf

Allow-list: the homeserver targets write the federation's current servers (every
server whose newest certificate is not revoked) as the homeserver's federation
allow-list where it has one (Synapse federation_domain_whitelist; conduwuit,
continuwuity, tuwunel allowed_remote_server_names; Dendrite and Conduit have none: use
a firewall). Homeservers read no CRL: after `fedca revoke`, re-run trust for every
other server and restart it. --open-federation leaves the list out.

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
    /// The directory to write into: a self-contained bundle for the server (created
    /// 0755 if missing; keys 0600, everything else 0644).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Where the files will live on the homeserver (absolute); the configuration's
    /// paths point there and install.sh puts the files there [default: --out].
    #[arg(long, value_name = "DIR")]
    install_dir: Option<PathBuf>,
    /// Where federation TLS ends: homeserver (it serves TLS itself) or proxy (nginx,
    /// Caddy or haproxy does; their snippets are written too).
    #[arg(long, value_name = "WHERE", default_value = "homeserver")]
    tls_at: String,
    /// The homeserver's plain-HTTP client listener port, on localhost (the proxy's
    /// upstream with --tls-at proxy); give each homeserver on a host its own.
    #[arg(long, value_name = "PORT", default_value_t = crate::trust::deploy::DEFAULT_CLIENT_PORT)]
    client_port: u16,
    /// Who owns the installed files on the homeserver, USER[:GROUP] [default:
    /// matrix-synapse for Synapse, the project's name for the others, root with
    /// --tls-at proxy].
    #[arg(long, value_name = "USER")]
    owner: Option<String>,
    /// What the homeserver's IP blocklist is opened for: issued (exactly the issued
    /// servers' addresses; re-run trust everywhere when a server is added) or permitted
    /// (the CA's permitted IP ranges whole; new servers inside them need no change, but
    /// the homeserver may reach every address in them).
    #[arg(long, value_name = "WHICH", default_value = "issued")]
    carve_out: String,
    /// Write no federation allow-list, for a federation whose servers also federate with
    /// servers outside this CA. Without it the homeserver federates only with the
    /// servers whose newest certificate is not revoked (Synapse
    /// federation_domain_whitelist; conduwuit, continuwuity, tuwunel
    /// allowed_remote_server_names; Dendrite and Conduit have none): homeservers read
    /// no CRL, so after `fedca revoke` re-run trust for every other server.
    #[arg(long)]
    open_federation: bool,
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

/// Checks every argument, in the order a person would fix them, before the CA is read.
fn request(args: &Args) -> Result<TrustRequest> {
    // Check every argument before reading the CA, in the order a person would fix them.
    let target: Target = args.target.parse()?;
    if args.install && target != Target::System {
        return Err(Error::invalid(
            crate::error::Field::Install,
            format!("--for {target}"),
            "applies to --for system only",
        ));
    }
    if args.install {
        // Refuse before reading anything: the CA directory may not be readable either.
        system::check_root()?;
    }
    let server = match (&args.server, target.needs_server()) {
        (Some(s), true) => Some(ServerName::parse(s)?),
        (None, true) => {
            return Err(Error::invalid(
                crate::error::Field::Server,
                "(not given)",
                format!("is required with --for {target}: name the server to configure, as issued"),
            ))
        }
        (Some(s), false) => {
            return Err(Error::invalid(
                crate::error::Field::Server,
                s.clone(),
                format!(
                    "does not apply to --for {target}, which writes the federation's roots only"
                ),
            ))
        }
        (None, false) => None,
    };
    let tls_at: TlsAt = args.tls_at.parse()?;
    let carve_out: CarveOut = args.carve_out.parse()?;
    if !target.is_homeserver() {
        let not_for = |flag: Field, value: String| {
            Err(Error::invalid(
                flag,
                value,
                format!("does not apply to --for {target}"),
            ))
        };
        if let Some(a) = args.federation_addr.first() {
            return not_for(Field::FederationAddr, a.clone());
        }
        if let Some(a) = args.bind.first() {
            return not_for(Field::Bind, a.clone());
        }
        if let Some(d) = &args.install_dir {
            return not_for(Field::InstallDir, d.display().to_string());
        }
        if tls_at != TlsAt::Homeserver {
            return not_for(Field::TlsAt, args.tls_at.clone());
        }
        if args.client_port != DEFAULT_CLIENT_PORT {
            return not_for(Field::ClientPort, args.client_port.to_string());
        }
        if let Some(o) = &args.owner {
            return not_for(Field::Owner, o.clone());
        }
        if args.carve_out != "issued" {
            return not_for(Field::CarveOut, args.carve_out.clone());
        }
        if args.open_federation {
            return not_for(Field::OpenFederation, "given".into());
        }
    }
    if args.client_port == 0 {
        return Err(Error::invalid(
            crate::error::Field::ClientPort,
            "0",
            "is not a port (1-65535)",
        ));
    }
    let owner = args.owner.as_deref().map(Owner::parse).transpose()?;
    let federation_addrs = args
        .federation_addr
        .iter()
        .map(|a| IpNet::parse(a, crate::error::Field::FederationAddr))
        .collect::<Result<Vec<_>>>()?;
    let bind = args
        .bind
        .iter()
        .map(|b| {
            let t = b
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .unwrap_or(b);
            t.parse::<IpAddr>().map_err(|_| {
                Error::invalid(crate::error::Field::Bind, b.clone(), "is not an IP address")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if args.out.is_none() && !args.install {
        return Err(Error::invalid(
            crate::error::Field::OutputDir,
            "(not given)",
            format!("is required with --for {target}: the directory to write into"),
        ));
    }
    let templates = match &args.templates {
        Some(d) => Templates::with_overrides(d)?,
        None => Templates::embedded(),
    };
    let mut also_trust = Vec::new();
    for f in &args.also_trust {
        let text =
            crate::store::read_input_text(f, crate::error::Field::AlsoTrust, "is not PEM text")?;
        also_trust.push((text, f.display().to_string()));
    }
    Ok(TrustRequest {
        target,
        server,
        out: args.out.clone(),
        install_dir: args.install_dir.clone(),
        templates,
        federation_addrs,
        bind,
        also_trust,
        tls_at,
        client_port: args.client_port,
        owner,
        carve_out,
        open_federation: args.open_federation,
    })
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let request = request(args)?;
    let dir = CaDir::open(&cli.ca_dir)?;
    let plan = trust::plan::plan(&dir, &request)?;
    plan.write()?;
    let install = if args.install {
        Some(system::install(&plan.bundle, &request.templates)?)
    } else {
        None
    };
    let (bundle, emission, out, server) = (&plan.bundle, &plan.emission, &plan.out, &plan.server);

    let report = Report {
        target: request.target,
        server: server.as_ref().map(|s| s.name.to_string()),
        out: out.as_ref().map(|o| o.display().to_string()),
        roots: bundle.trusted().iter().collect(),
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
    print_human(&report, request.target, bundle)?;
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report.
fn print_human(
    report: &Report<'_>,
    target: Target,
    bundle: &crate::trust::TrustBundle,
) -> Result<()> {
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
    for r in bundle.trusted() {
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
            i.store.as_str(),
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
    Ok(())
}
