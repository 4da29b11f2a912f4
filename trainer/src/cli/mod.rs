//! The `ajuste` command line: parses arguments, runs a command, maps the outcome to an exit code.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
