//! Stage "parse": from `(id, line)` rows to one row per record the local loader keeps, with
//! what every later stage needs from it.
//!
//! Output columns: `id`; `key_hi`, `key_lo` (the 128-bit exact key of the matching text, as two
//! `u64`); `text` (the matching text, [`record_text`]: normalised turns with role marks, what
//! MinHash and the exact Jaccard are computed on); `out` (the record written back in the input's
//! format, one JSON line, as `ajuste data dedup -o` writes it; null when the format cannot hold
//! it, with the reason in `out_error`).

use std::sync::Arc;

use ajuste_shared::Severity;
use ajuste_shared::dedup::{exact_key, record_text_into};
use ajuste_shared::formats::{self, Format};
use ajuste_shared::record::Record;
use ajuste_shared::validate::check_record;
use arrow_array::{ArrayRef, LargeStringArray, RecordBatch};
use serde_json::Value;

use crate::columns::{self, Bytes};
use crate::error::Result;
use crate::read::{ID, LINE, Line, line_value};

/// Output column: the record's matching text.
pub const TEXT: &str = "text";
/// Output columns: the exact key, high and low 64 bits.
pub const KEY_HI: &str = "key_hi";
pub const KEY_LO: &str = "key_lo";
/// Output column: the record as one JSON line in the input's format.
pub const OUT: &str = "out";
/// Output column: why `out` is null.
pub const OUT_ERROR: &str = "out_error";

/// The record `value` is, when the local loader would keep it: it parses in `format` and
/// neither parsing nor the record checks found an error (warnings do not drop a record).
///
/// This is the decision of [`load`]'s per-record step; the tests hold the two together.
pub fn accept(format: Format, value: &Value) -> Option<Record> {
    let (record, warnings) = formats::parse_record(format, value).ok()?;
    let error = |f: &ajuste_shared::Finding| f.severity == Severity::Error;
    if warnings.iter().any(error) || check_record(&record).iter().any(error) {
        return None;
    }
    Some(record)
}

/// The exact key split in two `u64`s (Arrow has no 128-bit unsigned integers).
pub fn split_key(key: u128) -> (u64, u64) {
    ((key >> 64) as u64, key as u64)
}

/// Stage "parse" over `(id, line)` rows: one output row per kept record, in input order.
pub fn prepare(batch: &RecordBatch, format: Format) -> Result<RecordBatch> {
    let ids = columns::u64s(batch, ID)?;
    let lines = Bytes::of(batch, LINE)?;
    let mut out_ids = Vec::new();
    let (mut key_hi, mut key_lo) = (Vec::new(), Vec::new());
    let (mut texts, mut outs, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    let mut text = String::new();
    for (i, &id) in ids.iter().enumerate() {
        let Some(Line::Value(value)) = lines.get(i).map(line_value) else {
            continue;
        };
        let Some(record) = accept(format, &value) else {
            continue;
        };
        record_text_into(&record, &mut text);
        let (hi, lo) = split_key(exact_key(&text));
        out_ids.push(id);
        key_hi.push(hi);
        key_lo.push(lo);
        texts.push(text.clone());
        match formats::export_record(format, &record) {
            Ok(v) => {
                outs.push(Some(v.to_string()));
                errors.push(None);
            }
            Err(e) => {
                outs.push(None);
                errors.push(Some(e.to_string()));
            }
        }
    }
    columns::batch(
        vec![
            (ID, columns::u64_array(out_ids)),
            (KEY_HI, columns::u64_array(key_hi)),
            (KEY_LO, columns::u64_array(key_lo)),
            (TEXT, Arc::new(LargeStringArray::from(texts)) as ArrayRef),
            (OUT, Arc::new(LargeStringArray::from(outs)) as ArrayRef),
            (
                OUT_ERROR,
                Arc::new(LargeStringArray::from(errors)) as ArrayRef,
            ),
        ],
        &Default::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ajuste_shared::load;
    use arrow_array::LargeBinaryArray;

    /// The 0-based lines of the records the local loader keeps from `data`.
    fn loader_keeps(data: &[u8], format: Format) -> Vec<usize> {
        let opts = load::LoadOptions {
            format: Some(format),
            ..load::LoadOptions::default()
        };
        let loaded = load::load(data, "input.jsonl", &opts).unwrap();
        loaded
            .dataset
            .items
            .iter()
            .map(|item| item.source.line - 1)
            .collect()
    }

    /// `(id, line)` rows of `data` split as the driver splits JSONL: on `\n`, newline kept,
    /// ids = 0-based line numbers.
    fn rows(data: &[u8]) -> RecordBatch {
        let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        let ids = (0..lines.len() as u64).collect();
        let lines: LargeBinaryArray = lines.into_iter().map(Some).collect();
        columns::batch(
            vec![
                (ID, columns::u64_array(ids)),
                (LINE, Arc::new(lines) as ArrayRef),
            ],
            &Default::default(),
        )
        .unwrap()
    }

    #[test]
    fn keeps_exactly_what_the_loader_keeps() {
        // Blank lines, CRLF, broken JSON, an unknown role, an empty turn, a warning-only
        // record and a record of another kind, between good ones.
        let data = b"{\"conversations\": [{\"from\": \"human\", \"value\": \"hi there\"}, {\"from\": \"gpt\", \"value\": \"hello\"}]}\r\n\
            \n\
            {\"conversations\": [{\"from\": \"robot\", \"value\": \"x\"}]}\n\
            not json\n\
            {\"conversations\": [{\"from\": \"human\", \"value\": \"\"}, {\"from\": \"gpt\", \"value\": \"ok\"}]}\n\
            {\"conversations\": [{\"from\": \"gpt\", \"value\": \"answer first\"}, {\"from\": \"human\", \"value\": \"q\"}]}\n\
            {\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n\
            {\"conversations\": [{\"from\": \"human\", \"value\": \"Hi  THERE\"}, {\"from\": \"gpt\", \"value\": \"hello\"}]}";
        let out = prepare(&rows(data), Format::Sharegpt).unwrap();
        let kept: Vec<usize> = columns::u64s(&out, ID)
            .unwrap()
            .into_iter()
            .map(|id| id as usize)
            .collect();
        assert_eq!(kept, loader_keeps(data, Format::Sharegpt));
        assert!(kept.len() >= 2, "{kept:?}");
        // The first and last records differ only in case and spacing: same matching text,
        // same exact key.
        let texts = Bytes::of(&out, TEXT).unwrap();
        let first = texts.text(0, TEXT).unwrap();
        let last = texts.text(out.num_rows() - 1, TEXT).unwrap();
        assert_eq!(first, last);
        let hi = columns::u64s(&out, KEY_HI).unwrap();
        let lo = columns::u64s(&out, KEY_LO).unwrap();
        assert_eq!((hi[0], lo[0]), (hi[hi.len() - 1], lo[lo.len() - 1]));
        // `out` is the record in its own format, as the CLI writes it.
        let outs = Bytes::of(&out, OUT).unwrap();
        let v: Value = serde_json::from_slice(outs.get(0).unwrap()).unwrap();
        assert_eq!(v["conversations"][0]["value"], "hi there");
    }

    #[test]
    fn split_keys_join_back() {
        let key = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
        let (hi, lo) = split_key(key);
        assert_eq!((u128::from(hi) << 64) | u128::from(lo), key);
    }
}
