//! What the parse worker learns about a file: the byte-level summary from [`crate::inspect`],
//! then one pass of the data crate's loader (`ajuste_shared::load`): container, format, record
//! counts and findings counted by code.
//!
//! Only counts travel back to the page, not the records: they stay small whatever the file's
//! size. Pure (no browser APIs), so it is tested natively, on the shipped sample too.

use std::collections::BTreeMap;

use ajuste_shared::validate::Report;
use ajuste_shared::{Code, Container, Finding, Format, Kind, LoadOptions, Severity};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::inspect::{FileSummary, InspectError, inspect};

/// Everything known about a file that loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Size and line counts.
    pub summary: FileSummary,
    /// What the loader made of it.
    pub load: LoadSummary,
}

/// The loader's report, as counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    pub container: Container,
    pub format: Format,
    pub kind: Kind,
    /// Records seen, unreadable ones included.
    pub records: u64,
    /// Records kept (no error finding).
    pub valid: u64,
    pub errors: u64,
    pub warnings: u64,
    pub infos: u64,
    /// Findings per code and severity, errors first, then by count (highest first).
    pub by_code: Vec<CodeCount>,
}

impl LoadSummary {
    /// Records dropped because of an error finding.
    pub fn dropped(&self) -> u64 {
        self.records.saturating_sub(self.valid)
    }
}

/// How many findings of one code (and severity) a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCount {
    pub code: Code,
    pub severity: Severity,
    pub count: u64,
}

/// Why a file did not load.
#[derive(Debug, Clone, PartialEq, Error, Serialize, Deserialize)]
pub enum AnalysisError {
    /// The bytes cannot be a dataset at all.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// The loader refused the file as a whole (unknown format, no records, ...); the finding
    /// says why, with its code and hint.
    #[error("{}", .0.message)]
    Load(Finding),
}

/// Inspects `bytes` and, when they can be a dataset, loads them (detecting the format).
/// `name` is the file name; the loader uses its extension as a hint.
pub fn analyse(name: &str, bytes: &[u8]) -> Result<Analysis, AnalysisError> {
    let summary = inspect(bytes)?;
    // Streaming: the records are not needed here, only the report's counts.
    let loaded = ajuste_shared::load_streaming(bytes, name, &LoadOptions::default(), |_| {})
        .map_err(AnalysisError::Load)?;
    let load = summarize(loaded.container, &loaded.report);
    Ok(Analysis { summary, load })
}

/// The loader's report on a file read from `container`, as counts.
pub fn summarize(container: Container, report: &Report) -> LoadSummary {
    let mut load = LoadSummary {
        container,
        format: report.format,
        kind: report.kind,
        records: to_u64(report.records),
        valid: to_u64(report.valid),
        errors: 0,
        warnings: 0,
        infos: 0,
        by_code: count_by_code(&report.findings),
    };
    for finding in &report.findings {
        match finding.severity {
            Severity::Error => load.errors += 1,
            Severity::Warning => load.warnings += 1,
            Severity::Info => load.infos += 1,
        }
    }
    load
}

fn count_by_code(findings: &[Finding]) -> Vec<CodeCount> {
    let mut counts: BTreeMap<(Code, Severity), u64> = BTreeMap::new();
    for f in findings {
        *counts.entry((f.code, f.severity)).or_default() += 1;
    }
    let mut by_code: Vec<CodeCount> = counts
        .into_iter()
        .map(|((code, severity), count)| CodeCount {
            code,
            severity,
            count,
        })
        .collect();
    // Worst first; the BTreeMap order breaks ties, so the order is stable.
    by_code.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.count.cmp(&a.count)));
    by_code
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample the studio ships (static/samples/), read at compile time.
    const SAMPLE: &[u8] = include_bytes!("../../static/samples/sharegpt-sample.jsonl");

    #[test]
    fn the_shipped_sample_loads_as_sharegpt_with_its_planted_flaws_found() {
        let a = analyse("sharegpt-sample.jsonl", SAMPLE).expect("the sample loads");
        assert_eq!(a.summary.lines, 50);
        let l = &a.load;
        assert_eq!(
            (l.container, l.format, l.kind),
            (Container::Jsonl, Format::Sharegpt, Kind::Sft)
        );
        assert_eq!(l.records, 50);
        // A planted flaw is an error (a role ShareGPT does not define), so its record is
        // dropped; others are warnings (an empty turn, turns out of order). Most is clean.
        assert!(l.errors >= 1 && l.dropped() >= 1, "{l:?}");
        assert!(l.valid >= 40, "{l:?}");
        assert!(
            l.by_code.iter().any(|c| c.code == Code::EmptyContent),
            "{l:?}"
        );
        let total: u64 = l.by_code.iter().map(|c| c.count).sum();
        assert_eq!(total, l.errors + l.warnings + l.infos);
    }

    #[test]
    fn codes_are_listed_worst_first() {
        let l = analyse("x.jsonl", SAMPLE).expect("loads").load;
        let severities: Vec<Severity> = l.by_code.iter().map(|c| c.severity).collect();
        let mut sorted = severities.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(severities, sorted);
    }

    #[test]
    fn byte_problems_come_before_the_loader() {
        assert_eq!(
            analyse("empty.jsonl", b""),
            Err(AnalysisError::Inspect(InspectError::Empty))
        );
    }

    #[test]
    fn a_file_the_loader_refuses_carries_its_finding() {
        let err = analyse("q.jsonl", b"{\"question\": 1}\n").expect_err("unknown format");
        match &err {
            AnalysisError::Load(f) => assert_eq!(f.code, Code::UnknownFormat),
            other => panic!("expected a load finding, got {other:?}"),
        }
        assert!(err.to_string().contains("question"), "{err}");
    }
}
