//! The trust operation as a library call: [`plan`] reads the CA state once and
//! renders everything in memory; [`TrustPlan::write`] writes it. `fedca trust` (and
//! `fedca apply`, per server) only parse arguments and print.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::deploy::{CarveOut, Owner, TlsAt, DEFAULT_CLIENT_PORT};
use super::templates::Templates;
use super::{Emission, EmitContext, Federation, ServerInfo, Target, TrustBundle};
use crate::cidr::IpNet;
use crate::error::{Error, Field, Result};
use crate::name::ServerName;
use crate::store::CaDir;

/// What to configure, as `fedca trust` takes it (already parsed).
#[derive(Debug, Clone)]
pub struct TrustRequest {
    /// The target (`--for`).
    pub target: Target,
    /// The server to configure (`--server`), for targets that configure one.
    pub server: Option<ServerName>,
    /// The output directory (`--out`); absolute paths are kept, relative ones are
    /// taken from the current directory. `None` renders nothing (`--for system --install`).
    pub out: Option<PathBuf>,
    /// Where the files will live on the homeserver (`--install-dir`, absolute); `None`
    /// for the output directory itself.
    pub install_dir: Option<PathBuf>,
    /// The templates.
    pub templates: Templates,
    /// Addresses of DNS-named servers (`--federation-addr`).
    pub federation_addrs: Vec<IpNet>,
    /// Addresses the federation listener binds (`--bind`).
    pub bind: Vec<IpAddr>,
    /// Further roots to trust, as (PEM text, where it came from) (`--also-trust`).
    pub also_trust: Vec<(String, String)>,
    /// Where federation TLS ends (`--tls-at`).
    pub tls_at: TlsAt,
    /// The homeserver's plain client port (`--client-port`).
    pub client_port: u16,
    /// Who owns the installed files (`--owner`); `None` for the target's default.
    pub owner: Option<Owner>,
    /// What the IP blocklist is opened for (`--carve-out`).
    pub carve_out: CarveOut,
    /// Write no federation allow-list (`--open-federation`): the servers also
    /// federate with servers outside this CA.
    pub open_federation: bool,
}

impl TrustRequest {
    /// A request with every option at its default.
    pub fn new(target: Target) -> TrustRequest {
        TrustRequest {
            target,
            server: None,
            out: None,
            install_dir: None,
            templates: Templates::embedded(),
            federation_addrs: Vec::new(),
            bind: Vec::new(),
            also_trust: Vec::new(),
            tls_at: TlsAt::Homeserver,
            client_port: DEFAULT_CLIENT_PORT,
            owner: None,
            carve_out: CarveOut::Issued,
            open_federation: false,
        }
    }
}

/// Everything a trust run will write, rendered and checked; nothing written yet.
#[derive(Debug, Clone)]
pub struct TrustPlan {
    /// The target.
    pub target: Target,
    /// The server configured, as the index records it.
    pub server: Option<ServerInfo>,
    /// The output directory (absolute), when there is one.
    pub out: Option<PathBuf>,
    /// The roots trusted.
    pub bundle: TrustBundle,
    /// The files and notes.
    pub emission: Emission,
}

