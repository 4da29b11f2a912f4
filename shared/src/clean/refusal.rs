//! Refusal and boilerplate filters: case-insensitive phrase matches on the answers a model is
//! trained to give.
//!
//! Only the *target* turns are judged (see [`super::target_turns`]): the assistant turns of an
//! SFT conversation, the chosen side of a preference pair, a feedback completion labelled
//! desirable. A refusal in a user turn is a quote, and a refusal as the rejected answer or as
//! an undesirable KTO completion is exactly the signal that teaches a model not to refuse.

/// The built-in list: phrases that, in an answer, almost always mean a canned refusal or the
/// "as an AI" disclaimer that distilled datasets are full of (the lists used to "uncensor"
/// WizardLM and Vicuna data, trimmed to phrases that rarely occur in legitimate answers), in
/// English and Portuguese. Matching ignores case, curly versus straight apostrophes and runs
/// of whitespace.
pub const DEFAULT_REFUSAL_PHRASES: &[&str] = &[
    "as an ai language model",
    "as a language model",
    "as a large language model",
    "as an artificial intelligence",
    "i am an ai language model",
    "i'm an ai language model",
    "i'm just an ai",
    "i am just an ai",
    "i'm sorry, but i cannot",
    "i'm sorry, but i can't",
    "i am sorry, but i cannot",
    "i'm sorry, i cannot",
    "i'm sorry, i can't",
    "i cannot fulfill",
    "i can't fulfill",
    "i cannot comply",
    "i can't comply",
    "i can't assist with that",
    "i cannot assist with that",
    "i'm unable to fulfill",
    "it is not appropriate for me to",
    "it's not appropriate for me to",
    "i don't have personal opinions",
    "i do not have personal opinions",
    "i don't have personal beliefs",
    "i do not have personal beliefs",
    "against my programming",
    "my programming does not allow",
    "openai's content policy",
    "como um modelo de linguagem",
    "como modelo de linguagem",
    "sou um modelo de linguagem",
    "como uma inteligência artificial",
    "como uma ia,",
    "desculpe, mas não posso",
    "sinto muito, mas não posso",
    "lamento, mas não posso",
    "não posso ajudar com isso",
    "não tenho opiniões pessoais",
];

/// FastChat's ShareGPT filter: answers that mention the company or product they were
/// distilled from. Opt-in: `Step::DropRefusals { phrases: OPENAI_MENTIONS }`.
pub const OPENAI_MENTIONS: &[&str] = &["openai", "chatgpt"];

/// The form both phrases and texts are compared in: lowercase, typographic apostrophes and
/// quotes made straight, whitespace runs collapsed to one space.
fn key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{FF07}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            c => c,
        };
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// A compiled phrase list.
pub(crate) struct Matcher {
    /// (phrase as given, comparison key); empty phrases are left out.
    phrases: Vec<(String, String)>,
}

impl Matcher {
    pub(crate) fn new<S: AsRef<str>>(phrases: &[S]) -> Self {
        let phrases = phrases
            .iter()
            .map(|p| (p.as_ref().to_owned(), key(p.as_ref())))
            .filter(|(_, k)| !k.trim().is_empty())
            .collect();
        Matcher { phrases }
    }

    /// Whether no usable phrase was given.
    pub(crate) fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// The first phrase (as given) that occurs in `text`.
    pub(crate) fn find(&self, text: &str) -> Option<&str> {
        let text = key(text);
        self.phrases
            .iter()
            .find(|(_, k)| text.contains(k.as_str()))
            .map(|(p, _)| p.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_ignore_case_apostrophes_and_spacing() {
        let m = Matcher::new(DEFAULT_REFUSAL_PHRASES);
        assert_eq!(
            m.find("As an AI language model, I cannot browse."),
            Some("as an ai language model")
        );
        assert_eq!(
            m.find("I\u{2019}m sorry, but I  can\u{2019}t help."),
            Some("i'm sorry, but i can't")
        );
        assert_eq!(
            m.find("DESCULPE, MAS NÃO POSSO fazer isso."),
            Some("desculpe, mas não posso")
        );
    }

    #[test]
    fn ordinary_answers_do_not_match() {
        let m = Matcher::new(DEFAULT_REFUSAL_PHRASES);
        assert_eq!(
            m.find("Sorry for the delay! Here is the summary you asked for."),
            None
        );
        assert_eq!(
            m.find("Não posso garantir, mas o prazo costuma ser de 3 dias."),
            None
        );
    }

    #[test]
    fn empty_phrases_never_match() {
        let m = Matcher::new(&["", "  "]);
        assert_eq!(m.find("anything"), None);
    }
}
