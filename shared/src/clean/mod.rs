//! Cleaning: named, parameterised, reproducible steps over a dataset.
//!
//! A [`Step`] is plain data (`{"step": "redact-pii", "kinds": ["email"]}`); the bundle manifest
//! stores the list that was applied, so a run can be repeated exactly. [`apply`] runs steps in
//! order over every record kind (each turn of a conversation; prompt, chosen and rejected of a
//! preference pair; prompt and completion of a feedback record) and returns a [`CleanReport`]
//! in which every dropped record is counted and explained. [`scan`] reports what the filters
//! would find without changing anything, as [`Finding`]s for the validate page.
//!
//! Steps are either [`Applicability::Safe`] (encoding-level normalisation that never changes
//! what a text says and never drops a record) or [`Applicability::Unsafe`] (rewrites wording,
//! drops records); the CLI and the studio run unsafe steps only when the user asks.
//!
//! The filters that judge answers (refusals, repetition) look at *target* turns, the ones the
//! model is trained towards: assistant turns of a conversation, the chosen side of a
//! preference pair, the completion of a feedback record labelled desirable. A refusal as the
//! rejected answer is what a preference pair against refusing looks like, and dropping it would
//! remove exactly the data that fixes the behaviour.

mod fence;
mod html;
mod language;
mod pii;
mod quality;
mod refusal;
mod text;
mod turns;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub use pii::PiiKind;
pub use refusal::{DEFAULT_REFUSAL_PHRASES, OPENAI_MENTIONS};

use crate::codes::Code;
use crate::diagnostic::{Finding, pointer_push};
use crate::record::{Dataset, Message, Record, Role};

/// One cleaning step with its parameters. Serialises as `{"step": "<kebab name>", ...params}`;
/// parameters left out take their defaults, unknown parameters are an error (a typo must not
/// silently change what a recorded run does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// Unicode NFKC on every turn: full-width forms, ligatures and typographic spaces fold to
    /// plain characters, accents compose. Note that NFKC also folds superscripts ("x²" becomes
    /// "x2"); leave it out for math-heavy data.
    Nfkc,
    /// Trims each turn, strips trailing spaces, turns CRLF/CR into LF, removes control
    /// characters except `\n` and `\t`, collapses runs of spaces/tabs inside a line to one
    /// space and runs of blank lines to one. Indentation and fenced code blocks are kept.
    Whitespace,
    /// Removes zero-width characters (U+200B, U+2060, U+FEFF) and soft hyphens, and
    /// U+200C/U+200D except between non-ASCII characters (emoji sequences, Persian, Indic).
    ZeroWidth,
    /// Converts text that looks like HTML (scraped chat pages) to Markdown: paragraphs, lists,
    /// headings, emphasis, links, `<pre><code>` as fenced blocks with their language, entities
    /// decoded, buttons/icons/scripts dropped. Other text is untouched.
    StripHtml,
    /// Drops empty turns and merges consecutive turns of one role ("\n\n" join; never tool
    /// results); in SFT conversations also drops assistant turns before the first user turn and
    /// user turns after the last answer. Drops records left with no answer.
    RepairTurns,
    /// Drops records whose target turns contain any phrase (case-insensitive substring,
    /// straight and curly apostrophes alike). Default: [`DEFAULT_REFUSAL_PHRASES`];
    /// [`OPENAI_MENTIONS`] gives FastChat's "mentions OpenAI/ChatGPT" filter.
    DropRefusals {
        #[serde(default = "default_refusal_phrases")]
        phrases: Vec<String>,
    },
    /// Replaces emails, phone numbers, public IP addresses, card numbers (Luhn-checked) and
    /// IBANs (mod-97-checked) in every turn with placeholders such as `<EMAIL_1>`; the same
    /// value gets the same placeholder within a record.
    RedactPii {
        #[serde(default = "default_pii_kinds")]
        kinds: Vec<PiiKind>,
    },
    /// Drops records whose user and assistant text (code blocks left out) is confidently
    /// detected as a language outside `allow` (ISO 639-3 codes: "eng", "por"). Texts shorter
    /// than `min_chars` are not judged and are kept.
    Language {
        allow: Vec<String>,
        #[serde(default = "default_language_min_chars")]
        min_chars: usize,
    },
    /// Drops records whose total text (all turns, in characters) is outside the bounds.
    Length {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_chars: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_chars: Option<usize>,
    },
    /// Gopher's repetition rules on each target turn (code blocks left out): drops looping
    /// answers whose repeated lines or most frequent 2/3/4-gram exceed the limits. The n-gram
    /// rules judge only answers of at least `min_words` words (shorter lists and templates
    /// trip them), the line rules answers of at least three lines.
    Repetition {
        #[serde(default = "default_max_dup_line_frac")]
        max_dup_line_frac: f64,
        #[serde(default = "default_max_dup_line_char_frac")]
        max_dup_line_char_frac: f64,
        #[serde(default = "default_max_top_2gram_frac")]
        max_top_2gram_frac: f64,
        #[serde(default = "default_max_top_3gram_frac")]
        max_top_3gram_frac: f64,
        #[serde(default = "default_max_top_4gram_frac")]
        max_top_4gram_frac: f64,
        #[serde(default = "default_repetition_min_words")]
        min_words: usize,
    },
}

