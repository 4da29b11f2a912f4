//! proptest generators of source records, one per format, each written in the layout (key order,
//! spellings) that format's exporter writes, so `export(parse(v)) == v` can be checked byte for
//! byte.

#![allow(dead_code)]

use ajuste_shared::formats::Format;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// Turn text: plain words, arbitrary Unicode, empty, and text with blank lines and quotes.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ,.!?]{0,24}",
        any::<String>(),
        Just(String::new()),
        "[a-z]{0,6}\n\n[a-z \"\\\\]{0,6}\t\r\n[ ]{0,2}",
    ]
}

/// An object from key/value pairs, in order, leaving out `None`s.
fn object(pairs: Vec<(&str, Option<Value>)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    }
    Value::Object(m)
}

/// An optional leading `id` (numbers and strings).
fn id() -> impl Strategy<Value = Option<Value>> {
    option::of(prop_oneof![
        any::<i32>().prop_map(|i| json!(i)),
        "[a-z0-9_]{1,8}".prop_map(|s| json!(s))
    ])
}

pub fn sharegpt_turn() -> impl Strategy<Value = Value> {
    turn_with("from", "value")
}

/// A turn keyed `from`/`value`, or `role`/`content` (the variant), with names of both formats.
fn turn_with(from_key: &'static str, value_key: &'static str) -> impl Strategy<Value = Value> {
    let names = vec![
        "human",
        "gpt",
        "system",
        "user",
        "assistant",
        "chatgpt",
        "bing",
        "bard",
        "model",
        "function_call",
        "observation",
        "tool",
        "function",
        "Human",
        "GPT",
    ];
    let names = if from_key == "role" {
        names.into_iter().chain(["developer", "ipython"]).collect()
    } else {
        names
    };
    (
        select(names),
        text(),
        option::of(0u8..=1),
        option::of("[a-z]{1,6}"),
    )
        .prop_map(move |(from, value, weight, mark)| {
            object(vec![
                (from_key, Some(json!(from))),
                (value_key, Some(json!(value))),
                ("weight", weight.map(|w| json!(w))),
                ("mark", mark.map(|m| json!(m))),
            ])
        })
}

pub fn sharegpt() -> impl Strategy<Value = Value> {
    let turns = prop_oneof![
        3 => vec(turn_with("from", "value"), 0..6),
        1 => vec(turn_with("role", "content"), 1..6),
    ];
    (
        id(),
        turns,
        option::of("[a-z ]{0,12}"),
        option::of(any::<bool>()),
    )
        .prop_map(|(id, turns, system, flag)| {
            object(vec![
                ("id", id),
                ("conversations", Some(Value::Array(turns))),
                ("system", system.map(|s| json!(s))),
                ("flag", flag.map(|f| json!(f))),
            ])
        })
}

/// Content as a string, a list of parts (with an image part now and then), or `null` on a turn
/// that calls tools.
fn openai_content() -> impl Strategy<Value = (Value, Option<Value>)> {
    prop_oneof![
        4 => text().prop_map(|t| (json!(t), None)),
        2 => (vec(text(), 1..3), any::<bool>()).prop_map(|(parts, image)| {
            let mut list: Vec<Value> = parts.into_iter().map(|t| json!({"type": "text", "text": t})).collect();
            if image {
                list.insert(1, json!({"type": "image_url", "image_url": {"url": "x.png"}}));
            }
            (Value::Array(list), None)
        }),
        1 => Just((Value::Null, Some(json!([{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}])))),
    ]
}

pub fn openai_message() -> impl Strategy<Value = Value> {
    (
        select(vec!["system", "user", "assistant", "tool"]),
        openai_content(),
        option::of(0u8..=1),
        option::of("[a-z]{1,6}"),
    )
        .prop_map(|(role, (content, calls), weight, name)| {
            object(vec![
                ("role", Some(json!(role))),
                ("content", Some(content)),
                ("weight", weight.map(|w| json!(w))),
                ("name", name.map(|n| json!(n))),
                ("tool_calls", calls),
            ])
        })
}

pub fn openai() -> impl Strategy<Value = Value> {
    (
        id(),
        vec(openai_message(), 0..6),
        option::of(vec(any::<u8>(), 0..3)),
    )
        .prop_map(|(id, messages, tags)| {
            object(vec![
                ("id", id),
                ("messages", Some(Value::Array(messages))),
                ("tags", tags.map(|t| json!(t))),
            ])
        })
}

pub fn alpaca() -> impl Strategy<Value = Value> {
    (
        id(),
        text(),
        text(),
        text(),
        option::of("[a-z ]{1,12}"),
        option::of(vec((text(), text()), 1..3)),
    )
        .prop_map(|(id, instruction, input, output, system, history)| {
            object(vec![
                ("id", id),
                ("instruction", Some(json!(instruction))),
                ("input", Some(json!(input))),
                ("output", Some(json!(output))),
                ("system", system.map(|s| json!(s))),
                (
                    "history",
                    history.map(|h| {
                        json!(
                            h.into_iter()
                                .map(|(q, a)| json!([q, a]))
                                .collect::<Vec<_>>()
                        )
                    }),
                ),
            ])
        })
}

