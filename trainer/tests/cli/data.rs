//! `ajuste data ...`

use crate::util::{CliTest, Run, fixture, fx, read_json, read_jsonl};

const CHATS: &str = "tests/fixtures/cli/chats.jsonl";
const MIXED: &str = "tests/fixtures/cli/mixed.jsonl";

#[test]
fn inspect_detects_every_format() {
    let t = CliTest::new();
    for (file, format, kind) in [
        (
            "shared/tests/fixtures/formats/sharegpt.jsonl",
            "sharegpt",
            "sft",
        ),
        (
            "shared/tests/fixtures/formats/sharegpt_array.json",
            "sharegpt",
            "sft",
        ),
        (
            "shared/tests/fixtures/formats/openai.jsonl",
            "openai",
            "sft",
        ),
        (
            "shared/tests/fixtures/formats/alpaca.jsonl",
            "alpaca",
            "sft",
        ),
        ("shared/tests/fixtures/formats/alpaca.csv", "alpaca", "sft"),
        (
            "shared/tests/fixtures/formats/dpo.jsonl",
            "dpo",
            "preference",
        ),
        ("shared/tests/fixtures/formats/hh.jsonl", "hh", "preference"),
        ("shared/tests/fixtures/formats/kto.jsonl", "kto", "feedback"),
        ("shared/tests/fixtures/formats/kto.tsv", "kto", "feedback"),
    ] {
        let v = t
            .run(["data", "inspect", "--json", &fx(file)])
            .expect(0)
            .json();
        assert_eq!(v["format"], format, "{file}");
        assert_eq!(v["kind"], kind, "{file}");
        assert!(v["records"].as_u64().unwrap() > 0, "{file}");
    }
}

