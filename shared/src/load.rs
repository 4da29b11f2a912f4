//! One pass over an input: container, format detection, parsing, checks, report.
//!
//! Every record either comes out (with its [`Source`](crate::record::Source)) or is counted as
//! dropped with the findings that explain why; every finding has its line and record filled in
//! and a path into the source record's own fields.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codes::Code;
use crate::container::{Container, RawRecord, read_records};
use crate::diagnostic::{Finding, Severity};
use crate::formats::{FieldMap, Format, detect, detect_one, parse_record, source_pointer};
use crate::record::{Dataset, Item};
use crate::validate::{Report, check_record};

/// How to load an input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// The format to read; detected from the first records when `None`.
    pub format: Option<Format>,
    /// Fields and roles renamed on every record before detection and parsing.
    #[serde(default)]
    pub fields: FieldMap,
}

/// Everything one pass over an input yields. Records with any Error-severity finding are dropped
/// and counted; all others are kept with their Source. Findings get line + record filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub container: Container,
    pub format: Format,
    pub dataset: Dataset,
    pub report: Report,
}

/// Parseable records looked at to detect the format.
const DETECT_SAMPLE: usize = 32;
/// Records read ahead at most while looking for that sample (so a file of broken lines is not
/// buffered whole).
const DETECT_LOOKAHEAD: usize = 4096;

/// Detects the format from the first up-to-32 parseable records unless opts.format is set, then
/// parses, checks and collects. Err only for whole-file problems (including unknown-format).
pub fn load<R: std::io::Read>(
    reader: R,
    name: &str,
    opts: &LoadOptions,
) -> Result<Loaded, Finding> {
    let mut items = Vec::new();
    let mut loaded = load_streaming(reader, name, opts, |item| items.push(item))?;
    loaded.dataset.items = items;
    Ok(loaded)
}

/// The same single pass, but records are handed to `on_item` instead of being collected
/// (constant memory in the number of records; `Loaded.dataset` comes back empty). Findings are
/// still collected in the report.
pub fn load_streaming<R: std::io::Read>(
    reader: R,
    name: &str,
    opts: &LoadOptions,
    on_item: impl FnMut(Item),
) -> Result<Loaded, Finding> {
    let (container, records) = read_records(reader, name)?;
    load_records(container, records, name, opts, on_item)
}

/// The same pass over records already read from a container (by
/// [`read_records`](crate::container::read_records)). Callers that change records between
/// reading and parsing (the studio applies a user's fixes to the source JSON) use this; record
/// numbers and lines stay those of the input, so a record left out keeps the others' numbers.
pub fn load_records(
    container: Container,
    records: impl Iterator<Item = RawRecord>,
    name: &str,
    opts: &LoadOptions,
    mut on_item: impl FnMut(Item),
) -> Result<Loaded, Finding> {
    let map = &opts.fields;
    let mut records = records.map(|raw| rename(map, raw));
    let mut ahead = Vec::new();
    let format = match opts.format {
        Some(format) => format,
        None => detect_format(&mut records, &mut ahead)?,
    };
    let mut report = Report::new(format);
    for raw in ahead.into_iter().chain(records) {
        take(format, map, raw, &mut report, &mut on_item);
    }
    if report.records == 0 {
        return Err(Finding::new(Code::EmptyFile, "the file holds no records"));
    }
    let dataset = Dataset {
        name: name.to_owned(),
        items: Vec::new(),
    };
    Ok(Loaded {
        container,
        format,
        dataset,
        report,
    })
}

/// Reads ahead until the sample is full and votes; the records read stay in `ahead`.
fn detect_format(
    records: &mut dyn Iterator<Item = RawRecord>,
    ahead: &mut Vec<RawRecord>,
) -> Result<Format, Finding> {
    let mut sample: Vec<Value> = Vec::new();
    while sample.len() < DETECT_SAMPLE && ahead.len() < DETECT_LOOKAHEAD {
        let Some(raw) = records.next() else { break };
        if let Ok(value) = &raw.value {
            sample.push(value.clone());
        }
        ahead.push(raw);
    }
    if let Some(format) = detect(&sample) {
        return Ok(format);
    }
    Err(undetected(&sample, ahead))
}

/// The `unknown-format` finding, saying what was seen instead.
fn undetected(sample: &[Value], ahead: &[RawRecord]) -> Finding {
    if ahead.is_empty() {
        return Finding::new(Code::EmptyFile, "the file holds no records");
    }
    let message = match sample.iter().find_map(Value::as_object) {
        Some(obj) => {
            let keys: Vec<&str> = obj.keys().map(String::as_str).take(12).collect();
            format!(
                "no known dataset format matches the fields of the first records (fields: {})",
                keys.join(", ")
            )
        }
        None => match ahead.iter().find_map(|r| r.value.as_ref().err()) {
            Some(first) if sample.is_empty() => format!(
                "none of the first {} records could be read, so the format cannot be detected (line {}: {})",
                ahead.len(),
                first.line.unwrap_or(0),
                first.message
            ),
            _ => "the records are not JSON objects, so no dataset format matches".to_owned(),
        },
    };
    Finding::new(Code::UnknownFormat, message)
}

