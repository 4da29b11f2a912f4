//! ShareGPT: `{"conversations": [{"from": "human", "value": "..."}, ...]}` (FastChat, LLaMA-Factory).
//!
//! Where ajuste departs from the public format (which has no schema, only common use):
//! - `from` names are matched case-insensitively: `system`; `human`/`user`; `gpt`/`assistant`/
//!   `chatgpt`/`bing`/`bard`/`model`; `function_call` (an assistant turn that calls a tool);
//!   `tool`/`function`/`observation` (a tool result). Any other name is an `unknown-role` error.
//!   A name other than the default for its role (`system`, `human`, `gpt`, `observation`) is kept
//!   in the turn's extra fields under [`FROM_KEY`] and written back as it was.
//! - Turns keyed `role`/`content` instead of `from`/`value` (a common variant on the Hugging Face
//!   hub and a LLaMA-Factory option) are read too, with the names of either format, and written
//!   back with the same keys (layout key `role_keys`); the default names there are the OpenAI ones.
//! - A turn's `weight` (0/1) becomes the training flag; Axolotl's `train` (true/false) is read
//!   too and written back as `weight`.
//! - A non-empty top-level `system` string (LLaMA-Factory) becomes a leading system turn and is
//!   written back as the field; an empty one stays an ordinary extra field. Other top-level fields
//!   (`id`, `tools`, ...) are kept verbatim; `id` is written first.
//! - Only SFT conversations are held; preference and feedback records cannot be written.

use serde_json::{Map, Value, json};

use super::{
    Diag, ExportError, Format, TurnPointer, assemble, collect_extra, collect_meta, foreign_extra,
    layout_get, layout_set, parse_train, pointer, require_text_only,
};
use crate::codes::Code;
use crate::diagnostic::Finding;
use crate::record::{Conversation, Message, Record, Role};

/// Extra-field key that keeps a turn's original `from` when it is not the default for its role.
pub const FROM_KEY: &str = "from";

/// Layout fact: the leading system turn came from the top-level `system` field.
const SYSTEM_FIELD: &str = "system_field";
/// Layout fact: turns are keyed `role`/`content`.
const ROLE_KEYS: &str = "role_keys";

/// The keys of a turn object: `from`/`value`, or `role`/`content` in that variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keys {
    from: &'static str,
    value: &'static str,
}

const FROM_VALUE: Keys = Keys {
    from: "from",
    value: "value",
};
const ROLE_CONTENT: Keys = Keys {
    from: "role",
    value: "content",
};

impl Keys {
    /// The keys a source record uses, judged by its first turn (or its `chosen` turn in the
    /// LLaMA-Factory preference dialect).
    pub(crate) fn of_source(source: &Value) -> Keys {
        source.as_object().map_or(FROM_VALUE, Keys::of_object)
    }

    pub(crate) fn of_object(obj: &Map<String, Value>) -> Keys {
        let first = obj
            .get("conversations")
            .and_then(|c| c.get(0))
            .or_else(|| obj.get("chosen"));
        match first.and_then(Value::as_object) {
            Some(t) if !t.contains_key("from") && t.contains_key("role") => ROLE_CONTENT,
            _ => FROM_VALUE,
        }
    }

    /// The keys a parsed record was read with.
    pub(crate) fn of_record(meta: &Map<String, Value>) -> Keys {
        if layout_get(meta, ROLE_KEYS) == Some(&Value::Bool(true)) {
            ROLE_CONTENT
        } else {
            FROM_VALUE
        }
    }

    /// The name written for a role when the turn does not remember another.
    fn default_name(self, role: Role) -> &'static str {
        if self == ROLE_CONTENT {
            role.as_str()
        } else {
            default_from(role)
        }
    }

    /// Canonical turn field -> this layout's turn field.
    fn rename(self, field: &str) -> &str {
        match field {
            "content" => self.value,
            "role" => self.from,
            "train" => "weight",
            other => other,
        }
    }
}

/// The role of a turn name in either variant (ShareGPT names, then OpenAI ones).
fn name_role(name: &str) -> Option<Role> {
    role_of(name).or_else(|| Role::from_openai(&name.to_ascii_lowercase()))
}

