//! Robustness: arbitrary bytes, truncated files, wrong types, huge lines, BOM and CRLF never
//! panic in `read_records` or `load`, and every finding names a 1-based line that exists and a
//! path that exists in the record.

mod formats_gen;

use ajuste_shared::container::{Container, read_records};
use ajuste_shared::formats::{Format, export_record, parse_record};
use ajuste_shared::{Code, Finding, LoadOptions, Severity, load};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Value, json};

/// 1-based number of the last line of `bytes`.
fn last_line(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Reads and loads `bytes` every way there is and checks the invariants of what comes out.
fn check_input(bytes: &[u8], name: &str) -> Result<(), TestCaseError> {
    // Lines only bound text; compressed or Parquet input has its own numbering.
    let binary = bytes.starts_with(&[0x1f, 0x8b]) || bytes.starts_with(b"PAR1");
    let bound = if binary { usize::MAX } else { last_line(bytes) };
    if let Ok((_, records)) = read_records(bytes, name) {
        for (i, r) in records.enumerate() {
            prop_assert_eq!(r.source.index, i);
            prop_assert!(
                (1..=bound).contains(&r.source.line),
                "line {} of {}",
                r.source.line,
                bound
            );
            if let Err(f) = &r.value {
                prop_assert!(f.line.is_some_and(|l| (1..=bound).contains(&l)), "{:?}", f);
                prop_assert_eq!(f.record, Some(i));
            }
        }
    }
    for format in std::iter::once(None).chain(Format::ALL.map(Some)) {
        match load(
            bytes,
            name,
            &LoadOptions {
                format,
                ..LoadOptions::default()
            },
        ) {
            Ok(loaded) => {
                let r = &loaded.report;
                prop_assert!(r.valid <= r.records);
                prop_assert_eq!(loaded.dataset.len(), r.valid);
                let errors = r
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .count();
                prop_assert_eq!(errors, r.errors);
                for f in &r.findings {
                    prop_assert!(f.line.is_some_and(|l| (1..=bound).contains(&l)), "{:?}", f);
                    prop_assert!(f.record.is_some_and(|i| i < r.records), "{:?}", f);
                }
            }
            Err(f) => {
                prop_assert_eq!(f.severity, Severity::Error);
                prop_assert_eq!((f.line, f.record), (None, None));
            }
        }
    }
    Ok(())
}

/// Every JSON pointer inside `v` (the root excluded).
fn pointers(v: &Value, base: &str, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, c)| (k.replace('~', "~0").replace('/', "~1"), c))
            .collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), c))
            .collect(),
        _ => return,
    };
    for (token, child) in children {
        let p = format!("{base}/{token}");
        out.push(p.clone());
        pointers(child, &p, out);
    }
}

/// Replaces (or, with `None`, removes) the value at `pointer`.
fn mutate(v: &mut Value, pointer: &str, with: Option<Value>) {
    let (parent, token) = pointer.rsplit_once('/').unwrap();
    let token = token.replace("~1", "/").replace("~0", "~");
    match (v.pointer_mut(parent), with) {
        (Some(Value::Object(m)), None) => {
            m.remove(&token);
        }
        (Some(Value::Array(a)), None) => {
            let i: usize = token.parse().unwrap();
            a.remove(i);
        }
        (Some(_), Some(new)) => *v.pointer_mut(pointer).unwrap() = new,
        // Parents of pointers are always containers.
        (_, _) => unreachable!("pointers come from the value"),
    }
}

/// A finding's path exists in the record (a missing field's parent does).
fn path_exists(record: &Value, f: &Finding) -> bool {
    if record.pointer(&f.path).is_some() {
        return true;
    }
    let parent = f.path.rsplit_once('/').map_or("", |(p, _)| p);
    f.code == Code::MissingField && record.pointer(parent).is_some()
}

/// A line of a generated JSONL file.
#[derive(Debug, Clone)]
enum Line {
    /// A JSON value (a record of some format, or any value that is not a list).
    Value(Value),
    /// A record cut short.
    Cut(String),
    /// Text that is mostly not JSON.
    Junk(String),
    /// Spaces and tabs only.
    Blank(String),
}

