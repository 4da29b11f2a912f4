//! Chat templates, loss masks and tokenization against transformers.
//!
//! The fixtures under tests/fixtures/templates/ come from `tests/golden/templates.py` (transformers
//! 5.24): the text each built-in's Hugging Face template renders for every conversation, and for a
//! tiny byte-level BPE tokenizer the ids and assistant masks of
//! `apply_chat_template(tokenize=True, return_assistant_tokens_mask=True)`.

use std::path::PathBuf;

use ajuste_shared::template::{Builtin, ChatTemplate, Rendered, Template};
use ajuste_shared::tokenize::{IGNORE_INDEX, TextTokenizer};
use ajuste_shared::{Code, Conversation, Feedback, Message, Preference, Record, Role};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/templates")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(fixtures().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture conversations by id.
fn conversations() -> Vec<(String, Vec<Message>)> {
    let all = json("conversations.json");
    all.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let messages = c["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let role = Role::from_openai(m["role"].as_str().unwrap()).unwrap();
                    Message::new(role, m["content"].as_str().unwrap())
                })
                .collect();
            (c["id"].as_str().unwrap().to_owned(), messages)
        })
        .collect()
}

fn sft(messages: Vec<Message>) -> Record {
    Record::Conversation(Conversation {
        messages,
        meta: Default::default(),
    })
}

/// The messages before the last assistant turn (what the golden script builds prompts from).
fn prompt_of(messages: &[Message]) -> &[Message] {
    let last = messages
        .iter()
        .rposition(|m| m.role == Role::Assistant)
        .unwrap();
    &messages[..last]
}

fn codes(rendered: &Rendered) -> Vec<Code> {
    rendered.findings.iter().map(|f| f.code).collect()
}

fn tiny_tokenizer() -> TextTokenizer {
    TextTokenizer::from_bytes(read("tiny/tokenizer.json").as_bytes()).unwrap()
}

fn tiny_template() -> Template {
    let jinja = read("tiny/chat_template.jinja");
    Template::Jinja(
        ChatTemplate::from_tokenizer_config(
            read("tiny/tokenizer_config.json").as_bytes(),
            Some(&jinja),
        )
        .unwrap(),
    )
}

#[test]
fn builtins_carry_the_models_own_template_text() {
    for name in [
        "llama2", "llama3", "chatml", "mistral", "gemma", "phi3", "zephyr", "qwen",
    ] {
        let builtin: Builtin = name.parse().unwrap();
        assert_eq!(
            builtin.jinja_source(),
            read(&format!("reference/{name}.jinja")),
            "{name}"
        );
        assert_eq!(
            Template::Builtin(builtin).jinja_source(),
            builtin.jinja_source()
        );
    }
}

