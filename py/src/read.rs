//! Reading inputs the way the local loader does, so a distributed run sees the same records.
//!
//! JSONL, the common case, is split into lines by the driver (streaming, any file size) and each
//! line is decided here by [`line_value`] with the rules of ajuste's JSONL reader. Every other
//! container (JSON array, CSV/TSV, Parquet, gzip of any of them) is read whole by
//! [`read_container`] with ajuste's own reader, one task per file. Both produce `(id, line)`
//! rows: `id` is [`record_id`] of the file and the record's place in it, `line` the record's
//! JSON text (null when the record cannot be read, so it is counted but never kept).

use std::sync::Arc;

use ajuste_shared::container::{self, Container, MAX_LINE_BYTES};
use ajuste_shared::formats::{self, Format};
use arrow_array::{ArrayRef, LargeBinaryArray, RecordBatch};
use serde_json::Value;

use crate::columns::{self, Bytes};
use crate::error::{KernelError, Result};

/// Column of record ids in read and prepared tables.
pub const ID: &str = "id";
/// Column of raw record text in read tables.
pub const LINE: &str = "line";

/// Bits of a record id that hold the record's place in its file.
pub const INDEX_BITS: u32 = 40;
/// Files a run can name (ids keep 24 bits for the file).
pub const MAX_FILES: u64 = 1 << 24;

/// The id of record `index` of file `file`: ids sort like (file, index), which is all the
/// stages need; positions are assigned at the end by [`crate::cluster::cluster`].
pub fn record_id(file: u64, index: u64) -> Result<u64> {
    if file >= MAX_FILES || index >= 1 << INDEX_BITS {
        return Err(KernelError::IdOverflow { file, index });
    }
    Ok(file << INDEX_BITS | index)
}

/// What one JSONL line is, by the rules of ajuste's JSONL reader.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// Only (ASCII) whitespace: not a record at all.
    Blank,
    /// A record that cannot be read (not JSON, or longer than the reader's limit).
    Broken,
    /// A record's JSON value.
    Value(Value),
}

/// Decides one line as read from the file, with its `\n` if it had one: longer than
/// [`MAX_LINE_BYTES`] (newline included) is broken, then the `\n` and one `\r` go, a line of
/// whitespace is blank, and the rest must parse as JSON.
pub fn line_value(raw: &[u8]) -> Line {
    let overflow = raw.len() > MAX_LINE_BYTES;
    let text = raw.strip_suffix(b"\n").unwrap_or(raw);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if overflow {
        return Line::Broken;
    }
    if text.iter().all(u8::is_ascii_whitespace) {
        return Line::Blank;
    }
    match serde_json::from_slice(text) {
        Ok(v) => Line::Value(v),
        Err(_) => Line::Broken,
    }
}

/// The container of a file from its first bytes (at least 64 KiB, or the whole file when it
/// is shorter) and its name, or the whole-file problem the local loader would report
/// (`empty-file`, `not-text`, ...). Parquet is recognised by its magic bytes alone.
pub fn container_of(head: &[u8], name: &str) -> Result<Container> {
    if head.starts_with(b"PAR1") {
        return Ok(Container::Parquet);
    }
    container::read_records(head, name)
        .map(|(c, _)| c)
        .map_err(|f| file_error(name, &f))
}

/// The error for a whole-file finding.
fn file_error(name: &str, f: &ajuste_shared::Finding) -> KernelError {
    KernelError::File {
        name: name.to_owned(),
        code: f.code.as_str(),
        message: f.message.clone(),
    }
}

/// Every record of a whole file (any container ajuste reads), as `(id, line)` rows with ids
/// for file number `file`; `line` is the record's JSON text, null for a record that cannot be
/// read.
pub fn read_container(bytes: &[u8], name: &str, file: u64) -> Result<RecordBatch> {
    let (_, records) = container::read_records(bytes, name).map_err(|f| file_error(name, &f))?;
    let (mut ids, mut lines) = (Vec::new(), Vec::new());
    for raw in records {
        ids.push(record_id(file, raw.source.index as u64)?);
        lines.push(raw.value.ok().map(|v| v.to_string().into_bytes()));
    }
    let lines: LargeBinaryArray = lines.iter().map(|l| l.as_deref()).collect();
    columns::batch(
        vec![
            (ID, columns::u64_array(ids)),
            (LINE, Arc::new(lines) as ArrayRef),
        ],
        &Default::default(),
    )
}

/// Parseable records the local loader looks at to detect the format, and records it reads
/// ahead at most to find them.
const DETECT_SAMPLE: usize = 32;
const DETECT_LOOKAHEAD: usize = 4096;