/// The role a ShareGPT `from` name stands for.
pub fn role_of(from: &str) -> Option<Role> {
    match from.to_ascii_lowercase().as_str() {
        "system" => Some(Role::System),
        "human" | "user" => Some(Role::User),
        "gpt" | "assistant" | "chatgpt" | "bing" | "bard" | "model" | "function_call" => {
            Some(Role::Assistant)
        }
        "tool" | "function" | "observation" => Some(Role::Tool),
        _ => None,
    }
}

/// The name written for a role when the turn does not remember another.
fn default_from(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "human",
        Role::Assistant => "gpt",
        Role::Tool => "observation",
    }
}

/// Parses a ShareGPT record.
pub fn parse(value: &Value) -> Result<(Record, Vec<Finding>), Vec<Finding>> {
    let mut d = Diag::default();
    let Some(obj) = d.object(value) else {
        return Err(d.findings);
    };
    let (messages, meta) = parse_conversation(obj, &[], &mut d);
    d.finish(Record::Conversation(Conversation { messages, meta }))
}

/// Reads the `system` and `conversations` fields of a ShareGPT-style object (also used by the
/// LLaMA-Factory KTO dialect) and the remaining fields as meta, leaving out `also_consumed`.
pub(crate) fn parse_conversation(
    obj: &Map<String, Value>,
    also_consumed: &[&str],
    d: &mut Diag,
) -> (Vec<Message>, Map<String, Value>) {
    let mut consumed = vec!["conversations"];
    consumed.extend_from_slice(also_consumed);
    let keys = Keys::of_object(obj);
    let mut messages = Vec::new();
    let system = hoisted_system(obj, d);
    if let Some(text) = system {
        consumed.push("system");
        messages.push(Message::system(text));
    }
    if let Some(list) = d.require(obj, "", "conversations", "the record") {
        messages.extend(parse_turns(list, "/conversations", keys, d));
    }
    let mut meta = collect_meta(obj, &consumed, d);
    if system.is_some() {
        layout_set(&mut meta, SYSTEM_FIELD, Value::Bool(true));
    }
    if keys == ROLE_CONTENT {
        layout_set(&mut meta, ROLE_KEYS, Value::Bool(true));
    }
    (messages, meta)
}

/// The top-level `system` text when it is a non-empty string (an empty one means "no system
/// prompt" in LLaMA-Factory and stays in meta as it is).
fn hoisted_system<'v>(obj: &'v Map<String, Value>, d: &mut Diag) -> Option<&'v str> {
    let value = obj.get("system")?;
    match value.as_str() {
        Some("") => None,
        Some(s) => Some(s),
        None => {
            d.wrong_type("/system", "a string", value);
            None
        }
    }
}

/// Parses a list of ShareGPT turns found at `base`.
pub(crate) fn parse_turns(list: &Value, base: &str, keys: Keys, d: &mut Diag) -> Vec<Message> {
    let Some(items) = d.array(list, base) else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, turn)| parse_turn(turn, &pointer(base, i), keys, d))
        .collect()
}

/// Parses one `{from, value}` (or `{role, content}`) turn found at `path`.
pub(crate) fn parse_turn(turn: &Value, path: &str, keys: Keys, d: &mut Diag) -> Option<Message> {
    let Some(obj) = turn.as_object() else {
        let expected = format!("an object with `{}` and `{}`", keys.from, keys.value);
        d.wrong_type(path, &expected, turn);
        return None;
    };
    let from = d
        .require(obj, path, keys.from, "the turn")
        .and_then(|f| d.string(f, &pointer(path, keys.from)));
    let value = d
        .require(obj, path, keys.value, "the turn")
        .and_then(|v| d.string(v, &pointer(path, keys.value)));
    let role = from.and_then(|name| {
        let role = if keys == ROLE_CONTENT {
            name_role(name)
        } else {
            role_of(name)
        };
        if role.is_none() {
            d.push(
                Code::UnknownRole,
                pointer(path, keys.from),
                format!("`{name}` is not a ShareGPT role"),
            );
        }
        role
    });
    let train = parse_train(obj, path, d);
    let mut extra = collect_extra(obj, &[keys.from, keys.value, "weight", "train"], path, d);
    let (from, role, value) = (from?, role?, value?);
    if from != keys.default_name(role) {
        extra.insert(FROM_KEY.to_owned(), Value::String(from.to_owned()));
    }
    Some(Message {
        role,
        content: value.to_owned(),
        train,
        extra,
    })
}

