//! Turn repair: the structural fixes FastChat applies to scraped conversations.
//!
//! Empty turns are dropped, consecutive turns of one speaker are merged, and an SFT
//! conversation loses assistant turns before the first user turn (a greeting the model never
//! answered anything with) and user turns after the last answer (a question nobody answered,
//! which trains nothing). A record left with nothing to learn from is dropped, with the reason.

use super::fence;
use crate::record::{Message, Record, Role};

/// Whether the message carries a tool call, which makes it meaningful without text.
fn has_tool_call(m: &Message) -> bool {
    ["tool_calls", "function_call"]
        .iter()
        .any(|k| m.extra.get(*k).is_some_and(|v| !v.is_null()))
}

fn is_empty(m: &Message) -> bool {
    m.content.trim().is_empty() && !has_tool_call(m)
}

/// Whether `next` can be folded into `prev`. Tool results are never merged (each answers its
/// own call), and turns that differ in training flag or extra fields (`name`, `tool_calls`)
/// stay apart so that nothing the source said about them is lost.
fn mergeable(prev: &Message, next: &Message) -> bool {
    prev.role == next.role
        && prev.role != Role::Tool
        && prev.train == next.train
        && prev.extra == next.extra
        && !has_tool_call(prev)
}

/// Drops empty turns and merges consecutive same-role turns ("\n\n" join). Returns whether the
/// list changed.
fn drop_empty_and_merge(list: &mut Vec<Message>) -> bool {
    let before = list.len();
    let mut out: Vec<Message> = Vec::with_capacity(list.len());
    let mut merged = false;
    for m in list.drain(..) {
        if is_empty(&m) {
            continue;
        }
        match out.last_mut() {
            Some(prev) if mergeable(prev, &m) => {
                // A code block left open at the end of a turn ended with that turn; close it
                // so the next turn's text does not become code.
                if let Some(fence) = fence::unclosed(&prev.content) {
                    prev.content.push('\n');
                    prev.content.push_str(&fence);
                }
                prev.content.push_str("\n\n");
                prev.content.push_str(&m.content);
                merged = true;
            }
            _ => out.push(m),
        }
    }
    *list = out;
    merged || list.len() != before
}

/// In an SFT conversation, drops assistant turns before the first user turn (system turns
/// in between do not save them) and user turns after the last assistant turn. Returns whether
/// any went.
fn trim_ends(messages: &mut Vec<Message>) -> bool {
    let before = messages.len();
    let first_user = messages
        .iter()
        .position(|m| m.role == Role::User)
        .unwrap_or(messages.len());
    let last_assistant = messages.iter().rposition(|m| m.role == Role::Assistant);
    let mut i = 0;
    messages.retain(|m| {
        let keep = match m.role {
            Role::Assistant => i > first_user,
            Role::User => last_assistant.is_some_and(|last| i < last),
            _ => true,
        };
        i += 1;
        keep
    });
    messages.len() != before
}

/// What repairing one record did.
pub(crate) enum Repair {
    Kept { changed: bool },
    Dropped(String),
}

