//! Containers: how records are laid out in a file (JSONL, JSON array, CSV/TSV, Parquet).
//!
//! The container is detected from the content first (gzip and Parquet magic bytes, the first
//! non-blank character) and from the file name only where the content cannot tell (CSV vs TSV,
//! a JSONL file whose first line is broken). gzip is transparent.
//!
//! Records stream out one at a time with the 1-based line where each starts, so that later
//! findings point into the file. JSONL is read line by line (one line in memory at a time);
//! a JSON array is held once in memory and walked element by element; Parquet is held once in
//! memory (its index sits at the end of the file) and read row by row.

use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codes::Code;
use crate::diagnostic::Finding;
use crate::record::Source;

/// How records are laid out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Container {
    /// One JSON value per line.
    #[serde(rename = "jsonl")]
    Jsonl,
    /// One JSON array of records.
    #[serde(rename = "json")]
    JsonArray,
    /// Comma-separated values with a header row.
    #[serde(rename = "csv")]
    Csv,
    /// Tab-separated values with a header row.
    #[serde(rename = "tsv")]
    Tsv,
    /// Apache Parquet, one record per row.
    #[serde(rename = "parquet")]
    Parquet,
}

impl Container {
    pub const ALL: [Container; 5] = [
        Container::Jsonl,
        Container::JsonArray,
        Container::Csv,
        Container::Tsv,
        Container::Parquet,
    ];

    /// The stable name: `jsonl`, `json`, `csv`, `tsv`, `parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Container::Jsonl => "jsonl",
            Container::JsonArray => "json",
            Container::Csv => "csv",
            Container::Tsv => "tsv",
            Container::Parquet => "parquet",
        }
    }
}

impl std::fmt::Display for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a container name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown container `{0}`; expected one of jsonl, json, csv, tsv, parquet")]
pub struct ParseContainerError(pub String);

impl FromStr for Container {
    type Err = ParseContainerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Ok(Container::Jsonl),
            "json" | "json-array" | "array" => Ok(Container::JsonArray),
            "csv" => Ok(Container::Csv),
            "tsv" => Ok(Container::Tsv),
            "parquet" => Ok(Container::Parquet),
            _ => Err(ParseContainerError(s.to_owned())),
        }
    }
}

/// One record as read from the container: where it starts, and its JSON value or why it could
/// not be read (the finding has line and record filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub source: Source,
    pub value: Result<Value, Finding>,
}

/// Bytes looked at to detect the container.
const SNIFF: usize = 64 * 1024;
/// Longest JSONL line read as a record; longer lines are reported, not held in memory.
pub const MAX_LINE_BYTES: usize = 64 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

type Records<'a> = Box<dyn Iterator<Item = RawRecord> + 'a>;

/// Stream the records of an input. Err(Finding) only for whole-file problems (`empty-file`,
/// `not-text`, `invalid-parquet` at the header, `read-error` before the first record). A
/// structural problem found after the last record (an unclosed JSON array, text after it, a read
/// failure mid-stream) comes as one more entry with an error.
pub fn read_records<'a, R: Read + 'a>(
    reader: R,
    name: &str,
) -> Result<(Container, Records<'a>), Finding> {
    read_records_capped(reader, name, MAX_LINE_BYTES)
}

/// [`read_records`] with a chosen JSONL line limit (tests use a small one).
pub fn read_records_capped<'a, R: Read + 'a>(
    reader: R,
    name: &str,
    max_line: usize,
) -> Result<(Container, Records<'a>), Finding> {
    let (head, rest) = sniff(reader)?;
    if head.starts_with(&GZIP_MAGIC) {
        let inner = flate2::read::MultiGzDecoder::new(Cursor::new(head).chain(rest));
        let (head, rest) = sniff(inner)?;
        let name = name.strip_suffix(".gz").unwrap_or(name);
        return classify(head, rest, name, max_line);
    }
    classify(head, rest, name, max_line)
}

/// Reads the first bytes (more while they are all whitespace, so the first character is seen).
/// A read failure before any byte is a whole-file `read-error`; after some bytes it is deferred
/// to the tail, so the records before it are still read (a truncated gzip file).
fn sniff<R: Read>(mut reader: R) -> Result<(Vec<u8>, Tail<R>), Finding> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let read = match reader.by_ref().take(SNIFF as u64).read_to_end(&mut head) {
            Ok(n) => n,
            Err(e) if head.is_empty() => return Err(read_error(&e, None)),
            Err(e) => return Ok((head, Tail::Failed(Some(e)))),
        };
        if read == 0 || head[before..].iter().any(|b| !b.is_ascii_whitespace()) {
            return Ok((head, Tail::Reader(reader)));
        }
    }
}

