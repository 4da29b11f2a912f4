//! Anthropic HH-RLHF: `{"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": "..."}`.
//!
//! Each string is a whole conversation; the turns are separated by the markers
//! "\n\nHuman:" and "\n\nAssistant:" (one space after the colon is part of the marker). The shared
//! prompt is split out at the last common "\n\nAssistant:": prompt = every turn before the final
//! assistant turn, chosen/rejected = the final assistant turn (and anything after it).
//!
//! Where ajuste departs from the public format:
//! - A string may also start with "Human:" without the leading blank line (several re-exports of
//!   the data do); that is remembered (layout key `hh_bare_start`) and written back the same way.
//! - When chosen and rejected differ before their final assistant turns, the prompt is only
//!   their common prefix of whole turns and the record gets a `prompt-mismatch` warning.
//! - A marker followed by nothing is written back without the space; a marker not followed by a
//!   space is written back with one. Text that itself contains a marker cannot be told apart
//!   from a turn boundary (the format's own limit).
//! - Export holds only user/assistant turns without turn fields: system and tool turns, extra
//!   fields and non-default train flags cannot be written.

use serde_json::{Value, json};

use super::{
    Diag, ExportError, Format, TurnPointer, assemble, collect_meta, common_prefix, layout_get,
    layout_set, pointer, require_plain, turn_label,
};
use crate::codes::Code;
use crate::diagnostic::Finding;
use crate::record::{Message, Preference, Record, Role};

const HUMAN: &str = "\n\nHuman:";
const ASSISTANT: &str = "\n\nAssistant:";
/// Layout fact: the strings start with "Human:" rather than "\n\nHuman:".
const BARE_START: &str = "hh_bare_start";

/// Whether a string looks like an HH conversation (for detection).
pub fn looks_like_hh(text: &str) -> bool {
    (text.starts_with(HUMAN) || text.starts_with(&HUMAN[2..])) && text.contains(ASSISTANT)
}

/// Parses an HH record.
pub fn parse(value: &Value) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    let mut d = Diag::default();
    let Some(obj) = d.object(value) else {
        return Err(d.findings);
    };
    let text = |key: &str, d: &mut Diag| {
        d.require(obj, "", key, "the record")
            .and_then(|v| d.string(v, &pointer("", key)))
    };
    let chosen_text = text("chosen", &mut d);
    let rejected_text = text("rejected", &mut d);
    let chosen = chosen_text.and_then(|t| split_turns(t, "/chosen", &mut d));
    let rejected = rejected_text.and_then(|t| split_turns(t, "/rejected", &mut d));
    let mut meta = collect_meta(obj, &["chosen", "rejected"], &mut d);
    let (Some(chosen), Some(rejected)) = (chosen, rejected) else {
        return Err(d.findings);
    };
    if chosen_text.is_some_and(|t| !t.starts_with(HUMAN)) {
        layout_set(&mut meta, BARE_START, Value::Bool(true));
    }
    let mut pair = split_prompt(chosen, rejected, &mut d);
    pair.meta = meta;
    d.finish(Record::Preference(pair))
}

/// Splits an HH string into turns; `bad-turn-markers` when it does not start with a Human
/// marker or has no Assistant turn.
fn split_turns(text: &str, path: &str, d: &mut Diag) -> Option<Vec<Message>> {
    let owned;
    let text = if !text.starts_with(HUMAN) && text.starts_with(&HUMAN[2..]) {
        owned = format!("\n\n{text}");
        owned.as_str()
    } else {
        text
    };
    if !text.starts_with(HUMAN) {
        d.push(
            Code::BadTurnMarkers,
            path,
            "the text does not start with a \"\\n\\nHuman:\" turn marker",
        );
        return None;
    }
    let mut turns = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (role, marker) = if rest.starts_with(HUMAN) {
            (Role::User, HUMAN)
        } else {
            (Role::Assistant, ASSISTANT)
        };
        let body = &rest[marker.len()..];
        let end = next_marker(body).unwrap_or(body.len());
        let content = body[..end].strip_prefix(' ').unwrap_or(&body[..end]);
        turns.push(Message::new(role, content));
        rest = &body[end..];
    }
    if !turns.iter().any(|m| m.role == Role::Assistant) {
        d.push(
            Code::BadTurnMarkers,
            path,
            "the text has no \"\\n\\nAssistant:\" turn",
        );
        return None;
    }
    Some(turns)
}

/// Byte offset of the next turn marker in `text`.
fn next_marker(text: &str) -> Option<usize> {
    [text.find(HUMAN), text.find(ASSISTANT)]
        .into_iter()
        .flatten()
        .min()
}

/// Splits the prompt off two whole conversations at the final assistant turn.
fn split_prompt(mut chosen: Vec<Message>, mut rejected: Vec<Message>, d: &mut Diag) -> Preference {
    let last_assistant = |turns: &[Message]| {
        turns
            .iter()
            .rposition(|m| m.role == Role::Assistant)
            .unwrap_or(0)
    };
    let (c, r) = (last_assistant(&chosen), last_assistant(&rejected));
    let shared = if c == r && chosen[..c] == rejected[..r] {
        c
    } else {
        let n = common_prefix(&chosen, &rejected);
        d.push(
            Code::PromptMismatch,
            "/rejected",
            format!(
                "chosen and rejected differ before their final assistant turns; only the first {n} turn(s) are used as the prompt"
            ),
        );
        n
    };
    rejected.drain(..shared);
    let prompt = chosen.drain(..shared).collect();
    Preference {
        prompt,
        chosen,
        rejected,
        meta: Default::default(),
    }
}

