//! The messages between the page and the studio worker, and the views the worker computes.
//!
//! The worker holds the dataset; the page only ever receives what it shows: counts, a page of
//! findings, one record, a sample of clusters, a chart's numbers. Every message is plain serde
//! data (sent as JSON text); file contents travel beside the message as a `Blob` (page to worker)
//! or a transferred `Uint8Array` (worker to page), never through JSON.
//!
//! Views carry the `generation` of the session they were computed from, so the page can tell a
//! view of an older state (computed before an edit or an undo) and ask again.

use std::collections::BTreeMap;

use ajuste_shared::balance::{BalanceConfig, GroupCount};
use ajuste_shared::clean::{Drop, Step, StepReport};
use ajuste_shared::config::Method;
use ajuste_shared::dedup::{DedupConfig, DupKind};
use ajuste_shared::formats::FieldMap;
use ajuste_shared::split::SplitConfig;
use ajuste_shared::stats::{Histogram, Stats};
use ajuste_shared::template::Builtin;
use ajuste_shared::{Code, Container, Finding, Format, Kind, LoadOptions, Role, Severity};
use serde::{Deserialize, Serialize};

use crate::analysis::LoadSummary;
use crate::inspect::{FileSummary, InspectError};

/// What the page asks the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Load a file; its bytes come beside the message. The session is replaced only if the
    /// file loads: a bad file leaves the current work as it is.
    Open { name: String, options: LoadOptions },
    /// Rebuild the session kept in the browser's storage, if any.
    Restore,
    /// Change the session (a fix, a cleaning pipeline, a template...).
    Apply(Op),
    /// Store a tokenizer.json (its bytes come beside the message) and use it.
    SetTokenizer { name: String },
    /// Take back the last change.
    Undo,
    /// Forget the session, here and in storage.
    Close,
    /// A page of the loader's findings.
    Findings(FindingsQuery),
    /// One record of the input, by its 0-based number.
    Record { record: usize },
    /// What a cleaning pipeline would do (nothing is applied).
    CleanPreview { steps: Vec<Step> },
    /// What a dedup configuration would find (nothing is applied).
    DedupPreview {
        config: DedupConfig,
        cluster_offset: usize,
    },
    /// The record at `position` of the prepared data, rendered with the session's template.
    Template { position: usize },
    /// Statistics of the prepared data.
    Stats { max_length: usize },
    /// A file to download.
    Export(ExportKind),
}

/// A change to the session. The session is its source file plus the list of ops applied; undo
/// drops the last op, and a reload replays them all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Read the source as this format (`None`: detect it).
    Format(Option<Format>),
    /// Rename the source's fields and turn roles before reading it.
    Fields(FieldMap),
    /// Set the string at `pointer` (a JSON pointer into the source record) to `value`.
    Edit {
        record: usize,
        pointer: String,
        value: String,
    },
    /// Leave a record of the source out.
    Drop {
        record: usize,
    },
    /// The cleaning pipeline (steps in their recommended order).
    Clean(Vec<Step>),
    /// Deduplication, or none.
    Dedup(Option<DedupConfig>),
    /// Balancing after deduplication, or none.
    Balance(Option<BalanceConfig>),
    Template(TemplateChoice),
    /// A stored tokenizer (see [`Request::SetTokenizer`]), or none.
    Tokenizer(Option<TokenizerRef>),
    Split(SplitConfig),
    Train {
        method: Method,
        model: Option<String>,
    },
}

/// Which chat template renders records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TemplateChoice {
    Builtin(Builtin),
    /// A Hugging Face tokenizer_config.json (its text), and a chat_template.jinja when one was
    /// given beside it (it then wins, as in transformers 5's layout).
    HuggingFace {
        config_name: String,
        config: String,
        jinja: Option<String>,
    },
}

/// A tokenizer.json the worker has stored, by name and content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerRef {
    pub name: String,
    pub sha256: String,
}

/// Which findings to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingsQuery {
    pub code: Option<Code>,
    pub severity: Option<Severity>,
    pub offset: usize,
    pub limit: usize,
}

/// Which file to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportKind {
    /// The `.ajuste` bundle.
    Bundle,
    /// The same bundle for the Train page, which hands it to the training worker: not
    /// downloaded.
    TrainingBundle,
    /// The prepared records (cleaned, deduplicated) in a format.
    Data {
        format: Format,
        container: Container,
    },
    /// The source with the fixes and drops made on the Validate page.
    EditedSource,
}

