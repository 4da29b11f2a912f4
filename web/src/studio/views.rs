//! The engine's answers to the page's questions: a page of findings, one record, what a
//! cleaning pipeline or a dedup configuration would do, a rendered record, statistics.

use std::collections::{BTreeMap, HashMap};

use ajuste_shared::balance::GroupBy;
use ajuste_shared::clean::{self, Step};
use ajuste_shared::dedup::{self, DedupConfig};
use ajuste_shared::record::{Item, Message, Record};
use ajuste_shared::stats::{self, Histogram};
use ajuste_shared::template::{Rendered, Segment, Template};
use ajuste_shared::tokenize::{IGNORE_INDEX, TextTokenizer};
use ajuste_shared::{Finding, Severity, Source};
use web_time::Instant;

use super::json_view::{pretty_with_spans, set_string, string_fields};
use super::{Engine, Progress, Session, elapsed_ms};
use crate::protocol::{
    ChangedRecord, CleanPreview, ClusterView, DedupView, Field, FindingsPage, FindingsQuery,
    PairView, RecordStatus, RecordText, RecordView, RenderView, SegmentView, StatsView,
    TemplateOverall, TemplateView, TokenView, TurnDiff,
};
use crate::studio::diff::word_diff;

/// Changed records shown by a clean preview.
const CLEAN_SAMPLES: usize = 20;
/// Dropped records listed by a clean preview.
const CLEAN_DROPS: usize = 100;
/// Clusters per page of a dedup preview.
const CLUSTERS_PER_PAGE: usize = 10;
/// Leaks and contradictions listed by a dedup preview.
const PAIR_SAMPLES: usize = 20;
/// Characters of a record's text shown beside its duplicates.
const PREVIEW_CHARS: usize = 600;
/// Tokens listed for one rendered record.
const MAX_TOKENS_SHOWN: usize = 4096;
/// Findings per page at most.
const MAX_PAGE: usize = 500;

impl Engine {
    /// A page of the loader's findings.
    pub fn findings(&self, query: FindingsQuery) -> Result<FindingsPage, String> {
        let s = self.session()?;
        let matches = |f: &&Finding| {
            query.code.is_none_or(|c| f.code == c) && query.severity.is_none_or(|v| f.severity == v)
        };
        let all = &s.loaded.report.findings;
        let total = all.iter().filter(matches).count();
        let rows = all
            .iter()
            .filter(matches)
            .skip(query.offset)
            .take(query.limit.min(MAX_PAGE))
            .cloned()
            .collect();
        Ok(FindingsPage {
            generation: self.generation,
            query,
            total,
            rows,
        })
    }

    /// Record `record` of the source, with its fixes, findings and status.
    pub fn record(&self, record: usize) -> Result<RecordView, String> {
        let s = self.session()?;
        let line = s.loaded.lines.get(&record).copied();
        let raw = s
            .input
            .raw_record(record, line)
            .ok_or_else(|| format!("the source has no record {record}"))?;
        let edits: Vec<Field> = s
            .settings
            .edits
            .get(&record)
            .into_iter()
            .flatten()
            .map(|(pointer, value)| Field {
                pointer: pointer.clone(),
                value: value.clone(),
            })
            .collect();
        let findings: Vec<Finding> = s
            .loaded
            .report
            .findings
            .iter()
            .filter(|f| f.record == Some(record))
            .cloned()
            .collect();
        let status = if s.settings.drops.contains(&record) {
            RecordStatus::DroppedByUser
        } else if findings.iter().any(|f| f.severity == Severity::Error) {
            RecordStatus::Invalid
        } else {
            RecordStatus::Kept
        };
        let value = raw.value.ok().map(|mut v| {
            for e in &edits {
                // A fix that no longer applies is reported by the loader as the record's error.
                let _ = set_string(&mut v, &e.pointer, &e.value);
            }
            v
        });
        let (json, spans, fields) = match &value {
            Some(v) => {
                let (text, spans) = pretty_with_spans(v);
                (Some(text), spans, string_fields(v))
            }
            None => (None, Vec::new(), Vec::new()),
        };
        Ok(RecordView {
            generation: self.generation,
            record,
            line: raw.source.line,
            status,
            json,
            spans,
            fields,
            findings,
            edits,
        })
    }

