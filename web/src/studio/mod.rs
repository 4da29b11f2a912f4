//! The studio's engine: one session (a source file and the ops applied to it), its stages
//! computed by the data crate, and the answers to the page's questions.
//!
//! It runs in the studio worker (see `bin/studio_worker.rs`), but nothing here touches the
//! browser: it takes bytes and gives views, so it is tested natively. The stages are cached and
//! recomputed from the first one a change affects:
//!
//! 1. **load**: the source's records, with the user's fixes and drops, through
//!    `ajuste_shared::load` (format detection, parsing, validation);
//! 2. **clean**: `ajuste_shared::clean::apply` with the session's steps;
//! 3. **dedup**: `ajuste_shared::dedup::dedup`, as indices of the cleaned records kept;
//! 4. **template**: the template and tokenizer, compiled once.
//!
//! The bundle is built the way `ajuste bundle create` builds it (from the source file, edited
//! when there are fixes, and the recipe), so the two give the same bytes.

pub mod diff;
mod export;
pub mod json_view;
pub mod settings;
pub mod source;
mod views;

use std::collections::BTreeMap;

use ajuste_shared::balance::{self, BalanceReport};
use ajuste_shared::clean::{self, CleanReport};
use ajuste_shared::dedup::{self, DedupReport};
use ajuste_shared::load::{LoadOptions, load_records};
use ajuste_shared::tokenize::TextTokenizer;
use ajuste_shared::validate::Report;
use ajuste_shared::{Container, Dataset, Item, Kind, Record, Source};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::analysis::summarize;
use crate::inspect::inspect;
use crate::protocol::{
    BalanceSummary, CleanSummary, DedupSummary, FailureReason, FileFacts, Op, Summary,
    TemplateOverall, TemplateSummary, Timing, TokenizerFacts,
};
use settings::Settings;
use source::{Edits, Input};

/// Reports progress of a long job: (task, done, total; 0 when unknown).
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64, u64);

/// Records between two progress reports.
const PROGRESS_EVERY: usize = 4096;

/// What a browser keeps of a session: enough to rebuild it from the source bytes and blobs
/// (stored beside it under their hashes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSession {
    pub version: u32,
    pub name: String,
    /// Hash of the source bytes (the name of their file in storage).
    pub sha256: String,
    pub from_bundle: Option<String>,
    pub base_ops: Vec<Op>,
    pub ops: Vec<Op>,
}

/// Version of [`SavedSession`]; an older studio's session is dropped, not misread.
pub const SAVED_VERSION: u32 = 1;

/// The studio engine.
#[derive(Default)]
pub struct Engine {
    session: Option<Session>,
    /// Stored tokenizers, by the sha256 of their bytes.
    blobs: BTreeMap<String, Vec<u8>>,
    generation: u64,
}

struct Session {
    input: Input,
    ops: Vec<Op>,
    settings: Settings,
    loaded: Loaded,
    cleaned: Cleaned,
    deduped: Deduped,
    balanced: Balanced,
    template: TemplateStage,
    /// The template over every record, for the generation it was computed at.
    overall: Option<(u64, TemplateOverall)>,
    timings: Vec<Timing>,
}

/// Stage 1: the source read, fixed and validated.
struct Loaded {
    container: Container,
    dataset: Dataset,
    report: Report,
    /// Line of every record of the source, dropped ones included (for the fast record view).
    lines: BTreeMap<usize, usize>,
}

/// Stage 2: the cleaned records, apart from their sources so dedup can take the slice.
struct Cleaned {
    sources: Vec<Source>,
    records: Vec<Record>,
    report: CleanReport,
}

/// Stage 3: which cleaned records dedup keeps.
struct Deduped {
    report: Option<DedupReport>,
    kept: Vec<usize>,
}

/// Stage 4: which deduplicated records balancing keeps (indices into the cleaned records).
struct Balanced {
    report: Option<BalanceReport>,
    /// Why the balancing in the settings could not run (every record is then kept).
    error: Option<String>,
    kept: Vec<usize>,
}