fn default_refusal_phrases() -> Vec<String> {
    DEFAULT_REFUSAL_PHRASES
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}
fn default_pii_kinds() -> Vec<PiiKind> {
    PiiKind::ALL.to_vec()
}
fn default_language_min_chars() -> usize {
    50
}
fn default_max_dup_line_frac() -> f64 {
    0.30
}
fn default_max_dup_line_char_frac() -> f64 {
    0.20
}
fn default_max_top_2gram_frac() -> f64 {
    0.20
}
fn default_max_top_3gram_frac() -> f64 {
    0.18
}
fn default_max_top_4gram_frac() -> f64 {
    0.16
}
fn default_repetition_min_words() -> usize {
    100
}

/// Whether a step may run without the user asking for it (ruff's fix applicability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applicability {
    /// Changes only how text is encoded (normal forms, whitespace, invisible characters);
    /// never drops a record.
    Safe,
    /// Rewrites what text says or drops records: run only when asked.
    Unsafe,
}

/// A step whose parameters cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    #[error("unknown language code \"{code}\": use ISO 639-3 codes such as \"eng\" or \"por\"")]
    UnknownLanguage { code: String },
    #[error("the language step needs at least one allowed language")]
    NoLanguages,
    #[error("the drop-refusals step needs at least one non-empty phrase")]
    NoPhrases,
    #[error("the redact-pii step needs at least one kind of personal data")]
    NoPiiKinds,
    #[error("the length step needs min_chars, max_chars or both")]
    NoLengthBound,
    #[error("min_chars ({min}) is larger than max_chars ({max})")]
    MinAboveMax { min: usize, max: usize },
    #[error("{param} must be a fraction between 0 and 1, got {value}")]
    BadFraction { param: &'static str, value: f64 },
}

