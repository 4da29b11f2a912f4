//! Semantic checks on parsed records, and the validation report.
//!
//! Parsing (the `formats` modules) reports what makes a record unreadable: missing fields, wrong
//! types, unknown roles. The checks here look at records that did parse and report what makes
//! them train badly or not at all: empty turns, turns out of order, no assistant turn, identical
//! chosen and rejected completions. Paths are canonical pointers (`/messages/2/content`);
//! `formats::source_pointer` maps them to the source record's own fields.

use serde::{Deserialize, Serialize};

use crate::codes::Code;
use crate::diagnostic::{Finding, Severity};
use crate::formats::{Format, openai};
use crate::record::{Kind, Message, Record, Role};

/// The validate report; serialises exactly to
/// `{"format","kind","records","valid","errors","warnings","findings":[...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format: Format,
    pub kind: Kind,
    /// Records seen, unparseable ones included.
    pub records: usize,
    /// Records kept (no error-severity finding).
    pub valid: usize,
    /// Number of error findings.
    pub errors: usize,
    /// Number of warning findings.
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    /// An empty report for a file of `format`.
    pub fn new(format: Format) -> Self {
        Report {
            format,
            kind: format.kind(),
            records: 0,
            valid: 0,
            errors: 0,
            warnings: 0,
            findings: Vec::new(),
        }
    }

    /// Adds a finding and counts it.
    pub fn push(&mut self, finding: Finding) {
        match finding.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Info => {}
        }
        self.findings.push(finding);
    }

    /// Records seen but dropped because of errors.
    pub fn dropped(&self) -> usize {
        self.records - self.valid
    }
}

/// Semantic checks of one parsed record. Findings carry canonical paths and no line/record.
pub fn check_record(record: &Record) -> Vec<Finding> {
    let mut out = Vec::new();
    match record {
        Record::Conversation(c) => {
            if c.messages.is_empty() {
                out.push(
                    Finding::new(Code::EmptyRecord, "the conversation has no turns")
                        .path("/messages"),
                );
                return out;
            }
            empty_contents(&c.messages, "/messages", &mut out);
            let last = check_order(&c.messages, "/messages", None, &mut out);
            check_ending(&c.messages, last, &mut out);
            if !c.messages.iter().any(|m| m.role == Role::Assistant) {
                out.push(
                    Finding::new(
                        Code::NoAssistantTurn,
                        "the conversation has no assistant turn to learn from",
                    )
                    .path("/messages"),
                );
            }
        }
        Record::Preference(p) => {
            for (list, turns) in [("/chosen", &p.chosen), ("/rejected", &p.rejected)] {
                if turns.is_empty() {
                    out.push(
                        Finding::new(
                            Code::EmptyRecord,
                            format!("the {} completion has no turns", &list[1..]),
                        )
                        .path(list),
                    );
                }
            }
            for (list, turns) in [
                ("/prompt", &p.prompt),
                ("/chosen", &p.chosen),
                ("/rejected", &p.rejected),
            ] {
                empty_contents(turns, list, &mut out);
            }
            let after_prompt = check_order(&p.prompt, "/prompt", None, &mut out);
            check_order(&p.chosen, "/chosen", after_prompt, &mut out);
            check_order(&p.rejected, "/rejected", after_prompt, &mut out);
            if !p.chosen.is_empty() && same_text(&p.chosen, &p.rejected) {
                out.push(
                    Finding::new(
                        Code::ChosenEqualsRejected,
                        "the chosen and rejected completions are identical",
                    )
                    .path("/rejected"),
                );
            }
        }
        Record::Feedback(f) => {
            if f.completion.is_empty() {
                out.push(
                    Finding::new(Code::EmptyRecord, "the completion has no turns")
                        .path("/completion"),
                );
            }
            empty_contents(&f.prompt, "/prompt", &mut out);
            empty_contents(&f.completion, "/completion", &mut out);
            let after_prompt = check_order(&f.prompt, "/prompt", None, &mut out);
            check_order(&f.completion, "/completion", after_prompt, &mut out);
        }
    }
    out
}

