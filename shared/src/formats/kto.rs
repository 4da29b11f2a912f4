//! KTO examples: one completion labelled desirable (`true`) or undesirable (`false`).
//!
//! Two dialects:
//! - TRL unpaired preference: `{"prompt": .., "completion": .., "label": true}`, standard
//!   (strings) or conversational (lists of `{role, content}` turns), prompt explicit or implicit;
//! - LLaMA-Factory: ShareGPT `conversations` (optional `system`) plus a `kto_tag` boolean; the
//!   last turn is the completion, the turns before it the prompt.
//!
//! Where ajuste departs from the public format:
//! - `label`/`kto_tag` must be a boolean; the strings "true"/"false" (any case) are accepted too,
//!   since CSV files cannot hold booleans, and are written back as booleans. Anything else is a
//!   `label-not-bool` error.
//! - An implicit conversational prompt (no `prompt` field) is split off as every turn before the
//!   last; an implicit standard string stays whole as the completion (empty prompt).
//! - The dialect and form a record came in are kept in meta (the layout keys of the `dpo`
//!   module) and written back while the record still fits them, else the conversational form.

use serde_json::{Map, Value, json};

use super::dpo::{self, Style};
use super::{
    Diag, ExportError, Format, TurnPointer, assemble, collect_meta, layout_get, layout_set,
    pointer, sharegpt, single_text,
};
use crate::codes::Code;
use crate::diagnostic::Finding;
use crate::record::{Feedback, Message, Record, Role};

/// Parses a KTO record in either dialect.
pub fn parse(value: &Value) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    let mut d = Diag::default();
    let Some(obj) = d.object(value) else {
        return Err(d.findings);
    };
    if obj.contains_key("conversations") && obj.contains_key("kto_tag") {
        return parse_kto_tag(obj, d);
    }
    let completion = d.require(obj, "", "completion", "the record");
    let label = d
        .require(obj, "", "label", "the record")
        .and_then(|l| parse_label(l, "/label", &mut d));
    let prompt = obj.get("prompt");
    let Some(completion) = completion else {
        return Err(d.findings);
    };
    let standard = completion.is_string();
    let (prompt_turns, completion_turns) = if standard {
        let text = |v: &Value, key: &str, d: &mut Diag| match v.as_str() {
            Some(s) => s.to_owned(),
            None => {
                d.wrong_type(pointer("", key), "a string, like `completion`", v);
                String::new()
            }
        };
        let p = prompt
            .map(|p| vec![Message::user(text(p, "prompt", &mut d))])
            .unwrap_or_default();
        (
            p,
            vec![Message::assistant(text(completion, "completion", &mut d))],
        )
    } else {
        let mut turns = dpo::conversational_turns(completion, "completion", &mut d);
        match prompt {
            Some(p) => (dpo::conversational_turns(p, "prompt", &mut d), turns),
            None => {
                let last = turns.len().saturating_sub(1);
                let completion = turns.split_off(last);
                (turns, completion)
            }
        }
    };
    let mut meta = collect_meta(obj, &["prompt", "completion", "label"], &mut d);
    if standard {
        layout_set(&mut meta, dpo::STYLE, json!("standard"));
    }
    if prompt.is_none() {
        layout_set(&mut meta, dpo::IMPLICIT, Value::Bool(true));
    }
    let Some(label) = label else {
        return Err(d.findings);
    };
    d.finish(Record::Feedback(Feedback {
        prompt: prompt_turns,
        completion: completion_turns,
        label,
        meta,
    }))
}

/// A KTO label: a boolean, or "true"/"false" as text (CSV).
fn parse_label(value: &Value, path: &str, d: &mut Diag) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        other => {
            d.push(
                Code::LabelNotBool,
                path,
                format!("`{}` must be true or false, found {other}", &path[1..]),
            );
            None
        }
    }
}

/// LLaMA-Factory's dialect: the last ShareGPT turn is the completion.
fn parse_kto_tag(
    obj: &Map<String, Value>,
    mut d: Diag,
) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    let (mut prompt, mut meta) = sharegpt::parse_conversation(obj, &["kto_tag"], &mut d);
    let label = obj
        .get("kto_tag")
        .and_then(|l| parse_label(l, "/kto_tag", &mut d));
    let last = prompt.len().saturating_sub(1);
    let completion = prompt.split_off(last);
    layout_set(&mut meta, dpo::STYLE, json!("sharegpt"));
    let Some(label) = label else {
        return Err(d.findings);
    };
    d.finish(Record::Feedback(Feedback {
        prompt,
        completion,
        label,
        meta,
    }))
}

/// Writes a feedback record as KTO in the dialect and form it was read in when it still fits,
/// else in the conversational explicit form.
pub fn export(record: &Record) -> Result<Value, ExportError> {
    let implicit = layout_get(record.meta(), dpo::IMPLICIT) == Some(&Value::Bool(true));
    export_as(record, Style::of(record), implicit)
        .or_else(|_| export_as(record, Style::Conversational, implicit))
        .or_else(|_| export_as(record, Style::Conversational, false))
}

