use super::Cli;
use crate::error::Result;
use std::process::ExitCode;
/// Sign a certificate signing request.
#[derive(Debug, clap::Args)]
pub struct Args {}
pub(super) fn run(_cli: &Cli, _a: &Args) -> Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