/// Whether two turn lists say the same thing (roles and text; extra fields aside).
fn same_text(a: &[Message], b: &[Message]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.role == y.role && x.content == y.content)
}

/// `empty-content` for each turn whose text is empty or whitespace, except turns that carry
/// their payload elsewhere (tool calls, image parts).
fn empty_contents(turns: &[Message], list: &str, out: &mut Vec<Finding>) {
    for (i, m) in turns.iter().enumerate() {
        let elsewhere = m.extra.contains_key("tool_calls")
            || m.extra.contains_key("function_call")
            || openai::has_non_text_parts(m);
        if m.content.trim().is_empty() && !elsewhere {
            out.push(
                Finding::new(
                    Code::EmptyContent,
                    format!("the {} turn has no text", m.role),
                )
                .path(format!("{list}/{i}/content")),
            );
        }
    }
}

/// Why `next` may not follow `prev` (`None`: the start), if it may not.
fn order_problem(prev: Option<Role>, next: Role) -> Option<&'static str> {
    use Role::*;
    match (prev, next) {
        (None, System | User) => None,
        (None, Assistant) => Some("the conversation starts with an assistant turn"),
        (None, Tool) => Some("the conversation starts with a tool turn"),
        (Some(_), System) => Some("a system turn comes after the start of the conversation"),
        (Some(System), User) | (Some(User), Assistant) | (Some(Assistant), User | Tool) => None,
        (Some(Tool), Tool | Assistant) => None,
        (Some(System), Assistant) => {
            Some("an assistant turn follows the system prompt before any user turn")
        }
        (Some(System), Tool) => Some("a tool turn follows the system prompt"),
        (Some(User), User) => Some("two user turns in a row"),
        (Some(User), Tool) => {
            Some("a tool turn follows a user turn, with no assistant call before it")
        }
        (Some(Assistant), Assistant) => Some("two assistant turns in a row"),
        (Some(Tool), User) => {
            Some("a user turn follows a tool result that no assistant turn answered")
        }
    }
}

/// Walks a turn list continuing from `prev` (the last role of the list before it) and reports
/// the first out-of-order turn. A completion after an empty prompt (implicit standard pairs)
/// is not held to "starts with a user turn". Returns the last role seen.
fn check_order(
    turns: &[Message],
    list: &str,
    prev: Option<Role>,
    out: &mut Vec<Finding>,
) -> Option<Role> {
    let completion = list != "/messages" && list != "/prompt";
    let mut last = prev;
    let mut reported = false;
    for (i, m) in turns.iter().enumerate() {
        let skip = completion && i == 0 && last.is_none();
        if !reported
            && !skip
            && let Some(why) = order_problem(last, m.role)
        {
            out.push(Finding::new(Code::BadTurnOrder, why).path(format!("{list}/{i}/role")));
            reported = true;
        }
        last = Some(m.role);
    }
    last
}