/// Stage 5: the template and tokenizer, or why they cannot be used.
struct TemplateStage {
    template: Result<ajuste_shared::template::Template, String>,
    tokenizer: Option<LoadedTokenizer>,
    error: Option<String>,
}

/// A tokenizer in use, with the bytes of its tokenizer.json (the bundle records their hash).
struct LoadedTokenizer {
    facts: TokenizerFacts,
    tokenizer: TextTokenizer,
    bytes: Vec<u8>,
}

/// Where a change makes the stages start again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Load,
    Clean,
    Dedup,
    Balance,
    Template,
    None,
}

fn first_stage(op: &Op) -> Stage {
    match op {
        Op::Format(_) | Op::Fields(_) | Op::Edit { .. } | Op::Drop { .. } => Stage::Load,
        Op::Clean(_) => Stage::Clean,
        Op::Dedup(_) => Stage::Dedup,
        Op::Balance(_) => Stage::Balance,
        Op::Template(_) | Op::Tokenizer(_) => Stage::Template,
        Op::Split(_) | Op::Train { .. } => Stage::None,
    }
}

impl Engine {
    pub fn new() -> Self {
        Engine::default()
    }

    /// Whether a session is open.
    pub fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// Opens a file as the new session. On failure the current session stays as it was.
    pub fn open(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        options: LoadOptions,
        progress: Progress<'_>,
    ) -> Result<Summary, FailureReason> {
        let (name, bytes, base_ops, from_bundle) =
            if source::is_zip(&bytes) && (name.ends_with(".ajuste") || name.ends_with(".zip")) {
                progress("Reading the bundle", 0, 0);
                let (jsonl_name, jsonl, ops) =
                    source::from_bundle(name, &bytes).map_err(FailureReason::Bundle)?;
                (jsonl_name, jsonl, ops, Some(name.to_owned()))
            } else {
                (name.to_owned(), bytes, Vec::new(), None)
            };
        let summary = inspect(&bytes)?;
        let input = Input {
            name,
            sha256: ajuste_shared::bundle::sha256_hex(&bytes),
            bytes,
            summary,
            from_bundle,
            base_ops,
        };
        // How the file was asked to be read is the session's first changes (undoable).
        let format = options.format.map(|f| Op::Format(Some(f)));
        let fields = (!options.fields.is_empty()).then_some(Op::Fields(options.fields));
        let ops: Vec<Op> = format.into_iter().chain(fields).collect();
        let session = Session::build(input, ops, &self.blobs, progress)
            .map_err(|BuildError::Load(f)| FailureReason::Load(f))?;
        self.session = Some(session);
        self.generation += 1;
        Ok(self.summary().expect("a session was just opened"))
    }

    /// Rebuilds a saved session from its source bytes. Tokenizers must be in the blob store.
    pub fn restore(
        &mut self,
        saved: SavedSession,
        bytes: Vec<u8>,
        progress: Progress<'_>,
    ) -> Result<Summary, String> {
        if saved.version != SAVED_VERSION {
            return Err("the saved session is from another version of the studio".into());
        }
        let summary = inspect(&bytes).map_err(|e| e.to_string())?;
        // The bytes were read from storage under this hash.
        let input = Input {
            name: saved.name,
            sha256: saved.sha256,
            bytes,
            summary,
            from_bundle: saved.from_bundle,
            base_ops: saved.base_ops,
        };
        let session = Session::build(input, saved.ops, &self.blobs, progress)
            .map_err(BuildError::into_message)?;
        self.session = Some(session);
        self.generation += 1;
        Ok(self.summary().expect("a session was just restored"))
    }

