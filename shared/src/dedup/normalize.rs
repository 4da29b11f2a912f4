//! The matching text of a record: what exact and near deduplication compare.
//!
//! [`normalize`] follows datatrove's `simplify_text` so that "the same text" means what it means
//! in the reference tools: NFKC, lowercase, diacritics removed (NFD, combining marks dropped),
//! runs of digits (with an optional decimal part) replaced by `0`, punctuation (CJK too),
//! symbols and control characters turned into word breaks, whitespace collapsed to one space.
//!
//! A record's matching text ([`record_text`]) keeps digits, though: in fine-tuning data numbers
//! are content. "What is 2+2? 4" and "What is 3+3? 6" are two examples, not one, and folding
//! their digits made a dataset of arithmetic collapse into a handful of "exact duplicates".
//!
//! It is used for matching keys only; the text that is exported is never normalised here.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

use crate::record::{Message, Record, Role};

/// The matching key text of `text`: NFKC, lowercase, diacritics removed, digit runs -> `0`,
/// punctuation/symbols/control characters -> word breaks, whitespace collapsed and trimmed.
///
/// The output holds only lowercase letters, `0`, other letters and numbers without case, and
/// single ASCII spaces between words; it never holds an ASCII uppercase letter (that is what
/// lets [`record_text`] use uppercase role markers that no content can imitate).
///
/// ```
/// use ajuste_shared::dedup::normalize;
/// assert_eq!(normalize("  Héllo,   WORLD!! 3.14 and 42nd  "), "hello world 0 and 0nd");
/// ```
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out);
    out
}

/// [`normalize`], appending to `out` (which is not cleared) so hot loops reuse one buffer.
pub fn normalize_into(text: &str, out: &mut String) {
    normalize_with(text, out, true);
}

/// [`normalize_into`], with digit folding optional: comparing a chosen and a rejected answer
/// must keep "4" and "5" apart.
pub(crate) fn normalize_with(text: &str, out: &mut String, fold_digits: bool) {
    if text.is_ascii() {
        // ASCII is already NFKC/NFD-stable: skip the Unicode machinery entirely, copy runs of
        // word characters whole and lowercase everything appended in one pass at the end.
        let start = out.len();
        let mut w = Writer::new(out, fold_digits);
        let bytes = text.as_bytes();
        let is_word = |b: u8| b.is_ascii_alphabetic() || (!fold_digits && b.is_ascii_digit());
        let mut i = 0;
        while i < bytes.len() {
            if is_word(bytes[i]) {
                let run = i;
                while i < bytes.len() && is_word(bytes[i]) {
                    i += 1;
                }
                w.word(&text[run..i]);
            } else {
                w.ascii(bytes[i]);
                i += 1;
            }
        }
        out[start..].make_ascii_lowercase();
    } else {
        let mut w = Writer::new(out, fold_digits);
        // NFKC followed by NFD is NFKD, so one compatibility decomposition does both; the
        // lowercase mapping may compose again (rarely), hence the canonical decomposition after it.
        for c in text.nfkd() {
            if c.is_ascii() {
                w.ascii(c as u8);
            } else {
                for l in c.to_lowercase() {
                    decompose_canonical(l, |d| w.unicode(d));
                }
            }
        }
    }
}