#[test]
fn builtins_render_what_transformers_renders() {
    let expected = json("expected.json");
    let mut checked = 0;
    for builtin in Builtin::ALL {
        let template = Template::Builtin(builtin);
        for (id, messages) in conversations() {
            let Some(want) = expected[builtin.as_str()].get(&id) else {
                continue;
            };
            let rendered = template.render(&sft(messages.clone()));
            match want.get("text").and_then(Value::as_str) {
                Some(text) => {
                    assert_eq!(rendered.text(), text, "{builtin} {id}");
                    assert!(
                        !codes(&rendered).contains(&Code::TemplateError),
                        "{builtin} {id}"
                    );
                    // Only the tool conversation may have a finding: a template ignoring the tool turn.
                    let allowed: &[Code] = if id == "tool" {
                        &[Code::TemplateDropsRole]
                    } else {
                        &[]
                    };
                    for code in codes(&rendered) {
                        assert!(
                            allowed.contains(&code),
                            "{builtin} {id}: {:?}",
                            rendered.findings
                        );
                    }
                }
                None => {
                    let error = want["error"].as_str().unwrap();
                    let finding = rendered
                        .findings
                        .iter()
                        .find(|f| f.code == Code::TemplateError);
                    let finding =
                        finding.unwrap_or_else(|| panic!("{builtin} {id}: expected `{error}`"));
                    assert!(
                        finding.message.contains(error),
                        "{builtin} {id}: {}",
                        finding.message
                    );
                    assert!(rendered.segments.is_empty());
                }
            }
            let prompt = template.render_prompt(prompt_of(&messages));
            match want["prompt"].get("text").and_then(Value::as_str) {
                Some(text) => assert_eq!(prompt.as_deref(), Ok(text), "{builtin} {id} prompt"),
                None => assert!(prompt.is_err(), "{builtin} {id} prompt"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8 * 6 + 2 * 5);
}

/// Every trained assistant turn trains its content and end-of-turn text, nothing of the prompt.
#[test]
fn builtins_train_each_assistant_answer_and_its_end_of_turn() {
    let messages = conversations()
        .into_iter()
        .find(|(id, _)| id == "multi")
        .unwrap()
        .1;
    let cases = [
        (Builtin::Alpaca, "Hi there</s>   I am an assistant   </s>"),
        (Builtin::Vicuna, " Hi there</s>    I am an assistant   </s>"),
        (Builtin::Llama2, "Hi there </s>I am an assistant </s>"),
        (
            Builtin::Llama3,
            "Hi there<|eot_id|>I am an assistant<|eot_id|>",
        ),
        (
            Builtin::Chatml,
            "Hi there<|im_end|>\n   I am an assistant   <|im_end|>\n",
        ),
        (Builtin::Mistral, "Hi there</s>I am an assistant   </s>"),
        (
            Builtin::Gemma,
            "Hi there<end_of_turn>\nI am an assistant<end_of_turn>\n",
        ),
        // Phi-3 closes the conversation with EOS: trained too, and no fallback needed.
        (
            Builtin::Phi3,
            "Hi there<|end|>\n   I am an assistant   <|end|>\n<|endoftext|>",
        ),
        (
            Builtin::Zephyr,
            "Hi there</s>\n   I am an assistant   </s>\n",
        ),
        (
            Builtin::Qwen,
            "Hi there<|im_end|>\n   I am an assistant   <|im_end|>\n",
        ),
    ];
    for (builtin, trained) in cases {
        let rendered = Template::Builtin(builtin).render(&sft(messages.clone()));
        assert_eq!(rendered.trained_text(), trained, "{builtin}");
        assert_eq!(rendered.findings, [], "{builtin}");
        for segment in rendered.segments.iter().filter(|s| s.trained) {
            assert_eq!(segment.role, Some(Role::Assistant), "{builtin}");
        }
    }
}

#[test]
fn tiny_tokenizer_ids_and_masks_match_transformers() {
    let expected = json("tiny/expected.json");
    let tokenizer = tiny_tokenizer();
    // The generation-block template (as TRL marks it) and the plain ChatML built-in (prefix renders)
    // must both give transformers' mask.
    for template in [tiny_template(), Template::Builtin(Builtin::Chatml)] {
        for (id, messages) in conversations() {
            let want = &expected[&id];
            let rendered = template.render(&sft(messages));
            assert_eq!(rendered.text(), want["text"].as_str().unwrap(), "{id}");
            let encoded = tokenizer.encode(&rendered, None);
            let ids: Vec<u32> = want["input_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let mask: Vec<bool> = want["assistant_masks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v == 1)
                .collect();
            assert_eq!(encoded.input_ids, ids, "{} {id}", template.name());
            let trained: Vec<bool> = encoded.labels.iter().map(|&l| l != IGNORE_INDEX).collect();
            assert_eq!(trained, mask, "{} {id}", template.name());
            for (&label, &id) in encoded.labels.iter().zip(&encoded.input_ids) {
                assert!(label == IGNORE_INDEX || label == i64::from(id));
            }
            assert_eq!(encoded.findings, []);
            assert_eq!(
                tokenizer.decode(&encoded.input_ids),
                rendered.text(),
                "{id}"
            );
        }
    }
}

#[test]
fn tiny_config_is_the_transformers_5_layout() {
    let template = tiny_template();
    assert_eq!(
        (template.bos_token(), template.eos_token()),
        ("", "<|im_end|>")
    );
    assert!(template.chat().has_generation_blocks());
    let tokenizer = tiny_tokenizer();
    assert_eq!(tokenizer.token_id("<|im_end|>"), Some(2));
    assert!(tokenizer.vocab_size() >= 256);
}

#[test]
fn truncation_that_cuts_a_response_is_reported() {
    let tokenizer = tiny_tokenizer();
    let messages = conversations()
        .into_iter()
        .find(|(id, _)| id == "multi")
        .unwrap()
        .1;
    let rendered = Template::Builtin(Builtin::Chatml).render(&sft(messages));
    let full = tokenizer.encode(&rendered, None);
    let first_trained = full.labels.iter().position(|&l| l != IGNORE_INDEX).unwrap();

    let cut = tokenizer.encode(&rendered, Some(full.input_ids.len() - 2));
    let got: Vec<Code> = cut.findings.iter().map(|f| f.code).collect();
    assert_eq!(got, [Code::TooLongForContext, Code::TruncatedResponse]);
    assert_eq!(cut.input_ids.len(), full.input_ids.len() - 2);
    assert_eq!(cut.labels.len(), cut.input_ids.len());
    // The cut's place in the text: what is kept is the text before it.
    assert_eq!(full.cut_at, None);
    let text = rendered.text();
    let at = cut.cut_at.unwrap();
    assert_eq!(tokenizer.decode(&cut.input_ids), text[..at]);
    assert_eq!(tokenizer.encode_text(&text[at..]).len(), 2);

    // Cut before any trained token: nothing is left to learn.
    let none = tokenizer.encode(&rendered, Some(first_trained));
    let got: Vec<Code> = none.findings.iter().map(|f| f.code).collect();
    assert_eq!(
        got,
        [
            Code::TooLongForContext,
            Code::TruncatedResponse,
            Code::NoTrainedTokens
        ]
    );

    // Long enough: no findings.
    assert_eq!(
        tokenizer
            .encode(&rendered, Some(full.input_ids.len()))
            .findings,
        []
    );
}

#[test]
fn a_turn_the_template_ignores_is_reported_with_its_path() {
    let messages = conversations()
        .into_iter()
        .find(|(id, _)| id == "tool")
        .unwrap()
        .1;
    for builtin in [
        Builtin::Zephyr,
        Builtin::Phi3,
        Builtin::Vicuna,
        Builtin::Alpaca,
    ] {
        let rendered = Template::Builtin(builtin).render(&sft(messages.clone()));
        let drops: Vec<&str> = rendered
            .findings
            .iter()
            .filter(|f| f.code == Code::TemplateDropsRole)
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(drops, ["/messages/2"], "{builtin}");
    }
    let rendered = Template::Builtin(Builtin::Qwen).render(&sft(messages));
    assert_eq!(rendered.findings, []);
}

#[test]
fn a_template_error_is_a_finding_with_the_templates_message() {
    let system = conversations()
        .into_iter()
        .find(|(id, _)| id == "system")
        .unwrap()
        .1;
    let item = ajuste_shared::Item {
        source: ajuste_shared::Source { line: 7, index: 6 },
        record: sft(system),
    };
    let rendered = Template::Builtin(Builtin::Gemma).render_item(&item);
    assert_eq!(codes(&rendered), [Code::TemplateError]);
    let finding = &rendered.findings[0];
    assert!(
        finding.message.contains("System role not supported"),
        "{}",
        finding.message
    );
    assert_eq!((finding.line, finding.record), (Some(7), Some(6)));
}

#[test]
fn train_flags_override_the_default() {
    let mut messages = vec![
        Message::user("Tell me a joke."),
        Message::assistant("Bad joke."),
        Message::user("Another."),
        Message::assistant("Good joke."),
    ];
    messages[1].train = Some(false);
    messages[2].train = Some(true);
    let rendered = Template::Builtin(Builtin::Chatml).render(&sft(messages));
    assert_eq!(
        rendered.trained_text(),
        "Another.<|im_end|>\nGood joke.<|im_end|>\n"
    );
    assert_eq!(rendered.findings, []);
}

#[test]
fn an_overridden_turn_is_trained_from_its_content_not_its_header() {
    // "user" also occurs in the header `<|im_start|>user`; "N" in Vicuna's "ASSISTANT:".
    let mut messages = vec![Message::user("user"), Message::assistant("N")];
    messages[0].train = Some(true);
    let rendered = Template::Builtin(Builtin::Chatml).render(&sft(messages.clone()));
    assert_eq!(rendered.trained_text(), "user<|im_end|>\nN<|im_end|>\n");
    let rendered = Template::Builtin(Builtin::Vicuna).render(&sft(messages));
    assert_eq!(rendered.trained_text(), "user  N</s>");
    assert_eq!(rendered.findings, []);
}

#[test]
fn nothing_trained_is_an_error_finding() {
    let rendered = Template::Builtin(Builtin::Llama3).render(&sft(vec![
        Message::system("Be brief."),
        Message::user("Hi"),
    ]));
    assert_eq!(codes(&rendered), [Code::NoTrainedTokens]);
    assert!(!rendered.has_trained_text());
}

#[test]
fn an_end_of_turn_outside_the_generation_block_is_reported() {
    // The generation block stops before <|im_end|>: the model would never learn to stop.
    let source = "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' %}{% generation %}{{ m.content }}\
                  {% endgeneration %}{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}";
    let template = Template::Jinja(ChatTemplate::new(source, "", "<|im_end|>"));
    let rendered = template.render(&sft(vec![Message::user("Hi"), Message::assistant("Hello")]));
    assert_eq!(rendered.trained_text(), "Hello");
    assert_eq!(codes(&rendered), [Code::EosNotTrained]);
    assert_eq!(rendered.findings[0].path, "/messages/1");
    assert!(
        rendered.findings[0].message.contains("<|im_end|>"),
        "{}",
        rendered.findings[0].message
    );

    // A template that writes nothing after the answer has no end-of-turn token at all.
    let bare = Template::Jinja(ChatTemplate::new(
        "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}",
        "",
        "",
    ));
    let rendered = bare.render(&sft(vec![Message::user("Hi"), Message::assistant("Hello")]));
    assert_eq!(codes(&rendered), [Code::EosNotTrained]);
}

#[test]
fn a_template_that_rewrites_earlier_turns_falls_back_to_searching() {
    // Past assistant turns lose their reasoning, the last one keeps it (as Qwen3-style templates
    // do): a prefix render is not a prefix of the whole.
    let source = "{% for m in messages %}<|im_start|>{{ m.role }}\n\
                  {% if m.role == 'assistant' and not loop.last %}{{ m.content.split('</think>')[-1] }}{% else %}{{ m.content }}{% endif %}\
                  <|im_end|>\n{% endfor %}";
    let template = Template::Jinja(ChatTemplate::new(source, "", "<|im_end|>"));
    let record = sft(vec![
        Message::user("Q1"),
        Message::assistant("<think>hmm</think>A1"),
        Message::user("Q2"),
        Message::assistant("<think>ok</think>A2"),
    ]);
    let rendered = template.render(&record);
    assert_eq!(
        rendered.text(),
        "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n\
         <|im_start|>assistant\n<think>ok</think>A2<|im_end|>\n"
    );
    assert_eq!(rendered.trained_text(), "<think>ok</think>A2<|im_end|>");
    let got = codes(&rendered);
    assert!(got.contains(&Code::TemplateNotIncremental), "{got:?}");
    // The first answer's full content is not in the text: reported, not silently half-trained.
    assert!(got.contains(&Code::TemplateDropsRole), "{got:?}");
}

#[test]
fn preference_pairs_train_each_completion_after_the_same_prompt() {
    let pair = Preference {
        prompt: vec![Message::system("Be kind."), Message::user("Rate my poem.")],
        chosen: vec![Message::assistant("It has lovely imagery.")],
        rejected: vec![Message::assistant("It is bad.")],
        meta: Default::default(),
    };
    let template = Template::Builtin(Builtin::Llama3);
    let (chosen, rejected) = template.render_pair(&pair);
    assert_eq!(chosen.trained_text(), "It has lovely imagery.<|eot_id|>");
    assert_eq!(rejected.trained_text(), "It is bad.<|eot_id|>");
    let prompt = template.render_prompt(&pair.prompt).unwrap();
    assert!(chosen.text().starts_with(&prompt) && rejected.text().starts_with(&prompt));
    assert_eq!(template.render(&Record::Preference(pair)), chosen);
}

#[test]
fn feedback_trains_the_completion_not_the_prompt() {
    let record = Record::Feedback(Feedback {
        prompt: vec![
            Message::user("2+2?"),
            Message::assistant("Thinking."),
            Message::user("Well?"),
        ],
        completion: vec![Message::assistant("4")],
        label: false,
        meta: Default::default(),
    });
    let rendered = Template::Builtin(Builtin::Zephyr).render(&record);
    assert_eq!(rendered.trained_text(), "4</s>\n");
    assert_eq!(rendered.findings, []);
}

#[test]
fn special_tokens_the_tokenizer_lacks_are_reported() {
    let tokenizer = tiny_tokenizer();
    assert_eq!(
        tokenizer.check_template(&Template::Builtin(Builtin::Chatml)),
        []
    );
    let findings = tokenizer.check_template(&Template::Builtin(Builtin::Llama3));
    let got: Vec<(Code, bool)> = findings
        .iter()
        .map(|f| (f.code, f.message.contains("<|eot_id|>")))
        .collect();
    assert_eq!(
        got,
        [
            (Code::SpecialTokenMismatch, false),
            (Code::SpecialTokenMismatch, true)
        ]
    );
}

#[test]
fn segments_cover_the_text_and_name_their_turns() {
    let rendered = Template::Builtin(Builtin::Qwen)
        .render(&sft(vec![Message::user("Hi"), Message::assistant("Yo")]));
    let parts: Vec<(&str, bool, Option<Role>)> = rendered
        .segments
        .iter()
        .map(|s| (s.text.as_str(), s.trained, s.role))
        .collect();
    assert_eq!(
        parts,
        [
            (
                "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
                 <|im_start|>user\nHi<|im_end|>\n",
                false,
                Some(Role::User)
            ),
            ("<|im_start|>assistant\n", false, Some(Role::Assistant)),
            ("Yo<|im_end|>\n", true, Some(Role::Assistant)),
        ]
    );
}

#[test]
fn rendered_records_serialise_for_the_studio() {
    let rendered = Template::Builtin(Builtin::Chatml)
        .render(&sft(vec![Message::user("Hi"), Message::assistant("Yo")]));
    let json = serde_json::to_value(&rendered).unwrap();
    assert_eq!(json["segments"][2]["trained"], true);
    assert_eq!(json["segments"][2]["role"], "assistant");
}

#[test]
fn a_rendering_splits_at_a_cut_into_what_is_kept_and_what_is_dropped() {
    use ajuste_shared::template::Segment;
    let seg = |text: &str, trained| Segment {
        text: text.into(),
        trained,
        role: None,
    };
    let r = Rendered {
        segments: vec![seg("ab", false), seg("cdé", true), seg("f", false)],
        findings: vec![],
    };
    let texts = |segs: &[Segment]| segs.iter().map(|s| s.text.clone()).collect::<Vec<_>>();
    let (kept, dropped) = r.split_at(3);
    assert_eq!(
        (texts(&kept), texts(&dropped)),
        (vec!["ab".into(), "c".into()], vec!["dé".into(), "f".into()])
    );
    assert!(kept[1].trained && dropped[0].trained && !dropped[1].trained);
    // Inside the two bytes of é: the cut moves back to the character's start.
    let (kept, dropped) = r.split_at(5);
    assert_eq!(
        (texts(&kept), texts(&dropped)),
        (vec!["ab".into(), "cd".into()], vec!["é".into(), "f".into()])
    );
    let (kept, dropped) = r.split_at(usize::MAX);
    assert_eq!((kept, dropped.len()), (r.segments.clone(), 0));
}
