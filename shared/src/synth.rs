//! Synthetic ShareGPT conversations with planted duplicates, for benchmarks and quality tests.
//!
//! [`planted_sharegpt`] writes `n` varied conversations (a pseudo-word vocabulary split into
//! topics, common English function words, and a few shared openers and system prompts, so
//! unrelated records share almost no word 5-grams) and plants about 5% exact duplicates
//! (whitespace and case changed) and about 5% near duplicates (one to four words replaced,
//! deleted, inserted or swapped, keeping the 5-gram Jaccard similarity to the original at
//! 0.8 or more and below 1). [`PlantedTruth`] says which records are copies of which, so a
//! benchmark can compute the precision and recall of near-duplicate detection.
//! Everything is deterministic in the seed.

use std::collections::BTreeSet;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::dedup::{exact_key, jaccard, record_text, shingle_set};
use crate::record::{Conversation, Message, Record, Role};

/// Share of records planted as exact copies, and as near copies.
const EXACT_RATE: f64 = 0.05;
const NEAR_RATE: f64 = 0.05;
/// The similarity every planted near copy reaches against its original (5-gram shingles).
pub const PLANTED_MIN_JACCARD: f64 = 0.8;
/// Word n-gram size the planted similarity is measured with.
pub const PLANTED_NGRAM: usize = 5;
/// Near copies are only made of records with at least this many words, so that one edit
/// keeps the Jaccard similarity above [`PLANTED_MIN_JACCARD`].
const NEAR_MIN_WORDS: usize = 60;

/// Which generated records are planted copies of which.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlantedTruth {
    /// `(original, copy)` for each exact copy (same text up to whitespace and case).
    pub exact: Vec<(usize, usize)>,
    /// `(original, copy, jaccard)` for each near copy; `jaccard` is the 5-gram shingle
    /// similarity of the two records' matching texts, in `[0.8, 1)`.
    pub near: Vec<(usize, usize, f64)>,
}

/// Precision and recall of detected near duplicates against the planted ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Records reported as near duplicates.
    pub detected: usize,
    /// Planted near copies.
    pub planted: usize,
    /// Reported records that are planted near copies.
    pub correct: usize,
    /// `correct / detected` (1 when nothing was reported).
    pub precision: f64,
    /// `correct / planted` (1 when nothing was planted).
    pub recall: f64,
}

impl PlantedTruth {
    /// Indices of the planted exact copies.
    pub fn exact_copies(&self) -> BTreeSet<usize> {
        self.exact.iter().map(|&(_, c)| c).collect()
    }

    /// Indices of the planted near copies.
    pub fn near_copies(&self) -> BTreeSet<usize> {
        self.near.iter().map(|&(_, c, _)| c).collect()
    }

    /// Scores the records a detector removed as near duplicates. Every planted near copy comes
    /// after its original, so a detector keeping the smallest index should remove exactly the
    /// copies.
    pub fn near_quality(&self, removed_as_near: &BTreeSet<usize>) -> Quality {
        let truth = self.near_copies();
        let correct = removed_as_near.intersection(&truth).count();
        let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        Quality {
            detected: removed_as_near.len(),
            planted: truth.len(),
            correct,
            precision: ratio(correct, removed_as_near.len()),
            recall: ratio(correct, truth.len()),
        }
    }
}

/// `n` ShareGPT records (`{"id", "conversations": [{"from", "value"}]}`) with planted duplicates.
pub fn planted_sharegpt(n: usize, seed: u64) -> (Vec<Value>, PlantedTruth) {
    let (convs, truth) = generate(n, seed);
    let values = convs
        .into_iter()
        .enumerate()
        .map(|(i, turns)| {
            let turns: Vec<Value> = turns
                .iter()
                .map(|m| {
                    let from = match m.role {
                        Role::System => "system",
                        Role::User => "human",
                        Role::Assistant => "gpt",
                        Role::Tool => "observation",
                    };
                    json!({ "from": from, "value": m.content })
                })
                .collect();
            json!({ "id": record_id(i), "conversations": turns })
        })
        .collect();
    (values, truth)
}

