//! Hugging Face chat templates: Jinja text rendered with minijinja the way transformers renders it.
//!
//! transformers compiles a chat template in a sandboxed Jinja2 environment with `trim_blocks` and
//! `lstrip_blocks`, the loop-controls extension, a `raise_exception` function, its own `tojson`
//! (Python's `json.dumps`: no HTML escaping, `", "`/`": "` separators) and a `{% generation %}` tag
//! that records where assistant output is. This module builds the same environment on minijinja
//! (with the Python string/dict methods of `minijinja_contrib::pycompat`).
//!
//! `{% generation %}...{% endgeneration %}` is rewritten to a `{% filter %}` block before compiling:
//! a filter block keeps the tag's whitespace behaviour (`-` markers, `trim_blocks`) exactly, and the
//! filter wraps the block's output in two Unicode noncharacters that are cut out again after
//! rendering, leaving the text plus the byte ranges of every generation block.
//!
//! Deliberately missing: `strftime_now`. Renders must be reproducible (a bundle is byte-identical for
//! the same inputs), and templates that check `strftime_now is defined` fall back to their fixed date.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::TemplateError;
use crate::record::Message;

/// Name the template is registered under in its environment (shows up in error messages).
const TEMPLATE_NAME: &str = "chat_template";
/// The filter `{% generation %}` blocks are rewritten to.
const GENERATION_FILTER: &str = "__ajuste_generation";
/// Context variable that switches generation tracking on.
const TRACK_VAR: &str = "__ajuste_track_generation";
/// Start and end of a generation block in raw output. Noncharacters are reserved for internal use
/// and never appear in interchanged text; content that holds them anyway disables tracking.
pub(crate) const GEN_START: char = '\u{FDD0}';
pub(crate) const GEN_END: char = '\u{FDD1}';

static GENERATION_OPEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{%([-+]?)\s*generation\s*([-+]?)%\}").expect("the pattern is valid")
});
static GENERATION_CLOSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{%([-+]?)\s*endgeneration\s*([-+]?)%\}").expect("the pattern is valid")
});

/// A Hugging Face chat template (Jinja) with the special tokens it is rendered with.
///
/// Build one with [`ChatTemplate::new`] or [`ChatTemplate::from_tokenizer_config`]. The compiled
/// template is cached inside and rebuilt if `source` changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatTemplate {
    /// The Jinja text, exactly as the model ships it.
    pub source: String,
    /// Passed to the template as `bos_token`; empty means the model has none (the variable is then
    /// left undefined, as transformers does).
    pub bos_token: String,
    /// Passed as `eos_token`; also the end-of-conversation token masks look for.
    pub eos_token: String,
    /// Other special tokens of the tokenizer config (`unk_token`, `pad_token`, ...), passed to the
    /// template under their names like transformers passes its `special_tokens_map`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub special_tokens: BTreeMap<String, String>,
    /// The template's name when the config held a list of named templates (`default`, `tool_use`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip)]
    cache: CompileCache,
}

/// Special tokens (besides BOS/EOS) that transformers passes to templates when they are set.
const OTHER_SPECIAL_TOKENS: [&str; 5] = [
    "unk_token",
    "pad_token",
    "sep_token",
    "cls_token",
    "mask_token",
];