/// The record with `map`'s renames; a rename that would lose a value makes it unreadable.
fn rename(map: &FieldMap, mut raw: RawRecord) -> RawRecord {
    if !map.is_empty() {
        raw.value = raw.value.and_then(|value| map.apply(value));
    }
    raw
}

/// Parses, checks and counts one raw record; hands it on when it has no error.
fn take(
    format: Format,
    map: &FieldMap,
    raw: RawRecord,
    report: &mut Report,
    on_item: &mut impl FnMut(Item),
) {
    report.records += 1;
    let source = raw.source;
    let at = |f: Finding| {
        let line = f.line.unwrap_or(source.line);
        f.at(line, source.index)
    };
    // The record could not be read (or renamed): its finding already names the user's field.
    let value = match raw.value {
        Ok(value) => value,
        Err(finding) => return report.push(at(finding)),
    };
    // Findings of the parser and the checks: back to the user's own field names.
    let place = |f: Finding| {
        let path = map.source_path(&f.path);
        at(f.path(path))
    };
    match parse_record(format, &value) {
        Err(findings) => {
            let findings = match mixed_kinds(format, &value) {
                Some(f) => vec![f],
                None => findings,
            };
            findings.into_iter().for_each(|f| report.push(place(f)));
        }
        Ok((record, warnings)) => {
            let checks = check_record(&record).into_iter().map(|f| {
                let path = source_pointer(format, &value, &record, &f.path);
                f.path(path)
            });
            let findings: Vec<Finding> = warnings.into_iter().chain(checks).map(place).collect();
            let keep = !findings.iter().any(|f| f.severity == Severity::Error);
            findings.into_iter().for_each(|f| report.push(f));
            if keep {
                report.valid += 1;
                on_item(Item { source, record });
            }
        }
    }
}