/// What the worker says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// How far a long job has come; `total` 0 when unknown.
    Progress(Progress),
    /// The session after a change (open, restore, apply, undo).
    Session(Box<Summary>),
    /// There is no session (nothing kept in storage, or closed).
    NoSession,
    /// A file did not load; the session, if any, is unchanged.
    OpenFailed {
        name: String,
        reason: FailureReason,
    },
    Findings(FindingsPage),
    Record(Box<RecordView>),
    CleanPreview(Box<CleanPreview>),
    Dedup(Box<DedupView>),
    Template(Box<TemplateView>),
    Stats(Box<StatsView>),
    /// A file's bytes come beside the message.
    Export(ExportFile),
    /// A request could not be served; `what` names it for the page.
    Failed {
        what: String,
        message: String,
    },
    /// The worker hit a bug and stopped; the page must start a new one.
    Fatal {
        message: String,
    },
}

/// Progress of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// What is being done: "Reading file", "Parsing and validating", ...
    pub task: String,
    pub done: u64,
    pub total: u64,
}

/// Why a file did not load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum FailureReason {
    /// The bytes are not a dataset (empty, binary, not UTF-8, ...).
    #[error("{0}")]
    Inspect(#[from] InspectError),
    /// The loader refused the whole file (unknown format, no records, ...).
    #[error("{}", .0.message)]
    Load(Finding),
    /// A bundle (`.ajuste`) that cannot be read.
    #[error("This .ajuste bundle cannot be opened: {0}")]
    Bundle(String),
    /// The browser could not read the file or fetch the sample.
    #[error("The file could not be read: {0}")]
    Read(String),
}

/// The session: where the data comes from, and what each stage made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Grows on every change; views carry the generation they were computed from.
    pub generation: u64,
    pub file: FileFacts,
    /// The loader's report on the source (with the user's fixes applied).
    pub load: LoadSummary,
    /// Records fixed and dropped by hand.
    pub edited_records: usize,
    pub dropped_records: usize,
    pub clean: CleanSummary,
    pub dedup: Option<DedupSummary>,
    pub balance: Option<BalanceSummary>,
    pub template: TemplateSummary,
    pub split: SplitConfig,
    pub method: Method,
    pub model: Option<String>,
    /// The max length of the training config (the line on the token histogram).
    pub max_length: usize,
    /// Records after every stage.
    pub records_out: usize,
    /// The bundle's file name, and the `ajuste bundle create` line that builds the same bytes
    /// (or why the choices have no command line).
    pub bundle_name: String,
    pub command: Result<String, String>,
    /// The `ajuste train` line for the bundle.
    pub train_command: String,
    /// One label per change, oldest first; undo takes back the last.
    pub history: Vec<String>,
    /// How long the stages recomputed by the last change took, in milliseconds.
    pub timings: Vec<Timing>,
}

/// One timed stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub stage: String,
    pub ms: f64,
}

/// The source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileFacts {
    pub name: String,
    pub summary: FileSummary,
    pub container: Container,
    pub format: Format,
    pub kind: Kind,
    /// The format the user forced (`None`: detected).
    pub forced_format: Option<Format>,
    /// The fields and roles renamed while reading it.
    pub fields: FieldMap,
    /// The bundle the data came from, when an `.ajuste` file was opened.
    pub from_bundle: Option<String>,
}

/// The cleaning stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanSummary {
    pub steps: Vec<Step>,
    pub records_in: usize,
    pub records_out: usize,
    pub reports: Vec<StepReport>,
}

/// The dedup stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupSummary {
    pub config: DedupConfig,
    pub exact: usize,
    pub near: usize,
    pub records_out: usize,
}

/// Balancing in use: every group before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceSummary {
    pub config: BalanceConfig,
    pub groups: Vec<GroupCount>,
    /// Why it could not run (the records are then kept as they are).
    pub error: Option<String>,
    pub records_out: usize,
}

/// The template and tokenizer in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSummary {
    pub choice: TemplateChoice,
    /// `chatml`, or the Hugging Face template's name.
    pub name: String,
    pub tokenizer: Option<TokenizerFacts>,
    /// Why the template or tokenizer cannot be used (the session keeps working without them).
    pub error: Option<String>,
}

/// A loaded tokenizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerFacts {
    pub name: String,
    pub vocab_size: usize,
    pub sha256: String,
}

/// A page of findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingsPage {
    pub generation: u64,
    pub query: FindingsQuery,
    /// Findings that match the query.
    pub total: usize,
    pub rows: Vec<Finding>,
}

/// One record of the source, as the Validate page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    pub generation: u64,
    pub record: usize,
    pub line: usize,
    pub status: RecordStatus,
    /// The source record (fixes applied), pretty-printed; `None` when it is not JSON.
    pub json: Option<String>,
    /// Byte range of every value in `json`, by JSON pointer.
    pub spans: Vec<Span>,
    /// The string fields, which can be fixed in place.
    pub fields: Vec<Field>,
    /// The loader's findings on this record.
    pub findings: Vec<Finding>,
    /// Fixes made to this record so far.
    pub edits: Vec<Field>,
}

