//! A byte-level BPE tokenizer trained on the corpus, with the chat template's special tokens.
//!
//! The layout is SmolLM2's (which llama.cpp knows as the `smollm` pre-tokenizer): digits split
//! one by one, then GPT-2's byte-level regex split; byte-level post-processor and decoder; no
//! normaliser. Every one of the 256 bytes is in the base alphabet, so any text encodes. The
//! special tokens come first, with ids 0 to 3 ([`SPECIAL_TOKENS`]).
//!
//! Special token strings never reach the BPE trainer: documents are cut at them first, so no
//! merge is spent on pieces of `<|im_start|>`. Training is deterministic: merges are ranked by
//! count, ties by the ids of the pair.

use ajuste_shared::template::Builtin;
use serde_json::{Value, json};
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

/// Separates documents in a corpus and ends each packed document; the tokenizer's BOS.
pub const END_OF_TEXT: &str = "<|endoftext|>";
/// Opens a ChatML turn.
pub const IM_START: &str = "<|im_start|>";
/// Closes a ChatML turn; the model's EOS (generation stops there).
pub const IM_END: &str = "<|im_end|>";
/// Fills batches; never trained.
pub const PAD: &str = "<|pad|>";
/// The special tokens, in id order (ids 0, 1, 2, 3).
pub const SPECIAL_TOKENS: [&str; 4] = [END_OF_TEXT, IM_START, IM_END, PAD];

/// Ids of the special tokens in a trained tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    /// `<|endoftext|>`: document separator and BOS.
    pub end_of_text: u32,
    /// `<|im_start|>`.
    pub im_start: u32,
    /// `<|im_end|>`: EOS.
    pub im_end: u32,
    /// `<|pad|>`.
    pub pad: u32,
}

impl Default for SpecialIds {
    fn default() -> Self {
        SpecialIds {
            end_of_text: 0,
            im_start: 1,
            im_end: 2,
            pad: 3,
        }
    }
}

/// The smallest vocabulary: the 256 byte tokens and the special tokens.
pub const MIN_VOCAB: usize = 256 + SPECIAL_TOKENS.len();

/// Why a tokenizer could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// The vocabulary cannot hold the byte alphabet and the special tokens.
    #[error(
        "a vocabulary of {0} is too small: a byte-level BPE needs the 256 bytes and {n} special tokens ({MIN_VOCAB})",
        n = SPECIAL_TOKENS.len()
    )]
    VocabTooSmall(usize),
    /// The tokenizers crate failed.
    #[error("training the tokenizer failed: {0}")]
    Train(String),
}

/// The pieces of `text` between special tokens (the special tokens themselves left out).
pub fn split_special(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let next = SPECIAL_TOKENS
            .iter()
            .filter_map(|t| rest.find(t).map(|at| (at, t.len())))
            .min();
        Some(match next {
            Some((at, len)) => {
                let piece = &rest[..at];
                rest = &rest[at + len..];
                piece
            }
            None => std::mem::take(&mut rest),
        })
    })
    .filter(|p| !p.is_empty())
}

