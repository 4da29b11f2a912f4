//! Property tests for the cleaning steps: applying a step (or a pipeline in the recommended
//! order) twice gives what applying it once gave, and no input makes a step panic.

use ajuste_shared::clean::{self, PiiKind, Step};
use ajuste_shared::{Conversation, Dataset, Item, Message, Record, Role, Source};
use proptest::prelude::*;
use serde_json::Map;

fn dataset(records: Vec<Record>) -> Dataset {
    let items = records
        .into_iter()
        .enumerate()
        .map(|(i, record)| Item {
            source: Source {
                line: i + 1,
                index: i,
            },
            record,
        })
        .collect();
    Dataset {
        name: "prop".into(),
        items,
    }
}

fn conversation(turns: Vec<(Role, String)>) -> Record {
    let messages = turns
        .into_iter()
        .map(|(role, content)| Message::new(role, content))
        .collect();
    Record::Conversation(Conversation {
        messages,
        meta: Map::new(),
    })
}

/// A user turn and an assistant turn with the given texts.
fn exchange(user: String, assistant: String) -> Dataset {
    dataset(vec![conversation(vec![
        (Role::User, user),
        (Role::Assistant, assistant),
    ])])
}

/// Applies `steps` once, then again, and checks the second pass changed and dropped nothing.
fn assert_idempotent(steps: &[Step], ds: Dataset) -> Result<(), TestCaseError> {
    let mut once = ds;
    clean::apply(steps, &mut once);
    let mut twice = once.clone();
    let report = clean::apply(steps, &mut twice);
    prop_assert_eq!(&twice, &once);
    prop_assert!(
        report
            .steps
            .iter()
            .all(|s| s.changed == 0 && s.dropped == 0),
        "{:?}",
        report.steps
    );
    Ok(())
}

/// Lines of the kinds the text steps care about: Portuguese prose, runs of spaces and tabs,
/// indentation, fences, invisible and control characters, decomposed accents, emoji
/// sequences, other line separators. (Full-width backticks are left out on purpose: NFKC
/// turns them into fences, which moves code-block boundaries.)
fn messy_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Zãçéõú0-9 .,!?]{0,24}",
        " {0,4}[a-zç]{1,6}[ \t\u{a0}\u{3000}]{0,3}[a-zé]{0,6}[ \t]{0,2}",
        Just("```".to_owned()),
        Just("```python".to_owned()),
        Just("~~~".to_owned()),
        "[ \t]{0,3}",
        "[a-z]{0,3}[\u{200b}\u{200c}\u{200d}\u{feff}\u{ad}\u{2060}\u{7}\u{1b}\u{b}\u{c}\u{85}\u{2028}\r]{1,3}[a-zá]{0,3}",
        "[aeo][\u{301}\u{303}\u{327}] ?[\u{200b}\u{7}]?[\u{301}]?",
        Just("👨\u{200d}👩\u{200d}👧 família".to_owned()),
        Just("می\u{200c}خواهم".to_owned()),
        "[ｆｉＡ①²ﬁ]{1,3}",
    ]
}

fn messy_text() -> impl Strategy<Value = String> {
    (prop::collection::vec(messy_line(), 0..8), prop::bool::ANY)
        .prop_map(|(lines, crlf)| lines.join(if crlf { "\r\n" } else { "\n" }))
}

/// Text that hides personal data among words, numbers and punctuation.
fn pii_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zç]{1,8}",
        "[0-9]{1,4}",
        "[a-z]{1,6}\\.?[a-z]{0,4}@[a-z]{2,6}\\.(com|pt|com\\.br)",
        "\\+55 11 9[0-9]{4}-[0-9]{4}",
        "\\(1[0-9]\\) 9[0-9]{4}-[0-9]{4}",
        "[0-9]{3}-[0-9]{3}-[0-9]{4}",
        Just("4111 1111 1111 1111".to_owned()),
        Just("4111 1111 1111 1112".to_owned()),
        Just("PT50 0002 0123 1234 5678 9015 4".to_owned()),
        "(8|9|23|151)\\.[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
        Just("2a00:1450:4001:82b::200e".to_owned()),
        "[.,;:()/-]",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.join(" "))
}

/// Small HTML documents of the shape chat pages have: nested blocks, lists, inline markup,
/// code blocks, entities.
fn html_text() -> impl Strategy<Value = String> {
    let text = "[a-zA-Zãéç0-9 ]{0,12}( &amp; | &lt;b&gt; | &eacute;| &#227;)?[a-z ]{0,6}";
    let leaf = prop_oneof![
        text.prop_map(|t| t),
        text.prop_map(|t| format!("<strong>{t}</strong>")),
        text.prop_map(|t| format!("<code>{t}</code>")),
        text.prop_map(|t| format!("{t}<br>")),
        "[a-z =+()\n]{0,20}"
            .prop_map(|c| format!("<pre><code class=\"language-python\">{c}</code></pre>")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let children = prop::collection::vec(inner, 1..4).prop_map(|c| c.concat());
        prop_oneof![
            children.clone().prop_map(|c| format!("<p>{c}</p>")),
            children
                .clone()
                .prop_map(|c| format!("<div class=\"markdown\">{c}</div>")),
            prop::collection::vec(children.clone(), 1..3).prop_map(|items| format!(
                "<ul>{}</ul>",
                items
                    .iter()
                    .map(|i| format!("<li>{i}</li>"))
                    .collect::<String>()
            )),
            prop::collection::vec(children.clone(), 1..3).prop_map(|items| format!(
                "<ol>{}</ol>",
                items
                    .iter()
                    .map(|i| format!("<li><p>{i}</p></li>"))
                    .collect::<String>()
            )),
            children.prop_map(|c| format!("<h3>{c}</h3>")),
        ]
    })
    .prop_map(|body| format!("<div>{body}</div>"))
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::System),
        Just(Role::User),
        Just(Role::Assistant),
        Just(Role::Tool)
    ]
}