impl Line {
    fn text(&self) -> String {
        match self {
            Line::Value(v) => v.to_string(),
            Line::Cut(s) | Line::Junk(s) | Line::Blank(s) => s.clone(),
        }
    }
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        4 => formats_gen::any_record().prop_map(|(_, v)| Line::Value(v)),
        1 => formats_gen::any_json().prop_filter("a list first would read as a JSON array", |v| !v.is_array()).prop_map(Line::Value),
        2 => (formats_gen::any_record(), any::<Index>()).prop_filter_map("non-empty cut", |((_, v), at)| {
            let text = v.to_string();
            let mut cut = at.index(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            (cut > 0).then(|| Line::Cut(text[..cut].to_owned()))
        }),
        1 => "[a-zA-Z0-9 ,:\"{}]{1,40}".prop_filter("not blank", |s| !s.trim().is_empty()).prop_map(Line::Junk),
        1 => "[ \t]{0,4}".prop_map(Line::Blank),
    ]
}

const FIXTURES: [&str; 9] = [
    "sharegpt.jsonl",
    "sharegpt_array.json",
    "openai.jsonl",
    "openai_messages.csv",
    "alpaca.csv",
    "dpo.jsonl",
    "hh.jsonl",
    "kto.jsonl",
    "kto.tsv",
];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/formats/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..2048),
        name in select(vec!["x.jsonl", "x.json", "x.csv", "x.tsv", "x.parquet", "x.jsonl.gz", "data"]),
    ) {
        check_input(&bytes, name)?;
    }

    #[test]
    fn structured_text_never_panics(
        text in "[\\[\\]{}\",:\\\\ \n\r\ta-z0-9.-]{0,400}",
        bom in any::<bool>(),
        name in select(vec!["x.jsonl", "x.json", "x.csv", "x.tsv", "data"]),
    ) {
        let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        bytes.extend(text.as_bytes());
        check_input(&bytes, name)?;
    }

    #[test]
    fn truncated_files_never_panic(file in select(FIXTURES.to_vec()), at in any::<Index>()) {
        let bytes = fixture(file);
        check_input(&bytes[..at.index(bytes.len() + 1)], file)?;
    }

    #[test]
    fn gzip_of_anything_never_panics(text in "[{}\\[\\]\",:a-z \n]{0,200}", cut in any::<Index>()) {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let data = gz.finish().unwrap();
        check_input(&data[..cut.index(data.len() + 1)], "x.jsonl.gz")?;
    }

    /// Each non-blank line is one record that starts on that very line, with BOM, CRLF or not.
    #[test]
    fn jsonl_records_are_numbered_by_their_lines(
        lines in vec(line(), 0..24),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        trailing in any::<bool>(),
    ) {
        let texts: Vec<String> = lines.iter().map(Line::text).collect();
        let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        bytes.extend(texts.join(if crlf { "\r\n" } else { "\n" }).as_bytes());
        if trailing {
            bytes.extend(if crlf { &b"\r\n"[..] } else { &b"\n"[..] });
        }
        let expected: Vec<(usize, &String)> =
            texts.iter().enumerate().filter(|(_, t)| !t.trim().is_empty()).map(|(i, t)| (i + 1, t)).collect();
        match read_records(&bytes[..], "x.jsonl") {
            Err(f) => prop_assert!(expected.is_empty() && f.code == Code::EmptyFile, "{:?}", f),
            Ok((container, records)) => {
                prop_assert_eq!(container, Container::Jsonl);
                let records: Vec<_> = records.collect();
                prop_assert_eq!(records.len(), expected.len());
                for (r, (line, text)) in records.iter().zip(&expected) {
                    prop_assert_eq!(r.source.line, *line);
                    let same: Result<Value, _> = serde_json::from_str(text);
                    match (&r.value, same) {
                        (Ok(v), Ok(w)) => prop_assert_eq!(v, &w),
                        (Err(f), Err(_)) => prop_assert_eq!((f.code, f.line), (Code::InvalidJson, Some(*line))),
                        (got, want) => prop_assert!(false, "line {}: got {:?}, serde_json says {:?}", line, got, want),
                    }
                }
            }
        }
        check_input(&bytes, "x.jsonl")?;
    }

    /// Array elements start where they were written, pretty or compact, broken or not.
    #[test]
    fn json_array_elements_start_on_their_lines(
        elements in vec(prop_oneof![
            3 => formats_gen::any_record().prop_map(|(_, v)| Ok(v)),
            1 => "[a-z0-9 :]{1,12}".prop_filter("not blank", |s| !s.trim().is_empty()).prop_map(Err),
        ], 0..10),
        pretty in any::<bool>(),
        gaps in vec(0usize..3, 10),
    ) {
        let mut text = String::from("[");
        let mut starts = Vec::new();
        for (i, e) in elements.iter().enumerate() {
            text.push_str(&"\n".repeat(gaps[i]));
            text.push_str("  ");
            starts.push(last_line(text.as_bytes()));
            match e {
                Ok(v) if pretty => text.push_str(&serde_json::to_string_pretty(v).unwrap()),
                Ok(v) => text.push_str(&v.to_string()),
                Err(junk) => text.push_str(junk),
            }
            if i + 1 < elements.len() {
                text.push(',');
            }
        }
        text.push_str("\n]\n");
        let (container, records) = read_records(text.as_bytes(), "x.json").unwrap();
        prop_assert_eq!(container, Container::JsonArray);
        let records: Vec<_> = records.collect();
        prop_assert_eq!(records.len(), elements.len(), "{}", text);
        for ((r, e), start) in records.iter().zip(&elements).zip(&starts) {
            prop_assert_eq!(r.source.line, *start);
            if let Ok(v) = e {
                prop_assert_eq!(r.value.as_ref().ok(), Some(v));
            }
        }
        check_input(text.as_bytes(), "x.json")?;
    }

    /// A field of any record replaced by any value (or removed) gives findings, never a panic,
    /// and every finding names a path that exists in the record.
    #[test]
    fn wrong_types_are_findings_with_real_paths(
        (format, record) in formats_gen::any_record(),
        at in any::<Index>(),
        with in proptest::option::of(formats_gen::any_json()),
    ) {
        let mut v = record;
        let mut all = Vec::new();
        pointers(&v, "", &mut all);
        if !all.is_empty() {
            mutate(&mut v, &all[at.index(all.len())], with);
        }
        match parse_record(format, &v) {
            Ok((rec, warnings)) => {
                for f in &warnings {
                    prop_assert!(f.severity != Severity::Error && path_exists(&v, f), "{:?} in {}", f, v);
                }
                let _ = export_record(format, &rec);
            }
            Err(findings) => {
                prop_assert!(findings.iter().any(|f| f.severity == Severity::Error));
                for f in &findings {
                    prop_assert!(!f.message.is_empty() && path_exists(&v, f), "{:?} in {}", f, v);
                }
            }
        }
        let line = format!("{v}\n");
        let loaded = load(line.as_bytes(), "x.jsonl", &LoadOptions { format: Some(format), ..LoadOptions::default() }).unwrap();
        for f in &loaded.report.findings {
            prop_assert!(path_exists(&v, f), "{:?} in {}", f, v);
            prop_assert_eq!((f.line, f.record), (Some(1), Some(0)));
        }
    }

    /// A BOM and CRLF line ends change nothing about the records or the findings.
    #[test]
    fn bom_and_crlf_change_nothing((format, records) in select(Format::ALL.to_vec())
        .prop_flat_map(|f| vec(formats_gen::record_of(f), 1..8).prop_map(move |r| (f, r))))
    {
        let lf: String = records.iter().map(|r| format!("{r}\n\n")).collect();
        let crlf = format!("\u{feff}{}", lf.replace('\n', "\r\n"));
        let opts = LoadOptions { format: Some(format), ..LoadOptions::default() };
        let a = load(lf.as_bytes(), "x.jsonl", &opts).unwrap();
        let b = load(crlf.as_bytes(), "x.jsonl", &opts).unwrap();
        prop_assert_eq!(a.dataset.items, b.dataset.items);
        prop_assert_eq!(a.report, b.report);
    }
}

