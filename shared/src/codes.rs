//! The registry of finding codes: one table, one row per code.
//!
//! Codes are stable kebab-case names that people quote in bug reports and scripts filter on.
//! A code is never renamed or reused; a retired code stays in the table with its `since`.
//! `ajuste data explain CODE` prints a row's documentation.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::diagnostic::Severity;

/// Documentation of one code, in the order "what it checks / why it matters / example".
pub struct CodeDoc {
    pub what: &'static str,
    pub why: &'static str,
    pub example: &'static str,
}

macro_rules! codes {
    ($( $variant:ident = $name:literal, $sev:ident, since $since:literal,
        hint $hint:expr, what $what:literal, why $why:literal, example $example:literal; )*) => {
        /// A stable finding code. See the table in `codes.rs`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable kebab-case name.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name),* }
            }

            pub fn parse(name: &str) -> Option<Code> {
                match name { $($name => Some(Code::$variant),)* _ => None }
            }

            /// Severity a finding of this code gets unless the check says otherwise.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev),* }
            }

            /// The ajuste version the code first appeared in.
            pub fn since(self) -> &'static str {
                match self { $(Code::$variant => $since),* }
            }

            /// What to do about it, when there is one general answer.
            pub fn hint(self) -> Option<&'static str> {
                match self { $(Code::$variant => $hint),* }
            }

            pub fn doc(self) -> CodeDoc {
                match self { $(Code::$variant => CodeDoc { what: $what, why: $why, example: $example }),* }
            }
        }
    };
}

