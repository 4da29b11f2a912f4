//! Formats on fixtures: detection and parsing, same-format round trips (byte-equal), conversions
//! between formats, HH -> DPO prompt splitting, containers.

use std::sync::Arc;

use ajuste_shared::container::{Container, write_values};
use ajuste_shared::formats::{Format, dpo, export_record, parse_record};
use ajuste_shared::{Code, LoadOptions, Record, load};
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/formats/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The non-blank lines of a JSONL fixture.
fn lines(name: &str) -> Vec<String> {
    String::from_utf8(fixture(name))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse(format: Format, line: &str) -> Record {
    let value: Value = serde_json::from_str(line).unwrap();
    match parse_record(format, &value) {
        Ok((record, _)) => record,
        Err(findings) => panic!("{format} failed to parse {line}: {findings:?}"),
    }
}

fn export(format: Format, record: &Record) -> String {
    let value = export_record(format, record).unwrap_or_else(|e| panic!("{e}"));
    serde_json::to_string(&value).unwrap()
}

#[test]
fn every_format_parses_its_fixtures() {
    use Container::*;
    let cases = [
        ("sharegpt.jsonl", Jsonl, Format::Sharegpt, 7),
        ("sharegpt_convertible.jsonl", Jsonl, Format::Sharegpt, 4),
        ("sharegpt_array.json", JsonArray, Format::Sharegpt, 4),
        ("openai.jsonl", Jsonl, Format::Openai, 6),
        ("openai_convertible.jsonl", Jsonl, Format::Openai, 3),
        ("openai_messages.csv", Csv, Format::Openai, 2),
        ("alpaca.jsonl", Jsonl, Format::Alpaca, 6),
        ("alpaca_convertible.jsonl", Jsonl, Format::Alpaca, 3),
        ("alpaca.csv", Csv, Format::Alpaca, 3),
        ("dpo.jsonl", Jsonl, Format::Dpo, 6),
        ("dpo_standard.jsonl", Jsonl, Format::Dpo, 2),
        ("dpo_conversational.jsonl", Jsonl, Format::Dpo, 2),
        ("hh.jsonl", Jsonl, Format::Hh, 3),
        ("hh_as_dpo.jsonl", Jsonl, Format::Dpo, 3),
        ("kto.jsonl", Jsonl, Format::Kto, 6),
        ("kto.tsv", Tsv, Format::Kto, 2),
    ];
    for (file, container, format, n) in cases {
        let loaded = load(&fixture(file)[..], file, &LoadOptions::default()).unwrap();
        assert_eq!(
            (loaded.container, loaded.format),
            (container, format),
            "{file}"
        );
        let r = &loaded.report;
        assert_eq!(
            (r.records, r.valid, r.errors),
            (n, n, 0),
            "{file}: {:?}",
            r.findings
        );
        assert_eq!(loaded.dataset.len(), n);
        assert!(
            loaded
                .dataset
                .records()
                .all(|rec| rec.kind() == format.kind())
        );
    }
}

#[test]
fn records_know_their_lines() {
    let line_of = |file: &str| -> Vec<usize> {
        let loaded = load(&fixture(file)[..], file, &LoadOptions::default()).unwrap();
        loaded.dataset.items.iter().map(|i| i.source.line).collect()
    };
    // A pretty-printed array: each element starts on a line that is exactly "  {".
    let text = String::from_utf8(fixture("sharegpt_array.json")).unwrap();
    let starts: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "  {")
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(line_of("sharegpt_array.json"), starts);
    // CSV with CRLF and a quoted two-line cell: header line 1, rows on 2, 3(-4), 5.
    assert_eq!(line_of("alpaca.csv"), [2, 3, 5]);
    assert_eq!(line_of("kto.tsv"), [2, 3]);
}