pub fn dpo() -> impl Strategy<Value = Value> {
    let msgs = |n: std::ops::Range<usize>| vec(openai_message(), n);
    prop_oneof![
        (id(), option::of(text()), text(), text()).prop_map(|(id, prompt, chosen, rejected)| {
            object(vec![
                ("id", id),
                ("prompt", prompt.map(|p| json!(p))),
                ("chosen", Some(json!(chosen))),
                ("rejected", Some(json!(rejected))),
            ])
        }),
        (msgs(0..3), msgs(0..3), msgs(0..3)).prop_map(|(prompt, chosen, rejected)| {
            json!({"prompt": prompt, "chosen": chosen, "rejected": rejected})
        }),
        (msgs(0..3), msgs(0..3), msgs(0..3)).prop_map(|(shared, c, r)| {
            let whole = |tail: Vec<Value>| shared.iter().cloned().chain(tail).collect::<Vec<_>>();
            json!({"chosen": whole(c), "rejected": whole(r)})
        }),
        (
            vec(sharegpt_turn(), 0..4),
            sharegpt_turn(),
            sharegpt_turn(),
            option::of("[a-z]{1,8}")
        )
            .prop_map(|(turns, chosen, rejected, system)| object(vec![
                ("conversations", Some(Value::Array(turns))),
                ("chosen", Some(chosen)),
                ("rejected", Some(rejected)),
                ("system", system.map(|s| json!(s))),
            ])),
    ]
}

/// HH turn text: anything without a turn marker in it (the format cannot hold those).
fn hh_text() -> impl Strategy<Value = String> {
    text().prop_filter("no turn markers", |t| {
        !t.contains("\n\nHuman:") && !t.contains("\n\nAssistant:")
    })
}

/// Renders HH turns the way the format writes them.
pub fn hh_render(turns: &[String], bare: bool) -> String {
    let mut out = String::new();
    for (i, t) in turns.iter().enumerate() {
        out.push_str(if i % 2 == 0 {
            "\n\nHuman:"
        } else {
            "\n\nAssistant:"
        });
        if !t.is_empty() {
            out.push(' ');
            out.push_str(t);
        }
    }
    if bare { out[2..].to_owned() } else { out }
}

pub fn hh() -> impl Strategy<Value = Value> {
    (
        (0usize..3),
        vec(hh_text(), 5),
        hh_text(),
        hh_text(),
        any::<bool>(),
    )
        .prop_map(|(pairs, texts, c, r, bare)| {
            // The prompt: user, (assistant, user)*; then one assistant turn per side.
            let prompt: Vec<String> = texts.into_iter().take(2 * pairs + 1).collect();
            let side = |last: String| {
                hh_render(
                    &prompt.iter().cloned().chain([last]).collect::<Vec<_>>(),
                    bare,
                )
            };
            json!({"chosen": side(c), "rejected": side(r)})
        })
}

pub fn kto() -> impl Strategy<Value = Value> {
    let msgs = |n: std::ops::Range<usize>| vec(openai_message(), n);
    prop_oneof![
        (option::of(text()), text(), any::<bool>()).prop_map(|(prompt, completion, label)| object(
            vec![
                ("prompt", prompt.map(|p| json!(p))),
                ("completion", Some(json!(completion))),
                ("label", Some(json!(label))),
            ]
        )),
        (msgs(0..3), msgs(0..3), any::<bool>())
            .prop_map(|(p, c, label)| json!({"prompt": p, "completion": c, "label": label})),
        (msgs(0..4), any::<bool>()).prop_map(|(c, label)| json!({"completion": c, "label": label})),
        (
            vec(sharegpt_turn(), 0..4),
            any::<bool>(),
            option::of("[a-z]{1,8}")
        )
            .prop_map(|(turns, tag, system)| {
                object(vec![
                    ("conversations", Some(Value::Array(turns))),
                    ("kto_tag", Some(json!(tag))),
                    ("system", system.map(|s| json!(s))),
                ])
            }),
    ]
}

/// A generated record of `format`.
pub fn record_of(format: Format) -> BoxedStrategy<Value> {
    match format {
        Format::Sharegpt => sharegpt().boxed(),
        Format::Openai => openai().boxed(),
        Format::Alpaca => alpaca().boxed(),
        Format::Dpo => dpo().boxed(),
        Format::Hh => hh().boxed(),
        Format::Kto => kto().boxed(),
    }
}

/// A format and one of its records.
pub fn any_record() -> impl Strategy<Value = (Format, Value)> {
    select(Format::ALL.to_vec()).prop_flat_map(|f| record_of(f).prop_map(move |v| (f, v)))
}

/// Any JSON value, nested a little.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec(("[a-z_]{1,8}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}
