//! Alpaca: `{"instruction": "...", "input": "...", "output": "..."}`, with LLaMA-Factory's optional
//! `system` and `history: [["q", "a"], ...]`.
//!
//! Read as: [system] + history pairs (user, assistant) + user + assistant(output). The final user
//! turn is `instruction + "\n\n" + input` when `input` is non-empty (just `input` when
//! `instruction` is empty).
//!
//! Where ajuste departs from the public format:
//! - Where the instruction ends is kept in meta (layout key `alpaca_split`, a byte offset) so the
//!   exact `instruction`/`input` fields come back on export while the text is unchanged; text
//!   edited since (cleaning) is written whole as `instruction` with an empty `input`.
//! - `input` is always written, "" when the record had none.
//! - An empty `system` string, `"history": []` and `null` values of either stay ordinary extra
//!   fields and are written back as they were.
//! - Stanford Alpaca's seed tasks (`instruction` + `instances: [{"input", "output"}]`, the
//!   self-instruct form) are read when there is exactly one instance; layout key
//!   `alpaca_instances` writes them back in that form.
//! - Export needs the shape Alpaca can hold: at most one system turn, first; then user/assistant
//!   pairs ending with an assistant turn; no tool turns, turn fields or non-default train flags.

use serde_json::{Value, json};

use super::{
    Diag, ExportError, Format, TurnPointer, assemble, collect_meta, layout_get, layout_set,
    pointer, require_plain, turn_label,
};
use crate::diagnostic::Finding;
use crate::record::{Conversation, Message, Record, Role};

/// Layout fact: byte length of the instruction inside the final user turn.
const SPLIT: &str = "alpaca_split";

/// Layout fact: the record came in the seed-task form, its pair inside `instances`.
const INSTANCES: &str = "alpaca_instances";

/// Parses an Alpaca record (or a seed task with one instance).
pub fn parse(value: &Value) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    match seed_task(value) {
        Some(Ok(flat)) => {
            let (mut record, findings) = parse_flat(&flat)?;
            if let Record::Conversation(c) = &mut record {
                layout_set(&mut c.meta, INSTANCES, json!(true));
            }
            Ok((record, findings))
        }
        Some(Err(finding)) => Err(vec![finding]),
        None => parse_flat(value),
    }
}

/// A seed task (`instances` instead of `output`) with its one instance lifted to the top level;
/// `None` for ordinary records.
fn seed_task(value: &Value) -> Option<Result<Value, Finding>> {
    let obj = value.as_object()?;
    if obj.contains_key("output") {
        return None;
    }
    let instances = obj.get("instances")?;
    let one = match instances.as_array().map(Vec::as_slice) {
        Some([Value::Object(one)]) => one,
        _ => {
            let mut d = Diag::default();
            d.wrong_type(
                "/instances",
                "a list of exactly one {\"input\", \"output\"} object",
                instances,
            );
            return Some(Err(d.findings.remove(0)));
        }
    };
    let mut flat = obj.clone();
    flat.remove("instances");
    for key in ["input", "output"] {
        if let Some(v) = one.get(key) {
            flat.insert(key.to_owned(), v.clone());
        }
    }
    Some(Ok(Value::Object(flat)))
}

fn parse_flat(value: &Value) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    let mut d = Diag::default();
    let Some(obj) = d.object(value) else {
        return Err(d.findings);
    };
    let text = |d: &mut Diag, key: &str| {
        d.require(obj, "", key, "the record")
            .and_then(|v| d.string(v, &pointer("", key)))
    };
    let instruction = text(&mut d, "instruction");
    let output = text(&mut d, "output");
    let input = match obj.get("input") {
        None | Some(Value::Null) => "",
        Some(v) => d.string(v, "/input").unwrap_or(""),
    };
    let mut consumed = vec!["instruction", "input", "output"];
    let mut messages = Vec::new();
    if let Some(system) = obj.get("system") {
        match system {
            Value::String(s) if !s.is_empty() => {
                consumed.push("system");
                messages.push(Message::system(s.as_str()));
            }
            Value::String(_) | Value::Null => {}
            other => d.wrong_type("/system", "a string", other),
        }
    }
    if let Some(history) = obj
        .get("history")
        .filter(|h| h.as_array().is_some_and(|a| !a.is_empty()))
    {
        consumed.push("history");
        messages.extend(parse_history(history, &mut d));
    } else if let Some(h) = obj.get("history").filter(|h| !h.is_array() && !h.is_null()) {
        d.wrong_type("/history", "a list of [question, answer] pairs", h);
    }
    let mut meta = collect_meta(obj, &consumed, &mut d);
    let (Some(instruction), Some(output)) = (instruction, output) else {
        return Err(d.findings);
    };
    messages.push(Message::user(join_user(instruction, input)));
    messages.push(Message::assistant(output));
    if !input.is_empty() {
        layout_set(&mut meta, SPLIT, json!(instruction.len()));
    }
    d.finish(Record::Conversation(Conversation { messages, meta }))
}