/// A conversation should end with the assistant: a trailing user turn or tool result is never
/// answered, and a template puts no end-of-turn token after it to learn from.
fn check_ending(turns: &[Message], last: Option<Role>, out: &mut Vec<Finding>) {
    let why = match last {
        Some(Role::User) => "the conversation ends with a user turn that nothing answers",
        Some(Role::Tool) => "the conversation ends with a tool result that nothing answers",
        _ => return,
    };
    let i = turns.len() - 1;
    if !out
        .iter()
        .any(|f| f.code == Code::BadTurnOrder && f.path.starts_with("/messages/"))
    {
        out.push(Finding::new(Code::BadTurnOrder, why).path(format!("/messages/{i}/role")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Conversation, Feedback, Preference};

    fn conv(turns: &[(Role, &str)]) -> Record {
        Record::Conversation(Conversation {
            messages: turns.iter().map(|(r, c)| Message::new(*r, *c)).collect(),
            meta: Default::default(),
        })
    }

    fn codes(record: &Record) -> Vec<(Code, String)> {
        check_record(record)
            .into_iter()
            .map(|f| (f.code, f.path))
            .collect()
    }

    #[test]
    fn a_clean_conversation_has_no_findings() {
        use Role::*;
        let r = conv(&[
            (System, "s"),
            (User, "q"),
            (Assistant, "a"),
            (Tool, "t"),
            (Assistant, "b"),
        ]);
        assert!(check_record(&r).is_empty(), "{:?}", check_record(&r));
    }

    #[test]
    fn conversation_problems() {
        use Role::*;
        assert_eq!(
            codes(&conv(&[])),
            [(Code::EmptyRecord, "/messages".to_owned())]
        );
        assert_eq!(
            codes(&conv(&[(User, "q"), (User, " ")])),
            [
                (Code::EmptyContent, "/messages/1/content".to_owned()),
                (Code::BadTurnOrder, "/messages/1/role".to_owned()),
                (Code::NoAssistantTurn, "/messages".to_owned()),
            ]
        );
        assert_eq!(
            codes(&conv(&[(User, "q"), (Assistant, "a"), (User, "r")])),
            [(Code::BadTurnOrder, "/messages/2/role".to_owned())]
        );
        assert_eq!(
            codes(&conv(&[(Assistant, "a")])),
            [(Code::BadTurnOrder, "/messages/0/role".to_owned())]
        );
    }

    #[test]
    fn tool_calls_may_have_empty_text() {
        let mut call = Message::assistant("");
        call.extra
            .insert("tool_calls".into(), serde_json::json!([]));
        let r = Record::Conversation(Conversation {
            messages: vec![
                Message::user("q"),
                call,
                Message::new(Role::Tool, "42"),
                Message::assistant("42"),
            ],
            meta: Default::default(),
        });
        assert!(check_record(&r).is_empty());
    }

    #[test]
    fn preference_problems() {
        let pair = |chosen: &str, rejected: &str| {
            Record::Preference(Preference {
                prompt: vec![Message::user("q")],
                chosen: vec![Message::assistant(chosen)],
                rejected: vec![Message::assistant(rejected)],
                meta: Default::default(),
            })
        };
        assert!(check_record(&pair("a", "b")).is_empty());
        assert_eq!(
            codes(&pair("a", "a")),
            [(Code::ChosenEqualsRejected, "/rejected".to_owned())]
        );
        let implicit = Record::Preference(Preference {
            prompt: vec![],
            chosen: vec![Message::assistant("a")],
            rejected: vec![],
            meta: Default::default(),
        });
        assert_eq!(
            codes(&implicit),
            [(Code::EmptyRecord, "/rejected".to_owned())]
        );
        let user_first = Record::Preference(Preference {
            prompt: vec![Message::user("q")],
            chosen: vec![Message::user("a")],
            rejected: vec![Message::assistant("b")],
            meta: Default::default(),
        });
        assert_eq!(
            codes(&user_first),
            [(Code::BadTurnOrder, "/chosen/0/role".to_owned())]
        );
    }

    #[test]
    fn feedback_problems() {
        let f = Record::Feedback(Feedback {
            prompt: vec![Message::user("q")],
            completion: vec![],
            label: true,
            meta: Default::default(),
        });
        assert_eq!(codes(&f), [(Code::EmptyRecord, "/completion".to_owned())]);
    }

    #[test]
    fn report_serialises_in_the_documented_shape() {
        let mut report = Report::new(Format::Sharegpt);
        report.records = 2;
        report.valid = 1;
        report.push(
            Finding::new(Code::EmptyContent, "x")
                .at(3, 1)
                .path("/conversations/0/value"),
        );
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            text.starts_with(r#"{"format":"sharegpt","kind":"sft","records":2,"valid":1,"errors":0,"warnings":1,"findings":[{"severity":"warning","code":"empty-content","line":3,"record":1,"path":"/conversations/0/value","message":"x","hint":"#),
            "{text}"
        );
        assert_eq!(report.dropped(), 1);
    }
}