/// The format of a file from its first rows (`line` column, in file order), as the local
/// loader decides it: a vote of the first 32 parseable records among the first 4096.
pub fn detect_format(batches: &[RecordBatch]) -> Result<Format> {
    let mut sample = Vec::new();
    let mut records = 0;
    'rows: for batch in batches {
        let lines = Bytes::of(batch, LINE)?;
        for i in 0..batch.num_rows() {
            if sample.len() >= DETECT_SAMPLE || records >= DETECT_LOOKAHEAD {
                break 'rows;
            }
            match lines.get(i).map(line_value) {
                Some(Line::Blank) => continue,
                Some(Line::Value(v)) => sample.push(v),
                Some(Line::Broken) | None => {}
            }
            records += 1;
        }
    }
    formats::detect(&sample).ok_or_else(|| undetected(&sample, records))
}

/// The `unknown-format` error, naming what was seen.
fn undetected(sample: &[Value], records: usize) -> KernelError {
    let message = match sample.iter().find_map(Value::as_object) {
        Some(obj) => {
            let keys: Vec<&str> = obj.keys().map(String::as_str).take(12).collect();
            format!(
                "no known dataset format matches the fields of the first records (fields: {})",
                keys.join(", ")
            )
        }
        None if records == 0 => "the file holds no records".to_owned(),
        None if sample.is_empty() => format!(
            "none of the first {records} records could be read, so the format cannot be detected"
        ),
        None => "the records are not JSON objects, so no dataset format matches".to_owned(),
    };
    KernelError::File {
        name: "input".to_owned(),
        code: if records == 0 {
            "empty-file"
        } else {
            "unknown-format"
        },
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_follow_the_jsonl_reader() {
        assert_eq!(line_value(b"{\"a\":1}\r\n"), Line::Value(json!({"a": 1})));
        assert_eq!(line_value(b"{\"a\":1}"), Line::Value(json!({"a": 1})));
        assert_eq!(line_value(b"  \t\r\n"), Line::Blank);
        assert_eq!(line_value(b""), Line::Blank);
        assert_eq!(line_value(b"{bad\n"), Line::Broken);
        // A vertical tab is not ASCII whitespace to the reader: a broken record, not a blank.
        assert_eq!(line_value(b"\x0b\n"), Line::Broken);
    }

    #[test]
    fn ids_sort_like_file_then_index() {
        let a = record_id(0, (1 << INDEX_BITS) - 1).unwrap();
        let b = record_id(1, 0).unwrap();
        assert!(a < b);
        assert!(matches!(
            record_id(0, 1 << INDEX_BITS),
            Err(KernelError::IdOverflow { .. })
        ));
        assert!(record_id(MAX_FILES, 0).is_err());
    }

    #[test]
    fn whole_files_keep_every_record_and_its_index() {
        let data = b"[{\"a\": 1}, {\"a\": }, {\"b\": 2}]";
        let batch = read_container(data, "x.json", 2).unwrap();
        assert_eq!(
            columns::u64s(&batch, ID).unwrap(),
            [
                2 << INDEX_BITS,
                (2 << INDEX_BITS) + 1,
                (2 << INDEX_BITS) + 2
            ]
        );
        let lines = Bytes::of(&batch, LINE).unwrap();
        assert_eq!(lines.get(0), Some(&b"{\"a\":1}"[..]));
        assert_eq!(lines.get(1), None);
        let csv = read_container(b"instruction,output\nq,a\n", "x.csv", 0).unwrap();
        let lines = Bytes::of(&csv, LINE).unwrap();
        assert_eq!(
            lines.get(0),
            Some(&b"{\"instruction\":\"q\",\"output\":\"a\"}"[..])
        );
        let err = read_container(b"", "x.jsonl", 0).unwrap_err();
        assert!(err.to_string().contains("empty-file"), "{err}");
    }

    #[test]
    fn containers_from_the_first_bytes() {
        assert_eq!(
            container_of(b"{\"a\":1}\n", "x.json").unwrap(),
            Container::Jsonl
        );
        assert_eq!(
            container_of(b"[{\"a\":1}]", "x.jsonl").unwrap(),
            Container::JsonArray
        );
        assert_eq!(container_of(b"PAR1", "x").unwrap(), Container::Parquet);
        assert!(container_of(b"{\"a\":\x00}", "x.jsonl").is_err());
    }

    #[test]
    fn detection_votes_like_the_loader() {
        let lines: LargeBinaryArray = [
            Some(&b"\n"[..]),
            Some(&b"not json\n"[..]),
            Some(&b"{\"instruction\": \"q\", \"output\": \"a\"}\n"[..]),
        ]
        .into_iter()
        .collect();
        let batch = columns::batch(
            vec![
                (ID, columns::u64_array(vec![0, 1, 2])),
                (LINE, Arc::new(lines) as ArrayRef),
            ],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(detect_format(&[batch]).unwrap(), Format::Alpaca);
        let lines: LargeBinaryArray = [Some(&b"{\"question\": 1}"[..])].into_iter().collect();
        let batch = columns::batch(
            vec![
                (ID, columns::u64_array(vec![0])),
                (LINE, Arc::new(lines) as ArrayRef),
            ],
            &Default::default(),
        )
        .unwrap();
        let err = detect_format(&[batch]).unwrap_err().to_string();
        assert!(err.contains("fields: question"), "{err}");
    }
}
