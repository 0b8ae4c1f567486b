//! `fedca verify`: check a chain the way a rustls federation client does, and say why not.

use super::outln;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use rustls::pki_types::UnixTime;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::Cli;
use crate::error::{Error, Result};
use crate::name::{Host, ServerName};
use crate::verify::{TrustBundle, Verdict};

const EXAMPLES: &str = "\
Examples:
  fedca verify --name hs1.fed.test --trust ca.pem fullchain.pem
  fedca verify --name 10.0.0.7:8448 --ca-dir ./ca fullchain.pem
  fedca verify --name '[fd00::7]:8448' --trust ca.pem fullchain.pem --at 2027-01-01T00:00:00Z --json

Exit status: 0 valid, 1 invalid (the diagnosis says why), 2 bad input (an unreadable file,
a malformed name or time). With --json the output is
  {\"valid\", \"name\", \"at\", \"chain\": [...], \"error\": {\"kind\", \"detail\"} | null, \"warnings\": [...]}
with kind one of unknown_issuer, missing_intermediate, expired, not_yet_valid,
expired_intermediate, name_mismatch, no_san, name_constraint_violation, wrong_eku,
wrong_key_usage, ca_as_leaf, intermediate_not_ca, chain_loop, path_length_exceeded, bad_signature,
unsupported_signature_algorithm, malformed, other.";

/// Verify a certificate chain for a Matrix server name, as a federation client would.
///
/// The verdict comes from rustls's WebPkiServerVerifier (ring provider) — the code path of
/// a rustls federation client — for the host the server name maps to (the port is
/// dropped; IP literals are checked as IP addresses). A refusal is explained in one line:
/// which rule failed and what to do. The roots are --trust, or the root of the CA
/// directory (--ca-dir, default ./fedca-ca) when --trust is not given.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The chain the server serves: PEM (leaf first, then intermediates) or one DER
    /// certificate.
    #[arg(value_name = "CHAIN")]
    chain: PathBuf,
    /// The Matrix server name (or delegated host) the certificate must be valid for:
    /// hs1.fed.test, 10.0.0.7:8448, [fd00::7] (a bare IPv6 address is accepted too).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// PEM or DER file of the trusted roots. When given, it is used instead of the CA
    /// directory's root (even when --ca-dir or FEDCA_CA_DIR is set).
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
    /// Verify at this time (RFC 3339, e.g. 2027-01-01T00:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let host = parse_host(&args.name)?;
    let at = args.at.as_deref().map(parse_at).transpose()?;
    let bundle = match &args.trust {
        Some(t) => TrustBundle::load(t)?,
        None => TrustBundle::from_ca_dir(&cli.ca_dir)?,
    };
    let chain = crate::store::read_input(&args.chain, crate::error::Field::ChainFile)?;
    let verdict = bundle.verifier()?.verify_pem(&chain, &host, at);
    if cli.json {
        super::print_json(&verdict)?;
    } else {
        print_text(&verdict, &args.chain)?;
    }
    Ok(if verdict.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A server name (with or without port), or a bare IPv6 address.
fn parse_host(text: &str) -> Result<Host> {
    match ServerName::parse(text) {
        Ok(n) => Ok(n.host().clone()),
        Err(e) => match text.parse::<std::net::Ipv6Addr>() {
            Ok(a) => Ok(Host::Ipv6(a)),
            Err(_) => Err(e.into()),
        },
    }
}

fn parse_at(text: &str) -> Result<UnixTime> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        Error::invalid(
            crate::error::Field::VerifyTime,
            text,
            format!("is not an RFC 3339 time like 2027-01-01T00:00:00Z ({e})"),
        )
    })?;
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| Error::invalid(crate::error::Field::VerifyTime, text, "is before 1970"))?;
    Ok(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        secs,
    )))
}

fn print_text(v: &Verdict, chain: &std::path::Path) -> Result<()> {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (ok, bad) = if color {
        ("\x1b[32mvalid\x1b[0m", "\x1b[31minvalid\x1b[0m")
    } else {
        ("valid", "invalid")
    };
    match &v.error {
        None => outln!(
            "{ok}: {} is valid for {} at {} (rustls/webpki)",
            chain.display(),
            v.name,
            v.at
        ),
        Some(d) => outln!(
            "{bad}: {} for {}: {}: {}",
            chain.display(),
            v.name,
            d.kind,
            d.detail
        ),
    }
    for w in &v.warnings {
        outln!("warning: {w}");
    }
    for (i, c) in v.chain.iter().enumerate() {
        let names = if c.names.is_empty() {
            String::new()
        } else {
            format!("  names {}", c.names.join(","))
        };
        outln!(
            "  [{i}] {}  issuer {}  {} .. {}  {}{}{}",
            c.subject,
            c.issuer,
            c.not_before,
            c.not_after,
            c.key,
            if c.ca { "  CA" } else { "" },
            names
        );
    }
    Ok(())
}
