//! Dataset formats: detection, parsing into the canonical model, and export.
//!
//! One module per format. Each parses one JSON object into a [`Record`] plus findings, exports a
//! record back, and maps canonical JSON pointers (`/messages/2/content`) to the pointer of the
//! same field in its own layout (`/conversations/2/value`), so validation findings name the field
//! the user sees in their file.
//!
//! Losslessness: everything a format does not name travels in `Message::extra` / record `meta`
//! and is written back verbatim. Facts about the *layout* of a source record that the canonical
//! model has no field for (a ShareGPT `system` field, the Alpaca instruction/input split, the
//! string form of a DPO pair) are kept in `meta` under [`LAYOUT_KEY`]; exporters read the facts
//! that concern them and never write that key into any format's output. Two per-turn keys play
//! the same role: ShareGPT's original `from` ([`sharegpt::FROM_KEY`]) and OpenAI content parts
//! ([`openai::PARTS_KEY`]); other formats drop them on export (the text is in `content`).

pub mod alpaca;
pub mod dpo;
pub mod field_map;
pub mod hh;
pub mod kto;
pub mod openai;
pub mod sharegpt;

use std::collections::HashMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codes::Code;
use crate::diagnostic::{Finding, Severity};
use crate::record::{Kind, Message, Record, Role};

pub use field_map::FieldMap;