#[test]
fn same_format_round_trip_is_byte_equal() {
    let cases = [
        ("sharegpt.jsonl", Format::Sharegpt),
        ("sharegpt_convertible.jsonl", Format::Sharegpt),
        ("openai.jsonl", Format::Openai),
        ("alpaca.jsonl", Format::Alpaca),
        ("dpo.jsonl", Format::Dpo),
        ("hh.jsonl", Format::Hh),
        ("hh_as_dpo.jsonl", Format::Dpo),
        ("kto.jsonl", Format::Kto),
    ];
    for (file, format) in cases {
        for line in lines(file) {
            assert_eq!(export(format, &parse(format, &line)), line, "{file}");
        }
    }
}

#[test]
fn sharegpt_openai_alpaca_convert_losslessly() {
    let sft = [Format::Sharegpt, Format::Openai, Format::Alpaca];
    let cases = [
        ("sharegpt_convertible.jsonl", Format::Sharegpt),
        ("openai_convertible.jsonl", Format::Openai),
        ("alpaca_convertible.jsonl", Format::Alpaca),
    ];
    for (file, a) in cases {
        for line in lines(file) {
            let original = parse(a, &line);
            for b in sft.into_iter().filter(|&b| b != a) {
                let in_b = export(b, &original);
                let via_b = parse(b, &in_b);
                // Same turns on both sides, and A -> B -> A gives the original bytes back.
                assert_eq!(
                    via_b.turns(),
                    original.turns(),
                    "{file}: {a} -> {b}: {in_b}"
                );
                assert_eq!(
                    export(a, &via_b),
                    line,
                    "{file}: {a} -> {b} -> {a} via {in_b}"
                );
            }
        }
    }
}

#[test]
fn alpaca_input_split_survives_other_formats_only_through_the_canonical_form() {
    // ShareGPT has no field for the instruction/input split: the text is kept whole there, and
    // the canonical form (what bundles store) keeps the split.
    let line = r#"{"instruction":"Translate.","input":"bom dia","output":"good morning"}"#;
    let record = parse(Format::Alpaca, line);
    let sharegpt = export(Format::Sharegpt, &record);
    assert!(
        sharegpt.contains(r#""value":"Translate.\n\nbom dia""#),
        "{sharegpt}"
    );
    assert!(
        !sharegpt.contains("_ajuste"),
        "layout facts never leak into a format: {sharegpt}"
    );
    let canonical = serde_json::to_string(&record).unwrap();
    let back: Record = serde_json::from_str(&canonical).unwrap();
    assert_eq!(export(Format::Alpaca, &back), line);
}

#[test]
fn dpo_standard_and_conversational_convert_both_ways() {
    for line in lines("dpo_standard.jsonl") {
        let record = parse(Format::Dpo, &line);
        let conversational = dpo::export_as(&record, dpo::Style::Conversational, false).unwrap();
        assert!(conversational["prompt"].is_array() && conversational["chosen"].is_array());
        let back = parse(Format::Dpo, &conversational.to_string());
        let standard = dpo::export_as(&back, dpo::Style::Standard, false).unwrap();
        assert_eq!(serde_json::to_string(&standard).unwrap(), line);
        // The canonical form of a pair is TRL's conversational explicit form.
        let mut canonical = serde_json::to_value(&back).unwrap();
        canonical.as_object_mut().unwrap().remove("_ajuste");
        assert_eq!(canonical, conversational);
    }
    let lines = lines("dpo_conversational.jsonl");
    // A system turn in the prompt has no place in the standard (string) form.
    let explicit = parse(Format::Dpo, &lines[0]);
    let err = dpo::export_as(&explicit, dpo::Style::Standard, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompt has 2 turns"), "{err}");
    // Implicit -> explicit -> implicit.
    let implicit = parse(Format::Dpo, &lines[1]);
    let explicit = dpo::export_as(&implicit, dpo::Style::Conversational, false).unwrap();
    assert_eq!(explicit["prompt"].as_array().unwrap().len(), 3);
    let back = parse(Format::Dpo, &explicit.to_string());
    let again = dpo::export_as(&back, dpo::Style::Conversational, true).unwrap();
    assert_eq!(serde_json::to_string(&again).unwrap(), lines[1]);
}

#[test]
fn hh_converts_to_dpo_with_the_prompt_split_out() {
    let expected = lines("hh_as_dpo.jsonl");
    for (hh_line, dpo_line) in lines("hh.jsonl").iter().zip(&expected) {
        let record = parse(Format::Hh, hh_line);
        let Record::Preference(pair) = &record else {
            panic!("{hh_line}")
        };
        assert_eq!(
            pair.chosen.len(),
            1,
            "only the final assistant turn is the completion"
        );
        assert_eq!(&export(Format::Dpo, &record), dpo_line);
        // And back: DPO conversational -> HH gives the original strings.
        assert_eq!(&export(Format::Hh, &parse(Format::Dpo, dpo_line)), hh_line);
    }
}

#[test]
fn targets_that_cannot_hold_a_record_say_why() {
    let pair = parse(Format::Dpo, &lines("dpo.jsonl")[0]);
    let err = export_record(Format::Sharegpt, &pair)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("preference record") && err.contains("sharegpt holds SFT conversations"),
        "{err}"
    );
    let tools = parse(Format::Openai, &lines("openai.jsonl")[4]);
    let err = export_record(Format::Alpaca, &tools)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("turn 3 (assistant)") && err.contains("tool_calls"),
        "{err}"
    );
    let with_system = parse(Format::Dpo, &lines("dpo.jsonl")[3]);
    let err = export_record(Format::Hh, &with_system)
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompt turn 1 (system)"), "{err}");
    let sft = parse(Format::Sharegpt, &lines("sharegpt.jsonl")[0]);
    assert!(
        export_record(Format::Kto, &sft)
            .unwrap_err()
            .to_string()
            .contains("labelled completions")
    );
    // ShareGPT's function_call turn has no OpenAI spelling: it becomes a plain assistant turn.
    let calls = parse(Format::Sharegpt, &lines("sharegpt.jsonl")[3]);
    let openai = export(Format::Openai, &calls);
    assert!(!openai.contains("function_call"), "{openai}");
}

