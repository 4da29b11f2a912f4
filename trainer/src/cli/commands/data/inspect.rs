//! `ajuste data inspect`: what is this file?

use anyhow::Result;
use serde_json::json;

use crate::cli::ExitStatus;
use crate::cli::args::InspectArgs;
use crate::cli::commands::{load_input, report_file_finding};
use crate::cli::io;

pub fn run(args: &InspectArgs) -> Result<ExitStatus> {
    let loaded = match load_input(&args.input)? {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(&args.input.file, &finding)),
    };
    let report = &loaded.report;
    let first = loaded.dataset.items.first();
    if args.json {
        let out = json!({
            "file": io::display_name(&args.input.file),
            "container": loaded.container.as_str(),
            "format": loaded.format.as_str(),
            "kind": report.kind.as_str(),
            "records": report.records,
            "valid": report.valid,
            "errors": report.errors,
            "warnings": report.warnings,
            "first": first.map(|i| i.record.to_canonical()),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("file:      {}", io::display_name(&args.input.file));
        println!("container: {}", loaded.container.as_str());
        println!("format:    {}", loaded.format.as_str());
        println!("kind:      {}", report.kind);
        println!("records:   {} ({} valid)", report.records, report.valid);
        println!(
            "findings:  {} errors, {} warnings",
            report.errors, report.warnings
        );
        if let Some(item) = first {
            println!("first record (line {}), canonical form:", item.source.line);
            println!(
                "{}",
                serde_json::to_string_pretty(&item.record.to_canonical())?
            );
        }
    }
    Ok(if report.errors > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
