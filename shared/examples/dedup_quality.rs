//! Dedup speed and quality on planted synthetic data, side by side with datasketch.
//!
//! ```text
//! cargo run --release -p ajuste-shared --example dedup_quality [-- RECORDS]
//! ```
//!
//! Generates RECORDS (default 100,000) ShareGPT conversations with planted exact and near
//! duplicates, times exact and exact+near dedup, and prints near-duplicate precision/recall
//! against the planted truth. When `$AJUSTE_PYTHON` (default `python3`) can import datasketch,
//! it also writes every record's matching text to a temporary JSONL and times datasketch's
//! MinHashLSH (128 permutations, threshold 0.8, the same 5-gram shingles) on it with
//! `examples/datasketch_dedup.py`.

use std::collections::BTreeSet;
use std::error::Error;
use std::io::{BufWriter, Write};
use std::process::Command;
use std::time::Instant;

use ajuste_shared::dedup::{DedupConfig, DupKind, record_text};
use ajuste_shared::synth::{PlantedTruth, Quality, planted_records};

const SEED: u64 = 2026;

fn main() -> Result<(), Box<dyn Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|e| format!("RECORDS must be a number, got {arg:?}: {e}"))?,
        None => 100_000,
    };
    let t = Instant::now();
    let (records, truth) = planted_records(n, SEED);
    println!(
        "generated {n} records ({} planted exact copies, {} planted near copies) in {:.1} s",
        truth.exact.len(),
        truth.near.len(),
        t.elapsed().as_secs_f64()
    );

    let exact_cfg = DedupConfig::default();
    let t = Instant::now();
    let exact = ajuste_shared::dedup::dedup(&records, &exact_cfg);
    let exact_s = t.elapsed().as_secs_f64();
    println!(
        "ajuste exact:        {:>9.0} records/s ({exact_s:.2} s), {} removed",
        n as f64 / exact_s,
        exact.exact_duplicates
    );

    let near_cfg = DedupConfig {
        near: true,
        ..DedupConfig::default()
    };
    let t = Instant::now();
    let report = ajuste_shared::dedup::dedup(&records, &near_cfg);
    let near_s = t.elapsed().as_secs_f64();
    println!(
        "ajuste exact+near:   {:>9.0} records/s ({near_s:.2} s), {} exact + {} near removed",
        n as f64 / near_s,
        report.exact_duplicates,
        report.near_duplicates
    );
    let near_removed: BTreeSet<usize> = report
        .clusters
        .iter()
        .filter(|c| c.kind == DupKind::Near)
        .flat_map(|c| c.removed.iter().copied())
        .collect();
    print_quality(
        "ajuste near vs planted near",
        &truth.near_quality(&near_removed),
    );
    let all_truth = all_copies(&truth);
    print_quality(
        "ajuste all removed vs all planted",
        &quality(&report.removed(), &all_truth),
    );

    let python = std::env::var("AJUSTE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let has_datasketch = Command::new(&python)
        .args(["-c", "import datasketch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_datasketch {
        println!("datasketch: skipped ({python} cannot import datasketch; set AJUSTE_PYTHON)");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("texts.jsonl");
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    for r in &records {
        serde_json::to_writer(&mut out, &serde_json::json!({ "text": record_text(r) }))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/datasketch_dedup.py");
    let output = Command::new(&python)
        .arg(script)
        .arg(&path)
        .args(["128", "0.8", "5"])
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "datasketch script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let ds_s = result["seconds"]
        .as_f64()
        .ok_or("datasketch output has no seconds")?;
    let ds_removed: BTreeSet<usize> = result["removed"]
        .as_array()
        .ok_or("datasketch output has no removed list")?
        .iter()
        .filter_map(|v| v.as_u64().map(|x| x as usize))
        .collect();
    println!(
        "datasketch near:     {:>9.0} records/s ({ds_s:.2} s), {} removed",
        n as f64 / ds_s,
        ds_removed.len()
    );
    print_quality(
        "datasketch all removed vs all planted",
        &quality(&ds_removed, &all_truth),
    );
    println!(
        "throughput ratio (ajuste exact+near / datasketch near, same machine): {:.1}x",
        ds_s / near_s
    );
    Ok(())
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

fn quality(removed: &BTreeSet<usize>, truth: &PlantedTruth) -> Quality {
    truth.near_quality(removed)
}

fn print_quality(label: &str, q: &Quality) {
    println!(
        "  {label}: precision {:.4} ({}/{}), recall {:.4} ({}/{})",
        q.precision, q.correct, q.detected, q.recall, q.correct, q.planted
    );
}
