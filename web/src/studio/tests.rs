//! The engine on the shipped sample and small files: every page's question, fixes, undo, bad
//! files, saving and restoring, and bundles identical to the command line's.

use ajuste_shared::bundle::{self, Bundle, SourceFile};
use ajuste_shared::clean::Step;
use ajuste_shared::config::Method;
use ajuste_shared::dedup::DedupConfig;
use ajuste_shared::formats::FieldMap;
use ajuste_shared::load::{LoadOptions, load};
use ajuste_shared::template::{Builtin, ChatTemplate, Template};
use ajuste_shared::tokenize::TextTokenizer;
use ajuste_shared::{Code, Container, Format, Kind, Severity};

use super::*;
use crate::inspect::InspectError;
use crate::protocol::{ExportKind, FindingsQuery, RecordStatus, TemplateChoice, TokenizerRef};

const SAMPLE: &[u8] = include_bytes!("../../../static/samples/sharegpt-sample.jsonl");
const TINY: &str = "../shared/tests/fixtures/templates/tiny";
/// Eight feedback records, six desirable and two not (the CLI's and the browser's test too).
const KTO_UNBALANCED: &[u8] = include_bytes!("../../../tests/fixtures/cli/kto-unbalanced.jsonl");

fn quiet() -> impl FnMut(&str, u64, u64) {
    |_, _, _| {}
}

fn open_sample() -> (Engine, Summary) {
    let mut engine = Engine::new();
    let summary = engine
        .open(
            "sharegpt-sample.jsonl",
            SAMPLE.to_vec(),
            LoadOptions::default(),
            &mut quiet(),
        )
        .expect("the sample loads");
    (engine, summary)
}

fn apply(engine: &mut Engine, op: Op) -> Summary {
    engine.apply(op, &mut quiet()).expect("the change applies")
}