impl ChatTemplate {
    /// A template from its Jinja text and special tokens. Nothing is compiled yet; see
    /// [`ChatTemplate::check`].
    pub fn new(
        source: impl Into<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Self {
        ChatTemplate {
            source: source.into(),
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
            special_tokens: BTreeMap::new(),
            name: None,
            cache: CompileCache::default(),
        }
    }

    /// From tokenizer_config.json bytes (chat_template string or list of named templates; bos/eos as
    /// strings or AddedToken objects), optionally with a separate chat_template.jinja (transformers 5
    /// layout), which then wins over any template inside the config.
    ///
    /// From a list of named templates the one named `default` is taken, else the first. The template
    /// is compiled here so that a syntax error surfaces now and not on the first record.
    pub fn from_tokenizer_config(json: &[u8], jinja: Option<&str>) -> Result<Self, TemplateError> {
        let config: Json = serde_json::from_slice(json)
            .map_err(|e| TemplateError::InvalidConfig(e.to_string()))?;
        let Some(config) = config.as_object() else {
            return Err(TemplateError::InvalidConfig(
                "the top level is not a JSON object".into(),
            ));
        };
        let (source, name) = match jinja {
            Some(text) => (text.to_owned(), None),
            None => pick_template(config.get("chat_template"))?,
        };
        let mut template = ChatTemplate::new(
            source,
            special_token(config, "bos_token")?.unwrap_or_default(),
            special_token(config, "eos_token")?.unwrap_or_default(),
        );
        template.name = name;
        for key in OTHER_SPECIAL_TOKENS {
            if let Some(token) = special_token(config, key)? {
                template.special_tokens.insert(key.to_owned(), token);
            }
        }
        template.check()?;
        Ok(template)
    }

    /// Compiles the template, reporting a syntax error.
    pub fn check(&self) -> Result<(), TemplateError> {
        self.compiled().map(|_| ())
    }

    /// Whether the template marks assistant output with `{% generation %}` blocks.
    pub fn has_generation_blocks(&self) -> bool {
        GENERATION_OPEN.is_match(&self.source)
    }

    /// Renders messages, as `apply_chat_template(tokenize=False)` would.
    pub fn render_messages(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        let values: Vec<Value> = messages.iter().map(message_value).collect();
        self.render_values(&values, add_generation_prompt, false, None)
            .map(|out| out.text)
    }

    /// Renders template values. With `track`, the output's generation blocks are returned as byte
    /// ranges of the text (empty when the template has none).
    pub(crate) fn render_values(
        &self,
        messages: &[Value],
        add_generation_prompt: bool,
        track: bool,
        tools: Option<&Value>,
    ) -> Result<Rendering, TemplateError> {
        let compiled = self.compiled()?;
        let template = compiled
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| TemplateError::Syntax(describe(&e)))?;
        let raw = template
            .render(self.context(messages, add_generation_prompt, track, tools))
            .map_err(|e| TemplateError::Render(describe(&e)))?;
        if track && compiled.has_generation {
            split_generation(&raw)
        } else {
            Ok(Rendering {
                text: raw,
                generation: Vec::new(),
            })
        }
    }

    /// The variables a template sees: transformers passes `messages`, `tools`, `documents`,
    /// `add_generation_prompt` and every special token that is set.
    fn context(
        &self,
        messages: &[Value],
        add_generation_prompt: bool,
        track: bool,
        tools: Option<&Value>,
    ) -> Value {
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        ctx.insert("messages".into(), Value::from(messages.to_vec()));
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(add_generation_prompt),
        );
        ctx.insert("tools".into(), tools.cloned().unwrap_or(Value::from(())));
        ctx.insert("documents".into(), Value::from(()));
        for (key, token) in [
            ("bos_token", &self.bos_token),
            ("eos_token", &self.eos_token),
        ] {
            if !token.is_empty() {
                ctx.insert(key.into(), Value::from(token.as_str()));
            }
        }
        for (key, token) in &self.special_tokens {
            ctx.insert(key.clone(), Value::from(token.as_str()));
        }
        if track {
            ctx.insert(TRACK_VAR.into(), Value::from(true));
        }
        Value::from_object(ctx)
    }

    fn compiled(&self) -> Result<Arc<Compiled>, TemplateError> {
        let mut slot = self.cache.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(compiled) = slot.as_ref().filter(|c| c.source == self.source) {
            return Ok(Arc::clone(compiled));
        }
        let compiled = Arc::new(Compiled::new(&self.source)?);
        *slot = Some(Arc::clone(&compiled));
        Ok(compiled)
    }
}

/// The output of one render.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendering {
    pub text: String,
    /// Byte ranges of `text` produced inside `{% generation %}` blocks, in order.
    pub generation: Vec<Range<usize>>,
}

/// A compiled environment and the source it was compiled from.
struct Compiled {
    source: String,
    env: Environment<'static>,
    has_generation: bool,
}

