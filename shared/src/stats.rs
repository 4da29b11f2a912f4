//! Dataset statistics: sizes, turns, roles, languages, length histograms.
//!
//! Everything here is computed in one pass over the records; token lengths come from the caller
//! (they need a template and a tokenizer) and duplicate counts from the dedup module.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::balance::GroupBy;
use crate::record::{Dataset, Kind, Record, Role};
use crate::template::Template;
use crate::tokenize::TextTokenizer;

/// Order statistics of a list of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub count: usize,
    pub min: usize,
    pub max: usize,
    pub mean: f64,
    pub p50: usize,
    pub p90: usize,
    pub p99: usize,
}

impl Summary {
    pub fn of(values: &[usize]) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        // Nearest-rank percentile: the smallest value with at least p% of values at or below it.
        let rank =
            |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Summary {
            count: sorted.len(),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            mean: sorted.iter().sum::<usize>() as f64 / sorted.len() as f64,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
        }
    }
}

/// A histogram with equal-width bins of a "nice" width (1, 2 or 5 times a power of ten).
/// Bin `i` counts values in `[edges[i], edges[i + 1])`; the last bin also takes everything above.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Histogram {
    pub summary: Summary,
    pub edges: Vec<usize>,
    pub counts: Vec<usize>,
}

impl Histogram {
    /// About `target_bins` bins spanning 0..=max.
    pub fn of(values: &[usize], target_bins: usize) -> Histogram {
        let summary = Summary::of(values);
        if values.is_empty() {
            return Histogram {
                summary,
                edges: vec![0, 1],
                counts: vec![0],
            };
        }
        let width = nice_width(summary.max + 1, target_bins.max(1));
        let bins = summary.max / width + 1;
        let edges = (0..=bins).map(|i| i * width).collect();
        let mut counts = vec![0; bins];
        for &v in values {
            counts[(v / width).min(bins - 1)] += 1;
        }
        Histogram {
            summary,
            edges,
            counts,
        }
    }

    /// How many values are above `limit` (e.g. records longer than the context).
    pub fn count_above(values: &[usize], limit: usize) -> usize {
        values.iter().filter(|&&v| v > limit).count()
    }
}

/// The smallest 1/2/5 x 10^k width giving at most `bins` bins over `span`.
fn nice_width(span: usize, bins: usize) -> usize {
    let raw = span.div_ceil(bins).max(1);
    let mut power = 1usize;
    loop {
        for m in [1, 2, 5] {
            if m * power >= raw {
                return m * power;
            }
        }
        power = power.saturating_mul(10);
    }
}

/// Statistics of one dataset.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stats {
    pub records: usize,
    pub kind: Option<Kind>,
    /// Turns per record.
    pub turns: Summary,
    /// Number of turns of each role over the whole dataset.
    pub roles: BTreeMap<Role, usize>,
    /// Records per detected language (ISO 639-3; "und" when too short or unreliable).
    pub languages: BTreeMap<String, usize>,
    /// Characters per record (all turns).
    pub chars: Histogram,
    /// Tokens per rendered record, when a tokenizer was given.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tokens: Option<Histogram>,
    /// Records longer than the maximum length, when tokens and a maximum were given.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub over_max_length: Option<usize>,
    /// Records that duplicate an earlier one exactly (normalised), when dedup ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exact_duplicates: Option<usize>,
    /// Records per KTO label or topic field ([`GroupBy::Auto`]), or per group of the key the
    /// data was balanced by.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub balance: BTreeMap<String, usize>,
}

/// Languages are judged on at most this many characters of a record (enough for whatlang's
/// trigram model, and keeps the pass linear in the number of records, not their length).
const LANGUAGE_SAMPLE_CHARS: usize = 2000;
/// Below this many characters whatlang's guesses are mostly noise (Lilac uses 25).
const LANGUAGE_MIN_CHARS: usize = 25;

/// Computes the statistics; `token_lengths` (one per record, in order) and `max_length` are
/// optional. `groups` is the key of the balance chart: the balancing's when the data was
/// balanced, so the chart shows the groups that were capped.
pub fn compute(
    dataset: &Dataset,
    token_lengths: Option<&[usize]>,
    max_length: Option<usize>,
    groups: &GroupBy,
) -> Stats {
    let mut turns = Vec::with_capacity(dataset.len());
    let mut chars = Vec::with_capacity(dataset.len());
    let mut roles = BTreeMap::new();
    let mut languages = BTreeMap::new();
    let mut balance = BTreeMap::new();
    for record in dataset.records() {
        let record_turns = record.turns();
        turns.push(record_turns.len());
        chars.push(
            record_turns
                .iter()
                .map(|(_, _, m)| m.content.chars().count())
                .sum(),
        );
        for (_, _, m) in &record_turns {
            *roles.entry(m.role).or_insert(0) += 1;
        }
        *languages.entry(language_of(record)).or_insert(0) += 1;
        if let Some(group) = groups.group_of(record) {
            *balance.entry(group).or_insert(0) += 1;
        }
    }
    let tokens = token_lengths.map(|t| Histogram::of(t, 20));
    let over_max_length = match (token_lengths, max_length) {
        (Some(t), Some(max)) => Some(Histogram::count_above(t, max)),
        _ => None,
    };
    Stats {
        records: dataset.len(),
        kind: dataset.kind(),
        turns: Summary::of(&turns),
        roles,
        languages,
        chars: Histogram::of(&chars, 20),
        tokens,
        over_max_length,
        exact_duplicates: None,
        balance,
    }
}

