//! Cleaning steps end to end: fixtures of every record kind through `clean::apply` and
//! `clean::scan`, step (de)serialisation, and how invalid steps are reported.

use ajuste_shared::clean::{self, Applicability, CleanReport, Drop, PiiKind, Step, StepError};
use ajuste_shared::{Code, Dataset, Item, Record, Source};

/// Reads a canonical JSONL fixture into a dataset whose sources are the 1-based line and the
/// 0-based index of each record.
fn dataset(name: &str, jsonl: &str) -> Dataset {
    let items = jsonl
        .lines()
        .enumerate()
        .map(|(i, line)| Item {
            source: Source {
                line: i + 1,
                index: i,
            },
            record: serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1)),
        })
        .collect();
    Dataset {
        name: name.to_owned(),
        items,
    }
}

fn sft() -> Dataset {
    dataset("sft.jsonl", include_str!("fixtures/clean/sft.jsonl"))
}

fn preference() -> Dataset {
    dataset(
        "preference.jsonl",
        include_str!("fixtures/clean/preference.jsonl"),
    )
}

fn feedback() -> Dataset {
    dataset(
        "feedback.jsonl",
        include_str!("fixtures/clean/feedback.jsonl"),
    )
}

/// Every step, transforms first and filters last, as the studio orders them.
fn full_pipeline() -> Vec<Step> {
    let mut steps = Step::defaults();
    steps.extend([
        Step::StripHtml,
        Step::RepairTurns,
        Step::with_defaults("drop-refusals").unwrap(),
        Step::with_defaults("redact-pii").unwrap(),
        Step::Language {
            allow: vec!["por".into(), "eng".into()],
            min_chars: 50,
        },
        Step::Length {
            min_chars: Some(10),
            max_chars: None,
        },
        Step::with_defaults("repetition").unwrap(),
    ]);
    steps
}

fn id(record: &Record) -> &str {
    record.meta()["id"].as_str().unwrap()
}

fn ids(ds: &Dataset) -> Vec<&str> {
    ds.records().map(id).collect()
}

/// The content of the turn at `pointer` ("/messages/1") of the record with that id.
fn content(ds: &Dataset, record_id: &str, pointer: &str) -> String {
    let record = ds
        .records()
        .find(|r| id(r) == record_id)
        .unwrap_or_else(|| panic!("{record_id} was dropped"));
    let turns = record.turns();
    let (_, _, m) = turns
        .iter()
        .find(|(list, i, _)| format!("{list}/{i}") == pointer)
        .unwrap();
    m.content.clone()
}

fn drop_of(report: &CleanReport, record: usize) -> &Drop {
    report
        .drops
        .iter()
        .find(|d| d.record == record)
        .unwrap_or_else(|| panic!("record {record} not dropped"))
}

#[test]
fn full_pipeline_on_sft_fixture() {
    let mut ds = sft();
    let report = clean::apply(&full_pipeline(), &mut ds);

    assert_eq!((report.records_in, report.records_out), (12, 7));
    assert_eq!(
        ids(&ds),
        [
            "pt-clean",
            "pt-messy",
            "pt-html",
            "pt-turns",
            "en-quoted-refusal",
            "pt-pii",
            "pt-not-a-card"
        ]
    );

    // Every drop names the record, its line, the step and the reason.
    assert_eq!(report.drops.len(), 5);
    let d = drop_of(&report, 11);
    assert_eq!((d.line, d.step.as_str()), (12, "repair-turns"));
    assert!(d.reason.contains("no turns left"), "{}", d.reason);
    let d = drop_of(&report, 4);
    assert_eq!((d.line, d.step.as_str()), (5, "drop-refusals"));
    assert_eq!(
        d.reason,
        "assistant turn /messages/1 contains \"as an ai language model\""
    );
    let d = drop_of(&report, 8);
    assert_eq!(d.step, "language");
    assert!(d.reason.starts_with("language is deu"), "{}", d.reason);
    let d = drop_of(&report, 10);
    assert_eq!(
        (d.step.as_str(), d.reason.as_str()),
        ("length", "record has 4 characters, fewer than min_chars 10")
    );
    let d = drop_of(&report, 9);
    assert_eq!(d.step, "repetition");
    assert!(
        d.reason
            .starts_with("assistant turn /messages/1 4 of its 5 lines repeat"),
        "{}",
        d.reason
    );

    // Step counts add up to the drops, and no step was skipped.
    let dropped: usize = report.steps.iter().map(|s| s.dropped).sum();
    assert_eq!(dropped, report.drops.len());
    assert!(report.steps.iter().all(|s| s.skipped.is_none()));

    // Kept records keep their source.
    let kept = ds.items.iter().find(|i| id(&i.record) == "pt-pii").unwrap();
    assert_eq!(kept.source, Source { line: 7, index: 6 });
}