/// `mixed-kinds` when a record that failed to parse is of another kind than the file's format.
fn mixed_kinds(format: Format, value: &Value) -> Option<Finding> {
    let other = detect_one(value)?;
    (other.kind() != format.kind()).then(|| {
        Finding::new(
            Code::MixedKinds,
            format!(
                "the record looks like {} data ({other}), but the file holds {} records ({format})",
                other.kind(),
                format.kind()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Role;

    #[test]
    fn detects_parses_and_counts() {
        let data = b"{\"conversations\": [{\"from\": \"human\", \"value\": \"hi\"}, {\"from\": \"gpt\", \"value\": \"hello\"}]}\n\
                     {\"conversations\": [{\"from\": \"robot\", \"value\": \"x\"}]}\n\
                     not json\n\
                     {\"conversations\": [{\"from\": \"human\", \"value\": \"\"}, {\"from\": \"gpt\", \"value\": \"ok\"}]}\n";
        let loaded = load(&data[..], "x.jsonl", &LoadOptions::default()).unwrap();
        assert_eq!(
            (loaded.container, loaded.format),
            (Container::Jsonl, Format::Sharegpt)
        );
        let r = &loaded.report;
        assert_eq!((r.records, r.valid, r.errors, r.warnings), (4, 2, 2, 1));
        let found: Vec<(Code, Option<usize>, Option<usize>, &str)> = r
            .findings
            .iter()
            .map(|f| (f.code, f.line, f.record, f.path.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (Code::UnknownRole, Some(2), Some(1), "/conversations/0/from"),
                (Code::InvalidJson, Some(3), Some(2), ""),
                (
                    Code::EmptyContent,
                    Some(4),
                    Some(3),
                    "/conversations/0/value"
                ),
            ]
        );
        let lines: Vec<usize> = loaded.dataset.items.iter().map(|i| i.source.line).collect();
        assert_eq!(lines, [1, 4]);
    }

    #[test]
    fn records_of_another_kind_are_mixed_kinds() {
        let data = b"{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"c\"}\n{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n";
        let loaded = load(&data[..], "x.jsonl", &LoadOptions::default()).unwrap();
        assert_eq!(loaded.format, Format::Dpo);
        assert_eq!(loaded.report.findings.len(), 1);
        assert_eq!(loaded.report.findings[0].code, Code::MixedKinds);
    }

    #[test]
    fn whole_file_failures() {
        let err = load(
            &b"{\"question\": 1}\n"[..],
            "x.jsonl",
            &LoadOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.code, Code::UnknownFormat);
        assert!(err.message.contains("fields: question"), "{}", err.message);
        let err = load(&b"nope\n"[..], "x.jsonl", &LoadOptions::default()).unwrap_err();
        assert!(err.message.contains("line 1"), "{}", err.message);
        let err = load(&b"[]"[..], "x.json", &LoadOptions::default()).unwrap_err();
        assert_eq!(err.code, Code::EmptyFile);
        let opts = LoadOptions {
            format: Some(Format::Openai),
            ..LoadOptions::default()
        };
        let err = load(&b"[]"[..], "x.json", &opts).unwrap_err();
        assert_eq!(err.code, Code::EmptyFile);
    }

    #[test]
    fn a_field_map_turns_a_dialect_into_a_format_and_findings_name_the_users_fields() {
        let csv = "question,answer,context\nWhat is 2+2?,4,\nName a colour.,,\n";
        let err = load(csv.as_bytes(), "qa.csv", &LoadOptions::default()).unwrap_err();
        assert_eq!(err.code, Code::UnknownFormat);
        let fields = FieldMap::parse_pairs("question=instruction, answer=output, context=input");
        let opts = LoadOptions {
            fields: FieldMap::new(fields.unwrap(), vec![]).unwrap(),
            ..LoadOptions::default()
        };
        let loaded = load(csv.as_bytes(), "qa.csv", &opts).unwrap();
        assert_eq!(
            (loaded.format, loaded.report.records, loaded.report.valid),
            (Format::Alpaca, 2, 2)
        );
        let finding = &loaded.report.findings[0];
        assert_eq!(
            (finding.code, finding.line, finding.path.as_str()),
            (Code::EmptyContent, Some(3), "/answer")
        );

        let chat = br#"{"messages": [{"role": "customer", "content": "hi"}, {"role": "agent", "content": "hello"}]}"#;
        let opts = LoadOptions {
            fields: FieldMap::new(
                vec![],
                FieldMap::parse_pairs("customer=user,agent=assistant").unwrap(),
            )
            .unwrap(),
            ..LoadOptions::default()
        };
        let loaded = load(&chat[..], "chat.jsonl", &opts).unwrap();
        assert_eq!((loaded.report.valid, loaded.report.findings.len()), (1, 0));
        let roles: Vec<Role> = loaded.dataset.items[0]
            .record
            .turns()
            .iter()
            .map(|(_, _, m)| m.role)
            .collect();
        assert_eq!(roles, [Role::User, Role::Assistant]);
    }

    #[test]
    fn a_forced_format_reads_everything_as_that_format() {
        let data = b"{\"instruction\": \"q\", \"output\": \"a\"}\n";
        let opts = LoadOptions {
            format: Some(Format::Openai),
            ..LoadOptions::default()
        };
        let loaded = load(&data[..], "x.jsonl", &opts).unwrap();
        assert_eq!(loaded.report.valid, 0);
        assert_eq!(loaded.report.findings[0].code, Code::MissingField);
    }

    #[test]
    fn records_changed_between_reading_and_parsing_keep_their_numbers() {
        let data = b"{\"instruction\": \"q\", \"output\": \"a\"}\n{\"instruction\": \"q2\", \"output\": 3}\n{\"instruction\": \"q3\", \"output\": \"a3\"}\n";
        let (container, records) = read_records(&data[..], "x.jsonl").unwrap();
        // Leave the first record out and fix the second one's output.
        let records = records.skip(1).map(|mut raw| {
            if let Ok(Value::Object(map)) = &mut raw.value {
                map.entry("output")
                    .and_modify(|v| *v = Value::from("fixed"));
            }
            raw
        });
        let mut kept = Vec::new();
        let loaded = load_records(
            container,
            records,
            "x.jsonl",
            &LoadOptions::default(),
            |i| kept.push((i.source.index, i.source.line)),
        )
        .unwrap();
        assert_eq!(loaded.report.records, 2);
        assert_eq!(loaded.report.valid, 2, "{:?}", loaded.report.findings);
        assert_eq!(kept, [(1, 2), (2, 3)]);
    }

    #[test]
    fn streaming_hands_items_over_and_keeps_nothing() {
        let data = b"{\"instruction\": \"q\", \"output\": \"a\"}\n{\"instruction\": \"q2\", \"output\": \"a2\"}\n";
        let mut seen = Vec::new();
        let loaded = load_streaming(&data[..], "x.jsonl", &LoadOptions::default(), |i| {
            seen.push(i.source.line)
        })
        .unwrap();
        assert!(loaded.dataset.is_empty());
        assert_eq!(seen, [1, 2]);
        assert_eq!(loaded.report.valid, 2);
    }
}
