//! A word diff of two texts, for the Clean page's before/after view.
//!
//! Texts are cut into words and the runs of whitespace between them, and the longest common
//! subsequence of those pieces is kept; the rest is marked removed or added. Only the middle part
//! that differs goes through the quadratic LCS (common prefix and suffix are trimmed first), and
//! when even that is too long the middle is shown as one removal and one addition.

use crate::protocol::{Change, DiffPart};

/// Pieces beyond which the middle is not diffed word by word (keeps a diff under ~16M steps).
const MAX_LCS_PIECES: usize = 4000;

/// The word diff of `before` and `after`, adjacent pieces of one kind merged.
pub fn word_diff(before: &str, after: &str) -> Vec<DiffPart> {
    let a = pieces(before);
    let b = pieces(after);
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_mid, b_mid) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut out = Vec::new();
    for p in &a[..prefix] {
        push(&mut out, Change::Same, p);
    }
    if a_mid.len() * b_mid.len() <= MAX_LCS_PIECES * MAX_LCS_PIECES {
        lcs_diff(a_mid, b_mid, &mut out);
    } else {
        a_mid
            .iter()
            .for_each(|p| push(&mut out, Change::Removed, p));
        b_mid.iter().for_each(|p| push(&mut out, Change::Added, p));
    }
    for p in &a[a.len() - suffix..] {
        push(&mut out, Change::Same, p);
    }
    out
}

/// Words and whitespace runs, in order; concatenated they give the text back.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|s| s != space) {
            out.push(&text[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Classic LCS table, then a walk from the start that prefers keeping common pieces.
fn lcs_diff(a: &[&str], b: &[&str], out: &mut Vec<DiffPart>) {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: length of the LCS of a[i..] and b[j..], in one flat vector.
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            push(out, Change::Same, a[i]);
            i += 1;
            j += 1;
        } else if lcs[at(i + 1, j)] >= lcs[at(i, j + 1)] {
            push(out, Change::Removed, a[i]);
            i += 1;
        } else {
            push(out, Change::Added, b[j]);
            j += 1;
        }
    }
    a[i..].iter().for_each(|p| push(out, Change::Removed, p));
    b[j..].iter().for_each(|p| push(out, Change::Added, p));
}

fn push(out: &mut Vec<DiffPart>, change: Change, text: &str) {
    match out.last_mut() {
        Some(last) if last.change == change => last.text.push_str(text),
        _ => out.push(DiffPart {
            change,
            text: text.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(parts: &[DiffPart]) -> String {
        parts
            .iter()
            .map(|p| match p.change {
                Change::Same => p.text.clone(),
                Change::Removed => format!("[-{}-]", p.text),
                Change::Added => format!("{{+{}+}}", p.text),
            })
            .collect()
    }

    #[test]
    fn marks_changed_words_only() {
        assert_eq!(
            show(&word_diff(
                "Call me at  555-1234 today",
                "Call me at <PHONE_1> today"
            )),
            "Call me at[-  555-1234-]{+ <PHONE_1>+} today"
        );
        assert_eq!(show(&word_diff("same", "same")), "same");
        assert_eq!(show(&word_diff("", "new")), "{+new+}");
        assert_eq!(show(&word_diff("old", "")), "[-old-]");
    }

    #[test]
    fn both_sides_are_recoverable() {
        let (a, b) = (
            "<p>Hello <b>world</b></p>\n\nBye",
            "Hello **world**\n\nBye now",
        );
        let parts = word_diff(a, b);
        let side = |keep: Change| -> String {
            parts
                .iter()
                .filter(|p| p.change == Change::Same || p.change == keep)
                .map(|p| p.text.as_str())
                .collect()
        };
        assert_eq!(side(Change::Removed), a);
        assert_eq!(side(Change::Added), b);
    }

    #[test]
    fn pieces_split_words_from_spaces() {
        assert_eq!(pieces("a  b\nc"), ["a", "  ", "b", "\n", "c"]);
        assert_eq!(pieces(""), Vec::<&str>::new());
        assert_eq!(pieces("é ü"), ["é", " ", "ü"]);
    }
}
