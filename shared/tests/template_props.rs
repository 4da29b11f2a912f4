//! Properties of rendering and masking that must hold for any conversation the built-ins accept.

use ajuste_shared::template::{Builtin, Template};
use ajuste_shared::tokenize::{IGNORE_INDEX, TextTokenizer};
use ajuste_shared::{Code, Conversation, Message, Record, Role};
use proptest::prelude::*;

/// Turn text: words, whitespace at either end, newlines, non-ASCII, and strings that look like
/// template syntax or special tokens (data, not code, to the template).
fn content() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9]{1,8}",
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("ção".to_owned()),
        Just("🙂".to_owned()),
        Just("中文".to_owned()),
        Just("{{ x }}".to_owned()),
        Just("{% if %}".to_owned()),
        Just("</s>".to_owned()),
        Just("<|im_end|>".to_owned()),
        Just("\u{FDD0}".to_owned()),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|parts| parts.concat())
}

/// An optional system turn, then user/assistant pairs.
fn conversation() -> impl Strategy<Value = Vec<Message>> {
    (
        prop::option::of(content()),
        prop::collection::vec((content(), content()), 1..4),
    )
        .prop_map(|(system, pairs)| {
            let mut messages: Vec<Message> = system.into_iter().map(Message::system).collect();
            for (user, assistant) in pairs {
                messages.push(Message::user(user));
                messages.push(Message::assistant(assistant));
            }
            messages
        })
}

fn tokenizer() -> TextTokenizer {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/templates/tiny/tokenizer.json"
    );
    TextTokenizer::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn segments_are_the_rendered_text_and_only_answers_are_trained(messages in conversation()) {
        let tokenizer = tokenizer();
        for builtin in Builtin::ALL {
            // Gemma's own template rejects system turns.
            let messages: Vec<Message> = if builtin == Builtin::Gemma {
                messages.iter().filter(|m| m.role != Role::System).cloned().collect()
            } else {
                messages.clone()
            };
            let template = Template::Builtin(builtin);
            let record = Record::Conversation(Conversation { messages: messages.clone(), meta: Default::default() });
            let rendered = template.render(&record);
            prop_assert_eq!(&rendered.findings, &vec![], "{}", builtin);
            prop_assert_eq!(rendered.text(), template.chat().render_messages(&messages, false).unwrap());
            for segment in rendered.segments.iter().filter(|s| s.trained) {
                prop_assert_eq!(segment.role, Some(Role::Assistant), "{}", builtin);
            }
            for answer in messages.iter().filter(|m| m.role == Role::Assistant) {
                let answer = answer.content.trim();
                prop_assert!(
                    rendered.segments.iter().any(|s| s.trained && s.text.contains(answer)),
                    "{}: `{}` not trained", builtin, answer
                );
            }
            let encoded = tokenizer.encode(&rendered, None);
            prop_assert_eq!(encoded.labels.len(), encoded.input_ids.len());
            prop_assert!(encoded.trained_tokens() > 0);
            for (&label, &id) in encoded.labels.iter().zip(&encoded.input_ids) {
                prop_assert!(label == IGNORE_INDEX || label == i64::from(id));
            }
        }
    }

    #[test]
    fn any_jinja_text_renders_or_reports_without_panicking(source in "[ -~\n]{0,60}", messages in conversation()) {
        let template = Template::Jinja(ajuste_shared::template::ChatTemplate::new(source, "<s>", "</s>"));
        let record = Record::Conversation(Conversation { messages: messages.clone(), meta: Default::default() });
        let rendered = template.render(&record);
        let error = rendered.findings.iter().any(|f| f.code == Code::TemplateError);
        match template.chat().render_messages(&messages, false) {
            Ok(text) => {
                prop_assert!(!error);
                prop_assert_eq!(rendered.text(), text);
            }
            Err(_) => prop_assert!(error && rendered.segments.is_empty()),
        }
    }
}