/// The user turn's text from the two fields.
fn join_user(instruction: &str, input: &str) -> String {
    match (instruction.is_empty(), input.is_empty()) {
        (_, true) => instruction.to_owned(),
        (true, false) => input.to_owned(),
        (false, false) => format!("{instruction}\n\n{input}"),
    }
}

/// `history: [[q, a], ...]` as user/assistant turns.
fn parse_history(history: &Value, d: &mut Diag) -> Vec<Message> {
    let mut out = Vec::new();
    for (i, pair) in history.as_array().into_iter().flatten().enumerate() {
        let path = pointer("/history", i);
        match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(q), Value::String(a)]) => {
                out.push(Message::user(q.as_str()));
                out.push(Message::assistant(a.as_str()));
            }
            _ => d.wrong_type(path, "a [question, answer] pair of strings", pair),
        }
    }
    out
}

/// The instruction and input fields for a user turn, using the remembered split while it still
/// falls on the "\n\n" the parser put there.
fn split_user<'c>(meta: &serde_json::Map<String, Value>, content: &'c str) -> (&'c str, &'c str) {
    let split = layout_get(meta, SPLIT)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok());
    match split {
        Some(0) => ("", content),
        Some(n) if content.is_char_boundary(n) && content[n..].starts_with("\n\n") => {
            (&content[..n], &content[n + 2..])
        }
        _ => (content, ""),
    }
}

/// Writes a record as Alpaca.
pub fn export(record: &Record) -> Result<Value, ExportError> {
    let Record::Conversation(c) = record else {
        return Err(ExportError::wrong_kind(Format::Alpaca, record));
    };
    let fail = |reason: String| ExportError::new(Format::Alpaca, record, reason);
    for (i, m) in c.messages.iter().enumerate() {
        require_plain(Format::Alpaca, record, "conversation", i, m)?;
    }
    let (system, turns) = match c.messages.split_first() {
        Some((first, rest)) if first.role == Role::System => (Some(first.content.as_str()), rest),
        _ => (None, c.messages.as_slice()),
    };
    let offset = usize::from(system.is_some());
    for (i, m) in turns.iter().enumerate() {
        let expected = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        if m.role != expected {
            let why = match m.role {
                Role::System => "Alpaca holds one system prompt, as the first turn".to_owned(),
                Role::Tool => "Alpaca has no tool turns".to_owned(),
                _ => format!(
                    "Alpaca needs alternating user/assistant pairs, and a {expected} turn is due here"
                ),
            };
            return Err(fail(format!(
                "{} cannot be written: {why}",
                turn_label("conversation", i + offset, m)
            )));
        }
    }
    if turns.is_empty() || turns.len() % 2 == 1 {
        return Err(fail(
            "Alpaca needs the conversation to end with an assistant turn (the output)".to_owned(),
        ));
    }
    let (history, last) = turns.split_at(turns.len() - 2);
    let (instruction, input) = split_user(&c.meta, &last[0].content);
    let mut native = vec![
        ("instruction", json!(instruction)),
        ("input", json!(input)),
        ("output", json!(last[1].content)),
    ];
    if let Some(s) = system {
        native.push(("system", json!(s)));
    }
    if !history.is_empty() {
        let pairs: Vec<Value> = history
            .chunks(2)
            .map(|p| json!([p[0].content, p[1].content]))
            .collect();
        native.push(("history", Value::Array(pairs)));
    }
    let mut out = assemble(Format::Alpaca, record, native)?;
    if layout_get(&c.meta, INSTANCES) == Some(&json!(true))
        && let Value::Object(obj) = &mut out
    {
        let input = obj.remove("input").unwrap_or_default();
        let output = obj.remove("output").unwrap_or_default();
        obj.insert(
            "instances".to_owned(),
            json!([{ "input": input, "output": output }]),
        );
    }
    Ok(out)
}

