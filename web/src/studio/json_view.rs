//! A source record as the Validate page shows it: pretty-printed JSON with the place of every
//! value (so the field a finding names can be highlighted), its string fields (so they can be
//! fixed in place), and setting a string at a JSON pointer (the fix itself).

use serde_json::{Map, Value};

use crate::protocol::{Field, Span};

/// `value` printed with two-space indents (as `serde_json::to_string_pretty` does), and the
/// byte range of every value in the text, by JSON pointer (RFC 6901).
pub fn pretty_with_spans(value: &Value) -> (String, Vec<Span>) {
    let mut printer = Printer::default();
    printer.value(value, "", 0);
    (printer.out, printer.spans)
}

#[derive(Default)]
struct Printer {
    out: String,
    spans: Vec<Span>,
}

impl Printer {
    fn value(&mut self, value: &Value, pointer: &str, depth: usize) {
        let start = self.out.len();
        match value {
            Value::Object(map) if !map.is_empty() => self.object(map, pointer, depth),
            Value::Array(items) if !items.is_empty() => self.array(items, pointer, depth),
            // Scalars and empty containers print as serde_json prints them; that cannot fail
            // for a `Value` (its keys are strings).
            other => self
                .out
                .push_str(&serde_json::to_string(other).unwrap_or_default()),
        }
        self.spans.push(Span {
            pointer: pointer.to_owned(),
            start,
            end: self.out.len(),
        });
    }

    fn object(&mut self, map: &Map<String, Value>, pointer: &str, depth: usize) {
        self.out.push('{');
        for (i, (key, value)) in map.iter().enumerate() {
            self.out.push_str(if i == 0 { "\n" } else { ",\n" });
            self.indent(depth + 1);
            self.out
                .push_str(&serde_json::to_string(key).unwrap_or_default());
            self.out.push_str(": ");
            self.value(value, &push_token(pointer, key), depth + 1);
        }
        self.out.push('\n');
        self.indent(depth);
        self.out.push('}');
    }

    fn array(&mut self, items: &[Value], pointer: &str, depth: usize) {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            self.out.push_str(if i == 0 { "\n" } else { ",\n" });
            self.indent(depth + 1);
            self.value(item, &push_token(pointer, &i.to_string()), depth + 1);
        }
        self.out.push('\n');
        self.indent(depth);
        self.out.push(']');
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }
}

/// Appends a reference token to a pointer, escaping `~` and `/`.
fn push_token(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// The span of the value at `pointer`, or of its nearest ancestor that exists (a finding about
/// a missing field points at the object that lacks it).
pub fn span_for<'a>(spans: &'a [Span], pointer: &str) -> Option<&'a Span> {
    let mut p = pointer;
    loop {
        if let Some(span) = spans.iter().find(|s| s.pointer == p) {
            return Some(span);
        }
        if p.is_empty() {
            return None;
        }
        p = p.rfind('/').map_or("", |i| &p[..i]);
    }
}

/// Every string in `value` with its pointer, in document order.
pub fn string_fields(value: &Value) -> Vec<Field> {
    let mut out = Vec::new();
    collect_strings(value, "", &mut out);
    out
}

fn collect_strings(value: &Value, pointer: &str, out: &mut Vec<Field>) {
    match value {
        Value::String(s) => out.push(Field {
            pointer: pointer.to_owned(),
            value: s.clone(),
        }),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_strings(item, &push_token(pointer, &i.to_string()), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                collect_strings(item, &push_token(pointer, key), out);
            }
        }
        _ => {}
    }
}

/// Why a fix cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the record has no field {0}, and no object to add it to")]
    NoPlace(String),
    #[error("{0} is not a JSON pointer (it must start with \"/\")")]
    BadPointer(String),
}

/// Sets the value at `pointer` to the string `text`. The field may be missing if its parent is
/// an object (a fix for a `missing-field` finding adds it); whatever was there (a number, a
/// null) is replaced by the string.
pub fn set_string(value: &mut Value, pointer: &str, text: &str) -> Result<(), EditError> {
    if pointer.is_empty() {
        *value = Value::String(text.to_owned());
        return Ok(());
    }
    if !pointer.starts_with('/') {
        return Err(EditError::BadPointer(pointer.to_owned()));
    }
    if let Some(target) = value.pointer_mut(pointer) {
        *target = Value::String(text.to_owned());
        return Ok(());
    }
    let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(key, Value::String(text.to_owned()));
            Ok(())
        }
        _ => Err(EditError::NoPlace(pointer.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_serde_json_and_spans_name_each_value() {
        let v = json!({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": ""}], "id": 3, "tags": [], "a/b": null});
        let (text, spans) = pretty_with_spans(&v);
        assert_eq!(text, serde_json::to_string_pretty(&v).unwrap());
        let at = |p: &str| {
            let s = span_for(&spans, p).unwrap();
            &text[s.start..s.end]
        };
        assert_eq!(at("/conversations/1/value"), "\"\"");
        assert_eq!(at("/conversations/0/from"), "\"human\"");
        assert_eq!(at("/id"), "3");
        assert_eq!(at("/tags"), "[]");
        assert_eq!(at("/a~1b"), "null");
        assert!(at("/conversations/1").starts_with('{'));
        assert_eq!(at(""), text);
    }

    #[test]
    fn a_missing_field_points_at_its_parent() {
        let v = json!({"messages": [{"role": "user"}]});
        let (text, spans) = pretty_with_spans(&v);
        let s = span_for(&spans, "/messages/0/content").unwrap();
        assert_eq!(s.pointer, "/messages/0");
        assert!(text[s.start..s.end].contains("\"role\""));
        assert!(span_for(&[], "/x").is_none());
    }

    #[test]
    fn string_fields_in_document_order() {
        let v = json!({"instruction": "q", "history": [["a", "b"]], "n": 1});
        let fields: Vec<(String, String)> = string_fields(&v)
            .into_iter()
            .map(|f| (f.pointer, f.value))
            .collect();
        assert_eq!(
            fields,
            [
                ("/instruction".to_owned(), "q".to_owned()),
                ("/history/0/0".to_owned(), "a".to_owned()),
                ("/history/0/1".to_owned(), "b".to_owned()),
            ]
        );
    }

    #[test]
    fn set_string_replaces_adds_and_refuses() {
        let mut v = json!({"conversations": [{"from": "robot", "value": 3}]});
        set_string(&mut v, "/conversations/0/from", "gpt").unwrap();
        set_string(&mut v, "/conversations/0/value", "hello").unwrap();
        set_string(&mut v, "/conversations/0/weight~1x", "1").unwrap();
        assert_eq!(
            v,
            json!({"conversations": [{"from": "gpt", "value": "hello", "weight/x": "1"}]})
        );
        assert_eq!(
            set_string(&mut v, "/missing/0/value", "x"),
            Err(EditError::NoPlace("/missing/0/value".into()))
        );
        assert_eq!(
            set_string(&mut v, "conversations", "x"),
            Err(EditError::BadPointer("conversations".into()))
        );
    }
}