    /// What `steps` would do to the loaded records (nothing is applied).
    pub fn clean_preview(&self, mut steps: Vec<Step>) -> Result<CleanPreview, String> {
        let s = self.session()?;
        steps.sort_by_key(Step::rank);
        let invalid = steps
            .iter()
            .filter_map(|step| {
                step.validate()
                    .err()
                    .map(|e| (step.name().to_owned(), e.to_string()))
            })
            .collect();
        let before = &s.loaded.dataset;
        let mut after = before.clone();
        let report = clean::apply(&steps, &mut after);
        let after_by_index: HashMap<usize, &Item> =
            after.items.iter().map(|i| (i.source.index, i)).collect();
        let mut changed = 0;
        let mut samples = Vec::new();
        for item in &before.items {
            let Some(cleaned) = after_by_index.get(&item.source.index) else {
                continue;
            };
            if cleaned.record == item.record {
                continue;
            }
            changed += 1;
            if samples.len() < CLEAN_SAMPLES {
                samples.push(ChangedRecord {
                    record: item.source.index,
                    line: item.source.line,
                    turns: turn_diffs(&item.record, &cleaned.record),
                });
            }
        }
        Ok(CleanPreview {
            generation: self.generation,
            steps,
            invalid,
            records_in: report.records_in,
            records_out: report.records_out,
            reports: report.steps.clone(),
            changed,
            samples,
            drops: report.drops.into_iter().take(CLEAN_DROPS).collect(),
        })
    }

    /// What `config` would find in the cleaned records (nothing is applied), with the clusters
    /// from `cluster_offset` on, train/eval leaks of the session's split and contradicting
    /// preference pairs.
    pub fn dedup_preview(
        &self,
        config: DedupConfig,
        cluster_offset: usize,
        progress: Progress<'_>,
    ) -> Result<DedupView, String> {
        let s = self.session()?;
        let mut view = DedupView {
            generation: self.generation,
            config: config.clone(),
            invalid: None,
            records: s.cleaned.records.len(),
            exact: 0,
            near: 0,
            catch_probability: config.catch_probability(config.threshold),
            clusters: 0,
            cluster_offset,
            cluster_page: Vec::new(),
            leaks: 0,
            leak_sample: Vec::new(),
            contradictions: 0,
            contradiction_sample: Vec::new(),
            ms: 0.0,
        };
        if let Err(e) = config.validate() {
            view.invalid = Some(e.to_string());
            return Ok(view);
        }
        let records = &s.cleaned.records;
        progress("Deduplicating", 0, 0);
        let start = Instant::now();
        let (report, scanned) = dedup::dedup_scanned(records, &config);
        view.ms = elapsed_ms(start);
        view.exact = report.exact_duplicates;
        view.near = report.near_duplicates;
        view.clusters = report.clusters.len();
        let text = |i: usize| record_text(&s.cleaned.sources[i], &records[i]);
        view.cluster_page = report
            .clusters
            .iter()
            .skip(cluster_offset)
            .take(CLUSTERS_PER_PAGE)
            .map(|c| ClusterView {
                kind: c.kind,
                kept: text(c.kept),
                removed: c
                    .removed
                    .iter()
                    .zip(&c.similarities)
                    .map(|(&r, &sim)| (text(r), sim))
                    .collect(),
            })
            .collect();
        let removed = report.removed();
        let kept: Vec<usize> = (0..records.len())
            .filter(|i| !removed.contains(i))
            .collect();
        progress("Checking train/eval leakage", 0, 0);
        if let Ok(split) = ajuste_shared::split::split(kept.len(), s.settings.split) {
            // The signatures dedup just computed are reused: nothing is hashed twice.
            let part = |ix: &[usize]| -> Vec<usize> { ix.iter().map(|&k| kept[k]).collect() };
            let (train, eval) = (part(&split.train), part(&split.eval));
            let leaks = dedup::leakage_among(records, &scanned, &train, &eval, &config);
            view.leaks = leaks.len();
            view.leak_sample = leaks
                .iter()
                .take(PAIR_SAMPLES)
                .map(|l| PairView {
                    first: text(kept[split.eval[l.eval]]),
                    second: text(kept[split.train[l.train]]),
                    similarity: l.similarity,
                })
                .collect();
        }
        // Before dedup: near dedup can cluster "4 vs 5" with "5 vs 4" (they share most of
        // their words), and the contradiction would vanish with the removed copy.
        let pairs = dedup::swapped_preferences(records);
        view.contradictions = pairs.len();
        view.contradiction_sample = pairs
            .iter()
            .take(PAIR_SAMPLES)
            .map(|&(i, j)| PairView {
                first: text(j),
                second: text(i),
                similarity: 1.0,
            })
            .collect();
        Ok(view)
    }

