//! The command line: clap definitions here, one file per command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{Field, Result};

mod apply;
mod crl;
mod demo;
mod init;
mod inspect;
mod issue;
mod list;
mod probe;
mod renew;
mod revoke;
mod root;
mod rotate;
mod sign_csr;
mod status;
mod trust;
mod verify;

const EXAMPLES: &str = "\
Examples:
  fedca init --ca-dir ./ca --name \"Example Federation Root\" \\
      --permit fed.test --permit 10.0.0.0/8 --permit fd00::/8 --permit onion
  fedca issue hs1.fed.test --ca-dir ./ca
  fedca issue 10.0.0.7:8448 '[fd00::7]' --ca-dir ./ca
  fedca issue hs2.fed.test --delegate matrix.hs2.fed.test:443 --ca-dir ./ca
  fedca list --ca-dir ./ca --json
  fedca status --ca-dir ./ca
  fedca renew --all --deploy-hook 'systemctl restart matrix-synapse' --ca-dir ./ca
  fedca revoke hs3.fed.test --reason key-compromise --ca-dir ./ca
  fedca crl --ca-dir ./ca --out crl.pem
  fedca trust --for synapse --server hs1.fed.test --ca-dir ./ca --out ./hs1-conf
  fedca verify --name hs1.fed.test --trust ./ca/root.pem fullchain.pem
  fedca inspect --lint fullchain.pem
  fedca apply examples/lab.yaml
  fedca probe hs1.fed.test --ca-dir ./ca
  fedca init --ca-dir ./ca --intermediate --encrypt --permit fed.test
  fedca root export-key --to /media/offline/root-key.pem --ca-dir ./ca
  fedca root remove-key --ca-dir ./ca
  fedca sign-csr request.pem --server hs9.fed.test --ca-dir ./ca
  fedca demo";

/// fedca: a private certificate authority for closed Matrix federations.
///
/// Creates a private root, issues each homeserver a certificate for its Matrix server
/// name (DNS names, IPv4 and IPv6 literals, v3 .onion names, delegated hosts) and keeps
/// everything in one CA directory.
#[derive(Debug, Parser)]
#[command(name = "fedca", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// The CA directory.
    #[arg(
        long,
        global = true,
        env = "FEDCA_CA_DIR",
        default_value = "./fedca-ca",
        value_name = "DIR"
    )]
    pub ca_dir: PathBuf,

    /// Print JSON (stable field names) instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Use a root key readable by group or others, or a CA directory writable by them,
    /// instead of refusing (as ssh refuses such private keys).
    #[arg(long, global = true)]
    pub insecure_permissions: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::Args),
    Apply(apply::Args),
    Issue(issue::Args),
    List(list::Args),
    Trust(trust::Args),
    Verify(verify::Args),
    Inspect(inspect::Args),
    Probe(probe::Args),
    Demo(demo::Args),
    SignCsr(sign_csr::Args),
    Root(root::Args),
    RotateRoot(rotate::Args),
    Status(status::Args),
    Renew(renew::Args),
    Revoke(revoke::Args),
    Crl(crl::Args),
}

impl Cli {
    /// The CA directory, with the permission checks the command line asked for.
    pub(crate) fn ca(&self) -> crate::store::CaDir {
        crate::store::CaDir::at(&self.ca_dir)
            .insecure_permissions(self.insecure_permissions)
            .lock_timeout(lock_timeout())
    }

    /// Opens the CA to sign with, asking for the passphrase when its signing key is
    /// encrypted (`FEDCA_PASSPHRASE_FILE`, else a terminal prompt).
    pub(crate) fn open_ca(&self) -> Result<crate::Ca> {
        let dir = self.ca();
        let pass = if dir.exists() && crate::Authority::needs_passphrase(&dir)? {
            Some(read_passphrase(false)?)
        } else {
            None
        };
        crate::Ca::open_with(dir, pass.as_ref())
    }
}

/// The passphrase of the CA's keys: the first line of the file `FEDCA_PASSPHRASE_FILE`
/// names (as `openssl -passin file:` reads it), else typed on the terminal without echo
/// (twice with `confirm`). Never a command-line argument: those are visible to every
/// user in `ps`.
pub(crate) fn read_passphrase(confirm: bool) -> Result<crate::authority::Passphrase> {
    use crate::authority::Passphrase;
    if let Some(path) = std::env::var_os("FEDCA_PASSPHRASE_FILE") {
        let path = PathBuf::from(path);
        let bytes = crate::store::read_input(&path, Field::Other("FEDCA_PASSPHRASE_FILE".into()))?;
        let line = bytes.split(|b| *b == b'\n').next().unwrap_or(&[]);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        return Passphrase::new(line.to_vec()).map_err(|_| {
            crate::Error::invalid(
                Field::Other("FEDCA_PASSPHRASE_FILE".into()),
                path.display().to_string(),
                "has an empty first line; the passphrase is the file's first line",
            )
        });
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(crate::Error::invalid(
            crate::error::Field::Passphrase,
            "",
            "is needed (the CA keys are encrypted) and there is no terminal to ask on; set FEDCA_PASSPHRASE_FILE to a file holding it",
        ));
    }
    let io = |e| crate::Error::Io {
        path: PathBuf::from("<terminal>"),
        source: e,
    };
    let first = rpassword::prompt_password("Passphrase for the CA keys: ").map_err(io)?;
    if confirm {
        let again = rpassword::prompt_password("Repeat the passphrase: ").map_err(io)?;
        if again != first {
            return Err(crate::Error::invalid(
                crate::error::Field::Passphrase,
                "",
                "the two entries differ; nothing was written",
            ));
        }
    }
    Passphrase::new(first.into_bytes())
}

