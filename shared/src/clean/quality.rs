//! Quality filters: record length, and Gopher's repetition rules for looping answers.
//!
//! The repetition rules (Rae et al. 2021, "Scaling Language Models", appendix A; as datatrove's
//! `GopherRepetitionFilter` implements them) flag text whose lines repeat or whose most frequent
//! 2/3/4-gram covers too much of it, which is what a model stuck in a loop writes. Three changes
//! make them fit chat answers rather than web pages:
//! - fenced code is left out (closing braces and repeated statements are not a loop);
//! - an n-gram must occur at least twice to count (on a 20-word answer a 4-gram seen once
//!   already covers 20% of the text, which Gopher's web-page thresholds would reject);
//! - the n-gram rules judge only answers of at least `min_words` words (default 100). They are
//!   statistics of documents: on short answers, lists and templates trip them. Measured on the
//!   675 answers of FastChat's dummy conversations and the Alpaca seed tasks, a 20-word minimum
//!   dropped 8 legitimate answers (a dependency parse, a meal plan, a list of questions), 50
//!   dropped 5, 100 dropped none. The duplicate-line rules need no word count, only at least
//!   [`MIN_LINES`] lines, and flagged none of those answers.

use std::collections::{HashMap, HashSet};

use super::fence;

/// Thresholds of the repetition rules (fractions in 0..=1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RepetitionRules {
    pub max_dup_line_frac: f64,
    pub max_dup_line_char_frac: f64,
    pub max_top_ngram_frac: [f64; 3],
    pub min_words: usize,
}

/// Lines with letters or digits an answer needs before its duplicate lines are judged.
pub(crate) const MIN_LINES: usize = 3;

fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Duplicate-line rules: lines (trimmed, with at least one letter or digit) equal to an
/// earlier line, as a fraction of lines and of characters.
fn duplicate_lines(prose: &str, rules: &RepetitionRules) -> Option<String> {
    let lines: Vec<&str> = prose
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().any(char::is_alphanumeric))
        .collect();
    if lines.len() < MIN_LINES {
        return None;
    }
    let mut seen = HashSet::new();
    let (mut dup_lines, mut dup_chars, mut all_chars) = (0usize, 0usize, 0usize);
    for line in &lines {
        let n = line.chars().count();
        all_chars += n;
        if !seen.insert(*line) {
            dup_lines += 1;
            dup_chars += n;
        }
    }
    let line_frac = dup_lines as f64 / lines.len() as f64;
    if line_frac > rules.max_dup_line_frac {
        return Some(format!(
            "{dup_lines} of its {} lines repeat an earlier line ({}, limit {})",
            lines.len(),
            percent(line_frac),
            percent(rules.max_dup_line_frac)
        ));
    }
    let char_frac = dup_chars as f64 / all_chars as f64;
    if char_frac > rules.max_dup_line_char_frac {
        return Some(format!(
            "repeated lines hold {} of its characters (limit {})",
            percent(char_frac),
            percent(rules.max_dup_line_char_frac)
        ));
    }
    None
}

/// The most frequent n-gram that occurs at least twice, with its count. Ties go to the longer
/// n-gram, then to the alphabetically first, so the reason text is the same on every run.
fn top_ngram<'a>(words: &[&'a str], n: usize) -> Option<(Vec<&'a str>, usize)> {
    let mut counts: HashMap<&[&str], usize> = HashMap::new();
    for gram in words.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
        .into_iter()
        .filter(|&(_, count)| count >= 2)
        .map(|(gram, count)| {
            let chars: usize = gram.iter().map(|w| w.chars().count()).sum();
            (count, chars, gram)
        })
        .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| b.2.cmp(a.2)))
        .map(|(count, _, gram)| (gram.to_vec(), count))
}

/// Top n-gram rules: the characters covered by the most frequent 2-, 3- and 4-gram (counted
/// once per occurrence) as a fraction of all word characters.
fn top_ngrams(words: &[&str], rules: &RepetitionRules) -> Option<String> {
    let total: usize = words.iter().map(|w| w.chars().count()).sum();
    if total == 0 {
        return None;
    }
    for (n, max) in (2..=4).zip(rules.max_top_ngram_frac) {
        let Some((gram, count)) = top_ngram(words, n) else {
            continue;
        };
        let chars: usize = gram.iter().map(|w| w.chars().count()).sum();
        let share = (chars * count) as f64 / total as f64;
        if share > max {
            return Some(format!(
                "the {n}-gram \"{}\" occurs {count} times and covers {} of its text (limit {})",
                gram.join(" "),
                percent(share),
                percent(max)
            ));
        }
    }
    None
}