#[test]
fn text_steps_clean_every_turn() {
    let mut ds = sft();
    clean::apply(&full_pipeline(), &mut ds);
    assert_eq!(content(&ds, "pt-messy", "/messages/0"), "Olá, tudo bem?");
    assert_eq!(
        content(&ds, "pt-messy", "/messages/1"),
        "Tudo ótimo! E com você?\n\nPosso ajudar com Python e com o seu código."
    );
    assert_eq!(
        content(&ds, "pt-html", "/messages/1"),
        "Use o operador `+` e a função **print** para mostrar o resultado:\n\n```python\na = 1\nb = 2\nprint(a + b)\n```"
    );
    // The clean record is untouched.
    assert_eq!(
        content(&ds, "pt-clean", "/messages/0"),
        sft().items[0].record.turns()[0].2.content
    );
}

#[test]
fn turns_are_repaired() {
    let mut ds = sft();
    clean::apply(&[Step::RepairTurns], &mut ds);
    let record = ds.records().find(|r| id(r) == "pt-turns").unwrap();
    let turns: Vec<(String, String)> = record
        .turns()
        .iter()
        .map(|(_, _, m)| (m.role.to_string(), m.content.clone()))
        .collect();
    assert_eq!(
        turns,
        [
            (
                "user".into(),
                "Me diga um número primo.\n\nEntre 10 e 20.".into()
            ),
            ("assistant".into(), "13.".into())
        ]
    );
}

#[test]
fn pii_is_redacted_consistently_and_non_luhn_numbers_are_kept() {
    let mut ds = sft();
    let report = clean::apply(
        &[Step::RedactPii {
            kinds: PiiKind::ALL.to_vec(),
        }],
        &mut ds,
    );
    assert_eq!(report.steps[0].changed, 1);
    assert_eq!(
        content(&ds, "pt-pii", "/messages/0"),
        "Meu email é <EMAIL_1> e meu telefone é <PHONE_1>, podem confirmar meu cadastro?"
    );
    assert_eq!(
        content(&ds, "pt-pii", "/messages/1"),
        "Obrigado, Ana! Enviaremos a confirmação do cadastro para <EMAIL_1> ainda hoje."
    );
    assert!(content(&ds, "pt-not-a-card", "/messages/0").contains("4111 1111 1111 1112"));
}

#[test]
fn refusal_in_a_user_turn_does_not_drop() {
    let mut ds = sft();
    let report = clean::apply(&[Step::with_defaults("drop-refusals").unwrap()], &mut ds);
    assert_eq!(report.drops.len(), 1);
    assert_eq!(report.drops[0].record, 4);
    assert!(ids(&ds).contains(&"en-quoted-refusal"));
}