/// The rest of the input after the sniffed bytes, or the error that cut it short.
enum Tail<R> {
    Reader(R),
    Failed(Option<io::Error>),
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Tail::Reader(r) => r.read(buf),
            Tail::Failed(e) => match e.take() {
                Some(e) => Err(e),
                None => Ok(0),
            },
        }
    }
}

/// A `read-error` finding, at `line` when one is known.
fn read_error(e: &io::Error, line: Option<usize>) -> Finding {
    let mut f = Finding::new(Code::ReadError, format!("the input could not be read: {e}"));
    f.line = line;
    f
}

/// Decides the container from the first bytes and the name, and builds its record iterator.
fn classify<'a, R: Read + 'a>(
    head: Vec<u8>,
    rest: R,
    name: &str,
    max_line: usize,
) -> Result<(Container, Records<'a>), Finding> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if head.starts_with(PARQUET_MAGIC) {
        return read_parquet(Cursor::new(head).chain(rest));
    }
    if ext == "parquet" {
        return Err(Finding::new(
            Code::InvalidParquet,
            "the file is named .parquet but does not start with the Parquet magic bytes",
        ));
    }
    let start = if head.starts_with(BOM) { BOM.len() } else { 0 };
    check_text(&head[start..])?;
    let Some(first) = head[start..]
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace())
    else {
        return Err(Finding::new(
            Code::EmptyFile,
            "the file is empty or holds only whitespace",
        ));
    };
    let mut cursor = Cursor::new(head);
    cursor.set_position(start as u64);
    let container = match (first, ext.as_str()) {
        (b'[', _) => Container::JsonArray,
        (b'{', _) | (_, "jsonl" | "ndjson" | "json") => Container::Jsonl,
        (_, "tsv" | "tab") => Container::Tsv,
        (_, "csv") => Container::Csv,
        _ => delimiter_guess(&cursor.get_ref()[start..]),
    };
    let body = cursor.chain(rest);
    let records: Records<'a> = match container {
        Container::Jsonl => Box::new(JsonlRecords::new(BufReader::new(body), max_line)),
        Container::JsonArray => Box::new(ArrayRecords::read(body)?),
        Container::Csv => Box::new(CsvRecords::new(body, b',')?),
        Container::Tsv => Box::new(CsvRecords::new(body, b'\t')?),
        Container::Parquet => unreachable!("parquet is decided by its magic bytes above"),
    };
    Ok((container, records))
}

/// `not-text` for UTF-16, NUL bytes or invalid UTF-8 in the first bytes.
fn check_text(head: &[u8]) -> Result<(), Finding> {
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(Finding::new(
            Code::NotText,
            "the file is UTF-16 text; save it as UTF-8",
        ));
    }
    if let Some(at) = memchr::memchr(0, head) {
        return Err(Finding::new(
            Code::NotText,
            format!("the file holds binary data (a NUL byte at offset {at})"),
        ));
    }
    if let Err(e) = std::str::from_utf8(head)
        && e.error_len().is_some()
    {
        return Err(Finding::new(
            Code::NotText,
            format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        ));
    }
    Ok(())
}

/// CSV or TSV from the first line: tabs win when there are more of them than commas.
fn delimiter_guess(head: &[u8]) -> Container {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |c: u8| line.iter().filter(|&&b| b == c).count();
    if count(b'\t') > count(b',') {
        Container::Tsv
    } else {
        Container::Csv
    }
}

/// serde_json's message without its "at line L column C" tail (we report our own position).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((msg, _)) => msg.to_owned(),
        None => text,
    }
}

// ---------------------------------------------------------------------------------------------
// JSONL

/// Records of a JSONL stream, one line in memory at a time.
struct JsonlRecords<R> {
    reader: R,
    buf: Vec<u8>,
    line: usize,
    index: usize,
    max_line: usize,
    done: bool,
}