    /// What to keep in storage for this session, with the hashes of the blobs it needs.
    pub fn saved(&self) -> Option<(SavedSession, Vec<String>)> {
        let s = self.session.as_ref()?;
        let blobs = s
            .settings
            .tokenizer
            .iter()
            .map(|t| t.sha256.clone())
            .collect();
        Some((
            SavedSession {
                version: SAVED_VERSION,
                name: s.input.name.clone(),
                sha256: s.input.sha256.clone(),
                from_bundle: s.input.from_bundle.clone(),
                base_ops: s.input.base_ops.clone(),
                ops: s.ops.clone(),
            },
            blobs,
        ))
    }

    /// The session's source bytes.
    pub fn source_bytes(&self) -> Option<&[u8]> {
        self.session.as_ref().map(|s| &s.input.bytes[..])
    }

    /// A stored blob.
    pub fn blob(&self, sha256: &str) -> Option<&[u8]> {
        self.blobs.get(sha256).map(Vec::as_slice)
    }

    /// Stores a tokenizer.json after checking that it loads; returns its hash.
    pub fn add_tokenizer(&mut self, bytes: Vec<u8>) -> Result<String, String> {
        TextTokenizer::from_bytes(&bytes).map_err(|e| e.to_string())?;
        Ok(self.add_blob(bytes))
    }

    /// Stores a blob as it is (one read back from storage); returns its hash.
    pub fn add_blob(&mut self, bytes: Vec<u8>) -> String {
        let sha = ajuste_shared::bundle::sha256_hex(&bytes);
        self.blobs.insert(sha.clone(), bytes);
        sha
    }

    /// Forgets the session.
    pub fn close(&mut self) {
        self.session = None;
        self.generation += 1;
    }

    /// Applies a change. A change that cannot be made is refused and leaves the session as it
    /// was.
    pub fn apply(&mut self, op: Op, progress: Progress<'_>) -> Result<Summary, String> {
        let session = self.session.as_mut().ok_or("no dataset is loaded")?;
        session.check(&op, &self.blobs)?;
        let stage = first_stage(&op);
        session.ops.push(op);
        if let Err(e) = session.recompute(stage, &self.blobs, progress) {
            let op = session.ops.pop();
            // Put the stages back as they were; they were computed from these ops before.
            let _ = session.recompute(stage, &self.blobs, &mut |_, _, _| {});
            let what = op.as_ref().map(settings::describe).unwrap_or_default();
            return Err(format!("{what}: {}", e.into_message()));
        }
        self.generation += 1;
        Ok(self.summary().expect("the session is open"))
    }

    /// Takes back the last change.
    pub fn undo(&mut self, progress: Progress<'_>) -> Result<Summary, String> {
        let session = self.session.as_mut().ok_or("no dataset is loaded")?;
        let op = session.ops.pop().ok_or("there is nothing to undo")?;
        if let Err(e) = session.recompute(first_stage(&op), &self.blobs, progress) {
            session.ops.push(op);
            return Err(e.into_message());
        }
        self.generation += 1;
        Ok(self.summary().expect("the session is open"))
    }

    /// The session as the page shows it.
    pub fn summary(&self) -> Option<Summary> {
        let s = self.session.as_ref()?;
        let loaded = &s.loaded;
        let load = summarize(loaded.container, &loaded.report);
        let dedup = s.settings.dedup.as_ref().map(|config| {
            let report = s.deduped.report.as_ref();
            DedupSummary {
                config: config.clone(),
                exact: report.map_or(0, |r| r.exact_duplicates),
                near: report.map_or(0, |r| r.near_duplicates),
                records_out: s.deduped.kept.len(),
            }
        });
        let balance = s.settings.balance.as_ref().map(|config| BalanceSummary {
            config: config.clone(),
            groups: s
                .balanced
                .report
                .as_ref()
                .map(|r| r.groups.clone())
                .unwrap_or_default(),
            error: s.balanced.error.clone(),
            records_out: s.balanced.kept.len(),
        });
        Some(Summary {
            generation: self.generation,
            file: FileFacts {
                name: s.input.name.clone(),
                summary: s.input.summary,
                container: loaded.container,
                format: loaded.report.format,
                kind: loaded.report.kind,
                forced_format: s.settings.format,
                fields: s.settings.fields.clone(),
                from_bundle: s.input.from_bundle.clone(),
            },
            load,
            edited_records: s.settings.edits.len(),
            dropped_records: s.settings.drops.len(),
            clean: CleanSummary {
                steps: s.settings.clean.clone(),
                records_in: s.cleaned.report.records_in,
                records_out: s.cleaned.report.records_out,
                reports: s.cleaned.report.steps.clone(),
            },
            dedup,
            balance,
            template: TemplateSummary {
                choice: s.settings.template.clone(),
                name: match &s.template.template {
                    Ok(t) => t.name(),
                    Err(_) => "none".into(),
                },
                tokenizer: s.template.tokenizer.as_ref().map(|t| t.facts.clone()),
                error: s.template.error.clone(),
            },
            split: s.settings.split,
            method: s.settings.method,
            model: s.settings.model.clone(),
            max_length: s.settings.train_config().max_length,
            records_out: s.balanced.kept.len(),
            bundle_name: export::bundle_names(s).1,
            command: export::command(s),
            train_command: export::train_command(s),
            history: s.ops.iter().map(settings::describe).collect(),
            timings: s.timings.clone(),
        })
    }

