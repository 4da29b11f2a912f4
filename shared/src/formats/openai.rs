//! OpenAI chat messages: `{"messages": [{"role": "user", "content": "..."}, ...]}`.
//!
//! This is also TRL's conversational SFT form and the canonical form of ajuste's SFT records.
//! Where ajuste departs from the public format:
//! - `content` may be a string, `null`, or a list of parts. Text parts (`text`, `input_text`,
//!   `output_text`) are joined without a separator into the turn's text; other parts (images,
//!   audio, files) get a `non-text-content` warning. The original list is kept in the turn's extra
//!   fields under [`PARTS_KEY`] and written back while the text still matches it. `null` (or an
//!   absent `content` on a turn with `tool_calls`/`function_call`) reads as "" and is written
//!   back as `null`.
//! - Roles `developer` (read as system) and `function`/`ipython` (read as tool) are written back
//!   under the canonical names.
//! - `weight` (0/1, the fine-tuning API's field) becomes the training flag; Axolotl's `train`
//!   (true/false) is read too. The flag is written back as `weight`.
//! - `name`, `tool_calls`, `tool_call_id` and any other turn field are kept verbatim, as are
//!   top-level fields other than `messages` (`tools`, `id`, ...).
//! - Only SFT conversations are held; preference and feedback records cannot be written.

use serde_json::{Map, Value, json};

use super::{
    Diag, ExportError, Format, assemble, collect_extra, collect_meta, foreign_extra, parse_train,
    pointer, turn_label,
};
use crate::codes::Code;
use crate::diagnostic::Finding;
use crate::record::{Conversation, Message, Record, Role};

/// Extra-field key that keeps a turn's original content parts (or `null`).
pub const PARTS_KEY: &str = "content_parts";

/// Content part types whose `text` is the turn's text.
const TEXT_PARTS: [&str; 3] = ["text", "input_text", "output_text"];

/// Parses an OpenAI messages record.
pub fn parse(value: &Value) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    let mut d = Diag::default();
    let Some(obj) = d.object(value) else {
        return Err(d.findings);
    };
    let messages = match d.require(obj, "", "messages", "the record") {
        Some(list) => parse_messages(list, "/messages", &mut d),
        None => Vec::new(),
    };
    let meta = collect_meta(obj, &["messages"], &mut d);
    d.finish(Record::Conversation(Conversation { messages, meta }))
}

/// Parses a list of `{role, content}` turns found at `base` (also TRL's conversational
/// preference and KTO fields).
pub(crate) fn parse_messages(list: &Value, base: &str, d: &mut Diag) -> Vec<Message> {
    let Some(items) = d.array(list, base) else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, m)| parse_message(m, &pointer(base, i), d))
        .collect()
}

/// Parses one `{role, content}` turn found at `path`.
pub(crate) fn parse_message(turn: &Value, path: &str, d: &mut Diag) -> Option<Message> {
    let Some(obj) = turn.as_object() else {
        d.wrong_type(path, "an object with `role` and `content`", turn);
        return None;
    };
    let role = d
        .require(obj, path, "role", "the turn")
        .and_then(|r| d.string(r, &pointer(path, "role")));
    let role = role.and_then(|name| {
        let role = Role::from_openai(name);
        if role.is_none() {
            d.push(
                Code::UnknownRole,
                pointer(path, "role"),
                format!("`{name}` is not a chat role"),
            );
        }
        role
    });
    let content = parse_content(obj, path, d);
    let train = parse_train(obj, path, d);
    let mut extra = collect_extra(obj, &["role", "content", "weight", "train"], path, d);
    let (role, (content, parts)) = (role?, content?);
    if let Some(parts) = parts {
        extra.insert(PARTS_KEY.to_owned(), parts);
    }
    Some(Message {
        role,
        content,
        train,
        extra,
    })
}

