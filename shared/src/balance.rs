//! Balancing: capping how many records each group (a KTO label, a topic) keeps.
//!
//! A dataset where one topic or one label dominates teaches the model that topic or label.
//! [`balance`] groups records by a [`GroupBy`] key and keeps, in every group, at most
//! `max_per_group` records and at most `max_ratio` times as many as the smallest group holds;
//! which records a capped group keeps is a seeded draw (ChaCha8, so the same on every platform),
//! and kept records stay in input order. Balancing runs after deduplication: duplicates would
//! otherwise count towards a group's size.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::record::Record;

/// Meta fields that name a record's topic, in the order [`GroupBy::Auto`] tries them.
pub const TOPIC_FIELDS: [&str; 4] = ["topic", "category", "task", "source"];

/// The group of records without the key: reported, never capped, and not counted as the
/// smallest group (a few records without a topic must not cap every topic).
pub const NO_GROUP: &str = "(none)";

/// What puts records in one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupBy {
    /// The KTO label of feedback records, else the first of [`TOPIC_FIELDS`] a record has.
    Auto,
    /// The KTO label (`desirable` / `undesirable`).
    Label,
    /// A top-level field of the source record (kept in the record's meta), such as `topic`.
    Field(String),
}

impl GroupBy {
    /// Parses `auto`, `label` or a field name (the CLI's `--by`).
    pub fn parse(s: &str) -> Result<GroupBy, BalanceError> {
        match s.trim() {
            "" => Err(BalanceError::EmptyField),
            "auto" => Ok(GroupBy::Auto),
            "label" => Ok(GroupBy::Label),
            field => Ok(GroupBy::Field(field.to_owned())),
        }
    }

    /// The group `record` belongs to, `None` when it has no such key. Auto groups are named
    /// `field=value` (`topic=math`) so that groups from different fields cannot merge.
    pub fn group_of(&self, record: &Record) -> Option<String> {
        let label = |r: &Record| match r {
            Record::Feedback(f) => Some(if f.label { "desirable" } else { "undesirable" }.into()),
            _ => None,
        };
        match self {
            GroupBy::Label => label(record),
            GroupBy::Field(field) => record.meta().get(field).and_then(scalar),
            GroupBy::Auto => label(record).or_else(|| {
                let meta = record.meta();
                TOPIC_FIELDS.iter().find_map(|k| {
                    meta.get(*k)
                        .and_then(scalar)
                        .map(|value| format!("{k}={value}"))
                })
            }),
        }
    }
}

impl std::fmt::Display for GroupBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupBy::Auto => f.write_str("auto"),
            GroupBy::Label => f.write_str("label"),
            GroupBy::Field(field) => f.write_str(field),
        }
    }
}

/// A string, number or boolean as a group name; other values name no group.
fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => Some(v.to_string()),
        _ => None,
    }
}

/// The seed the CLI's balancing flags default to.
pub const DEFAULT_BALANCE_SEED: u64 = 42;

/// Parameters of a balancing pass, as recorded in the bundle manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceConfig {
    pub by: GroupBy,
    /// Each group keeps at most this many records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_group: Option<usize>,
    /// Each group keeps at most this many times the records of the smallest group (1: equal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<f64>,
    /// Seed of the draw that picks what a capped group keeps.
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BalanceError {
    #[error(
        "balancing needs a cap: a maximum per group, a maximum ratio to the smallest group, or both"
    )]
    NoCap,
    #[error("the maximum per group must be at least 1")]
    ZeroCap,
    #[error("the maximum ratio to the smallest group must be a number of at least 1; got {0}")]
    BadRatio(f64),
    #[error("the field to group by is empty")]
    EmptyField,
    #[error("no record has {0}: there is nothing to balance by")]
    NoGroups(String),
}

impl BalanceConfig {
    /// Checks the parameters (before any data is read).
    pub fn validate(&self) -> Result<(), BalanceError> {
        match (self.max_per_group, self.max_ratio) {
            (None, None) => return Err(BalanceError::NoCap),
            (Some(0), _) => return Err(BalanceError::ZeroCap),
            (_, Some(r)) if !(r >= 1.0 && r.is_finite()) => return Err(BalanceError::BadRatio(r)),
            _ => {}
        }
        if matches!(&self.by, GroupBy::Field(f) if f.trim().is_empty()) {
            return Err(BalanceError::EmptyField);
        }
        Ok(())
    }
}

