//! The canonical data model every format is read into and written from.
//!
//! Three record kinds cover fine-tuning data:
//! - [`Conversation`]: supervised fine-tuning (SFT), a list of turns;
//! - [`Preference`]: a prompt with a chosen and a rejected completion (DPO, SimPO, ORPO);
//! - [`Feedback`]: a prompt with one completion labelled good or bad (KTO).
//!
//! The serialised form of each record is TRL's conversational form (`messages`;
//! `prompt`/`chosen`/`rejected`; `prompt`/`completion`/`label`), so a bundle's `train.jsonl`
//! is also a file TRL reads as it is. Fields this model does not name travel in `extra`/`meta`
//! so that converting between formats loses nothing the target can hold.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::System, Role::User, Role::Assistant, Role::Tool];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// Parses the canonical (OpenAI) role names.
    pub fn from_openai(s: &str) -> Option<Role> {
        match s {
            "system" | "developer" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "tool" | "function" | "ipython" => Some(Role::Tool),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// Whether the turn's tokens are trained. `None` means "as the template decides"
    /// (assistant turns trained, the rest not). ShareGPT/LLaMA-Factory `weight` and
    /// Axolotl `train` map here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<bool>,
    /// Anything else the source carried on the turn (`name`, `tool_calls`, ...), kept verbatim.
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            train: None,
            extra: Map::new(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// An SFT record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub messages: Vec<Message>,
    /// Top-level fields of the source record that are not part of the conversation (`id`, ...).
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub meta: Map<String, Value>,
}

/// A preference pair. `prompt` may be empty when the source had an implicit prompt that
/// could not be split out (the shared prefix then stays in `chosen` and `rejected`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preference {
    pub prompt: Vec<Message>,
    pub chosen: Vec<Message>,
    pub rejected: Vec<Message>,
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub meta: Map<String, Value>,
}

/// A single completion with a desirable (`true`) / undesirable (`false`) label (KTO).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub prompt: Vec<Message>,
    pub completion: Vec<Message>,
    pub label: bool,
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub meta: Map<String, Value>,
}

/// What a dataset is for; decides which record type it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Sft,
    Preference,
    Feedback,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sft => "sft",
            Kind::Preference => "preference",
            Kind::Feedback => "feedback",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any record. Serialises untagged: the fields tell the kinds apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    Preference(Preference),
    Feedback(Feedback),
    Conversation(Conversation),
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::Conversation(_) => Kind::Sft,
            Record::Preference(_) => Kind::Preference,
            Record::Feedback(_) => Kind::Feedback,
        }
    }

    pub fn meta(&self) -> &Map<String, Value> {
        match self {
            Record::Conversation(c) => &c.meta,
            Record::Preference(p) => &p.meta,
            Record::Feedback(f) => &f.meta,
        }
    }

    pub fn meta_mut(&mut self) -> &mut Map<String, Value> {
        match self {
            Record::Conversation(c) => &mut c.meta,
            Record::Preference(p) => &mut p.meta,
            Record::Feedback(f) => &mut f.meta,
        }
    }

    /// Every turn with the JSON pointer of its list and index, in reading order.
    pub fn turns(&self) -> Vec<(&'static str, usize, &Message)> {
        let mut out = Vec::new();
        match self {
            Record::Conversation(c) => out.extend(
                c.messages
                    .iter()
                    .enumerate()
                    .map(|(i, m)| ("/messages", i, m)),
            ),
            Record::Preference(p) => {
                out.extend(p.prompt.iter().enumerate().map(|(i, m)| ("/prompt", i, m)));
                out.extend(p.chosen.iter().enumerate().map(|(i, m)| ("/chosen", i, m)));
                out.extend(
                    p.rejected
                        .iter()
                        .enumerate()
                        .map(|(i, m)| ("/rejected", i, m)),
                );
            }
            Record::Feedback(f) => {
                out.extend(f.prompt.iter().enumerate().map(|(i, m)| ("/prompt", i, m)));
                out.extend(
                    f.completion
                        .iter()
                        .enumerate()
                        .map(|(i, m)| ("/completion", i, m)),
                );
            }
        }
        out
    }

    /// Mutable access to every turn list of the record.
    pub fn turn_lists_mut(&mut self) -> Vec<&mut Vec<Message>> {
        match self {
            Record::Conversation(c) => vec![&mut c.messages],
            Record::Preference(p) => vec![&mut p.prompt, &mut p.chosen, &mut p.rejected],
            Record::Feedback(f) => vec![&mut f.prompt, &mut f.completion],
        }
    }

    /// The record as canonical JSON (TRL conversational form).
    pub fn to_canonical(&self) -> Value {
        serde_json::to_value(self).expect("records always serialise")
    }
}

/// Where a record came from, so every later message can point back to the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Source {
    /// 1-based line of the input where the record starts (1 for a single-line JSON array file
    /// element on line 1; the header counts as line 1 in CSV).
    pub line: usize,
    /// 0-based position of the record in the input, counting records that failed to parse.
    pub index: usize,
}

/// A record and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub source: Source,
    pub record: Record,
}

/// A set of records of one kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dataset {
    /// Name of the input (file name) for messages.
    pub name: String,
    pub items: Vec<Item>,
}

impl Dataset {
    pub fn kind(&self) -> Option<Kind> {
        self.items.first().map(|i| i.record.kind())
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.items.iter().map(|i| &i.record)
    }
}