/// The same records as [`planted_sharegpt`], in the canonical model (`id` in `meta`).
pub fn planted_records(n: usize, seed: u64) -> (Vec<Record>, PlantedTruth) {
    let (convs, truth) = generate(n, seed);
    let records = convs
        .into_iter()
        .enumerate()
        .map(|(i, messages)| to_record(i, messages))
        .collect();
    (records, truth)
}

fn record_id(i: usize) -> String {
    format!("synth-{i:06}")
}

fn to_record(i: usize, messages: Vec<Message>) -> Record {
    let mut meta = Map::new();
    meta.insert("id".into(), Value::String(record_id(i)));
    Record::Conversation(Conversation { messages, meta })
}

/// Common English words: shared by all topics, as in real text.
const COMMON: &[&str] = &[
    "the", "a", "an", "of", "to", "and", "or", "but", "is", "are", "was", "be", "in", "on", "at",
    "for", "with", "by", "from", "as", "that", "this", "these", "it", "its", "you", "your", "we",
    "our", "they", "can", "will", "should", "would", "could", "may", "not", "no", "if", "then",
    "when", "where", "how", "what", "which", "why", "more", "most", "less", "some", "any", "each",
    "every", "all", "one", "two", "first", "next", "also", "very", "just", "only", "into", "about",
    "over", "under", "between", "after", "before", "because", "so", "than", "there", "here", "use",
    "make", "take", "give", "find", "need",
];
/// Syllables the topic vocabulary is built from.
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ren", "sa", "tu", "vel", "zor", "pa", "qui", "don", "fe", "gra", "hul",
    "ix", "jo", "ber", "cal", "dri", "eno", "fa", "gil", "ho", "ist", "lum", "mar", "nor", "ost",
    "pre", "ruv", "sil", "tam", "und", "vor", "wex", "yan", "zel", "bro", "cha", "dus",
];
const TOPICS: usize = 16;
const WORDS_PER_TOPIC: usize = 250;
const USER_OPENERS: &[&str] = &[
    "Can you explain",
    "How do I",
    "What is the difference between",
    "Please write a short note about",
    "Tell me about",
    "I need help with",
    "Why does",
    "Give me three ideas for",
];
const ASSISTANT_OPENERS: &[&str] = &[
    "Sure!",
    "Certainly.",
    "Great question.",
    "Here is what you need to know.",
    "Let me explain step by step.",
    "",
];
const SYSTEM_PROMPTS: &[&str] = &[
    "You are a helpful assistant.",
    "You are a concise assistant that answers in plain language.",
    "You are an expert tutor. Explain your reasoning.",
];

/// The generator's state: its random stream and vocabulary.
struct Gen {
    rng: ChaCha8Rng,
    topics: Vec<Vec<String>>,
}

