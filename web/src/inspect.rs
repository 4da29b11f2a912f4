//! A first look at a file's bytes, before any format is parsed.
//!
//! This runs in the parse worker (see [`crate::agent`]) on whatever the user dropped, before the
//! data crate's loader, so it must accept anything: every outcome is either a [`FileSummary`] or
//! an [`InspectError`] that says in plain words why the file cannot be a dataset (empty, an
//! archive, UTF-16, binary, not UTF-8). gzip and Parquet pass through: the loader reads both.
//! It never panics and never allocates more than the summary.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The four bytes that open (and close) every Parquet file.
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// The four bytes that open every gzip stream.
const GZIP_MAGIC: &[u8] = &[0x1F, 0x8B];

/// What the bytes hold, as far as a first look can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    /// UTF-8 text: JSON, JSONL, CSV or TSV.
    Text,
    /// An Apache Parquet file (binary, columnar); it has no lines.
    Parquet,
    /// gzip-compressed data; its lines are only known once it is decompressed.
    Gzip,
}

impl Content {
    /// Whether line counts mean anything for this content.
    pub fn has_lines(self) -> bool {
        self == Content::Text
    }
}

/// Sizes and line counts of a readable file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    /// Size in bytes.
    pub bytes: u64,
    /// What the bytes hold.
    pub content: Content,
    /// Number of lines; a last line without a trailing newline counts. `0` unless the content
    /// is text.
    pub lines: u64,
    /// Lines that are empty or hold only whitespace (JSONL readers skip them).
    pub blank_lines: u64,
    /// Whether the text starts with a UTF-8 byte-order mark.
    pub bom: bool,
}

/// Archive and compression formats the loader cannot open, recognised by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    Zip,
    Zstd,
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compression::Zip => "a zip archive",
            Compression::Zstd => "zstd-compressed",
        })
    }
}

/// Why a file cannot be read as a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum InspectError {
    #[error("The file is empty (0 bytes): there is nothing to load.")]
    Empty,
    #[error(
        "The file is {0}. Unpack it first, then load the JSON, JSONL, CSV or Parquet file inside."
    )]
    Compressed(Compression),
    #[error("The file is UTF-16 text. Save it as UTF-8 and load it again.")]
    Utf16,
    #[error(
        "This is a binary file, not JSON, JSONL, CSV or Parquet (byte {offset} is a NUL byte)."
    )]
    Binary { offset: u64 },
    #[error(
        "Line {line} is not valid UTF-8 (byte {offset}). Save the file as UTF-8 and load it again."
    )]
    NotUtf8 { line: u64, offset: u64 },
}

/// Looks at `bytes` and says what they are: a summary, or why they cannot be a dataset.
pub fn inspect(bytes: &[u8]) -> Result<FileSummary, InspectError> {
    if bytes.is_empty() {
        return Err(InspectError::Empty);
    }
    let opaque = |content| FileSummary {
        bytes: len_u64(bytes.len()),
        content,
        lines: 0,
        blank_lines: 0,
        bom: false,
    };
    if is_parquet(bytes) {
        return Ok(opaque(Content::Parquet));
    }
    if bytes.starts_with(GZIP_MAGIC) {
        return Ok(opaque(Content::Gzip));
    }
    if let Some(compression) = compression(bytes) {
        return Err(InspectError::Compressed(compression));
    }
    // UTF-16 text is full of NUL bytes; name it before the NUL check calls it binary.
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(InspectError::Utf16);
    }
    if let Some(offset) = memchr::memchr(0, bytes) {
        return Err(InspectError::Binary {
            offset: len_u64(offset),
        });
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        let offset = e.valid_up_to();
        let line = count_newlines(&bytes[..offset]) + 1;
        return Err(InspectError::NotUtf8 {
            line,
            offset: len_u64(offset),
        });
    }
    let (lines, blank_lines) = count_lines(bytes);
    Ok(FileSummary {
        bytes: len_u64(bytes.len()),
        content: Content::Text,
        lines,
        blank_lines,
        bom: bytes.starts_with(&[0xEF, 0xBB, 0xBF]),
    })
}

/// Parquet files start and end with `PAR1`; checking both ends keeps a text file that happens
/// to start with those letters from being taken for one.
fn is_parquet(bytes: &[u8]) -> bool {
    bytes.len() >= 2 * PARQUET_MAGIC.len()
        && bytes.starts_with(PARQUET_MAGIC)
        && bytes.ends_with(PARQUET_MAGIC)
}