impl Compiled {
    fn new(source: &str) -> Result<Self, TemplateError> {
        let has_generation = GENERATION_OPEN.is_match(source);
        let rewritten = GENERATION_OPEN.replace_all(
            source,
            format!("{{%${{1}} filter {GENERATION_FILTER} ${{2}}%}}"),
        );
        let rewritten = GENERATION_CLOSE
            .replace_all(&rewritten, "{%${1} endfilter ${2}%}")
            .into_owned();
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| TemplateError::Syntax(describe(&e)))?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", tojson);
        env.add_filter(GENERATION_FILTER, generation_block);
        env.add_template_owned(TEMPLATE_NAME, rewritten)
            .map_err(|e| TemplateError::Syntax(describe(&e)))?;
        Ok(Compiled {
            source: source.to_owned(),
            env,
            has_generation,
        })
    }
}

/// The compiled template, shared by clones until one of them changes its source.
#[derive(Default)]
struct CompileCache(Mutex<Option<Arc<Compiled>>>);

impl Clone for CompileCache {
    fn clone(&self) -> Self {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        CompileCache(Mutex::new(slot.clone()))
    }
}

impl std::fmt::Debug for CompileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompileCache")
    }
}

/// The cache is derived from `source`, so it never makes two templates differ.
impl PartialEq for CompileCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A message as templates see it: `role`, `content`, then the fields the source carried
/// (`name`, `tool_calls`, ...) in their original order. `train` is ajuste's, not the template's.
pub(crate) fn message_value(message: &Message) -> Value {
    let mut map = Map::new();
    map.insert("role".into(), Json::from(message.role.as_str()));
    map.insert("content".into(), Json::from(message.content.as_str()));
    for (key, value) in &message.extra {
        // transformers drops keys whose value is None before rendering.
        if !value.is_null() && key != "role" && key != "content" {
            map.insert(key.clone(), value.clone());
        }
    }
    Value::from(minijinja::value::Serde(&map))
}

/// A JSON value (record `tools`) as a template value.
pub(crate) fn json_value(json: &Json) -> Value {
    Value::from(minijinja::value::Serde(json))
}

/// Picks the template text out of `chat_template`: a string, or a list of `{name, template}`.
fn pick_template(value: Option<&Json>) -> Result<(String, Option<String>), TemplateError> {
    let wrong = || TemplateError::WrongType {
        field: "chat_template".into(),
        expected: "a string or a list of {\"name\", \"template\"} objects".into(),
    };
    match value {
        None | Some(Json::Null) => Err(TemplateError::NoChatTemplate),
        Some(Json::String(s)) => Ok((s.clone(), None)),
        Some(Json::Array(items)) => {
            let mut named = Vec::with_capacity(items.len());
            for item in items {
                let name = item.get("name").and_then(Json::as_str).ok_or_else(wrong)?;
                let template = item
                    .get("template")
                    .and_then(Json::as_str)
                    .ok_or_else(wrong)?;
                named.push((name, template));
            }
            let chosen = named
                .iter()
                .find(|(name, _)| *name == "default")
                .or(named.first());
            chosen
                .map(|(name, template)| (template.to_string(), Some(name.to_string())))
                .ok_or(TemplateError::NoChatTemplate)
        }
        Some(_) => Err(wrong()),
    }
}

/// A special token of the config: a string, an AddedToken object (`{"content": ...}`), or absent.
fn special_token(config: &Map<String, Json>, key: &str) -> Result<Option<String>, TemplateError> {
    match config.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(Json::Object(token)) => match token.get("content") {
            Some(Json::String(s)) => Ok(Some(s.clone())),
            _ => Err(TemplateError::WrongType {
                field: format!("{key}/content"),
                expected: "a string".into(),
            }),
        },
        Some(_) => Err(TemplateError::WrongType {
            field: key.into(),
            expected: "a string or an AddedToken object".into(),
        }),
    }
}

/// Cuts the generation markers out of raw output, returning the text and the blocks' ranges.
fn split_generation(raw: &str) -> Result<Rendering, TemplateError> {
    let mut text = String::with_capacity(raw.len());
    let mut generation = Vec::new();
    let mut open: Option<usize> = None;
    for c in raw.chars() {
        match c {
            GEN_START if open.is_some() => {
                return Err(TemplateError::Render(
                    "a {% generation %} block is nested in another".into(),
                ));
            }
            GEN_START => open = Some(text.len()),
            GEN_END => {
                let start = open.take().ok_or_else(|| {
                    TemplateError::Render(
                        "an {% endgeneration %} has no matching {% generation %}".into(),
                    )
                })?;
                if start < text.len() {
                    generation.push(start..text.len());
                }
            }
            c => text.push(c),
        }
    }
    if open.is_some() {
        return Err(TemplateError::Render(
            "a {% generation %} block is not closed".into(),
        ));
    }
    Ok(Rendering { text, generation })
}