#[test]
fn preference_pairs_are_judged_on_the_chosen_side() {
    let mut ds = preference();
    let report = clean::apply(&full_pipeline(), &mut ds);
    assert_eq!(ids(&ds), ["refusal-rejected", "pii"]);
    let d = drop_of(&report, 1);
    assert_eq!(
        (d.step.as_str(), d.reason.as_str()),
        (
            "drop-refusals",
            "assistant turn /chosen/0 contains \"desculpe, mas não posso\""
        )
    );
    let d = drop_of(&report, 3);
    assert_eq!((d.step.as_str(), d.line), ("repair-turns", 4));
    assert!(
        d.reason.starts_with("rejected has no turns left"),
        "{}",
        d.reason
    );
    // One placeholder table per record: the prompt's address and the answer's match.
    assert_eq!(
        content(&ds, "pii", "/prompt/0"),
        "Reenvie a fatura para <EMAIL_1>, por favor."
    );
    assert_eq!(
        content(&ds, "pii", "/chosen/0"),
        "Feito: a fatura foi reenviada para <EMAIL_1>."
    );
}

#[test]
fn feedback_refusals_drop_only_desirable_completions() {
    let mut ds = feedback();
    let report = clean::apply(&[Step::with_defaults("drop-refusals").unwrap()], &mut ds);
    assert_eq!(ids(&ds), ["undesirable-refusal", "ok"]);
    assert_eq!(
        drop_of(&report, 1).reason,
        "assistant turn /completion/0 contains \"desculpe, mas não posso\""
    );
}

#[test]
fn openai_mentions_filter_is_a_phrase_list() {
    let mut ds = sft();
    let phrases = clean::OPENAI_MENTIONS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let report = clean::apply(&[Step::DropRefusals { phrases }], &mut ds);
    assert!(report.drops.is_empty(), "{:?}", report.drops);
}

#[test]
fn scan_reports_refusals_and_pii_without_changing_anything() {
    let ds = sft();
    let findings = clean::scan(&ds);
    assert_eq!(ds, sft());
    let shown: Vec<String> = findings
        .iter()
        .map(|f| f.display_with("sft.jsonl"))
        .collect();
    let refusals: Vec<&String> = shown.iter().filter(|s| s.contains("[refusal]")).collect();
    assert_eq!(refusals.len(), 1, "{shown:#?}");
    assert!(refusals[0].starts_with(
        "sft.jsonl:5: info[refusal]: assistant turn contains the refusal phrase \"as an ai language model\" (record 4, field /messages/1/content)"
    ));
    let pii: Vec<_> = findings
        .iter()
        .filter(|f| f.code == Code::PiiFound)
        .collect();
    assert_eq!(pii.len(), 2, "{shown:#?}");
    assert_eq!(
        (pii[0].line, pii[0].record, pii[0].path.as_str()),
        (Some(7), Some(6), "/messages/0/content")
    );
    assert_eq!(
        pii[0].message,
        "user turn contains 1 email address and 1 phone number"
    );
    assert_eq!(pii[1].message, "assistant turn contains 1 email address");
}

#[test]
fn scan_of_preference_data_ignores_rejected_refusals() {
    let findings = clean::scan(&preference());
    let refusals: Vec<_> = findings
        .iter()
        .filter(|f| f.code == Code::Refusal)
        .collect();
    assert_eq!(refusals.len(), 1);
    assert_eq!(
        (refusals[0].record, refusals[0].path.as_str()),
        (Some(1), "/chosen/0/content")
    );
}

#[test]
fn steps_serialise_as_tagged_objects_and_round_trip() {
    let mut steps: Vec<Step> = Step::NAMES
        .iter()
        .map(|n| Step::with_defaults(n).unwrap())
        .collect();
    steps.push(Step::Language {
        allow: vec!["por".into()],
        min_chars: 30,
    });
    steps.push(Step::Length {
        min_chars: Some(1),
        max_chars: Some(8000),
    });
    steps.push(Step::RedactPii {
        kinds: vec![PiiKind::Email, PiiKind::Iban],
    });
    for step in &steps {
        let json = serde_json::to_value(step).unwrap();
        assert_eq!(json["step"], step.name());
        let back: Step = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(&back, step, "{json}");
    }
    assert_eq!(
        serde_json::to_string(&Step::RedactPii {
            kinds: vec![PiiKind::Email, PiiKind::Ip]
        })
        .unwrap(),
        r#"{"step":"redact-pii","kinds":["email","ip"]}"#
    );
    assert_eq!(
        serde_json::to_string(&Step::ZeroWidth).unwrap(),
        r#"{"step":"zero-width"}"#
    );
    assert_eq!(
        serde_json::to_string(&Step::Length {
            min_chars: None,
            max_chars: Some(100)
        })
        .unwrap(),
        r#"{"step":"length","max_chars":100}"#
    );
}