/// A dataset format ajuste reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `conversations[{from, value}]` (FastChat, LLaMA-Factory).
    Sharegpt,
    /// `messages[{role, content}]` (OpenAI fine-tuning, TRL conversational SFT).
    Openai,
    /// `instruction`, `input`, `output`, optional `system` and `history`.
    Alpaca,
    /// TRL preference pairs: `prompt`/`chosen`/`rejected`, standard or conversational.
    Dpo,
    /// Anthropic HH: `chosen`/`rejected` strings of "\n\nHuman:"/"\n\nAssistant:" turns.
    Hh,
    /// TRL unpaired preference (`prompt`/`completion`/`label`) and LLaMA-Factory `kto_tag`.
    Kto,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Sharegpt,
        Format::Openai,
        Format::Alpaca,
        Format::Dpo,
        Format::Hh,
        Format::Kto,
    ];

    /// The stable lowercase name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Sharegpt => "sharegpt",
            Format::Openai => "openai",
            Format::Alpaca => "alpaca",
            Format::Dpo => "dpo",
            Format::Hh => "hh",
            Format::Kto => "kto",
        }
    }

    /// The record kind the format holds.
    pub fn kind(self) -> Kind {
        match self {
            Format::Sharegpt | Format::Openai | Format::Alpaca => Kind::Sft,
            Format::Dpo | Format::Hh => Kind::Preference,
            Format::Kto => Kind::Feedback,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}`; expected one of sharegpt, openai, alpaca, dpo, hh, kto")]
pub struct ParseFormatError(pub String);

impl FromStr for Format {
    type Err = ParseFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == lower)
            .ok_or_else(|| ParseFormatError(s.to_owned()))
    }
}

/// A record that the target format cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot write this {kind} record as {format}: {reason}")]
pub struct ExportError {
    pub format: Format,
    pub kind: Kind,
    /// What cannot be written and why, naming the turn when one is at fault.
    pub reason: String,
}

impl ExportError {
    pub(crate) fn new(format: Format, record: &Record, reason: impl Into<String>) -> Self {
        ExportError {
            format,
            kind: record.kind(),
            reason: reason.into(),
        }
    }

    /// The error for a record of a kind the format does not hold at all.
    pub(crate) fn wrong_kind(format: Format, record: &Record) -> Self {
        let holds = match format.kind() {
            Kind::Sft => "SFT conversations",
            Kind::Preference => "preference pairs (prompt, chosen, rejected)",
            Kind::Feedback => "labelled completions (prompt, completion, label)",
        };
        Self::new(format, record, format!("{format} holds {holds} only"))
    }
}

/// Detects the format of one record from its fields. `None` when nothing matches.
pub fn detect_one(value: &Value) -> Option<Format> {
    let obj = value.as_object()?;
    let has = |k: &str| obj.contains_key(k);
    if has("conversations") && has("kto_tag") {
        return Some(Format::Kto);
    }
    if has("chosen") && has("rejected") {
        // HH has no prompt and its texts carry the turn markers; everything else with a pair
        // (standard or conversational, explicit or implicit prompt, LLaMA-Factory) is DPO.
        if !has("prompt")
            && obj
                .get("chosen")
                .and_then(Value::as_str)
                .is_some_and(hh::looks_like_hh)
        {
            return Some(Format::Hh);
        }
        return Some(Format::Dpo);
    }
    if has("conversations") {
        return Some(Format::Sharegpt);
    }
    if has("messages") {
        return Some(Format::Openai);
    }
    if has("completion") && has("label") {
        return Some(Format::Kto);
    }
    if has("instruction") && (has("output") || has("instances")) {
        return Some(Format::Alpaca);
    }
    None
}

/// Detect the format from the first records (JSON objects). None when nothing matches.
///
/// Each record votes for the format its fields match; the most frequent wins (ties go to the
/// format listed first in [`Format::ALL`]), so a few odd records do not flip the decision.
pub fn detect(sample: &[Value]) -> Option<Format> {
    let mut votes: HashMap<Format, usize> = HashMap::new();
    for format in sample.iter().filter_map(detect_one) {
        *votes.entry(format).or_default() += 1;
    }
    let best = votes.values().copied().max()?;
    Format::ALL
        .into_iter()
        .find(|f| votes.get(f) == Some(&best))
}

/// Parse one record. Ok: the record plus non-fatal findings (warnings); Err: the fatal findings.
/// Findings carry `path` (JSON pointer inside the record) but no line/record (the caller adds them).
///
/// The `Err` side holds every finding of the record, warnings included, at least one of them an
/// error, so that a dropped record is explained completely.
pub fn parse_record(format: Format, value: &Value) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    match format {
        Format::Sharegpt => sharegpt::parse(value),
        Format::Openai => openai::parse(value),
        Format::Alpaca => alpaca::parse(value),
        Format::Dpo => dpo::parse(value),
        Format::Hh => hh::parse(value),
        Format::Kto => kto::parse(value),
    }
}

/// Write a record in a format. Err when the target cannot hold it (e.g. alpaca cannot hold a
/// conversation with tool turns or 2 system turns; sharegpt cannot hold a preference record).
pub fn export_record(format: Format, record: &Record) -> Result<Value, ExportError> {
    match format {
        Format::Sharegpt => sharegpt::export(record),
        Format::Openai => openai::export(record),
        Format::Alpaca => alpaca::export(record),
        Format::Dpo => dpo::export(record),
        Format::Hh => hh::export(record),
        Format::Kto => kto::export(record),
    }
}

/// Maps a canonical JSON pointer of `record` (as validation reports it, e.g. `/messages/2/content`)
/// to the pointer of the same field in `source`, the record as it was read in `format`
/// (e.g. `/conversations/2/value`). Pointers that do not name a turn come back unchanged.
pub fn source_pointer(format: Format, source: &Value, record: &Record, canonical: &str) -> String {
    let Some(target) = TurnPointer::parse(canonical) else {
        return canonical.to_owned();
    };
    let mapped = match format {
        Format::Sharegpt => sharegpt::source_pointer(source, &target),
        Format::Openai => Some(canonical.to_owned()),
        Format::Alpaca => alpaca::source_pointer(source, record, &target),
        Format::Dpo => dpo::source_pointer(source, record, &target),
        Format::Hh => hh::source_pointer(&target),
        Format::Kto => kto::source_pointer(source, record, &target),
    };
    mapped.unwrap_or_else(|| canonical.to_owned())
}

/// A canonical pointer split into turn list, turn index and field (`/chosen/1/content`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TurnPointer {
    /// `messages`, `prompt`, `chosen`, `rejected` or `completion`.
    pub list: String,
    pub index: Option<usize>,
    /// The field of the turn (`content`, `role`, `train`, or an extra key); empty for the turn.
    pub field: String,
}

impl TurnPointer {
    fn parse(pointer: &str) -> Option<TurnPointer> {
        let mut parts = pointer.strip_prefix('/')?.splitn(3, '/');
        let list = parts.next()?.to_owned();
        if !matches!(
            list.as_str(),
            "messages" | "prompt" | "chosen" | "rejected" | "completion"
        ) {
            return None;
        }
        let index = match parts.next() {
            Some(i) => Some(i.parse().ok()?),
            None => None,
        };
        let field = parts.next().unwrap_or("").to_owned();
        Some(TurnPointer { list, index, field })
    }

    /// `/{base}/{index}/{field}` with the field renamed by `rename` (content -> value, ...).
    pub(crate) fn under(
        &self,
        base: &str,
        index: usize,
        rename: impl Fn(&str) -> String,
    ) -> String {
        let mut out = format!("{base}/{index}");
        if !self.field.is_empty() {
            out.push('/');
            out.push_str(&rename(&self.field));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Shared parsing helpers.

/// Meta key under which formats record layout facts the canonical model has no field for.
pub const LAYOUT_KEY: &str = "_ajuste";

/// Top-level names a record's meta must not hold: they are the canonical fields of some record
/// kind, and since records serialise untagged a stray `chosen` would turn an SFT record into a
/// preference pair when read back.
const RESERVED_META: [&str; 6] = [
    "messages",
    "prompt",
    "chosen",
    "rejected",
    "completion",
    "label",
];

/// Turn keys that `Message` holds itself; an extra field by that name would be written twice.
const RESERVED_EXTRA: [&str; 3] = ["role", "content", "train"];

/// Findings collected while parsing one record.
#[derive(Debug, Default)]
pub(crate) struct Diag {
    pub findings: Vec<Finding>,
}

impl Diag {
    pub(crate) fn push(&mut self, code: Code, path: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding::new(code, message).path(path));
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The parse result: the record when no finding is an error.
    pub(crate) fn finish(self, record: Record) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
        if self.has_errors() {
            Err(self.findings)
        } else {
            Ok((record, self.findings))
        }
    }

    /// The record as a JSON object, or a `not-an-object` error.
    pub(crate) fn object<'v>(&mut self, value: &'v Value) -> Option<&'v Map<String, Value>> {
        let obj = value.as_object();
        if obj.is_none() {
            self.push(
                Code::NotAnObject,
                "",
                format!("the record is {}, not a JSON object", type_name(value)),
            );
        }
        obj
    }

    /// A required field, or a `missing-field` error.
    pub(crate) fn require<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        base: &str,
        key: &str,
        what: &str,
    ) -> Option<&'v Value> {
        let value = obj.get(key);
        if value.is_none() {
            self.push(
                Code::MissingField,
                pointer(base, key),
                format!("{what} has no `{key}` field"),
            );
        }
        value
    }

    /// A `wrong-type` error for `value` at `path`.
    pub(crate) fn wrong_type(&mut self, path: impl Into<String>, expected: &str, value: &Value) {
        let path = path.into();
        let name = if path.is_empty() {
            "the record".to_owned()
        } else {
            format!("`{path}`")
        };
        self.push(
            Code::WrongType,
            path,
            format!("{name} must be {expected}, found {}", type_name(value)),
        );
    }

    /// `value` as a string, or a `wrong-type` error.
    pub(crate) fn string<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v str> {
        let s = value.as_str();
        if s.is_none() {
            self.wrong_type(path, "a string", value);
        }
        s
    }

    /// `value` as an array, or a `wrong-type` error.
    pub(crate) fn array<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        let a = value.as_array();
        if a.is_none() {
            self.wrong_type(path, "a list", value);
        }
        a
    }
}

/// `base` + `/key`, escaped.
pub(crate) fn pointer(base: &str, key: impl std::fmt::Display) -> String {
    crate::diagnostic::pointer_push(base, key)
}

/// "a string", "a number", ... for messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Copies every top-level key not in `consumed` into the record's meta. Keys that would collide
/// with canonical field names are dropped with a `dropped-field` warning.
pub(crate) fn collect_meta(
    obj: &Map<String, Value>,
    consumed: &[&str],
    d: &mut Diag,
) -> Map<String, Value> {
    let mut meta = Map::new();
    for (key, value) in obj {
        if consumed.contains(&key.as_str()) {
            continue;
        }
        if RESERVED_META.contains(&key.as_str()) {
            d.push(
                Code::DroppedField,
                pointer("", key),
                format!("the field `{key}` is dropped: the name is a canonical record field"),
            );
            continue;
        }
        meta.insert(key.clone(), value.clone());
    }
    meta
}

/// Copies every key of a turn object not in `consumed` into the message's extra fields, dropping
/// (with a warning) the names `Message` holds itself.
pub(crate) fn collect_extra(
    obj: &Map<String, Value>,
    consumed: &[&str],
    base: &str,
    d: &mut Diag,
) -> Map<String, Value> {
    let mut extra = Map::new();
    for (key, value) in obj {
        if consumed.contains(&key.as_str()) {
            continue;
        }
        if RESERVED_EXTRA.contains(&key.as_str()) {
            d.push(
                Code::DroppedField,
                pointer(base, key),
                format!("the turn field `{key}` is dropped: the name is a canonical turn field"),
            );
            continue;
        }
        extra.insert(key.clone(), value.clone());
    }
    extra
}

/// The training flag of a turn: `weight` 0/1 (ShareGPT, OpenAI) or `train` true/false (Axolotl).
/// Callers leave both keys out of `extra`.
pub(crate) fn parse_train(obj: &Map<String, Value>, base: &str, d: &mut Diag) -> Option<bool> {
    let mut train = None;
    if let Some(w) = obj.get("weight") {
        match w.as_f64() {
            Some(0.0) => train = Some(false),
            Some(1.0) => train = Some(true),
            _ => d.push(
                Code::WrongType,
                pointer(base, "weight"),
                format!("`weight` must be 0 or 1, found {w}"),
            ),
        }
    }
    if let Some(t) = obj.get("train") {
        match t.as_bool() {
            Some(b) => train = Some(b),
            None => d.wrong_type(pointer(base, "train"), "true or false", t),
        }
    }
    train
}

/// The layout facts of a record (see [`LAYOUT_KEY`]).
pub(crate) fn layout(meta: &Map<String, Value>) -> Option<&Map<String, Value>> {
    meta.get(LAYOUT_KEY).and_then(Value::as_object)
}

/// One layout fact.
pub(crate) fn layout_get<'m>(meta: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    layout(meta).and_then(|l| l.get(key))
}

/// Records one layout fact, keeping facts already there (a canonical record read back has some).
pub(crate) fn layout_set(meta: &mut Map<String, Value>, key: &str, value: Value) {
    let entry = meta
        .entry(LAYOUT_KEY)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(l) = entry {
        l.insert(key.to_owned(), value);
    }
}

// ---------------------------------------------------------------------------------------------
// Shared export helpers.

/// Builds an output record: `id` first when meta has one (datasets conventionally lead with it),
/// then the format's own fields, then the rest of meta in its order. The layout key is never
/// written. A meta key that a native field would overwrite is an error, not a silent loss.
pub(crate) fn assemble(
    format: Format,
    record: &Record,
    native: Vec<(&str, Value)>,
) -> Result<Value, ExportError> {
    let meta = record.meta();
    let mut out = Map::new();
    if let Some(id) = meta.get("id") {
        out.insert("id".to_owned(), id.clone());
    }
    for (key, value) in native {
        if meta.contains_key(key) {
            return Err(ExportError::new(
                format,
                record,
                format!(
                    "the record's extra field `{key}` collides with {format}'s own `{key}` field"
                ),
            ));
        }
        out.insert(key.to_owned(), value);
    }
    for (key, value) in meta {
        if key != LAYOUT_KEY && !out.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

/// "turn 3 (tool)" for error messages; turns are counted from 1 as people count.
pub(crate) fn turn_label(list: &str, index: usize, m: &Message) -> String {
    format!("{list} turn {} ({})", index + 1, m.role)
}

/// The message's extra fields minus the per-turn layout keys of other formats (`keep` names the
/// target's own, which the caller handles).
pub(crate) fn foreign_extra<'m>(
    m: &'m Message,
    keep: &[&str],
) -> impl Iterator<Item = (&'m String, &'m Value)> {
    const LAYOUT_EXTRA: [&str; 2] = [sharegpt::FROM_KEY, openai::PARTS_KEY];
    let keep: Vec<String> = keep.iter().map(|s| (*s).to_owned()).collect();
    m.extra
        .iter()
        .filter(move |(k, _)| !LAYOUT_EXTRA.contains(&k.as_str()) || keep.contains(k))
}

/// Refuses turns whose content parts hold something other than text: only OpenAI content parts
/// can carry images or audio, and dropping them would lose data.
pub(crate) fn require_text_only(
    format: Format,
    record: &Record,
    list: &str,
    index: usize,
    m: &Message,
) -> Result<(), ExportError> {
    if openai::has_non_text_parts(m) {
        return Err(ExportError::new(
            format,
            record,
            format!(
                "{} has non-text content parts, which {format} cannot hold",
                turn_label(list, index, m)
            ),
        ));
    }
    Ok(())
}

/// For formats without per-turn fields (Alpaca, HH, standard DPO/KTO): refuses a turn that
/// carries extra fields or a training flag other than its role's default.
pub(crate) fn require_plain(
    format: Format,
    record: &Record,
    list: &str,
    index: usize,
    m: &Message,
) -> Result<(), ExportError> {
    require_text_only(format, record, list, index, m)?;
    if let Some((key, _)) = foreign_extra(m, &[]).next() {
        return Err(ExportError::new(
            format,
            record,
            format!(
                "{} carries the field `{key}`, which {format} has no place for",
                turn_label(list, index, m)
            ),
        ));
    }
    if let Some(train) = m.train
        && train != (m.role == Role::Assistant)
    {
        return Err(ExportError::new(
            format,
            record,
            format!(
                "{} is marked {}, which {format} cannot express",
                turn_label(list, index, m),
                if train { "trained" } else { "not trained" }
            ),
        ));
    }
    Ok(())
}

/// The text of a one-turn list whose turn has `role` and nothing else a string form would lose.
pub(crate) fn single_text(turns: &[Message], role: Role) -> Option<&str> {
    match turns {
        [m] if m.role == role
            && foreign_extra(m, &[]).next().is_none()
            && !openai::has_non_text_parts(m)
            && m.train.is_none_or(|t| t == (role == Role::Assistant)) =>
        {
            Some(&m.content)
        }
        _ => None,
    }
}

/// Number of whole turns `a` and `b` share at the start, leaving at least one turn in each so that
/// identical lists still give two (equal) completions rather than two empty ones.
pub(crate) fn common_prefix(a: &[Message], b: &[Message]) -> usize {
    let limit = a.len().min(b.len()).saturating_sub(1);
    a.iter()
        .zip(b)
        .take(limit)
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
            assert_eq!(serde_json::to_value(f).unwrap(), json!(f.as_str()));
        }
        assert_eq!("ShareGPT".parse::<Format>(), Ok(Format::Sharegpt));
        let err = "chatml".parse::<Format>().unwrap_err().to_string();
        assert!(
            err.contains("sharegpt, openai, alpaca, dpo, hh, kto"),
            "{err}"
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(Format::Alpaca.kind(), Kind::Sft);
        assert_eq!(Format::Hh.kind(), Kind::Preference);
        assert_eq!(Format::Kto.kind(), Kind::Feedback);
    }

    #[test]
    fn detection_tells_hh_from_standard_dpo() {
        let hh = json!({"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go"});
        let dpo = json!({"prompt": "hi", "chosen": "hello", "rejected": "go"});
        let implicit = json!({"chosen": "The sky is blue.", "rejected": "The sky is green."});
        assert_eq!(detect_one(&hh), Some(Format::Hh));
        assert_eq!(detect_one(&dpo), Some(Format::Dpo));
        assert_eq!(detect_one(&implicit), Some(Format::Dpo));
    }

    #[test]
    fn detection_by_fields() {
        assert_eq!(
            detect_one(&json!({"conversations": []})),
            Some(Format::Sharegpt)
        );
        assert_eq!(
            detect_one(&json!({"conversations": [], "kto_tag": true})),
            Some(Format::Kto)
        );
        assert_eq!(detect_one(&json!({"messages": []})), Some(Format::Openai));
        assert_eq!(
            detect_one(&json!({"instruction": "a", "output": "b"})),
            Some(Format::Alpaca)
        );
        assert_eq!(
            detect_one(&json!({"prompt": "a", "completion": "b", "label": true})),
            Some(Format::Kto)
        );
        assert_eq!(detect_one(&json!({"question": "a", "answer": "b"})), None);
        assert_eq!(detect_one(&json!([1, 2])), None);
    }

    #[test]
    fn detection_is_a_majority_vote() {
        let sample = vec![
            json!({"messages": []}),
            json!({"conversations": []}),
            json!({"messages": []}),
            json!(3),
        ];
        assert_eq!(detect(&sample), Some(Format::Openai));
        assert_eq!(detect(&[json!({"x": 1})]), None);
        assert_eq!(detect(&[]), None);
    }

    #[test]
    fn turn_pointers_parse() {
        let p = TurnPointer::parse("/chosen/1/content").unwrap();
        assert_eq!(
            (p.list.as_str(), p.index, p.field.as_str()),
            ("chosen", Some(1), "content")
        );
        let p = TurnPointer::parse("/messages").unwrap();
        assert_eq!((p.index, p.field.as_str()), (None, ""));
        assert!(TurnPointer::parse("/id").is_none());
        assert!(TurnPointer::parse("").is_none());
        assert!(TurnPointer::parse("/messages/x").is_none());
    }

    #[test]
    fn reserved_meta_keys_are_dropped_with_a_warning() {
        let mut d = Diag::default();
        let obj = json!({"conversations": [], "chosen": "x", "id": 3});
        let meta = collect_meta(obj.as_object().unwrap(), &["conversations"], &mut d);
        assert_eq!(Value::Object(meta), json!({"id": 3}));
        assert_eq!(d.findings.len(), 1);
        assert_eq!(d.findings[0].code, Code::DroppedField);
        assert_eq!(d.findings[0].path, "/chosen");
    }

    #[test]
    fn common_prefix_leaves_a_turn_on_each_side() {
        let u = Message::user("q");
        let a = Message::assistant("a");
        assert_eq!(
            common_prefix(&[u.clone(), a.clone()], &[u.clone(), a.clone()]),
            1
        );
        assert_eq!(
            common_prefix(
                &[u.clone(), a.clone()],
                &[u.clone(), Message::assistant("b")]
            ),
            1
        );
        assert_eq!(
            common_prefix(std::slice::from_ref(&a), std::slice::from_ref(&a)),
            0
        );
        assert_eq!(common_prefix(&[], &[a]), 0);
    }
}