/// Writes a feedback record in the given form (see `dpo::Style`; `Sharegpt` is LLaMA-Factory's
/// `kto_tag` dialect, where `implicit_prompt` does not apply). Err when the form cannot hold it.
pub fn export_as(
    record: &Record,
    style: Style,
    implicit_prompt: bool,
) -> Result<Value, ExportError> {
    let Record::Feedback(f) = record else {
        return Err(ExportError::wrong_kind(Format::Kto, record));
    };
    let fail = |reason: String| ExportError::new(Format::Kto, record, reason);
    let mut native = match style {
        Style::Standard => {
            let prompt = dpo::standard_prompt(&f.prompt, implicit_prompt).map_err(fail)?;
            let completion = single_text(&f.completion, Role::Assistant).ok_or_else(|| {
                fail(format!(
                    "the standard form holds one plain assistant turn as the completion; it has {}",
                    dpo::describe(&f.completion)
                ))
            })?;
            let mut native = Vec::new();
            if let Some(prompt) = prompt {
                native.push(("prompt", json!(prompt)));
            }
            native.push(("completion", json!(completion)));
            native
        }
        Style::Conversational => dpo::conversational_fields(
            Format::Kto,
            record,
            &f.prompt,
            &[("completion", &f.completion)],
            implicit_prompt,
        )?,
        Style::Sharegpt => return export_kto_tag(record, f),
    };
    native.push(("label", json!(f.label)));
    assemble(Format::Kto, record, native)
}

/// LLaMA-Factory's dialect: prompt and completion as one ShareGPT conversation plus `kto_tag`.
fn export_kto_tag(record: &Record, f: &Feedback) -> Result<Value, ExportError> {
    let all: Vec<Message> = f.prompt.iter().chain(&f.completion).cloned().collect();
    let (system, turns) = sharegpt::split_system_field(&f.meta, &all);
    let offset = usize::from(system.is_some());
    let keys = sharegpt::Keys::of_record(&f.meta);
    let conversations =
        sharegpt::export_turns(Format::Kto, record, "conversation", turns, offset, keys)?;
    let mut native = vec![
        ("conversations", Value::Array(conversations)),
        ("kto_tag", json!(f.label)),
    ];
    if let Some(text) = system {
        native.push(("system", json!(text)));
    }
    assemble(Format::Kto, record, native)
}

/// Canonical pointer -> pointer in the KTO source.
pub(crate) fn source_pointer(source: &Value, record: &Record, p: &TurnPointer) -> Option<String> {
    let Record::Feedback(f) = record else {
        return None;
    };
    if source.get("kto_tag").is_some() && source.get("conversations").is_some() {
        let index = match p.list.as_str() {
            "completion" => p.index.map(|i| i + f.prompt.len()),
            _ => p.index,
        };
        return Some(sharegpt::turn_pointer(source, p, index));
    }
    dpo::paired_pointer(source, p, f.prompt.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trl_forms_round_trip() {
        for v in [
            json!({"prompt": "q", "completion": "a", "label": true}),
            json!({"completion": "The sky is green.", "label": false}),
            json!({"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}], "label": false}),
            json!({"completion": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "label": true}),
        ] {
            let (rec, warnings) = parse(&v).unwrap();
            assert!(warnings.is_empty(), "{v}");
            assert_eq!(export(&rec).unwrap(), v);
        }
    }

    #[test]
    fn kto_tag_dialect() {
        let v = json!({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}], "kto_tag": false});
        let (rec, _) = parse(&v).unwrap();
        let Record::Feedback(f) = &rec else { panic!() };
        assert_eq!(
            (f.prompt.as_slice(), f.completion.as_slice(), f.label),
            (
                &[Message::user("q")][..],
                &[Message::assistant("a")][..],
                false
            )
        );
        assert_eq!(export(&rec).unwrap(), v);
        let p = TurnPointer {
            list: "completion".into(),
            index: Some(0),
            field: "content".into(),
        };
        assert_eq!(
            source_pointer(&v, &rec, &p).unwrap(),
            "/conversations/1/value"
        );
        let trl = export_as(&rec, Style::Conversational, false).unwrap();
        assert_eq!(trl["label"], json!(false));
    }

    #[test]
    fn labels() {
        let (rec, _) = parse(&json!({"prompt": "q", "completion": "a", "label": "True"})).unwrap();
        let Record::Feedback(f) = rec else { panic!() };
        assert!(f.label);
        let errs = parse(&json!({"prompt": "q", "completion": "a", "label": "good"})).unwrap_err();
        assert_eq!(
            (errs[0].code, errs[0].path.as_str()),
            (Code::LabelNotBool, "/label")
        );
        let errs = parse(&json!({"conversations": [], "kto_tag": 1})).unwrap_err();
        assert_eq!(
            (errs[0].code, errs[0].path.as_str()),
            (Code::LabelNotBool, "/kto_tag")
        );
    }
}