impl Step {
    /// Every step name, in the recommended order (see [`Step::rank`]).
    pub const NAMES: &'static [&'static str] = &[
        "strip-html",
        "nfkc",
        "zero-width",
        "whitespace",
        "repair-turns",
        "redact-pii",
        "drop-refusals",
        "language",
        "length",
        "repetition",
    ];

    /// Position of the step in the recommended order ([`Step::NAMES`]); sort a user's
    /// selection by it. HTML conversion comes first (its output then gets normalised), text
    /// normalisation before turn repair (so whitespace-only turns count as empty), rewrites
    /// before filters (so filters judge the text that is kept). In this order a pipeline
    /// applied twice gives what it gave once.
    pub fn rank(&self) -> usize {
        match self {
            Step::StripHtml => 0,
            Step::Nfkc => 1,
            Step::ZeroWidth => 2,
            Step::Whitespace => 3,
            Step::RepairTurns => 4,
            Step::RedactPii { .. } => 5,
            Step::DropRefusals { .. } => 6,
            Step::Language { .. } => 7,
            Step::Length { .. } => 8,
            Step::Repetition { .. } => 9,
        }
    }

    /// The stable kebab-case name, as serialised in `"step"`.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Nfkc => "nfkc",
            Step::Whitespace => "whitespace",
            Step::ZeroWidth => "zero-width",
            Step::StripHtml => "strip-html",
            Step::RepairTurns => "repair-turns",
            Step::DropRefusals { .. } => "drop-refusals",
            Step::RedactPii { .. } => "redact-pii",
            Step::Language { .. } => "language",
            Step::Length { .. } => "length",
            Step::Repetition { .. } => "repetition",
        }
    }

    /// The safe default pipeline: NFKC, then zero-width removal, then whitespace (in that
    /// order, so that spaces left behind by removed characters collapse). Idempotent.
    pub fn defaults() -> Vec<Step> {
        vec![Step::Nfkc, Step::ZeroWidth, Step::Whitespace]
    }

    /// The step called `name` with its default parameters. `language` comes with an empty
    /// `allow` list, which the caller must fill ([`Step::validate`] says so).
    pub fn with_defaults(name: &str) -> Option<Step> {
        Some(match name {
            "nfkc" => Step::Nfkc,
            "whitespace" => Step::Whitespace,
            "zero-width" => Step::ZeroWidth,
            "strip-html" => Step::StripHtml,
            "repair-turns" => Step::RepairTurns,
            "drop-refusals" => Step::DropRefusals {
                phrases: default_refusal_phrases(),
            },
            "redact-pii" => Step::RedactPii {
                kinds: default_pii_kinds(),
            },
            "language" => Step::Language {
                allow: Vec::new(),
                min_chars: default_language_min_chars(),
            },
            "length" => Step::Length {
                min_chars: None,
                max_chars: None,
            },
            "repetition" => Step::Repetition {
                max_dup_line_frac: default_max_dup_line_frac(),
                max_dup_line_char_frac: default_max_dup_line_char_frac(),
                max_top_2gram_frac: default_max_top_2gram_frac(),
                max_top_3gram_frac: default_max_top_3gram_frac(),
                max_top_4gram_frac: default_max_top_4gram_frac(),
                min_words: default_repetition_min_words(),
            },
            _ => return None,
        })
    }

    pub fn applicability(&self) -> Applicability {
        match self {
            Step::Nfkc | Step::Whitespace | Step::ZeroWidth => Applicability::Safe,
            _ => Applicability::Unsafe,
        }
    }

    /// Whether the step only normalises encoding and never drops records.
    pub fn is_safe(&self) -> bool {
        self.applicability() == Applicability::Safe
    }

    /// Checks the parameters. [`apply`] skips (and reports) a step that fails this, so callers
    /// should check first and show the error.
    pub fn validate(&self) -> Result<(), StepError> {
        Runner::new(self).map(|_| ())
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: String,
    /// Kept records whose text or turns the step changed.
    pub changed: usize,
    /// Records the step dropped (each one is in [`CleanReport::drops`]).
    pub dropped: usize,
    /// Why the step did not run (invalid parameters; see [`Step::validate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// One dropped record, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drop {
    /// 0-based index of the record in the input (its [`crate::record::Source::index`], the
    /// numbering [`Finding::record`] uses).
    pub record: usize,
    /// 1-based line of the input where the record starts.
    pub line: usize,
    /// The step that dropped it.
    pub step: String,
    /// A sentence naming the field and the rule, e.g. `assistant turn /messages/1 contains
    /// "as an ai language model"`.
    pub reason: String,
}

/// What a cleaning run did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CleanReport {
    pub steps: Vec<StepReport>,
    pub drops: Vec<Drop>,
    pub records_in: usize,
    pub records_out: usize,
}

/// What a step did to one record.
enum Outcome {
    Kept { changed: bool },
    Dropped(String),
}

/// A step with its parameters checked and compiled.
enum Runner<'a> {
    Text(for<'t> fn(&'t str) -> Cow<'t, str>),
    RepairTurns,
    Refusals(refusal::Matcher),
    Pii(&'a [PiiKind]),
    Language(language::LanguageFilter),
    Length {
        min: Option<usize>,
        max: Option<usize>,
    },
    Repetition(quality::RepetitionRules),
}

fn fraction(param: &'static str, value: f64) -> Result<f64, StepError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(StepError::BadFraction { param, value })
    }
}