fn sorted(mut steps: Vec<Step>) -> Vec<Step> {
    steps.sort_by_key(Step::rank);
    steps
}

/// Every step with default parameters (language: Portuguese and English), in the recommended
/// order.
fn all_steps() -> Vec<Step> {
    sorted(
        Step::NAMES
            .iter()
            .map(|name| match *name {
                "language" => Step::Language {
                    allow: vec!["por".into(), "eng".into()],
                    min_chars: 50,
                },
                "length" => Step::Length {
                    min_chars: Some(5),
                    max_chars: Some(2_000),
                },
                _ => Step::with_defaults(name).unwrap(),
            })
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn each_safe_step_is_idempotent(user in messy_text(), assistant in messy_text()) {
        for step in Step::defaults() {
            assert_idempotent(&[step], exchange(user.clone(), assistant.clone()))?;
        }
    }

    #[test]
    fn default_pipeline_is_idempotent(user in messy_text(), assistant in messy_text()) {
        assert_idempotent(&Step::defaults(), exchange(user, assistant))?;
    }

    #[test]
    fn whitespace_and_zero_width_are_idempotent_on_any_text(text in any::<String>()) {
        assert_idempotent(&[Step::Whitespace], exchange(text.clone(), text.clone()))?;
        assert_idempotent(&[Step::ZeroWidth], exchange(text.clone(), text))?;
    }

    #[test]
    fn nfkc_is_idempotent_on_any_text(text in any::<String>()) {
        assert_idempotent(&[Step::Nfkc], exchange(text.clone(), text))?;
    }

    #[test]
    fn whitespace_leaves_no_runs_crlf_or_controls_outside_code(text in messy_text()) {
        let mut ds = exchange(text, "ok".into());
        clean::apply(&[Step::Whitespace], &mut ds);
        let cleaned = ds.items[0].record.turns()[0].2.content.clone();
        prop_assert!(!cleaned.contains('\r'));
        prop_assert!(cleaned.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'));
        prop_assert_eq!(cleaned.trim(), cleaned.as_str());
        if !cleaned.contains("```") && !cleaned.contains("~~~") {
            prop_assert!(!cleaned.contains("\n\n\n"), "{:?}", cleaned);
        }
    }

    #[test]
    fn strip_html_is_idempotent(html in html_text()) {
        assert_idempotent(&[Step::StripHtml], exchange("Pergunta".into(), html.clone()))?;
        let mut ds = exchange("Pergunta".into(), html);
        clean::apply(&[Step::StripHtml], &mut ds);
        let out = &ds.items[0].record.turns()[1].2.content;
        // No markup survives outside code blocks and inline code.
        let prose: String = out.split("```").step_by(2).collect();
        let prose: String = prose.split('`').step_by(2).collect();
        for tag in ["<p>", "</p>", "<div", "</div>", "<li>", "<ul>", "<ol>", "<strong>", "<h3>", "<br>"] {
            prop_assert!(!prose.contains(tag), "{tag} in {out:?}");
        }
    }

    #[test]
    fn repair_turns_is_idempotent(turns in prop::collection::vec((role(), prop_oneof!["", " ", "[a-z]{1,5}"]), 0..8)) {
        let turns = turns.into_iter().map(|(r, t)| (r, t.to_owned())).collect();
        assert_idempotent(&[Step::RepairTurns], dataset(vec![conversation(turns)]))?;
    }

    #[test]
    fn repaired_conversations_alternate_and_end_answered(turns in prop::collection::vec((role(), "[a-z]{0,3}"), 0..8)) {
        let mut ds = dataset(vec![conversation(turns)]);
        let report = clean::apply(&[Step::RepairTurns], &mut ds);
        prop_assert_eq!(report.records_in, report.records_out + report.drops.len());
        for record in ds.records() {
            let roles: Vec<Role> = record.turns().iter().map(|(_, _, m)| m.role).collect();
            prop_assert!(roles.contains(&Role::Assistant));
            prop_assert_ne!(roles.last(), Some(&Role::User));
            prop_assert!(roles.windows(2).all(|w| w[0] != w[1] || w[0] == Role::Tool), "{roles:?}");
            prop_assert!(record.turns().iter().all(|(_, _, m)| !m.content.trim().is_empty()));
        }
    }

    #[test]
    fn redact_pii_is_idempotent(user in pii_text(), assistant in pii_text()) {
        let step = Step::RedactPii { kinds: PiiKind::ALL.to_vec() };
        assert_idempotent(std::slice::from_ref(&step), exchange(user.clone(), assistant.clone()))?;
        // Whatever was redacted, a valid card number and the IBAN never survive.
        let mut ds = exchange(user, assistant);
        clean::apply(&[step], &mut ds);
        for (_, _, m) in ds.items[0].record.turns() {
            prop_assert!(!m.content.contains("4111 1111 1111 1111"), "{:?}", m.content);
            prop_assert!(!m.content.contains("PT50 0002"), "{:?}", m.content);
        }
    }

    #[test]
    fn full_pipeline_is_idempotent(
        turns in prop::collection::vec((role(), prop_oneof![messy_text(), pii_text(), html_text()]), 0..6),
    ) {
        assert_idempotent(&all_steps(), dataset(vec![conversation(turns)]))?;
    }

    #[test]
    fn no_step_panics_on_any_text(turns in prop::collection::vec((role(), any::<String>()), 0..5)) {
        let mut ds = dataset(vec![conversation(turns)]);
        clean::apply(&all_steps(), &mut ds);
        clean::scan(&ds);
    }
}
