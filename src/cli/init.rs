//! `fedca init`: create the CA.

use super::outln;
use std::process::ExitCode;

use serde::Serialize;

use super::Cli;
use crate::authority::{Constraints, InitOptions, KeyType, Permit};
use crate::error::{Field, Result};
use crate::validity::Validity;
use crate::Ca;

const EXAMPLES: &str = "\
Examples:
  fedca init --ca-dir ./ca --name \"Example Federation Root\" \\
      --permit fed.test --permit 10.0.0.0/8 --permit fd00::/8 --permit onion
  fedca init --ca-dir ./lab --key ed25519 --validity 2y --permit lab.test
  fedca init --ca-dir ./ca --force      # replace; the old CA is moved aside, not deleted
  fedca init --ca-dir ./ca --intermediate --permit fed.test   # root key can go offline
  FEDCA_PASSPHRASE_FILE=/run/secrets/fedca fedca init --ca-dir ./ca --encrypt --permit fed.test";

/// Create a private root CA, optionally name-constrained to the federation.
///
/// Writes the root certificate, its key (0600) and the CA's policy into a new
/// directory (0700). Without any --permit the root is unconstrained.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The root's name (its subject common name).
    #[arg(long, default_value = "fedca root")]
    name: String,
    /// Key type of the root, and the default for leaves.
    #[arg(long, default_value = "ecdsa-p256", value_parser = ["ecdsa-p256", "ecdsa-p384", "ed25519"])]
    key: String,
    /// The root's validity: a number and h, d, w or y.
    #[arg(long, default_value = "10y")]
    validity: String,
    /// The default validity of leaf certificates, at most 398 days.
    #[arg(long, default_value = "90d")]
    leaf_validity: String,
    /// Permit a DNS subtree (fed.test), an IPv4 or IPv6 range (10.0.0.0/8, fd00::/8), or
    /// `onion`; repeat for more. Leaves outside them are refused. Once anything is
    /// permitted, each name type (DNS, IPv4, IPv6) with nothing permitted is excluded
    /// in the root itself.
    #[arg(long, value_name = "SUBTREE")]
    permit: Vec<String>,
    /// Accept --permit 0.0.0.0/0 or ::/0, which let the root vouch for every IPv4 or
    /// IPv6 address (refused without this flag).
    #[arg(long)]
    allow_all_addresses: bool,
    /// Replace an existing CA (it is moved aside, not deleted).
    #[arg(long)]
    force: bool,
    /// Issue through an intermediate the root signs (path length 0, the root's name
    /// constraints), so the root key can be kept offline (`fedca root remove-key`).
    #[arg(long)]
    intermediate: bool,
    /// Encrypt the CA's keys (PKCS#8, PBES2 with PBKDF2-SHA256 and AES-256-CBC). The
    /// passphrase is the first line of the file FEDCA_PASSPHRASE_FILE names, or is
    /// asked for on the terminal; never on the command line.
    #[arg(long)]
    encrypt: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    ca_dir: String,
    name: &'a str,
    key_type: &'a str,
    not_after: String,
    permitted: Vec<String>,
    excluded: Vec<String>,
    root_sha256: String,
    replaced: Option<String>,
    intermediate_sha256: Option<String>,
    encrypted: bool,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let permits = args
        .permit
        .iter()
        .map(|p| Permit::parse(p))
        .collect::<Result<Vec<_>>>()?;
    let permitted = Constraints(permits);
    if !args.allow_all_addresses {
        if let Some(family) = permitted.whole_families().first() {
            let values: Vec<String> = family.iter().map(|p| p.to_string()).collect();
            let rule = if values.len() == 1 {
                "permits every address of its family"
            } else {
                "together permit every address of their family"
            };
            return Err(crate::Error::invalid(
                crate::error::Field::Permit,
                values.join(", "),
                format!("{rule}, which leaves that family unconstrained; give the federation's range, or add --allow-all-addresses if that is really meant"),
            ));
        }
    }
    let opts = InitOptions {
        name: args.name.clone(),
        key_type: args.key.parse::<KeyType>()?,
        validity: args
            .validity
            .parse::<Validity>()
            .map_err(|e| rename(e, Field::Validity))?,
        leaf_validity: crate::validity::parse_leaf(
            &args.leaf_validity,
            crate::error::Field::LeafValidity,
        )?,
        permitted,
        force: args.force,
        intermediate: args.intermediate,
        passphrase: if args.encrypt {
            Some(super::read_passphrase(true)?)
        } else {
            None
        },
    };
    let (ca, replaced) = Ca::init_in(cli.ca(), &opts)?;
    let a = ca.authority();
    let report = Report {
        ca_dir: cli.ca_dir.display().to_string(),
        name: &a.policy().name,
        key_type: a.policy().key_type.as_str(),
        not_after: crate::x509::rfc3339(a.not_after()),
        permitted: a.constraints().0.iter().map(ToString::to_string).collect(),
        excluded: a
            .constraints()
            .excluded()
            .iter()
            .map(ToString::to_string)
            .collect(),
        root_sha256: crate::x509::sha256_hex(a.cert_der()),
        replaced: replaced.as_ref().map(|p| p.display().to_string()),
        intermediate_sha256: a.chain_der().first().map(|d| crate::x509::sha256_hex(d)),
        encrypted: args.encrypt,
    };
    if a.constraints().is_empty() {
        eprintln!(
            "warning: no --permit given: this root is unconstrained and can vouch for any name; add --permit to limit it to your federation"
        );
    }
    if cli.json {
        super::print_json(&report)?;
    } else {
        outln!(
            "created CA {:?} in {} ({}, valid until {})",
            report.name,
            report.ca_dir,
            report.key_type,
            report.not_after
        );
        outln!("  permitted: {}", a.constraints());
        outln!("  excluded:  {}", a.constraints().excluded_text());
        outln!("  root SHA-256: {}", report.root_sha256);
        if let Some(i) = &report.intermediate_sha256 {
            outln!("  intermediate SHA-256: {i} (issues the leaves; the root key can go offline: `fedca root export-key --to FILE`, then `fedca root remove-key`)");
        }
        if report.encrypted {
            outln!("  the CA keys are encrypted; signing asks for the passphrase (or reads FEDCA_PASSPHRASE_FILE)");
        }
        if let Some(r) = &report.replaced {
            outln!("  the previous CA was moved to {r}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rename(e: crate::Error, option: Field) -> crate::Error {
    match e {
        crate::Error::InvalidValue { value, rule, .. } => {
            crate::Error::invalid(option, value, rule)
        }
        other => other,
    }
}