/// Reads the CA in `dir` once (its roots and its index) and renders what `req` asks
/// for. Bad input is refused here, before anything is written.
///
/// ```
/// use fedca::{Ca, authority::InitOptions, issue::LeafRequest, name::ServerName};
/// use fedca::trust::{self, deploy::TlsAt, Target, TrustRequest};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tmp = tempfile::tempdir()?;
/// let (ca, _) = Ca::init(tmp.path().join("ca"), &InitOptions::default())?;
/// let name = ServerName::parse("127.0.0.1:8448")?;
/// ca.issue(&[LeafRequest::new(name.clone())], None)?;
///
/// let mut req = TrustRequest::new(Target::Synapse);
/// req.server = Some(name);
/// req.out = Some(tmp.path().join("bundle"));
/// req.install_dir = Some("/etc/matrix-synapse/fedca".into());
/// req.tls_at = TlsAt::Proxy;
/// let plan = trust::plan(ca.dir(), &req)?;
/// assert!(plan.emission.files.iter().any(|f| f.path.ends_with("nginx-fedca.conf")));
/// plan.write()?;
/// let fragment = std::fs::read_to_string(tmp.path().join("bundle/homeserver-fedca.yaml"))?;
/// assert!(fragment.contains("/etc/matrix-synapse/fedca/fedca-root-"));
/// # Ok(()) }
/// ```
pub fn plan(dir: &CaDir, req: &TrustRequest) -> Result<TrustPlan> {
    let target = req.target;
    if target.needs_server() && req.server.is_none() {
        return Err(Error::invalid(
            crate::error::Field::Server,
            "(not given)",
            format!(
                "is required with {} {target}: name the server to configure, as issued",
                Field::Target.mention()
            ),
        ));
    }
    if let Some(d) = &req.install_dir {
        if !d.is_absolute() {
            return Err(Error::invalid(
                crate::error::Field::InstallDir,
                d.display().to_string(),
                "must be an absolute path: the directory the files will live in on the homeserver",
            ));
        }
    }
    let out = req.out.as_deref().map(super::check_out_dir).transpose()?;
    req.templates.refuse_ca_files(dir.root())?;
    let mut bundle = TrustBundle::of_ca(dir)?;
    for (text, source) in &req.also_trust {
        bundle.extend(TrustBundle::anchors_from_pem(text, source)?);
    }
    let records = dir.read_index()?;
    let server = req
        .server
        .as_ref()
        .map(|n| {
            ServerInfo::from_records(dir, &records, n).map_err(|e| match e {
                Error::UnknownServer(_) => unknown_server(dir, n),
                e => e,
            })
        })
        .transpose()?;
    let mut federation = Federation::from_records(&records, req.federation_addrs.clone())?;
    if !req.open_federation {
        federation.allowed = Some(crate::revocation::allowed_in(&records));
    }
    if req.carve_out == CarveOut::Permitted {
        federation.permitted_ranges = Some(permitted_ranges(dir)?);
    }
    if let Some(out) = &out {
        check_not_in_ca(dir, &records, server.as_ref(), out)?;
    }
    let mut emission = Emission::default();
    if let Some(out) = &out {
        let owner = req
            .owner
            .clone()
            .unwrap_or_else(|| Owner::default_for(target, req.tls_at));
        let install_dir = req.install_dir.as_deref().unwrap_or(out);
        if req.tls_at == TlsAt::Proxy {
            check_proxy_path(install_dir, req.install_dir.is_some())?;
        }
        let cx = EmitContext {
            bundle: &bundle,
            server: server.as_ref(),
            federation: &federation,
            out,
            templates: &req.templates,
            bind: &req.bind,
            target,
            install_dir,
            tls_at: req.tls_at,
            client_port: req.client_port,
            owner,
        };
        emission = super::emit(target, &cx)?;
        // Refuse now what `write` would refuse, so that a plan that exists can be written.
        for f in &emission.files {
            f.refuse_private_keys()?;
        }
    }
    if let Some(s) = &server {
        if s.not_after < time::OffsetDateTime::now_utc() {
            emission.notes.push(format!(
                "{}'s certificate expired at {}; renew it with `fedca issue {}`",
                s.name,
                crate::x509::rfc3339(s.not_after),
                s.name
            ));
        }
    }
    Ok(TrustPlan {
        target,
        server,
        out,
        bundle,
        emission,
    })
}

impl TrustPlan {
    /// Writes the rendered files under the output directory (see
    /// [`super::write_emission`]); returns their paths. Writes nothing without one.
    pub fn write(&self) -> Result<Vec<PathBuf>> {
        match &self.out {
            Some(out) => super::write_emission(out, &self.emission),
            None => Ok(Vec::new()),
        }
    }
}

