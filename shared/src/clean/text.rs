//! The safe text steps: Unicode NFKC, whitespace and control characters, zero-width characters.
//!
//! They change how text is encoded, never what it says, so they run on every turn of every
//! record without asking. Each is idempotent, and so is the default pipeline
//! `nfkc, zero-width, whitespace` (see [`renormalize`] for why that needs care).

use std::borrow::Cow;

use unicode_normalization::{UnicodeNormalization, is_nfc, is_nfkc};

use super::fence;

/// Unicode NFKC: compatibility characters fold to their plain forms (full-width letters,
/// ligatures such as "ﬁ", no-break and other typographic spaces), and accents compose.
pub(crate) fn nfkc(text: &str) -> Cow<'_, str> {
    if is_nfkc(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    }
}

/// After a step removed characters from a text that was in NFC, removal may have put a base
/// letter next to a combining mark that used to be separated from it ("e", U+200B, U+0301),
/// and the text is no longer NFC. Re-composing keeps `nfkc` then this step idempotent: a
/// second `nfkc` would otherwise change the text again. The result is canonically equivalent
/// (renders identically). Texts that were not NFC to begin with are left decomposed.
fn renormalize(original: &str, mut cleaned: String) -> String {
    if is_nfc(original) && !is_nfc(&cleaned) {
        cleaned = cleaned.nfc().collect();
    }
    cleaned
}

/// Zero-width characters that never carry meaning in training text.
fn always_removed(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}')
}

/// ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER: noise in Latin text, but part of the spelling
/// in Persian, Hindi and other scripts, and the glue of emoji sequences (family, flags).
fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

fn is_zero_width(c: char) -> bool {
    always_removed(c) || is_joiner(c)
}

/// A character a joiner may legitimately sit next to: a letter of a non-ASCII script, an
/// emoji, a combining mark or variation selector.
fn joinable(c: Option<char>) -> bool {
    c.is_some_and(|c| !c.is_ascii() && !c.is_whitespace() && !c.is_control())
}

/// Removes U+200B, U+2060, U+FEFF and soft hyphens everywhere, and U+200C/U+200D unless they
/// join two non-ASCII characters (so "👨‍👩‍👧" and Persian "می‌خواهم" survive while "foo\u{200D}bar"
/// is repaired). Repeated joiners collapse to one.
pub(crate) fn zero_width(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_zero_width) {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if always_removed(c) {
            continue;
        }
        if is_joiner(c) {
            let left = out.chars().next_back();
            let right = chars[i + 1..].iter().copied().find(|&n| !is_zero_width(n));
            let keep = joinable(left) && !left.is_some_and(is_joiner) && joinable(right);
            if !keep {
                continue;
            }
        }
        out.push(c);
    }
    Cow::Owned(renormalize(text, out))
}

