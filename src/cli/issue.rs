//! `fedca issue`: one certificate per server name.

use super::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Cli;
use crate::authority::KeyType;
use crate::error::{Error, Field, Result};
use crate::issue::LeafRequest;
use crate::name::{AltName, ServerName};
use crate::validity;

const EXAMPLES: &str = "\
Examples:
  fedca issue hs1.fed.test --ca-dir ./ca
  fedca issue 10.0.0.7:8448 '[fd00::7]' <56-char-v3-address>.onion --ca-dir ./ca
  fedca issue hs2.fed.test --delegate matrix.hs2.fed.test:443 --alt hs2-admin.fed.test --ca-dir ./ca
  fedca issue hs3.fed.test --validity 30d --key ed25519 --out /etc/matrix-tls --ca-dir ./ca

Each server gets cert.pem (the leaf), fullchain.pem (what the server must serve),
key.pem (0600) and ca.pem (the root) in <ca-dir>/servers/<dir-name>/ or <out>/<dir-name>/.
<dir-name> is the host (IPv6 as ipv6_fd00--7) with _PORT appended when a port is given.";

/// Issue a certificate for each Matrix server name.
///
/// The certificate names the server name's host (the port is dropped; IP literals
/// become IP address SANs), plus the delegated host with --delegate, plus --alt names.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Matrix server names: hs1.fed.test, 10.0.0.7:8448, [fd00::7], a v3 `.onion` name.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
    /// An extra DNS name, wildcard DNS name (*.fed.test) or IP address; repeatable.
    #[arg(long, value_name = "NAME")]
    alt: Vec<String>,
    /// The delegated server (`m.server` in .well-known/matrix/server): its host is
    /// added, and the server name is kept for the .well-known host on port 443.
    #[arg(long, value_name = "HOST[:PORT]")]
    delegate: Option<String>,
    /// Validity: a number and h, d, w or y, at most 398 days (default: the CA's, 90d).
    #[arg(long)]
    validity: Option<String>,
    /// Key type of the new keys (default: the CA's).
    #[arg(long, value_parser = ["ecdsa-p256", "ecdsa-p384", "ed25519"])]
    key: Option<String>,
    /// Write each server's files under this directory instead of the CA's servers/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let requests = requests(args)?;
    let ca = cli.open_ca()?;
    let servers: Vec<String> = requests.iter().map(|r| r.server.to_string()).collect();
    for (server, serial) in crate::revocation::revoked_among(ca.dir(), &servers)? {
        eprintln!("note: {server} was revoked (serial {serial}); issuing it a new certificate lets it federate again once `fedca trust` is re-run on the others");
    }
    let plain = args.alt.is_empty()
        && args.delegate.is_none()
        && args.validity.is_none()
        && args.key.is_none()
        && args.out.is_none();
    let issued = if plain {
        // A plain re-issue keeps every stored setting.
        let names: Vec<_> = requests.iter().map(|r| r.server.clone()).collect();
        ca.issue_stored(&names)?
    } else {
        let current = crate::ca::current_records(ca.dir())?;
        let now = time::OffsetDateTime::now_utc();
        for req in &requests {
            let Some(r) = current.get(&req.server) else {
                continue;
            };
            let profile = crate::issue::LeafProfile::build(req, ca.authority(), now)?;
            let dir_name = req.server.dir_name();
            let path = match &args.out {
                Some(o) => std::path::absolute(o.join(&dir_name))
                    .map_err(|e| Error::io(o, e))?
                    .display()
                    .to_string(),
                None => format!("{}/{dir_name}", crate::store::files::SERVERS),
            };
            let changes = crate::ca::describe_changes(
                r,
                &profile.san_texts(),
                profile.key_type.into(),
                &path,
            );
            if !changes.is_empty() {
                eprintln!(
                    "{}: replacing serial {} ({})",
                    req.server,
                    r.serial,
                    changes.join("; ")
                );
            }
        }
        ca.issue(&requests, args.out.as_deref())?
    };
    if cli.json {
        // The JSON vocabulary of every command (docs/json.md): a certificate's `status`
        // as `fedca list` reports it, not the index's stored `state`.
        let now = time::OffsetDateTime::now_utc();
        let mut records = Vec::with_capacity(issued.len());
        for i in &issued {
            let mut v = serde_json::to_value(&i.record)
                .map_err(|e| Error::Internal(format!("issue report: {e}")))?;
            if let Some(o) = v.as_object_mut() {
                o.remove("state");
                o.insert(
                    "status".into(),
                    crate::ca::CertStatus::of(&i.record, now).as_str().into(),
                );
                o.insert("supersedes".into(), i.supersedes.clone().into());
            }
            records.push(v);
        }
        super::print_json(&records)?;
    } else {
        for i in &issued {
            outln!(
                "issued {}  names {}  valid until {}  serial {}{}\n  -> {}",
                i.record.server,
                i.record.names.join(","),
                crate::x509::rfc3339(i.record.not_after),
                i.record.serial,
                i.supersedes
                    .clone()
                    .map(|s| format!(" (supersedes serial {s})"))
                    .unwrap_or_default(),
                i.dir.display()
            );
        }
    }
    for i in &issued {
        if i.clamped {
            eprintln!(
                "warning: {}: validity cut to the CA's own expiry ({})",
                i.record.server,
                crate::x509::rfc3339(i.record.not_after)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses and checks every argument before anything else happens.
fn requests(args: &Args) -> Result<Vec<LeafRequest>> {
    if args.names.len() > 1 && (args.delegate.is_some() || !args.alt.is_empty()) {
        return Err(Error::invalid(
            Field::Other("server names".into()),
            args.names.join(" "),
            "--delegate and --alt apply to one server: issue delegated or multi-name servers one at a time",
        ));
    }
    let delegate = args
        .delegate
        .as_deref()
        .map(ServerName::parse)
        .transpose()?;
    let alts = args
        .alt
        .iter()
        .map(|a| AltName::parse(a))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let validity = args
        .validity
        .as_deref()
        .map(|v| validity::parse_leaf(v, crate::error::Field::Validity))
        .transpose()?;
    let key_type = args.key.as_deref().map(str::parse::<KeyType>).transpose()?;
    args.names
        .iter()
        .map(|n| {
            Ok(LeafRequest {
                server: ServerName::parse(n)?,
                delegate: delegate.clone(),
                alts: alts.clone(),
                validity,
                key_type,
            })
        })
        .collect()
}