/// Writes turns as one HH string.
fn render(turns: impl Iterator<Item = Message>, bare: bool) -> String {
    let mut out = String::new();
    for m in turns {
        out.push_str(if m.role == Role::User {
            HUMAN
        } else {
            ASSISTANT
        });
        if !m.content.is_empty() {
            out.push(' ');
            out.push_str(&m.content);
        }
    }
    if bare { out.split_off(2) } else { out }
}

/// Writes a preference record as HH.
pub fn export(record: &Record) -> Result<Value, ExportError> {
    let Record::Preference(p) = record else {
        return Err(ExportError::wrong_kind(Format::Hh, record));
    };
    for (list, turns) in [
        ("prompt", &p.prompt),
        ("chosen", &p.chosen),
        ("rejected", &p.rejected),
    ] {
        for (i, m) in turns.iter().enumerate() {
            if !matches!(m.role, Role::User | Role::Assistant) {
                return Err(ExportError::new(
                    Format::Hh,
                    record,
                    format!(
                        "{} cannot be written: HH text has only Human and Assistant turns",
                        turn_label(list, i, m)
                    ),
                ));
            }
            require_plain(Format::Hh, record, list, i, m)?;
        }
    }
    check_readable(record, p)?;
    let bare = layout_get(&p.meta, BARE_START) == Some(&Value::Bool(true));
    let whole = |completion: &[Message]| render(p.prompt.iter().chain(completion).cloned(), bare);
    let native = vec![
        ("chosen", json!(whole(&p.chosen))),
        ("rejected", json!(whole(&p.rejected))),
    ];
    assemble(Format::Hh, record, native)
}

/// Refuses what would not read back as the same turns: a side that does not start with a Human
/// turn or has no Assistant turn, and text that itself holds a turn marker.
fn check_readable(record: &Record, p: &Preference) -> Result<(), ExportError> {
    let fail = |reason: String| Err(ExportError::new(Format::Hh, record, reason));
    for (name, completion) in [("chosen", &p.chosen), ("rejected", &p.rejected)] {
        let mut side = p.prompt.iter().chain(completion.iter());
        if side.next().is_none_or(|m| m.role != Role::User) {
            return fail(format!(
                "HH text starts with a Human turn, and the {name} side does not"
            ));
        }
        if !p
            .prompt
            .iter()
            .chain(completion.iter())
            .any(|m| m.role == Role::Assistant)
        {
            return fail(format!(
                "HH text needs an Assistant turn, and the {name} side has none"
            ));
        }
    }
    for (list, turns) in [
        ("prompt", &p.prompt),
        ("chosen", &p.chosen),
        ("rejected", &p.rejected),
    ] {
        if let Some((i, m)) = turns
            .iter()
            .enumerate()
            .find(|(_, m)| m.content.contains(HUMAN) || m.content.contains(ASSISTANT))
        {
            return fail(format!(
                "the text of {} holds an HH turn marker and would split into turns",
                turn_label(list, i, m)
            ));
        }
    }
    Ok(())
}

/// Every turn lives inside the `chosen` or `rejected` string; the prompt inside both (the
/// pointer names `chosen`).
pub(crate) fn source_pointer(p: &TurnPointer) -> Option<String> {
    Some(match p.list.as_str() {
        "rejected" => "/rejected".to_owned(),
        _ => "/chosen".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_is_everything_before_the_final_assistant_turn() {
        let v = json!({
            "chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a fruit.\n\nAssistant: An apple.",
            "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a fruit.\n\nAssistant: No."
        });
        let (rec, warnings) = parse(&v).unwrap();
        assert!(warnings.is_empty());
        let Record::Preference(p) = &rec else {
            panic!()
        };
        assert_eq!(
            p.prompt,
            [
                Message::user("Hi"),
                Message::assistant("Hello!"),
                Message::user("Name a fruit.")
            ]
        );
        assert_eq!(p.chosen, [Message::assistant("An apple.")]);
        assert_eq!(p.rejected, [Message::assistant("No.")]);
        assert_eq!(export(&rec).unwrap(), v);
    }

    #[test]
    fn differing_prompts_are_reported() {
        let v = json!({"chosen": "\n\nHuman: A\n\nAssistant: x", "rejected": "\n\nHuman: B\n\nAssistant: y"});
        let (rec, warnings) = parse(&v).unwrap();
        assert_eq!(warnings[0].code, Code::PromptMismatch);
        let Record::Preference(p) = &rec else {
            panic!()
        };
        assert!(p.prompt.is_empty());
        assert_eq!(p.chosen.len(), 2);
        assert_eq!(export(&rec).unwrap(), v);
    }

    #[test]
    fn bare_start_and_empty_turns_round_trip() {
        let v =
            json!({"chosen": "Human: q\n\nAssistant:", "rejected": "Human: q\n\nAssistant: no"});
        let (rec, _) = parse(&v).unwrap();
        assert_eq!(rec.turns()[1].2.content, "");
        assert_eq!(export(&rec).unwrap(), v);
    }

    #[test]
    fn marker_errors() {
        let errs = parse(&json!({"chosen": "Hello", "rejected": "\n\nHuman: q"})).unwrap_err();
        let got: Vec<(Code, &str)> = errs.iter().map(|f| (f.code, f.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (Code::BadTurnMarkers, "/chosen"),
                (Code::BadTurnMarkers, "/rejected")
            ]
        );
    }

    #[test]
    fn system_turns_cannot_be_written() {
        let rec = Record::Preference(Preference {
            prompt: vec![Message::system("s"), Message::user("q")],
            chosen: vec![Message::assistant("a")],
            rejected: vec![Message::assistant("b")],
            meta: Default::default(),
        });
        let err = export(&rec).unwrap_err().to_string();
        assert!(err.contains("prompt turn 1 (system)"), "{err}");
    }
}