    fn session(&self) -> Result<&Session, String> {
        self.session
            .as_ref()
            .ok_or_else(|| "no dataset is loaded".to_owned())
    }
}

/// Why a session could not be built: the loader refused the source.
enum BuildError {
    Load(ajuste_shared::Finding),
}

impl BuildError {
    fn into_message(self) -> String {
        let BuildError::Load(f) = self;
        f.message
    }
}

impl Session {
    fn build(
        input: Input,
        ops: Vec<Op>,
        blobs: &BTreeMap<String, Vec<u8>>,
        progress: Progress<'_>,
    ) -> Result<Session, BuildError> {
        let mut timings = Vec::new();
        let all: Vec<Op> = input.base_ops.iter().chain(&ops).cloned().collect();
        let pre = Settings::from_ops(Kind::Sft, &all);
        let loaded = load_stage(&input, &pre, progress, &mut timings)?;
        let settings = Settings::from_ops(loaded.report.kind, &all);
        let cleaned = clean_stage(&loaded, &settings, progress, &mut timings);
        let deduped = dedup_stage(&cleaned, &settings, progress, &mut timings);
        let balanced = balance_stage(&cleaned, &deduped, &settings, progress, &mut timings);
        let template = template_stage(&settings, blobs);
        Ok(Session {
            input,
            ops,
            settings,
            loaded,
            cleaned,
            deduped,
            balanced,
            template,
            overall: None,
            timings,
        })
    }

    /// Checks that `op` can be applied before anything is recomputed.
    fn check(&self, op: &Op, blobs: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
        match op {
            Op::Edit {
                record,
                pointer,
                value,
            } => {
                let line = self.loaded.lines.get(record).copied();
                let raw = self
                    .input
                    .raw_record(*record, line)
                    .ok_or_else(|| format!("the source has no record {record}"))?;
                let mut v = raw.value.map_err(|f| {
                    format!("record {record} is not JSON ({}), so no field of it can be fixed; drop it instead", f.message)
                })?;
                for (p, t) in self.settings.edits.get(record).into_iter().flatten() {
                    json_view::set_string(&mut v, p, t).map_err(|e| e.to_string())?;
                }
                json_view::set_string(&mut v, pointer, value).map_err(|e| e.to_string())
            }
            Op::Drop { record }
                if *record >= self.loaded.report.records + self.settings.drops.len() =>
            {
                Err(format!("the source has no record {record}"))
            }
            Op::Clean(steps) => steps
                .iter()
                .try_for_each(|s| s.validate().map_err(|e| format!("{}: {e}", s.name()))),
            Op::Dedup(Some(config)) => config.validate().map_err(|e| e.to_string()),
            // Refused now rather than kept as an error: the data has no such groups.
            Op::Balance(Some(config)) => balance::balance(self.deduplicated(), config)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Op::Fields(map) => map.check(),
            Op::Template(choice) => settings::template_of(choice).map(|_| ()),
            Op::Tokenizer(Some(t)) if !blobs.contains_key(&t.sha256) => Err(format!(
                "the tokenizer {} is not stored; load it again",
                t.name
            )),
            Op::Split(split) => ajuste_shared::split::split(2, *split)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Op::Train { method, .. } if method.kind() != self.loaded.report.kind => Err(format!(
                "the method {method} trains on {} data, and this dataset is {} data",
                method.kind(),
                self.loaded.report.kind
            )),
            _ => Ok(()),
        }
    }

