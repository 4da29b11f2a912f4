//! Deduplication end to end: exact and near duplicates, leakage, swapped preferences, and the
//! invariants the report promises (smallest index kept, deterministic, stable JSON shape).

use std::collections::BTreeSet;

use ajuste_shared::dedup::{
    DedupConfig, DedupConfigError, DedupReport, DupKind, dedup, dedup_scanned, leak_findings,
    leakage, leakage_among, leakage_scanned, swapped_findings, swapped_preferences,
};
use ajuste_shared::synth::planted_records;
use ajuste_shared::{Code, Conversation, Dataset, Item, Message, Preference, Record, Source};
use proptest::prelude::*;

fn conv(turns: &[(&str, &str)]) -> Record {
    let messages = turns
        .iter()
        .flat_map(|&(u, a)| [Message::user(u), Message::assistant(a)])
        .collect();
    Record::Conversation(Conversation {
        messages,
        meta: Default::default(),
    })
}

/// The records the report removes as duplicates of `kind`.
fn removed_as(report: &DedupReport, kind: DupKind) -> BTreeSet<usize> {
    report
        .clusters
        .iter()
        .filter(|c| c.kind == kind)
        .flat_map(|c| c.removed.clone())
        .collect()
}

fn near_cfg() -> DedupConfig {
    DedupConfig {
        near: true,
        ..DedupConfig::default()
    }
}

fn dataset(records: &[Record]) -> Dataset {
    // Records start on line 2i+1 and the input had one bad record before the third, so record
    // numbers in findings differ from positions.
    let items = records
        .iter()
        .enumerate()
        .map(|(i, r)| Item {
            source: Source {
                line: 2 * i + 1,
                index: i + usize::from(i >= 2),
            },
            record: r.clone(),
        })
        .collect();
    Dataset {
        name: "train.jsonl".into(),
        items,
    }
}

/// `i` spelled in three letters, so that words differ in more than a number.
fn letters(i: usize) -> String {
    [i / 676 % 26, i / 26 % 26, i % 26]
        .iter()
        .map(|&d| (b'a' + d as u8) as char)
        .collect()
}

/// A long, distinctive answer so 5-gram shingles have room: `n` words from a seed word.
fn essay(seed: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{seed}{}", letters(i % 97)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn exact_duplicates_with_whitespace_and_case_variants_are_found() {
    let records = vec![
        conv(&[(
            "How do I boil an egg?",
            "Put it in boiling water for 9 minutes.",
        )]),
        conv(&[("What is Rust?", "A systems programming language.")]),
        conv(&[(
            "  how do I BOIL an egg ",
            "put it in boiling water for 9 minutes",
        )]),
        conv(&[(
            "How do I boil an egg?",
            "Put it in boiling water for 9 minutes.\n\n",
        )]),
        // Same words, roles swapped: not a duplicate.
        conv(&[(
            "Put it in boiling water for 9 minutes.",
            "How do I boil an egg?",
        )]),
    ];
    let report = dedup(&records, &DedupConfig::default());
    assert_eq!(report.records, 5);
    assert_eq!(report.exact_duplicates, 2);
    assert_eq!(report.near_duplicates, 0);
    assert_eq!(report.kept, 3);
    assert_eq!(report.clusters.len(), 1);
    let c = &report.clusters[0];
    assert_eq!(
        (c.kept, c.removed.clone(), c.kind, c.similarity),
        (0, vec![2, 3], DupKind::Exact, 1.0)
    );
    assert_eq!(report.removed(), BTreeSet::from([2, 3]));
}

#[test]
fn records_that_differ_in_their_numbers_are_not_duplicates() {
    // Arithmetic: the same words, other numbers. Only the true copy (other spacing) goes,
    // by exact and by near matching alike.
    let records: Vec<Record> = [
        ("What is 12 plus 7?", "12 plus 7 is 19."),
        ("What is 13 plus 7?", "13 plus 7 is 20."),
        ("What is 12 plus 8?", "12 plus 8 is 20."),
        ("What is 12  plus 7 ?", "12 plus 7 is 19"),
    ]
    .iter()
    .map(|&(q, a)| conv(&[(q, a)]))
    .collect();
    let exact = dedup(&records, &DedupConfig::default());
    assert_eq!(exact.removed(), BTreeSet::from([3]));
    let near = dedup(&records, &near_cfg());
    assert_eq!(near.removed(), BTreeSet::from([3]));
}

#[test]
fn nothing_is_removed_when_both_modes_are_off() {
    let records = vec![conv(&[("a", "b")]), conv(&[("a", "b")])];
    let cfg = DedupConfig {
        exact: false,
        near: false,
        ..DedupConfig::default()
    };
    let report = dedup(&records, &cfg);
    assert_eq!((report.kept, report.clusters.len()), (2, 0));
}