impl Gen {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut seen = BTreeSet::new();
        let mut words = Vec::with_capacity(TOPICS * WORDS_PER_TOPIC);
        while words.len() < TOPICS * WORDS_PER_TOPIC {
            let syllables = rng.random_range(2..=4);
            let w: String = (0..syllables)
                .map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())])
                .collect();
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let topics = words
            .chunks(WORDS_PER_TOPIC)
            .map(<[String]>::to_vec)
            .collect();
        Gen { rng, topics }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn word(&mut self, topic: usize) -> String {
        if self.rng.random_bool(0.4) {
            (*self.pick(COMMON)).to_owned()
        } else if self.rng.random_bool(0.03) {
            self.rng.random_range(0..5000).to_string()
        } else {
            let words = &self.topics[topic];
            words[self.rng.random_range(0..words.len())].clone()
        }
    }

    /// One sentence: capitalised, commas now and then, a final stop.
    fn sentence(&mut self, topic: usize, out: &mut String) {
        let len = self.rng.random_range(6..=18);
        for k in 0..len {
            if !out.is_empty() {
                out.push(' ');
            }
            let w = self.word(topic);
            if k == 0 {
                let mut cs = w.chars();
                if let Some(c) = cs.next() {
                    out.extend(c.to_uppercase());
                    out.push_str(cs.as_str());
                }
            } else {
                out.push_str(&w);
            }
            if k + 1 < len && self.rng.random_bool(0.08) {
                out.push(',');
            }
        }
        out.push(*self.pick(&['.', '.', '.', '?', '!']));
    }

    fn turn(
        &mut self,
        topic: usize,
        opener: &str,
        sentences: std::ops::RangeInclusive<usize>,
    ) -> String {
        let mut s = opener.to_owned();
        let count = self.rng.random_range(sentences);
        for _ in 0..count {
            self.sentence(topic, &mut s);
        }
        s
    }

    fn conversation(&mut self) -> Vec<Message> {
        let topic = self.rng.random_range(0..TOPICS);
        let mut turns = Vec::new();
        if self.rng.random_bool(0.2) {
            turns.push(Message::system(*self.pick(SYSTEM_PROMPTS)));
        }
        let exchanges = self.rng.random_range(1..=3);
        for _ in 0..exchanges {
            let opener = *self.pick(USER_OPENERS);
            let user = self.turn(topic, opener, 1..=3);
            turns.push(Message::user(user));
            let opener = *self.pick(ASSISTANT_OPENERS);
            let assistant = self.turn(topic, opener, 2..=8);
            turns.push(Message::assistant(assistant));
        }
        turns
    }

    /// A copy that differs only in whitespace and case.
    fn exact_variant(&mut self, turns: &[Message]) -> Vec<Message> {
        let mut out = turns.to_vec();
        for m in &mut out {
            match self.rng.random_range(0..4) {
                0 => m.content = m.content.to_uppercase(),
                1 => m.content = m.content.to_lowercase(),
                2 => m.content = m.content.replace(' ', "  "),
                _ => m.content = format!("\n {} \t", m.content),
            }
        }
        out
    }

    /// A copy with `edits` word edits (replace, delete, insert, swap) in random turns.
    fn near_variant(&mut self, turns: &[Message], edits: usize) -> Vec<Message> {
        let mut out = turns.to_vec();
        let topic = self.rng.random_range(0..TOPICS);
        for _ in 0..edits {
            let t = self.rng.random_range(0..out.len());
            let mut words: Vec<String> = out[t].content.split(' ').map(str::to_owned).collect();
            let at = self.rng.random_range(0..words.len());
            match self.rng.random_range(0..4) {
                0 => words[at] = self.word(topic),
                1 if words.len() > 1 => {
                    words.remove(at);
                }
                2 if at + 1 < words.len() => words.swap(at, at + 1),
                _ => {
                    let w = self.word(topic);
                    words.insert(at, w);
                }
            }
            out[t].content = words.join(" ");
        }
        out
    }
}

fn matching_text(turns: &[Message]) -> String {
    record_text(&to_record(0, turns.to_vec()))
}

fn word_count(turns: &[Message]) -> usize {
    turns
        .iter()
        .map(|m| m.content.split_whitespace().count())
        .sum()
}

/// Generates the conversations and the truth.
fn generate(n: usize, seed: u64) -> (Vec<Vec<Message>>, PlantedTruth) {
    let mut g = Gen::new(seed);
    let mut convs: Vec<Vec<Message>> = Vec::with_capacity(n);
    let mut truth = PlantedTruth::default();
    // Only original records serve as sources, so every copy has exactly one original.
    let mut originals: Vec<usize> = Vec::new();
    while convs.len() < n {
        let i = convs.len();
        let roll: f64 = g.rng.random();
        let copy = if originals.is_empty() {
            None
        } else if roll < EXACT_RATE {
            exact_copy(&mut g, &convs, &originals).map(|(src, copy)| {
                truth.exact.push((src, i));
                copy
            })
        } else if roll < EXACT_RATE + NEAR_RATE {
            near_copy(&mut g, &convs, &originals).map(|(src, copy, j)| {
                truth.near.push((src, i, j));
                copy
            })
        } else {
            None
        };
        match copy {
            Some(copy) => convs.push(copy),
            None => {
                convs.push(g.conversation());
                originals.push(i);
            }
        }
    }
    (convs, truth)
}