/// Repairs every turn list of a record. Trimming runs before merging so that removing a
/// leading assistant turn between two system turns lets them merge in the same pass; the
/// roles at both ends do not change when runs merge, so a second pass finds nothing to do.
pub(crate) fn repair(record: &mut Record) -> Repair {
    match record {
        Record::Conversation(c) => {
            // Empty turns go first so an empty leading answer does not hide the real first turn.
            let before = c.messages.len();
            c.messages.retain(|m| !is_empty(m));
            let empty_dropped = before != c.messages.len();
            let trimmed = trim_ends(&mut c.messages);
            let merged = drop_empty_and_merge(&mut c.messages);
            if c.messages.is_empty() {
                return Repair::Dropped(
                    "no turns left after dropping empty and unanswered turns".into(),
                );
            }
            if !c.messages.iter().any(|m| m.role == Role::Assistant) {
                return Repair::Dropped("no assistant turn left after repair".into());
            }
            Repair::Kept {
                changed: empty_dropped || trimmed || merged,
            }
        }
        Record::Preference(p) => {
            let changed = [&mut p.prompt, &mut p.chosen, &mut p.rejected]
                .into_iter()
                .fold(false, |acc, list| drop_empty_and_merge(list) | acc);
            if p.chosen.is_empty() {
                Repair::Dropped("chosen has no turns left after dropping empty turns".into())
            } else if p.rejected.is_empty() {
                Repair::Dropped("rejected has no turns left after dropping empty turns".into())
            } else {
                Repair::Kept { changed }
            }
        }
        Record::Feedback(f) => {
            let changed =
                drop_empty_and_merge(&mut f.prompt) | drop_empty_and_merge(&mut f.completion);
            if f.completion.is_empty() {
                return Repair::Dropped(
                    "completion has no turns left after dropping empty turns".into(),
                );
            }
            Repair::Kept { changed }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Conversation, Feedback, Preference};
    use serde_json::{Map, Value};

    fn tool_call(content: &str) -> Message {
        let mut m = Message::assistant(content);
        m.extra.insert(
            "tool_calls".into(),
            Value::Array(vec![Value::String("call_1".into())]),
        );
        m
    }

    fn conv(messages: Vec<Message>) -> Record {
        Record::Conversation(Conversation {
            messages,
            meta: Map::new(),
        })
    }

    fn roles_and_text(r: &Record) -> Vec<(Role, String)> {
        r.turns()
            .into_iter()
            .map(|(_, _, m)| (m.role, m.content.clone()))
            .collect()
    }

    #[test]
    fn merges_same_role_and_drops_empty_turns() {
        let mut r = conv(vec![
            Message::user("Olá!"),
            Message::user("Pode me ajudar?"),
            Message::assistant("   "),
            Message::assistant("Claro."),
            Message::assistant("O que precisa?"),
        ]);
        assert!(matches!(repair(&mut r), Repair::Kept { changed: true }));
        assert_eq!(
            roles_and_text(&r),
            [
                (Role::User, "Olá!\n\nPode me ajudar?".into()),
                (Role::Assistant, "Claro.\n\nO que precisa?".into())
            ]
        );
        assert!(matches!(repair(&mut r), Repair::Kept { changed: false }));
    }

    #[test]
    fn merging_closes_a_code_block_left_open() {
        let mut r = conv(vec![
            Message::user("Código?"),
            Message::assistant("```python\nprint(1)"),
            Message::assistant("Pronto."),
        ]);
        repair(&mut r);
        assert_eq!(
            roles_and_text(&r)[1].1,
            "```python\nprint(1)\n```\n\nPronto."
        );
    }

    #[test]
    fn drops_leading_assistant_and_trailing_user_turns() {
        let mut r = conv(vec![
            Message::system("Seja breve."),
            Message::assistant("Oi! Em que posso ajudar?"),
            Message::user("Capital de Portugal?"),
            Message::assistant("Lisboa."),
            Message::user("E da Espanha?"),
        ]);
        assert!(matches!(repair(&mut r), Repair::Kept { changed: true }));
        let roles: Vec<Role> = roles_and_text(&r).into_iter().map(|(r, _)| r).collect();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant]);
    }

    #[test]
    fn answers_before_the_first_question_go_even_behind_system_turns() {
        let mut r = conv(vec![
            Message::assistant("a"),
            Message::system("s"),
            Message::assistant("b"),
            Message::user("q"),
            Message::assistant("c"),
            Message::user("q2"),
            Message::system("s2"),
            Message::user("q3"),
        ]);
        repair(&mut r);
        let roles: Vec<Role> = roles_and_text(&r).into_iter().map(|(r, _)| r).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::System]
        );
        assert!(matches!(repair(&mut r), Repair::Kept { changed: false }));
    }

    #[test]
    fn system_turns_meeting_after_a_trim_merge_in_one_pass() {
        let mut r = conv(vec![
            Message::system("A"),
            Message::assistant("ignored"),
            Message::system("B"),
            Message::user("q"),
            Message::assistant("a"),
        ]);
        repair(&mut r);
        assert_eq!(roles_and_text(&r)[0], (Role::System, "A\n\nB".into()));
        assert!(matches!(repair(&mut r), Repair::Kept { changed: false }));
    }

    #[test]
    fn tool_turns_and_tool_calls_are_not_merged_or_dropped() {
        let mut r = conv(vec![
            Message::user("Tempo em Lisboa e Porto?"),
            tool_call(""),
            Message::new(Role::Tool, "{\"lisboa\": 21}"),
            Message::new(Role::Tool, "{\"porto\": 18}"),
            Message::assistant("Lisboa 21 °C, Porto 18 °C."),
        ]);
        assert!(matches!(repair(&mut r), Repair::Kept { changed: false }));
        assert_eq!(r.turns().len(), 5);
    }

    #[test]
    fn drops_conversations_left_without_an_answer() {
        let mut r = conv(vec![Message::user("Alguém aí?"), Message::assistant("")]);
        assert!(matches!(repair(&mut r), Repair::Dropped(why) if why.contains("no turns left")));
        let mut r = conv(vec![Message::system("s"), Message::user("u")]);
        assert!(
            matches!(repair(&mut r), Repair::Dropped(why) if why.contains("no assistant turn"))
        );
    }

    #[test]
    fn preference_and_feedback_lists_are_repaired_separately() {
        let mut p = Record::Preference(Preference {
            prompt: vec![Message::user("Resuma"), Message::user("o texto")],
            chosen: vec![Message::assistant("Resumo."), Message::assistant("")],
            rejected: vec![Message::assistant(" ")],
            meta: Map::new(),
        });
        assert!(matches!(repair(&mut p), Repair::Dropped(why) if why.starts_with("rejected")));
        let mut f = Record::Feedback(Feedback {
            prompt: vec![Message::user("Oi")],
            completion: vec![Message::assistant("Olá"), Message::assistant("tudo bem?")],
            label: true,
            meta: Map::new(),
        });
        assert!(matches!(repair(&mut f), Repair::Kept { changed: true }));
        assert_eq!(roles_and_text(&f)[1].1, "Olá\n\ntudo bem?");
    }
}