impl<'a> Runner<'a> {
    fn new(step: &'a Step) -> Result<Self, StepError> {
        Ok(match step {
            Step::Nfkc => Runner::Text(text::nfkc),
            Step::Whitespace => Runner::Text(text::whitespace),
            Step::ZeroWidth => Runner::Text(text::zero_width),
            Step::StripHtml => Runner::Text(html::strip_html),
            Step::RepairTurns => Runner::RepairTurns,
            Step::DropRefusals { phrases } => {
                let matcher = refusal::Matcher::new(phrases);
                if matcher.is_empty() {
                    return Err(StepError::NoPhrases);
                }
                Runner::Refusals(matcher)
            }
            Step::RedactPii { kinds } if kinds.is_empty() => return Err(StepError::NoPiiKinds),
            Step::RedactPii { kinds } => Runner::Pii(kinds),
            Step::Language { allow, min_chars } => {
                Runner::Language(language::LanguageFilter::new(allow, *min_chars)?)
            }
            Step::Length {
                min_chars: None,
                max_chars: None,
            } => return Err(StepError::NoLengthBound),
            Step::Length {
                min_chars: Some(min),
                max_chars: Some(max),
            } if min > max => {
                return Err(StepError::MinAboveMax {
                    min: *min,
                    max: *max,
                });
            }
            Step::Length {
                min_chars,
                max_chars,
            } => Runner::Length {
                min: *min_chars,
                max: *max_chars,
            },
            Step::Repetition {
                max_dup_line_frac,
                max_dup_line_char_frac,
                max_top_2gram_frac,
                max_top_3gram_frac,
                max_top_4gram_frac,
                min_words,
            } => Runner::Repetition(quality::RepetitionRules {
                max_dup_line_frac: fraction("max_dup_line_frac", *max_dup_line_frac)?,
                max_dup_line_char_frac: fraction(
                    "max_dup_line_char_frac",
                    *max_dup_line_char_frac,
                )?,
                max_top_ngram_frac: [
                    fraction("max_top_2gram_frac", *max_top_2gram_frac)?,
                    fraction("max_top_3gram_frac", *max_top_3gram_frac)?,
                    fraction("max_top_4gram_frac", *max_top_4gram_frac)?,
                ],
                min_words: *min_words,
            }),
        })
    }

    fn run(&self, record: &mut Record) -> Outcome {
        match self {
            Runner::Text(f) => Outcome::Kept {
                changed: map_contents(record, *f),
            },
            Runner::RepairTurns => match turns::repair(record) {
                turns::Repair::Kept { changed } => Outcome::Kept { changed },
                turns::Repair::Dropped(why) => Outcome::Dropped(why),
            },
            Runner::Refusals(matcher) => first_target_hit(record, |text| {
                matcher
                    .find(text)
                    .map(|phrase| format!("contains \"{phrase}\""))
            }),
            Runner::Pii(kinds) => Outcome::Kept {
                changed: redact_record(record, kinds),
            },
            Runner::Language(filter) => match filter.judge(record) {
                Some(why) => Outcome::Dropped(why),
                None => Outcome::Kept { changed: false },
            },
            Runner::Length { min, max } => {
                let chars = record
                    .turns()
                    .iter()
                    .map(|(_, _, m)| m.content.chars().count())
                    .sum();
                match quality::length(chars, *min, *max) {
                    Some(why) => Outcome::Dropped(why),
                    None => Outcome::Kept { changed: false },
                }
            }
            Runner::Repetition(rules) => {
                first_target_hit(record, |text| quality::repetition(text, rules))
            }
        }
    }
}

/// Applies `f` to the content of every turn; returns whether any changed.
fn map_contents(record: &mut Record, f: for<'t> fn(&'t str) -> Cow<'t, str>) -> bool {
    let mut changed = false;
    for list in record.turn_lists_mut() {
        for message in list.iter_mut() {
            if let Cow::Owned(new) = f(&message.content)
                && new != message.content
            {
                message.content = new;
                changed = true;
            }
        }
    }
    changed
}

/// Redacts every turn with one placeholder table for the whole record.
fn redact_record(record: &mut Record, kinds: &[PiiKind]) -> bool {
    let mut placeholders =
        pii::Placeholders::continuing(record.turns().iter().map(|(_, _, m)| m.content.as_str()));
    let mut changed = false;
    for list in record.turn_lists_mut() {
        for message in list.iter_mut() {
            if let Some(new) = placeholders.redact(&message.content, kinds) {
                message.content = new;
                changed = true;
            }
        }
    }
    changed
}

/// The turns a model is trained towards, with their JSON pointers (see the module docs).
fn target_turns(record: &Record) -> Vec<(String, &Message)> {
    let mut out = Vec::new();
    let lists: Vec<(&str, &Vec<Message>)> = match record {
        Record::Conversation(c) => vec![("/messages", &c.messages)],
        Record::Preference(p) => vec![("/chosen", &p.chosen)],
        Record::Feedback(f) if f.label => vec![("/completion", &f.completion)],
        Record::Feedback(_) => Vec::new(),
    };
    for (list, messages) in lists {
        for (i, m) in messages.iter().enumerate() {
            if m.role == Role::Assistant {
                out.push((pointer_push(list, i), m));
            }
        }
    }
    out
}