#[test]
fn near_duplicates_are_found_and_exact_copies_count_as_near_without_exact_mode() {
    let base = essay("w", 200);
    let mut edited: Vec<&str> = base.split(' ').collect();
    edited[100] = "changed";
    let edited = edited.join(" ");
    let records = vec![
        conv(&[("Q", &base)]),
        conv(&[("Q", &edited)]),
        conv(&[("Q", &base)]),
    ];

    let report = dedup(&records, &near_cfg());
    assert_eq!(
        (report.exact_duplicates, report.near_duplicates, report.kept),
        (1, 1, 1)
    );
    let near = report
        .clusters
        .iter()
        .find(|c| c.kind == DupKind::Near)
        .unwrap();
    assert_eq!((near.kept, near.removed.clone()), (0, vec![1]));
    assert!(
        near.similarity >= 0.8 && near.similarity < 1.0,
        "{}",
        near.similarity
    );

    let only_near = DedupConfig {
        exact: false,
        ..near_cfg()
    };
    let report = dedup(&records, &only_near);
    assert_eq!((report.exact_duplicates, report.near_duplicates), (0, 2));
    assert_eq!(report.clusters[0].similarities, vec![near.similarity, 1.0]);
}

#[test]
fn unrelated_records_are_never_merged() {
    // Shared boilerplate (system prompt, openers) but different content.
    let records: Vec<Record> = (0..300)
        .map(|i| {
            let answer = format!(
                "Sure! Here is what you need to know. {}",
                essay(&format!("t{}x", letters(i)), 80)
            );
            let mut r = conv(&[("Can you explain this topic to me please?", &answer)]);
            if let Record::Conversation(c) = &mut r {
                c.messages
                    .insert(0, Message::system("You are a helpful assistant."));
            }
            r
        })
        .collect();
    let report = dedup(
        &records,
        &DedupConfig {
            threshold: 0.5,
            ..near_cfg()
        },
    );
    assert_eq!(report.kept, 300, "{:?}", report.clusters);
}

#[test]
fn planted_near_duplicates_are_found_with_the_target_precision_and_recall() {
    let (records, truth) = planted_records(1000, 42);
    let report = dedup(&records, &near_cfg());
    // Every planted exact copy is removed as exact.
    let exact_removed = removed_as(&report, DupKind::Exact);
    assert_eq!(exact_removed, truth.exact_copies());
    let near_removed = removed_as(&report, DupKind::Near);
    let q = truth.near_quality(&near_removed);
    assert!(
        q.planted >= 30,
        "too few planted near copies to measure: {q:?}"
    );
    assert!(q.recall >= 0.95, "{q:?}");
    assert!(q.precision >= 0.98, "{q:?}");
    // Each planted near copy is clustered with its own original.
    for &(orig, copy, _) in &truth.near {
        if near_removed.contains(&copy) {
            let c = report
                .clusters
                .iter()
                .find(|c| c.removed.contains(&copy))
                .unwrap();
            assert_eq!(c.kept, orig);
        }
    }
}

#[test]
fn same_input_gives_the_same_report() {
    let (records, _) = planted_records(400, 7);
    let a = dedup(&records, &near_cfg());
    let b = dedup(&records, &near_cfg());
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[test]
fn report_serialises_with_the_documented_fields_first() {
    let records = vec![conv(&[("a b", "c d")]), conv(&[("A  b", "c d!")])];
    let json = serde_json::to_value(dedup(&records, &DedupConfig::default())).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        &keys[..5],
        [
            "records",
            "kept",
            "exact_duplicates",
            "near_duplicates",
            "clusters"
        ]
    );
    let cluster = json["clusters"][0].as_object().unwrap();
    let ckeys: Vec<&str> = cluster.keys().map(String::as_str).collect();
    assert_eq!(&ckeys[..3], ["kept", "removed", "similarity"]);
    assert_eq!(json["clusters"][0]["removed"], serde_json::json!([1]));
    assert_eq!(json["clusters"][0]["kind"], "exact");
    // It reads back.
    let back: ajuste_shared::dedup::DedupReport = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), json);
}