    /// Recomputes the stages from `from` on, with the current ops.
    fn recompute(
        &mut self,
        from: Stage,
        blobs: &BTreeMap<String, Vec<u8>>,
        progress: Progress<'_>,
    ) -> Result<(), BuildError> {
        let all: Vec<Op> = self
            .input
            .base_ops
            .iter()
            .chain(&self.ops)
            .cloned()
            .collect();
        let mut timings = Vec::new();
        if from <= Stage::Load {
            let pre = Settings::from_ops(Kind::Sft, &all);
            self.loaded = load_stage(&self.input, &pre, progress, &mut timings)?;
        }
        self.settings = Settings::from_ops(self.loaded.report.kind, &all);
        if from <= Stage::Clean {
            self.cleaned = clean_stage(&self.loaded, &self.settings, progress, &mut timings);
        }
        if from <= Stage::Dedup {
            self.deduped = dedup_stage(&self.cleaned, &self.settings, progress, &mut timings);
        }
        if from <= Stage::Balance {
            self.balanced = balance_stage(
                &self.cleaned,
                &self.deduped,
                &self.settings,
                progress,
                &mut timings,
            );
        }
        if from <= Stage::Template {
            self.template = template_stage(&self.settings, blobs);
        }
        self.overall = None;
        self.timings = timings;
        Ok(())
    }

    /// The records deduplication keeps (what balancing groups).
    fn deduplicated(&self) -> impl Iterator<Item = &Record> + '_ {
        self.deduped.kept.iter().map(|&i| &self.cleaned.records[i])
    }

    /// The prepared records (after every stage), with their sources.
    fn prepared(&self) -> impl ExactSizeIterator<Item = (&Source, &Record)> + '_ {
        self.balanced
            .kept
            .iter()
            .map(|&i| (&self.cleaned.sources[i], &self.cleaned.records[i]))
    }

    /// The prepared records as a dataset (a copy).
    fn prepared_dataset(&self) -> Dataset {
        Dataset {
            name: self.input.name.clone(),
            items: self
                .prepared()
                .map(|(source, record)| Item {
                    source: *source,
                    record: record.clone(),
                })
                .collect(),
        }
    }

    fn edits(&self) -> Edits<'_> {
        Edits {
            edits: &self.settings.edits,
            drops: &self.settings.drops,
        }
    }
}

fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Stage 1: reads the source with the fixes and drops, and validates it.
fn load_stage(
    input: &Input,
    settings: &Settings,
    progress: Progress<'_>,
    timings: &mut Vec<Timing>,
) -> Result<Loaded, BuildError> {
    let start = Instant::now();
    let task = "Parsing and validating";
    let total = input.summary.lines;
    progress(task, 0, total);
    let (container, records) = input.raw_records().map_err(BuildError::Load)?;
    let edits = Edits {
        edits: &settings.edits,
        drops: &settings.drops,
    };
    let mut lines = BTreeMap::new();
    let records = records.filter_map(|raw| {
        lines.insert(raw.source.index, raw.source.line);
        if raw.source.index % PROGRESS_EVERY == 0 {
            progress(task, raw.source.line as u64, total);
        }
        edits.apply(raw)
    });
    let opts = settings.load_options();
    let mut items = Vec::new();
    let loaded = load_records(container, records, &input.name, &opts, |item| {
        items.push(item)
    })
    .map_err(BuildError::Load)?;
    timings.push(Timing {
        stage: "parse and validate".into(),
        ms: elapsed_ms(start),
    });
    Ok(Loaded {
        container,
        dataset: Dataset {
            name: input.name.clone(),
            items,
        },
        report: loaded.report,
        lines,
    })
}

