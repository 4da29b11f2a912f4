//! TRL preference pairs (DPO, SimPO, ORPO): `prompt`, `chosen`, `rejected`.
//!
//! Four TRL forms, plus one LLaMA-Factory dialect:
//! - standard, explicit prompt: `{"prompt": "..", "chosen": "..", "rejected": ".."}`;
//! - standard, implicit prompt: `{"chosen": "..", "rejected": ".."}`;
//! - conversational, explicit: `prompt`/`chosen`/`rejected` are lists of `{role, content}` turns;
//! - conversational, implicit: no `prompt`; `chosen`/`rejected` are whole conversations;
//! - LLaMA-Factory: `conversations` (ShareGPT turns, optional `system`) is the prompt and
//!   `chosen`/`rejected` are single `{from, value}` turns.
//!
//! Where ajuste departs from the public format:
//! - Standard strings read as one user turn (prompt) and one assistant turn (each completion).
//! - An implicit conversational prompt is split out as the longest common prefix of whole turns,
//!   always leaving at least one turn in each completion (so identical completions are reported as
//!   `chosen-equals-rejected`, not as empty). Implicit standard strings are not split (a character
//!   split would cut words): the prompt stays empty.
//! - Which form a record came in is kept in meta (layout keys `dpo_style`, `implicit_prompt`), and
//!   [`export`] writes the same form back when the record still fits it, else the conversational
//!   explicit form. [`export_as`] writes a chosen form or says why it cannot.
//! - Turn fields are read and written as in the `openai` module (content parts, `weight`, ...).

use serde_json::{Map, Value, json};

use super::{
    Diag, ExportError, Format, TurnPointer, assemble, collect_meta, common_prefix, layout_get,
    layout_set, openai, pointer, sharegpt, single_text,
};
use crate::diagnostic::Finding;
use crate::record::{Message, Preference, Record, Role};

/// Layout fact: the form of the pair (`standard`, `sharegpt`; absent for conversational).
pub(crate) const STYLE: &str = "dpo_style";
/// Layout fact: the source had no `prompt` field.
pub(crate) const IMPLICIT: &str = "implicit_prompt";

/// How a preference pair (or a KTO example) is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain strings; one prompt turn and one completion turn.
    Standard,
    /// Lists of `{role, content}` turns.
    Conversational,
    /// LLaMA-Factory: ShareGPT `conversations` plus single-turn `chosen`/`rejected` objects.
    Sharegpt,
}

impl Style {
    /// The form a record was read in, from its layout facts.
    pub fn of(record: &Record) -> Style {
        match layout_get(record.meta(), STYLE).and_then(Value::as_str) {
            Some("standard") => Style::Standard,
            Some("sharegpt") => Style::Sharegpt,
            _ => Style::Conversational,
        }
    }

    /// The name used in messages and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Standard => "standard",
            Style::Conversational => "conversational",
            Style::Sharegpt => "sharegpt",
        }
    }
}

/// Parses a preference record in any of the forms above.
pub fn parse(value: &Value) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    let mut d = Diag::default();
    let Some(obj) = d.object(value) else {
        return Err(d.findings);
    };
    if obj.contains_key("conversations") && obj.get("chosen").is_some_and(Value::is_object) {
        return parse_llamafactory(obj, d);
    }
    let chosen = d.require(obj, "", "chosen", "the record");
    let rejected = d.require(obj, "", "rejected", "the record");
    let prompt = obj.get("prompt");
    let (Some(chosen), Some(rejected)) = (chosen, rejected) else {
        return Err(d.findings);
    };
    let standard = chosen.is_string();
    let mut pair = if standard {
        read_standard(prompt, chosen, rejected, &mut d)
    } else {
        read_conversational(prompt, chosen, rejected, &mut d)
    };
    pair.meta = collect_meta(obj, &["prompt", "chosen", "rejected"], &mut d);
    if standard {
        layout_set(&mut pair.meta, STYLE, json!("standard"));
    }
    if prompt.is_none() {
        layout_set(&mut pair.meta, IMPLICIT, Value::Bool(true));
    }
    d.finish(Record::Preference(pair))
}

/// Reads a field that must be a string in the standard form.
fn standard_text(value: &Value, key: &str, d: &mut Diag) -> String {
    match value.as_str() {
        Some(s) => s.to_owned(),
        None => {
            d.wrong_type(pointer("", key), "a string, like `chosen`", value);
            String::new()
        }
    }
}