#[test]
fn validate_names_line_code_and_field_and_exits_1_on_errors() {
    let t = CliTest::new();
    let run = t.run(["data", "validate", &fx(MIXED)]).expect(1);
    assert!(
        run.stdout.contains("mixed.jsonl:2: error[unknown-role]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("field /conversations/1/from"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("mixed.jsonl:3: error[invalid-json]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("mixed.jsonl:6: error[no-assistant-turn]"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("6 records, 3 valid"), "{}", run.stdout);
}

#[test]
fn validate_json_report_has_the_contract_fields() {
    let t = CliTest::new();
    let report_path = t.path("report.json").display().to_string();
    let run = t
        .run([
            "data",
            "validate",
            "--json",
            "--report",
            &report_path,
            &fx(MIXED),
        ])
        .expect(1);
    let v = run.json();
    let from_file: serde_json::Value = read_json(report_path.as_ref());
    assert_eq!(v, from_file);
    assert_eq!(v["format"], "sharegpt");
    assert_eq!(v["kind"], "sft");
    assert_eq!(v["records"], 6);
    assert_eq!(v["valid"], 3);
    assert_eq!(v["errors"], 3);
    let findings = v["findings"].as_array().unwrap();
    let role = findings
        .iter()
        .find(|f| f["code"] == "unknown-role")
        .unwrap();
    assert_eq!(role["severity"], "error");
    assert_eq!(role["line"], 2);
    assert_eq!(role["record"], 1);
    assert_eq!(role["path"], "/conversations/1/from");
    assert!(role["message"].as_str().unwrap().contains("robot"));
    assert!(role["hint"].is_string());
}

#[test]
fn validate_of_clean_data_exits_0() {
    let t = CliTest::new();
    t.run(["data", "validate", &fx(CHATS)]).expect(0);
}

#[test]
fn convert_round_trips_sharegpt_through_openai_and_refuses_to_overwrite_its_input() {
    let t = CliTest::new();
    let input = t.copy("shared/tests/fixtures/formats/sharegpt_convertible.jsonl");
    let original = std::fs::read(&input).unwrap();
    t.run([
        "data",
        "convert",
        "sharegpt_convertible.jsonl",
        "--to",
        "openai",
        "-o",
        "o.jsonl",
    ])
    .expect(0);
    t.run([
        "data",
        "convert",
        "o.jsonl",
        "--to",
        "sharegpt",
        "-o",
        "back.jsonl",
    ])
    .expect(0);
    assert_eq!(read_jsonl(&t.path("back.jsonl")), read_jsonl(&input));
    let run = t
        .run([
            "data",
            "convert",
            "sharegpt_convertible.jsonl",
            "--to",
            "openai",
            "-o",
            "./sharegpt_convertible.jsonl",
        ])
        .expect(2);
    assert!(run.stderr.contains("refusing to write"), "{}", run.stderr);
    assert_eq!(std::fs::read(&input).unwrap(), original);
}

#[test]
fn convert_hh_to_dpo_splits_the_shared_prompt() {
    let t = CliTest::new();
    let hh = fx("shared/tests/fixtures/formats/hh.jsonl");
    t.run(["data", "convert", &hh, "--to", "dpo", "-o", "dpo.jsonl"])
        .expect(0);
    let expected = read_jsonl(&fixture("shared/tests/fixtures/formats/hh_as_dpo.jsonl"));
    assert_eq!(read_jsonl(&t.path("dpo.jsonl")), expected);
}

#[test]
fn clean_strips_html_drops_refusals_and_explains_each_drop() {
    let t = CliTest::new();
    let run = t
        .run([
            "data",
            "clean",
            &fx(CHATS),
            "-o",
            "clean.jsonl",
            "--strip-html",
            "--drop-refusals",
        ])
        .expect(0);
    assert!(
        run.stderr
            .contains("dropped record 5 (line 6) in drop-refusals"),
        "{}",
        run.stderr
    );
    let out = read_jsonl(&t.path("clean.jsonl"));
    assert_eq!(out.len(), 12);
    let tip = out.iter().find(|r| r["id"] == "c7").unwrap();
    assert_eq!(
        tip["conversations"][1]["value"],
        "Build **small projects** you care about & read other people's code."
    );
}

#[test]
fn dedup_with_eval_reports_leaks_naming_the_first_train_twin() {
    let t = CliTest::new();
    // Eval: record 10 of the train file (an exact duplicate of record 1, which dedup removes)
    // and record 12 (kept out by near dedup, still a train record).
    let lines: Vec<String> = std::fs::read_to_string(fixture(CHATS))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    t.write("eval.jsonl", format!("{}\n{}\n", lines[10], lines[12]));
    let run = near_dedup_of_chats(&t, &["--eval", "eval.jsonl"]);
    let report: serde_json::Value = read_json(&t.path("report.json"));
    let leaks: Vec<(u64, u64)> = report["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["eval"].as_u64().unwrap(), l["train"].as_u64().unwrap()))
        .collect();
    assert_eq!(leaks, [(0, 1), (1, 12)]);
    assert!(
        run.stderr.contains(
            "eval.jsonl:1: warning[train-eval-leak]: eval record 0 duplicates train record 1"
        ),
        "{}",
        run.stderr
    );
}

/// `ajuste data dedup --near` of the chats fixture into dedup.jsonl, its report in report.json,
/// with `extra` arguments; it must succeed.
fn near_dedup_of_chats(t: &CliTest, extra: &[&str]) -> Run {
    let chats = fx(CHATS);
    let args = [
        "data",
        "dedup",
        &chats,
        "-o",
        "dedup.jsonl",
        "--near",
        "--report",
        "report.json",
    ];
    t.run(args.iter().chain(extra)).expect(0)
}

#[test]
fn dedup_removes_exact_and_near_duplicates_and_reports_clusters() {
    let t = CliTest::new();
    near_dedup_of_chats(&t, &[]);
    let report: serde_json::Value = read_json(&t.path("report.json"));
    assert_eq!(report["records"], 13);
    assert_eq!(report["kept"], 11);
    assert_eq!(report["exact_duplicates"], 1);
    assert_eq!(report["near_duplicates"], 1);
    let clusters = report["clusters"].as_array().unwrap();
    assert!(
        clusters
            .iter()
            .any(|c| c["kept"] == 1 && c["removed"] == serde_json::json!([10]))
    );
    assert!(
        clusters
            .iter()
            .any(|c| c["kept"] == 11 && c["removed"] == serde_json::json!([12]))
    );
    let ids: Vec<String> = read_jsonl(&t.path("dedup.jsonl"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.contains(&"c1-dup".to_string()) && !ids.contains(&"ex-near".to_string()));
    // Exact-only dedup keeps the near duplicate.
    t.run(["data", "dedup", &fx(CHATS), "-o", "exact.jsonl"])
        .expect(0);
    assert_eq!(read_jsonl(&t.path("exact.jsonl")).len(), 12);
}

#[test]
fn split_is_seeded_and_partitions_the_records() {
    let t = CliTest::new();
    for dir in ["a", "b"] {
        t.run([
            "data",
            "split",
            &fx(CHATS),
            "--eval-fraction",
            "0.25",
            "--seed",
            "7",
            "-o",
            dir,
        ])
        .expect(0);
    }
    let (train, eval) = (
        read_jsonl(&t.path("a/train.jsonl")),
        read_jsonl(&t.path("a/eval.jsonl")),
    );
    assert_eq!((train.len(), eval.len()), (10, 3));
    assert_eq!(
        std::fs::read(t.path("a/train.jsonl")).unwrap(),
        std::fs::read(t.path("b/train.jsonl")).unwrap()
    );
    assert_eq!(
        std::fs::read(t.path("a/eval.jsonl")).unwrap(),
        std::fs::read(t.path("b/eval.jsonl")).unwrap()
    );
}

#[test]
fn render_json_gives_text_ids_and_labels_with_untrained_tokens_masked() {
    let t = CliTest::new();
    let tok = fx("shared/tests/fixtures/templates/tiny/tokenizer.json");
    let run = t
        .run([
            "data",
            "render",
            &fx(CHATS),
            "--template",
            "chatml",
            "--tokenizer",
            &tok,
            "--json",
            "--limit",
            "2",
        ])
        .expect(0);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!(first["record"], 0);
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .starts_with("<|im_start|>user\nHow do I boil an egg?<|im_end|>")
    );
    let ids = first["input_ids"].as_array().unwrap();
    let labels = first["labels"].as_array().unwrap();
    assert_eq!(ids.len(), labels.len());
    assert!(
        labels.iter().any(|l| l == -100),
        "the prompt is not trained"
    );
    assert!(labels.iter().any(|l| l != -100), "the answer is trained");
    for (id, label) in ids.iter().zip(labels) {
        assert!(
            label == -100 || label == id,
            "a trained label is its own token id"
        );
    }
}

#[test]
fn render_warns_when_truncation_cuts_a_response() {
    let t = CliTest::new();
    let tok = fx("shared/tests/fixtures/templates/tiny/tokenizer.json");
    let run = t.run([
        "data",
        "render",
        &fx(CHATS),
        "--template",
        "chatml",
        "--tokenizer",
        &tok,
        "--max-len",
        "12",
        "--json",
        "--limit",
        "1",
    ]);
    assert!(run.stderr.contains("chats.jsonl:1:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("[truncated-response]") || run.stderr.contains("[no-trained-tokens]"),
        "{}",
        run.stderr
    );
}

#[test]
fn render_text_marks_where_max_len_cuts_and_trains_nothing_after_it() {
    let t = CliTest::new();
    let tok = fx("shared/tests/fixtures/templates/tiny/tokenizer.json");
    let render = |extra: &[&str]| {
        let mut args = vec![
            "data".to_string(),
            "render".into(),
            fx(CHATS),
            "--template".into(),
            "chatml".into(),
            "--tokenizer".into(),
            tok.clone(),
            "--limit".into(),
            "1".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        t.run(args).stdout
    };
    let full = render(&[]);
    let counts = full.lines().last().unwrap();
    let tokens: usize = counts
        .strip_prefix('[')
        .and_then(|c| c.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no token count in {full}"));
    assert!(!full.contains('✂'), "{full}");

    // Three tokens fewer: the end of the answer is cut, so it is printed after ✂ unmarked.
    let max = (tokens - 3).to_string();
    let cut = render(&["--max-len", &max]);
    assert!(cut.contains(&format!("[cut to {max} tokens, ")), "{cut}");
    let after = cut.split('✂').nth(1).unwrap_or_else(|| panic!("{cut}"));
    assert!(!after.contains('«') && !after.contains('»'), "{cut}");
    let text = |s: &str| -> String {
        let body = &s[..s.rfind("\n[").unwrap()];
        body.chars().filter(|c| !"«»✂".contains(*c)).collect()
    };
    assert_eq!(text(&cut), text(&full));
}

#[test]
fn stats_json_counts_records_roles_and_duplicates() {
    let t = CliTest::new();
    let v = t
        .run(["data", "stats", "--json", &fx(CHATS)])
        .expect(0)
        .json();
    assert_eq!(v["records"], 13);
    assert_eq!(v["roles"]["user"], 13);
    assert_eq!(v["roles"]["assistant"], 13);
    assert_eq!(v["exact_duplicates"], 1);
    assert_eq!(v["chars"]["summary"]["count"], 13);
    assert_eq!(
        v["languages"]["eng"].as_u64().unwrap()
            + v["languages"]
                .get("und")
                .and_then(|u| u.as_u64())
                .unwrap_or(0),
        13
    );
}

#[test]
fn explain_prints_the_registry_documentation() {
    let t = CliTest::new();
    let run = t.run(["data", "explain", "bad-turn-order"]).expect(0);
    assert!(run.stdout.contains("What it checks") && run.stdout.contains("Why it matters"));
    t.run(["data", "explain", "no-such-code"]).expect(2);
    let all = t.run(["data", "explain"]).expect(0);
    assert!(all.stdout.contains("unknown-role") && all.stdout.contains("near-duplicate"));
}

#[test]
fn map_and_role_read_a_dialect_as_a_format_and_findings_name_its_own_fields() {
    let t = CliTest::new();
    let csv = t.write(
        "qa.csv",
        "question,answer\nWhat is 2+2?,4\nName a colour.,\nSay hi.,hi\n",
    );
    let csv = csv.to_str().unwrap();
    let run = t.run(["data", "validate", csv]).expect(1);
    assert!(
        run.stderr.contains("error[unknown-format]"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--map"),
        "the hint names --map: {}",
        run.stderr
    );

    let map = ["--map", "question=instruction", "--map", "answer=output"];
    let run = t
        .run(["data", "validate", csv].into_iter().chain(map))
        .expect(0);
    assert!(
        run.stdout.contains("qa.csv:3: warning[empty-content]")
            && run.stdout.contains("field /answer"),
        "findings name the CSV's own column: {}",
        run.stdout
    );
    t.run(
        ["data", "convert", csv, "--to", "openai", "-o", "qa.jsonl"]
            .into_iter()
            .chain(map),
    )
    .expect(0);
    let rows = read_jsonl(&t.path("qa.jsonl"));
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0]["messages"],
        serde_json::json!([{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}])
    );

    let chat = t.write(
        "log.jsonl",
        r#"{"messages": [{"role": "customer", "content": "hi"}, {"role": "agent", "content": "hello"}]}"#,
    );
    let chat = chat.to_str().unwrap();
    t.run(["data", "validate", chat]).expect(1);
    t.run([
        "data",
        "convert",
        chat,
        "--role",
        "customer=user,agent=assistant",
        "--to",
        "sharegpt",
        "-o",
        "log-sharegpt.jsonl",
    ])
    .expect(0);
    let rows = read_jsonl(&t.path("log-sharegpt.jsonl"));
    assert_eq!(rows[0]["conversations"][1]["from"], "gpt");
}

#[test]
fn a_map_that_cannot_mean_one_thing_exits_2_and_writes_nothing() {
    let t = CliTest::new();
    let csv = t.write("qa.csv", "question,answer\nq,a\n");
    let csv = csv.to_str().unwrap();
    for (map, says) in [
        ("question", "`question` is not FROM=TO"),
        ("question=instruction,question=output", "renamed twice"),
        ("question=output,answer=output", "both renamed to `output`"),
    ] {
        let run = t
            .run([
                "data",
                "convert",
                csv,
                "--map",
                map,
                "--to",
                "openai",
                "-o",
                "out.jsonl",
            ])
            .expect(2);
        assert!(run.stderr.contains(says), "{map}: {}", run.stderr);
        assert!(!t.path("out.jsonl").exists(), "{map}");
    }
}

/// Eight openai-format chats: five on `cooking`, two on `maths`, one without a topic.
fn topical_chats(t: &CliTest) -> std::path::PathBuf {
    let topics = [
        Some("cooking"),
        Some("maths"),
        Some("cooking"),
        None,
        Some("cooking"),
        Some("cooking"),
        Some("maths"),
        Some("cooking"),
    ];
    let lines: String = topics
        .iter()
        .enumerate()
        .map(|(i, topic)| {
            let mut v = serde_json::json!({"messages": [
                {"role": "user", "content": format!("Question number {i}?")},
                {"role": "assistant", "content": format!("Answer number {i}.")},
            ]});
            if let Some(topic) = topic {
                v["topic"] = (*topic).into();
            }
            format!("{v}\n")
        })
        .collect();
    t.write("topics.jsonl", lines)
}

#[test]
fn balance_caps_each_group_and_reports_what_it_left_out() {
    let t = CliTest::new();
    let input = topical_chats(&t);
    let balance = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "data".to_string(),
            "balance".into(),
            input.display().to_string(),
            "-o".into(),
            out.into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        t.run(args)
    };
    let run = balance(
        "equal.jsonl",
        &["--by", "topic", "--max-ratio", "1", "--report", "r.json"],
    )
    .expect(0);
    assert!(
        run.stderr.contains("wrote 5 of 8 records to `equal.jsonl`"),
        "{}",
        run.stderr
    );
    let kept = read_jsonl(&t.path("equal.jsonl"));
    let count = |topic: &str| kept.iter().filter(|r| r["topic"] == topic).count();
    assert_eq!((count("cooking"), count("maths"), kept.len()), (2, 2, 5));
    let report = read_json(&t.path("r.json"));
    assert_eq!(report["kept"], 5);
    let removed = report["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 3);
    assert!(removed.iter().all(|r| r["group"] == "cooking"));
    let lines: Vec<u64> = removed
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert!(
        lines.iter().all(|l| [1, 3, 5, 6, 8].contains(l)),
        "{lines:?}"
    );

    // The same seed draws the same records; the automatic key finds `topic` too.
    balance("again.jsonl", &["--max-ratio", "1"]).expect(0);
    assert_eq!(
        std::fs::read(t.path("equal.jsonl")).unwrap(),
        std::fs::read(t.path("again.jsonl")).unwrap()
    );
    balance("capped.jsonl", &["--max-per-group", "3"]).expect(0);
    assert_eq!(read_jsonl(&t.path("capped.jsonl")).len(), 3 + 2 + 1);

    // No cap, a field no record has, a ratio below 1: exit 2 with the reason, nothing written.
    let out = balance("x.jsonl", &[]).expect(2);
    assert!(out.stderr.contains("--max-per-group"), "{}", out.stderr);
    let out = balance("x.jsonl", &["--by", "lang", "--max-per-group", "1"]).expect(2);
    assert!(
        out.stderr
            .contains("topics.jsonl: no record has a `lang` field"),
        "{}",
        out.stderr
    );
    let out = balance("x.jsonl", &["--max-ratio", "0.5"]).expect(2);
    assert!(
        out.stderr
            .contains("--max-ratio must be a number of at least 1"),
        "{}",
        out.stderr
    );
    assert!(!t.path("x.jsonl").exists());
}