/// Where a record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordStatus {
    Kept,
    /// An error finding drops it.
    Invalid,
    /// Dropped by hand.
    DroppedByUser,
}

/// A value's place in a pretty-printed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub pointer: String,
    pub start: usize,
    pub end: usize,
}

/// A string field of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub pointer: String,
    pub value: String,
}

/// What a cleaning pipeline would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanPreview {
    pub generation: u64,
    pub steps: Vec<Step>,
    /// Why a step cannot run as set (by step name).
    pub invalid: Vec<(String, String)>,
    pub records_in: usize,
    pub records_out: usize,
    pub reports: Vec<StepReport>,
    /// Records whose text changed: a sample, with a word diff of each changed turn.
    pub changed: usize,
    pub samples: Vec<ChangedRecord>,
    /// Dropped records: a sample.
    pub drops: Vec<Drop>,
}

/// A record the cleaning changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedRecord {
    pub record: usize,
    pub line: usize,
    pub turns: Vec<TurnDiff>,
}

/// One turn before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnDiff {
    /// The turn's canonical pointer (`/messages/1`), or the list's when turns were merged or
    /// dropped.
    pub pointer: String,
    pub role: Option<Role>,
    pub parts: Vec<DiffPart>,
}

/// A piece of a word diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffPart {
    pub change: Change,
    pub text: String,
}

/// Whether a piece of text stays, goes or comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Same,
    Removed,
    Added,
}

/// What a dedup configuration finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupView {
    pub generation: u64,
    pub config: DedupConfig,
    /// Why the configuration cannot run; nothing else is filled then.
    pub invalid: Option<String>,
    pub records: usize,
    pub exact: usize,
    pub near: usize,
    /// Probability that a pair at the threshold is found (LSH), for the slider's label.
    pub catch_probability: f64,
    pub clusters: usize,
    pub cluster_offset: usize,
    pub cluster_page: Vec<ClusterView>,
    /// Eval records of the session's split that duplicate a train record (near matching on).
    pub leaks: usize,
    pub leak_sample: Vec<PairView>,
    /// Preference records with the same prompt and chosen/rejected swapped.
    pub contradictions: usize,
    pub contradiction_sample: Vec<PairView>,
    pub ms: f64,
}

/// A record as dedup shows it: its number, line and text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordText {
    pub record: usize,
    pub line: usize,
    pub text: String,
}

/// A cluster: the record kept and the ones removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    pub kind: DupKind,
    pub kept: RecordText,
    /// Each removed record with its similarity to the kept one.
    pub removed: Vec<(RecordText, f64)>,
}

/// Two records that belong together (a leak, a contradiction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairView {
    pub first: RecordText,
    pub second: RecordText,
    pub similarity: f64,
}

/// A record rendered with the template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateView {
    pub generation: u64,
    pub position: usize,
    /// Records of the prepared data.
    pub records: usize,
    pub record: usize,
    pub line: usize,
    /// The rendering (for preference pairs: prompt + chosen, then prompt + rejected).
    pub renders: Vec<RenderView>,
    /// Template and tokenizer problems that concern every record.
    pub template_findings: Vec<Finding>,
    /// Over every record: findings by code, and token totals.
    pub overall: TemplateOverall,
}

/// One rendering of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderView {
    /// "chosen", "rejected", or empty.
    pub label: String,
    pub segments: Vec<SegmentView>,
    /// The tokens, with a tokenizer (the first few thousand).
    pub tokens: Option<Vec<TokenView>>,
    pub token_count: Option<usize>,
    pub trained_tokens: Option<usize>,
    pub findings: Vec<Finding>,
}

/// A piece of rendered text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentView {
    pub text: String,
    pub trained: bool,
    /// Past the maximum length: training never sees it.
    pub cut: bool,
    pub role: Option<Role>,
}

/// A token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: u32,
    pub text: String,
    pub trained: bool,
}

/// The template over the whole prepared data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateOverall {
    pub records: usize,
    /// Findings of rendering and tokenization, by code.
    pub by_code: BTreeMap<Code, usize>,
    /// Records with no trained text.
    pub untrained: usize,
    pub tokens: Option<u64>,
    pub trained_tokens: Option<u64>,
    pub longest: Option<usize>,
    pub ms: f64,
}

/// Statistics of the prepared data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsView {
    pub generation: u64,
    pub stats: Stats,
    /// Turns per record.
    pub turns: Histogram,
    pub max_length: usize,
    pub ms: f64,
}

/// A file to download.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportFile {
    pub kind: ExportKind,
    pub name: String,
    pub mime: String,
    pub bytes: usize,
    /// For a bundle: the `ajuste bundle create` line that makes the same file, or why there is
    /// none.
    pub command: Option<Result<String, String>>,
    /// Files the command reads besides those the user has (the edited source).
    pub needs_edited_source: bool,
    pub ms: f64,
}
