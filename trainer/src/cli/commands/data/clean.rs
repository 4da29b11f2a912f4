//! `ajuste data clean`: named, parameterised cleaning steps.

use std::io::Write;

use ajuste_shared::clean::{self, PiiKind, Step};
use anyhow::Result;

use crate::cli::args::{CleanArgs, CleanCommandArgs};
use crate::cli::commands::data::write_items;
use crate::cli::commands::{load_input, report_file_finding, summarize_drops};
use crate::cli::{ExitStatus, io};

/// The steps the flags ask for, in the order they run; the safe defaults when no flag is given.
pub fn steps(args: &CleanArgs) -> Vec<Step> {
    let mut steps = Vec::new();
    if args.nfkc {
        steps.push(Step::Nfkc);
    }
    if args.zero_width {
        steps.push(Step::ZeroWidth);
    }
    if args.strip_html {
        steps.push(Step::StripHtml);
    }
    if args.whitespace {
        steps.push(Step::Whitespace);
    }
    if args.repair_turns {
        steps.push(Step::RepairTurns);
    }
    if args.drop_refusals {
        steps.push(if args.refusal_phrase.is_empty() {
            named("drop-refusals")
        } else {
            Step::DropRefusals {
                phrases: args.refusal_phrase.clone(),
            }
        });
    }
    if args.redact_pii {
        steps.push(Step::RedactPii {
            kinds: PiiKind::ALL.to_vec(),
        });
    }
    if !args.language.is_empty() {
        let Step::Language { min_chars, .. } = named("language") else {
            unreachable!()
        };
        steps.push(Step::Language {
            allow: args.language.clone(),
            min_chars,
        });
    }
    if args.min_chars.is_some() || args.max_chars.is_some() {
        steps.push(Step::Length {
            min_chars: args.min_chars,
            max_chars: args.max_chars,
        });
    }
    if args.drop_repetitive {
        steps.push(named("repetition"));
    }
    if steps.is_empty() {
        Step::defaults()
    } else {
        steps
    }
}

/// A step with its default parameters; the names are the registry's own.
fn named(name: &str) -> Step {
    Step::with_defaults(name).unwrap_or_else(|| unreachable!("`{name}` is a cleaning step"))
}

pub fn run(args: &CleanCommandArgs) -> Result<ExitStatus> {
    let mut loaded = match load_input(&args.input)? {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(&args.input.file, &finding)),
    };
    let steps = steps(&args.clean);
    let report = clean::apply(&steps, &mut loaded.dataset);
    for step in &report.steps {
        eprintln!(
            "{:>14}: {} records changed, {} dropped",
            step.step, step.changed, step.dropped
        );
    }
    for drop in &report.drops {
        eprintln!(
            "  dropped record {} (line {}) in {}: {}",
            drop.record, drop.line, drop.step, drop.reason
        );
    }
    if let Some(out) = &args.report {
        io::write_atomic(out, &[&args.input.file], |w: &mut dyn Write| {
            serde_json::to_writer_pretty(
                &mut *w,
                &serde_json::json!({"steps": steps, "report": report}),
            )?;
            Ok(w.write_all(b"\n")?)
        })?;
    }
    let written = write_items(
        &args.output,
        &[&args.input.file],
        loaded.format,
        &loaded.dataset.items,
    )?;
    eprintln!(
        "wrote {written} of {} records to `{}`",
        report.records_in,
        args.output.display()
    );
    Ok(summarize_drops(&args.input.file, &loaded))
}
