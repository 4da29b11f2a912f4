//! `ajuste data dedup`: exact and near duplicates, clusters, train/eval leakage.

use std::io::Write;

use ajuste_shared::dedup::{self, DedupConfig};
use ajuste_shared::record::{Item, Record};
use anyhow::{Result, bail};

use crate::cli::args::{DedupArgs, DedupCommandArgs, InputArgs};
use crate::cli::commands::data::write_items;
use crate::cli::commands::{load_input, report_file_finding, summarize_drops};
use crate::cli::{ExitStatus, io};

/// The dedup configuration the flags describe.
pub fn config(args: &DedupArgs) -> Result<DedupConfig> {
    if args.bands == 0 || args.permutations == 0 || !args.permutations.is_multiple_of(args.bands) {
        bail!(
            "--permutations ({}) must be a positive multiple of --bands ({})",
            args.permutations,
            args.bands
        );
    }
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!(
            "--threshold must be between 0 and 1 (got {})",
            args.threshold
        );
    }
    if args.ngram == 0 {
        bail!("--ngram must be at least 1");
    }
    Ok(DedupConfig {
        exact: true,
        near: args.near,
        ngram: args.ngram,
        permutations: args.permutations,
        bands: args.bands,
        threshold: args.threshold,
        seed: args.seed,
    })
}

pub fn run(args: &DedupCommandArgs) -> Result<ExitStatus> {
    let cfg = config(&args.dedup)?;
    let loaded = match load_input(&args.input)? {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(&args.input.file, &finding)),
    };
    let records: Vec<Record> = loaded.dataset.records().cloned().collect();
    // With --eval, what dedup hashed is kept for the leakage check, which then hashes only the
    // eval records.
    let (report, scanned) = match args.eval {
        Some(_) => {
            let (report, scanned) = dedup::dedup_scanned(&records, &cfg);
            (report, Some(scanned))
        }
        None => (dedup::dedup(&records, &cfg), None),
    };
    let removed = report.removed();
    let kept: Vec<&Item> = loaded
        .dataset
        .items
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(_, item)| item)
        .collect();
    let mut inputs = vec![args.input.file.as_path()];
    if let Some(eval) = &args.eval {
        inputs.push(eval.as_path());
    }
    let status = summarize_drops(&args.input.file, &loaded);
    let leaks = match (&args.eval, &scanned) {
        (Some(eval), Some(scanned)) => {
            // The eval file is read as the input is: same format, same renames.
            let eval_input = InputArgs {
                file: eval.clone(),
                format: args.input.format,
                map: args.input.map.clone(),
                role: args.input.role.clone(),
            };
            let eval_loaded = match load_input(&eval_input)? {
                Ok(l) => l,
                Err(finding) => return Ok(report_file_finding(eval, &finding)),
            };
            let eval_records: Vec<Record> = eval_loaded.dataset.records().cloned().collect();
            let leaks = dedup::leakage_scanned(&records, scanned, &eval_records, &cfg);
            for leak in &leaks {
                let e = &eval_loaded.dataset.items[leak.eval].source;
                let t = &loaded.dataset.items[leak.train].source;
                eprintln!(
                    "{}:{}: warning[train-eval-leak]: eval record {} duplicates train record {} (line {}), similarity {:.2}",
                    eval.display(),
                    e.line,
                    leak.eval,
                    leak.train,
                    t.line,
                    leak.similarity
                );
            }
            Some(leaks)
        }
        _ => None,
    };
    if let Some(out) = &args.report {
        let mut value = serde_json::to_value(&report)?;
        if let Some(leaks) = &leaks {
            value["leaks"] = serde_json::to_value(leaks)?;
        }
        io::write_atomic(out, &inputs, |w: &mut dyn Write| {
            serde_json::to_writer_pretty(&mut *w, &value)?;
            Ok(w.write_all(b"\n")?)
        })?;
    }
    let written = write_items(&args.output, &inputs, loaded.format, kept)?;
    eprintln!(
        "{} records: {} exact and {} near duplicates removed in {} clusters; wrote {written} to `{}`",
        report.records,
        report.exact_duplicates,
        report.near_duplicates,
        report.clusters.len(),
        args.output.display()
    );
    Ok(status)
}