/// `/messages/i/...` of a parsed record -> the Alpaca field holding that turn's text.
pub(crate) fn source_pointer(source: &Value, record: &Record, p: &TurnPointer) -> Option<String> {
    if p.list != "messages" {
        return None;
    }
    let Some(i) = p.index else {
        return Some(String::new());
    };
    let hoisted = record
        .turns()
        .first()
        .is_some_and(|(_, _, m)| m.role == Role::System);
    if hoisted && i == 0 {
        return Some("/system".to_owned());
    }
    let j = i - usize::from(hoisted);
    let pairs = source
        .get("history")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    // The user turn is the input alone when the instruction is empty and the input is not.
    let text = |key: &str| source.get(key).and_then(Value::as_str).unwrap_or_default();
    let input_only = text("instruction").is_empty() && !text("input").is_empty();
    Some(match j {
        j if j < 2 * pairs => format!("/history/{}/{}", j / 2, j % 2),
        j if j == 2 * pairs && input_only => "/input".to_owned(),
        j if j == 2 * pairs => "/instruction".to_owned(),
        _ => "/output".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::Code;

    #[test]
    fn input_is_joined_and_split_back() {
        let v = json!({"instruction": "Translate", "input": "bom dia", "output": "good morning"});
        let (rec, _) = parse(&v).unwrap();
        let Record::Conversation(c) = &rec else {
            panic!()
        };
        assert_eq!(c.messages[0].content, "Translate\n\nbom dia");
        assert_eq!(export(&rec).unwrap(), v);
        let only_input = json!({"instruction": "", "input": "bom dia", "output": "x"});
        let (rec, _) = parse(&only_input).unwrap();
        assert_eq!(rec.turns()[0].2.content, "bom dia");
        assert_eq!(export(&rec).unwrap(), only_input);
    }

    #[test]
    fn edited_text_goes_whole_into_instruction() {
        let v = json!({"instruction": "Translate", "input": "bom dia", "output": "good morning"});
        let (mut rec, _) = parse(&v).unwrap();
        rec.turn_lists_mut()[0][0].content = "Say it in English: bom dia".into();
        let out = export(&rec).unwrap();
        assert_eq!(
            (out["instruction"].as_str(), out["input"].as_str()),
            (Some("Say it in English: bom dia"), Some(""))
        );
    }

    #[test]
    fn system_and_history() {
        let v = json!({"instruction": "q2", "input": "", "output": "a2", "system": "s", "history": [["q1", "a1"]]});
        let (rec, _) = parse(&v).unwrap();
        let roles: Vec<Role> = rec.turns().iter().map(|t| t.2.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::User,
                Role::Assistant
            ]
        );
        assert_eq!(export(&rec).unwrap(), v);
        let p = |i| TurnPointer {
            list: "messages".into(),
            index: Some(i),
            field: "content".into(),
        };
        assert_eq!(source_pointer(&v, &rec, &p(0)).unwrap(), "/system");
        assert_eq!(source_pointer(&v, &rec, &p(2)).unwrap(), "/history/0/1");
        assert_eq!(source_pointer(&v, &rec, &p(3)).unwrap(), "/instruction");
        assert_eq!(source_pointer(&v, &rec, &p(4)).unwrap(), "/output");
    }

    #[test]
    fn shapes_alpaca_cannot_hold() {
        let conv = |messages: Vec<Message>| {
            Record::Conversation(Conversation {
                messages,
                meta: Default::default(),
            })
        };
        let tool = conv(vec![
            Message::user("q"),
            Message::new(Role::Tool, "r"),
            Message::assistant("a"),
        ]);
        let err = export(&tool).unwrap_err().to_string();
        assert!(
            err.contains("turn 2 (tool)") && err.contains("Alpaca has no tool turns"),
            "{err}"
        );
        let two_systems = conv(vec![
            Message::system("a"),
            Message::system("b"),
            Message::user("q"),
            Message::assistant("a"),
        ]);
        assert!(
            export(&two_systems)
                .unwrap_err()
                .to_string()
                .contains("one system prompt")
        );
        assert!(export(&conv(vec![Message::user("q")])).is_err());
        let mut named = Message::assistant("a");
        named.extra.insert("name".into(), json!("bot"));
        assert!(
            export(&conv(vec![Message::user("q"), named]))
                .unwrap_err()
                .to_string()
                .contains("`name`")
        );
    }

    #[test]
    fn errors() {
        let errs = parse(&json!({"instruction": 42, "history": [["q"]]})).unwrap_err();
        let got: Vec<(Code, &str)> = errs.iter().map(|f| (f.code, f.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (Code::WrongType, "/instruction"),
                (Code::MissingField, "/output"),
                (Code::WrongType, "/history/0")
            ]
        );
    }
}

#[cfg(test)]
mod seed_task_tests {
    use super::*;

    #[test]
    fn a_seed_task_with_one_instance_reads_and_writes_back_unchanged() {
        let seed = json!({
            "id": "seed_task_0",
            "name": "breakfast_suggestion",
            "instruction": "Is there anything I can eat for a breakfast that doesn't include eggs?",
            "instances": [{"input": "", "output": "Yes, oatmeal."}],
            "is_classification": false
        });
        let (record, findings) = parse(&seed).unwrap();
        assert!(findings.is_empty(), "{findings:?}");
        let Record::Conversation(c) = &record else {
            panic!("{record:?}")
        };
        assert_eq!(c.messages[1].content, "Yes, oatmeal.");
        assert_eq!(export(&record).unwrap(), seed);
        assert_eq!(super::super::detect_one(&seed), Some(Format::Alpaca));
    }

    #[test]
    fn a_seed_task_with_several_instances_is_an_error_at_instances() {
        let seed = json!({
            "instruction": "Add.",
            "instances": [{"input": "1+1", "output": "2"}, {"input": "2+2", "output": "4"}]
        });
        let findings = parse(&seed).unwrap_err();
        assert_eq!(findings[0].path, "/instances");
    }
}
