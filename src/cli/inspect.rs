//! `fedca inspect`: show what a certificate, key, CSR or CRL file holds, and lint it.

use super::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::Cli;
use crate::error::Result;
use crate::inspect::{self, CertInfo, Object};

const EXAMPLES: &str = "\
Examples:
  fedca inspect fullchain.pem
  fedca inspect --json cert.der | jq '.objects[0].names'
  fedca inspect --lint ./ca/servers/hs1.fed.test/cert.pem
  fedca inspect key.pem          # type and size only; key material is never shown

Exit status: 0, or 1 when --lint finds a broken rule; 2 when the file cannot be read or
holds nothing fedca recognises.";

/// Show every certificate, key, CSR or CRL in a PEM or DER file.
///
/// For each certificate: subject, issuer, serial, validity with the time left, names,
/// key type and size, signature algorithm, basic constraints, key usage, extended key
/// usage, name constraints, key identifiers and the SHA-256 fingerprint. --lint checks
/// each certificate against the rules a federation certificate must meet (the same
/// rules fedca applies before it writes any certificate).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The file: PEM (any number of blocks) or DER.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Check every certificate against fedca's lint rules; exit 1 if one fails.
    #[arg(long)]
    lint: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    file: String,
    objects: &'a [Object],
    #[serde(skip_serializing_if = "Option::is_none")]
    lint_ok: Option<bool>,
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mut objects = inspect::inspect_file(&args.file)?;
    let mut failed = false;
    if args.lint {
        let blocks = crate::store::read_input(&args.file, crate::error::Field::InputFile)
            .ok()
            .and_then(|b| crate::x509::pem_blocks(&b).ok())
            .unwrap_or_default();
        let mut ders = blocks.iter().filter(|b| {
            matches!(
                b.tag.as_str(),
                "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" | "DER"
            )
        });
        for o in &mut objects {
            if let Object::Certificate(c) = o {
                if let Some(b) = ders.next() {
                    let findings = inspect::lint_certificate(&b.der);
                    failed |= !findings.is_empty();
                    c.lint = Some(findings);
                }
            }
        }
    }
    if cli.json {
        super::print_json(&Report {
            file: args.file.display().to_string(),
            objects: &objects,
            lint_ok: args.lint.then_some(!failed),
        })?;
    } else {
        print_text(&objects)?;
        if args.lint {
            outln!(
                "lint: {}",
                if failed {
                    "FAILED (see the findings above)"
                } else {
                    "ok"
                }
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_text(objects: &[Object]) -> Result<()> {
    let total_certs = objects
        .iter()
        .filter(|o| matches!(o, Object::Certificate(_)))
        .count();
    let mut n = 0;
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        match o {
            Object::Certificate(c) => {
                n += 1;
                outln!("certificate {n} of {total_certs}");
                print_cert(c)?;
            }
            Object::PrivateKey(k) => {
                outln!("private key ({})", k.format);
                match &k.key {
                    Some(d) => outln!("  key:                 {d}"),
                    None => outln!("  key:                 encrypted (type not visible without the passphrase)"),
                }
            }
            Object::PublicKey(k) => {
                outln!("public key");
                outln!("  key:                 {k}");
            }
            Object::Csr(r) => {
                outln!("certificate signing request");
                outln!("  subject:             {}", r.subject);
                outln!("  names:               {}", list(&r.names));
                outln!("  key:                 {}", r.key);
                outln!("  signature algorithm: {}", r.signature_algorithm);
                outln!(
                    "  signature:           {}",
                    if r.signature_valid {
                        "valid"
                    } else {
                        "INVALID"
                    }
                );
            }
            Object::Crl(r) => {
                outln!("certificate revocation list");
                outln!("  issuer:              {}", r.issuer);
                outln!("  this update:         {}", r.this_update);
                outln!(
                    "  next update:         {}",
                    r.next_update.as_deref().unwrap_or("-")
                );
                outln!(
                    "  CRL number:          {}",
                    r.crl_number.as_deref().unwrap_or("-")
                );
                outln!("  signature algorithm: {}", r.signature_algorithm);
                outln!("  revoked:             {}", list(&r.revoked));
            }
        }
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

fn print_cert(c: &CertInfo) -> Result<()> {
    outln!("  subject:             {}", c.subject);
    outln!(
        "  issuer:              {}{}",
        c.issuer,
        if c.self_issued { " (self-issued)" } else { "" }
    );
    outln!("  serial:              {}", c.serial);
    outln!(
        "  validity:            {} to {} ({})",
        c.not_before,
        c.not_after,
        c.time_left
    );
    outln!("  names:               {}", list(&c.names));
    outln!("  key:                 {}", c.key);
    outln!("  signature algorithm: {}", c.signature_algorithm);
    match &c.basic_constraints {
        Some(b) => outln!(
            "  basic constraints:   CA:{}{}{}",
            if b.ca { "TRUE" } else { "FALSE" },
            b.path_len
                .map(|p| format!(", pathlen:{p}"))
                .unwrap_or_default(),
            if b.critical { " (critical)" } else { "" }
        ),
        None => outln!("  basic constraints:   -"),
    }
    outln!(
        "  key usage:           {}",
        c.key_usage.as_deref().map_or("-".into(), list)
    );
    outln!(
        "  extended key usage:  {}",
        c.extended_key_usage.as_deref().map_or("-".into(), list)
    );
    if let Some(nc) = &c.name_constraints {
        outln!("  name constraints:    permitted {}", list(&nc.permitted));
        if !nc.excluded.is_empty() {
            outln!("                       excluded {}", list(&nc.excluded));
        }
    }
    outln!(
        "  authority key id:    {}",
        c.authority_key_id.as_deref().unwrap_or("-")
    );
    outln!(
        "  subject key id:      {}",
        c.subject_key_id.as_deref().unwrap_or("-")
    );
    outln!("  sha256:              {}", c.sha256);
    if let Some(findings) = &c.lint {
        if findings.is_empty() {
            outln!("  lint:                ok");
        }
        for f in findings {
            outln!("  lint:                FAIL {f}");
        }
    }
    Ok(())
}
