//! `ajuste data convert`: the same records in another format.

use anyhow::Result;

use crate::cli::ExitStatus;
use crate::cli::args::ConvertArgs;
use crate::cli::commands::data::write_items;
use crate::cli::commands::{load_input, report_file_finding, summarize_drops};

pub fn run(args: &ConvertArgs) -> Result<ExitStatus> {
    let loaded = match load_input(&args.input)? {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(&args.input.file, &finding)),
    };
    let written = write_items(
        &args.output,
        &[&args.input.file],
        args.to,
        &loaded.dataset.items,
    )?;
    eprintln!(
        "wrote {written} records as {} to `{}`",
        args.to.as_str(),
        args.output.display()
    );
    Ok(summarize_drops(&args.input.file, &loaded))
}
