//! `ajuste data split`: seeded train/eval files.

use ajuste_shared::split::{SplitConfig, split};
use anyhow::Result;

use crate::cli::args::SplitArgs;
use crate::cli::commands::data::write_items;
use crate::cli::commands::{load_input, report_file_finding, summarize_drops};
use crate::cli::{ExitStatus, io};

pub fn run(args: &SplitArgs) -> Result<ExitStatus> {
    let cfg = SplitConfig {
        eval_fraction: args.eval_fraction,
        seed: args.seed,
    };
    let loaded = match load_input(&args.input)? {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(&args.input.file, &finding)),
    };
    let parts = split(loaded.dataset.len(), cfg)?;
    io::create_dir(&args.output, &[&args.input.file])?;
    // Keep the input's container (JSON array or JSONL) and compression for both parts.
    let ext = match io::data_extension(&args.input.file).as_deref() {
        Some("json") => "json",
        _ => "jsonl",
    };
    let gz = if io::is_gzip_path(&args.input.file) {
        ".gz"
    } else {
        ""
    };
    let items = &loaded.dataset.items;
    for (name, indices) in [("train", &parts.train), ("eval", &parts.eval)] {
        let path = args.output.join(format!("{name}.{ext}{gz}"));
        let n = write_items(
            &path,
            &[&args.input.file],
            loaded.format,
            indices.iter().map(|&i| &items[i]),
        )?;
        eprintln!("wrote {n} records to `{}`", path.display());
    }
    Ok(summarize_drops(&args.input.file, &loaded))
}
