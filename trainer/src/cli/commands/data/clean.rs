//! `ajuste data clean`: named, parameterised cleaning steps.

use std::io::Write;

use ajuste_shared::clean::{self, PiiKind, Step};
use anyhow::{Context, Result};

use crate::cli::args::{CleanArgs, CleanCommandArgs};
use crate::cli::commands::data::write_items;
use crate::cli::commands::{load_input, report_file_finding, summarize_drops};
use crate::cli::{ExitStatus, io};

/// The steps the flags ask for, in the recommended order (`Step::rank`, so a second run changes
/// nothing), checked; the safe defaults when no flag is given.
pub fn steps(args: &CleanArgs) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut flag = |on: bool, step: Step| {
        if on {
            steps.push(step);
        }
    };
    flag(args.nfkc, Step::Nfkc);
    flag(args.zero_width, Step::ZeroWidth);
    flag(args.strip_html, Step::StripHtml);
    flag(args.whitespace, Step::Whitespace);
    flag(args.repair_turns, Step::RepairTurns);
    flag(
        args.redact_pii,
        Step::RedactPii {
            kinds: PiiKind::ALL.to_vec(),
        },
    );
    flag(args.drop_repetitive, default_step("repetition")?);
    if args.drop_refusals {
        steps.push(match args.refusal_phrase.as_slice() {
            [] => default_step("drop-refusals")?,
            phrases => Step::DropRefusals {
                phrases: phrases.to_vec(),
            },
        });
    }
    if !args.language.is_empty() {
        let mut step = default_step("language")?;
        if let Step::Language { allow, .. } = &mut step {
            allow.clone_from(&args.language);
        }
        steps.push(step);
    }
    if args.min_chars.is_some() || args.max_chars.is_some() {
        steps.push(Step::Length {
            min_chars: args.min_chars,
            max_chars: args.max_chars,
        });
    }
    if steps.is_empty() {
        steps = Step::defaults();
    }
    steps.sort_by_key(Step::rank);
    for step in &steps {
        step.validate()
            .with_context(|| format!("invalid parameters for cleaning step `{}`", step.name()))?;
    }
    Ok(steps)
}

/// A step with its default parameters, by its registry name.
fn default_step(name: &str) -> Result<Step> {
    Step::with_defaults(name).ok_or_else(|| anyhow::anyhow!("`{name}` is not a cleaning step"))
}

pub fn run(args: &CleanCommandArgs) -> Result<ExitStatus> {
    let mut loaded = match load_input(&args.input)? {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(&args.input.file, &finding)),
    };
    let steps = steps(&args.clean)?;
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