/// Writes a record as ShareGPT.
pub fn export(record: &Record) -> Result<Value, ExportError> {
    let Record::Conversation(c) = record else {
        return Err(ExportError::wrong_kind(Format::Sharegpt, record));
    };
    let (system, turns) = split_system_field(&c.meta, &c.messages);
    let offset = usize::from(system.is_some());
    let keys = Keys::of_record(&c.meta);
    let conversations = export_turns(
        Format::Sharegpt,
        record,
        "conversation",
        turns,
        offset,
        keys,
    )?;
    let mut native = vec![("conversations", Value::Array(conversations))];
    if let Some(text) = system {
        native.push(("system", Value::String(text.to_owned())));
    }
    assemble(Format::Sharegpt, record, native)
}

/// The leading system turn to write as the `system` field (when the source had it there and the
/// turn carries nothing the field cannot hold), and the turns that go in `conversations`.
pub(crate) fn split_system_field<'m>(
    meta: &Map<String, Value>,
    messages: &'m [Message],
) -> (Option<&'m str>, &'m [Message]) {
    if layout_get(meta, SYSTEM_FIELD) == Some(&Value::Bool(true))
        && let Some((first, rest)) = messages.split_first()
        && first.role == Role::System
        && first.train.is_none()
        && foreign_extra(first, &[]).next().is_none()
    {
        return (Some(&first.content), rest);
    }
    (None, messages)
}

/// Writes turns as `{from, value}` objects; `offset` is the position of the first one in the
/// record (for error messages).
pub(crate) fn export_turns(
    format: Format,
    record: &Record,
    list: &str,
    turns: &[Message],
    offset: usize,
    keys: Keys,
) -> Result<Vec<Value>, ExportError> {
    turns
        .iter()
        .enumerate()
        .map(|(i, m)| export_turn(format, record, list, i + offset, m, keys))
        .collect()
}

/// Writes one turn as a `{from, value}` (or `{role, content}`) object.
pub(crate) fn export_turn(
    format: Format,
    record: &Record,
    list: &str,
    index: usize,
    m: &Message,
    keys: Keys,
) -> Result<Value, ExportError> {
    require_text_only(format, record, list, index, m)?;
    let mut obj = Map::new();
    obj.insert(keys.from.to_owned(), json!(from_name(m, keys)));
    obj.insert(keys.value.to_owned(), json!(m.content));
    if let Some(train) = m.train {
        obj.insert("weight".to_owned(), json!(u8::from(train)));
    }
    for (key, value) in foreign_extra(m, &[]) {
        if obj.contains_key(key) {
            return Err(ExportError::new(
                format,
                record,
                format!(
                    "{} has an extra field `{key}` that collides with ShareGPT's own",
                    super::turn_label(list, index, m)
                ),
            ));
        }
        obj.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(obj))
}

/// The `from` name of a turn: the remembered one when it still fits the role.
fn from_name(m: &Message, keys: Keys) -> &str {
    let fits = |name: &str| if keys == ROLE_CONTENT { name_role(name) } else { role_of(name) } == Some(m.role);
    match m.extra.get(FROM_KEY).and_then(Value::as_str) {
        Some(name) if fits(name) => name,
        _ => keys.default_name(m.role),
    }
}

/// `/messages/i/...` of a parsed record -> the pointer in the ShareGPT source.
pub(crate) fn source_pointer(source: &Value, p: &TurnPointer) -> Option<String> {
    (p.list == "messages").then(|| turn_pointer(source, p, p.index))
}

