//! `fedca revoke`: record a certificate as revoked.

use super::outln;
use std::process::ExitCode;

use super::Cli;
use crate::error::Result;
use crate::revocation::{self, Reason};

const EXAMPLES: &str = "\
Examples:
  fedca revoke hs3.fed.test --reason key-compromise --ca-dir ./ca
  fedca revoke 4cb2b05fe0e07259cb7c4badd01c4fd5 --reason superseded --ca-dir ./ca
  fedca crl --ca-dir ./ca --out crl.pem        # publish the new list
  fedca trust --for synapse --server hs1.fed.test --ca-dir ./ca --out ./hs1-conf
                                               # shut the server out where homeservers look

NAME revokes every certificate of that server that has not expired (the current one and
any superseded one still valid); SERIAL revokes one certificate. The revocation is
appended to revocations.jsonl; the index is not rewritten. Re-issuing a revoked server
with `fedca issue NAME` is allowed (and says so). Exit status: 0 revoked (or already
revoked), 2 an unknown name or serial or reason (nothing written).";

/// Revoke a server's certificates (by server name) or one certificate (by serial).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// A server name (every unexpired certificate of it) or a serial (hex, as `list` prints).
    #[arg(value_name = "NAME|SERIAL")]
    target: String,
    /// Why (RFC 5280 reason): unspecified, key-compromise, affiliation-changed, superseded,
    /// cessation-of-operation, privilege-withdrawn.
    #[arg(long, default_value = "unspecified", value_name = "REASON")]
    reason: String,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let reason: Reason = args.reason.parse()?;
    let dir =
        crate::store::CaDir::open(&cli.ca_dir)?.insecure_permissions(cli.insecure_permissions);
    let out = revocation::revoke(&dir, &args.target, reason)?;
    if cli.json {
        super::print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for r in &out.revoked {
        outln!(
            "revoked {}  serial {}  reason {}  at {}",
            out.server,
            r.serial,
            r.reason,
            r.revoked_at
        );
    }
    for s in &out.already_revoked {
        outln!("{}  serial {s} was already revoked", out.server);
    }
    if !out.revoked.is_empty() {
        outln!(
            "next: publish a new CRL (fedca crl --out crl.pem) and re-run `fedca trust` on the other servers"
        );
    }
    Ok(ExitCode::SUCCESS)
}
