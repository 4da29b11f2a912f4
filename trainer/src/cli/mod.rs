//! The `ajuste` command line: parses arguments, runs one command, maps the outcome to an exit code.
//!
//! Exit codes are a type ([`ExitStatus`]): 0 when all went well, 1 when the data has errors
//! (a validation finding of severity error), 2 when the tool could not do its job (usage, I/O).
//! Errors are printed once, here, with their chain of causes.

mod args;
mod commands;
mod io;
mod malloc;
mod progress;

use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;

/// What a command concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done; the data (if any) has no errors.
    Success,
    /// Done, but the data has errors (validation findings of severity error).
    Failure,
    /// The command could not run: bad usage, unreadable input, unwritable output.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::from(0),
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

/// Entry point of the `ajuste` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version on stdout with exit code 0, usage errors on stderr with 2.
            let _ = err.print();
            return if err.use_stderr() {
                ExitStatus::Error.into()
            } else {
                ExitStatus::Success.into()
            };
        }
    };
    match commands::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            if is_broken_pipe(&err) {
                // `ajuste data render x | head` is not a failure (same rule as ripgrep and ruff).
                return ExitStatus::Success.into();
            }
            report_error(&err);
            ExitStatus::Error.into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn report_error(err: &anyhow::Error) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {err}");
    for cause in err.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
}