/// An exact copy (whitespace and case changed) of a random original.
fn exact_copy(
    g: &mut Gen,
    convs: &[Vec<Message>],
    originals: &[usize],
) -> Option<(usize, Vec<Message>)> {
    let src = *g.pick(originals);
    let copy = g.exact_variant(&convs[src]);
    // Case and whitespace never change the matching text of this ASCII vocabulary; checked
    // all the same so the truth cannot lie.
    let same = exact_key(&matching_text(&copy)) == exact_key(&matching_text(&convs[src]));
    same.then_some((src, copy))
}

/// A near copy of a random long-enough original, with its similarity; `None` when no try
/// reached a similarity in `[0.8, 1)`.
fn near_copy(
    g: &mut Gen,
    convs: &[Vec<Message>],
    originals: &[usize],
) -> Option<(usize, Vec<Message>, f64)> {
    for _ in 0..8 {
        let src = *g.pick(originals);
        if word_count(&convs[src]) < NEAR_MIN_WORDS {
            continue;
        }
        let base = shingle_set(&matching_text(&convs[src]), PLANTED_NGRAM);
        let mut edits = g.rng.random_range(1..=4);
        while edits > 0 {
            let copy = g.near_variant(&convs[src], edits);
            let j = jaccard(&base, &shingle_set(&matching_text(&copy), PLANTED_NGRAM));
            if (PLANTED_MIN_JACCARD..1.0).contains(&j) {
                return Some((src, copy, j));
            }
            edits -= 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data() {
        assert_eq!(planted_sharegpt(200, 3), planted_sharegpt(200, 3));
        assert_ne!(planted_sharegpt(200, 3).0, planted_sharegpt(200, 4).0);
    }

    #[test]
    fn plants_about_five_percent_of_each() {
        let (values, truth) = planted_sharegpt(4000, 1);
        assert_eq!(values.len(), 4000);
        let (e, n) = (
            truth.exact.len() as f64 / 4000.0,
            truth.near.len() as f64 / 4000.0,
        );
        assert!((0.035..0.065).contains(&e), "exact share {e}");
        assert!((0.035..0.065).contains(&n), "near share {n}");
        assert!(truth.exact.iter().all(|&(o, c)| o < c));
        assert!(
            truth
                .near
                .iter()
                .all(|&(o, c, j)| o < c && (0.8..1.0).contains(&j))
        );
    }

    #[test]
    fn planted_pairs_hold_what_the_truth_says() {
        let (records, truth) = planted_records(1500, 9);
        let text = |i: usize| record_text(&records[i]);
        for &(o, c) in &truth.exact {
            assert_eq!(text(o), text(c));
        }
        for &(o, c, j) in &truth.near {
            let got = jaccard(&shingle_set(&text(o), 5), &shingle_set(&text(c), 5));
            assert_eq!(got, j);
        }
    }

    #[test]
    fn sharegpt_and_records_agree() {
        let (values, _) = planted_sharegpt(50, 2);
        let (records, _) = planted_records(50, 2);
        for (v, r) in values.iter().zip(&records) {
            let turns = v["conversations"].as_array().unwrap();
            let Record::Conversation(c) = r else {
                panic!("conversation expected")
            };
            assert_eq!(turns.len(), c.messages.len());
            assert_eq!(turns[0]["value"].as_str().unwrap(), c.messages[0].content);
            assert_eq!(v["id"], c.meta["id"]);
        }
    }
}