impl<R: BufRead> JsonlRecords<R> {
    fn new(reader: R, max_line: usize) -> Self {
        JsonlRecords {
            reader,
            buf: Vec::new(),
            line: 0,
            index: 0,
            max_line,
            done: false,
        }
    }
}

/// Reads one line into `buf` (without storing more than `cap` bytes of it). Returns the bytes
/// consumed (0 at the end) and whether the line was longer than `cap`.
fn read_line_capped(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut overflow = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((consumed, overflow));
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        if take > room {
            overflow = true;
        }
        buf.extend_from_slice(&chunk[..take.min(room)]);
        reader.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, overflow));
        }
    }
}

impl<R: BufRead> Iterator for JsonlRecords<R> {
    type Item = RawRecord;

    fn next(&mut self) -> Option<RawRecord> {
        while !self.done {
            self.buf.clear();
            let (n, overflow) =
                match read_line_capped(&mut self.reader, &mut self.buf, self.max_line) {
                    Ok(r) => r,
                    Err(e) => {
                        self.done = true;
                        let source = Source {
                            line: self.line + 1,
                            index: self.index,
                        };
                        let finding =
                            read_error(&e, Some(source.line)).at(source.line, source.index);
                        return Some(RawRecord {
                            source,
                            value: Err(finding),
                        });
                    }
                };
            if n == 0 {
                self.done = true;
                break;
            }
            self.line += 1;
            let text = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if !overflow && text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let source = Source {
                line: self.line,
                index: self.index,
            };
            self.index += 1;
            let value = if overflow {
                Err(Finding::new(
                    Code::InvalidJson,
                    format!(
                        "the line is longer than {} bytes and was not read",
                        self.max_line
                    ),
                ))
            } else {
                serde_json::from_slice(text).map_err(|e| {
                    Finding::new(
                        Code::InvalidJson,
                        format!(
                            "the line is not valid JSON: {} (column {})",
                            json_message(&e),
                            e.column()
                        ),
                    )
                })
            };
            return Some(RawRecord {
                source,
                value: value.map_err(|f| f.at(source.line, source.index)),
            });
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// JSON array

/// Records of a JSON array held in memory, found by a small scanner that tracks strings and
/// nesting so that one broken element does not hide the others.
struct ArrayRecords {
    data: Vec<u8>,
    pos: usize,
    line: usize,
    line_start: usize,
    index: usize,
    state: ArrayState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    Elements,
    /// The data ended inside the array.
    Unclosed,
    Done,
}

impl ArrayRecords {
    /// Reads everything and positions after the opening `[`.
    fn read(mut body: impl Read) -> Result<ArrayRecords, Finding> {
        let mut data = Vec::new();
        body.read_to_end(&mut data)
            .map_err(|e| read_error(&e, None))?;
        let mut it = ArrayRecords {
            data,
            pos: 0,
            line: 1,
            line_start: 0,
            index: 0,
            state: ArrayState::Elements,
        };
        it.skip_whitespace();
        // The caller saw `[` as the first non-blank byte.
        it.pos += 1;
        Ok(it)
    }

    fn skip_whitespace(&mut self) {
        while let Some(&b) = self.data.get(self.pos) {
            if !b.is_ascii_whitespace() {
                break;
            }
            self.advance(b);
        }
    }

    /// Moves past one byte, counting lines.
    fn advance(&mut self, b: u8) {
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
            self.line_start = self.pos;
        }
    }

    /// An entry for a structural problem after the last record.
    fn trailer(&mut self, message: String) -> RawRecord {
        self.state = ArrayState::Done;
        let source = Source {
            line: self.line,
            index: self.index,
        };
        self.index += 1;
        RawRecord {
            source,
            value: Err(Finding::new(Code::InvalidJson, message).at(source.line, source.index)),
        }
    }

    /// Scans one element from `pos` to the `,` or `]` that ends it (or the end of the data).
    fn scan_element(&mut self) -> (usize, usize) {
        let start = self.pos;
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        while let Some(&b) = self.data.get(self.pos) {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    // Only `]` closes the array; a stray `}` stays in the (broken) element, so
                    // every call moves forward.
                    b']' if depth == 0 => break,
                    b'}' | b']' => depth = depth.saturating_sub(1),
                    b',' if depth == 0 => break,
                    _ => {}
                }
            }
            self.advance(b);
        }
        (start, self.pos)
    }
}

impl Iterator for ArrayRecords {
    type Item = RawRecord;