/// The text of a turn and, when it was not a plain string, what to remember for export.
fn parse_content(
    obj: &Map<String, Value>,
    path: &str,
    d: &mut Diag,
) -> Option<(String, Option<Value>)> {
    let cpath = pointer(path, "content");
    match obj.get("content") {
        Some(Value::String(s)) => Some((s.clone(), None)),
        Some(Value::Null) => Some((String::new(), Some(Value::Null))),
        None if obj.contains_key("tool_calls") || obj.contains_key("function_call") => {
            Some((String::new(), Some(Value::Null)))
        }
        None => {
            d.push(Code::MissingField, cpath, "the turn has no `content` field");
            None
        }
        Some(Value::Array(parts)) => {
            parse_parts(parts, &cpath, d).map(|text| (text, Some(Value::Array(parts.clone()))))
        }
        Some(other) => {
            d.wrong_type(cpath, "a string or a list of content parts", other);
            None
        }
    }
}

/// Joins the text parts of a content list, reporting malformed parts (errors) and non-text
/// parts (warnings).
fn parse_parts(parts: &[Value], base: &str, d: &mut Diag) -> Option<String> {
    let mut text = String::new();
    let mut ok = true;
    for (j, part) in parts.iter().enumerate() {
        let ppath = pointer(base, j);
        let Some(p) = part.as_object() else {
            d.wrong_type(ppath, "an object with a `type`", part);
            ok = false;
            continue;
        };
        match p.get("type").map(|t| (t, t.as_str())) {
            Some((_, Some(kind))) if TEXT_PARTS.contains(&kind) => match p.get("text") {
                Some(Value::String(t)) => text.push_str(t),
                Some(other) => {
                    d.wrong_type(pointer(&ppath, "text"), "a string", other);
                    ok = false;
                }
                None => {
                    d.push(
                        Code::MissingField,
                        pointer(&ppath, "text"),
                        "the text part has no `text` field",
                    );
                    ok = false;
                }
            },
            Some((_, Some(kind))) => d.push(
                Code::NonTextContent,
                ppath,
                format!("content part {j} is of type `{kind}`; only text parts are trained"),
            ),
            Some((t, None)) => {
                d.wrong_type(pointer(&ppath, "type"), "a string", t);
                ok = false;
            }
            None => {
                d.push(
                    Code::MissingField,
                    pointer(&ppath, "type"),
                    "the content part has no `type` field",
                );
                ok = false;
            }
        }
    }
    ok.then_some(text)
}

/// Whether a part list's part is text.
fn is_text_part(part: &Value) -> bool {
    part.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| TEXT_PARTS.contains(&t))
}

/// The joined text of a part list (as parsing computes it).
fn joined_text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter(|p| is_text_part(p))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect()
}

/// Whether a turn's remembered content parts include something other than text.
pub(crate) fn has_non_text_parts(m: &Message) -> bool {
    m.extra
        .get(PARTS_KEY)
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|p| !is_text_part(p)))
}

/// The `content` value to write: the remembered parts (or `null`) while they still match the
/// text, else the text. When the text changed (cleaning) but non-text parts exist, those are
/// kept after one text part so no image or audio is lost.
fn content_value(m: &Message) -> Value {
    match m.extra.get(PARTS_KEY) {
        Some(Value::Array(parts)) if joined_text(parts) == m.content => Value::Array(parts.clone()),
        Some(Value::Array(parts)) if has_non_text_parts(m) => {
            let mut out = vec![json!({"type": "text", "text": m.content})];
            out.extend(parts.iter().filter(|p| !is_text_part(p)).cloned());
            Value::Array(out)
        }
        Some(Value::Null) if m.content.is_empty() => Value::Null,
        _ => Value::String(m.content.clone()),
    }
}