codes! {
    // --- the file as a whole -------------------------------------------------------------
    EmptyFile = "empty-file", Error, since "0.1.0",
        hint Some("the file has no records; check that the right file was given"),
        what "The input holds no bytes, or only whitespace.",
        why "An empty training set usually means a failed download or export upstream.",
        example "a 0-byte data.jsonl";
    NotText = "not-text", Error, since "0.1.0",
        hint Some("give a JSON, JSONL, CSV/TSV or Parquet file, optionally gzip-compressed"),
        what "The input is binary data that is neither gzip nor Parquet, or is not valid UTF-8.",
        why "Datasets are text; binary input is the wrong file (a model, an archive, an image).",
        example "model.safetensors given as the dataset";
    InvalidJson = "invalid-json", Error, since "0.1.0",
        hint Some("fix the JSON syntax on that line; other records are still read"),
        what "A line of a JSONL file, or an element of a JSON array, is not valid JSON.",
        why "The record cannot be read at all; the rest of the file still can.",
        example "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}  (missing the closing brackets)";
    InvalidCsv = "invalid-csv", Error, since "0.1.0",
        hint Some("check quoting and the number of columns on that row"),
        what "A CSV/TSV row cannot be parsed (bad quoting, wrong number of fields).",
        why "The row cannot be read; the rest of the file still can.",
        example "a row with an unclosed quote";
    InvalidParquet = "invalid-parquet", Error, since "0.1.0",
        hint Some("the Parquet file may be truncated or use an unsupported codec (snappy, gzip, lz4, zstd are supported)"),
        what "The Parquet file cannot be decoded.",
        why "Nothing can be read from it.",
        example "a Parquet file cut off during download";
    UnknownFormat = "unknown-format", Error, since "0.1.0",
        hint Some("pass --format sharegpt|openai|alpaca|dpo|hh|kto, or rename the fields to a format's (--map question=instruction,answer=output)"),
        what "No known dataset format matches the fields of the records.",
        why "Without a format the records cannot be interpreted.",
        example "{\"question\": \"...\", \"answer\": \"...\"}";
    ReadError = "read-error", Error, since "0.1.0",
        hint Some("check that the file is complete; a gzip file cut off during download fails this way"),
        what "The input could not be read to its end (an I/O error, or a truncated or corrupt gzip stream).",
        why "Records after the failure are missing; the data seen so far may be incomplete.",
        example "data.jsonl.gz truncated in the middle of a block";
    // --- record structure ----------------------------------------------------------------
    NotAnObject = "not-an-object", Error, since "0.1.0",
        hint Some("each record must be a JSON object"),
        what "A record is a JSON value other than an object (a string, number, array, null).",
        why "Every supported format stores a record as an object with named fields.",
        example "\"just a string\"";
    MissingField = "missing-field", Error, since "0.1.0",
        hint None,
        what "A field the format requires is absent.",
        why "The record cannot be turned into training text without it.",
        example "an Alpaca record without \"output\"";
    WrongType = "wrong-type", Error, since "0.1.0",
        hint None,
        what "A field has the wrong JSON type (a number where text is expected, an object where a list is).",
        why "The value cannot be used as it is; guessing would change the data silently.",
        example "{\"instruction\": 42, \"output\": \"...\"}";
    UnknownRole = "unknown-role", Error, since "0.1.0",
        hint Some("use one of system, user, assistant, tool (ShareGPT: system, human, gpt, function_call, observation), or rename it (--role bot=assistant)"),
        what "A turn's role (or ShareGPT `from`) is not one the format defines.",
        why "The template cannot place a turn whose speaker is unknown, and the loss mask depends on it.",
        example "{\"from\": \"robot\", \"value\": \"...\"}";
    LabelNotBool = "label-not-bool", Error, since "0.1.0",
        hint Some("use true/false (or kto_tag true/false)"),
        what "A KTO `label` (or `kto_tag`) is not a boolean.",
        why "KTO needs to know whether each completion is desirable; a string like \"yes\" is ambiguous.",
        example "{\"prompt\": \"...\", \"completion\": \"...\", \"label\": \"good\"}";
    DroppedField = "dropped-field", Warning, since "0.1.0",
        hint Some("rename the field; the canonical names (messages, prompt, chosen, rejected, completion, label on a record; role, content, train on a turn) are taken"),
        what "A field of the record or of a turn is dropped because its name is one the canonical model uses for something else.",
        why "Keeping it would make the record ambiguous (a `chosen` field on an SFT record reads as a preference pair); dropping it is reported so nothing vanishes silently.",
        example "{\"conversations\": [...], \"messages\": \"old copy\"}";
    MapConflict = "map-conflict", Error, since "0.1.0",
        hint Some("rename the field to a name the record does not use, or drop the other field first"),
        what "A field renamed by the field map (--map FROM=TO) lands on a field the record already has.",
        why "One of the two values would be lost; which one the user meant cannot be known.",
        example "--map question=instruction on {\"question\": \"...\", \"instruction\": \"...\"}";
    NonTextContent = "non-text-content", Warning, since "0.1.0",
        hint Some("text-only models ignore these parts; drop them or the record if they carry the answer"),
        what "An OpenAI content part is not text (an image, audio or file part).",
        why "Only text is trained; the part is kept for export but the model never sees it.",
        example "{\"type\": \"image_url\", \"image_url\": {\"url\": \"...\"}}";
    BadTurnMarkers = "bad-turn-markers", Error, since "0.1.0",
        hint Some("each Anthropic HH string must be \"\\n\\nHuman: ...\\n\\nAssistant: ...\" turns"),
        what "An Anthropic HH `chosen`/`rejected` string does not start with a Human turn marker or holds no Assistant turn.",
        why "The turns (and so the prompt and the completion) cannot be told apart.",
        example "{\"chosen\": \"Sure, here it is\", \"rejected\": \"No.\"}";
    PromptMismatch = "prompt-mismatch", Warning, since "0.1.0",
        hint Some("check the pair; the differing turns are kept in chosen and rejected"),
        what "The chosen and rejected conversations of an implicit-prompt pair differ before their final assistant turn.",
        why "The pair does not compare two answers to one prompt; only the common prefix is used as the prompt.",
        example "chosen and rejected HH strings whose first Human turns differ";
    EmptyContent = "empty-content", Warning, since "0.1.0",
        hint Some("`ajuste data clean --repair-turns` drops empty turns"),
        what "A turn's text is empty or only whitespace.",
        why "Empty turns waste tokens and, as the last assistant turn, teach the model to stop at once.",
        example "{\"role\": \"assistant\", \"content\": \"\"}";
    EmptyRecord = "empty-record", Error, since "0.1.0",
        hint None,
        what "A record has no turns at all (or a preference/feedback record has an empty completion).",
        why "There is nothing to train on.",
        example "{\"messages\": []}";
    BadTurnOrder = "bad-turn-order", Warning, since "0.1.0",
        hint Some("`ajuste data clean --repair-turns` merges consecutive turns of one role"),
        what "Turns do not alternate user/assistant (two user turns in a row, a system turn after the start, an assistant turn first).",
        why "Many chat templates raise an error on such conversations; others render them in ways the model never sees at inference.",
        example "user, user, assistant";
    NoAssistantTurn = "no-assistant-turn", Error, since "0.1.0",
        hint Some("an SFT record needs at least one assistant turn to learn from"),
        what "An SFT conversation has no assistant turn.",
        why "With the usual loss mask nothing in the record would be trained.",
        example "[{\"role\": \"user\", \"content\": \"hello\"}]";
    ChosenEqualsRejected = "chosen-equals-rejected", Error, since "0.1.0",
        hint Some("drop the pair; it carries no preference"),
        what "A preference pair's chosen and rejected completions are identical.",
        why "The DPO loss of such a pair has zero gradient direction but still costs compute; usually an annotation bug.",
        example "{\"prompt\": \"2+2?\", \"chosen\": \"4\", \"rejected\": \"4\"}";
    MixedKinds = "mixed-kinds", Error, since "0.1.0",
        hint Some("split the file so each holds one kind (SFT, preference or feedback)"),
        what "A record's kind differs from the file's (an SFT conversation in a preference file).",
        why "One training run uses one objective; records of another kind cannot be used.",
        example "a {\"messages\": ...} line inside a DPO file";
    // --- templates and masks -------------------------------------------------------------
    TooLongForContext = "too-long-for-context", Warning, since "0.1.0",
        hint Some("raise --max-len, or drop long records with `ajuste data clean --max-tokens`"),
        what "The rendered record has more tokens than the maximum length.",
        why "It will be truncated; a truncated response teaches the model to stop mid-sentence.",
        example "a 3000-token conversation with --max-len 2048";
    TruncatedResponse = "truncated-response", Warning, since "0.1.0",
        hint Some("raise --max-len or drop the record"),
        what "Truncation to the maximum length cuts into a trained (assistant) span.",
        why "The model learns responses that end abruptly and without an end-of-turn token.",
        example "the last assistant turn starts at token 2000 of a 2048 window and runs on";
    TemplateDropsRole = "template-drops-role", Warning, since "0.1.0",
        hint Some("pick a template that renders this role, or merge the turn into a neighbouring one"),
        what "The template renders no text for a turn of some role (many templates ignore system or tool turns).",
        why "That content never reaches the model although the data has it.",
        example "a system prompt with the Mistral template";
    NoTrainedTokens = "no-trained-tokens", Error, since "0.1.0",
        hint Some("check the roles: only assistant turns are trained by default"),
        what "After masking, no token of the record is trained (all labels are -100).",
        why "The record contributes nothing but still costs compute; if all records are like this training does nothing.",
        example "a conversation whose only assistant turn is truncated away";
    EosNotTrained = "eos-not-trained", Warning, since "0.1.0",
        hint Some("make sure the end-of-turn token is inside the trained span; otherwise the model never learns to stop"),
        what "The end-of-turn / EOS token after an assistant turn is not among the trained tokens.",
        why "The most common cause of endless generation after fine-tuning.",
        example "a template that appends </s> outside the assistant span";
    TemplateNotIncremental = "template-not-incremental", Warning, since "0.1.0",
        hint Some("check the trained text in the studio's token view, or use a template with {% generation %} blocks"),
        what "Rendering the first turns of a record does not give a prefix of rendering the whole record, so turn boundaries cannot be read off prefix renders; the loss mask is found by searching each turn's text instead.",
        why "The searched mask is usually right but can miss header or end-of-turn tokens; templates that rewrite earlier turns (dropping reasoning from old assistant turns, say) cause this.",
        example "a template that renders past assistant turns without their <think> block";
    SpecialTokenMismatch = "special-token-mismatch", Warning, since "0.1.0",
        hint Some("use the template that ships with the model's tokenizer, or add the token to the tokenizer"),
        what "A special token the template writes (BOS, EOS) is not a single token of the tokenizer.",
        why "The token is split into ordinary pieces: the model learns to spell it and never emits the real end-of-turn token, so generation does not stop.",
        example "the ChatML template (<|im_end|>) with a Llama 2 tokenizer";
    TokenizeError = "tokenize-error", Error, since "0.1.0",
        hint None,
        what "The tokenizer failed to encode the rendered record.",
        why "The record cannot be turned into token ids.",
        example "a tokenizer.json whose normalizer rejects the text";
    TemplateError = "template-error", Error, since "0.1.0",
        hint None,
        what "The chat template raised an error or failed to render the record.",
        why "The record cannot be turned into training text with this template.",
        example "a template that raises on a system turn";
    // --- duplicates and leakage ----------------------------------------------------------
    ExactDuplicate = "exact-duplicate", Info, since "0.1.0",
        hint None,
        what "The record's normalised content equals an earlier record's.",
        why "Duplicates over-weight some examples and inflate evaluation scores.",
        example "the same conversation twice, once with extra spaces";
    NearDuplicate = "near-duplicate", Info, since "0.1.0",
        hint None,
        what "The record's word 5-grams overlap an earlier record's above the Jaccard threshold (MinHash estimate).",
        why "Near copies (templated answers, re-asked questions) over-weight a pattern.",
        example "two answers differing in one sentence";
    TrainEvalLeak = "train-eval-leak", Warning, since "0.1.0",
        hint Some("drop the eval record, or re-split with dedup first"),
        what "An eval record duplicates (exactly or nearly) a training record.",
        why "Evaluation then measures memorisation, not generalisation.",
        example "the same question in train.jsonl and eval.jsonl";
    SwappedPreference = "swapped-preference", Warning, since "0.1.0",
        hint Some("drop both pairs or fix the annotation"),
        what "Two preference pairs have the same prompt with chosen and rejected swapped.",
        why "Contradictory pairs cancel each other's gradient and usually signal a labelling error.",
        example "A>B for a prompt in one record, B>A in another";
    // --- cleaning --------------------------------------------------------------------------
    Refusal = "refusal", Info, since "0.1.0",
        hint Some("`ajuste data clean --drop-refusals` removes these"),
        what "An assistant turn matches a refusal/boilerplate phrase (\"As an AI language model...\").",
        why "Training on refusals makes the model refuse more.",
        example "\"As an AI language model, I cannot...\"";
    PiiFound = "pii-found", Info, since "0.1.0",
        hint Some("`ajuste data clean --redact-pii` replaces these with placeholders"),
        what "A turn contains an email address, phone number, IP address, card number or IBAN.",
        why "Models memorise and can repeat personal data.",
        example "\"mail me at ana@example.com\"";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Code::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown finding code `{s}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &code in Code::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "duplicate code name {name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{name}"
            );
            assert_eq!(Code::parse(name), Some(code));
            let doc = code.doc();
            assert!(!doc.what.is_empty() && !doc.why.is_empty() && !doc.example.is_empty());
        }
    }
}
