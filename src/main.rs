//! The `fedca` command: parse arguments, call the library, map errors to exit codes
//! (0 success, 1 runtime failure, 2 bad input).
use std::process::ExitCode;

fn main() -> ExitCode {
    match fedca::cli::try_main() {
        Ok(code) => code,
        // The reader closed the pipe (`fedca list | head -1`): it has what it wanted.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fedca: error: {}", e.cli_message());
            ExitCode::from(e.exit_code())
        }
    }
}