/// Appends normalised characters, tracking word breaks and digit runs.
struct Writer<'a> {
    out: &'a mut String,
    /// Length of `out` before this call: breaks before the first word of this call are dropped.
    start: usize,
    /// A word break was seen since the last emitted character.
    pending_break: bool,
    /// The last emitted character is the `0` standing for a digit run.
    in_number: bool,
    /// A `.` directly followed a digit run; it joins the run if a digit follows (`3.14` -> `0`).
    pending_dot: bool,
    /// The current digit run already took its one decimal part (`1.2.3` -> `0 0`, as
    /// datatrove's `\d+(\.\d+)?` does).
    fraction: bool,
    /// Replace digit runs by `0`; when false, digits are kept as letters are.
    fold_digits: bool,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut String, fold_digits: bool) -> Self {
        let start = out.len();
        Writer {
            out,
            start,
            pending_break: false,
            in_number: false,
            pending_dot: false,
            fraction: false,
            fold_digits,
        }
    }

    #[inline]
    fn ascii(&mut self, b: u8) {
        if b.is_ascii_digit() && self.fold_digits {
            self.digit();
        } else if b.is_ascii_digit() {
            self.letter(b as char);
        } else if b.is_ascii_alphabetic() {
            self.letter((b.to_ascii_lowercase()) as char);
        } else if b == b'.' {
            self.dot();
        } else {
            self.brk();
        }
    }

    #[inline]
    fn unicode(&mut self, c: char) {
        if is_combining_mark(c) {
            // Diacritics vanish without breaking the word they sit on.
        } else if c.is_numeric() && self.fold_digits {
            self.digit();
        } else if c.is_alphanumeric() {
            self.letter(c);
        } else {
            self.brk();
        }
    }

    #[inline]
    fn digit(&mut self) {
        if self.in_number && !self.pending_break {
            // Still the same run (possibly across one `.`): it is already a `0`.
            self.fraction |= self.pending_dot;
            self.pending_dot = false;
            return;
        }
        self.begin_char();
        self.out.push('0');
        self.in_number = true;
        self.fraction = false;
    }

    #[inline]
    fn letter(&mut self, c: char) {
        self.begin_word();
        self.out.push(c);
    }

    /// A run of word characters copied as it is (the caller lowercases afterwards).
    #[inline]
    fn word(&mut self, run: &str) {
        self.begin_word();
        self.out.push_str(run);
    }

    #[inline]
    fn begin_word(&mut self) {
        if self.pending_dot {
            // "3.a": the dot was punctuation after all.
            self.pending_break = true;
        }
        self.begin_char();
        self.in_number = false;
    }

    #[inline]
    fn dot(&mut self) {
        if self.in_number && !self.fraction && !self.pending_dot && !self.pending_break {
            self.pending_dot = true;
        } else {
            self.brk();
        }
    }

    #[inline]
    fn brk(&mut self) {
        self.pending_break = true;
        self.pending_dot = false;
    }

    /// Emits the space a pending break stands for, unless nothing was written yet.
    #[inline]
    fn begin_char(&mut self) {
        if self.pending_break && self.out.len() > self.start {
            self.out.push(' ');
        }
        self.pending_break = false;
        self.pending_dot = false;
    }
}

/// The marker word that introduces a turn of `role` in [`record_text`].
fn role_marker(role: Role) -> &'static str {
    match role {
        Role::System => "SYSTEM",
        Role::User => "USER",
        Role::Assistant => "ASSISTANT",
        Role::Tool => "TOOL",
    }
}

/// Appends `word` to `out`, with a separating space when `out` is not empty.
fn push_word(out: &mut String, word: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(word);
}

/// Appends the turns as `ROLE content ROLE content ...`, each content normalised with its
/// digits kept (see the module's note).
pub(crate) fn turns_into(turns: &[Message], out: &mut String) {
    for m in turns {
        push_word(out, role_marker(m.role));
        out.push(' ');
        let before = out.len();
        normalize_with(&m.content, out, false);
        if out.len() == before {
            // Empty content: take back the space so words stay separated by exactly one.
            out.pop();
        }
    }
}

/// The normalised matching text of a list of turns (see [`record_text`]).
pub(crate) fn turns_text(turns: &[Message]) -> String {
    let mut out = String::new();
    turns_into(turns, &mut out);
    out
}

/// The text of a record used for dedup: every turn's content, [normalised](normalize) with its
/// digits kept, each preceded by an uppercase role marker (`SYSTEM`, `USER`, `ASSISTANT`, `TOOL`), so a user turn
/// and an assistant turn with the same text differ. Preferences read
/// `PROMPT <turns> CHOSEN <turns> REJECTED <turns>`; feedback reads
/// `PROMPT <turns> COMPLETION <turns> GOOD|BAD` (the same completion labelled both ways is a
/// contradiction, not a duplicate). Metadata (ids, sources) is not part of it.
///
/// Normalised content never holds ASCII uppercase, so no content can forge a marker: two
/// records have the same matching text only if their turns match one to one.
///
/// ```
/// use ajuste_shared::{Conversation, Message, Record};
/// use ajuste_shared::dedup::record_text;
/// let r = Record::Conversation(Conversation {
///     messages: vec![Message::user("Hi there!"), Message::assistant("Hello.")],
///     meta: Default::default(),
/// });
/// assert_eq!(record_text(&r), "USER hi there ASSISTANT hello");
/// ```
pub fn record_text(record: &Record) -> String {
    let mut out = String::new();
    record_text_into(record, &mut out);
    out
}

