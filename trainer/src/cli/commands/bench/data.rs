//! `ajuste bench data`: parse+validate, exact and near dedup on generated ShareGPT conversations
//! with planted duplicates, near-duplicate precision/recall against the planted truth, and
//! datasketch's MinHash LSH on the same records when Python has it.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Command;
use std::time::Instant;

use ajuste_shared::dedup::{self, DedupConfig, DupKind, record_text};
use ajuste_shared::load::LoadOptions;
use ajuste_shared::record::Record;
use ajuste_shared::synth::{PlantedTruth, Quality, planted_sharegpt};
use anyhow::{Context, Result, bail};

use crate::cli::ExitStatus;
use crate::cli::args::BenchDataArgs;

/// datasketch's side of the comparison, written to a temporary file when run.
const DATASKETCH_SCRIPT: &str = include_str!("datasketch_dedup.py");

pub fn run(args: &BenchDataArgs) -> Result<ExitStatus> {
    let n = args.records;
    let t = Instant::now();
    let (values, truth) = planted_sharegpt(n, args.seed);
    let mut jsonl = Vec::new();
    for v in &values {
        serde_json::to_writer(&mut jsonl, v)?;
        jsonl.push(b'\n');
    }
    drop(values);
    if let Some(path) = &args.write {
        crate::cli::io::write_atomic(path, &[], |w: &mut dyn Write| Ok(w.write_all(&jsonl)?))?;
        println!(
            "{n} records ({} planted exact and {} near copies) written to `{}`",
            truth.exact.len(),
            truth.near.len(),
            path.display()
        );
        return Ok(ExitStatus::Success);
    }
    println!(
        "{n} generated ShareGPT conversations ({:.1} MB, {} planted exact and {} near copies) in {:.1} s",
        jsonl.len() as f64 / 1e6,
        truth.exact.len(),
        truth.near.len(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let loaded = ajuste_shared::load::load(&jsonl[..], "bench.jsonl", &LoadOptions::default())
        .map_err(|f| anyhow::anyhow!("{}", f.message))?;
    let parse_s = t.elapsed().as_secs_f64();
    line(
        "ajuste parse+validate",
        n,
        parse_s,
        &format!("{} valid", loaded.report.valid),
    );
    let records: Vec<Record> = loaded.dataset.items.into_iter().map(|i| i.record).collect();

    let t = Instant::now();
    let exact = dedup::dedup(&records, &DedupConfig::default());
    line(
        "ajuste exact dedup",
        n,
        t.elapsed().as_secs_f64(),
        &format!("{} removed", exact.exact_duplicates),
    );

    let t = Instant::now();
    let near = dedup::dedup(
        &records,
        &DedupConfig {
            near: true,
            ..DedupConfig::default()
        },
    );
    let near_s = t.elapsed().as_secs_f64();
    line(
        "ajuste exact+near dedup",
        n,
        near_s,
        &format!(
            "{} exact + {} near removed",
            near.exact_duplicates, near.near_duplicates
        ),
    );
    let near_removed: BTreeSet<usize> = near
        .clusters
        .iter()
        .filter(|c| c.kind == DupKind::Near)
        .flat_map(|c| c.removed.iter().copied())
        .collect();
    quality(
        "ajuste near vs planted near",
        &truth.near_quality(&near_removed),
    );
    let all = all_copies(&truth);
    quality(
        "ajuste all removed vs all planted",
        &all.near_quality(&near.removed()),
    );

    match datasketch(&args.python, &records)? {
        None => println!(
            "datasketch: skipped (`{}` cannot import datasketch; pass --python or `pip install datasketch`)",
            args.python
        ),
        Some((seconds, removed)) => {
            line(
                "datasketch MinHashLSH (128 perm)",
                n,
                seconds,
                &format!("{} removed", removed.len()),
            );
            quality(
                "datasketch all removed vs all planted",
                &all.near_quality(&removed),
            );
            println!(
                "near dedup throughput, ajuste / datasketch: {:.1}x",
                seconds / near_s
            );
        }
    }
    Ok(ExitStatus::Success)
}

fn line(what: &str, n: usize, seconds: f64, detail: &str) {
    println!(
        "{what:<34} {:>10.0} records/s  ({seconds:>6.2} s)  {detail}",
        n as f64 / seconds
    );
}

fn quality(label: &str, q: &Quality) {
    println!(
        "  {label}: precision {:.4} ({}/{}), recall {:.4} ({}/{})",
        q.precision, q.correct, q.detected, q.recall, q.correct, q.planted
    );
}

/// Planted exact and near copies together: what a detector run on all records should remove.
fn all_copies(truth: &PlantedTruth) -> PlantedTruth {
    let mut near = truth.near.clone();
    near.extend(truth.exact.iter().map(|&(o, c)| (o, c, 1.0)));
    PlantedTruth {
        exact: Vec::new(),
        near,
    }
}

/// Times datasketch on the same matching texts; `None` when Python lacks it.
fn datasketch(python: &str, records: &[Record]) -> Result<Option<(f64, BTreeSet<usize>)>> {
    let available = Command::new(python)
        .args(["-c", "import datasketch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !available {
        return Ok(None);
    }
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("datasketch_dedup.py");
    std::fs::write(&script, DATASKETCH_SCRIPT)?;
    let texts = dir.path().join("texts.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&texts)?);
    for r in records {
        serde_json::to_writer(&mut out, &serde_json::json!({ "text": record_text(r) }))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let output = Command::new(python)
        .arg(&script)
        .arg(&texts)
        .args(["128", "0.8", "5"])
        .output()
        .with_context(|| format!("cannot run `{python}`"))?;
    if !output.status.success() {
        bail!(
            "the datasketch script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let seconds = result["seconds"]
        .as_f64()
        .context("datasketch output has no `seconds`")?;
    let removed = result["removed"]
        .as_array()
        .context("datasketch output has no `removed`")?
        .iter()
        .filter_map(|v| v.as_u64().map(|x| x as usize))
        .collect();
    Ok(Some((seconds, removed)))
}