    /// The prepared record at `position`, rendered with the session's template, and the
    /// template over every record (computed once per generation).
    pub fn template_view(
        &mut self,
        position: usize,
        progress: Progress<'_>,
    ) -> Result<TemplateView, String> {
        let generation = self.generation;
        let s = self.session.as_mut().ok_or("no dataset is loaded")?;
        let template = s.template.template.clone()?;
        let tokenizer = s.template.tokenizer.as_ref().map(|t| &t.tokenizer);
        let max_length = s.settings.train_config().max_length;
        let overall = match &s.overall {
            Some((g, overall)) if *g == generation => overall.clone(),
            _ => {
                let overall = template_overall(s, &template, tokenizer, max_length, progress);
                s.overall = Some((generation, overall.clone()));
                overall
            }
        };
        let records = s.prepared().len();
        if records == 0 {
            return Err("no records are left after cleaning, deduplication and balancing".into());
        }
        let position = position.min(records - 1);
        let (source, record) = s
            .prepared()
            .nth(position)
            .expect("the position is within the prepared records");
        let renders = match record {
            Record::Preference(p) => {
                let (chosen, rejected) = template.render_pair(p);
                vec![
                    render_view("chosen", chosen, tokenizer, max_length),
                    render_view("rejected", rejected, tokenizer, max_length),
                ]
            }
            r => vec![render_view("", template.render(r), tokenizer, max_length)],
        };
        Ok(TemplateView {
            generation,
            position,
            records,
            record: source.index,
            line: source.line,
            renders,
            template_findings: tokenizer
                .map(|t| t.check_template(&template))
                .unwrap_or_default(),
            overall,
        })
    }

    /// Statistics of the prepared records; token lengths when a tokenizer is loaded.
    pub fn stats(&self, max_length: usize, progress: Progress<'_>) -> Result<StatsView, String> {
        let s = self.session()?;
        let start = Instant::now();
        let dataset = s.prepared_dataset();
        let template = s.template.template.as_ref().ok();
        let tokens: Option<Vec<usize>> = match (template, &s.template.tokenizer) {
            (Some(template), Some(loaded)) => {
                let tok = &loaded.tokenizer;
                let total = dataset.len() as u64;
                Some(
                    dataset
                        .records()
                        .enumerate()
                        .map(|(i, r)| {
                            if i % 1024 == 0 {
                                progress("Counting tokens", i as u64, total);
                            }
                            stats::token_length(template, tok, r)
                        })
                        .collect(),
                )
            }
            _ => None,
        };
        progress("Computing statistics", 0, 0);
        let groups = s
            .settings
            .balance
            .as_ref()
            .map_or(&GroupBy::Auto, |b| &b.by);
        let stats = stats::compute(&dataset, tokens.as_deref(), Some(max_length), groups);
        let turns: Vec<usize> = dataset.records().map(|r| r.turns().len()).collect();
        Ok(StatsView {
            generation: self.generation,
            stats,
            turns: Histogram::of(&turns, 20),
            max_length,
            ms: elapsed_ms(start),
        })
    }
}