/// Line separators other than `\n`: they end a line wherever they appear.
fn is_line_break(c: char) -> bool {
    matches!(c, '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// CRLF and lone CR become LF, other line separators become LF, and control characters other
/// than `\n` and `\t` are removed.
fn normalize_breaks_and_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            c if is_line_break(c) => out.push('\n'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Collapses runs of two or more horizontal whitespace characters after the first
/// non-whitespace character of a line. Leading indentation is kept: it is structure
/// (Markdown lists, quoted code), not noise.
fn collapse_interior(line: &str, out: &mut String) {
    let indent_len = line.len() - line.trim_start().len();
    out.push_str(&line[..indent_len]);
    let mut run = String::new();
    for c in line[indent_len..].chars() {
        if c.is_whitespace() {
            run.push(c);
            continue;
        }
        match run.chars().count() {
            0 => {}
            1 => out.push_str(&run),
            _ => out.push(' '),
        }
        run.clear();
        out.push(c);
    }
    // Trailing whitespace was trimmed by the caller, so `run` is empty here.
}

/// Trims the text, strips trailing whitespace from every line, turns CRLF/CR and other line
/// separators into LF, removes control characters except `\n` and `\t`, collapses runs of
/// spaces/tabs inside a line to one space and runs of blank lines to one blank line.
///
/// Inside fenced code blocks only trailing whitespace is stripped: indentation, aligned
/// columns and blank lines there are part of the code.
pub(crate) fn whitespace(text: &str) -> Cow<'_, str> {
    let normalized = normalize_breaks_and_controls(text);
    let mut out = String::with_capacity(normalized.len());
    let mut blank_run = 0usize;
    for (line, code) in fence::lines(&normalized) {
        let line = line.trim_end();
        if code {
            blank_run = 0;
            out.push_str(line);
        } else if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
            collapse_interior(line, &mut out);
        }
        out.push('\n');
    }
    let trimmed = out.trim();
    if trimmed == text {
        return Cow::Borrowed(text);
    }
    Cow::Owned(renormalize(text, trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfkc_folds_compatibility_forms() {
        assert_eq!(nfkc("ﬁnal ＡＢＣ café"), "final ABC café");
        // Decomposed "ç" + "ã" compose.
        assert_eq!(nfkc("ac\u{327}a\u{303}o"), "ação");
        assert!(matches!(nfkc("já está normalizado"), Cow::Borrowed(_)));
    }

    #[test]
    fn zero_width_removes_invisible_characters() {
        assert_eq!(
            zero_width("in\u{200B}for\u{AD}ma\u{2060}ção\u{FEFF}"),
            "informação"
        );
        assert_eq!(zero_width("\u{FEFF}Olá"), "Olá");
        assert_eq!(zero_width("foo\u{200D}bar\u{200C}"), "foobar");
    }

    #[test]
    fn zero_width_keeps_joiners_inside_emoji_and_persian() {
        let family = "👨\u{200D}👩\u{200D}👧";
        assert_eq!(zero_width(family), family);
        let rainbow_flag = "🏳\u{FE0F}\u{200D}🌈";
        assert_eq!(zero_width(rainbow_flag), rainbow_flag);
        let persian = "می\u{200C}خواهم";
        assert_eq!(zero_width(persian), persian);
        // Doubled joiners collapse, stray ones next to spaces go.
        assert_eq!(
            zero_width("👨\u{200D}\u{200D}👩 \u{200D}x"),
            "👨\u{200D}👩 x"
        );
    }

    #[test]
    fn zero_width_recomposes_accents_it_separated() {
        // "e", ZWSP, combining acute: removing the ZWSP must give "é" again (NFC), or a
        // following NFKC pass would change the text a second time.
        assert_eq!(zero_width("caf\u{E9} e\u{200B}\u{301}"), "caf\u{E9} \u{E9}");
    }

    #[test]
    fn whitespace_normalizes_prose() {
        let raw = "  Olá,\t\tmundo!  \r\nSegunda   linha\r\r\n\n\n\nTerceira\u{7}\u{2028}quarta  ";
        assert_eq!(
            whitespace(raw),
            "Olá, mundo!\nSegunda linha\n\nTerceira\nquarta"
        );
    }

    #[test]
    fn whitespace_keeps_single_tabs_and_indentation() {
        assert_eq!(
            whitespace("Nome\tIdade\n  - item  um\n    - sub"),
            "Nome\tIdade\n  - item um\n    - sub"
        );
    }

    #[test]
    fn whitespace_leaves_code_blocks_alone() {
        let text = "Código:\n\n```python\ndef f(x):\n    y  =  x   # alinhado\n\n\n\ndef g():  \n    pass\n```\nFim";
        let want = "Código:\n\n```python\ndef f(x):\n    y  =  x   # alinhado\n\n\n\ndef g():\n    pass\n```\nFim";
        assert_eq!(whitespace(text), want);
    }

    #[test]
    fn whitespace_is_borrowed_when_clean() {
        assert!(matches!(
            whitespace("Tudo certo.\n\nAté logo."),
            Cow::Borrowed(_)
        ));
    }
}
