//! Language filter: whatlang's trigram detector over what the user and the assistant say.
//!
//! System prompts are left out (multilingual datasets often share one English system prompt),
//! and so are tool turns (JSON) and fenced code (keywords are English in every language).
//! Short texts are not judged: a trigram detector guesses on a greeting.

use whatlang::Lang;

use super::{StepError, fence};
use crate::record::{Record, Role};

/// Below this confidence (whatlang's own "reliable" cut) a detection is a guess, and the
/// record is kept rather than dropped on a guess. Measured on the English conversations of
/// FastChat's dummy set and the Alpaca seed tasks (675 records): whatlang called 6 of them
/// French or Italian with confidence 0.1 to 0.8 ("I am Vicuna, a language model trained by
/// researchers from Large Model Systems Organization (LMSYS)" reads as French at 0.5), while
/// genuinely Portuguese, Spanish, German, French and Italian sentences of 80 to 100 characters
/// all came out at 1.0. With this cut, one English record whose text is a list of Italian dish
/// names is dropped.
const MIN_CONFIDENCE: f64 = 0.9;

/// A prepared `language` step.
pub(crate) struct LanguageFilter {
    allow: Vec<Lang>,
    min_chars: usize,
}

/// Parses ISO 639-3 codes ("eng", "por").
pub(crate) fn parse_languages(codes: &[String]) -> Result<Vec<Lang>, StepError> {
    if codes.is_empty() {
        return Err(StepError::NoLanguages);
    }
    codes
        .iter()
        .map(|code| {
            Lang::from_code(code.trim().to_ascii_lowercase())
                .ok_or_else(|| StepError::UnknownLanguage { code: code.clone() })
        })
        .collect()
}

/// The text whose language is judged: user and assistant turns without their code blocks.
fn judged_text(record: &Record) -> String {
    let parts: Vec<String> = record
        .turns()
        .into_iter()
        .filter(|(_, _, m)| matches!(m.role, Role::User | Role::Assistant))
        .map(|(_, _, m)| fence::prose(&m.content))
        .collect();
    parts.join("\n")
}

impl LanguageFilter {
    pub(crate) fn new(allow: &[String], min_chars: usize) -> Result<Self, StepError> {
        Ok(LanguageFilter {
            allow: parse_languages(allow)?,
            min_chars,
        })
    }

    /// Why the record should be dropped, or `None` to keep it (allowed language, too short to
    /// judge, or no confident detection).
    pub(crate) fn judge(&self, record: &Record) -> Option<String> {
        let text = judged_text(record);
        if text.trim().chars().count() < self.min_chars {
            return None;
        }
        let info = whatlang::detect(&text)?;
        if self.allow.contains(&info.lang()) || info.confidence() <= MIN_CONFIDENCE {
            return None;
        }
        let allowed: Vec<&str> = self.allow.iter().map(|l| l.code()).collect();
        Some(format!(
            "language is {} ({}, confidence {:.2}), not one of {}",
            info.lang().code(),
            info.lang().eng_name(),
            info.confidence(),
            allowed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Conversation, Message};
    use serde_json::Map;

    fn conv(user: &str, assistant: &str) -> Record {
        Record::Conversation(Conversation {
            messages: vec![
                Message::system("You are a helpful assistant."),
                Message::user(user),
                Message::assistant(assistant),
            ],
            meta: Map::new(),
        })
    }

    fn filter(allow: &[&str]) -> LanguageFilter {
        LanguageFilter::new(&allow.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 40).unwrap()
    }

    #[test]
    fn keeps_allowed_languages_and_drops_others() {
        let f = filter(&["por", "eng"]);
        let pt = conv(
            "Qual é a melhor época para visitar Lisboa?",
            "A primavera e o início do outono são ótimos: o tempo é agradável e há menos turistas nas ruas.",
        );
        assert_eq!(f.judge(&pt), None);
        let de = conv(
            "Wann ist die beste Zeit, um Berlin zu besuchen?",
            "Der späte Frühling und der frühe Herbst sind ideal, weil das Wetter angenehm ist und weniger Touristen da sind.",
        );
        let why = f.judge(&de).expect("German is not allowed");
        assert!(why.starts_with("language is deu"), "{why}");
    }

    #[test]
    fn short_texts_and_code_are_not_judged() {
        let f = filter(&["por"]);
        assert_eq!(f.judge(&conv("Hi!", "Hello!")), None);
        // Only code besides a short Portuguese line: code is not evidence of English.
        let code = conv(
            "Corrija:",
            "Pronto:\n```python\ndef read_file(path):\n    with open(path) as handle:\n        return handle.read()\n```",
        );
        assert_eq!(f.judge(&code), None);
    }

    #[test]
    fn unconfident_detections_keep_the_record() {
        // whatlang reads this English exchange as French with confidence 0.5.
        let f = filter(&["eng"]);
        let en = conv(
            "Tell me about you.",
            "I am Vicuna, a language model trained by researchers from Large Model Systems Organization (LMSYS).",
        );
        assert_eq!(f.judge(&en), None);
    }

    #[test]
    fn unknown_codes_are_errors() {
        assert!(
            matches!(parse_languages(&["en".into()]), Err(StepError::UnknownLanguage { code }) if code == "en")
        );
        assert!(matches!(parse_languages(&[]), Err(StepError::NoLanguages)));
        assert_eq!(parse_languages(&[" POR ".into()]).unwrap(), [Lang::Por]);
    }
}
