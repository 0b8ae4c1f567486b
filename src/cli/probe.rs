//! `fedca probe`: check a live server the way a homeserver resolves and connects to it.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::{outln, Cli};
use crate::error::{Error, Result};
use crate::name::ServerName;
use crate::probe::{Check, Options, Pin, Report};
use crate::verify::TrustBundle;
use crate::CertStatus;

const EXAMPLES: &str = "\
Examples:
  fedca probe hs1.fed.test --ca-dir ./ca
  fedca probe 10.0.0.7:8448 --ca-dir ./ca --json
  fedca probe hs1.fed.test --trust roots.pem --dns 127.0.0.1:5353 \\
      --resolve matrix.hs1.fed.test:8448:127.0.0.3
  fedca probe --all --ca-dir ./ca --timeout 3

Exit status: 0 when federation to every probed server would work, 1 when it would not
(each failed check says why and what to do), 2 on bad input. The JSON fields are
documented in docs/json.md.";

/// Probe a live homeserver: resolve its server name as the Matrix specification says,
/// connect to every address with TLS against the federation's roots, and check its
/// federation and key endpoints.
///
/// Resolution follows the server-server specification's "Resolving server names": IP
/// literal, explicit port, https://<host>/.well-known/matrix/server (validated against
/// the private roots, redirects followed), SRV _matrix-fed._tcp then _matrix._tcp, then
/// A/AAAA on port 8448. The report names the step that decided and why earlier steps did
/// not, with the Host header and SNI a homeserver sends. Each address gets a TLS
/// handshake (no SNI for IP literals), the chain checked as `fedca verify` does, then
/// GET /_matrix/federation/v1/version and /_matrix/key/v2/server (server_name,
/// valid_until_ts, ed25519 keys, signatures over canonical JSON). The roots are --trust,
/// or the root of the CA directory.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The Matrix server name to probe (hs1.fed.test, 10.0.0.7:8448, [fd00::7]).
    #[arg(
        value_name = "SERVER_NAME",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    server: Option<String>,
    /// Probe every current, non-revoked server of the CA directory, concurrently.
    #[arg(long)]
    all: bool,
    /// PEM or DER file of the trusted roots (instead of the CA directory's root).
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
    /// Limit of each step (DNS query, TCP connect, TLS handshake, HTTP request), in
    /// seconds.
    #[arg(long, value_name = "SECONDS", default_value = "5")]
    timeout: String,
    /// Ask this DNS server (IP or IP:PORT, port 53 by default) instead of the system's.
    #[arg(long, value_name = "IP:PORT")]
    dns: Option<String>,
    /// Connect to ADDR whenever HOST:PORT is to be resolved (like curl's --resolve);
    /// repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<String>,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let timeout = parse_timeout(&args.timeout)?;
    let dns = args.dns.as_deref().map(parse_dns).transpose()?;
    let pins = args
        .resolve
        .iter()
        .map(|p| Pin::parse(p))
        .collect::<Result<Vec<_>>>()?;
    let names = match &args.server {
        Some(s) => vec![ServerName::parse(s)?],
        None => ca_servers(cli)?,
    };
    let roots = match &args.trust {
        Some(t) => TrustBundle::load(t)?,
        None => TrustBundle::from_ca_dir(&cli.ca_dir)?,
    };
    let opts = Options {
        roots,
        timeout,
        dns,
        pins,
    };
    let reports = crate::probe::probe_blocking(&names, &opts)?;
    let ok = reports.iter().all(|r| r.ok);
    if cli.json {
        if args.all {
            super::print_json(&reports)?;
        } else if let Some(r) = reports.first() {
            super::print_json(r)?;
        }
    } else if args.all {
        print_table(&reports)?;
    } else {
        for r in &reports {
            print_report(r)?;
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every server of the CA whose newest certificate is not revoked.
fn ca_servers(cli: &Cli) -> Result<Vec<ServerName>> {
    let dir = crate::store::CaDir::open(&cli.ca_dir)?;
    let mut names = Vec::new();
    for e in crate::list(&dir)? {
        if matches!(e.status, CertStatus::Revoked | CertStatus::Superseded) {
            continue;
        }
        let n = ServerName::parse(&e.server).map_err(|err| {
            Error::corrupt(&dir.path(crate::store::files::INDEX), err.to_string())
        })?;
        if !names.contains(&n) {
            names.push(n);
        }
    }
    if names.is_empty() {
        return Err(Error::invalid(
            crate::error::Field::All,
            cli.ca_dir.display().to_string(),
            "the CA directory holds no current server to probe",
        ));
    }
    Ok(names)
}

fn parse_timeout(text: &str) -> Result<Duration> {
    let secs: f64 = text.parse().map_err(|_| {
        Error::invalid(
            crate::error::Field::Timeout,
            text,
            "must be a number of seconds, e.g. 5 or 0.5",
        )
    })?;
    if !secs.is_finite() || secs <= 0.0 || secs > 600.0 {
        return Err(Error::invalid(
            crate::error::Field::Timeout,
            text,
            "must be more than 0 and at most 600 seconds",
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_dns(text: &str) -> Result<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        if a.port() == 0 {
            return Err(Error::invalid(
                crate::error::Field::Dns,
                text,
                "the port must be from 1 to 65535",
            ));
        }
        return Ok(a);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| {
            Error::invalid(
                crate::error::Field::Dns,
                text,
                "must be an IP address with an optional port: 127.0.0.1:5353, [::1]:53, 10.0.0.2",
            )
        })
}

struct Style {
    color: bool,
}

impl Style {
    fn new() -> Self {
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
    fn verdict(&self, ok: bool, text_ok: &str, text_bad: &str) -> String {
        match (self.color, ok) {
            (true, true) => format!("\x1b[32m{text_ok}\x1b[0m"),
            (true, false) => format!("\x1b[31m{text_bad}\x1b[0m"),
            (false, true) => text_ok.to_string(),
            (false, false) => text_bad.to_string(),
        }
    }
}

fn print_check(s: &Style, c: &Check) -> Result<()> {
    let v = s.verdict(c.ok, "ok  ", "FAIL");
    match &c.kind {
        Some(k) => outln!("  {v}  {:<18} {k}: {}", c.id, c.detail),
        None => outln!("  {v}  {:<18} {}", c.id, c.detail),
    }
    if let Some(f) = &c.fix {
        outln!("        {:<18} fix: {f}", "");
    }
    Ok(())
}

fn print_report(r: &Report) -> Result<()> {
    let s = Style::new();
    outln!(
        "{}: {}",
        r.server_name,
        s.verdict(r.ok, "federation would work", "federation would NOT work")
    );
    let res = &r.resolution;
    outln!("resolution (server-server spec, \"Resolving server names\"):");
    for st in &res.steps {
        let outcome = st.outcome.replace('_', " ");
        match &st.kind {
            Some(k) => outln!("  {:<26} {:<15} {k}: {}", st.step, outcome, st.detail),
            None => outln!("  {:<26} {:<15} {}", st.step, outcome, st.detail),
        }
    }
    if let Some(wk) = &res.well_known {
        for h in &wk.hops {
            outln!(
                "  .well-known: GET {} via {} (Host {}, SNI {}) -> {}{}",
                h.url,
                h.address
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".into()),
                h.host_header,
                h.sni.as_deref().unwrap_or("none"),
                h.status
                    .map(|c| format!("HTTP {c}"))
                    .unwrap_or_else(|| "no answer".into()),
                h.location
                    .as_deref()
                    .map(|l| format!(", Location {l}"))
                    .unwrap_or_default()
            );
        }
        if wk.status.is_some() {
            outln!(
                "  .well-known caching: Cache-Control {}, Expires {}",
                wk.cache_control.as_deref().unwrap_or("(none)"),
                wk.expires.as_deref().unwrap_or("(none)")
            );
        }
    }
    if let Some(step) = &res.decided_by {
        outln!(
            "  decided by {step}: Host {}, SNI {}, certificate must name {}",
            res.host_header.as_deref().unwrap_or("-"),
            res.sni.as_deref().unwrap_or("none (IP literal)"),
            res.certificate_name.as_deref().unwrap_or("-")
        );
    }
    for t in &res.targets {
        let addrs: Vec<String> = t.addresses.iter().map(|a| a.to_string()).collect();
        outln!(
            "  target {}:{} ({}): {}",
            t.host,
            t.port,
            t.source,
            if addrs.is_empty() {
                t.error.clone().unwrap_or_else(|| "no address".into())
            } else {
                addrs.join(", ")
            }
        );
    }
    for c in &r.checks {
        print_check(&s, c)?;
    }
    for a in &r.addresses {
        outln!(
            "address {} (target {}){}",
            a.address,
            a.target,
            a.server_software
                .as_deref()
                .map(|sw| format!(": {sw}"))
                .unwrap_or_default()
        );
        for c in &a.checks {
            print_check(&s, c)?;
        }
        if let Some(v) = &a.certificate {
            for w in &v.warnings {
                outln!("        warning: {w}");
            }
        }
    }
    Ok(())
}

fn print_table(reports: &[Report]) -> Result<()> {
    let s = Style::new();
    let width = reports
        .iter()
        .map(|r| r.server_name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    outln!(
        "{:<width$}  {:<4}  {:<22}  FIRST FAILURE",
        "SERVER",
        "OK",
        "DECIDED BY"
    );
    for r in reports {
        let first = r
            .failures()
            .first()
            .map(|c| format!("{} {}: {}", c.id, c.kind.as_deref().unwrap_or(""), c.detail))
            .unwrap_or_default();
        outln!(
            "{:<width$}  {}  {:<22}  {first}",
            r.server_name,
            s.verdict(r.ok, "ok  ", "FAIL"),
            r.resolution.decided_by.as_deref().unwrap_or("-")
        );
    }
    let bad = reports.iter().filter(|r| !r.ok).count();
    outln!(
        "{} of {} servers would federate; run `fedca probe NAME` on a failing one for the fix",
        reports.len() - bad,
        reports.len()
    );
    Ok(())
}