    fn next(&mut self) -> Option<RawRecord> {
        match self.state {
            ArrayState::Done => return None,
            ArrayState::Unclosed => {
                return Some(self.trailer(
                    "the JSON array is not closed: the file ends before its `]`".to_owned(),
                ));
            }
            ArrayState::Elements => {}
        }
        self.skip_whitespace();
        match self.data.get(self.pos) {
            None => {
                return Some(self.trailer(
                    "the JSON array is not closed: the file ends before its `]`".to_owned(),
                ));
            }
            Some(b']') => {
                self.pos += 1;
                self.skip_whitespace();
                if self.pos < self.data.len() {
                    return Some(self.trailer(
                        "unexpected text after the closing `]` of the JSON array".to_owned(),
                    ));
                }
                self.state = ArrayState::Done;
                return None;
            }
            Some(_) => {}
        }
        let (start_line, start_col) = (self.line, self.pos - self.line_start + 1);
        let (start, end) = self.scan_element();
        let source = Source {
            line: start_line,
            index: self.index,
        };
        self.index += 1;
        let value = parse_element(&self.data[start..end], start_line, start_col);
        match self.data.get(self.pos) {
            Some(b',') => self.pos += 1,
            Some(_) => {}
            None => self.state = ArrayState::Unclosed,
        }
        Some(RawRecord {
            source,
            value: value.map_err(|f| {
                let line = f.line.unwrap_or(source.line);
                f.at(line, source.index)
            }),
        })
    }
}

/// Parses one array element, placing errors at their own line and column in the file.
fn parse_element(bytes: &[u8], start_line: usize, start_col: usize) -> Result<Value, Finding> {
    let trimmed = bytes.trim_ascii_end();
    if trimmed.is_empty() {
        let mut f = Finding::new(
            Code::InvalidJson,
            format!("an array element is empty (column {start_col})"),
        );
        f.line = Some(start_line);
        return Err(f);
    }
    serde_json::from_slice(trimmed).map_err(|e| {
        let line = start_line + e.line().saturating_sub(1);
        let column = if e.line() <= 1 { start_col + e.column().saturating_sub(1) } else { e.column() };
        let mut f = Finding::new(
            Code::InvalidJson,
            format!("the array element starting on line {start_line} is not valid JSON: {} (line {line}, column {column})", json_message(&e)),
        );
        f.line = Some(line);
        f
    })
}

// ---------------------------------------------------------------------------------------------
// CSV / TSV

/// Rows of a CSV/TSV file as JSON objects keyed by the header row.
struct CsvRecords<R: Read> {
    reader: csv::Reader<Tap<R>>,
    lines: LineCounter,
    header: Vec<String>,
    row: csv::ByteRecord,
    index: usize,
    done: bool,
}

/// A reader that keeps the bytes it hands out until [`LineCounter`] has counted their lines.
///
/// The csv crate's own line numbers are wrong after blank lines and CRLF line ends (it records
/// a position before it skips them), so lines are counted here from the byte offsets it gives,
/// which do not drift. Only the bytes between the last record and the reader's read-ahead are
/// kept.
struct Tap<R> {
    inner: R,
    seen: std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<u8>>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.borrow_mut().extend(&buf[..n]);
        Ok(n)
    }
}

/// Turns byte offsets of record starts into 1-based lines.
struct LineCounter {
    seen: std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<u8>>>,
    /// Offset of the first byte in `seen`.
    offset: u64,
    /// Line of the byte at `offset`.
    line: usize,
}

impl LineCounter {
    /// The line of the record whose position csv reports as `byte`: newlines before it are
    /// counted, then any blank line ends the position may still point into are skipped.
    fn line_at(&mut self, byte: u64) -> usize {
        let mut seen = self.seen.borrow_mut();
        while self.offset < byte {
            let Some(b) = seen.pop_front() else { break };
            self.offset += 1;
            if b == b'\n' {
                self.line += 1;
            }
        }
        while let Some(&b) = seen.front() {
            if b != b'\n' && b != b'\r' {
                break;
            }
            seen.pop_front();
            self.offset += 1;
            if b == b'\n' {
                self.line += 1;
            }
        }
        self.line
    }
}