#[test]
fn canonical_form_round_trips_through_serde() {
    let files = [
        ("sharegpt.jsonl", Format::Sharegpt),
        ("openai.jsonl", Format::Openai),
        ("alpaca.jsonl", Format::Alpaca),
        ("dpo.jsonl", Format::Dpo),
        ("hh.jsonl", Format::Hh),
        ("kto.jsonl", Format::Kto),
    ];
    for (file, format) in files {
        for line in lines(file) {
            let record = parse(format, &line);
            let canonical = serde_json::to_string(&record).unwrap();
            let back: Record = serde_json::from_str(&canonical).unwrap();
            assert_eq!(back, record, "{file}: {canonical}");
            assert_eq!(export(format, &back), line, "{file}");
        }
    }
}

#[test]
fn findings_point_into_the_source_layout() {
    let path_of = |name: &str, data: &str| -> Vec<(Code, String)> {
        let loaded = load(data.as_bytes(), name, &LoadOptions::default()).unwrap();
        loaded
            .report
            .findings
            .into_iter()
            .map(|f| (f.code, f.path))
            .collect()
    };
    let alpaca = r#"{"instruction": "q", "input": "", "output": " ", "history": [["", "a"]]}"#;
    assert_eq!(
        path_of("a.jsonl", alpaca),
        [
            (Code::EmptyContent, "/history/0/0".into()),
            (Code::EmptyContent, "/output".into())
        ]
    );
    let implicit = r#"{"chosen": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": ""}, {"role": "assistant", "content": "b"}]}"#;
    assert_eq!(
        path_of("d.jsonl", implicit),
        [(Code::EmptyContent, "/chosen/0/content".into())]
    );
    let kto_tag = r#"{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}], "kto_tag": true, "system": "s"}"#;
    assert_eq!(
        path_of("k.jsonl", kto_tag),
        [(Code::EmptyContent, "/conversations/1/value".into())]
    );
    let hh = r#"{"chosen": "\n\nHuman: q\n\nAssistant: same", "rejected": "\n\nHuman: q\n\nAssistant: same"}"#;
    assert_eq!(
        path_of("h.jsonl", hh),
        [(Code::ChosenEqualsRejected, "/rejected".into())]
    );
}