/// A record's text for side-by-side views: one line per turn, role first, cut short.
fn record_text(source: &Source, record: &Record) -> RecordText {
    let mut text = String::new();
    for (list, _, m) in record.turns() {
        if !text.is_empty() {
            text.push('\n');
        }
        let side = match list {
            "/chosen" => "chosen ",
            "/rejected" => "rejected ",
            _ => "",
        };
        text.push_str(&format!("{side}{}: {}", m.role, m.content));
        if text.chars().count() > PREVIEW_CHARS {
            break;
        }
    }
    if let Some((cut, _)) = text.char_indices().nth(PREVIEW_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    RecordText {
        record: source.index,
        line: source.line,
        text,
    }
}

/// The turns of `before` and `after` that differ, as word diffs. Lists whose turns were merged
/// or dropped are compared as a whole.
fn turn_diffs(before: &Record, after: &Record) -> Vec<TurnDiff> {
    let (a, b) = (turn_lists(before), turn_lists(after));
    let mut out = Vec::new();
    for (list, turns) in &a {
        let other = b
            .iter()
            .find(|(l, _)| l == list)
            .map_or(&[][..], |(_, t)| t);
        if turns.len() == other.len() {
            for (i, (x, y)) in turns.iter().zip(other).enumerate() {
                if x.content != y.content {
                    out.push(TurnDiff {
                        pointer: format!("{list}/{i}"),
                        role: Some(x.role),
                        parts: word_diff(&x.content, &y.content),
                    });
                }
            }
        } else {
            let joined = |ms: &[&Message]| {
                ms.iter()
                    .map(|m| format!("{}: {}", m.role, m.content))
                    .collect::<Vec<_>>()
                    .join("\n\n")
            };
            out.push(TurnDiff {
                pointer: (*list).to_owned(),
                role: None,
                parts: word_diff(&joined(turns), &joined(other)),
            });
        }
    }
    out
}

/// A record's turns grouped by list (`/messages`, or `/prompt`, `/chosen`, `/rejected`).
fn turn_lists(r: &Record) -> Vec<(&'static str, Vec<&Message>)> {
    let mut out: Vec<(&'static str, Vec<&Message>)> = Vec::new();
    for (list, _, m) in r.turns() {
        match out.last_mut() {
            Some((l, ms)) if *l == list => ms.push(m),
            _ => out.push((list, vec![m])),
        }
    }
    out
}

/// One rendering as the Template page shows it: segments, and with a tokenizer the tokens
/// (cut to `max_length`, as training cuts them) with the findings of both steps. Text past the
/// cut is its own segment, marked `cut` and not trained.
pub(super) fn render_view(
    label: &str,
    rendered: Rendered,
    tokenizer: Option<&TextTokenizer>,
    max_length: usize,
) -> RenderView {
    let mut findings = rendered.findings.clone();
    let (mut tokens, mut token_count, mut trained_tokens, mut cut_at) = (None, None, None, None);
    if let Some(tok) = tokenizer {
        let encoded = tok.encode(&rendered, Some(max_length));
        token_count = Some(encoded.input_ids.len());
        trained_tokens = Some(encoded.trained_tokens());
        cut_at = encoded.cut_at;
        tokens = Some(
            encoded
                .input_ids
                .iter()
                .zip(&encoded.labels)
                .take(MAX_TOKENS_SHOWN)
                .map(|(&id, &label)| TokenView {
                    id,
                    text: tok.decode(&[id]),
                    trained: label != IGNORE_INDEX,
                })
                .collect(),
        );
        findings.extend(encoded.findings);
    }
    RenderView {
        label: label.to_owned(),
        segments: segment_views(rendered, cut_at),
        tokens,
        token_count,
        trained_tokens,
        findings,
    }
}

/// The rendered segments, those past a cut at byte `cut_at` marked `cut` (not trained).
fn segment_views(rendered: Rendered, cut_at: Option<usize>) -> Vec<SegmentView> {
    let (kept, dropped) = rendered.split_at(cut_at.unwrap_or(usize::MAX));
    let view = |s: Segment, cut: bool| SegmentView {
        text: s.text,
        trained: s.trained && !cut,
        cut,
        role: s.role,
    };
    kept.into_iter()
        .map(|s| view(s, false))
        .chain(dropped.into_iter().map(|s| view(s, true)))
        .collect()
}

/// Renders (and with a tokenizer, encodes) every prepared record, counting findings by code.
fn template_overall(
    s: &Session,
    template: &Template,
    tokenizer: Option<&TextTokenizer>,
    max_length: usize,
    progress: Progress<'_>,
) -> TemplateOverall {
    let start = Instant::now();
    let total = s.prepared().len();
    let mut by_code: BTreeMap<ajuste_shared::Code, usize> = BTreeMap::new();
    let (mut untrained, mut tokens, mut trained, mut longest) = (0, 0u64, 0u64, 0usize);
    let mut count = |rendered: &Rendered, by_code: &mut BTreeMap<_, usize>| {
        for f in &rendered.findings {
            *by_code.entry(f.code).or_default() += 1;
        }
        if !rendered.has_trained_text() {
            untrained += 1;
        }
        if let Some(tok) = tokenizer {
            let encoded = tok.encode(rendered, Some(max_length));
            for f in &encoded.findings {
                *by_code.entry(f.code).or_default() += 1;
            }
            // Before truncation: the length the record needs.
            let needed = match encoded
                .findings
                .iter()
                .any(|f| f.code == ajuste_shared::Code::TooLongForContext)
            {
                true => tok.encode(rendered, None).input_ids.len(),
                false => encoded.input_ids.len(),
            };
            longest = longest.max(needed);
            tokens += encoded.input_ids.len() as u64;
            trained += encoded.trained_tokens() as u64;
        }
    };
    for (i, (_, record)) in s.prepared().enumerate() {
        if i % 512 == 0 {
            progress("Rendering with the template", i as u64, total as u64);
        }
        match record {
            Record::Preference(p) => {
                let (chosen, rejected) = template.render_pair(p);
                count(&chosen, &mut by_code);
                count(&rejected, &mut by_code);
            }
            r => count(&template.render(r), &mut by_code),
        }
    }
    TemplateOverall {
        records: total,
        by_code,
        untrained,
        tokens: tokenizer.map(|_| tokens),
        trained_tokens: tokenizer.map(|_| trained),
        longest: tokenizer.map(|_| longest),
        ms: elapsed_ms(start),
    }
}
