//! Token ids and labels for a rendered record.
//!
//! The whole text is encoded once, without the tokenizer's own special tokens (the template writes
//! BOS itself; this is transformers' `apply_chat_template(tokenize=True)`), and every token whose
//! byte range overlaps a trained segment is trained: its label is its id, every other label is
//! -100. That is the rule transformers uses for `return_assistant_tokens_mask`, so a token that
//! straddles the edge of an assistant span (a merged "\n" and letter) is trained.
//!
//! The same code runs natively and in the browser; tokenizers is built with the same pure-Rust
//! regex engine on both (see `shared/Cargo.toml`), so the ids are the same.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::codes::Code;
use crate::diagnostic::Finding;
use crate::template::{Rendered, Template};

/// The label of a token the loss ignores (PyTorch's `CrossEntropyLoss` `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// A tokenized record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Encoded {
    pub input_ids: Vec<u32>,
    /// The token id where trained, [`IGNORE_INDEX`] (-100) where not. Not shifted: the model shifts.
    pub labels: Vec<i64>,
    /// What tokenization found (truncation, nothing left to train); the findings of rendering stay
    /// in the [`Rendered`] value.
    pub findings: Vec<Finding>,
    /// Where a cut to the maximum length falls in the rendered text: the byte offset of the
    /// first token dropped (`None` when nothing was cut).
    pub cut_at: Option<usize>,
}

impl Encoded {
    /// How many tokens are trained.
    pub fn trained_tokens(&self) -> usize {
        self.labels.iter().filter(|&&l| l != IGNORE_INDEX).count()
    }
}

/// Why a tokenizer could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizeError {
    #[error("tokenizer.json cannot be read: {0}")]
    InvalidTokenizer(String),
}

/// A Hugging Face tokenizer (`tokenizer.json`).
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

impl TextTokenizer {
    /// Loads `tokenizer.json` bytes. Truncation and padding saved in the file are switched off:
    /// lengths are ajuste's decision (`max_len`), and padding belongs to batching.
    pub fn from_bytes(json: &[u8]) -> Result<Self, TokenizeError> {
        let mut inner = Tokenizer::from_bytes(json)
            .map_err(|e| TokenizeError::InvalidTokenizer(e.to_string()))?;
        inner
            .with_truncation(None)
            .map_err(|e| TokenizeError::InvalidTokenizer(e.to_string()))?;
        inner.with_padding(None);
        Ok(TextTokenizer { inner })
    }

    /// Encodes a rendered record; with `max_len`, keeps the first `max_len` tokens.
    ///
    /// Findings: `too-long-for-context` when the record is cut, `truncated-response` when the cut
    /// goes through trained text, `no-trained-tokens` when trained text was rendered but no trained
    /// token is left, `tokenize-error` when the tokenizer fails.
    pub fn encode(&self, rendered: &Rendered, max_len: Option<usize>) -> Encoded {
        let text = rendered.text();
        let encoding = match self.inner.encode(text.as_str(), false) {
            Ok(encoding) => encoding,
            Err(err) => {
                let finding = Finding::new(
                    Code::TokenizeError,
                    format!("the tokenizer cannot encode this record: {err}"),
                );
                return Encoded {
                    findings: vec![finding],
                    ..Encoded::default()
                };
            }
        };
        let mut input_ids = encoding.get_ids().to_vec();
        let mask = trained_mask(encoding.get_offsets(), &rendered.trained_ranges());
        let mut labels: Vec<i64> = input_ids
            .iter()
            .zip(&mask)
            .map(|(&id, &t)| if t { i64::from(id) } else { IGNORE_INDEX })
            .collect();
        let mut findings = Vec::new();
        let mut cut_at = None;
        if let Some(max) = max_len.filter(|&max| input_ids.len() > max) {
            findings.push(Finding::new(
                Code::TooLongForContext,
                format!("the record has {} tokens, more than the maximum length {max}; it is cut to {max}", input_ids.len()),
            ));
            let cut_trained = mask[max..].iter().filter(|&&t| t).count();
            if cut_trained > 0 {
                findings.push(Finding::new(
                    Code::TruncatedResponse,
                    format!("cutting the record to {max} tokens drops {cut_trained} trained tokens, including the end of a response"),
                ));
            }
            input_ids.truncate(max);
            labels.truncate(max);
            cut_at = Some(encoding.get_offsets()[max].0);
        }
        let encoded = Encoded {
            input_ids,
            labels,
            findings,
            cut_at,
        };
        if rendered.has_trained_text() && encoded.trained_tokens() == 0 {
            let mut encoded = encoded;
            encoded.findings.push(Finding::new(
                Code::NoTrainedTokens,
                "no trained token is left after tokenization and truncation",
            ));
            return encoded;
        }
        encoded
    }

    /// The ids of a plain text, without added special tokens.
    pub fn encode_text(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// The text of token ids, special tokens included; ids outside the vocabulary are skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_else(|_| {
            // A decoder that fails on some sequence still has a text for each id.
            ids.iter()
                .filter_map(|&id| self.inner.id_to_token(id))
                .collect()
        })
    }

    /// The id of a token string (an added/special token or a vocabulary entry), if it is one token.
    pub fn token_id(&self, s: &str) -> Option<u32> {
        self.inner.token_to_id(s)
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// `special-token-mismatch`: the template's BOS/EOS strings must be single tokens of this
    /// tokenizer, or the model is trained on pieces of them and never emits the real token.
    pub fn check_template(&self, template: &Template) -> Vec<Finding> {
        let name = template.name();
        [("BOS", template.bos_token()), ("EOS", template.eos_token())]
            .into_iter()
            .filter(|(_, token)| !token.is_empty() && self.token_id(token).is_none())
            .map(|(which, token)| {
                let pieces = self.encode_text(token).len();
                Finding::new(
                    Code::SpecialTokenMismatch,
                    format!(
                        "the {name} template's {which} token `{token}` is not a token of this tokenizer (it encodes as \
                         {pieces} pieces), so the model cannot learn to emit it"
                    ),
                )
            })
            .collect()
    }
}

/// Which tokens overlap a trained range: transformers' single pass over tokens and spans (both in
/// order). A token trained if it ends after a span starts and starts before it ends.
fn trained_mask(offsets: &[(usize, usize)], spans: &[Range<usize>]) -> Vec<bool> {
    let mut mask = vec![false; offsets.len()];
    let mut span = 0;
    for (i, &(start, end)) in offsets.iter().enumerate() {
        while span < spans.len() && start >= spans[span].end {
            span += 1;
        }
        if span == spans.len() {
            break;
        }
        mask[i] = end > spans[span].start;
    }
    mask
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one-span lists are meant
mod tests {
    use super::*;

    #[test]
    fn tokens_overlapping_a_span_are_trained() {
        // tokens: [0,2) [2,5) [5,6) [6,9) [9,9)
        let offsets = [(0, 2), (2, 5), (5, 6), (6, 9), (9, 9)];
        assert_eq!(
            trained_mask(&offsets, &[3..6]),
            [false, true, true, false, false]
        );
        assert_eq!(
            trained_mask(&offsets, &[0..1, 8..10]),
            [true, false, false, true, true]
        );
        assert_eq!(trained_mask(&offsets, &[]), [false; 5]);
    }
}