#[test]
fn missing_parameters_take_defaults_and_typos_are_errors() {
    let step: Step = serde_json::from_str(r#"{"step": "repetition", "min_words": 50}"#).unwrap();
    let Step::Repetition {
        max_dup_line_frac,
        min_words,
        ..
    } = step
    else {
        panic!("{step:?}")
    };
    assert_eq!((max_dup_line_frac, min_words), (0.30, 50));
    let step: Step = serde_json::from_str(r#"{"step": "drop-refusals"}"#).unwrap();
    assert_eq!(step, Step::with_defaults("drop-refusals").unwrap());
    assert!(serde_json::from_str::<Step>(r#"{"step": "length", "min_char": 5}"#).is_err());
    assert!(serde_json::from_str::<Step>(r#"{"step": "lowercase"}"#).is_err());
    assert!(serde_json::from_str::<Step>(r#"{"step": "language"}"#).is_err());
}

#[test]
fn applicability_marks_only_encoding_steps_safe() {
    let safe: Vec<&str> = Step::NAMES
        .iter()
        .filter(|n| Step::with_defaults(n).unwrap().is_safe())
        .copied()
        .collect();
    assert_eq!(safe, ["nfkc", "zero-width", "whitespace"]);
    assert!(Step::defaults().iter().all(Step::is_safe));
    assert_eq!(Step::StripHtml.applicability(), Applicability::Unsafe);
    assert_eq!(Step::with_defaults("nope"), None);
}

#[test]
fn invalid_steps_are_rejected_by_validate_and_skipped_by_apply() {
    let bad = [
        (
            Step::Language {
                allow: vec!["pt".into()],
                min_chars: 50,
            },
            StepError::UnknownLanguage { code: "pt".into() },
        ),
        (
            Step::with_defaults("language").unwrap(),
            StepError::NoLanguages,
        ),
        (
            Step::Length {
                min_chars: Some(10),
                max_chars: Some(5),
            },
            StepError::MinAboveMax { min: 10, max: 5 },
        ),
        (
            Step::Length {
                min_chars: None,
                max_chars: None,
            },
            StepError::NoLengthBound,
        ),
        (
            Step::DropRefusals {
                phrases: vec![" ".into()],
            },
            StepError::NoPhrases,
        ),
        (Step::RedactPii { kinds: vec![] }, StepError::NoPiiKinds),
    ];
    for (step, want) in &bad {
        assert_eq!(step.validate().as_ref(), Err(want));
    }
    let mut repetition = Step::with_defaults("repetition").unwrap();
    if let Step::Repetition {
        max_top_3gram_frac, ..
    } = &mut repetition
    {
        *max_top_3gram_frac = 1.5;
    }
    assert_eq!(
        repetition.validate().unwrap_err().to_string(),
        "max_top_3gram_frac must be a fraction between 0 and 1, got 1.5"
    );

    let mut ds = sft();
    let report = clean::apply(&[bad[0].0.clone(), Step::Whitespace], &mut ds);
    assert_eq!(report.records_out, 12);
    assert_eq!(
        report.steps[0].skipped.as_deref(),
        Some("unknown language code \"pt\": use ISO 639-3 codes such as \"eng\" or \"por\"")
    );
    // The messy record, and the blank answer that trims to "".
    assert_eq!(report.steps[1].changed, 2);
}

#[test]
fn reports_serialise() {
    let mut ds = sft();
    let report = clean::apply(&full_pipeline(), &mut ds);
    let json = serde_json::to_string(&report).unwrap();
    let back: CleanReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}
