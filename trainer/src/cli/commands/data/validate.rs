//! `ajuste data validate`: every finding with its line and field; exit 1 on errors.

use std::io::Write;

use ajuste_shared::load::Loaded;
use anyhow::{Context, Result};

use crate::cli::args::ValidateArgs;
use crate::cli::{ExitStatus, io, progress};

pub fn run(args: &ValidateArgs) -> Result<ExitStatus> {
    let path = &args.input.file;
    let name = io::display_name(path);
    let file = io::open(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress::bytes(len, "validating");
    let opts = args.input.load_options()?;
    // Streaming: records are checked and forgotten, so memory does not grow with the file.
    let loaded = ajuste_shared::load::load_streaming(bar.wrap_read(file), &name, &opts, |_| {});
    bar.finish_and_clear();
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(finding) => {
            emit(args, &file_report(&finding))?;
            if !args.json {
                eprintln!("{}", finding.display_with(&name));
            }
            return Ok(ExitStatus::Failure);
        }
    };
    emit(args, &serde_json::to_value(&loaded.report)?)?;
    if !args.json {
        print_text(&name, &loaded)?;
    }
    Ok(if loaded.report.errors > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// The report for a file that could not be read as a dataset at all.
fn file_report(finding: &ajuste_shared::Finding) -> serde_json::Value {
    serde_json::json!({
        "format": null, "kind": null, "records": 0, "valid": 0,
        "errors": 1, "warnings": 0, "findings": [finding],
    })
}

/// Writes the JSON report where asked, and on stdout with --json.
fn emit(args: &ValidateArgs, report: &serde_json::Value) -> Result<()> {
    if let Some(out) = &args.report {
        io::write_atomic(out, &[&args.input.file], |w: &mut dyn Write| {
            serde_json::to_writer_pretty(&mut *w, report)?;
            Ok(w.write_all(b"\n")?)
        })?;
    }
    if args.json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, report)?;
        stdout.write_all(b"\n").context("cannot write to stdout")?;
    }
    Ok(())
}

fn print_text(name: &str, loaded: &Loaded) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    for finding in &loaded.report.findings {
        writeln!(stdout, "{}", finding.display_with(name))?;
    }
    let r = &loaded.report;
    let verdict = if r.errors > 0 { "has errors" } else { "ok" };
    writeln!(
        stdout,
        "{name}: {} ({}), {} records, {} valid, {} errors, {} warnings: {verdict}",
        loaded.format.as_str(),
        r.kind,
        r.records,
        r.valid,
        r.errors,
        r.warnings,
    )?;
    let errors_dropped = r.records - r.valid;
    if errors_dropped > 0 {
        writeln!(
            stdout,
            "{errors_dropped} records would be left out of training (errors above)"
        )?;
    }
    Ok(())
}
