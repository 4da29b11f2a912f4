//! The source file of a session: its bytes, its records as read from the container (with the
//! user's fixes applied), `.ajuste` bundles opened as sources, and the edited source written
//! back out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use ajuste_shared::bundle::Bundle;
use ajuste_shared::container::{RawRecord, read_records, write_values};
use ajuste_shared::template::Builtin;
use ajuste_shared::{Code, Container, Finding};
use serde_json::Value;

use super::json_view::set_string;
use crate::inspect::{Content, FileSummary};
use crate::protocol::{Op, TemplateChoice};

/// The file a session reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The SHA-256 of `bytes`, hashed once: the session is saved after every change, and
    /// hashing a 150 MB source takes about a second in wasm.
    pub sha256: String,
    pub summary: FileSummary,
    /// The bundle the records were taken from, when one was opened.
    pub from_bundle: Option<String>,
    /// Settings that came with the file (a bundle's recipe); not undoable.
    pub base_ops: Vec<Op>,
}

/// Fixes and drops, by record number.
#[derive(Debug, Clone, Copy)]
pub struct Edits<'a> {
    pub edits: &'a BTreeMap<usize, Vec<(String, String)>>,
    pub drops: &'a BTreeSet<usize>,
}

impl Edits<'_> {
    /// The record as the session sees it: dropped (`None`), or with its fixes made. A fix
    /// that no longer fits the record (the format changed) becomes the record's error.
    pub fn apply(&self, mut raw: RawRecord) -> Option<RawRecord> {
        let index = raw.source.index;
        if self.drops.contains(&index) {
            return None;
        }
        if let (Some(fixes), Ok(value)) = (self.edits.get(&index), &mut raw.value) {
            for (pointer, text) in fixes {
                if let Err(e) = set_string(value, pointer, text) {
                    let finding =
                        Finding::new(Code::WrongType, format!("the fix cannot be made: {e}"))
                            .at(raw.source.line, index)
                            .path(pointer.clone());
                    raw.value = Err(finding);
                    break;
                }
            }
        }
        Some(raw)
    }
}

impl Input {
    /// The records of the file as the container reads them, before any fix.
    pub fn raw_records(
        &self,
    ) -> Result<(Container, Box<dyn Iterator<Item = RawRecord> + '_>), Finding> {
        read_records(&self.bytes[..], &self.name)
    }

    /// Record `index` as read from the file (before fixes). `line` is where it starts, when
    /// known: in an uncompressed JSONL file the line is then parsed alone instead of reading
    /// every record before it.
    pub fn raw_record(&self, index: usize, line: Option<usize>) -> Option<RawRecord> {
        if let Some(line) = line
            && self.summary.content == Content::Text
            && let Ok((Container::Jsonl, _)) = self.raw_records()
            && let Some(raw) = self.jsonl_line(index, line)
        {
            return Some(raw);
        }
        let (_, mut records) = self.raw_records().ok()?;
        records.find(|r| r.source.index == index)
    }

    /// Reads line `line` of a JSONL file as record `index`, the way the container reader does
    /// (a byte-order mark and a `\r` before the newline are not part of the record). `None`
    /// when the line does not exist or is blank (then the slow path decides).
    fn jsonl_line(&self, index: usize, line: usize) -> Option<RawRecord> {
        let bytes = &self.bytes[..];
        let start = if line <= 1 {
            0
        } else {
            memchr::memchr_iter(b'\n', bytes).nth(line - 2)? + 1
        };
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |e| start + e);
        let mut text = &bytes[start..end];
        if line <= 1 {
            text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        }
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let source = ajuste_shared::Source { line, index };
        // The container's reader says more about broken lines (and must number them): leave
        // those to it.
        let value = serde_json::from_slice::<Value>(text).ok()?;
        Some(RawRecord {
            source,
            value: Ok(value),
        })
    }

    /// The source with fixes made and dropped records left out, as a file the command line
    /// reads: `(name, bytes)`. A JSON array stays an array; everything else becomes JSONL (the
    /// container the fixed records can be written in). Records that are not JSON (already
    /// dropped by the loader with an `invalid-json` error) are left out.
    pub fn edited(&self, edits: Edits<'_>) -> Result<(String, Vec<u8>), String> {
        let (container, records) = self.raw_records().map_err(|f| f.message)?;
        let values = records
            .filter_map(|raw| edits.apply(raw))
            .filter_map(|raw| raw.value.ok());
        let container = match container {
            Container::JsonArray => Container::JsonArray,
            _ => Container::Jsonl,
        };
        debug_assert_eq!(container, self.edited_container());
        let mut out = Vec::new();
        write_values(&mut out, container, values).map_err(|e| e.to_string())?;
        Ok((self.edited_name(), out))
    }

    /// The container the edited source is written in: a JSON array stays one, everything else
    /// becomes JSONL.
    fn edited_container(&self) -> Container {
        match self.raw_records() {
            Ok((Container::JsonArray, _)) => Container::JsonArray,
            _ => Container::Jsonl,
        }
    }

    /// The name of the edited source: `chats.jsonl` -> `chats.edited.jsonl`.
    pub fn edited_name(&self) -> String {
        format!(
            "{}.edited.{}",
            stem(&self.name),
            self.edited_container().as_str()
        )
    }
}

