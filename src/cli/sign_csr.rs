//! `fedca sign-csr`: a certificate for a key the server keeps.

use super::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Cli;
use crate::csr::{Csr, CsrOptions};
use crate::error::Result;
use crate::name::{AltName, ServerName};
use crate::validity;

const EXAMPLES: &str = "\
Examples:
  openssl req -new -newkey rsa:3072 -nodes -keyout key.pem -out request.pem \\
      -subj /CN=hs9.fed.test -addext subjectAltName=DNS:hs9.fed.test
  fedca sign-csr request.pem --ca-dir ./ca
  fedca sign-csr request.pem --server hs9.fed.test --delegate matrix.hs9.fed.test:443 \\
      --validity 30d --out /etc/matrix-tls --ca-dir ./ca

Writes cert.pem, fullchain.pem and ca.pem (no key.pem: the server keeps its key) into
<ca-dir>/servers/<dir-name>/ or <out>/<dir-name>/. The certificate gets fedca's leaf
profile whatever the CSR asks for (a CSR asking for CA:TRUE gets CA:FALSE).";

/// Sign a certificate signing request (the server keeps its private key).
///
/// The CSR's signature must verify, its key must be ECDSA P-256/P-384, Ed25519 or RSA
/// of 2048 bits or more, and its names (subjectAltNames; the common name when it has
/// none) valid Matrix names inside the CA's name constraints.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The CSR, PEM or DER.
    #[arg(value_name = "REQUEST")]
    csr: PathBuf,
    /// The Matrix server name (default: the CSR's first subjectAltName, else its CN).
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// The delegated server (`m.server` in .well-known/matrix/server).
    #[arg(long, value_name = "HOST[:PORT]")]
    delegate: Option<String>,
    /// An extra DNS name, wildcard or IP address; repeatable.
    #[arg(long, value_name = "NAME")]
    alt: Vec<String>,
    /// Validity: a number and h, d, w or y, at most 398 days (default: the CA's).
    #[arg(long)]
    validity: Option<String>,
    /// Write the server's files under this directory instead of the CA's servers/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let opts = CsrOptions {
        server: args.server.as_deref().map(ServerName::parse).transpose()?,
        delegate: args
            .delegate
            .as_deref()
            .map(ServerName::parse)
            .transpose()?,
        alts: args
            .alt
            .iter()
            .map(|a| AltName::parse(a))
            .collect::<std::result::Result<Vec<_>, _>>()?,
        validity: args
            .validity
            .as_deref()
            .map(|v| validity::parse_leaf(v, crate::error::Field::Validity))
            .transpose()?,
    };
    let bytes = crate::store::read_input(&args.csr, crate::error::Field::Csr)?;
    let csr = Csr::parse(&bytes, &args.csr.display().to_string())?;
    let ca = cli.open_ca()?;
    let issued = ca.sign_csr(&csr, &opts, args.out.as_deref())?;
    if cli.json {
        super::print_json(&issued.record)?;
    } else {
        outln!(
            "signed {}  names {}  key {}  valid until {}  serial {}\n  -> {} (cert.pem, fullchain.pem, ca.pem; the key stays with the server)",
            issued.record.server,
            issued.record.names.join(","),
            issued.record.key_type,
            crate::x509::rfc3339(issued.record.not_after),
            issued.record.serial,
            issued.dir.display()
        );
    }
    if issued.clamped {
        eprintln!(
            "warning: {}: validity cut to the CA's own expiry ({})",
            issued.record.server,
            crate::x509::rfc3339(issued.record.not_after)
        );
    }
    Ok(ExitCode::SUCCESS)
}