#[test]
fn findings_point_at_the_kept_record_with_source_lines() {
    let base = essay("w", 120);
    let mut edited: Vec<&str> = base.split(' ').collect();
    edited[60] = "zzz";
    let edited = edited.join(" ");
    // 0 original, 1 unrelated, 2 near copy of 0, 3 exact copy of 2.
    let records = vec![
        conv(&[("Q", &base)]),
        conv(&[("other", "thing")]),
        conv(&[("Q", &edited)]),
        conv(&[("q", &edited.to_uppercase())]),
    ];
    let ds = dataset(&records);
    let report = dedup(&records, &near_cfg());
    let findings = report.findings(&ds);
    assert_eq!(findings.len(), 2, "{findings:#?}");
    let near = findings
        .iter()
        .find(|f| f.code == Code::NearDuplicate)
        .unwrap();
    assert_eq!((near.line, near.record), (Some(5), Some(3)));
    assert!(
        near.message.contains("record 0 (line 1)"),
        "{}",
        near.message
    );
    let exact = findings
        .iter()
        .find(|f| f.code == Code::ExactDuplicate)
        .unwrap();
    assert_eq!((exact.line, exact.record), (Some(7), Some(4)));
    assert!(
        exact.message.contains("record 3 (line 5)"),
        "{}",
        exact.message
    );
    assert!(
        exact
            .message
            .contains("itself a near duplicate of record 0"),
        "{}",
        exact.message
    );
}

#[test]
fn leakage_finds_exact_and_near_eval_copies() {
    let base = essay("leak", 150);
    let mut edited: Vec<&str> = base.split(' ').collect();
    edited[75] = "different";
    let edited = edited.join(" ");
    let train = vec![
        conv(&[("unrelated", "train record")]),
        conv(&[("Q", &base)]),
        conv(&[("Q", &base)]),
    ];
    let eval = vec![
        conv(&[("fresh", "eval record")]),
        conv(&[("Unrelated!", "TRAIN record")]),
        conv(&[("Q", &edited)]),
    ];
    let leaks = leakage(&train, &eval, &near_cfg());
    assert_eq!(leaks.len(), 2, "{leaks:?}");
    assert_eq!(
        (
            leaks[0].eval,
            leaks[0].train,
            leaks[0].kind,
            leaks[0].similarity
        ),
        (1, 0, DupKind::Exact, 1.0)
    );
    assert_eq!(
        (leaks[1].eval, leaks[1].train, leaks[1].kind),
        (2, 1, DupKind::Near)
    );
    assert!(leaks[1].similarity >= 0.8);
    // Without near mode only the exact leak is reported.
    assert_eq!(leakage(&train, &eval, &DedupConfig::default()).len(), 1);

    let findings = leak_findings(&leaks, &dataset(&train), &dataset(&eval));
    assert!(findings.iter().all(|f| f.code == Code::TrainEvalLeak));
    assert_eq!(findings[1].record, Some(3));
    assert!(
        findings[1]
            .message
            .contains("record 1 (line 3) of train.jsonl"),
        "{}",
        findings[1].message
    );
}

#[test]
fn leakage_among_scanned_records_equals_leakage_on_copies_of_them() {
    let (records, _) = planted_records(1000, 7);
    for cfg in [near_cfg(), DedupConfig::default()] {
        let (report, scanned) = dedup_scanned(&records, &cfg);
        assert_eq!(report, dedup(&records, &cfg));
        let exact = removed_as(&report, DupKind::Exact);
        // Near copies stay in, so that near leaks cross the split; every third record is eval.
        let (eval, train): (Vec<usize>, Vec<usize>) = (0..records.len())
            .filter(|i| !exact.contains(i))
            .partition(|i| i % 3 == 1);
        let copies =
            |ix: &[usize]| -> Vec<Record> { ix.iter().map(|&i| records[i].clone()).collect() };
        let expected = leakage(&copies(&train), &copies(&eval), &cfg);
        assert_eq!(
            leakage_among(&records, &scanned, &train, &eval, &cfg),
            expected
        );
        if cfg.near {
            assert!(
                expected.iter().any(|l| l.kind == DupKind::Near),
                "the split should cut some planted near pairs: {expected:?}"
            );
        }
    }
}

#[test]
fn leakage_with_the_train_scan_of_dedup_equals_leakage() {
    // The train set keeps its exact and near duplicates; eval holds copies and near copies of
    // train records (some of records dedup removed) and records of its own.
    let (records, _) = planted_records(1000, 11);
    let (train, eval) = records.split_at(700);
    for cfg in [near_cfg(), DedupConfig::default()] {
        let (report, scanned) = dedup_scanned(train, &cfg);
        assert!(report.exact_duplicates > 0);
        let mut eval = eval.to_vec();
        eval.extend(
            removed_as(&report, DupKind::Exact)
                .into_iter()
                .map(|i| train[i].clone()),
        );
        let expected = leakage(train, &eval, &cfg);
        assert!(expected.iter().any(|l| l.kind == DupKind::Exact));
        if cfg.near {
            assert!(
                expected.iter().any(|l| l.kind == DupKind::Near),
                "{expected:?}"
            );
        }
        assert_eq!(leakage_scanned(train, &scanned, &eval, &cfg), expected);
    }
}