impl<R: Read> CsvRecords<R> {
    fn new(body: R, delimiter: u8) -> Result<Self, Finding> {
        let seen = std::rc::Rc::new(std::cell::RefCell::new(std::collections::VecDeque::new()));
        let tap = Tap {
            inner: body,
            seen: seen.clone(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(false)
            .from_reader(tap);
        let header = reader.byte_headers().map_err(|e| csv_finding(&e, 1))?;
        let header = header
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_owned())
            .collect();
        let lines = LineCounter {
            seen,
            offset: 0,
            line: 1,
        };
        Ok(CsvRecords {
            reader,
            lines,
            header,
            row: csv::ByteRecord::new(),
            index: 0,
            done: false,
        })
    }

    /// The row as an object; cells that hold a JSON array or object become that value.
    fn object(&self) -> Result<Value, Finding> {
        let mut obj = Map::new();
        for (key, cell) in self.header.iter().zip(self.row.iter()) {
            let text = std::str::from_utf8(cell).map_err(|_| {
                Finding::new(
                    Code::InvalidCsv,
                    format!("the `{key}` cell is not valid UTF-8"),
                )
            })?;
            obj.insert(key.clone(), cell_value(text));
        }
        Ok(Value::Object(obj))
    }
}

/// A cell's value: JSON for cells holding a JSON array or object (a `messages` column), else text.
fn cell_value(text: &str) -> Value {
    let t = text.trim();
    let bracketed =
        (t.starts_with('[') && t.ends_with(']')) || (t.starts_with('{') && t.ends_with('}'));
    if bracketed
        && let Ok(v @ (Value::Array(_) | Value::Object(_))) = serde_json::from_str::<Value>(t)
    {
        return v;
    }
    Value::String(text.to_owned())
}

/// A finding for a csv error at `line`.
fn csv_finding(e: &csv::Error, line: usize) -> Finding {
    let mut f = match e.kind() {
        csv::ErrorKind::Io(io) => read_error(io, Some(line)),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => Finding::new(
            Code::InvalidCsv,
            format!("the row has {len} fields but the header has {expected_len}"),
        ),
        csv::ErrorKind::Utf8 { .. } => Finding::new(Code::InvalidCsv, "the row is not valid UTF-8"),
        _ => Finding::new(Code::InvalidCsv, format!("the row cannot be read: {e}")),
    };
    f.line = Some(line);
    f
}

impl<R: Read> Iterator for CsvRecords<R> {
    type Item = RawRecord;

