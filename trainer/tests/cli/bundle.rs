//! `ajuste bundle ...`

use crate::util::{CliTest, fixture, fx};

fn create(t: &CliTest, out: &str) {
    let tok = fx("shared/tests/fixtures/templates/tiny/tokenizer.json");
    t.run([
        "bundle",
        "create",
        &fx("tests/fixtures/cli/chats.jsonl"),
        "--template",
        "chatml",
        "--tokenizer",
        &tok,
        "--near",
        "--drop-refusals",
        "--eval-fraction",
        "0.2",
        "--seed",
        "3",
        "-o",
        out,
    ])
    .expect(0);
}

#[test]
fn the_same_inputs_give_a_byte_identical_bundle() {
    let t = CliTest::new();
    create(&t, "a.ajuste");
    create(&t, "b.ajuste");
    assert_eq!(
        std::fs::read(t.path("a.ajuste")).unwrap(),
        std::fs::read(t.path("b.ajuste")).unwrap()
    );
}

#[test]
fn inspect_shows_the_manifest_of_what_create_did() {
    let t = CliTest::new();
    create(&t, "a.ajuste");
    let m = t
        .run(["bundle", "inspect", "--json", "a.ajuste"])
        .expect(0)
        .json();
    assert_eq!(m["schema_version"], 1);
    assert_eq!(m["kind"], "sft");
    assert_eq!(m["source"]["format"], "sharegpt");
    assert_eq!(m["source"]["records"], 13);
    assert_eq!(m["cleaning"]["records_out"], 12, "one refusal dropped");
    assert_eq!(m["dedup"]["exact_duplicates"], 1);
    assert_eq!(m["dedup"]["near_duplicates"], 1);
    assert_eq!(
        m["split"]["train"].as_u64().unwrap() + m["split"]["eval"].as_u64().unwrap(),
        10
    );
    assert_eq!(m["template"]["name"], "chatml");
    assert!(
        m["template"]["chat_template"]
            .as_str()
            .unwrap()
            .contains("<|im_start|>")
    );
    assert_eq!(m["train"]["method"], "sft");
    assert_eq!(m["tokenizer"]["vocab_size"], 420);
    let text = t.run(["bundle", "inspect", "a.ajuste"]).expect(0).stdout;
    assert!(
        text.contains("train.jsonl") && text.contains("sha256 ok"),
        "{text}"
    );
}

#[test]
fn a_modified_bundle_is_refused() {
    let t = CliTest::new();
    create(&t, "a.ajuste");
    let mut bytes = std::fs::read(t.path("a.ajuste")).unwrap();
    // Rewrite the bundle with one training record changed but the manifest kept.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if name == "train.jsonl" {
            data = String::from_utf8(data)
                .unwrap()
                .replacen("Lisbon", "Porto", 1)
                .into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut out, &data).unwrap();
    }
    bytes = out.finish().unwrap().into_inner();
    t.write("tampered.ajuste", &bytes);
    let run = t.run(["bundle", "inspect", "tampered.ajuste"]).expect(2);
    assert!(
        run.stderr.contains("does not match the hash"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_method_that_does_not_fit_the_data_is_refused() {
    let t = CliTest::new();
    let run = t
        .run([
            "bundle",
            "create",
            &fx("tests/fixtures/cli/chats.jsonl"),
            "--template",
            "chatml",
            "--method",
            "dpo",
            "-o",
            "x.ajuste",
        ])
        .expect(2);
    assert!(run.stderr.contains("preference"), "{}", run.stderr);
    assert!(!t.path("x.ajuste").exists());
}

#[test]
fn a_bundle_records_the_renames_its_source_was_read_with() {
    let t = CliTest::new();
    let csv = t.write(
        "qa.csv",
        "question,answer\nWhat is 2+2?,4\nName a colour.,Blue.\nSay hi.,hi\nCount to 2.,\"1, 2\"\n",
    );
    t.run([
        "bundle",
        "create",
        csv.to_str().unwrap(),
        "--map",
        "question=instruction,answer=output",
        "--template",
        "chatml",
        "-o",
        "qa.ajuste",
    ])
    .expect(0);
    let m = t
        .run(["bundle", "inspect", "--json", "qa.ajuste"])
        .expect(0)
        .json();
    assert_eq!(m["source"]["format"], "alpaca");
    assert_eq!(
        m["source"]["fields"],
        serde_json::json!({"fields": [["question", "instruction"], ["answer", "output"]]})
    );
    let text = t.run(["bundle", "inspect", "qa.ajuste"]).expect(0).stdout;
    assert!(
        text.contains("read with fields question=instruction,answer=output renamed"),
        "{text}"
    );
}

#[test]
fn a_balanced_bundle_records_its_groups() {
    let t = CliTest::new();
    // Eight feedback records on distinct words (dedup keeps them all), two undesirable.
    let input = fixture("tests/fixtures/cli/kto-unbalanced.jsonl");
    t.run([
        "bundle",
        "create",
        input.to_str().unwrap(),
        "--template",
        "chatml",
        "--max-ratio",
        "1.5",
        "--eval-fraction",
        "0",
        "-o",
        "b.ajuste",
    ])
    .expect(0);
    let shown = t.run(["bundle", "inspect", "b.ajuste"]).expect(0);
    assert!(
        shown
            .stdout
            .contains("balance:   by auto, 3 removed (desirable 6 -> 3, undesirable 2 -> 2)"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("split:     5 train / 0 eval"),
        "{}",
        shown.stdout
    );
    let out = t
        .run([
            "bundle",
            "create",
            input.to_str().unwrap(),
            "--template",
            "chatml",
            "--balance-by",
            "label",
            "-o",
            "c.ajuste",
        ])
        .expect(2);
    assert!(out.stderr.contains("needs a cap"), "{}", out.stderr);
}
