//! `fedca renew`: re-issue what is due, with each server's settings, then run a deploy hook.

use super::outln;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use serde::Serialize;
use time::OffsetDateTime;

use super::status::{current, parse_within};
use super::Cli;
use crate::ca::CertStatus;
use crate::error::{Error, Field, Result};
use crate::issue::{ExistingKey, LeafRequest};
use crate::name::ServerName;
use crate::store::{CaDir, IndexRecord};
use crate::validity::{Validity, BACKDATE};
use crate::x509::rfc3339;

const EXAMPLES: &str = "\
Examples:
  fedca renew --all --ca-dir ./ca
  fedca renew --all --within 30d --deploy-hook 'systemctl restart matrix-synapse' --ca-dir ./ca
  fedca renew hs1.fed.test --force --ca-dir ./ca
  fedca renew hs1.fed.test --force --reuse-key --ca-dir ./ca

A server is due when its newest certificate is within --within of expiry, or, without
--within, in the last third of its lifetime (`fedca status` shows the same). Each due
server is re-issued with its settings (names, --alt, --delegate, key type, validity,
output directory) and a new key; its directory is swapped whole, so a server reading
cert.pem and key.pem never sees a mismatched pair. With --reuse-key the new certificate
is for the server's existing key.pem, which is kept byte for byte; refused (exit 2,
nothing written) when the server has no key.pem (one signed from a CSR: use
`fedca sign-csr`), or the key does not match its current cert.pem or stored key type.
Revoked servers are never renewed: re-issue them deliberately with `fedca issue NAME`.
Servers signed from a CSR are skipped by --all and refused by name (exit 2): fedca holds
no key for them; renew them with `fedca sign-csr` and a new CSR.

The deploy hook runs with `sh -c` after each renewed server, its output on stderr, with
  FEDCA_SERVER       the server name            RENEWED_LINEAGE  the server directory
  FEDCA_SERVER_DIR   the server directory       RENEWED_DOMAINS  the certificate's names
  FEDCA_SERIAL       the new serial                              (space-separated; as certbot)
  FEDCA_NOT_AFTER    the new expiry (RFC 3339)
A failing hook is reported and the exit status is 1; the renewal is kept.
Exit status: 0 everything due renewed (or nothing due), 1 a renewal or a hook failed,
2 bad input (nothing written).";

/// Renew the certificates that are due, keeping each server's settings.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Servers to renew (when due); or --all.
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Every server of the CA (except revoked ones).
    #[arg(long, conflicts_with = "names")]
    all: bool,
    /// Due when expiring within this (e.g. 30d); default: the last third of the lifetime.
    #[arg(long, value_name = "DURATION")]
    within: Option<String>,
    /// Renew the named servers (or all) even when not due.
    #[arg(long)]
    force: bool,
    /// Keep each server's key: sign the new certificate for its existing key.pem.
    #[arg(long)]
    reuse_key: bool,
    /// A command run with `sh -c` after each renewed server (see below).
    #[arg(long, value_name = "CMD")]
    deploy_hook: Option<String>,
}

/// One renewed server, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Renewed {
    server: String,
    serial: String,
    previous_serial: String,
    names: Vec<String>,
    not_after: String,
    path: String,
    /// The deploy hook's outcome: `null` without a hook.
    hook: Option<HookOutcome>,
}

