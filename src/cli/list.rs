//! `fedca list`: every issued certificate.

use super::outln;
use std::process::ExitCode;

use super::Cli;
use crate::error::Result;

const EXAMPLES: &str = "\
Examples:
  fedca list --ca-dir ./ca
  fedca list --ca-dir ./ca --json | jq -r '.[] | select(.status == \"valid\") | .server'";

/// List every issued certificate: serial, names, expiry and status.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {}

pub(super) fn run(cli: &Cli, _args: &Args) -> Result<ExitCode> {
    let entries = crate::ca::list(&crate::store::CaDir::open(&cli.ca_dir)?)?;
    if cli.json {
        super::print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        outln!(
            "no certificates issued yet (fedca issue NAME --ca-dir {})",
            cli.ca_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let server_w = entries
        .iter()
        .map(|e| e.server.len())
        .max()
        .unwrap_or(6)
        .max(6);
    outln!(
        "{:<13} {:<20} {:<server_w$} {:<32} NAMES",
        "STATUS",
        "NOT AFTER",
        "SERVER",
        "SERIAL"
    );
    for e in &entries {
        outln!(
            "{:<13} {:<20} {:<server_w$} {:<32} {}",
            e.status.as_str(),
            crate::x509::rfc3339(e.not_after),
            e.server,
            e.serial,
            e.names.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}