/// One group before and after balancing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCount {
    pub group: String,
    pub records: usize,
    pub kept: usize,
}

/// What [`balance`] decided.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BalanceReport {
    /// Every group, by name ([`NO_GROUP`] for records without the key).
    pub groups: Vec<GroupCount>,
    /// The most records a group keeps.
    pub cap: usize,
    /// Indices (into the input) of the records kept, in input order.
    pub kept: Vec<usize>,
    /// Indices of the records left out, in input order, each with its group.
    pub removed: Vec<(usize, String)>,
}

/// Balances `records` (their order is the input order the indices refer to).
pub fn balance<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    config: &BalanceConfig,
) -> Result<BalanceReport, BalanceError> {
    config.validate()?;
    let names: Vec<Option<String>> = records.into_iter().map(|r| config.by.group_of(r)).collect();
    if names.iter().all(Option::is_none) {
        return Err(BalanceError::NoGroups(match &config.by {
            GroupBy::Auto => format!(
                "a KTO label or a {} field",
                TOPIC_FIELDS.map(|f| format!("`{f}`")).join("/")
            ),
            GroupBy::Label => "a KTO label".to_owned(),
            GroupBy::Field(f) => format!("a `{f}` field"),
        }));
    }
    // `None` (no key) sorts first and is its own group, even beside a value spelled "(none)".
    let mut members: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        members.entry(name.as_deref()).or_default().push(i);
    }
    let smallest = members
        .iter()
        .filter(|(group, _)| group.is_some())
        .map(|(_, m)| m.len())
        .min()
        .unwrap_or(0);
    // The epsilon keeps a product that is whole on paper whole in floating point
    // (100 x 1.15 is 114.999...).
    let by_ratio = config.max_ratio.map_or(usize::MAX, |r| {
        (smallest as f64 * r + 1e-9).floor() as usize
    });
    let cap = config.max_per_group.unwrap_or(usize::MAX).min(by_ratio);
    // One generator over the groups in name order: the draw depends on the seed and the data only.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut keep = vec![false; names.len()];
    let mut groups = Vec::with_capacity(members.len());
    for (group, mut indices) in members {
        let records = indices.len();
        if records > cap && group.is_some() {
            indices.shuffle(&mut rng);
            indices.truncate(cap);
        }
        for &i in &indices {
            keep[i] = true;
        }
        groups.push(GroupCount {
            group: group.unwrap_or(NO_GROUP).to_owned(),
            records,
            kept: indices.len(),
        });
    }
    let (kept, removed): (Vec<usize>, Vec<usize>) = (0..names.len()).partition(|&i| keep[i]);
    let removed = removed
        .into_iter()
        .map(|i| (i, names[i].clone().unwrap_or_else(|| NO_GROUP.to_owned())))
        .collect();
    Ok(BalanceReport {
        groups,
        cap,
        kept,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Conversation, Feedback, Message, Role};
    use serde_json::json;

    fn feedback(label: bool) -> Record {
        Record::Feedback(Feedback {
            prompt: vec![Message::new(Role::User, "q")],
            completion: vec![Message::new(Role::Assistant, "a")],
            label,
            meta: Default::default(),
        })
    }

    fn topic(topic: Option<&str>) -> Record {
        let mut meta = serde_json::Map::new();
        if let Some(t) = topic {
            meta.insert("topic".into(), json!(t));
        }
        Record::Conversation(Conversation {
            messages: vec![
                Message::new(Role::User, "q"),
                Message::new(Role::Assistant, "a"),
            ],
            meta,
        })
    }

    fn config(by: GroupBy, max_per_group: Option<usize>, max_ratio: Option<f64>) -> BalanceConfig {
        BalanceConfig {
            by,
            max_per_group,
            max_ratio,
            seed: 42,
        }
    }

    fn kept_per_group(report: &BalanceReport) -> Vec<(&str, usize, usize)> {
        report
            .groups
            .iter()
            .map(|g| (g.group.as_str(), g.records, g.kept))
            .collect()
    }

    #[test]
    fn kto_labels_are_capped_at_a_ratio_of_the_smaller_side() {
        let records: Vec<Record> = [true, true, false, true, true, true, false, true]
            .map(feedback)
            .into();
        let equal = balance(&records, &config(GroupBy::Auto, None, Some(1.0))).unwrap();
        assert_eq!(
            kept_per_group(&equal),
            [("desirable", 6, 2), ("undesirable", 2, 2)]
        );
        assert_eq!(equal.cap, 2);
        assert!(equal.kept.windows(2).all(|w| w[0] < w[1]), "input order");
        assert!(equal.kept.contains(&2) && equal.kept.contains(&6));
        assert_eq!(equal.removed.len(), 4);
        assert!(
            equal
                .removed
                .iter()
                .all(|(i, g)| records[*i] == feedback(true) && g == "desirable")
        );

        let looser = balance(&records, &config(GroupBy::Label, None, Some(1.5))).unwrap();
        assert_eq!(
            kept_per_group(&looser),
            [("desirable", 6, 3), ("undesirable", 2, 2)]
        );
    }

    #[test]
    fn topics_are_capped_and_records_without_one_are_kept() {
        let records: Vec<Record> = [
            Some("a"),
            Some("a"),
            None,
            Some("b"),
            Some("a"),
            Some("a"),
            Some("b"),
            Some("a"),
        ]
        .map(topic)
        .into();
        let capped = balance(&records, &config(GroupBy::Auto, Some(3), None)).unwrap();
        assert_eq!(
            kept_per_group(&capped),
            [("(none)", 1, 1), ("topic=a", 5, 3), ("topic=b", 2, 2)]
        );
        // The group without a topic neither is capped nor sets the ratio's smallest group.
        let by_field = config(GroupBy::Field("topic".into()), Some(4), Some(1.0));
        let equal = balance(&records, &by_field).unwrap();
        assert_eq!(
            kept_per_group(&equal),
            [("(none)", 1, 1), ("a", 5, 2), ("b", 2, 2)]
        );
        assert_eq!(equal.kept.len(), 5);
    }

    #[test]
    fn a_whole_product_of_ratio_and_smallest_group_is_the_cap() {
        let records: Vec<Record> = (0..200)
            .map(|i| topic(Some(if i < 100 { "a" } else { "b" })))
            .chain((0..100).map(|_| topic(Some("c"))))
            .collect();
        let r = balance(&records, &config(GroupBy::Auto, None, Some(1.15))).unwrap();
        assert_eq!(r.cap, 115);
    }

    #[test]
    fn the_draw_is_the_seeds() {
        let records: Vec<Record> = (0..40)
            .map(|i| topic(Some(if i % 8 == 0 { "rare" } else { "common" })))
            .collect();
        let run = |seed| {
            let mut c = config(GroupBy::Auto, None, Some(2.0));
            c.seed = seed;
            balance(&records, &c).unwrap().kept
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        assert_eq!(run(1).len(), 5 + 10);
    }

    #[test]
    fn bad_configs_and_ungrouped_data_are_refused() {
        let records = [topic(None)];
        let refused = |c: BalanceConfig| balance(&records, &c).unwrap_err();
        assert_eq!(
            refused(config(GroupBy::Auto, None, None)),
            BalanceError::NoCap
        );
        assert_eq!(
            refused(config(GroupBy::Auto, Some(0), None)),
            BalanceError::ZeroCap
        );
        assert!(matches!(
            refused(config(GroupBy::Auto, None, Some(0.5))),
            BalanceError::BadRatio(_)
        ));
        assert!(matches!(
            refused(config(GroupBy::Auto, None, Some(f64::NAN))),
            BalanceError::BadRatio(_)
        ));
        assert_eq!(
            refused(config(GroupBy::Field("lang".into()), Some(1), None)).to_string(),
            "no record has a `lang` field: there is nothing to balance by"
        );
        assert_eq!(GroupBy::parse(" "), Err(BalanceError::EmptyField));
        assert_eq!(GroupBy::parse("label"), Ok(GroupBy::Label));
        assert_eq!(GroupBy::parse("topic"), Ok(GroupBy::Field("topic".into())));
    }

    #[test]
    fn configs_serialise_for_the_manifest() {
        let c = config(GroupBy::Field("topic".into()), None, Some(1.0));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            json!({"by": {"field": "topic"}, "max_ratio": 1.0, "seed": 42})
        );
        assert_eq!(serde_json::from_value::<BalanceConfig>(v).unwrap(), c);
        let auto = json!({"by": "auto", "max_per_group": 10, "seed": 1});
        assert_eq!(
            serde_json::from_value::<BalanceConfig>(auto).unwrap().by,
            GroupBy::Auto
        );
    }
}
