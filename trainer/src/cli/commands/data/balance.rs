//! `ajuste data balance`: cap the records of each KTO label or topic.

use std::io::Write;

use ajuste_shared::balance::{self, BalanceConfig, GroupBy, NO_GROUP};
use ajuste_shared::record::Item;
use anyhow::{Result, bail};
use serde_json::json;

use crate::cli::args::{BalanceArgs, BalanceCommandArgs};
use crate::cli::commands::data::write_items;
use crate::cli::commands::{load_input, report_file_finding, summarize_drops};
use crate::cli::{ExitStatus, io};

/// The balancing the flags describe: `None` when no cap is given (nothing to balance).
pub fn config(args: &BalanceArgs) -> Result<Option<BalanceConfig>> {
    if args.max_per_group.is_none() && args.max_ratio.is_none() {
        if args.by.is_some() {
            bail!("--balance-by (--by) needs a cap: --max-per-group N, --max-ratio X, or both");
        }
        return Ok(None);
    }
    if args.max_per_group == Some(0) {
        bail!("--max-per-group must be at least 1");
    }
    if let Some(r) = args.max_ratio.filter(|r| !(*r >= 1.0 && r.is_finite())) {
        bail!("--max-ratio must be a number of at least 1 (1: equal groups); got {r}");
    }
    let config = BalanceConfig {
        by: GroupBy::parse(args.by.as_deref().unwrap_or("auto"))?,
        max_per_group: args.max_per_group,
        max_ratio: args.max_ratio,
        seed: args.seed,
    };
    config.validate()?;
    Ok(Some(config))
}

pub fn run(args: &BalanceCommandArgs) -> Result<ExitStatus> {
    let Some(cfg) = config(&args.balance)? else {
        bail!("give a cap: --max-per-group N, --max-ratio X, or both");
    };
    let loaded = match load_input(&args.input)? {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(&args.input.file, &finding)),
    };
    let name = io::display_name(&args.input.file);
    let report = match balance::balance(loaded.dataset.records(), &cfg) {
        Ok(report) => report,
        Err(e) => bail!("{name}: {e}"),
    };
    let items = &loaded.dataset.items;
    let inputs = [args.input.file.as_path()];
    if let Some(out) = &args.report {
        let removed: Vec<_> = report
            .removed
            .iter()
            .map(|(i, group)| {
                json!({"record": items[*i].source.index, "line": items[*i].source.line, "group": group})
            })
            .collect();
        let value = json!({
            "config": cfg,
            "records": items.len(),
            "kept": report.kept.len(),
            "groups": report.groups,
            "removed": removed,
        });
        io::write_atomic(out, &inputs, |w: &mut dyn Write| {
            serde_json::to_writer_pretty(&mut *w, &value)?;
            Ok(w.write_all(b"\n")?)
        })?;
    }
    let status = summarize_drops(&args.input.file, &loaded);
    let kept: Vec<&Item> = report.kept.iter().map(|&i| &items[i]).collect();
    let written = write_items(&args.output, &inputs, loaded.format, kept)?;
    for g in &report.groups {
        let note = if g.group == NO_GROUP {
            " (no group: kept as they are)"
        } else {
            ""
        };
        eprintln!("{:>16}: {} -> {}{note}", g.group, g.records, g.kept);
    }
    eprintln!(
        "balanced by {}: wrote {written} of {} records to `{}`",
        cfg.by,
        items.len(),
        args.output.display()
    );
    Ok(status)
}