fn tiny(file: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{TINY}/{file}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn first_finding(engine: &Engine, code: Code) -> ajuste_shared::Finding {
    let page = engine
        .findings(FindingsQuery {
            code: Some(code),
            limit: 1,
            ..FindingsQuery::default()
        })
        .unwrap();
    page.rows
        .into_iter()
        .next()
        .expect("a finding of that code")
}

#[test]
fn the_sample_opens_with_the_cli_defaults() {
    let (_, s) = open_sample();
    assert_eq!(s.file.name, "sharegpt-sample.jsonl");
    assert_eq!((s.file.format, s.file.kind), (Format::Sharegpt, Kind::Sft));
    assert_eq!(s.load.records, 50);
    assert_eq!(s.clean.steps, Step::defaults());
    assert_eq!(s.dedup.as_ref().unwrap().config, DedupConfig::default());
    assert!(
        s.dedup.as_ref().unwrap().exact >= 1,
        "sample-032 is an exact copy"
    );
    assert_eq!(s.method, Method::Sft);
    assert_eq!(s.records_out, s.dedup.as_ref().unwrap().records_out);
    assert!(s.history.is_empty());
    assert!(s.timings.iter().any(|t| t.stage == "parse and validate"));
}

#[test]
fn findings_come_in_pages_and_filter_by_code() {
    let (engine, s) = open_sample();
    let all = engine
        .findings(FindingsQuery {
            limit: 2,
            ..FindingsQuery::default()
        })
        .unwrap();
    let total = (s.load.errors + s.load.warnings + s.load.infos) as usize;
    assert_eq!(all.total, total);
    assert_eq!(all.rows.len(), 2.min(total));
    let roles = engine
        .findings(FindingsQuery {
            code: Some(Code::UnknownRole),
            limit: 50,
            ..FindingsQuery::default()
        })
        .unwrap();
    assert_eq!(roles.total, 1);
    assert_eq!(roles.rows[0].line, Some(42));
    let errors = engine
        .findings(FindingsQuery {
            severity: Some(Severity::Error),
            limit: 50,
            ..FindingsQuery::default()
        })
        .unwrap();
    assert_eq!(errors.total as u64, s.load.errors);
}

#[test]
fn a_record_shows_its_fields_and_where_a_finding_points() {
    let (engine, _) = open_sample();
    let finding = first_finding(&engine, Code::UnknownRole);
    let view = engine.record(finding.record.unwrap()).unwrap();
    assert_eq!(view.line, 42);
    assert_eq!(view.status, RecordStatus::Invalid);
    let json = view.json.as_deref().unwrap();
    let span = json_view::span_for(&view.spans, &finding.path).unwrap();
    assert_eq!(&json[span.start..span.end], "\"narrator\"");
    assert!(view.fields.iter().any(|f| f.pointer == finding.path));
    assert!(view.findings.iter().any(|f| f.code == Code::UnknownRole));
}

#[test]
fn a_fix_in_place_makes_the_record_valid_and_undo_takes_it_back() {
    let (mut engine, before) = open_sample();
    let finding = first_finding(&engine, Code::UnknownRole);
    let record = finding.record.unwrap();
    let after = apply(
        &mut engine,
        Op::Edit {
            record,
            pointer: finding.path.clone(),
            value: "gpt".into(),
        },
    );
    assert_eq!(after.load.valid, before.load.valid + 1);
    assert_eq!(after.edited_records, 1);
    assert!(after.generation > before.generation);
    let view = engine.record(record).unwrap();
    assert_eq!(view.status, RecordStatus::Kept);
    assert_eq!(view.edits.len(), 1);
    assert!(view.json.unwrap().contains("\"gpt\""));

    let undone = engine.undo(&mut quiet()).unwrap();
    assert_eq!(undone.load.valid, before.load.valid);
    assert_eq!(undone.edited_records, 0);
    assert!(engine.undo(&mut quiet()).is_err(), "nothing left to undo");
}

#[test]
fn dropping_a_record_keeps_the_numbers_of_the_others() {
    let (mut engine, before) = open_sample();
    let s = apply(&mut engine, Op::Drop { record: 0 });
    assert_eq!(s.load.records, before.load.records - 1);
    assert_eq!(s.dropped_records, 1);
    assert_eq!(
        engine.record(0).unwrap().status,
        RecordStatus::DroppedByUser
    );
    let finding = first_finding(&engine, Code::UnknownRole);
    assert_eq!(finding.line, Some(42), "later records keep their lines");
}

#[test]
fn changes_that_cannot_be_made_are_refused_and_change_nothing() {
    let (mut engine, before) = open_sample();
    let bad = [
        Op::Edit {
            record: 999,
            pointer: "/id".into(),
            value: "x".into(),
        },
        Op::Edit {
            record: 0,
            pointer: "/nowhere/0/x".into(),
            value: "x".into(),
        },
        Op::Clean(vec![Step::Language {
            allow: vec![],
            min_chars: 50,
        }]),
        Op::Dedup(Some(DedupConfig {
            bands: 5,
            ..DedupConfig::default()
        })),
        Op::Train {
            method: Method::Dpo,
            model: None,
        },
        Op::Tokenizer(Some(TokenizerRef {
            name: "t.json".into(),
            sha256: "00".into(),
        })),
    ];
    for op in bad {
        let err = engine.apply(op.clone(), &mut quiet()).unwrap_err();
        assert!(!err.is_empty(), "{op:?}");
    }
    assert_eq!(engine.summary().unwrap().history, before.history);
}

#[test]
fn a_bad_file_leaves_the_session_as_it_was() {
    let (mut engine, before) = open_sample();
    let cases: [(&str, &[u8]); 4] = [
        ("empty.jsonl", b""),
        ("binary.bin", b"\x7fELF\x02\x01\x00\x00"),
        ("qa.jsonl", b"{\"question\": 1}\n"),
        ("broken.ajuste", b"PK\x03\x04not really a zip"),
    ];
    for (name, bytes) in cases {
        let err = engine
            .open(name, bytes.to_vec(), LoadOptions::default(), &mut quiet())
            .unwrap_err();
        match (name, &err) {
            ("empty.jsonl", FailureReason::Inspect(InspectError::Empty)) => {}
            ("binary.bin", FailureReason::Inspect(InspectError::Binary { .. })) => {}
            ("qa.jsonl", FailureReason::Load(f)) => assert_eq!(f.code, Code::UnknownFormat),
            ("broken.ajuste", FailureReason::Bundle(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let now = engine.summary().unwrap();
    assert_eq!(now.file, before.file);
    assert_eq!(now.load, before.load);
}

#[test]
fn clean_preview_counts_changes_and_drops_without_applying() {
    let (mut engine, before) = open_sample();
    let steps = vec![
        Step::with_defaults("drop-refusals").unwrap(),
        Step::StripHtml,
        Step::Nfkc,
    ];
    let preview = engine.clean_preview(steps.clone()).unwrap();
    assert_eq!(preview.steps[0], Step::StripHtml, "sorted by rank");
    assert!(preview.invalid.is_empty());
    assert_eq!(preview.records_in as u64, before.load.valid);
    assert!(
        preview.records_out < preview.records_in,
        "the boilerplate record goes"
    );
    assert!(
        preview
            .drops
            .iter()
            .any(|d| d.step == "drop-refusals" && d.line == 35)
    );
    let html = preview
        .samples
        .iter()
        .find(|c| c.line == 40)
        .expect("the HTML answer changed");
    assert!(!html.turns.is_empty());
    assert_eq!(engine.summary().unwrap().clean.steps, Step::defaults());

    let mut sorted = preview.steps.clone();
    sorted.sort_by_key(Step::rank);
    let s = apply(&mut engine, Op::Clean(sorted));
    assert_eq!(s.clean.records_out, preview.records_out);
    assert_eq!(s.history, ["clean: strip-html, nfkc, drop-refusals"]);
}

#[test]
fn dedup_preview_shows_clusters_with_the_kept_record() {
    let (engine, _) = open_sample();
    let near = DedupConfig {
        near: true,
        threshold: 0.5,
        ..DedupConfig::default()
    };
    let view = engine.dedup_preview(near, 0, &mut quiet()).unwrap();
    assert!(view.invalid.is_none());
    assert!(view.exact >= 1 && view.near >= 1, "{view:?}");
    let exact = view
        .cluster_page
        .iter()
        .find(|c| c.removed.iter().any(|(r, _)| r.line == 32))
        .expect("sample-032's cluster");
    assert_eq!(exact.kept.line, 31);
    assert!(exact.kept.text.starts_with("user: "));
    let bad = engine
        .dedup_preview(
            DedupConfig {
                threshold: 2.0,
                ..DedupConfig::default()
            },
            0,
            &mut quiet(),
        )
        .unwrap();
    assert!(bad.invalid.is_some());
}

#[test]
fn leaks_and_contradictions_are_found() {
    let rows = [
        r#"{"prompt": "2+2?", "chosen": "4", "rejected": "5"}"#,
        r#"{"prompt": "2+2?", "chosen": "5", "rejected": "4"}"#,
        r#"{"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"}"#,
        r#"{"prompt": "Capital of Spain?", "chosen": "Madrid", "rejected": "Seville"}"#,
    ];
    let mut engine = Engine::new();
    engine
        .open(
            "p.jsonl",
            rows.join("\n").into_bytes(),
            LoadOptions::default(),
            &mut quiet(),
        )
        .unwrap();
    let view = engine
        .dedup_preview(DedupConfig::default(), 0, &mut quiet())
        .unwrap();
    assert_eq!(view.contradictions, 1);
    assert_eq!(view.contradiction_sample[0].first.record, 1);
    assert_eq!(view.contradiction_sample[0].second.record, 0);
}

#[test]
fn the_template_view_renders_with_trained_text_and_tokens() {
    let (mut engine, _) = open_sample();
    let view = engine.template_view(0, &mut quiet()).unwrap();
    assert_eq!(view.position, 0);
    assert!(view.records > 40);
    let render = &view.renders[0];
    assert!(render.segments.iter().any(|s| s.trained));
    assert!(render.tokens.is_none(), "no tokenizer yet");
    assert_eq!(view.overall.records, view.records);

    let sha = engine.add_tokenizer(tiny("tokenizer.json")).unwrap();
    apply(
        &mut engine,
        Op::Tokenizer(Some(TokenizerRef {
            name: "tokenizer.json".into(),
            sha256: sha,
        })),
    );
    let view = engine.template_view(3, &mut quiet()).unwrap();
    let render = &view.renders[0];
    let tokens = render.tokens.as_ref().unwrap();
    assert_eq!(Some(tokens.len()), render.token_count);
    assert_eq!(
        tokens.iter().filter(|t| t.trained).count(),
        render.trained_tokens.unwrap()
    );
    assert!(view.overall.tokens.unwrap() > 0);
    // Out of range positions show the last record.
    let last = engine.template_view(10_000, &mut quiet()).unwrap();
    assert_eq!(last.position, last.records - 1);
}

#[test]
fn text_past_the_maximum_length_is_shown_cut_and_untrained() {
    let tokenizer = TextTokenizer::from_bytes(&tiny("tokenizer.json")).unwrap();
    use ajuste_shared::record::{Conversation, Message, Record, Role};
    let record = Record::Conversation(Conversation {
        messages: vec![
            Message::new(Role::User, "Boil an egg?"),
            Message::new(Role::Assistant, "Put it in boiling water for nine minutes."),
        ],
        meta: Default::default(),
    });
    let rendered = Template::Builtin(Builtin::Chatml).render(&record);
    let text = rendered.text();
    let full = views::render_view("", rendered.clone(), Some(&tokenizer), usize::MAX);
    assert!(full.segments.iter().all(|s| !s.cut));
    let tokens = full.token_count.unwrap();

    let cut = views::render_view("", rendered, Some(&tokenizer), tokens - 3);
    assert_eq!(cut.token_count, Some(tokens - 3));
    let joined: String = cut.segments.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(joined, text, "the cut splits segments, it loses no text");
    let first_cut = cut
        .segments
        .iter()
        .position(|s| s.cut)
        .expect("a cut segment");
    assert!(
        cut.segments[first_cut..]
            .iter()
            .all(|s| s.cut && !s.trained)
    );
    assert!(cut.segments[..first_cut].iter().any(|s| s.trained));
    let kept: String = cut.segments[..first_cut]
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    let kept_ids = tokenizer.encode_text(&kept);
    assert_eq!(
        kept_ids.len(),
        tokens - 3,
        "the cut falls after the kept tokens"
    );
}

#[test]
fn stats_count_the_prepared_records_with_tokens_when_a_tokenizer_is_loaded() {
    let (mut engine, s) = open_sample();
    let view = engine.stats(2048, &mut quiet()).unwrap();
    assert_eq!(view.stats.records, s.records_out);
    assert!(view.stats.tokens.is_none());
    assert_eq!(view.turns.summary.count, s.records_out);
    let sha = engine.add_tokenizer(tiny("tokenizer.json")).unwrap();
    apply(
        &mut engine,
        Op::Tokenizer(Some(TokenizerRef {
            name: "tokenizer.json".into(),
            sha256: sha,
        })),
    );
    let view = engine.stats(64, &mut quiet()).unwrap();
    assert!(view.stats.tokens.is_some());
    assert!(view.stats.over_max_length.unwrap() > 0);
}

/// What `ajuste bundle create` does with the same inputs (see trainer/src/cli/commands/bundle.rs).
fn cli_bundle(
    name: &str,
    bytes: &[u8],
    format: Option<Format>,
    recipe: &ajuste_shared::bundle::Recipe,
    template: &Template,
    tokenizer: Option<&[u8]>,
) -> Vec<u8> {
    let loaded = load(
        bytes,
        name,
        &LoadOptions {
            format,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let source = SourceFile::new(
        name,
        bytes,
        loaded.format,
        loaded.report.records,
        loaded.report.valid,
    );
    let tok = tokenizer.map(|b| (b, TextTokenizer::from_bytes(b).unwrap()));
    bundle::build(
        source,
        loaded.dataset,
        recipe,
        template,
        tok.as_ref().map(|(b, t)| (*b, t)),
    )
    .unwrap()
    .to_bytes()
    .unwrap()
}

#[test]
fn the_bundle_is_the_one_the_command_line_builds_and_names_its_command() {
    let (mut engine, _) = open_sample();
    let config = String::from_utf8(tiny("tokenizer_config.json")).unwrap();
    let jinja = String::from_utf8(tiny("chat_template.jinja")).unwrap();
    apply(
        &mut engine,
        Op::Template(TemplateChoice::HuggingFace {
            config_name: "tokenizer_config.json".into(),
            config: config.clone(),
            jinja: Some(jinja.clone()),
        }),
    );
    let sha = engine.add_tokenizer(tiny("tokenizer.json")).unwrap();
    apply(
        &mut engine,
        Op::Tokenizer(Some(TokenizerRef {
            name: "tokenizer.json".into(),
            sha256: sha,
        })),
    );
    apply(
        &mut engine,
        Op::Clean(vec![
            Step::StripHtml,
            Step::Nfkc,
            Step::ZeroWidth,
            Step::Whitespace,
            Step::RepairTurns,
            Step::with_defaults("drop-refusals").unwrap(),
        ]),
    );
    apply(
        &mut engine,
        Op::Dedup(Some(DedupConfig {
            near: true,
            threshold: 0.7,
            ..DedupConfig::default()
        })),
    );
    let (file, bytes) = engine.export(ExportKind::Bundle, &mut quiet()).unwrap();
    assert_eq!(file.name, "sharegpt-sample.ajuste");
    assert_eq!(file.bytes, bytes.len());
    let command = file.command.clone().unwrap().unwrap();
    assert_eq!(
        command,
        "ajuste bundle create sharegpt-sample.jsonl --chat-template tokenizer_config.json \
         --tokenizer tokenizer.json --strip-html --nfkc --zero-width --whitespace --repair-turns \
         --drop-refusals --near --threshold 0.7 --eval-fraction 0.05 --seed 42 --method sft \
         -o sharegpt-sample.ajuste"
    );
    let template = Template::Jinja(
        ChatTemplate::from_tokenizer_config(config.as_bytes(), Some(&jinja)).unwrap(),
    );
    let recipe = Settings::from_ops(Kind::Sft, &engine.session.as_ref().unwrap().ops).recipe();
    let expected = cli_bundle(
        "sharegpt-sample.jsonl",
        SAMPLE,
        None,
        &recipe,
        &template,
        Some(&tiny("tokenizer.json")),
    );
    assert!(
        bytes == expected,
        "the studio's bundle differs from the CLI's"
    );
    let read = Bundle::read(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(read.manifest.tokenizer.unwrap().vocab_size, 420);
}

#[test]
fn a_csv_of_other_names_opens_with_a_field_map_and_its_bundle_records_it() {
    let csv = b"question,answer\nWhat is 2+2?,4\nName a colour.,Blue.\nSay hi.,hi\n";
    let mut engine = Engine::new();
    let failure = engine
        .open("qa.csv", csv.to_vec(), LoadOptions::default(), &mut quiet())
        .unwrap_err();
    assert!(
        failure.to_string().contains("fields: question, answer"),
        "{failure}"
    );
    let fields = FieldMap::parse_pairs("question=instruction,answer=output").unwrap();
    let options = LoadOptions {
        fields: FieldMap::new(fields, vec![]).unwrap(),
        ..LoadOptions::default()
    };
    let s = engine
        .open("qa.csv", csv.to_vec(), options.clone(), &mut quiet())
        .expect("loads with the renames");
    assert_eq!((s.file.format, s.load.records), (Format::Alpaca, 3));
    assert_eq!(s.file.fields, options.fields);
    assert_eq!(
        s.history,
        ["rename fields question=instruction,answer=output"]
    );
    let (file, bytes) = engine.export(ExportKind::Bundle, &mut quiet()).unwrap();
    let command = file.command.unwrap().unwrap();
    assert!(
        command.starts_with(
            "ajuste bundle create qa.csv --map question=instruction,answer=output --template chatml"
        ),
        "{command}"
    );
    let read = Bundle::read(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(read.manifest.source.fields, options.fields);
    // Undone, the renames are gone and the file no longer reads.
    assert!(
        engine.undo(&mut quiet()).is_err(),
        "without the map the CSV has no format"
    );
}

#[test]
fn with_fixes_the_bundle_is_built_from_the_edited_source() {
    let (mut engine, _) = open_sample();
    let finding = first_finding(&engine, Code::UnknownRole);
    apply(
        &mut engine,
        Op::Edit {
            record: finding.record.unwrap(),
            pointer: finding.path,
            value: "gpt".into(),
        },
    );
    apply(&mut engine, Op::Drop { record: 1 });
    let (edited, source) = engine
        .export(ExportKind::EditedSource, &mut quiet())
        .unwrap();
    assert_eq!(edited.name, "sharegpt-sample.edited.jsonl");
    let (file, bytes) = engine.export(ExportKind::Bundle, &mut quiet()).unwrap();
    assert!(file.needs_edited_source);
    let command = file.command.unwrap().unwrap();
    assert!(
        command.starts_with("ajuste bundle create sharegpt-sample.edited.jsonl --template chatml"),
        "{command}"
    );
    assert_eq!(file.name, "sharegpt-sample.edited.ajuste");
    let recipe = Settings::new(Kind::Sft).recipe();
    let expected = cli_bundle(
        &edited.name,
        &source,
        None,
        &recipe,
        &Template::Builtin(Builtin::Chatml),
        None,
    );
    assert!(bytes == expected);
    let m = Bundle::read(std::io::Cursor::new(&bytes)).unwrap().manifest;
    assert_eq!(m.source.records, 49, "one record dropped by hand");
    assert_eq!(m.source.valid, 49, "the narrator record was fixed");
}

#[test]
fn recipes_without_a_command_line_still_export_and_say_why() {
    let (mut engine, _) = open_sample();
    apply(&mut engine, Op::Clean(vec![]));
    let (file, _) = engine.export(ExportKind::Bundle, &mut quiet()).unwrap();
    let why = file.command.unwrap().unwrap_err();
    assert!(why.contains("always cleans"), "{why}");
}

#[test]
fn the_prepared_data_exports_in_other_formats() {
    let (engine, s) = open_sample();
    let (file, bytes) = engine
        .export(
            ExportKind::Data {
                format: Format::Openai,
                container: Container::Jsonl,
            },
            &mut quiet(),
        )
        .unwrap();
    assert_eq!(file.name, "sharegpt-sample.prepared.openai.jsonl");
    let loaded = load(&bytes[..], &file.name, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.format, Format::Openai);
    assert_eq!(loaded.report.records, s.records_out);
    let err = engine
        .export(
            ExportKind::Data {
                format: Format::Dpo,
                container: Container::Jsonl,
            },
            &mut quiet(),
        )
        .unwrap_err();
    assert!(err.contains("cannot be written as dpo"), "{err}");
}

#[test]
fn a_saved_session_restores_to_the_same_state() {
    let (mut engine, _) = open_sample();
    apply(&mut engine, Op::Drop { record: 3 });
    apply(&mut engine, Op::Dedup(None));
    apply(
        &mut engine,
        Op::Template(TemplateChoice::Builtin(Builtin::Llama3)),
    );
    let before = engine.summary().unwrap();
    let (saved, blobs) = engine.saved().unwrap();
    assert!(blobs.is_empty());
    let bytes = engine.source_bytes().unwrap().to_vec();
    let saved: SavedSession =
        serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
    let mut fresh = Engine::new();
    let after = fresh.restore(saved, bytes, &mut quiet()).unwrap();
    assert_eq!(after.load, before.load);
    assert_eq!(after.history, before.history);
    assert_eq!(after.records_out, before.records_out);
    assert_eq!(after.template, before.template);
}

#[test]
fn a_bundle_opens_as_a_source_with_its_recipe() {
    let (mut engine, _) = open_sample();
    apply(
        &mut engine,
        Op::Template(TemplateChoice::Builtin(Builtin::Gemma)),
    );
    apply(
        &mut engine,
        Op::Dedup(Some(DedupConfig {
            near: true,
            ..DedupConfig::default()
        })),
    );
    let (file, bytes) = engine.export(ExportKind::Bundle, &mut quiet()).unwrap();
    let mut other = Engine::new();
    let s = other
        .open(&file.name, bytes, LoadOptions::default(), &mut quiet())
        .expect("a bundle opens");
    assert_eq!(
        s.file.from_bundle.as_deref(),
        Some("sharegpt-sample.ajuste")
    );
    assert_eq!(s.file.format, Format::Openai);
    assert_eq!(s.template.choice, TemplateChoice::Builtin(Builtin::Gemma));
    assert!(s.dedup.unwrap().config.near);
    assert!(
        s.history.is_empty(),
        "the bundle's recipe is where the session starts"
    );
}

#[test]
fn balancing_caps_the_larger_label_and_travels_with_the_bundle() {
    use ajuste_shared::balance::{BalanceConfig, GroupBy};
    let mut engine = Engine::new();
    let opened = engine
        .open(
            "kto.jsonl",
            KTO_UNBALANCED.to_vec(),
            LoadOptions::default(),
            &mut quiet(),
        )
        .unwrap();
    assert_eq!((opened.records_out, opened.balance), (8, None));

    let no_such_field = BalanceConfig {
        by: GroupBy::Field("lang".into()),
        max_per_group: Some(1),
        max_ratio: None,
        seed: 42,
    };
    let err = engine
        .apply(Op::Balance(Some(no_such_field)), &mut quiet())
        .unwrap_err();
    assert!(err.contains("no record has a `lang` field"), "{err}");
    assert_eq!(engine.summary().unwrap().records_out, 8);

    let equal = BalanceConfig {
        by: GroupBy::Auto,
        max_per_group: None,
        max_ratio: Some(1.0),
        seed: 42,
    };
    let s = apply(&mut engine, Op::Balance(Some(equal.clone())));
    assert_eq!(s.records_out, 4);
    let b = s.balance.clone().unwrap();
    let groups: Vec<(&str, usize, usize)> = b
        .groups
        .iter()
        .map(|g| (g.group.as_str(), g.records, g.kept))
        .collect();
    assert_eq!(groups, [("desirable", 6, 2), ("undesirable", 2, 2)]);
    assert_eq!(s.history.last().unwrap(), "balance by auto");
    let stats = engine.stats(1024, &mut quiet()).unwrap();
    assert_eq!(stats.stats.balance["desirable"], 2);

    let (file, bytes) = engine.export(ExportKind::Bundle, &mut quiet()).unwrap();
    let command = file.command.clone().unwrap().unwrap();
    assert!(
        command.contains(" --balance-by auto --max-ratio 1 "),
        "{command}"
    );
    let recipe = Settings::from_ops(Kind::Feedback, &engine.session.as_ref().unwrap().ops).recipe();
    let expected = cli_bundle(
        "kto.jsonl",
        KTO_UNBALANCED,
        None,
        &recipe,
        &Template::Builtin(Builtin::Chatml),
        None,
    );
    assert!(
        bytes == expected,
        "the studio's bundle differs from the CLI's"
    );

    // Reopened, the bundle starts from its recipe, balancing included, and keeps its records.
    let mut other = Engine::new();
    let reopened = other
        .open(&file.name, bytes, LoadOptions::default(), &mut quiet())
        .unwrap();
    assert_eq!(reopened.balance.unwrap().config, equal);
    assert_eq!(reopened.records_out, 4);

    assert_eq!(engine.undo(&mut quiet()).unwrap().records_out, 8);
}