    fn next(&mut self) -> Option<RawRecord> {
        if self.done {
            return None;
        }
        let read = self.reader.read_byte_record(&mut self.row);
        let (value, byte) = match read {
            Ok(false) => {
                self.done = true;
                return None;
            }
            Ok(true) => (Ok(()), self.row.position().map(csv::Position::byte)),
            Err(e) => {
                // An I/O failure ends the stream; a malformed row is skipped.
                self.done = matches!(e.kind(), csv::ErrorKind::Io(_));
                let byte = e.position().map(csv::Position::byte);
                (Err(e), byte)
            }
        };
        let byte = byte.unwrap_or_else(|| self.reader.position().byte());
        let source = Source {
            line: self.lines.line_at(byte),
            index: self.index,
        };
        self.index += 1;
        let value = match value {
            Ok(()) => self.object(),
            Err(e) => Err(csv_finding(&e, source.line)),
        };
        Some(RawRecord {
            source,
            value: value.map_err(|f| f.at(source.line, source.index)),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Parquet

/// Reads a Parquet file (held in memory) row by row through the record API.
fn read_parquet<'a>(mut body: impl Read) -> Result<(Container, Records<'a>), Finding> {
    use parquet::file::reader::SerializedFileReader;
    use parquet::record::reader::RowIter;

    let mut data = Vec::new();
    body.read_to_end(&mut data)
        .map_err(|e| read_error(&e, None))?;
    let reader = SerializedFileReader::new(bytes::Bytes::from(data)).map_err(|e| {
        Finding::new(
            Code::InvalidParquet,
            format!("the Parquet file cannot be opened: {e}"),
        )
    })?;
    let mut rows = RowIter::from_file_into(Box::new(reader));
    let mut index = 0;
    let mut failed = false;
    let records = std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let row = rows.next()?;
        // Rows have no lines; the 1-based row number stands in for one.
        let source = Source {
            line: index + 1,
            index,
        };
        index += 1;
        let value = row.map(|r| r.to_json_value()).map_err(|e| {
            failed = true;
            Finding::new(
                Code::InvalidParquet,
                format!("row {} cannot be decoded: {e}", source.line),
            )
            .at(source.line, source.index)
        });
        Some(RawRecord { source, value })
    });
    Ok((Container::Parquet, Box::new(records)))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Write records as JSONL or a JSON array (pretty, two-space indent) for export.
pub fn write_values<W: Write>(
    mut w: W,
    container: Container,
    values: impl IntoIterator<Item = Value>,
) -> io::Result<()> {
    match container {
        Container::Jsonl => {
            for value in values {
                serde_json::to_writer(&mut w, &value)?;
                w.write_all(b"\n")?;
            }
        }
        Container::JsonArray => {
            let mut first = true;
            w.write_all(b"[")?;
            for value in values {
                w.write_all(if first { b"\n  " } else { b",\n  " })?;
                first = false;
                let text = serde_json::to_vec_pretty(&value)?;
                for (i, line) in text.split(|&b| b == b'\n').enumerate() {
                    if i > 0 {
                        w.write_all(b"\n  ")?;
                    }
                    w.write_all(line)?;
                }
            }
            w.write_all(if first { b"]\n" } else { b"\n]\n" })?;
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("records are written as JSONL or a JSON array, not {other}"),
            ));
        }
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(bytes: &[u8], name: &str) -> (Container, Vec<RawRecord>) {
        let (c, it) = read_records(bytes, name).unwrap();
        (c, it.collect())
    }

    fn lines(records: &[RawRecord]) -> Vec<usize> {
        records.iter().map(|r| r.source.line).collect()
    }

    #[test]
    fn jsonl_with_bom_crlf_and_blank_lines() {
        let data = b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n   \n{\"a\":2}\r\n{bad\n";
        let (c, recs) = read(data, "x.jsonl");
        assert_eq!(c, Container::Jsonl);
        assert_eq!(lines(&recs), [1, 4, 5]);
        assert_eq!(recs[1].value, Ok(json!({"a": 2})));
        let err = recs[2].value.as_ref().unwrap_err();
        assert_eq!(
            (err.code, err.line, err.record),
            (Code::InvalidJson, Some(5), Some(2))
        );
    }

    #[test]
    fn long_lines_are_reported_not_held() {
        let mut data = b"{\"a\":1}\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100));
        data.extend(b"\n{\"a\":3}\n");
        let (_, it) = read_records_capped(&data[..], "x.jsonl", 50).unwrap();
        let recs: Vec<RawRecord> = it.collect();
        assert_eq!(lines(&recs), [1, 2, 3]);
        assert!(
            recs[1]
                .value
                .as_ref()
                .unwrap_err()
                .message
                .contains("longer than 50 bytes")
        );
        assert_eq!(recs[2].value, Ok(json!({"a": 3})));
    }

    #[test]
    fn json_array_elements_have_their_start_lines() {
        let data = b"[\n  {\"a\": 1},\n  {\n    \"a\": 2\n  },\n  {\"a\": }\n]\n";
        let (c, recs) = read(data, "x.json");
        assert_eq!(c, Container::JsonArray);
        assert_eq!(lines(&recs), [2, 3, 6]);
        assert_eq!(recs[1].value, Ok(json!({"a": 2})));
        let err = recs[2].value.as_ref().unwrap_err();
        assert_eq!(err.line, Some(6));
        assert!(err.message.contains("column 9"), "{}", err.message);
    }

    #[test]
    fn json_array_structure_problems() {
        let (_, recs) = read(b"[{\"a\": 1}, {\"a\": 2}", "x.json");
        assert_eq!(recs.len(), 3);
        assert!(
            recs[2]
                .value
                .as_ref()
                .unwrap_err()
                .message
                .contains("not closed")
        );
        let (_, recs) = read(b"[{\"a\": 1}]\n\nxyz", "x.json");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].value.as_ref().unwrap_err().line, Some(3));
        let (_, recs) = read(b"[{\"a\": \"]},\"}, 2]", "x.json");
        assert_eq!(recs[0].value, Ok(json!({"a": "]},"})));
        assert_eq!(recs[1].value, Ok(json!(2)));
        let (_, recs) = read(b"[]", "x.json");
        assert!(recs.is_empty());
        let (_, recs) = read(b"[1}, 2]", "x.json");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].value, Ok(json!(2)));
    }

    #[test]
    fn csv_rows_become_objects_and_json_cells_become_json() {
        let data = "instruction,output,messages\r\nhi,\"a, b\",\"[{\"\"role\"\":\"\"user\"\"}]\"\r\n\r\nx,y\r\nq,\"multi\nline\",[oops\r\n";
        let (c, recs) = read(data.as_bytes(), "x.csv");
        assert_eq!(c, Container::Csv);
        assert_eq!(
            recs[0].value,
            Ok(json!({"instruction": "hi", "output": "a, b", "messages": [{"role": "user"}]}))
        );
        assert_eq!(recs[0].source.line, 2);
        let err = recs[1].value.as_ref().unwrap_err();
        assert_eq!((err.code, err.line), (Code::InvalidCsv, Some(4)));
        assert_eq!(recs[2].source.line, 5);
        assert_eq!(recs[2].value.as_ref().unwrap()["messages"], json!("[oops"));
    }

    #[test]
    fn tsv_is_guessed_from_tabs() {
        let (c, recs) = read(b"prompt\tcompletion\tlabel\nq\ta\ttrue\n", "data.txt");
        assert_eq!(c, Container::Tsv);
        assert_eq!(
            recs[0].value,
            Ok(json!({"prompt": "q", "completion": "a", "label": "true"}))
        );
    }

    #[test]
    fn gzip_is_transparent() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        let data = gz.finish().unwrap();
        let (c, recs) = read(&data, "x.jsonl.gz");
        assert_eq!(c, Container::Jsonl);
        assert_eq!(lines(&recs), [1, 2]);
        // A truncated stream ends with a read error after the records it could read.
        let (_, it) = read_records(&data[..data.len() - 10], "x.jsonl.gz").unwrap();
        let recs: Vec<RawRecord> = it.collect();
        assert_eq!(
            recs.last().unwrap().value.as_ref().unwrap_err().code,
            Code::ReadError
        );
    }

    #[test]
    fn whole_file_problems() {
        let code = |bytes: &[u8], name: &str| read_records(bytes, name).err().map(|f| f.code);
        assert_eq!(code(b"", "x.jsonl"), Some(Code::EmptyFile));
        assert_eq!(code(b" \n\r\n\t", "x.jsonl"), Some(Code::EmptyFile));
        assert_eq!(code(b"\xEF\xBB\xBF", "x.jsonl"), Some(Code::EmptyFile));
        assert_eq!(code(b"{\"a\":\x00}", "x.jsonl"), Some(Code::NotText));
        assert_eq!(code(b"\xFF\xFE{\x00", "x.jsonl"), Some(Code::NotText));
        assert_eq!(
            code(b"{\"a\":\"\xC3\x28\"}", "x.jsonl"),
            Some(Code::NotText)
        );
        assert_eq!(
            code(b"PAR1garbage", "x.parquet"),
            Some(Code::InvalidParquet)
        );
        assert_eq!(code(b"{}", "x.parquet"), Some(Code::InvalidParquet));
        assert_eq!(code(&[0x1f, 0x8b, 0, 1, 2], "x.gz"), Some(Code::ReadError));
    }

    #[test]
    fn writing_jsonl_and_arrays() {
        let values = vec![json!({"a": 1, "b": [1, 2]}), json!({"a": "x\ny"})];
        let mut out = Vec::new();
        write_values(&mut out, Container::Jsonl, values.clone()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\":1,\"b\":[1,2]}\n{\"a\":\"x\\ny\"}\n"
        );
        let mut out = Vec::new();
        write_values(&mut out, Container::JsonArray, values.clone()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("[\n  {\n    \"a\": 1,"), "{text}");
        let (_, recs) = read(text.as_bytes(), "x.json");
        assert_eq!(
            recs.into_iter()
                .map(|r| r.value.unwrap())
                .collect::<Vec<_>>(),
            values
        );
        let mut out = Vec::new();
        write_values(&mut out, Container::JsonArray, Vec::new()).unwrap();
        assert_eq!(out, b"[]\n");
        assert!(write_values(Vec::new(), Container::Csv, Vec::new()).is_err());
    }

    #[test]
    fn names() {
        for c in Container::ALL {
            assert_eq!(c.as_str().parse::<Container>(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        }
        assert!("xml".parse::<Container>().is_err());
    }
}