/// Why `text` looks like a looping answer, or `None`.
pub(crate) fn repetition(text: &str, rules: &RepetitionRules) -> Option<String> {
    let prose = fence::prose(text);
    let words: Vec<&str> = prose.split_whitespace().collect();
    duplicate_lines(&prose, rules).or_else(|| {
        (words.len() >= rules.min_words)
            .then(|| top_ngrams(&words, rules))
            .flatten()
    })
}

/// Why a record of `chars` characters is outside the bounds, or `None`.
pub(crate) fn length(chars: usize, min: Option<usize>, max: Option<usize>) -> Option<String> {
    match (min, max) {
        (Some(min), _) if chars < min => Some(format!(
            "record has {chars} characters, fewer than min_chars {min}"
        )),
        (_, Some(max)) if chars > max => Some(format!(
            "record has {chars} characters, more than max_chars {max}"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: RepetitionRules = RepetitionRules {
        max_dup_line_frac: 0.30,
        max_dup_line_char_frac: 0.20,
        max_top_ngram_frac: [0.20, 0.18, 0.16],
        min_words: 100,
    };

    #[test]
    fn looping_lines_are_caught() {
        let looping = "Claro, aqui está.\nVou repetir a resposta agora.\nVou repetir a resposta agora.\nVou repetir a resposta agora.\nVou repetir a resposta agora.";
        let why = repetition(looping, &RULES).expect("loop");
        assert!(why.starts_with("3 of its 5 lines repeat"), "{why}");
    }

    #[test]
    fn looping_phrases_are_caught() {
        let looping = format!(
            "I think that{} and so on.",
            " the answer is yes and".repeat(20)
        );
        let why = repetition(&looping, &RULES).expect("loop");
        assert!(
            why.starts_with("the 2-gram \"the answer\" occurs 20 times"),
            "{why}"
        );
    }

    #[test]
    fn short_templated_lists_pass() {
        // From the Alpaca seed tasks: a list of questions shares "What's your favorite" five
        // times, which Gopher's n-gram rule would reject at 30% of the text.
        let questions = "How are you today? What have you been up to? What are your plans for the weekend? What did you do last weekend? What's your favorite thing to do? What's your favorite food? What's your favorite movie? What's your favorite book? Tell me about your family. Tell me about your friends. What's your favorite subject in school?";
        assert_eq!(repetition(questions, &RULES), None);
        // Two equal lines are too few to call a loop.
        assert_eq!(repetition("Sim.\nSim.", &RULES), None);
    }

    #[test]
    fn ordinary_answers_pass() {
        let answer = "A fotossíntese é o processo pelo qual as plantas convertem luz solar, água e dióxido de carbono em glicose e oxigênio. Ela ocorre nos cloroplastos, principalmente nas folhas, e sustenta quase toda a vida na Terra.";
        assert_eq!(repetition(answer, &RULES), None);
        // Twenty words that are all different: no n-gram occurs twice.
        let distinct = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty";
        assert_eq!(repetition(distinct, &RULES), None);
    }

    #[test]
    fn code_blocks_and_short_answers_are_not_judged() {
        let code = "Here is the C version of the function you asked for, with the braces on their own lines as usual:\n```c\nint f(int x) {\n  if (x) {\n    return 1;\n  }\n  return 0;\n}\nint g(void) {\n  return 0;\n}\n```";
        assert_eq!(repetition(code, &RULES), None);
        assert_eq!(repetition("Sim. Sim. Sim. Sim.", &RULES), None);
    }

    #[test]
    fn length_bounds() {
        assert_eq!(length(10, Some(5), Some(20)), None);
        assert!(
            length(3, Some(5), None)
                .unwrap()
                .contains("fewer than min_chars 5")
        );
        assert!(
            length(30, None, Some(20))
                .unwrap()
                .contains("more than max_chars 20")
        );
    }
}
