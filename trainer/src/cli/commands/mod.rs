//! One module per command; `run` dispatches.

mod bench;
mod bundle;
mod data;
mod export;
mod generate;
mod merge;
mod pretrain;
mod score;
mod template;
mod train;

use std::path::Path;

use ajuste_shared::Finding;
use ajuste_shared::load::Loaded;
use anyhow::Result;

use super::args::{BenchCommand, BundleCommand, Cli, Command, DataCommand, InputArgs};
use super::{ExitStatus, io, malloc, progress};

/// Whether the command computes with a model's tensors (see [`malloc::keep_freed_memory`]).
fn runs_a_model(command: &Command) -> bool {
    matches!(
        command,
        Command::Train(_)
            | Command::Score(_)
            | Command::Generate(_)
            | Command::Pretrain(_)
            | Command::Bench(BenchCommand::Train(_))
    )
}

pub fn run(cli: Cli) -> Result<ExitStatus> {
    if runs_a_model(&cli.command) {
        malloc::keep_freed_memory();
    }
    match cli.command {
        Command::Data(cmd) => match cmd {
            DataCommand::Inspect(args) => data::inspect::run(&args),
            DataCommand::Validate(args) => data::validate::run(&args),
            DataCommand::Convert(args) => data::convert::run(&args),
            DataCommand::Clean(args) => data::clean::run(&args),
            DataCommand::Dedup(args) => data::dedup::run(&args),
            DataCommand::Balance(args) => data::balance::run(&args),
            DataCommand::Split(args) => data::split::run(&args),
            DataCommand::Render(args) => data::render::run(&args),
            DataCommand::Stats(args) => data::stats::run(&args),
            DataCommand::Explain(args) => data::explain::run(&args),
        },
        Command::Bundle(cmd) => match cmd {
            BundleCommand::Create(args) => bundle::create(&args),
            BundleCommand::Inspect(args) => bundle::inspect(&args),
        },
        Command::Bench(cmd) => match cmd {
            BenchCommand::Data(args) => bench::data::run(&args),
            BenchCommand::Train(args) => bench::train::run(&args),
        },
        Command::Export(args) => export::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Score(args) => score::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Pretrain(args) => pretrain::run(&args),
    }
}

/// Reads a dataset with a progress bar. `Ok(Err(finding))` is a whole-file problem in the data
/// (empty, binary, unknown format): the caller reports it and exits 1, not 2.
fn load_input(input: &InputArgs) -> Result<Result<Loaded, Finding>> {
    let file = io::open(&input.file)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress::bytes(len, "reading");
    let opts = input.load_options()?;
    let loaded =
        ajuste_shared::load::load(bar.wrap_read(file), &io::display_name(&input.file), &opts);
    bar.finish_and_clear();
    Ok(loaded)
}

/// Prints a whole-file finding and returns the exit status for it.
fn report_file_finding(path: &Path, finding: &Finding) -> ExitStatus {
    eprintln!("{}", finding.display_with(&io::display_name(path)));
    ExitStatus::Failure
}

/// Tells the user, on stderr, about records that were dropped because they have errors, and
/// returns the exit status the command should end with.
fn summarize_drops(path: &Path, loaded: &Loaded) -> ExitStatus {
    let dropped = loaded.report.records - loaded.report.valid;
    if dropped == 0 {
        return ExitStatus::Success;
    }
    eprintln!(
        "warning: {dropped} of {} records in `{}` have errors and were left out; \
         run `ajuste data validate {}` to see each one",
        loaded.report.records,
        io::display_name(path),
        io::display_name(path),
    );
    ExitStatus::Failure
}