/// Tokens a record takes when trained: the whole rendering, or the longer side of a preference
/// pair (that is what must fit the context).
pub fn token_length(template: &Template, tok: &TextTokenizer, record: &Record) -> usize {
    let tokens = |r| tok.encode(r, None).input_ids.len();
    match record {
        Record::Preference(p) => {
            let (chosen, rejected) = template.render_pair(p);
            tokens(&chosen).max(tokens(&rejected))
        }
        r => tokens(&template.render(r)),
    }
}

/// The language of a record's text, "und" when it cannot be told.
pub fn language_of(record: &Record) -> String {
    let mut sample = String::new();
    for (_, _, m) in record.turns() {
        if m.role == Role::System {
            continue;
        }
        if !sample.is_empty() {
            sample.push('\n');
        }
        sample.extend(
            m.content
                .chars()
                .take(LANGUAGE_SAMPLE_CHARS.saturating_sub(sample.len())),
        );
        if sample.len() >= LANGUAGE_SAMPLE_CHARS {
            break;
        }
    }
    if sample.chars().filter(|c| c.is_alphabetic()).count() < LANGUAGE_MIN_CHARS {
        return "und".into();
    }
    match whatlang::detect(&sample) {
        Some(info) if info.is_reliable() => info.lang().code().to_string(),
        _ => "und".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Conversation, Item, Message, Source};

    fn conv(turns: &[(&str, &str)]) -> Item {
        let messages = turns
            .iter()
            .map(|(r, c)| Message::new(Role::from_openai(r).unwrap(), *c))
            .collect();
        Item {
            source: Source::default(),
            record: Record::Conversation(Conversation {
                messages,
                meta: Default::default(),
            }),
        }
    }

    #[test]
    fn summary_uses_nearest_rank_percentiles() {
        let values: Vec<usize> = (1..=100).collect();
        let s = Summary::of(&values);
        assert_eq!((s.min, s.max, s.p50, s.p90, s.p99), (1, 100, 50, 90, 99));
        assert_eq!(s.mean, 50.5);
        assert_eq!(Summary::of(&[]), Summary::default());
    }

    #[test]
    fn histogram_bins_are_nice_and_count_everything() {
        let values = [0, 3, 9, 10, 11, 99, 250];
        let h = Histogram::of(&values, 10);
        assert_eq!(h.edges[1] - h.edges[0], 50);
        assert_eq!(h.counts.iter().sum::<usize>(), values.len());
        assert_eq!(h.counts[0], 5);
        assert_eq!(*h.counts.last().unwrap(), 1);
    }

    #[test]
    fn counts_roles_turns_and_languages() {
        let ds = Dataset {
            name: "t".into(),
            items: vec![
                conv(&[
                    (
                        "user",
                        "What is the capital of France? I would like a short answer please.",
                    ),
                    (
                        "assistant",
                        "The capital of France is Paris, a city on the river Seine.",
                    ),
                ]),
                conv(&[
                    ("system", "Responda em português."),
                    (
                        "user",
                        "Qual é a capital de Portugal? Gostaria de uma resposta curta, por favor.",
                    ),
                    (
                        "assistant",
                        "A capital de Portugal é Lisboa, uma cidade junto ao rio Tejo.",
                    ),
                ]),
                conv(&[("user", "hi"), ("assistant", "hello")]),
            ],
        };
        let s = compute(&ds, Some(&[20, 30, 5]), Some(25), &GroupBy::Auto);
        assert_eq!(s.records, 3);
        assert_eq!(s.kind, Some(Kind::Sft));
        assert_eq!(s.roles[&Role::Assistant], 3);
        assert_eq!(s.roles[&Role::System], 1);
        assert_eq!((s.turns.min, s.turns.max), (2, 3));
        assert_eq!(s.languages.get("eng"), Some(&1));
        assert_eq!(s.languages.get("por"), Some(&1));
        assert_eq!(s.languages.get("und"), Some(&1));
        assert_eq!(s.over_max_length, Some(1));
        assert_eq!(s.tokens.unwrap().summary.max, 30);
    }

    #[test]
    fn the_balance_chart_groups_by_the_key_it_is_given() {
        let tagged = |topic: &str, lang: &str| {
            let mut item = conv(&[("user", "q"), ("assistant", "a")]);
            let meta = item.record.meta_mut();
            meta.insert("topic".into(), topic.into());
            meta.insert("lang".into(), lang.into());
            item
        };
        let ds = Dataset {
            name: "t".into(),
            items: vec![tagged("a", "pt"), tagged("b", "pt"), tagged("a", "en")],
        };
        let auto = compute(&ds, None, None, &GroupBy::Auto);
        assert_eq!(
            auto.balance.into_iter().collect::<Vec<_>>(),
            [("topic=a".into(), 2), ("topic=b".into(), 1)]
        );
        let lang = compute(&ds, None, None, &GroupBy::Field("lang".into()));
        assert_eq!(
            lang.balance.into_iter().collect::<Vec<_>>(),
            [("en".into(), 1), ("pt".into(), 2)]
        );
    }
}