/// Stage 2: the cleaning steps over a copy of the loaded records.
fn clean_stage(
    loaded: &Loaded,
    settings: &Settings,
    progress: Progress<'_>,
    timings: &mut Vec<Timing>,
) -> Cleaned {
    let start = Instant::now();
    progress("Cleaning", 0, 0);
    let mut dataset = loaded.dataset.clone();
    let report = clean::apply(&settings.clean, &mut dataset);
    let (sources, records) = dataset
        .items
        .into_iter()
        .map(|item| (item.source, item.record))
        .unzip();
    timings.push(Timing {
        stage: "clean".into(),
        ms: elapsed_ms(start),
    });
    Cleaned {
        sources,
        records,
        report,
    }
}

/// Stage 3: which cleaned records dedup keeps.
fn dedup_stage(
    cleaned: &Cleaned,
    settings: &Settings,
    progress: Progress<'_>,
    timings: &mut Vec<Timing>,
) -> Deduped {
    let Some(config) = &settings.dedup else {
        return Deduped {
            report: None,
            kept: (0..cleaned.records.len()).collect(),
        };
    };
    let start = Instant::now();
    progress("Deduplicating", 0, 0);
    let report = dedup::dedup(&cleaned.records, config);
    let removed = report.removed();
    let kept = (0..cleaned.records.len())
        .filter(|i| !removed.contains(i))
        .collect();
    timings.push(Timing {
        stage: "dedup".into(),
        ms: elapsed_ms(start),
    });
    Deduped {
        report: Some(report),
        kept,
    }
}

/// Stage 4: balancing the deduplicated records, when the settings ask for it.
fn balance_stage(
    cleaned: &Cleaned,
    deduped: &Deduped,
    settings: &Settings,
    progress: Progress<'_>,
    timings: &mut Vec<Timing>,
) -> Balanced {
    let all = || Balanced {
        report: None,
        error: None,
        kept: deduped.kept.clone(),
    };
    let Some(config) = &settings.balance else {
        return all();
    };
    let start = Instant::now();
    progress("Balancing", 0, 0);
    let records = deduped.kept.iter().map(|&i| &cleaned.records[i]);
    let balanced = match balance::balance(records, config) {
        Ok(report) => Balanced {
            kept: report.kept.iter().map(|&j| deduped.kept[j]).collect(),
            report: Some(report),
            error: None,
        },
        Err(e) => Balanced {
            error: Some(e.to_string()),
            ..all()
        },
    };
    timings.push(Timing {
        stage: "balance".into(),
        ms: elapsed_ms(start),
    });
    balanced
}

/// Stage 5: the template and tokenizer.
fn template_stage(settings: &Settings, blobs: &BTreeMap<String, Vec<u8>>) -> TemplateStage {
    let template = settings.template();
    let mut error = template.as_ref().err().cloned();
    let tokenizer = settings.tokenizer.as_ref().and_then(|t| {
        let loaded = blobs
            .get(&t.sha256)
            .ok_or_else(|| format!("the tokenizer {} is not stored; load it again", t.name))
            .and_then(|bytes| {
                TextTokenizer::from_bytes(bytes)
                    .map(|tok| (tok, bytes.clone()))
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok((tokenizer, bytes)) => Some(LoadedTokenizer {
                facts: TokenizerFacts {
                    name: t.name.clone(),
                    vocab_size: tokenizer.vocab_size(),
                    sha256: t.sha256.clone(),
                },
                tokenizer,
                bytes,
            }),
            Err(e) => {
                error.get_or_insert(e);
                None
            }
        }
    });
    TemplateStage {
        template,
        tokenizer,
        error,
    }
}

#[cfg(test)]
mod tests;