/// The file name without `.gz` and without its extension: `chats.jsonl.gz` -> `chats`.
pub fn stem(name: &str) -> &str {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    match name.rfind('.') {
        Some(dot) if dot > 0 => &name[..dot],
        _ => name,
    }
}

/// Whether the bytes are a zip archive (a bundle is one).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// A bundle opened as a source: its train and eval records (canonical JSONL, train first) and
/// its recipe as the session's starting settings.
pub fn from_bundle(name: &str, bytes: &[u8]) -> Result<(String, Vec<u8>, Vec<Op>), String> {
    let bundle = Bundle::read(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut jsonl = Vec::new();
    for record in bundle.train.iter().chain(&bundle.eval) {
        serde_json::to_writer(&mut jsonl, record).map_err(|e| e.to_string())?;
        jsonl.push(b'\n');
    }
    let m = &bundle.manifest;
    let mut ops = vec![
        Op::Clean(m.cleaning.steps.clone()),
        Op::Dedup(m.dedup.as_ref().map(|d| d.config.clone())),
        // The records are balanced already; the same caps keep them all and stay in the recipe.
        Op::Balance(m.balance.as_ref().map(|b| b.config.clone())),
        Op::Template(template_choice(
            &m.template.name,
            &m.template.chat_template,
            &m.template.bos_token,
            &m.template.eos_token,
        )),
        Op::Train {
            method: m.train.method(),
            model: m.train.model.clone(),
        },
    ];
    ops.push(Op::Split(ajuste_shared::split::SplitConfig {
        eval_fraction: m.split.eval_fraction,
        seed: m.split.seed,
    }));
    Ok((format!("{}.jsonl", stem(name)), jsonl, ops))
}

/// The built-in a bundle's template is, or its text as a Hugging Face template.
fn template_choice(name: &str, text: &str, bos: &str, eos: &str) -> TemplateChoice {
    if let Ok(b) = name.parse::<Builtin>()
        && b.jinja_source() == text
        && b.bos_token() == bos
        && b.eos_token() == eos
    {
        return TemplateChoice::Builtin(b);
    }
    let config = serde_json::json!({
        "chat_template": text,
        "bos_token": bos,
        "eos_token": eos,
    });
    TemplateChoice::HuggingFace {
        config_name: "tokenizer_config.json".into(),
        config: config.to_string(),
        jinja: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::inspect;

    fn input(name: &str, bytes: &[u8]) -> Input {
        Input {
            name: name.into(),
            bytes: bytes.to_vec(),
            sha256: ajuste_shared::bundle::sha256_hex(bytes),
            summary: inspect(bytes).unwrap(),
            from_bundle: None,
            base_ops: Vec::new(),
        }
    }

    #[test]
    fn the_fast_jsonl_path_reads_what_the_container_reads() {
        let data = b"\xEF\xBB\xBF{\"a\": 1}\r\n\n{\"a\": 2}\n{\"a\": 3}";
        let file = input("x.jsonl", data);
        let (_, all) = file.raw_records().unwrap();
        for raw in all.collect::<Vec<_>>() {
            let fast = file.jsonl_line(raw.source.index, raw.source.line).unwrap();
            assert_eq!(fast, raw);
            assert_eq!(file.raw_record(raw.source.index, None), Some(raw));
        }
        assert_eq!(file.jsonl_line(5, 2), None, "blank line");
        assert_eq!(file.jsonl_line(5, 9), None, "no such line");
    }

    #[test]
    fn edits_fix_and_drop_records_and_the_edited_file_keeps_its_container() {
        let data = b"[{\"instruction\": \"a\", \"output\": 1}, {\"instruction\": \"b\", \"output\": \"x\"}]";
        let file = input("seed.json", data);
        let fixes = BTreeMap::from([(0, vec![("/output".to_owned(), "one".to_owned())])]);
        let drops = BTreeSet::from([1]);
        let edits = Edits {
            edits: &fixes,
            drops: &drops,
        };
        let (name, bytes) = file.edited(edits).unwrap();
        assert_eq!(name, "seed.edited.json");
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            back,
            serde_json::json!([{"instruction": "a", "output": "one"}])
        );
    }

    #[test]
    fn a_fix_that_no_longer_fits_is_the_records_error() {
        let fixes = BTreeMap::from([(0, vec![("/x/y".to_owned(), "v".to_owned())])]);
        let drops = BTreeSet::new();
        let edits = Edits {
            edits: &fixes,
            drops: &drops,
        };
        let raw = RawRecord {
            source: ajuste_shared::Source { line: 1, index: 0 },
            value: Ok(serde_json::json!({"a": 1})),
        };
        let err = edits.apply(raw).unwrap().value.unwrap_err();
        assert_eq!((err.code, err.path.as_str()), (Code::WrongType, "/x/y"));
    }

    #[test]
    fn stems() {
        assert_eq!(stem("chats.jsonl"), "chats");
        assert_eq!(stem("chats.jsonl.gz"), "chats");
        assert_eq!(stem("noext"), "noext");
        assert_eq!(stem(".hidden"), ".hidden");
    }
}
