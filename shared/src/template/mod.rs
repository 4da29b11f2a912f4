//! Chat templates and loss masks.
//!
//! A [`Template`] turns a record into training text split into [`Segment`]s, each trained or not:
//! a built-in ([`Builtin`]: Alpaca, Vicuna, Llama 2, Llama 3, ChatML, Mistral, Gemma, Phi-3, Zephyr,
//! Qwen) or any Hugging Face chat template ([`ChatTemplate`], Jinja). Built-ins are Jinja templates
//! too, rendered by the same engine, so what is trained is exactly what an export carries.
//!
//! Which text is trained (see `mask.rs` for the details):
//! - SFT: assistant turns; feedback (KTO) and preference (DPO) records: the completion's assistant
//!   turns. [`Message::train`] overrides the default for any turn.
//! - A trained assistant turn is the text its rendering adds after the generation prompt, including
//!   the template's end-of-turn tokens (as TRL's `assistant_only_loss` trains them), or the output of
//!   its `{% generation %}` block when the template has them.
//!
//! Rendering never fails: problems come back as [`Finding`]s in the [`Rendered`] value
//! (`template-error`, `template-drops-role`, `eos-not-trained`, `no-trained-tokens`,
//! `template-not-incremental`). [`crate::tokenize`] turns a [`Rendered`] into token ids and labels.

mod builtin;
mod jinja;
mod mask;

use std::ops::Range;

use serde::{Deserialize, Serialize};

pub use builtin::Builtin;
pub use jinja::ChatTemplate;

use crate::diagnostic::Finding;
use crate::record::{Item, Message, Preference, Record, Role, Source};

/// A piece of rendered text, trained or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub text: String,
    /// Whether the loss is computed on this text's tokens.
    pub trained: bool,
    /// The turn the text belongs to; `None` for text outside every turn (a leading BOS, a default
    /// system prompt the template adds).
    pub role: Option<Role>,
}

/// A rendered record: text split into segments, each trained or not, and what went wrong.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Rendered {
    pub segments: Vec<Segment>,
    pub findings: Vec<Finding>,
}

impl Rendered {
    /// The whole rendered text.
    pub fn text(&self) -> String {
        self.segments.iter().map(|s| s.text.as_str()).collect()
    }

    /// The trained text, concatenated (for display and tests).
    pub fn trained_text(&self) -> String {
        self.segments
            .iter()
            .filter(|s| s.trained)
            .map(|s| s.text.as_str())
            .collect()
    }

    /// Byte ranges of [`Rendered::text`] that are trained, in order, adjacent ones merged.
    pub fn trained_ranges(&self) -> Vec<Range<usize>> {
        let mut ranges: Vec<Range<usize>> = Vec::new();
        let mut at = 0;
        for segment in &self.segments {
            let end = at + segment.text.len();
            if segment.trained && end > at {
                match ranges.last_mut() {
                    Some(last) if last.end == at => last.end = end,
                    _ => ranges.push(at..end),
                }
            }
            at = end;
        }
        ranges
    }

    /// The segments before byte `at` of [`Rendered::text`] and those from it on, the segment it
    /// falls in split in two (`at` moved back to a character boundary). What a cut to a maximum
    /// length keeps and drops ([`crate::tokenize::Encoded::cut_at`]).
    pub fn split_at(&self, at: usize) -> (Vec<Segment>, Vec<Segment>) {
        let (mut kept, mut dropped) = (Vec::new(), Vec::new());
        let mut start = 0;
        for segment in &self.segments {
            let end = start + segment.text.len();
            let mut split = at.clamp(start, end) - start;
            while !segment.text.is_char_boundary(split) {
                split -= 1;
            }
            let (before, after) = segment.text.split_at(split);
            for (text, side) in [(before, &mut kept), (after, &mut dropped)] {
                if !text.is_empty() {
                    side.push(Segment {
                        text: text.to_owned(),
                        ..segment.clone()
                    });
                }
            }
            start = end;
        }
        (kept, dropped)
    }

    /// Whether any text is trained.
    pub fn has_trained_text(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.trained && !s.text.is_empty())
    }

    /// Points every finding at the record's line and index in the input.
    pub fn at(mut self, source: Source) -> Self {
        for finding in &mut self.findings {
            finding.line = Some(source.line);
            finding.record = Some(source.index);
        }
        self
    }
}