/// The standard (string) form: one user prompt turn, one assistant turn per completion.
fn read_standard(
    prompt: Option<&Value>,
    chosen: &Value,
    rejected: &Value,
    d: &mut Diag,
) -> Preference {
    let prompt = prompt
        .map(|p| vec![Message::user(standard_text(p, "prompt", d))])
        .unwrap_or_default();
    let chosen = vec![Message::assistant(standard_text(chosen, "chosen", d))];
    let rejected = vec![Message::assistant(standard_text(rejected, "rejected", d))];
    Preference {
        prompt,
        chosen,
        rejected,
        meta: Map::new(),
    }
}

/// Reads a field that must be a list of turns in the conversational form.
pub(crate) fn conversational_turns(value: &Value, key: &str, d: &mut Diag) -> Vec<Message> {
    if !value.is_array() {
        d.wrong_type(
            pointer("", key),
            "a list of turns, like the other fields",
            value,
        );
        return Vec::new();
    }
    openai::parse_messages(value, &pointer("", key), d)
}

/// The conversational form; an implicit prompt is split out as the shared prefix.
fn read_conversational(
    prompt: Option<&Value>,
    chosen: &Value,
    rejected: &Value,
    d: &mut Diag,
) -> Preference {
    let mut chosen = conversational_turns(chosen, "chosen", d);
    let mut rejected = conversational_turns(rejected, "rejected", d);
    let prompt = match prompt {
        Some(p) => conversational_turns(p, "prompt", d),
        None => {
            let shared = common_prefix(&chosen, &rejected);
            rejected.drain(..shared);
            chosen.drain(..shared).collect()
        }
    };
    Preference {
        prompt,
        chosen,
        rejected,
        meta: Map::new(),
    }
}

/// LLaMA-Factory's preference dialect.
fn parse_llamafactory(
    obj: &Map<String, Value>,
    mut d: Diag,
) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    let keys = sharegpt::Keys::of_object(obj);
    let (prompt, mut meta) = sharegpt::parse_conversation(obj, &["chosen", "rejected"], &mut d);
    let one = |key: &str, d: &mut Diag| {
        d.require(obj, "", key, "the record")
            .and_then(|v| sharegpt::parse_turn(v, &pointer("", key), keys, d))
            .into_iter()
            .collect::<Vec<_>>()
    };
    let chosen = one("chosen", &mut d);
    let rejected = one("rejected", &mut d);
    layout_set(&mut meta, STYLE, json!("sharegpt"));
    d.finish(Record::Preference(Preference {
        prompt,
        chosen,
        rejected,
        meta,
    }))
}

/// Writes a preference record as DPO in the form it was read in when it still fits that form,
/// else in the conversational explicit form.
pub fn export(record: &Record) -> Result<Value, ExportError> {
    let implicit = layout_get(record.meta(), IMPLICIT) == Some(&Value::Bool(true));
    export_as(record, Style::of(record), implicit)
        .or_else(|_| export_as(record, Style::Conversational, implicit))
        .or_else(|_| export_as(record, Style::Conversational, false))
}

/// Writes a preference record in the given form; `implicit_prompt` leaves out the `prompt`
/// field (the prompt turns lead each completion instead). Err when the form cannot hold it.
pub fn export_as(
    record: &Record,
    style: Style,
    implicit_prompt: bool,
) -> Result<Value, ExportError> {
    let Record::Preference(p) = record else {
        return Err(ExportError::wrong_kind(Format::Dpo, record));
    };
    let fail = |reason: String| ExportError::new(Format::Dpo, record, reason);
    let native = match style {
        Style::Standard => {
            let prompt = standard_prompt(&p.prompt, implicit_prompt).map_err(fail)?;
            let completion = |list: &[Message], name: &str| {
                single_text(list, Role::Assistant).map(|s| json!(s)).ok_or_else(|| {
                    fail(format!("the standard form holds one plain assistant turn per completion; {name} has {}", describe(list)))
                })
            };
            let mut native = Vec::new();
            if let Some(prompt) = prompt {
                native.push(("prompt", json!(prompt)));
            }
            native.push(("chosen", completion(&p.chosen, "chosen")?));
            native.push(("rejected", completion(&p.rejected, "rejected")?));
            native
        }
        Style::Conversational => conversational_fields(
            Format::Dpo,
            record,
            &p.prompt,
            &[("chosen", &p.chosen), ("rejected", &p.rejected)],
            implicit_prompt,
        )?,
        Style::Sharegpt => return export_llamafactory(record, p),
    };
    assemble(Format::Dpo, record, native)
}

