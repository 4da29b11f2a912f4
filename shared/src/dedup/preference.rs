//! Contradictory preference pairs: the same prompt with chosen and rejected swapped.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_128;

use super::locate;
use super::normalize::turns_text;
use crate::codes::Code;
use crate::diagnostic::Finding;
use crate::record::{Dataset, Record};

/// Keys of one preference record: normalised prompt, chosen and rejected.
type PrefKey = (u128, u128, u128);

fn key_of(record: &Record) -> Option<PrefKey> {
    let Record::Preference(p) = record else {
        return None;
    };
    // Digits are kept, as in every matching text: "4" and "5" are different answers to
    // "2+2?", and "2+2?" is another prompt than "3+3?".
    let h = |turns| xxh3_128(turns_text(turns).as_bytes());
    Some((h(&p.prompt), h(&p.chosen), h(&p.rejected)))
}

/// Pairs `(i, j)`, `i < j`, of preference records with the same [normalised](super::normalize)
/// prompt where `j`'s chosen is `i`'s rejected and the other way round (compared normalised,
/// digits kept, since answers often differ only in a number). Each contradicting
/// record `j` is paired with the earliest such `i`, so a pair repeated many times gives a
/// linear number of pairs rather than all of them. Records whose chosen equals their rejected
/// (`chosen-equals-rejected`), and records other than preferences, are skipped. Sorted by `j`.
pub fn swapped_preferences(records: &[Record]) -> Vec<(usize, usize)> {
    let mut first: HashMap<PrefKey, usize> = HashMap::new();
    let mut out = Vec::new();
    for (j, r) in records.iter().enumerate() {
        let Some((prompt, chosen, rejected)) = key_of(r) else {
            continue;
        };
        if chosen == rejected {
            continue;
        }
        if let Some(&i) = first.get(&(prompt, rejected, chosen)) {
            out.push((i, j));
        }
        first.entry((prompt, chosen, rejected)).or_insert(j);
    }
    out
}

/// A `swapped-preference` finding on the later record of each pair, naming the earlier one.
/// Indices are positions in `dataset.items`.
pub fn swapped_findings(pairs: &[(usize, usize)], dataset: &Dataset) -> Vec<Finding> {
    pairs
        .iter()
        .map(|&(i, j)| {
            let other = locate(dataset, i);
            let msg = format!(
                "the prompt also appears in {} with chosen and rejected swapped",
                other.describe()
            );
            locate(dataset, j).apply(Finding::new(Code::SwappedPreference, msg).path("/chosen"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Conversation, Message, Preference};

    fn pref(prompt: &str, chosen: &str, rejected: &str) -> Record {
        Record::Preference(Preference {
            prompt: vec![Message::user(prompt)],
            chosen: vec![Message::assistant(chosen)],
            rejected: vec![Message::assistant(rejected)],
            meta: Default::default(),
        })
    }

    #[test]
    fn swapped_pairs_are_found_after_normalisation() {
        let records = vec![
            pref("What is 2+2?", "4", "5"),
            pref("Capital of France?", "Paris", "Rome"),
            pref("what is 2+2", "5.", "4"),
            pref("what is 2+2", "6", "4"),
            pref("Capital of France?", "Paris", "Rome"),
            pref("Capital of Spain?", "Rome", "Paris"),
            pref("same", "x", "x"),
            pref("same", "x", "X!"),
            Record::Conversation(Conversation {
                messages: vec![Message::user("hi")],
                meta: Default::default(),
            }),
        ];
        assert_eq!(swapped_preferences(&records), vec![(0, 2)]);
    }

    #[test]
    fn each_contradicting_record_pairs_with_the_earliest() {
        let records = vec![
            pref("p", "a", "b"),
            pref("p", "b", "a"),
            pref("p", "a", "b"),
            pref("p", "b", "a"),
        ];
        assert_eq!(swapped_preferences(&records), vec![(0, 1), (1, 2), (0, 3)]);
    }
}