/// Writes one turn as a `{role, content}` object.
pub(crate) fn export_message(
    format: Format,
    record: &Record,
    list: &str,
    index: usize,
    m: &Message,
) -> Result<Value, ExportError> {
    let mut obj = Map::new();
    obj.insert("role".to_owned(), json!(m.role.as_str()));
    obj.insert("content".to_owned(), content_value(m));
    if let Some(train) = m.train {
        obj.insert("weight".to_owned(), json!(u8::from(train)));
    }
    for (key, value) in foreign_extra(m, &[]) {
        if obj.contains_key(key) {
            return Err(ExportError::new(
                format,
                record,
                format!(
                    "{} has an extra field `{key}` that collides with the turn's own",
                    turn_label(list, index, m)
                ),
            ));
        }
        obj.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(obj))
}

/// Writes a list of turns as `{role, content}` objects.
pub(crate) fn export_messages(
    format: Format,
    record: &Record,
    list: &str,
    turns: &[Message],
) -> Result<Value, ExportError> {
    let out: Result<Vec<Value>, ExportError> = turns
        .iter()
        .enumerate()
        .map(|(i, m)| export_message(format, record, list, i, m))
        .collect();
    out.map(Value::Array)
}

/// Writes a record as OpenAI messages.
pub fn export(record: &Record) -> Result<Value, ExportError> {
    let Record::Conversation(c) = record else {
        return Err(ExportError::wrong_kind(Format::Openai, record));
    };
    let messages = export_messages(Format::Openai, record, "conversation", &c.messages)?;
    assemble(Format::Openai, record, vec![("messages", messages)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_joined_and_written_back() {
        let v = json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is "}, {"type": "text", "text": "this?"},
                                         {"type": "image_url", "image_url": {"url": "x.png"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function"}]},
            {"role": "tool", "content": "ok", "tool_call_id": "c1"},
            {"role": "assistant", "content": "A cat.", "weight": 1}
        ], "tools": []});
        let (rec, warnings) = parse(&v).unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            (warnings[0].code, warnings[0].path.as_str()),
            (Code::NonTextContent, "/messages/0/content/2")
        );
        let Record::Conversation(c) = &rec else {
            panic!()
        };
        assert_eq!(c.messages[0].content, "What is this?");
        assert_eq!(c.messages[1].content, "");
        assert_eq!(c.messages[3].train, Some(true));
        assert_eq!(export(&rec).unwrap(), v);
    }

    #[test]
    fn changed_text_replaces_text_parts_but_keeps_images() {
        let v = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}]}]});
        let (mut rec, _) = parse(&v).unwrap();
        rec.turn_lists_mut()[0][0].content = "b".into();
        let out = export(&rec).unwrap();
        assert_eq!(
            out["messages"][0]["content"],
            json!([{"type": "text", "text": "b"}, {"type": "image_url", "image_url": {}}])
        );
    }

    #[test]
    fn errors() {
        let v = json!({"messages": [{"role": "robot", "content": "x"}, {"role": "user"}, {"role": "user", "content": 3},
                                    {"role": "user", "content": [{"type": "text"}]}, {"role": "user", "content": "x", "weight": 0.5}]});
        let errs = parse(&v).unwrap_err();
        let got: Vec<(Code, &str)> = errs.iter().map(|f| (f.code, f.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (Code::UnknownRole, "/messages/0/role"),
                (Code::MissingField, "/messages/1/content"),
                (Code::WrongType, "/messages/2/content"),
                (Code::MissingField, "/messages/3/content/0/text"),
                (Code::WrongType, "/messages/4/weight"),
            ]
        );
    }

    #[test]
    fn preference_records_cannot_be_written() {
        let rec = Record::Preference(crate::record::Preference {
            prompt: vec![Message::user("q")],
            chosen: vec![Message::assistant("a")],
            rejected: vec![Message::assistant("b")],
            meta: Map::new(),
        });
        let err = export(&rec).unwrap_err().to_string();
        assert!(
            err.contains("preference record") && err.contains("SFT conversations"),
            "{err}"
        );
    }
}
