//! `fedca crl`: sign a certificate revocation list.

use super::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Cli;
use crate::error::{Error, Result};
use crate::store::{write_atomic, PUBLIC_MODE};
use crate::validity::Validity;

const EXAMPLES: &str = "\
Examples:
  fedca crl --ca-dir ./ca --out crl.pem
  fedca crl --ca-dir ./ca --next-update 1d --out /var/www/pki/fed.crl.pem
  openssl verify -crl_check -CRLfile crl.pem -CAfile ./ca/root.pem fullchain.pem
  fedca inspect crl.pem

The CRL is signed by the issuing CA, lists every revoked certificate with its reason
code, carries the next CRL number (kept in <ca-dir>/crl-number) and a nextUpdate of now
plus --next-update: publish a new one before then. Without --out the PEM goes to stdout.
Homeservers do not read CRLs on federation connections: see `fedca trust`.";

/// Sign a certificate revocation list (CRL) of every revoked certificate.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Write the CRL (PEM) here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Time until nextUpdate: a number and h, d, w or y, at most 366d (default 7d).
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    next_update: String,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let next = Validity::parse(&args.next_update).map_err(|e| match e {
        Error::InvalidValue { rule, .. } => {
            Error::invalid(crate::error::Field::NextUpdate, &args.next_update, rule)
        }
        other => other,
    })?;
    if next.duration() > time::Duration::days(366) {
        return Err(Error::invalid(
            crate::error::Field::NextUpdate,
            &args.next_update,
            "must be at most 366d: a CRL is meant to be re-signed and re-published regularly",
        ));
    }
    if let Some(o) = &args.out {
        if o.is_dir() {
            return Err(Error::invalid(
                crate::error::Field::OutputDir,
                o.display().to_string(),
                "is a directory; give a file name such as crl.pem",
            ));
        }
        let parent = match o.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(Error::invalid(
                crate::error::Field::OutputDir,
                o.display().to_string(),
                "its directory does not exist",
            ));
        }
    }
    let ca = cli.open_ca()?;
    let crl = crate::crl::generate(&ca, next.duration())?;
    if let Some(o) = &args.out {
        write_atomic(o, crl.pem.as_bytes(), PUBLIC_MODE)?;
    }
    if cli.json {
        super::print_json(&crl)?;
    } else if let Some(o) = &args.out {
        outln!(
            "CRL number {}  {} revoked  next update {}\n  -> {}",
            crl.crl_number,
            crl.revoked.len(),
            crl.next_update,
            o.display()
        );
    } else {
        use std::io::Write as _;
        std::io::stdout()
            .write_all(crl.pem.as_bytes())
            .map_err(|e| Error::io(std::path::Path::new("<stdout>"), e))?;
    }
    Ok(ExitCode::SUCCESS)
}