#[test]
fn swapped_preferences_are_reported() {
    let pref = |p: &str, c: &str, r: &str| {
        Record::Preference(Preference {
            prompt: vec![Message::user(p)],
            chosen: vec![Message::assistant(c)],
            rejected: vec![Message::assistant(r)],
            meta: Default::default(),
        })
    };
    let records = vec![
        pref("Best language?", "Rust", "Cobol"),
        pref("Best editor?", "Helix", "Notepad"),
        pref("best language", "Cobol.", "rust"),
        // Other numbers are other prompts: these two agree, they do not contradict.
        pref("What is 2+2?", "4", "5"),
        pref("What is 2+3?", "5", "4"),
    ];
    let pairs = swapped_preferences(&records);
    assert_eq!(pairs, vec![(0, 2)]);
    let findings = swapped_findings(&pairs, &dataset(&records));
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].code, findings[0].record, findings[0].line),
        (Code::SwappedPreference, Some(3), Some(5))
    );
}

#[test]
fn bad_configurations_are_rejected_by_validate_and_do_not_panic_dedup() {
    let ok = DedupConfig::default();
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(ok.rows(), 8);
    assert!((ok.catch_probability(0.8) - 0.924).abs() < 0.01);
    let uneven = DedupConfig {
        permutations: 100,
        ..near_cfg()
    };
    assert!(matches!(
        uneven.validate(),
        Err(DedupConfigError::UnevenBands { .. })
    ));
    let zero = DedupConfig {
        bands: 0,
        ngram: 0,
        permutations: 0,
        threshold: 2.0,
        ..near_cfg()
    };
    assert_eq!(zero.validate(), Err(DedupConfigError::ZeroNgram));
    assert!(
        DedupConfig {
            threshold: f64::NAN,
            ..ok.clone()
        }
        .validate()
        .is_err()
    );
    let records = vec![conv(&[("a b c", "d e f")]), conv(&[("a b c", "d e f")])];
    for cfg in [uneven, zero] {
        let _ = dedup(&records, &cfg);
        let _ = leakage(&records, &records, &cfg);
    }
    // A partial configuration fills in the defaults.
    let parsed: DedupConfig = serde_json::from_str(r#"{"near": true}"#).unwrap();
    assert_eq!(parsed, near_cfg());
}

#[test]
fn empty_and_wordless_records_are_handled() {
    assert_eq!(dedup(&[], &near_cfg()).kept, 0);
    let records = vec![
        conv(&[("", "")]),
        conv(&[("!!", "...")]),
        conv(&[("x", "y")]),
    ];
    let report = dedup(&records, &near_cfg());
    // Both render as "USER ASSISTANT": exact duplicates, never near candidates of "x y".
    assert_eq!(report.removed(), BTreeSet::from([1]));
}

/// Small records over a tiny vocabulary, so exact and near duplicates are frequent.
fn small_records() -> impl Strategy<Value = Vec<Record>> {
    let turn = proptest::collection::vec(0usize..6, 1..12).prop_map(|ws| {
        ws.iter()
            .map(|&w| ["alpha", "beta", "gamma", "Delta", "eps", "zeta"][w])
            .collect::<Vec<_>>()
            .join(" ")
    });
    proptest::collection::vec((turn.clone(), turn), 0..40).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(u, a)| conv(&[(u.as_str(), a.as_str())]))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn kept_index_is_always_the_smallest_and_counts_add_up(records in small_records(), threshold in 0.3f64..1.0) {
        let cfg = DedupConfig { threshold, ..near_cfg() };
        let report = dedup(&records, &cfg);
        let mut all_removed = BTreeSet::new();
        let mut kept = BTreeSet::new();
        for c in &report.clusters {
            prop_assert!(!c.removed.is_empty());
            prop_assert!(c.removed.iter().all(|&r| r > c.kept), "{:?}", c);
            prop_assert_eq!(c.removed.len(), c.similarities.len());
            for &r in &c.removed {
                prop_assert!(all_removed.insert(r), "record {} removed twice", r);
            }
            kept.insert(c.kept);
        }
        prop_assert_eq!(report.kept + all_removed.len(), records.len());
        prop_assert_eq!(report.exact_duplicates + report.near_duplicates, all_removed.len());
        // A kept representative of a near cluster is never removed.
        for c in report.clusters.iter().filter(|c| c.kind == DupKind::Near) {
            prop_assert!(!all_removed.contains(&c.kept));
        }
        prop_assert_eq!(dedup(&records, &cfg), report);
    }
}
