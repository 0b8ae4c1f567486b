//! `fedca demo`: the main job on an embedded example federation.

use super::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Cli;
use crate::authority::{Constraints, InitOptions, Permit};
use crate::error::{Error, Result};
use crate::handshake;
use crate::issue::LeafRequest;
use crate::name::{onion_address_from_pubkey, Host, ServerName};
use crate::store::files;
use crate::Ca;

const EXAMPLES: &str = "\
Examples:
  fedca demo                    # in a temporary directory, removed afterwards
  fedca demo --keep ./demo-ca   # keep the CA directory to look at";

/// Build an example federation and prove it with real TLS handshakes.
///
/// Creates a name-constrained root, issues certificates for five homeservers (a DNS
/// name, an IPv4 literal with a port, an IPv6 literal, a v3 .onion name and a delegated
/// server), then runs a TLS 1.3 handshake over loopback for each one between a rustls
/// server presenting its fullchain.pem and a rustls client that trusts only the root,
/// plus one handshake that must fail (a wrong name).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Create the CA in this (new) directory and keep it.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// The embedded example: (server name, delegated server).
fn example(onion: &str) -> Vec<(String, Option<&'static str>)> {
    vec![
        ("hs1.fed.test".into(), None),
        ("127.0.0.1:8448".into(), None),
        ("[::1]:8448".into(), None),
        (onion.to_string(), None),
        ("hs2.fed.test".into(), Some("matrix.hs2.fed.test:8448")),
    ]
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let tmp;
    let dir = match &args.keep {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().map_err(|e| Error::io(&std::env::temp_dir(), e))?;
            tmp.path().join("ca")
        }
    };
    // A fixed ed25519 public key gives a stable, valid v3 onion address.
    let onion = onion_address_from_pubkey(&[0x42; 32]);
    let permits = ["fed.test", "127.0.0.0/8", "::1/128", "onion"]
        .iter()
        .map(|p| Permit::parse(p))
        .collect::<Result<Vec<_>>>()?;
    let opts = InitOptions {
        name: "fedca demo federation root".into(),
        permitted: Constraints(permits),
        ..InitOptions::default()
    };
    let (ca, _) = Ca::init(&dir, &opts)?;
    // A temporary CA is gone when the demo ends: name it only when it is kept.
    let kept = args.keep.as_ref().map(|_| dir.display().to_string());
    if !cli.json {
        match &kept {
            Some(d) => outln!(
                "root: {} (permits {})",
                std::path::Path::new(d).join(files::ROOT_CERT).display(),
                ca.authority().constraints()
            ),
            None => outln!(
                "root: a temporary CA, removed when the demo ends (--keep DIR keeps it); permits {}",
                ca.authority().constraints()
            ),
        }
    }
    let mut requests = Vec::new();
    for (name, delegate) in example(&onion) {
        let mut r = LeafRequest::new(ServerName::parse(&name)?);
        r.delegate = delegate.map(ServerName::parse).transpose()?;
        requests.push(r);
    }
    let issued = ca.issue(&requests, None)?;
    let roots = ca.authority().cert_pem().to_string();
    let mut failures = 0;
    let mut rows = Vec::new();
    // (label, server, name, detail) per line of the table.
    let mut lines: Vec<(&str, String, String, String)> = Vec::new();
    for i in &issued {
        let chain = read(&i.dir.join(files::FULLCHAIN))?;
        let key = read(&i.dir.join(files::KEY))?;
        for name in &i.record.names {
            let host = host_of(name)?;
            let outcome = handshake::loopback(&chain, &key, &roots, &host, None);
            let (ok, detail) = match &outcome {
                Ok(h) => (
                    true,
                    format!(
                        "{} {} sni={}",
                        h.protocol,
                        h.cipher_suite,
                        h.sni.as_deref().unwrap_or("-")
                    ),
                ),
                Err(e) => (false, e.to_string()),
            };
            failures += usize::from(!ok);
            rows.push(serde_json::json!({"server": i.record.server.to_string(), "name": name, "ok": ok, "detail": detail}));
            lines.push((
                if ok { "ok" } else { "FAIL" },
                short(&i.record.server.to_string()),
                short(name),
                detail,
            ));
        }
    }
    let succeeded = rows.len() - failures;
    // A certificate must not be accepted for another server's name.
    let first = &issued[0];
    let chain = read(&first.dir.join(files::FULLCHAIN))?;
    let key = read(&first.dir.join(files::KEY))?;
    let wrong = host_of("hs9.fed.test")?;
    let refused = handshake::loopback(&chain, &key, &roots, &wrong, None);
    let refused_ok = refused.is_err();
    failures += usize::from(!refused_ok);
    let refusal = refused
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| "accepted!".into());
    if cli.json {
        super::print_json(
            &serde_json::json!({"ca_dir": kept, "handshakes": rows, "wrong_name_refused": refused_ok, "refusal": refusal}),
        )?;
    } else {
        lines.push((
            if refused_ok {
                "refused as expected"
            } else {
                "FAIL"
            },
            short(&first.record.server.to_string()),
            "hs9.fed.test".into(),
            if refused_ok {
                refusal
            } else {
                "accepted for a name the certificate does not hold".into()
            },
        ));
        let w = |f: fn(&(&str, String, String, String)) -> usize| {
            lines.iter().map(f).max().unwrap_or(0)
        };
        let (w0, w1, w2) = (
            w(|l| l.0.chars().count()),
            w(|l| l.1.chars().count()),
            w(|l| l.2.chars().count()),
        );
        for (label, server, name, detail) in &lines {
            outln!("{label:<w0$}  {server:<w1$}  as {name:<w2$}  {detail}");
        }
        outln!(
            "{} handshakes: {} succeeded, {} refused as expected, {} failed",
            rows.len() + 1,
            succeeded,
            usize::from(refused_ok),
            failures
        );
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn short(s: &str) -> String {
    if s.len() > 28 {
        format!("{}…{}", &s[..12], &s[s.len() - 12..])
    } else {
        s.to_string()
    }
}

fn host_of(name: &str) -> Result<Host> {
    Ok(crate::name::AltName::parse(name).map(|a| match a {
        crate::name::AltName::Host(h) => h,
        crate::name::AltName::Wildcard(d) => Host::Dns(d),
    })?)
}

fn read(p: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(p).map_err(|e| Error::io(p, e))
}