#[test]
fn gzip_and_arrays_read_like_jsonl() {
    use std::io::Write;
    let plain = fixture("sharegpt_convertible.jsonl");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let zipped = load(
        &gz.finish().unwrap()[..],
        "x.jsonl.gz",
        &LoadOptions::default(),
    )
    .unwrap();
    let array = load(
        &fixture("sharegpt_array.json")[..],
        "x.json",
        &LoadOptions::default(),
    )
    .unwrap();
    let jsonl = load(&plain[..], "x.jsonl", &LoadOptions::default()).unwrap();
    let records = |l: &ajuste_shared::Loaded| l.dataset.records().cloned().collect::<Vec<_>>();
    assert_eq!(records(&zipped), records(&jsonl));
    assert_eq!(records(&array), records(&jsonl));
    assert_eq!(zipped.container, Container::Jsonl);
}

#[test]
fn write_values_output_reads_back() {
    let loaded = load(
        &fixture("openai.jsonl")[..],
        "x.jsonl",
        &LoadOptions::default(),
    )
    .unwrap();
    let values: Vec<Value> = loaded
        .dataset
        .records()
        .map(|r| export_record(Format::Openai, r).unwrap())
        .collect();
    for container in [Container::Jsonl, Container::JsonArray] {
        let mut out = Vec::new();
        write_values(&mut out, container, values.clone()).unwrap();
        let back = load(&out[..], "out", &LoadOptions::default()).unwrap();
        assert_eq!(back.container, container);
        assert_eq!(
            back.dataset.records().cloned().collect::<Vec<_>>(),
            loaded.dataset.records().cloned().collect::<Vec<_>>()
        );
    }
    let mut out = Vec::new();
    write_values(&mut out, Container::Jsonl, values).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8(fixture("openai.jsonl")).unwrap()
    );
}

/// A small Parquet file written with the parquet crate's column writer.
fn parquet_file(compression: parquet::basic::Compression) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let schema = "message schema { REQUIRED BYTE_ARRAY instruction (UTF8); REQUIRED BYTE_ARRAY output (UTF8); }";
    let schema = Arc::new(parse_message_type(schema).unwrap());
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(compression)
            .build(),
    );
    let mut buf = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut buf, schema, props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let columns = [
        ["Say hi.", "Count to 3.", "Name a fruit."],
        ["hi", "1 2 3", "fig"],
    ];
    for column in columns {
        let values: Vec<ByteArray> = column.iter().map(|s| ByteArray::from(*s)).collect();
        let mut col = group.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(&values, None, None)
            .unwrap();
        col.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
    buf
}

#[test]
fn parquet_rows_are_records() {
    use parquet::basic::Compression;
    for compression in [Compression::UNCOMPRESSED, Compression::SNAPPY] {
        let data = parquet_file(compression);
        let loaded = load(&data[..], "train.parquet", &LoadOptions::default()).unwrap();
        assert_eq!(
            (loaded.container, loaded.format),
            (Container::Parquet, Format::Alpaca)
        );
        assert_eq!(loaded.report.valid, 3);
        let lines: Vec<usize> = loaded.dataset.items.iter().map(|i| i.source.line).collect();
        assert_eq!(lines, [1, 2, 3], "rows are numbered from 1");
        assert_eq!(loaded.dataset.items[2].record.turns()[1].2.content, "fig");
        // Cut off: the footer is gone, so the file cannot be opened at all.
        let cut = load(
            &data[..data.len() / 2],
            "train.parquet",
            &LoadOptions::default(),
        )
        .unwrap_err();
        assert_eq!(cut.code, Code::InvalidParquet);
    }
}