/// `FEDCA_LOCK_TIMEOUT` (seconds; default 60): how long a command waits for the CA's
/// lock. The library takes it as a parameter; only the command line reads it.
pub(crate) fn lock_timeout() -> std::time::Duration {
    std::env::var("FEDCA_LOCK_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(crate::store::DEFAULT_LOCK_TIMEOUT)
}

/// Parses the command line and runs the command; `main` maps the error to an exit code.
pub fn try_main() -> Result<ExitCode> {
    crate::store::set_default_lock_timeout(lock_timeout());
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Init(a) => init::run(&cli, a),
        Command::Apply(a) => apply::run(&cli, a),
        Command::Issue(a) => issue::run(&cli, a),
        Command::List(a) => list::run(&cli, a),
        Command::Trust(a) => trust::run(&cli, a),
        Command::Verify(a) => verify::run(&cli, a),
        Command::Inspect(a) => inspect::run(&cli, a),
        Command::Probe(a) => probe::run(&cli, a),
        Command::SignCsr(a) => sign_csr::run(&cli, a),
        Command::Root(a) => root::run(&cli, a),
        Command::RotateRoot(a) => rotate::run(&cli, a),
        Command::Demo(a) => demo::run(&cli, a),
        Command::Status(a) => status::run(&cli, a),
        Command::Renew(a) => renew::run(&cli, a),
        Command::Revoke(a) => revoke::run(&cli, a),
        Command::Crl(a) => crl::run(&cli, a),
    };
    // What the command printed is written out on every path, errors included (a
    // closed pipe surfaces here as a broken-pipe error, which `main` treats as success).
    let flushed = out_flush();
    let code = result?;
    flushed?;
    Ok(code)
}

/// `println!` that returns an error instead of panicking when stdout is closed, and
/// names the library's field mentions by their options ([`crate::error::cli_text`]) and
/// writes through [`out_line`]'s buffer.
macro_rules! outln {
    () => {{
        crate::cli::out_line(format_args!(""))?;
    }};
    ($($arg:tt)*) => {{
        crate::cli::out_line(format_args!($($arg)*))?;
    }};
}
pub(crate) use outln;

/// Standard output, buffered: one `write` per 64 KiB instead of one per line (`status`
/// at 50,000 records made 50,002 `write` calls). On a terminal every line is flushed
/// as it is printed, as before. [`try_main`] flushes it before returning, whatever the
/// command's result; [`out_flush`] flushes it earlier (before running a child that
/// shares stdout).
struct Out {
    w: std::io::BufWriter<std::io::Stdout>,
    line_flush: bool,
}

static OUT: std::sync::Mutex<Option<Out>> = std::sync::Mutex::new(None);

fn stdout_error(e: std::io::Error) -> crate::Error {
    crate::Error::Io {
        path: PathBuf::from("<stdout>"),
        source: e,
    }
}

/// Writes one line to the buffered standard output.
pub(crate) fn out_line(args: std::fmt::Arguments<'_>) -> Result<()> {
    use std::io::{IsTerminal, Write};
    let mut out = OUT.lock().unwrap_or_else(|e| e.into_inner());
    let out = out.get_or_insert_with(|| {
        let stdout = std::io::stdout();
        Out {
            line_flush: stdout.is_terminal(),
            w: std::io::BufWriter::with_capacity(64 * 1024, stdout),
        }
    });
    // Field mentions are named by their options: the library speaks fields.
    let text = std::fmt::format(args);
    let line = crate::error::cli_text(&text);
    out.w
        .write_all(line.as_bytes())
        .and_then(|()| out.w.write_all(b"\n"))
        .and_then(|()| {
            if out.line_flush {
                out.w.flush()
            } else {
                Ok(())
            }
        })
        .map_err(stdout_error)
}

/// Writes out what [`out_line`] buffered.
pub(crate) fn out_flush() -> Result<()> {
    use std::io::Write;
    let mut out = OUT.lock().unwrap_or_else(|e| e.into_inner());
    match out.as_mut() {
        Some(o) => o.w.flush().map_err(stdout_error),
        None => Ok(()),
    }
}

/// Prints a value as pretty JSON on stdout. Strings carry the library's field mentions named by their options, as on the
/// human output (`outln!` renders them; JSON leaves their characters unescaped).
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::Error::Internal(format!("encoding JSON: {e}")))?;
    outln!("{text}");
    Ok(())
}