fn compression(bytes: &[u8]) -> Option<Compression> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Some(Compression::Zip)
    } else if bytes.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Some(Compression::Zstd)
    } else {
        None
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    len_u64(memchr::memchr_iter(b'\n', bytes).count())
}

/// Counts lines and blank lines in one pass. `\r\n` endings count once; a final line without
/// a newline counts as a line.
fn count_lines(bytes: &[u8]) -> (u64, u64) {
    let mut lines = 0;
    let mut blank = 0;
    for line in bytes.split(|&b| b == b'\n') {
        lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            blank += 1;
        }
    }
    // `split` yields an empty piece after a trailing newline; that is not a line.
    if bytes.ends_with(b"\n") {
        lines -= 1;
        blank -= 1;
    }
    (lines, blank)
}

/// `usize` is at most 64 bits on every target Rust supports, so this never saturates; it exists
/// so that no `as` cast can silently truncate.
fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> FileSummary {
        inspect(bytes).expect("readable text")
    }

    #[test]
    fn counts_lines_with_and_without_trailing_newline() {
        assert_eq!(text(b"a\nb\n").lines, 2);
        assert_eq!(text(b"a\nb").lines, 2);
        assert_eq!(text(b"a").lines, 1);
        assert_eq!(text(b"\n").lines, 1);
        assert_eq!(text(b"a\r\nb\r\n").lines, 2);
    }

    #[test]
    fn counts_blank_lines() {
        let s = text(b"{}\n\n  \t\n{}\n\r\n");
        assert_eq!((s.lines, s.blank_lines), (5, 3));
        assert_eq!(s.bytes, 13);
        assert_eq!(s.content, Content::Text);
    }

    #[test]
    fn empty_file_is_an_error() {
        assert_eq!(inspect(b""), Err(InspectError::Empty));
    }

    #[test]
    fn nul_byte_means_binary_and_names_its_offset() {
        assert_eq!(inspect(b"ab\0cd"), Err(InspectError::Binary { offset: 2 }));
    }

    #[test]
    fn utf16_is_named_before_the_nul_check() {
        assert_eq!(
            inspect(&[0xFF, 0xFE, b'{', 0, b'}', 0]),
            Err(InspectError::Utf16)
        );
    }

    #[test]
    fn invalid_utf8_names_line_and_offset() {
        let bytes = b"{\"a\":1}\n{\"b\":\"\xC3\x28\"}\n";
        assert_eq!(
            inspect(bytes),
            Err(InspectError::NotUtf8 {
                line: 2,
                offset: 14
            })
        );
    }

    #[test]
    fn archives_are_refused_but_gzip_passes_to_the_loader() {
        let s = inspect(&[0x1F, 0x8B, 8, 0, 0]).expect("gzip");
        assert_eq!((s.content, s.lines, s.bytes), (Content::Gzip, 0, 5));
        assert!(!s.content.has_lines());
        assert_eq!(
            inspect(&[0x28, 0xB5, 0x2F, 0xFD, 0]),
            Err(InspectError::Compressed(Compression::Zstd))
        );
        assert_eq!(
            inspect(b"PK\x03\x04rest"),
            Err(InspectError::Compressed(Compression::Zip))
        );
    }

    #[test]
    fn parquet_needs_magic_at_both_ends() {
        let s = inspect(b"PAR1\x15\x00\x15PAR1").expect("parquet");
        assert_eq!(s.content, Content::Parquet);
        assert_eq!(s.lines, 0);
        // Text that merely starts with the magic is text.
        assert_eq!(text(b"PAR1 is a word\n").content, Content::Text);
    }

    #[test]
    fn bom_is_reported_and_text_stays_readable() {
        let s = text(b"\xEF\xBB\xBF{}\n");
        assert!(s.bom);
        assert_eq!(s.lines, 1);
    }

    #[test]
    fn error_messages_are_sentences_that_name_the_place() {
        let msg = InspectError::NotUtf8 {
            line: 7,
            offset: 120,
        }
        .to_string();
        assert!(msg.contains("Line 7") && msg.contains("byte 120"), "{msg}");
        assert!(InspectError::Empty.to_string().contains("empty"));
    }
}