/// An error as one line: the template's own message (from `raise_exception`) and where.
fn describe(err: &Error) -> String {
    let mut out = match err.detail() {
        Some(detail) if err.kind() == ErrorKind::InvalidOperation => detail.to_owned(),
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    if let Some(line) = err.line() {
        let _ = write!(out, " (template line {line})");
    }
    out
}

/// `raise_exception(message)`: templates call it to reject a conversation.
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// The filter `{% generation %}` blocks become: marks the block's output while tracking.
fn generation_block(state: &State, body: String) -> String {
    if state.lookup(TRACK_VAR).is_some_and(|v| v.is_true()) {
        format!("{GEN_START}{body}{GEN_END}")
    } else {
        body
    }
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`, with the same positional order.
fn tojson(
    value: &Value,
    ensure_ascii: Option<bool>,
    indent: Option<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let ensure_ascii = match kwargs.get::<Option<bool>>("ensure_ascii")? {
        Some(v) => v,
        None => ensure_ascii.unwrap_or(false),
    };
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        Some(v) => Some(v),
        None => indent,
    };
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.as_str() {
            Some(s) => Some(s.to_owned()),
            None => Some(" ".repeat(usize::try_from(v)?)),
        },
    };
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    let (item_sep, key_sep) = match separators {
        Some(seps) if seps.len() == 2 => (seps[0].clone(), seps[1].clone()),
        Some(_) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "tojson separators must be a pair of strings",
            ));
        }
        None if indent.is_some() => (",".to_owned(), ": ".to_owned()),
        None => (", ".to_owned(), ": ".to_owned()),
    };
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let writer = PyJson {
        ensure_ascii,
        indent,
        item_sep,
        key_sep,
        sort_keys,
    };
    let mut out = String::new();
    writer.write(&mut out, value, 0)?;
    Ok(out)
}

/// Python's `json.dumps` output format.
struct PyJson {
    ensure_ascii: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

impl PyJson {
    fn write(&self, out: &mut String, value: &Value, depth: usize) -> Result<(), Error> {
        match value.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
            ValueKind::Number if value.is_integer() => out.push_str(&value.to_string()),
            ValueKind::Number => out.push_str(&py_float(f64::try_from(value.clone())?)),
            ValueKind::String | ValueKind::Plain => self.write_str(out, &value.to_string()),
            ValueKind::Seq | ValueKind::Iterable | ValueKind::Bytes => {
                let items: Vec<Value> = value.try_iter()?.collect();
                self.write_container(out, '[', ']', depth, &items, |out, item| {
                    self.write(out, item, depth + 1)
                })?;
            }
            ValueKind::Map => {
                let mut keys: Vec<Value> = value.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort_by_key(|k| k.to_string());
                }
                self.write_container(out, '{', '}', depth, &keys, |out, key| {
                    self.write_str(out, &key.to_string());
                    out.push_str(&self.key_sep);
                    self.write(out, &value.get_item(key)?, depth + 1)
                })?;
            }
            // `ValueKind` is non-exhaustive: invalid values and any kind added later.
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "cannot serialise this value to JSON",
                ));
            }
        }
        Ok(())
    }

    fn write_container<T>(
        &self,
        out: &mut String,
        open: char,
        close: char,
        depth: usize,
        items: &[T],
        mut each: impl FnMut(&mut String, &T) -> Result<(), Error>,
    ) -> Result<(), Error> {
        out.push(open);
        if items.is_empty() {
            out.push(close);
            return Ok(());
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.item_sep);
            }
            self.newline(out, depth + 1);
            each(out, item)?;
        }
        self.newline(out, depth);
        out.push(close);
        Ok(())
    }

    fn newline(&self, out: &mut String, depth: usize) {
        if let Some(indent) = &self.indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(indent);
            }
        }
    }

    fn write_str(&self, out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (self.ensure_ascii && !(' '..='~').contains(&c)) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{unit:04x}");
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// A float as Python's `repr` writes it (`1.0`, `0.1`, `1e+16`, `1.5e-07`), which `json.dumps` uses.
fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // `{:e}` gives the shortest digits that round-trip, as Python's repr does.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let (int_part, frac_part) = if exp >= 0 {
            let split = exp as usize + 1;
            if digits.len() <= split {
                (
                    format!("{digits}{}", "0".repeat(split - digits.len())),
                    String::new(),
                )
            } else {
                (digits[..split].to_owned(), digits[split..].to_owned())
            }
        } else {
            (
                "0".to_owned(),
                format!("{}{digits}", "0".repeat((-exp - 1) as usize)),
            )
        };
        let frac_part = if frac_part.is_empty() {
            "0".to_owned()
        } else {
            frac_part
        };
        format!("{sign}{int_part}.{frac_part}")
    } else {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_float_matches_python_repr() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (123456.789, "123456.789"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (1e15, "1000000000000000.0"),
        ] {
            assert_eq!(py_float(f), want, "{f}");
        }
    }

    #[test]
    fn tojson_writes_what_json_dumps_writes() {
        let t = ChatTemplate::new(
            "{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ 'ã<' | tojson }}|{{ 'ã' | tojson(ensure_ascii=true) }}",
            "",
            "",
        );
        let env = t.compiled().unwrap();
        let tmpl = env.env.get_template(TEMPLATE_NAME).unwrap();
        let x = json_value(&serde_json::json!({"b": [1, 2.5, null], "a": true}));
        let out = tmpl.render(minijinja::context! { x => x }).unwrap();
        assert_eq!(
            out,
            "{\"b\": [1, 2.5, null], \"a\": true}|{\n  \"b\": [\n    1,\n    2.5,\n    null\n  ],\n  \"a\": true\n}|\"ã<\"|\"\\u00e3\""
        );
    }

    #[test]
    fn generation_blocks_become_ranges_and_keep_whitespace_control() {
        let t = ChatTemplate::new(
            "{% for m in messages %}{{ m.role }}:\n{%- generation %}\n{{ m.content }}{% endgeneration %};{% endfor %}",
            "",
            "",
        );
        let msgs = [Message::user("hi"), Message::assistant("yo")];
        let values: Vec<Value> = msgs.iter().map(message_value).collect();
        let plain = t.render_values(&values, false, false, None).unwrap();
        let tracked = t.render_values(&values, false, true, None).unwrap();
        assert_eq!(plain.text, "user:hi;assistant:yo;");
        assert_eq!(tracked.text, plain.text);
        let spans: Vec<&str> = tracked
            .generation
            .iter()
            .map(|r| &tracked.text[r.clone()])
            .collect();
        assert_eq!(spans, ["hi", "yo"]);
    }

    #[test]
    fn raise_exception_message_is_reported() {
        let t = ChatTemplate::new("{{ raise_exception('System role not supported') }}", "", "");
        let err = t.render_messages(&[], false).unwrap_err();
        assert!(
            err.to_string().contains("System role not supported"),
            "{err}"
        );
    }

    #[test]
    fn config_accepts_named_lists_and_added_token_objects() {
        let json = br#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}],
            "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null, "unk_token": "<unk>"}"#;
        let t = ChatTemplate::from_tokenizer_config(json, None).unwrap();
        assert_eq!(
            (t.source.as_str(), t.name.as_deref()),
            ("D", Some("default"))
        );
        assert_eq!(
            (t.bos_token.as_str(), t.eos_token.as_str()),
            ("<s>", "</s>")
        );
        assert_eq!(
            t.special_tokens.get("unk_token").map(String::as_str),
            Some("<unk>")
        );
        assert!(!t.special_tokens.contains_key("pad_token"));
    }

    #[test]
    fn config_errors_are_typed() {
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(b"{", None),
            Err(TemplateError::InvalidConfig(_))
        ));
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(b"{}", None),
            Err(TemplateError::NoChatTemplate)
        ));
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(br#"{"chat_template": 3}"#, None),
            Err(TemplateError::WrongType { .. })
        ));
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(br#"{"chat_template": "{% for %}"}"#, None),
            Err(TemplateError::Syntax(_))
        ));
        // A separate chat_template.jinja (transformers 5) needs no template in the config.
        let t = ChatTemplate::from_tokenizer_config(br#"{"eos_token": "<|im_end|>"}"#, Some("X"))
            .unwrap();
        assert_eq!(t.source, "X");
    }
}
