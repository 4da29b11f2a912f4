//! Findings: what is wrong (or suspicious) in the data, as plain data.
//!
//! A finding names a stable [`Code`], its severity, the 1-based line and 0-based record it is
//! about, the JSON pointer of the field, a full-sentence message and a hint. The CLI prints them,
//! the studio renders them, reports serialise them; nobody re-derives messages.

use serde::{Deserialize, Serialize};

use crate::codes::Code;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; changes nothing.
    Info,
    /// The record is kept but will probably train badly.
    Warning,
    /// The record cannot be used as it is; it is dropped (and counted).
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: Code,
    /// 1-based line of the input (the line where the record starts when the field's own line
    /// is unknown). `None` for findings about the whole file.
    pub line: Option<usize>,
    /// 0-based index of the record in the input.
    pub record: Option<usize>,
    /// JSON pointer (RFC 6901) of the field inside the record; "" for the whole record.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Finding {
    /// A finding with the code's default severity and hint.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Finding {
            severity: code.severity(),
            code,
            line: None,
            record: None,
            path: String::new(),
            message: message.into(),
            hint: code.hint().map(str::to_owned),
        }
    }

    pub fn at(mut self, line: usize, record: usize) -> Self {
        self.line = Some(line);
        self.record = Some(record);
        self
    }

    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// `file:line: severity[code] message (at path)` as compilers print it.
    pub fn display_with(&self, file: &str) -> String {
        let mut s = String::new();
        s.push_str(file);
        if let Some(line) = self.line {
            s.push_str(&format!(":{line}"));
        }
        s.push_str(&format!(
            ": {}[{}]: {}",
            self.severity, self.code, self.message
        ));
        if let Some(record) = self.record {
            s.push_str(&format!(" (record {record}"));
            if !self.path.is_empty() {
                s.push_str(&format!(", field {}", self.path));
            }
            s.push(')');
        } else if !self.path.is_empty() {
            s.push_str(&format!(" (field {})", self.path));
        }
        if let Some(hint) = &self.hint {
            s.push_str(&format!("\n  hint: {hint}"));
        }
        s
    }
}

/// Appends a token to a JSON pointer, escaping `~` and `/` as RFC 6901 requires.
pub fn pointer_push(base: &str, token: impl std::fmt::Display) -> String {
    let token = token.to_string().replace('~', "~0").replace('/', "~1");
    format!("{base}/{token}")
}

/// Counts of findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Tally {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut t = Tally::default();
        for f in findings {
            match f.severity {
                Severity::Error => t.errors += 1,
                Severity::Warning => t.warnings += 1,
                Severity::Info => t.infos += 1,
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(pointer_push("/a", "b/c~d"), "/a/b~1c~0d");
        assert_eq!(pointer_push("", 3), "/3");
    }

    #[test]
    fn display_names_file_line_record_and_field() {
        let f = Finding::new(Code::UnknownRole, "role \"robot\" is not a known role")
            .at(7, 6)
            .path("/conversations/1/from");
        let shown = f.display_with("data.jsonl");
        assert!(
            shown.starts_with("data.jsonl:7: error[unknown-role]: role \"robot\""),
            "{shown}"
        );
        assert!(
            shown.contains("record 6, field /conversations/1/from"),
            "{shown}"
        );
    }
}