/// [`record_text`] into a reused buffer (cleared first).
pub fn record_text_into(record: &Record, out: &mut String) {
    out.clear();
    match record {
        Record::Conversation(c) => turns_into(&c.messages, out),
        Record::Preference(p) => {
            push_word(out, "PROMPT");
            turns_into(&p.prompt, out);
            push_word(out, "CHOSEN");
            turns_into(&p.chosen, out);
            push_word(out, "REJECTED");
            turns_into(&p.rejected, out);
        }
        Record::Feedback(f) => {
            push_word(out, "PROMPT");
            turns_into(&f.prompt, out);
            push_word(out, "COMPLETION");
            turns_into(&f.completion, out);
            push_word(out, if f.label { "GOOD" } else { "BAD" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Conversation, Feedback, Preference};

    fn conv(messages: Vec<Message>) -> Record {
        Record::Conversation(Conversation {
            messages,
            meta: Default::default(),
        })
    }

    #[test]
    fn whitespace_and_case_collapse() {
        assert_eq!(normalize("  Hello \t\n  World  "), "hello world");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \n\t "), "");
    }

    #[test]
    fn punctuation_and_control_characters_break_words() {
        assert_eq!(normalize("a,b;c\u{0}d\u{7f}e"), "a b c d e");
        assert_eq!(normalize("你好，世界。"), "你好 世界");
        assert_eq!(normalize("«quoted» — dash…"), "quoted dash");
    }

    #[test]
    fn digit_runs_become_zero_like_datatrove() {
        assert_eq!(
            normalize("in 2024 about 3.14 or 7. then"),
            "in 0 about 0 or 0 then"
        );
        assert_eq!(normalize("v2 abc123def 1.2.3"), "v0 abc0def 0 0");
        assert_eq!(normalize("3.a"), "0 a");
        // Non-ASCII digits count as digits too.
        assert_eq!(normalize("١٢٣ x"), "0 x");
    }

    #[test]
    fn digits_can_be_kept() {
        let mut s = String::new();
        normalize_with("Answer: 4.5, not 45!", &mut s, false);
        assert_eq!(s, "answer 4 5 not 45");
    }

    #[test]
    fn diacritics_and_compatibility_forms_fold() {
        assert_eq!(normalize("Crème Brûlée"), "creme brulee");
        assert_eq!(normalize("ﬁne Ｈｅｌｌｏ"), "fine hello");
        // Decomposed input gives the same key as precomposed input.
        assert_eq!(normalize("e\u{301}te\u{301}"), normalize("été"));
        assert_eq!(normalize("İstanbul"), "istanbul");
    }

    #[test]
    fn normalize_into_appends_without_leading_space() {
        let mut s = String::from("X");
        normalize_into("  a b ", &mut s);
        assert_eq!(s, "Xa b");
    }

    #[test]
    fn output_never_holds_ascii_uppercase() {
        for t in ["ÀÉÎ ＡＢＣ", "ǅ ǈ", "ẞ Ω K Å"] {
            let n = normalize(t);
            assert!(!n.bytes().any(|b| b.is_ascii_uppercase()), "{t:?} -> {n:?}");
        }
    }

    #[test]
    fn record_text_keeps_numbers_apart() {
        let sum = |q: &str, a: &str| conv(vec![Message::user(q), Message::assistant(a)]);
        assert_eq!(
            record_text(&sum("What is 2+2?", "4.")),
            "USER what is 2 2 ASSISTANT 4"
        );
        assert_ne!(
            record_text(&sum("What is 2+2?", "4")),
            record_text(&sum("What is 3+3?", "6"))
        );
        assert_eq!(
            record_text(&sum("What is 2+2?", "4")),
            record_text(&sum("  what IS 2 + 2 ", "4!"))
        );
    }

    #[test]
    fn record_text_marks_roles() {
        let a = conv(vec![Message::user("same"), Message::assistant("text")]);
        let b = conv(vec![Message::assistant("same"), Message::user("text")]);
        assert_eq!(record_text(&a), "USER same ASSISTANT text");
        assert_ne!(record_text(&a), record_text(&b));
        // Content cannot forge a marker: "user" in content stays lowercase.
        let c = conv(vec![Message::user("same ASSISTANT text")]);
        assert_ne!(record_text(&a), record_text(&c));
    }

    #[test]
    fn record_text_keeps_single_spaces_with_empty_turns() {
        let r = conv(vec![
            Message::system(""),
            Message::user("  "),
            Message::assistant("ok"),
        ]);
        assert_eq!(record_text(&r), "SYSTEM USER ASSISTANT ok");
    }

    #[test]
    fn record_text_of_preference_and_feedback() {
        let p = Record::Preference(Preference {
            prompt: vec![Message::user("Q?")],
            chosen: vec![Message::assistant("Yes.")],
            rejected: vec![Message::assistant("No.")],
            meta: Default::default(),
        });
        assert_eq!(
            record_text(&p),
            "PROMPT USER q CHOSEN ASSISTANT yes REJECTED ASSISTANT no"
        );
        let f = Record::Feedback(Feedback {
            prompt: vec![Message::user("Q")],
            completion: vec![Message::assistant("A")],
            label: false,
            meta: Default::default(),
        });
        assert_eq!(record_text(&f), "PROMPT USER q COMPLETION ASSISTANT a BAD");
    }
}
