//! `fedca status`: what expires when, what is due for renewal, what is revoked.

use super::outln;
use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::Cli;
use crate::ca::{CertStatus, ListEntry};
use crate::error::{Error, Result};
use crate::revocation::Revocation;
use crate::store::CaDir;
use crate::validity::Validity;

const EXAMPLES: &str = "\
Examples:
  fedca status --ca-dir ./ca
  fedca status --ca-dir ./ca --within 30d
  fedca status --ca-dir ./ca --json | jq -r '.servers[] | select(.due) | .server'

Exit status: 0 every current certificate is valid and not due, 1 something is due for
renewal or expired (revoked servers do not count), 2 bad input. Read-only: it takes no
lock and never needs the CA key, so monitoring can run it as often as it likes.";

/// Show what expires when, what is due for renewal and what is revoked.
///
/// One line per server (its newest certificate). A certificate is due when it is within
/// --within of its expiry, or, without --within, in the last third of its lifetime: the
/// same rule `fedca renew` applies.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Due when expiring within this (e.g. 30d); default: the last third of the lifetime.
    #[arg(long, value_name = "DURATION")]
    within: Option<String>,
}

/// One server in `status`: its newest certificate (the fields of `list --json`) and
/// when it is due.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ServerStatus {
    #[serde(flatten)]
    pub entry: ListEntry,
    /// From when `renew` renews it, RFC 3339.
    pub renew_after: String,
    /// Whether it is due now (always false for a revoked certificate).
    pub due: bool,
}

/// One revoked certificate.
#[derive(Debug, Clone, Serialize)]
struct RevokedStatus {
    server: String,
    #[serde(flatten)]
    revocation: Revocation,
}

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    checked_at: String,
    servers: Vec<ServerStatus>,
    revoked: Vec<RevokedStatus>,
    /// The servers whose newest certificate is not revoked: a homeserver's federation
    /// allow-list (Synapse `federation_domain_whitelist`).
    allowed_servers: Vec<String>,
}

/// Parses `--within`.
pub(super) fn parse_within(text: Option<&str>) -> Result<Option<Duration>> {
    text.map(|t| {
        Validity::parse(t)
            .map(|v| v.duration())
            .map_err(|e| match e {
                Error::InvalidValue { rule, .. } => {
                    Error::invalid(crate::error::Field::Within, t, rule)
                }
                other => other,
            })
    })
    .transpose()
}

/// When a certificate valid from `nb` to `na` becomes due: `within` before `na`, or
/// (default) after two thirds of its lifetime.
pub(super) fn renew_after(
    nb: OffsetDateTime,
    na: OffsetDateTime,
    within: Option<Duration>,
) -> OffsetDateTime {
    match within {
        Some(w) => na - w,
        None => nb + (na - nb) * 2 / 3,
    }
}

/// The newest certificate of every server, soonest expiry first, with when it is due.
pub(super) fn current(
    dir: &CaDir,
    within: Option<Duration>,
    now: OffsetDateTime,
) -> Result<Vec<ServerStatus>> {
    current_in(crate::ca::list(dir)?, within, now)
}

/// [`current`] of entries already listed.
fn current_in(
    entries: Vec<ListEntry>,
    within: Option<Duration>,
    now: OffsetDateTime,
) -> Result<Vec<ServerStatus>> {
    let mut newest: BTreeMap<String, ListEntry> = BTreeMap::new();
    for e in entries {
        newest.insert(e.server.clone(), e);
    }
    let mut out = Vec::with_capacity(newest.len());
    for (_, entry) in newest {
        let after = renew_after(entry.not_before, entry.not_after, within);
        let due = entry.status != CertStatus::Revoked && now >= after;
        out.push(ServerStatus {
            renew_after: crate::x509::rfc3339(after),
            due,
            entry,
        });
    }
    out.sort_by_key(|s| s.entry.not_after);
    Ok(out)
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let within = parse_within(args.within.as_deref())?;
    let dir = CaDir::open(&cli.ca_dir)?;
    let now = OffsetDateTime::now_utc();
    // The index read once (at 50,000 records each read costs about 0.15 s).
    let records = dir.read_index()?;
    let allowed_servers = crate::revocation::allowed_in(&records);
    let entries = crate::ca::list_records(records);
    let revocations = crate::revocation::read(&dir)?;
    let mut server_of: std::collections::HashMap<&str, &str> = Default::default();
    if !revocations.is_empty() {
        for e in &entries {
            server_of
                .entry(e.serial.as_str())
                .or_insert(e.server.as_str());
        }
    }
    let revoked: Vec<RevokedStatus> = revocations
        .into_iter()
        .map(|r| RevokedStatus {
            server: server_of
                .get(r.serial.as_str())
                .map(|s| s.to_string())
                .unwrap_or_default(),
            revocation: r,
        })
        .collect();
    drop(server_of);
    let servers = current_in(entries, within, now)?;
    let ok = !servers
        .iter()
        .any(|s| s.due || s.entry.status == CertStatus::Expired);
    let report = Report {
        ok,
        checked_at: crate::x509::rfc3339(now),
        servers,
        revoked,
        allowed_servers,
    };
    if cli.json {
        super::print_json(&report)?;
    } else {
        print_text(&report)?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_text(r: &Report) -> Result<()> {
    if r.servers.is_empty() {
        outln!("no certificates issued yet");
        return Ok(());
    }
    let w = r
        .servers
        .iter()
        .map(|s| s.entry.server.len())
        .max()
        .unwrap_or(6)
        .max(6);
    outln!(
        "{:<13} {:<4} {:<20} {:<20} {:<w$} SERIAL",
        "STATUS",
        "DUE",
        "NOT AFTER",
        "RENEW AFTER",
        "SERVER"
    );
    for s in &r.servers {
        outln!(
            "{:<13} {:<4} {:<20} {:<20} {:<w$} {}",
            s.entry.status.as_str(),
            if s.due { "yes" } else { "no" },
            crate::x509::rfc3339(s.entry.not_after),
            s.renew_after,
            s.entry.server,
            s.entry.serial
        );
    }
    for v in &r.revoked {
        outln!(
            "revoked {} serial {} at {} ({})",
            v.server,
            v.revocation.serial,
            v.revocation.revoked_at,
            v.revocation.reason
        );
    }
    if !r.revoked.is_empty() {
        outln!("allowed to federate: {}", r.allowed_servers.join(" "));
    }
    let due = r.servers.iter().filter(|s| s.due).count();
    let expired = r
        .servers
        .iter()
        .filter(|s| s.entry.status == CertStatus::Expired)
        .count();
    if r.ok {
        outln!("all current certificates valid, none due");
    } else {
        outln!("{due} due for renewal ({expired} expired): run `fedca renew --all`");
    }
    Ok(())
}
