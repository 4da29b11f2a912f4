//! Fenced code blocks in Markdown text.
//!
//! Several steps must leave code alone: collapsing spaces would break Python indentation and
//! aligned columns, blank lines between functions are part of the code, HTML inside a code
//! block is an example rather than markup, and repeated `}` lines are not a looping answer.
//! This module tells those steps which lines are code.

/// A fence that opened a code block: its character and length, so only a matching fence
/// (same character, at least as long) closes it, as CommonMark requires.
#[derive(Clone, Copy)]
struct Fence {
    ch: char,
    len: usize,
}

/// Reads a fence (three or more backticks or tildes after optional indentation) at the start
/// of `line`. A backtick fence's info string may not contain a backtick (CommonMark), which
/// keeps inline code such as ```` ```a``` ```` from opening a block.
fn fence_at(line: &str) -> Option<(Fence, &str)> {
    let body = line.trim_start();
    let ch = body.chars().next().filter(|&c| c == '`' || c == '~')?;
    let len = body.chars().take_while(|&c| c == ch).count();
    if len < 3 {
        return None;
    }
    // Both fence characters are ASCII, so `len` is also a byte count.
    let info = &body[len..];
    if ch == '`' && info.contains('`') {
        return None;
    }
    Some((Fence { ch, len }, info))
}

/// Whether `line` closes a block opened by `open`: the same character, at least as many, and
/// nothing but whitespace after it.
fn closes(line: &str, open: Fence) -> bool {
    matches!(fence_at(line), Some((f, info)) if f.ch == open.ch && f.len >= open.len && info.trim().is_empty())
}

/// Splits `text` at `\n` and tags each line with whether it belongs to a fenced code block.
/// The opening and closing fence lines count as code. A block that is never closed runs to the
/// end of the text, as in CommonMark.
pub(crate) fn lines(text: &str) -> Vec<(&str, bool)> {
    lines_where(text, |_| true)
}

/// Like [`lines`], but a fence opens a block only when `opens(info string)` agrees. HTML
/// conversion uses it to ignore "fences" such as ```` ```</code></pre> ```` that are really
/// code inside markup.
pub(crate) fn lines_where(text: &str, opens: impl Fn(&str) -> bool) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut open: Option<Fence> = None;
    for line in text.split('\n') {
        match open {
            Some(fence) => {
                if closes(line, fence) {
                    open = None;
                }
                out.push((line, true));
            }
            None => {
                if let Some((fence, _)) = fence_at(line).filter(|(_, info)| opens(info)) {
                    open = Some(fence);
                    out.push((line, true));
                } else {
                    out.push((line, false));
                }
            }
        }
    }
    out
}

/// The fence that would close a code block left open at the end of `text`, if one is.
pub(crate) fn unclosed(text: &str) -> Option<String> {
    let mut open: Option<Fence> = None;
    for line in text.split('\n') {
        match open {
            Some(fence) if closes(line, fence) => open = None,
            Some(_) => {}
            None => open = fence_at(line).map(|(fence, _)| fence),
        }
    }
    open.map(|f| f.ch.to_string().repeat(f.len))
}

/// The text with every fenced code block removed (lines joined by `\n`): what language
/// detection and repetition rules should judge.
pub(crate) fn prose(text: &str) -> String {
    let kept: Vec<&str> = lines(text)
        .into_iter()
        .filter(|(_, code)| !code)
        .map(|(l, _)| l)
        .collect();
    kept.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_flags(text: &str) -> Vec<bool> {
        lines(text).into_iter().map(|(_, c)| c).collect()
    }

    #[test]
    fn backtick_block_is_code_including_fences() {
        let t = "Veja:\n```python\ndef f():\n    return 1\n```\nFim.";
        assert_eq!(code_flags(t), [false, true, true, true, true, false]);
    }

    #[test]
    fn shorter_or_other_fence_does_not_close() {
        let t = "````md\n```\ninner\n```\n````\nafter";
        assert_eq!(code_flags(t), [true, true, true, true, true, false]);
        let t = "~~~\n```\n~~~\nx";
        assert_eq!(code_flags(t), [true, true, true, false]);
    }

    #[test]
    fn inline_triple_backticks_do_not_open_a_block() {
        assert_eq!(code_flags("use ```a``` here\nnext"), [false, false]);
    }

    #[test]
    fn unclosed_block_runs_to_the_end() {
        assert_eq!(code_flags("a\n```\nb\nc"), [false, true, true, true]);
    }

    #[test]
    fn unclosed_reports_the_matching_fence() {
        assert_eq!(unclosed("a\n````py\nx"), Some("````".to_owned()));
        assert_eq!(unclosed("a\n```\nx\n```"), None);
        assert_eq!(unclosed("sem código"), None);
    }

    #[test]
    fn prose_drops_code_lines() {
        assert_eq!(prose("Olá\n```\nlet x = 1;\n```\nmundo"), "Olá\nmundo");
        assert_eq!(prose("só texto"), "só texto");
    }
}