/// Refuses an output directory that is the CA directory or inside a server's files:
/// `fedca issue` replaces a server directory whole, and would refuse (or drop) files
/// written there.
///
/// Resolving a record's path costs a `readlink` per component, which at 50,000 records
/// was most of a `trust` (issue 11), so records are not resolved one by one: `out` is
/// resolved once, and each of its ancestors, as given and as resolved, is looked up among
/// the records' paths as written (made absolute, `..` removed). Only the configured
/// server's own directory (`--server`) is resolved, since its files are the ones beside
/// which an `--out` is most likely. When `out` is inside the CA directory it is refused
/// anyway, and every record is resolved then, to name the server in the message.
fn check_not_in_ca(
    dir: &CaDir,
    records: &[crate::store::IndexRecord],
    server: Option<&ServerInfo>,
    out: &Path,
) -> Result<()> {
    let root = crate::store::canonical_lenient(dir.root())?;
    let given = lexical(&std::path::absolute(out).map_err(|e| Error::io(out, e))?);
    let out = &crate::store::canonical_lenient(out)?;
    let in_root = out.starts_with(&root);
    let inside_server = if in_root {
        records
            .iter()
            .filter_map(|r| crate::store::canonical_lenient(&dir.resolve_record_path(&r.path)).ok())
            .find(|p| out.starts_with(p))
    } else {
        let ancestors: std::collections::HashSet<&Path> =
            out.ancestors().chain(given.ancestors()).collect();
        let own = server
            .map(|s| crate::store::canonical_lenient(&s.dir))
            .transpose()?
            .filter(|p| out.starts_with(p));
        own.or_else(|| {
            records
                .iter()
                .map(|r| lexical(&dir.resolve_record_path(&r.path)))
                .find(|p| ancestors.contains(p.as_path()))
        })
    };
    let place = match inside_server {
        Some(p) => format!("inside the server files at {}", p.display()),
        None if *out == root => "the CA directory itself".into(),
        None if in_root => format!("inside the CA directory {}", root.display()),
        None => return Ok(()),
    };
    Err(Error::invalid(
        crate::error::Field::OutputDir,
        out.display().to_string(),
        format!("is {place}; `fedca issue` replaces server directories whole, so write the configuration somewhere else"),
    ))
}

/// `p` with `.` and `..` removed by text alone (no file system access).
fn lexical(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The error for a server the index does not hold: issuing it is the fix only when the
/// CA's name constraints allow it; otherwise say so (the CA's key is not read).
fn unknown_server(dir: &CaDir, name: &ServerName) -> Error {
    let permitted = dir
        .read(crate::store::files::POLICY)
        .ok()
        .and_then(|t| serde_json::from_str::<crate::authority::Policy>(&t).ok())
        .map(|p| p.permitted);
    let host = crate::name::AltName::Host(name.host().clone());
    match permitted {
        Some(c) if c.check(&host).is_err() => Error::invalid(
            crate::error::Field::Server,
            name.to_string(),
            format!(
                "is not issued, and this CA cannot issue it: its name constraints permit only {}; configure a server the CA issued (`fedca list`)",
                c.0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        ),
        _ => Error::UnknownServer(name.to_string()),
    }
}

/// The CA's permitted IP ranges, from its policy (the CA's key is not read). A CA
/// without any is refused for `--carve-out permitted`.
fn permitted_ranges(dir: &CaDir) -> Result<Vec<IpNet>> {
    let path = dir.path(crate::store::files::POLICY);
    let policy: crate::authority::Policy =
        serde_json::from_str(&dir.read(crate::store::files::POLICY)?)
            .map_err(|e| Error::corrupt(&path, format!("unreadable policy: {e}")))?;
    let ranges: Vec<IpNet> = policy
        .permitted
        .0
        .iter()
        .filter_map(|p| match p {
            crate::authority::Permit::Ip(n) => Some(*n),
            _ => None,
        })
        .collect();
    if ranges.is_empty() {
        return Err(Error::invalid(
            crate::error::Field::CarveOut,
            "permitted",
            format!("needs a CA whose name constraints permit IP ranges; this one permits none (it is unconstrained or DNS-only): use {} issued", Field::CarveOut.mention()),
        ));
    }
    Ok(ranges)
}

/// Refuses, with `--tls-at proxy`, an install directory the proxy configurations
/// cannot name as a bare word (nginx, Caddy and haproxy split on whitespace and give
/// `;`, `{`, `}`, `#`, quotes and `$` meanings of their own).
fn check_proxy_path(dir: &Path, given: bool) -> Result<()> {
    let text = dir.display().to_string();
    if let Some(c) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || ";{}#\"'$\\".contains(*c))
    {
        return Err(Error::invalid(
            if given { Field::InstallDir } else { Field::OutputDir },
            text.clone(),
            format!(
                "holds {c:?}, which nginx, Caddy and haproxy configurations cannot hold in a path; with {} proxy choose a directory without it{}",
                Field::TlsAt.mention(),
                if given {
                    String::new()
                } else {
                    format!(" (or give {})", Field::InstallDir.mention())
                }
            ),
        ));
    }
    Ok(())
}