/// Drops the record at the first target turn for which `judge` gives a reason.
fn first_target_hit(record: &Record, judge: impl Fn(&str) -> Option<String>) -> Outcome {
    for (path, message) in target_turns(record) {
        if let Some(why) = judge(&message.content) {
            return Outcome::Dropped(format!("assistant turn {path} {why}"));
        }
    }
    Outcome::Kept { changed: false }
}

/// Applies `steps` in order to `dataset`, in place: changed records replace the old ones,
/// dropped ones are removed, kept items keep their [`crate::record::Source`]. A step with
/// invalid parameters is skipped and the reason recorded in its [`StepReport`].
pub fn apply(steps: &[Step], dataset: &mut Dataset) -> CleanReport {
    let mut report = CleanReport {
        records_in: dataset.len(),
        ..CleanReport::default()
    };
    for step in steps {
        let mut step_report = StepReport {
            step: step.name().to_owned(),
            changed: 0,
            dropped: 0,
            skipped: None,
        };
        match Runner::new(step) {
            Err(e) => step_report.skipped = Some(e.to_string()),
            Ok(runner) => {
                let items = std::mem::take(&mut dataset.items);
                for mut item in items {
                    match runner.run(&mut item.record) {
                        Outcome::Kept { changed } => {
                            step_report.changed += usize::from(changed);
                            dataset.items.push(item);
                        }
                        Outcome::Dropped(reason) => {
                            step_report.dropped += 1;
                            report.drops.push(Drop {
                                record: item.source.index,
                                line: item.source.line,
                                step: step.name().to_owned(),
                                reason,
                            });
                        }
                    }
                }
            }
        }
        report.steps.push(step_report);
    }
    report.records_out = dataset.len();
    report
}

/// Describes counts like "1 email address and 2 phone numbers".
fn describe_counts(counts: &[(PiiKind, usize)]) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|&(k, n)| format!("{n} {}", k.noun(n)))
        .collect();
    match parts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What the refusal and PII filters would find, without changing anything: one
/// [`Code::Refusal`] finding per target turn that contains a default refusal phrase, and one
/// [`Code::PiiFound`] finding per turn with personal data (the values themselves are not
/// repeated in the message).
pub fn scan(dataset: &Dataset) -> Vec<Finding> {
    let refusals = refusal::Matcher::new(DEFAULT_REFUSAL_PHRASES);
    let mut findings = Vec::new();
    for item in &dataset.items {
        let (line, index) = (item.source.line, item.source.index);
        for (path, message) in target_turns(&item.record) {
            if let Some(phrase) = refusals.find(&message.content) {
                findings.push(
                    Finding::new(
                        Code::Refusal,
                        format!("assistant turn contains the refusal phrase \"{phrase}\""),
                    )
                    .at(line, index)
                    .path(pointer_push(&path, "content")),
                );
            }
        }
        for (list, i, message) in item.record.turns() {
            let found = pii::find(&message.content, &PiiKind::ALL);
            if found.is_empty() {
                continue;
            }
            let counts: Vec<(PiiKind, usize)> = PiiKind::ALL
                .iter()
                .map(|&k| (k, found.iter().filter(|f| f.kind == k).count()))
                .filter(|&(_, n)| n > 0)
                .collect();
            findings.push(
                Finding::new(
                    Code::PiiFound,
                    format!(
                        "{} turn contains {}",
                        message.role,
                        describe_counts(&counts)
                    ),
                )
                .at(line, index)
                .path(pointer_push(&pointer_push(list, i), "content")),
            );
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_rank_and_defaults_agree() {
        for (i, name) in Step::NAMES.iter().enumerate() {
            let step = Step::with_defaults(name).expect("every name has a step");
            assert_eq!((step.name(), step.rank()), (*name, i));
        }
    }

    #[test]
    fn counts_are_described_in_english() {
        assert_eq!(describe_counts(&[(PiiKind::Email, 1)]), "1 email address");
        assert_eq!(
            describe_counts(&[(PiiKind::Email, 2), (PiiKind::Ip, 1), (PiiKind::Iban, 3)]),
            "2 email addresses, 1 IP address and 3 IBANs"
        );
    }
}