#[test]
fn huge_lines_are_read_whole() {
    let long = "word ".repeat(2_000_000);
    let record = json!({"messages": [{"role": "user", "content": "Summarise:"}, {"role": "assistant", "content": long}]});
    let data = format!("{record}\n{record}\n");
    let loaded = load(data.as_bytes(), "big.jsonl", &LoadOptions::default()).unwrap();
    assert_eq!((loaded.report.records, loaded.report.valid), (2, 2));
    assert_eq!(loaded.dataset.items[1].source.line, 2);
    assert_eq!(
        loaded.dataset.items[0].record.turns()[1].2.content.len(),
        long.len()
    );
}

#[test]
fn a_file_of_broken_lines_is_an_unknown_format_with_the_first_problem() {
    let data = "{\"a\": \n\n{oops\n";
    let err = load(data.as_bytes(), "x.jsonl", &LoadOptions::default()).unwrap_err();
    assert_eq!(err.code, Code::UnknownFormat);
    assert!(err.message.contains("line 1"), "{}", err.message);
    // With the format given, each broken line is a finding at its own line.
    let loaded = load(
        data.as_bytes(),
        "x.jsonl",
        &LoadOptions {
            format: Some(Format::Openai),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let lines: Vec<_> = loaded.report.findings.iter().map(|f| f.line).collect();
    assert_eq!(lines, [Some(1), Some(3)]);
}