/// Trains a byte-level BPE of at most `vocab_size` tokens (special tokens included) on
/// `documents`. Merges stop early when no pair occurs twice: the vocabulary is then smaller.
///
/// # Errors
/// [`TokenizerError::VocabTooSmall`] below [`MIN_VOCAB`]; [`TokenizerError::Train`] when the
/// tokenizers crate fails.
pub fn train_bpe<S: AsRef<str> + Sync>(
    documents: &[S],
    vocab_size: usize,
) -> Result<Tokenizer, TokenizerError> {
    if vocab_size < MIN_VOCAB {
        return Err(TokenizerError::VocabTooSmall(vocab_size));
    }
    let err = |e: tokenizers::Error| TokenizerError::Train(e.to_string());
    let mut tokenizer = Tokenizer::new(BPE::default());
    let digits: PreTokenizerWrapper = Digits::new(true).into();
    let bytes: PreTokenizerWrapper = ByteLevel::new(false, true, true).into();
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![digits, bytes])));
    tokenizer.with_post_processor(Some(ByteLevel::new(true, false, true)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    let alphabet = ByteLevel::alphabet().into_iter().collect();
    let specials = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let mut trainer: TrainerWrapper = BpeTrainer::builder()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .special_tokens(specials)
        .initial_alphabet(alphabet)
        .show_progress(false)
        .build()
        .into();
    let pieces: Vec<&str> = documents
        .iter()
        .flat_map(|d| split_special(d.as_ref()))
        .collect();
    tokenizer
        .train(&mut trainer, pieces.into_iter())
        .map_err(err)?;
    Ok(tokenizer)
}

/// The ids of [`SPECIAL_TOKENS`] in `tokenizer`.
///
/// # Errors
/// [`TokenizerError::Train`] naming a special token the tokenizer lacks.
pub fn special_ids(tokenizer: &Tokenizer) -> Result<SpecialIds, TokenizerError> {
    let id = |t: &str| {
        tokenizer
            .token_to_id(t)
            .ok_or_else(|| TokenizerError::Train(format!("the tokenizer has no `{t}` token")))
    };
    Ok(SpecialIds {
        end_of_text: id(END_OF_TEXT)?,
        im_start: id(IM_START)?,
        im_end: id(IM_END)?,
        pad: id(PAD)?,
    })
}

/// `tokenizer_config.json`: the ChatML template, BOS/EOS/PAD, and the added tokens as
/// transformers writes them.
pub fn tokenizer_config(model_max_length: usize) -> Value {
    let added: serde_json::Map<String, Value> = SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(id, t)| {
            (
                id.to_string(),
                json!({"content": t, "lstrip": false, "normalized": false, "rstrip": false,
                       "single_word": false, "special": true}),
            )
        })
        .collect();
    json!({
        "add_bos_token": false,
        "add_eos_token": false,
        "add_prefix_space": false,
        "added_tokens_decoder": added,
        "additional_special_tokens": [IM_START, IM_END],
        "bos_token": END_OF_TEXT,
        "chat_template": Builtin::Chatml.jinja_source(),
        "clean_up_tokenization_spaces": false,
        "eos_token": IM_END,
        "model_max_length": model_max_length,
        "pad_token": PAD,
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": null,
    })
}

/// `special_tokens_map.json`.
pub fn special_tokens_map() -> Value {
    json!({
        "additional_special_tokens": [IM_START, IM_END],
        "bos_token": END_OF_TEXT,
        "eos_token": IM_END,
        "pad_token": PAD,
    })
}

/// `generation_config.json`: stop at `<|im_end|>` (end of a turn) or `<|endoftext|>`.
pub fn generation_config(ids: SpecialIds) -> Value {
    json!({
        "bos_token_id": ids.end_of_text,
        "eos_token_id": [ids.im_end, ids.end_of_text],
        "pad_token_id": ids.pad,
        "transformers_version": "4.57.0",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: [&str; 3] = [
        "<|im_start|>user\nWhat is 12 plus 30?<|im_end|>\n<|im_start|>assistant\n12 plus 30 is 42.<|im_end|>",
        "<|im_start|>user\nWhat colour is the sky?<|im_end|>\n<|im_start|>assistant\nThe sky is blue.<|im_end|>",
        "The sky is blue and the grass is green. The sky is blue.",
    ];

    #[test]
    fn special_tokens_are_cut_out_of_the_training_text() {
        let pieces: Vec<&str> = split_special("<|im_start|>user\nHi<|im_end|>\nx<|pad|>").collect();
        assert_eq!(pieces, ["user\nHi", "\nx"]);
        assert_eq!(split_special("plain").collect::<Vec<_>>(), ["plain"]);
        assert_eq!(split_special("").count(), 0);
    }

    #[test]
    fn the_tokenizer_has_the_specials_first_and_round_trips_text() {
        let tok = train_bpe(&DOCS, 300).unwrap();
        assert_eq!(special_ids(&tok).unwrap(), SpecialIds::default());
        assert!(tok.get_vocab_size(true) <= 300);
        let text = "<|im_start|>user\nWhat colour is the grass? Ünïcode 123<|im_end|>";
        let enc = tok.encode(text, false).unwrap();
        assert_eq!(enc.get_ids()[0], 1);
        assert_eq!(*enc.get_ids().last().unwrap(), 2);
        // Digits are single tokens.
        assert!(enc.get_tokens().iter().any(|t| t == "1"));
        assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), text);
        // No merge was learned from pieces of special tokens.
        assert!(tok.token_to_id("im").is_none() && tok.token_to_id("<|").is_none());
    }

    #[test]
    fn training_is_deterministic() {
        let a = train_bpe(&DOCS, 320).unwrap().to_string(false).unwrap();
        let b = train_bpe(&DOCS, 320).unwrap().to_string(false).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_vocabulary_without_room_for_the_bytes_is_refused() {
        assert!(matches!(
            train_bpe(&DOCS, 100),
            Err(TokenizerError::VocabTooSmall(100))
        ));
    }
}