#[derive(Debug, Serialize)]
struct HookOutcome {
    ok: bool,
    exit_code: Option<i32>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct NotDue {
    server: String,
    renew_after: String,
}

#[derive(Debug, Serialize)]
struct Failed {
    server: String,
    error: String,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    renewed: Vec<Renewed>,
    not_due: Vec<NotDue>,
    skipped_revoked: Vec<String>,
    /// Servers signed from a CSR: fedca holds no key for them, so only a new CSR
    /// renews them.
    skipped_csr: Vec<String>,
    failed: Vec<Failed>,
}

/// The request that re-issues a server as its record describes it, and the `--out`
/// directory its files go to (`None`: the CA's `servers/`): the server's stored settings
/// ([`crate::ca::stored_request`]), with the validity the record's dates show for
/// records written before validity was stored.
pub(crate) fn request_from_record(
    dir: &CaDir,
    r: &IndexRecord,
) -> Result<(LeafRequest, Option<PathBuf>)> {
    let mut request = crate::ca::stored_request(dir, r)?;
    // Records written before validity was stored: the validity their dates show.
    if request.validity.is_none() {
        request.validity = validity_of(r);
    }
    let out = if Path::new(&r.path).is_absolute() {
        Path::new(&r.path).parent().map(Path::to_path_buf)
    } else {
        None
    };
    Ok((request, out))
}

/// The validity a record was issued with: notAfter - notBefore - the backdating, when
/// that is a whole number of hours within the leaf limit (else the CA's default).
fn validity_of(r: &IndexRecord) -> Option<Validity> {
    let secs = (r.not_after - r.not_before - BACKDATE).whole_seconds();
    let text = if secs > 0 && secs % 86_400 == 0 {
        format!("{}d", secs / 86_400)
    } else if secs > 0 && secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else {
        return None;
    };
    Validity::parse(&text).ok().filter(|v| {
        v.check_leaf(crate::error::Field::AnyValidity, &text)
            .is_ok()
    })
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    if args.names.is_empty() && !args.all {
        return Err(Error::invalid(
            Field::Other("NAME".into()),
            "",
            "give the servers to renew, or --all",
        ));
    }
    if args
        .deploy_hook
        .as_deref()
        .is_some_and(|h| h.trim().is_empty())
    {
        return Err(Error::invalid(
            crate::error::Field::DeployHook,
            "",
            "must be a command",
        ));
    }
    let within = parse_within(args.within.as_deref())?;
    let dir = cli.ca();
    if !dir.exists() {
        return Err(Error::NoCa(cli.ca_dir.clone()));
    }
    let now = OffsetDateTime::now_utc();
    let statuses = current(&dir, within, now)?;
    let mut wanted = Vec::new();
    if args.all {
        wanted.extend(statuses.iter());
    } else {
        let mut given = std::collections::HashSet::new();
        for n in &args.names {
            let name = ServerName::parse(n)?.to_string();
            if !given.insert(name.clone()) {
                return Err(Error::invalid(
                    Field::Other("NAME".into()),
                    n,
                    "is given twice; each server is renewed once",
                ));
            }
            match statuses.iter().find(|s| s.entry.server == name) {
                Some(s) if s.entry.status == CertStatus::Revoked => {
                    return Err(Error::invalid(
                        Field::Other("NAME".into()),
                        n,
                        "is revoked; renewal never undoes a revocation: re-issue it deliberately with `fedca issue`",
                    ))
                }
                Some(s) => wanted.push(s),
                None => return Err(Error::UnknownServer(n.clone())),
            }
        }
    }
    let newest: BTreeMap<String, IndexRecord> = dir
        .read_index()?
        .into_iter()
        .map(|r| (r.server.to_string(), r))
        .collect();
    let mut report = Report::default();
    let mut todo = Vec::new();
    for s in wanted {
        if s.entry.status == CertStatus::Revoked {
            report.skipped_revoked.push(s.entry.server.clone());
        } else if s.due || args.force {
            if let Some(r) = newest.get(&s.entry.server) {
                if !args.reuse_key && signed_from_csr(&dir, r) {
                    if !args.all {
                        return Err(Error::invalid(
                            Field::ServerName,
                            r.server.to_string(),
                            format!(
                                "was signed from a CSR ({} key, no key.pem in {}): fedca holds no key to renew it with; sign a new CSR with `fedca sign-csr`, or give it a fedca key with `fedca issue {}`",
                                r.key_type,
                                dir.resolve_record_path(&r.path).display(),
                                r.server
                            ),
                        ));
                    }
                    report.skipped_csr.push(r.server.to_string());
                    continue;
                }
                // Checked first: a CSR-signed server's record may hold an RSA key type.
                let key = if args.reuse_key {
                    Some(ExistingKey::load(
                        &dir.resolve_record_path(&r.path),
                        &r.server.to_string(),
                        r.key_type,
                        &r.sha256,
                        Field::ReuseKey,
                    )?)
                } else {
                    None
                };
                todo.push((r.clone(), request_from_record(&dir, r)?, key));
            }
        } else {
            report.not_due.push(NotDue {
                server: s.entry.server.clone(),
                renew_after: s.renew_after.clone(),
            });
        }
    }
    let mut hook_failed = false;
    if !todo.is_empty() {
        let ca = cli.open_ca()?;
        // Every renewal in one transaction; one refused before signing fails alone, a
        // failed transaction (every renewal rolled back) fails them all.
        let renewals: Vec<crate::ca::Renewal<'_>> = todo
            .iter()
            .map(|(_, (request, out), key)| crate::ca::Renewal {
                request: request.clone(),
                out: out.clone(),
                key: key.as_ref(),
            })
            .collect();
        let results: Vec<std::result::Result<crate::Issued, String>> =
            match ca.renew_each(&renewals) {
                Ok((results, failed)) => {
                    let failed = failed.map(|e| e.cli_message()).unwrap_or_default();
                    results
                        .into_iter()
                        .map(|r| match r {
                            crate::ca::RenewResult::Renewed(issued) => Ok(*issued),
                            crate::ca::RenewResult::Refused(e) => Err(e.cli_message()),
                            crate::ca::RenewResult::RolledBack => Err(failed.clone()),
                        })
                        .collect()
                }
                Err(e) => vec![Err(e.cli_message()); renewals.len()],
            };
        for ((old, _, _), result) in todo.iter().zip(results) {
            let issued = match result {
                Ok(issued) => issued,
                Err(error) => {
                    eprintln!("error: renewing {}: {error}", old.server);
                    report.failed.push(Failed {
                        server: old.server.to_string(),
                        error,
                    });
                    continue;
                }
            };
            if !cli.json {
                outln!(
                    "renewed {}  serial {} -> {}  valid until {}\n  -> {}",
                    issued.record.server,
                    old.serial,
                    issued.record.serial,
                    rfc3339(issued.record.not_after),
                    issued.dir.display()
                );
            }
            if issued.clamped {
                eprintln!(
                    "warning: {}: validity cut to the CA's own expiry ({})",
                    issued.record.server,
                    rfc3339(issued.record.not_after)
                );
            }
            let hook = args
                .deploy_hook
                .as_deref()
                .map(|cmd| run_hook(cmd, &issued));
            if let Some(h) = &hook {
                if !h.ok {
                    hook_failed = true;
                    eprintln!(
                        "error: deploy hook for {} failed ({}); the renewal is kept",
                        issued.record.server,
                        h.error.as_deref().unwrap_or("")
                    );
                }
            }
            report.renewed.push(Renewed {
                server: issued.record.server.to_string(),
                serial: issued.record.serial.clone(),
                previous_serial: old.serial.clone(),
                names: issued.record.names.clone(),
                not_after: rfc3339(issued.record.not_after),
                path: issued.dir.display().to_string(),
                hook,
            });
        }
    }
    if cli.json {
        super::print_json(&report)?;
    } else {
        for n in &report.not_due {
            outln!("not due: {} (renew after {})", n.server, n.renew_after);
        }
        for s in &report.skipped_revoked {
            outln!("skipped: {s} is revoked (re-issue it with `fedca issue {s}`)");
        }
        for s in &report.skipped_csr {
            outln!(
                "skipped: {s} was signed from a CSR (renew it with `fedca sign-csr` and a new CSR)"
            );
        }
        if report.renewed.is_empty() && report.failed.is_empty() {
            outln!("nothing to renew");
        }
    }
    Ok(if hook_failed || !report.failed.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether `r` was signed from a CSR (`fedca sign-csr`): an RSA key (fedca never
/// generates one), or a server directory with its cert.pem but no key.pem.
fn signed_from_csr(dir: &CaDir, r: &IndexRecord) -> bool {
    if matches!(r.key_type, crate::store::RecordKeyType::Rsa(_)) {
        return true;
    }
    let d = dir.resolve_record_path(&r.path);
    d.join("cert.pem").is_file() && !d.join("key.pem").exists()
}

/// Runs the deploy hook for one renewed server; its output goes to stderr.
fn run_hook(cmd: &str, issued: &crate::Issued) -> HookOutcome {
    let dir = issued.dir.display().to_string();
    let status = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("FEDCA_SERVER", issued.record.server.to_string())
        .env("FEDCA_SERVER_DIR", &dir)
        .env("FEDCA_SERIAL", &issued.record.serial)
        .env("FEDCA_NOT_AFTER", rfc3339(issued.record.not_after))
        .env("RENEWED_LINEAGE", &dir)
        .env("RENEWED_DOMAINS", issued.record.names.join(" "))
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status();
    match status {
        Ok(s) if s.success() => HookOutcome {
            ok: true,
            exit_code: s.code(),
            error: None,
        },
        Ok(s) => HookOutcome {
            ok: false,
            exit_code: s.code(),
            error: Some(match s.code() {
                Some(c) => format!("exit status {c}"),
                None => format!("{s}"),
            }),
        },
        Err(e) => HookOutcome {
            ok: false,
            exit_code: None,
            error: Some(format!("could not run sh: {e}")),
        },
    }
}
