//! The `fedca` command: parse arguments, call the library, map errors to exit codes
//! (0 success, 1 runtime failure, 2 bad input).
use std::process::ExitCode;

fn main() -> ExitCode {
    match fedca::cli::try_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fedca: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