/// Whether the source's leading system turn came from its `system` field.
pub(crate) fn has_hoisted_system(source: &Value) -> bool {
    source
        .get("system")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// The pointer in `source` of canonical turn `index` (counted with the hoisted system turn,
/// if any) of a ShareGPT-style turn list.
pub(crate) fn turn_pointer(source: &Value, p: &TurnPointer, index: Option<usize>) -> String {
    let hoisted = has_hoisted_system(source);
    let keys = Keys::of_source(source);
    match index {
        None => "/conversations".to_owned(),
        Some(0) if hoisted => "/system".to_owned(),
        Some(i) => p.under("/conversations", i - usize::from(hoisted), |f| {
            keys.rename(f).to_owned()
        }),
    }
}

/// Canonical field `field` of the single turn object at `/{list}` (LLaMA-Factory preference
/// dialect) -> its pointer.
pub(crate) fn single_turn_pointer(source: &Value, list: &str, field: &str) -> String {
    let base = format!("/{list}");
    if field.is_empty() {
        base
    } else {
        pointer(&base, Keys::of_source(source).rename(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_remembered_names() {
        let v = json!({"id": "a", "conversations": [
            {"from": "human", "value": "hi"},
            {"from": "chatgpt", "value": "hello", "weight": 0},
            {"from": "function_call", "value": "{\"name\": \"f\"}"},
            {"from": "observation", "value": "42"}
        ]});
        let (rec, warnings) = parse(&v).unwrap();
        assert!(warnings.is_empty());
        let Record::Conversation(c) = &rec else {
            panic!()
        };
        let roles: Vec<Role> = c.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::User, Role::Assistant, Role::Assistant, Role::Tool]
        );
        assert_eq!(c.messages[1].train, Some(false));
        assert_eq!(c.messages[1].extra.get(FROM_KEY), Some(&json!("chatgpt")));
        assert!(c.messages[0].extra.is_empty());
        assert_eq!(c.meta.get("id"), Some(&json!("a")));
        assert_eq!(export(&rec).unwrap(), v);
    }

    #[test]
    fn system_field_is_hoisted_and_restored() {
        let v = json!({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}], "system": "be brief"});
        let (rec, _) = parse(&v).unwrap();
        let Record::Conversation(c) = &rec else {
            panic!()
        };
        assert_eq!(c.messages[0], Message::system("be brief"));
        assert_eq!(export(&rec).unwrap(), v);
        let empty = json!({"conversations": [{"from": "human", "value": "q"}], "system": ""});
        let (rec, _) = parse(&empty).unwrap();
        assert_eq!(rec.meta().get("system"), Some(&json!("")));
        assert_eq!(export(&rec).unwrap(), empty);
    }

    #[test]
    fn errors_name_the_field() {
        let v = json!({"conversations": [{"from": "robot", "value": "x"}, {"from": "gpt"}, 7]});
        let errs = parse(&v).unwrap_err();
        let got: Vec<(Code, &str)> = errs.iter().map(|f| (f.code, f.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (Code::UnknownRole, "/conversations/0/from"),
                (Code::MissingField, "/conversations/1/value"),
                (Code::WrongType, "/conversations/2"),
            ]
        );
        assert_eq!(
            parse(&json!({"conversations": "x"})).unwrap_err()[0].code,
            Code::WrongType
        );
        assert_eq!(
            parse(&json!({"id": 1})).unwrap_err()[0].path,
            "/conversations"
        );
        assert_eq!(parse(&json!([1])).unwrap_err()[0].code, Code::NotAnObject);
    }

    #[test]
    fn role_and_content_keys_are_read_and_written_back() {
        let v = json!({"conversations": [
            {"role": "developer", "content": "s"},
            {"role": "human", "content": "q"},
            {"role": "assistant", "content": "", "weight": 1}
        ]});
        let (rec, _) = parse(&v).unwrap();
        let roles: Vec<Role> = rec.turns().iter().map(|t| t.2.role).collect();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant]);
        assert!(
            rec.turns()[2].2.extra.is_empty(),
            "`assistant` is the default name here"
        );
        assert_eq!(export(&rec).unwrap(), v);
        let p = TurnPointer {
            list: "messages".into(),
            index: Some(2),
            field: "content".into(),
        };
        assert_eq!(source_pointer(&v, &p).unwrap(), "/conversations/2/content");
        // A turn in the other spelling is missing its keys.
        let mixed = json!({"conversations": [{"role": "user", "content": "q"}, {"from": "gpt", "value": "a"}]});
        let errs = parse(&mixed).unwrap_err();
        assert_eq!(errs[0].path, "/conversations/1/role");
    }

    #[test]
    fn pointers_follow_the_hoisted_system_turn() {
        let v = json!({"system": "s", "conversations": [{"from": "human", "value": ""}]});
        let p = TurnPointer {
            list: "messages".into(),
            index: Some(1),
            field: "content".into(),
        };
        assert_eq!(source_pointer(&v, &p).unwrap(), "/conversations/0/value");
        let p0 = TurnPointer {
            list: "messages".into(),
            index: Some(0),
            field: "role".into(),
        };
        assert_eq!(source_pointer(&v, &p0).unwrap(), "/system");
    }
}
