//! `fedca apply`: a whole federation from one spec.

use super::outln;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Cli;
use crate::error::Result;
use crate::network::{self, Action, Progress, Spec};

const EXAMPLES: &str = "\
Examples:
  fedca apply examples/lab.yaml
  fedca apply examples/lab.yaml --dry-run
  fedca apply federation.yaml --json | jq '.plan.steps[] | select(.action != \"unchanged\")'

The spec names the federation's servers (name, delegation, extra names, implementation,
bundle directory) and, optionally, the CA's settings; see docs/network-spec.md.
Relative paths are relative to the spec; by default the CA goes to <spec>.fedca/ca and
each server's bundle to <spec>.fedca/bundles/<dir-name>/ (certificate and key in tls/).
Creates the CA if missing, issues what is missing, renews what is in its renewal window,
re-issues what changed, and writes only the files that differ: a second run with no
change writes nothing. --ca-dir is ignored: the spec says where its CA is.";

/// Create or update a whole federation from a spec file.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The network spec (YAML).
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// Print the plan (create, renew, reissue, revoke, unchanged, with a reason each)
    /// and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// An indicatif progress bar on stderr.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, phase: &str, total: u64) {
        self.0.reset();
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(phase.to_string());
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

pub(super) fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let spec = Spec::load(&args.spec)?;
    let dir = crate::store::CaDir::at(&spec.ca_dir)
        .insecure_permissions(cli.insecure_permissions)
        .lock_timeout(super::lock_timeout());
    if args.dry_run {
        let plan = network::plan(&spec, &dir)?;
        if cli.json {
            super::print_json(&serde_json::json!({ "dry_run": true, "plan": plan }))?;
        } else {
            if plan.create_ca {
                outln!(
                    "would create the CA in {} (permitted: {})",
                    plan.ca_dir,
                    plan.constraints
                );
            }
            for s in &plan.steps {
                outln!("{:<9} {}  ({})", s.action.to_string(), s.server, s.reason);
            }
            outln!("dry run: nothing changed");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = if std::io::stderr().is_terminal() && !cli.json {
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        network::apply(&spec, dir, &Bar(bar))?
    } else {
        network::apply(&spec, dir, &network::NoProgress)?
    };
    if cli.json {
        super::print_json(&outcome)?;
        return Ok(ExitCode::SUCCESS);
    }
    if outcome.plan.create_ca {
        outln!(
            "created the CA in {} (permitted: {})",
            outcome.plan.ca_dir,
            outcome.plan.constraints
        );
    }
    let mut unchanged = 0;
    for s in &outcome.plan.steps {
        if s.action == Action::Unchanged {
            unchanged += 1;
            continue;
        }
        outln!("{:<9} {}  ({})", s.action.to_string(), s.server, s.reason);
    }
    outln!(
        "{} certificate(s) issued, {} bundle file(s) written, {} server(s) unchanged",
        outcome.issued,
        outcome.files_written,
        unchanged
    );
    if outcome.revoked > 0 {
        outln!(
            "{} certificate(s) revoked (servers that left the spec); next: publish a new CRL (fedca crl --ca-dir {} --out crl.pem)",
            outcome.revoked,
            outcome.plan.ca_dir
        );
    }
    for n in &outcome.notes {
        // A note naming every server of a large federation is cut (--json has it all),
        // as printed: its field mentions named by their options first.
        let n = crate::error::cli_text(n);
        match n.char_indices().nth(400) {
            Some((i, _)) => outln!("note: {}… (cut; --json prints it whole)", &n[..i]),
            None => outln!("note: {n}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