/// The `prompt` string of the standard form: one plain user turn, or nothing when implicit.
pub(crate) fn standard_prompt(prompt: &[Message], implicit: bool) -> Result<Option<&str>, String> {
    if implicit {
        return if prompt.is_empty() {
            Ok(None)
        } else {
            Err(format!(
                "the implicit standard form has no room for a prompt, and this one has {}",
                describe(prompt)
            ))
        };
    }
    single_text(prompt, Role::User).map(Some).ok_or_else(|| {
        format!(
            "the standard form holds one plain user turn as the prompt; this prompt has {}",
            describe(prompt)
        )
    })
}

/// "3 turns", "one system turn", "one turn with extra fields" for error messages.
pub(crate) fn describe(turns: &[Message]) -> String {
    match turns {
        [] => "no turns".to_owned(),
        [m] => format!(
            "one {} turn with fields or flags a plain string cannot hold",
            m.role
        ),
        _ => format!("{} turns", turns.len()),
    }
}

/// The conversational fields: `prompt` then the completions, or the completions each led by
/// the prompt turns when the prompt is implicit.
pub(crate) fn conversational_fields<'k>(
    format: Format,
    record: &Record,
    prompt: &[Message],
    completions: &[(&'k str, &[Message])],
    implicit: bool,
) -> Result<Vec<(&'k str, Value)>, ExportError> {
    let mut native = Vec::new();
    if !implicit {
        native.push((
            "prompt",
            openai::export_messages(format, record, "prompt", prompt)?,
        ));
    }
    for &(name, turns) in completions {
        let value = if implicit {
            let whole: Vec<Message> = prompt.iter().chain(turns).cloned().collect();
            openai::export_messages(format, record, name, &whole)?
        } else {
            openai::export_messages(format, record, name, turns)?
        };
        native.push((name, value));
    }
    Ok(native)
}

/// LLaMA-Factory's dialect: the prompt as ShareGPT turns, each completion one turn object.
fn export_llamafactory(record: &Record, p: &Preference) -> Result<Value, ExportError> {
    let (system, turns) = sharegpt::split_system_field(&p.meta, &p.prompt);
    let offset = usize::from(system.is_some());
    let keys = sharegpt::Keys::of_record(&p.meta);
    let conversations = sharegpt::export_turns(Format::Dpo, record, "prompt", turns, offset, keys)?;
    let mut native = vec![("conversations", Value::Array(conversations))];
    for (name, list) in [("chosen", &p.chosen), ("rejected", &p.rejected)] {
        let [m] = list.as_slice() else {
            return Err(ExportError::new(
                Format::Dpo,
                record,
                format!(
                    "the LLaMA-Factory form holds one turn per completion; {name} has {} turns",
                    list.len()
                ),
            ));
        };
        native.push((
            name,
            sharegpt::export_turn(Format::Dpo, record, name, 0, m, keys)?,
        ));
    }
    if let Some(text) = system {
        native.push(("system", json!(text)));
    }
    assemble(Format::Dpo, record, native)
}

/// Canonical pointer -> pointer in the DPO source, for each form.
pub(crate) fn source_pointer(source: &Value, record: &Record, p: &TurnPointer) -> Option<String> {
    if source.get("conversations").is_some() && source.get("chosen").is_some_and(Value::is_object) {
        return Some(match p.list.as_str() {
            "prompt" => sharegpt::turn_pointer(source, p, p.index),
            list => sharegpt::single_turn_pointer(source, list, &p.field),
        });
    }
    let Record::Preference(pair) = record else {
        return None;
    };
    let prompt_len = pair.prompt.len();
    paired_pointer(source, p, prompt_len)
}

/// Shared by DPO and TRL KTO: strings point at their field; explicit lists are identical; an
/// implicit prompt's turns live at the start of the first completion list (`chosen`/`completion`)
/// and the completions' turns after them.
pub(crate) fn paired_pointer(source: &Value, p: &TurnPointer, prompt_len: usize) -> Option<String> {
    let field_is_string = |key: &str| source.get(key).is_some_and(Value::is_string);
    let first = if source.get("chosen").is_some() {
        "chosen"
    } else {
        "completion"
    };
    let implicit = source.get("prompt").is_none();
    let (list, index) = match (p.list.as_str(), implicit) {
        ("prompt", true) => (first, p.index),
        (list, true) => (list, p.index.map(|i| i + prompt_len)),
        (list, false) => (list, p.index),
    };
    if field_is_string(list) {
        return Some(format!("/{list}"));
    }
    Some(match index {
        Some(i) => p.under(&format!("/{list}"), i, str::to_owned),
        None => format!("/{list}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::Code;

    fn pointer_of(source: &Value, list: &str, index: usize) -> String {
        let (rec, _) = parse(source).unwrap();
        let p = TurnPointer {
            list: list.into(),
            index: Some(index),
            field: "content".into(),
        };
        source_pointer(source, &rec, &p).unwrap()
    }

    #[test]
    fn standard_round_trips_and_converts_to_conversational_and_back() {
        let v = json!({"prompt": "2+2?", "chosen": "4", "rejected": "5"});
        let (rec, warnings) = parse(&v).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(export(&rec).unwrap(), v);
        let conv = export_as(&rec, Style::Conversational, false).unwrap();
        assert_eq!(conv["prompt"], json!([{"role": "user", "content": "2+2?"}]));
        let (back, _) = parse(&conv).unwrap();
        assert_eq!(export_as(&back, Style::Standard, false).unwrap(), v);
        assert_eq!(pointer_of(&v, "chosen", 0), "/chosen");
    }

    #[test]
    fn implicit_prompt_is_the_shared_prefix() {
        let u = json!({"role": "user", "content": "hi"});
        let v = json!({"chosen": [u, {"role": "assistant", "content": "hello"}], "rejected": [u, {"role": "assistant", "content": "go away"}]});
        let (rec, _) = parse(&v).unwrap();
        let Record::Preference(p) = &rec else {
            panic!()
        };
        assert_eq!(p.prompt, [Message::user("hi")]);
        assert_eq!(p.chosen, [Message::assistant("hello")]);
        assert_eq!(export(&rec).unwrap(), v);
        assert_eq!(pointer_of(&v, "prompt", 0), "/chosen/0/content");
        assert_eq!(pointer_of(&v, "rejected", 0), "/rejected/1/content");
        assert!(export_as(&rec, Style::Standard, true).is_err());
    }

    #[test]
    fn multi_turn_records_fall_back_to_conversational() {
        let v = json!({"prompt": "q", "chosen": "a", "rejected": "b"});
        let (mut rec, _) = parse(&v).unwrap();
        rec.turn_lists_mut()[0].insert(0, Message::system("s"));
        let out = export(&rec).unwrap();
        assert!(out["prompt"].is_array(), "{out}");
        let err = export_as(&rec, Style::Standard, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("this prompt has 2 turns"), "{err}");
    }

    #[test]
    fn llamafactory_dialect() {
        let v = json!({"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "a"},
                       "rejected": {"from": "gpt", "value": "b"}, "system": "s"});
        let (rec, _) = parse(&v).unwrap();
        let Record::Preference(p) = &rec else {
            panic!()
        };
        assert_eq!(p.prompt, [Message::system("s"), Message::user("q")]);
        assert_eq!(export(&rec).unwrap(), v);
        assert_eq!(pointer_of(&v, "rejected", 0), "/rejected/value");
        assert_eq!(pointer_of(&v, "prompt", 1), "/conversations/0/value");
    }

    #[test]
    fn mixed_forms_are_errors() {
        let errs = parse(
            &json!({"prompt": [{"role": "user", "content": "q"}], "chosen": "a", "rejected": "b"}),
        )
        .unwrap_err();
        assert_eq!(
            (errs[0].code, errs[0].path.as_str()),
            (Code::WrongType, "/prompt")
        );
        let errs = parse(&json!({"prompt": "q", "chosen": "a"})).unwrap_err();
        assert_eq!(
            (errs[0].code, errs[0].path.as_str()),
            (Code::MissingField, "/rejected")
        );
    }
}
