//! One fixture per finding code that loading emits (`tests/fixtures/validate/<code>.*`): the
//! code comes out with the right line, record and path, and the records around it are kept.

use ajuste_shared::{Code, LoadOptions, Severity, load};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/validate/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (file, code, line, record, path) of a finding about one record.
const RECORD_CASES: &[(&str, Code, usize, usize, &str)] = &[
    ("invalid-json.jsonl", Code::InvalidJson, 3, 1, ""),
    ("invalid-csv.csv", Code::InvalidCsv, 3, 1, ""),
    ("read-error.jsonl.gz", Code::ReadError, 40, 39, ""),
    ("not-an-object.jsonl", Code::NotAnObject, 2, 1, ""),
    ("missing-field.jsonl", Code::MissingField, 2, 1, "/output"),
    ("wrong-type.jsonl", Code::WrongType, 2, 1, "/instruction"),
    (
        "unknown-role.jsonl",
        Code::UnknownRole,
        2,
        1,
        "/conversations/1/from",
    ),
    ("label-not-bool.jsonl", Code::LabelNotBool, 2, 1, "/label"),
    ("dropped-field.jsonl", Code::DroppedField, 2, 1, "/messages"),
    (
        "non-text-content.jsonl",
        Code::NonTextContent,
        2,
        1,
        "/messages/0/content/1",
    ),
    (
        "bad-turn-markers.jsonl",
        Code::BadTurnMarkers,
        3,
        2,
        "/rejected",
    ),
    (
        "prompt-mismatch.jsonl",
        Code::PromptMismatch,
        2,
        1,
        "/rejected",
    ),
    (
        "empty-content.jsonl",
        Code::EmptyContent,
        2,
        1,
        "/conversations/1/value",
    ),
    ("empty-record.jsonl", Code::EmptyRecord, 2, 1, "/messages"),
    (
        "bad-turn-order.jsonl",
        Code::BadTurnOrder,
        2,
        1,
        "/conversations/1/from",
    ),
    (
        "no-assistant-turn.jsonl",
        Code::NoAssistantTurn,
        2,
        1,
        "/conversations",
    ),
    (
        "chosen-equals-rejected.jsonl",
        Code::ChosenEqualsRejected,
        2,
        1,
        "/rejected",
    ),
    ("mixed-kinds.jsonl", Code::MixedKinds, 3, 2, ""),
];

/// (file, code) of problems with the whole file.
const FILE_CASES: &[(&str, Code)] = &[
    ("empty-file.jsonl", Code::EmptyFile),
    ("not-text.jsonl", Code::NotText),
    ("invalid-parquet.parquet", Code::InvalidParquet),
    ("unknown-format.jsonl", Code::UnknownFormat),
];

#[test]
fn each_record_code_is_reported_at_its_line_record_and_path() {
    for &(file, code, line, record, path) in RECORD_CASES {
        let loaded = load(&fixture(file)[..], file, &LoadOptions::default())
            .unwrap_or_else(|f| panic!("{file}: {f:?}"));
        let report = &loaded.report;
        let hits: Vec<_> = report.findings.iter().filter(|f| f.code == code).collect();
        assert_eq!(hits.len(), 1, "{file}: {:?}", report.findings);
        let f = hits[0];
        assert_eq!(
            (f.line, f.record, f.path.as_str()),
            (Some(line), Some(record), path),
            "{file}"
        );
        assert_eq!(f.severity, code.severity(), "{file}");
        assert!(!f.message.is_empty());
        // Every other record of the fixture is kept; the one at fault only when the code is not an error.
        let dropped = usize::from(code.severity() == Severity::Error);
        assert_eq!(
            report.valid,
            report.records - dropped,
            "{file}: {:?}",
            report.findings
        );
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.line.is_some() && f.record.is_some()),
            "{file}"
        );
    }
}

#[test]
fn each_file_code_is_a_whole_file_error() {
    for &(file, code) in FILE_CASES {
        let err = load(&fixture(file)[..], file, &LoadOptions::default()).unwrap_err();
        assert_eq!(err.code, code, "{file}: {err:?}");
        assert_eq!((err.line, err.record), (None, None), "{file}");
        assert_eq!(err.severity, Severity::Error);
    }
}

#[test]
fn every_loading_code_has_a_fixture() {
    let covered: Vec<Code> = RECORD_CASES
        .iter()
        .map(|c| c.1)
        .chain(FILE_CASES.iter().map(|c| c.1))
        .collect();
    let emitted = [
        Code::EmptyFile,
        Code::NotText,
        Code::InvalidJson,
        Code::InvalidCsv,
        Code::InvalidParquet,
        Code::UnknownFormat,
        Code::ReadError,
        Code::NotAnObject,
        Code::MissingField,
        Code::WrongType,
        Code::UnknownRole,
        Code::LabelNotBool,
        Code::DroppedField,
        Code::NonTextContent,
        Code::BadTurnMarkers,
        Code::PromptMismatch,
        Code::EmptyContent,
        Code::EmptyRecord,
        Code::BadTurnOrder,
        Code::NoAssistantTurn,
        Code::ChosenEqualsRejected,
        Code::MixedKinds,
    ];
    for code in emitted {
        assert!(covered.contains(&code), "no fixture for {code}");
        let dir = format!("{}/tests/fixtures/validate", env!("CARGO_MANIFEST_DIR"));
        let named = std::fs::read_dir(&dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{}.", code.as_str()))
        });
        assert!(named, "the fixture for {code} is named after it");
    }
}

#[test]
fn the_report_serialises_in_the_documented_shape() {
    let loaded = load(
        &fixture("unknown-role.jsonl")[..],
        "unknown-role.jsonl",
        &LoadOptions::default(),
    )
    .unwrap();
    let value = serde_json::to_value(&loaded.report).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "format", "kind", "records", "valid", "errors", "warnings", "findings"
        ]
    );
    let finding = &value["findings"][0];
    let keys: Vec<&str> = finding
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "severity", "code", "line", "record", "path", "message", "hint"
        ]
    );
    assert_eq!(value["format"], "sharegpt");
    assert_eq!(value["kind"], "sft");
    assert_eq!(
        (
            value["records"].as_u64(),
            value["valid"].as_u64(),
            value["errors"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
}