/// Why a template could not be read or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("tokenizer_config.json is not valid JSON: {0}")]
    InvalidConfig(String),
    #[error("tokenizer_config.json has no chat_template, and no chat_template.jinja was given")]
    NoChatTemplate,
    #[error("tokenizer_config.json field `{field}` should be {expected}")]
    WrongType { field: String, expected: String },
    #[error("the chat template does not compile: {0}")]
    Syntax(String),
    #[error("the chat template failed to render: {0}")]
    Render(String),
    #[error(
        "`{0}` is not a built-in template (known: alpaca, vicuna, llama2, llama3, chatml, mistral, gemma, phi3, zephyr, qwen)"
    )]
    UnknownBuiltin(String),
}

/// A template: a built-in or a Hugging Face chat_template (Jinja) with its special tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    Builtin(Builtin),
    Jinja(ChatTemplate),
}

impl From<Builtin> for Template {
    fn from(b: Builtin) -> Self {
        Template::Builtin(b)
    }
}

impl From<ChatTemplate> for Template {
    fn from(t: ChatTemplate) -> Self {
        Template::Jinja(t)
    }
}

impl Template {
    /// `chatml`, `llama3`, ...; for a Hugging Face template its name in the config, else `jinja`.
    pub fn name(&self) -> String {
        match self {
            Template::Builtin(b) => b.as_str().to_owned(),
            Template::Jinja(t) => t.name.clone().unwrap_or_else(|| "jinja".to_owned()),
        }
    }

    /// The Jinja text of the template (built-ins have one too, so a bundle / GGUF / Ollama export
    /// can carry the exact text).
    pub fn jinja_source(&self) -> String {
        self.chat().source.clone()
    }

    pub fn eos_token(&self) -> &str {
        &self.chat().eos_token
    }

    pub fn bos_token(&self) -> &str {
        &self.chat().bos_token
    }

    /// The Jinja template behind this one.
    pub fn chat(&self) -> &ChatTemplate {
        match self {
            Template::Builtin(b) => b.chat_template(),
            Template::Jinja(t) => t,
        }
    }

    /// Render a whole record for training. SFT: the conversation; Feedback: prompt+completion
    /// (completion trained); Preference: prompt+chosen (see [`Template::render_pair`] for both).
    /// [`Message::train`] overrides the default (assistant turns trained).
    ///
    /// Findings carry the JSON pointer of the turn they are about; [`Template::render_item`] also
    /// fills in line and record.
    pub fn render(&self, record: &Record) -> Rendered {
        let name = self.name();
        match record {
            Record::Conversation(c) => {
                let turns: Vec<_> = mask::turns("/messages", &c.messages, true).collect();
                mask::render_turns(self.chat(), &name, &turns, c.meta.get("tools"))
            }
            Record::Feedback(f) => {
                let turns: Vec<_> = mask::turns("/prompt", &f.prompt, false)
                    .chain(mask::turns("/completion", &f.completion, true))
                    .collect();
                mask::render_turns(self.chat(), &name, &turns, f.meta.get("tools"))
            }
            Record::Preference(p) => self.render_side(p, "/chosen", &p.chosen),
        }
    }

    /// [`Template::render`] with findings pointing at the item's line and record.
    pub fn render_item(&self, item: &Item) -> Rendered {
        self.render(&item.record).at(item.source)
    }

    /// Preference: (prompt + chosen, prompt + rejected), completions trained.
    pub fn render_pair(&self, p: &Preference) -> (Rendered, Rendered) {
        (
            self.render_side(p, "/chosen", &p.chosen),
            self.render_side(p, "/rejected", &p.rejected),
        )
    }

    fn render_side(&self, p: &Preference, list: &'static str, completion: &[Message]) -> Rendered {
        let turns: Vec<_> = mask::turns("/prompt", &p.prompt, false)
            .chain(mask::turns(list, completion, true))
            .collect();
        mask::render_turns(self.chat(), &self.name(), &turns, p.meta.get("tools"))
    }

    /// Render a prompt for generation (add_generation_prompt = true), untrained.
    pub fn render_prompt(&self, messages: &[Message]) -> Result<String, TemplateError> {
        self.chat().render_messages(messages, true)
    }
}
