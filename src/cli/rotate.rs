//! `fedca rotate-root`: a new root, cross-signed by the old one during the overlap.

use super::outln;
use std::process::ExitCode;

use super::Cli;
use crate::authority;
use crate::error::Result;

const EXAMPLES: &str = "\
Examples:
  fedca rotate-root --ca-dir ./ca              # new root; root.pem lists both roots
  fedca trust --for synapse --server hs1.fed.test --ca-dir ./ca --out ./hs1-conf
  fedca renew --all --force --ca-dir ./ca      # leaves under the new root, cross-signed
  fedca rotate-root --finish --ca-dir ./ca     # retire the old root
  fedca renew --all --force --ca-dir ./ca      # fullchains without the cross-certificate

During the overlap, root.pem holds the new root and the old one (every `fedca trust`
output lists both), and each new fullchain.pem carries the cross-certificate, so a
client still trusting only the old root accepts leaves under the new one.";

/// Rotate the root: a new root and a cross-signed path from the old one.
///
/// Needs the root key (bring an offline one back with `fedca root import-key`).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Retire the old root: root.pem holds the new root alone, the cross-certificate
    /// is removed.
    #[arg(long)]
    finish: bool,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let dir = cli.ca();
    let r = if args.finish {
        authority::finish_root_rotation(&dir)?
    } else {
        let encrypted = std::fs::read_to_string(dir.path(crate::store::files::ROOT_KEY))
            .is_ok_and(|t| authority::is_encrypted_pem(&t));
        let pass = if encrypted {
            Some(super::read_passphrase(false)?)
        } else {
            None
        };
        authority::rotate_root(&dir, pass.as_ref())?
    };
    if cli.json {
        super::print_json(&r)?;
    } else if r.finished {
        outln!(
            "retired the old root {}; root.pem holds {} ({}) alone. Renew every server (`fedca renew --all --force`) and re-run `fedca trust` for every homeserver",
            r.old_root_sha256,
            r.new_root,
            r.new_root_sha256
        );
    } else {
        outln!(
            "new root {:?} (SHA-256 {}), cross-signed by the old root {}\n  root.pem now lists both: re-run `fedca trust` for every homeserver, renew every server, then `fedca rotate-root --finish`",
            r.new_root,
            r.new_root_sha256,
            r.old_root_sha256
        );
    }
    Ok(ExitCode::SUCCESS)
}
