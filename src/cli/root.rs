//! `fedca root`: take the root key offline and bring it back.

use super::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::Cli;
use crate::authority;
use crate::error::Result;

const EXAMPLES: &str = "\
Examples:
  fedca init --ca-dir ./ca --intermediate --permit fed.test
  fedca root export-key --to /media/offline/root-key.pem --ca-dir ./ca
  fedca root remove-key --ca-dir ./ca
  fedca root import-key /media/offline/root-key.pem --ca-dir ./ca

With the root key removed, the intermediate keeps issuing; what needs the root (a new
intermediate, a root rotation) says so and names `fedca root import-key`.";

/// Keep the root key offline: export it, remove it, import it back.
///
/// For CAs made with `fedca init --intermediate`, whose leaves the intermediate signs.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    command: RootCommand,
}

#[derive(Debug, clap::Subcommand)]
#[allow(clippy::enum_variant_names)] // the subcommands are export-key, remove-key, import-key
enum RootCommand {
    /// Copy the root key (as stored, encrypted if it is) to a new file (0600), and
    /// record the export so that `root remove-key` may remove it.
    ExportKey {
        /// The new file; an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Remove the root key from the CA directory. Refused for a CA without an
    /// intermediate, and, unless --force, until `root export-key` has copied this key.
    RemoveKey {
        /// Remove it even though no export of it is recorded.
        #[arg(long)]
        force: bool,
    },
    /// Put the root key back, after checking it is the key of root.pem (an encrypted
    /// key asks for its passphrase, or reads FEDCA_PASSPHRASE_FILE).
    ImportKey {
        /// The key file `root export-key` wrote.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Serialize)]
struct Report {
    action: &'static str,
    ca_dir: String,
    root_key_present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exported_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exported_sha256: Option<String>,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let dir = cli.ca();
    let ca_dir = cli.ca_dir.display().to_string();
    let report = match &args.command {
        RootCommand::ExportKey { to } => {
            let e = authority::export_root_key(&dir, to)?;
            Report {
                action: "export-key",
                ca_dir,
                root_key_present: true,
                exported_to: Some(e.to),
                exported_sha256: Some(e.sha256),
            }
        }
        RootCommand::RemoveKey { force } => {
            let e = authority::remove_root_key(&dir, *force)?;
            Report {
                action: "remove-key",
                ca_dir,
                root_key_present: false,
                exported_to: e.as_ref().map(|e| e.to.clone()),
                exported_sha256: e.map(|e| e.sha256),
            }
        }
        RootCommand::ImportKey { file } => {
            // Bounded read (a key file, not /dev/zero); unreadable files are refused
            // by import_root_key itself.
            let text = crate::store::read_input(file, crate::error::Field::KeyFile)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let pass = if authority::is_encrypted_pem(&text) {
                Some(super::read_passphrase(false)?)
            } else {
                None
            };
            authority::import_root_key(&dir, file, pass.as_ref())?;
            Report {
                action: "import-key",
                ca_dir,
                root_key_present: true,
                exported_to: None,
                exported_sha256: None,
            }
        }
    };
    if cli.json {
        return super::print_json(&report).map(|_| ExitCode::SUCCESS);
    }
    match report.action {
        "export-key" => outln!(
            "exported the root key to {} (SHA-256 {}); keep it offline, then run `fedca root remove-key`",
            report.exported_to.as_deref().unwrap_or(""),
            report.exported_sha256.as_deref().unwrap_or("")
        ),
        "remove-key" => outln!(
            "removed the root key from {}; the intermediate keeps issuing. Bring it back with `fedca root import-key FILE`{}",
            report.ca_dir,
            report
                .exported_to
                .as_deref()
                .map(|t| format!(" (exported to {t})"))
                .unwrap_or_default()
        ),
        _ => outln!("imported the root key into {}", report.ca_dir),
    }
    Ok(ExitCode::SUCCESS)
}
