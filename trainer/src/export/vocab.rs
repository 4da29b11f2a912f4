//! A Hugging Face `tokenizer.json` as GGUF's `tokenizer.ggml.*` keys, following llama.cpp's
//! `convert_hf_to_gguf.py` (`get_vocab_base`, `_set_vocab_gpt2`) and gguf-py's `SpecialVocab`.
//!
//! Supported: byte-level BPE (`tokenizer.ggml.model = "gpt2"`: GPT-2, Llama 3, Qwen2, SmolLM
//! style). Refused with a reason: SentencePiece-style BPE (`byte_fallback`, `Metaspace`:
//! Llama 2, Mistral v0.1, TinyLlama), Unigram and WordPiece models.
//!
//! Where we depart from the converter, on purpose:
//! - `tokenizer.ggml.pre` is chosen from the pre-tokenizer's structure (ByteLevel regex,
//!   Digits + ByteLevel, or the Llama 3 / Qwen2 split regexes), not from a hash of a test
//!   string's encoding: the hash only knows published tokenizers, while a tokenizer trained
//!   for a small model with a standard pre-tokenizer tokenises exactly like one of these.
//!   Any other pre-tokenizer is refused, as the converter refuses an unknown hash.
//! - Added tokens with `normalized: false` are not round-tripped through the tokenizer (the
//!   converter does, to pre-normalise them); byte-level tokenizers leave them unchanged.

use serde_json::{Map, Value as Json};

/// llama.cpp's `llama_token_type`.
pub mod token_type {
    /// An ordinary vocabulary entry.
    pub const NORMAL: i32 = 1;
    /// A special (control) token: never produced by tokenising plain text.
    pub const CONTROL: i32 = 3;
    /// An added token that is not special.
    pub const USER_DEFINED: i32 = 4;
    /// A hole in the id range, padded as `[PAD{id}]`.
    pub const UNUSED: i32 = 5;
}

/// The GGUF vocabulary of a byte-level BPE tokenizer.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufVocab {
    /// `tokenizer.ggml.pre`: llama.cpp's name for the pre-tokenizer.
    pub pre: String,
    /// `tokenizer.ggml.tokens`, one per id up to the model's vocabulary size.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`: `"a b"` pairs in rank order.
    pub merges: Vec<String>,
    /// Special token ids by gguf-py's name (`bos`, `eos`, `unk`, `sep`, `pad`, `cls`, `mask`),
    /// in the order gguf-py sets them.
    pub special_ids: Vec<(&'static str, u32)>,
    /// `add_bos` / `add_eos` flags that the tokenizer files state.
    pub add_special: Vec<(&'static str, bool)>,
}

/// Why a tokenizer cannot go into a GGUF file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VocabError {
    /// Not JSON, or not shaped like a tokenizer.json.
    #[error("{file}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A tokenizer kind llama.cpp's `gpt2` model cannot run.
    #[error(
        "{file}: {reason}; ajuste writes byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2, SmolLM style) only"
    )]
    Unsupported {
        /// The file.
        file: String,
        /// What it is.
        reason: String,
    },
    /// The tokenizer has ids beyond the model's embedding rows.
    #[error(
        "{file}: token `{token}` has id {id}, but the model's vocab_size is {vocab_size}: this tokenizer belongs to another model"
    )]
    IdOutOfRange {
        /// The file.
        file: String,
        /// The token.
        token: String,
        /// Its id.
        id: u64,
        /// Rows of the embedding.
        vocab_size: usize,
    },
}

// The split regexes of the Llama 3 and Qwen2 tokenizer.json files (llama.cpp's `llama-bpe` and
// `qwen2` pre-tokenizers implement exactly these).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn kind(v: &Json) -> &str {
    v.get("type").and_then(Json::as_str).unwrap_or("")
}

fn byte_level_with_regex(v: &Json, use_regex: bool) -> bool {
    kind(v) == "ByteLevel"
        && v.get("use_regex").and_then(Json::as_bool).unwrap_or(true) == use_regex
}

/// llama.cpp's pre-tokenizer name for a `pre_tokenizer` object, when it is one we recognise.
fn pre_tokenizer_name(pre: &Json) -> Option<&'static str> {
    if byte_level_with_regex(pre, true) {
        return Some("gpt-2");
    }
    let parts = pre.get("pretokenizers")?.as_array()?;
    match parts.as_slice() {
        [one] => pre_tokenizer_name(one),
        [digits, bl]
            if kind(digits) == "Digits"
                && digits.get("individual_digits").and_then(Json::as_bool) == Some(true)
                && byte_level_with_regex(bl, true) =>
        {
            Some("smollm")
        }
        [split, bl] if kind(split) == "Split" && byte_level_with_regex(bl, false) => {
            let regex = split.get("pattern")?.get("Regex")?.as_str()?;
            match regex {
                LLAMA3_REGEX => Some("llama-bpe"),
                QWEN2_REGEX => Some("qwen2"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What gguf-py's `does_token_look_special` says: added tokens that ought to be control tokens
/// even when the tokenizer does not mark them special.
fn looks_special(token: &str) -> bool {
    matches!(token, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (token.starts_with("<|") && token.ends_with("|>"))
        || (token.starts_with("<｜") && token.ends_with("｜>"))
        || (token.starts_with("<unused") && token.ends_with('>'))
}

/// Merges as `"a b"` strings: transformers ≥ 4.45 writes pairs, older files strings. Spaces
/// inside a pair's parts become U+0120 as gguf-py encodes them.
fn merges(model: &Json, file: &str) -> Result<Vec<String>, VocabError> {
    let Some(list) = model.get("merges").and_then(Json::as_array) else {
        return Ok(Vec::new());
    };
    let encode = |s: &str| s.replace(' ', "\u{120}");
    list.iter()
        .enumerate()
        .map(|(i, m)| match m {
            Json::String(s) => Ok(s.clone()),
            Json::Array(pair) => match pair.as_slice() {
                [Json::String(a), Json::String(b)] => Ok(format!("{} {}", encode(a), encode(b))),
                _ => Err(invalid(
                    file,
                    format!("`model.merges[{i}]` is not a pair of strings"),
                )),
            },
            _ => Err(invalid(file, format!("`model.merges[{i}]` is not a merge"))),
        })
        .collect()
}

fn invalid(file: &str, reason: String) -> VocabError {
    VocabError::Invalid {
        file: file.to_string(),
        reason,
    }
}

fn unsupported(file: &str, reason: String) -> VocabError {
    VocabError::Unsupported {
        file: file.to_string(),
        reason,
    }
}

/// Refuses what is not byte-level BPE, naming what it is.
fn check_model_kind(tok: &Json, model: &Json, file: &str) -> Result<&'static str, VocabError> {
    let model_type = kind(model);
    if model_type != "BPE" {
        let what = if model_type.is_empty() {
            "no `model.type`".to_string()
        } else {
            format!("a {model_type} model")
        };
        return Err(unsupported(file, what));
    }
    if model.get("byte_fallback").and_then(Json::as_bool) == Some(true) {
        return Err(unsupported(
            file,
            "a SentencePiece-style BPE (`byte_fallback: true`, as Llama 2 and Mistral v0.1 ship)"
                .into(),
        ));
    }
    let pre = tok.get("pre_tokenizer").unwrap_or(&Json::Null);
    if kind(pre) == "Metaspace" {
        return Err(unsupported(
            file,
            "a SentencePiece-style pre-tokenizer (Metaspace)".into(),
        ));
    }
    pre_tokenizer_name(pre).ok_or_else(|| {
        unsupported(
            file,
            format!(
                "its pre_tokenizer ({}) is none llama.cpp implements for byte-level BPE \
                 (known: ByteLevel with its regex, Digits + ByteLevel, the Llama 3 and Qwen2 splits)",
                serde_json::to_string(pre).unwrap_or_default()
            ),
        )
    })
}

/// The token string of a special-token entry (`"<s>"` or `{"content": "<s>", ...}`).
fn token_content(v: Option<&Json>) -> Option<&str> {
    match v? {
        Json::String(s) => Some(s),
        Json::Object(o) => o.get("content")?.as_str(),
        _ => None,
    }
}

/// What the tokenizer's `post_processor` says about adding BOS/EOS (gguf-py's crude reading of
/// `TemplateProcessing`: a leading special token that is the BOS, a trailing one that is the EOS).
fn post_processor_adds(
    tok: &Json,
    bos: Option<&str>,
    eos: Option<&str>,
) -> Vec<(&'static str, bool)> {
    let mut out = Vec::new();
    let Some(pp) = tok.get("post_processor").filter(|p| !p.is_null()) else {
        return out;
    };
    let list: Vec<&Json> = match pp.get("processors").and_then(Json::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![pp],
    };
    for p in list {
        if kind(p) != "TemplateProcessing" {
            continue;
        }
        let single = p
            .get("single")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        if single.len() < 2 {
            continue;
        }
        let special = |v: &Json| {
            v.get("SpecialToken")
                .and_then(|s| s.get("id"))
                .and_then(Json::as_str)
                .map(str::to_owned)
        };
        if let Some(first) = special(&single[0]) {
            out.push(("bos", Some(first.as_str()) == bos));
        }
        if let Some(last) = special(&single[single.len() - 1]) {
            out.push(("eos", Some(last.as_str()) == eos));
        }
    }
    out
}

/// Special token ids by gguf-py name, in the order they were found.
type SpecialIds = Vec<(&'static str, u32)>;
/// `add_*_token` flags by gguf-py name.
type AddFlags = Vec<(&'static str, bool)>;

/// gguf-py's special token names, the tokenizer_config.json key of each and the config.json key.
const SPECIALS: [&str; 7] = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"];

impl GgufVocab {
    /// Builds the vocabulary from `tokenizer.json` bytes, the optional `tokenizer_config.json`
    /// and `config.json` (as parsed JSON objects), padded to `vocab_size` entries (the model's
    /// embedding rows) as the converter does.
    ///
    /// # Errors
    /// [`VocabError`] naming `file`: not JSON, not byte-level BPE, an unknown pre-tokenizer,
    /// or ids beyond `vocab_size`.
    pub fn from_hf(
        tokenizer_json: &[u8],
        tokenizer_config: Option<&Map<String, Json>>,
        model_config: Option<&Map<String, Json>>,
        vocab_size: usize,
        file: &str,
    ) -> Result<Self, VocabError> {
        let tok: Json = serde_json::from_slice(tokenizer_json)
            .map_err(|e| invalid(file, format!("not valid JSON: {e}")))?;
        let model = tok
            .get("model")
            .ok_or_else(|| invalid(file, "no `model` object".into()))?;
        let pre = check_model_kind(&tok, model, file)?;
        let vocab = model
            .get("vocab")
            .and_then(Json::as_object)
            .ok_or_else(|| invalid(file, "no `model.vocab` object".into()))?;
        // id → (token, is_added, special)
        let mut by_id: Vec<Option<(String, bool, bool)>> = vec![None; vocab_size];
        let mut place = |token: &str, id: Option<u64>, added: Option<bool>| {
            let id =
                id.ok_or_else(|| invalid(file, format!("token `{token}` has no integer id")))?;
            let slot = by_id
                .get_mut(id as usize)
                .ok_or_else(|| VocabError::IdOutOfRange {
                    file: file.to_string(),
                    token: token.to_string(),
                    id,
                    vocab_size,
                })?;
            *slot = Some((token.to_string(), added.is_some(), added.unwrap_or(false)));
            Ok::<_, VocabError>(())
        };
        for (token, id) in vocab {
            place(token, id.as_u64(), None)?;
        }
        let added = tok
            .get("added_tokens")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        for a in &added {
            let content = a
                .get("content")
                .and_then(Json::as_str)
                .ok_or_else(|| invalid(file, "an added token has no `content`".into()))?;
            let special = a.get("special").and_then(Json::as_bool).unwrap_or(false);
            place(content, a.get("id").and_then(Json::as_u64), Some(special))?;
        }
        let mut tokens = Vec::with_capacity(vocab_size);
        let mut token_types = Vec::with_capacity(vocab_size);
        for (i, entry) in by_id.into_iter().enumerate() {
            match entry {
                None => {
                    tokens.push(format!("[PAD{i}]"));
                    token_types.push(token_type::UNUSED);
                }
                Some((t, true, special)) if special || looks_special(&t) => {
                    tokens.push(t);
                    token_types.push(token_type::CONTROL);
                }
                Some((t, true, _)) => {
                    // Pre-normalised user-defined spaces, as the converter writes them.
                    tokens.push(t.replace('\u{2581}', " "));
                    token_types.push(token_type::USER_DEFINED);
                }
                Some((t, false, _)) => {
                    tokens.push(t);
                    token_types.push(token_type::NORMAL);
                }
            }
        }
        let (special_ids, add_special) =
            special_tokens(&tok, &added, tokenizer_config, model_config);
        Ok(GgufVocab {
            pre: pre.to_string(),
            tokens,
            token_types,
            merges: merges(model, file)?,
            special_ids,
            add_special,
        })
    }

    /// The id of `token` when it is one entry of the vocabulary.
    pub fn id_of(&self, token: &str) -> Option<u32> {
        self.tokens
            .iter()
            .position(|t| t == token)
            .map(|i| i as u32)
    }

    /// A special id by gguf-py name (`eos`, ...).
    pub fn special(&self, name: &str) -> Option<u32> {
        self.special_ids
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| *id)
    }

    /// Whether llama.cpp will put a BOS token in front of the prompt by itself.
    pub fn adds_bos(&self) -> bool {
        self.add_special
            .iter()
            .rev()
            .find(|(n, _)| *n == "bos")
            .is_some_and(|(_, v)| *v)
    }
}

/// gguf-py's `SpecialVocab`: ids from tokenizer_config.json's `*_token` strings looked up in
/// `added_tokens`, then config.json's `*_token_id`, the first found winning; add flags from the
/// post-processor, then tokenizer_config.json's `add_*_token`.
fn special_tokens(
    tok: &Json,
    added: &[Json],
    tokenizer_config: Option<&Map<String, Json>>,
    model_config: Option<&Map<String, Json>>,
) -> (SpecialIds, AddFlags) {
    let mut ids: Vec<(&'static str, u32)> = Vec::new();
    let mut adds: Vec<(&'static str, bool)> = Vec::new();
    let tc = tokenizer_config;
    let content = |name: &str| tc.and_then(|c| token_content(c.get(&format!("{name}_token"))));
    adds.extend(post_processor_adds(tok, content("bos"), content("eos")));
    if let Some(tc) = tc {
        for name in SPECIALS {
            if let Some(flag) = tc.get(&format!("add_{name}_token")).and_then(Json::as_bool) {
                adds.retain(|(n, _)| *n != name);
                adds.push((name, flag));
            }
            let Some(text) = content(name) else { continue };
            let found = added.iter().find_map(|a| {
                (a.get("content").and_then(Json::as_str) == Some(text))
                    .then(|| a.get("id").and_then(Json::as_u64))
                    .flatten()
            });
            if let Some(id) = found {
                ids.push((name, id as u32));
            }
        }
    }
    if let Some(cfg) = model_config {
        for name in SPECIALS {
            if ids.iter().any(|(n, _)| *n == name) {
                continue;
            }
            // config.json may write one id or a list; gguf-py only takes a plain int.
            if let Some(id) = cfg.get(&format!("{name}_token_id")).and_then(Json::as_u64) {
                ids.push((name, id as u32));
            }
        }
    }
    (ids, adds)
}

/// gguf's metadata key for a special token id.
pub fn special_key(name: &str) -> String {
    let key = match name {
        "unk" => "unknown",
        "sep" => "seperator", // sic: gguf's spelling
        "pad" => "padding",
        other => other,
    };
    format!("tokenizer.ggml.{key}_token_id")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tokenizer(pre: Json, extra: Json) -> Vec<u8> {
        let mut t = json!({
            "added_tokens": [
                {"id": 0, "content": "<|endoftext|>", "special": true},
                {"id": 4, "content": "<|im_end|>", "special": false},
                {"id": 5, "content": "hello▁world", "special": false},
            ],
            "pre_tokenizer": pre,
            "model": {"type": "BPE", "vocab": {"a": 1, "b": 2, "ab": 3}, "merges": [["a", "b"]]},
        });
        if let (Some(t), Some(e)) = (t.as_object_mut(), extra.as_object()) {
            t.extend(e.clone());
        }
        serde_json::to_vec(&t).unwrap()
    }

    fn byte_level() -> Json {
        json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})
    }

    #[test]
    fn vocab_is_padded_and_typed_like_the_converter() {
        let cfg = json!({"eos_token": "<|im_end|>", "bos_token": null});
        let model = json!({"bos_token_id": 1, "eos_token_id": 2});
        let v = GgufVocab::from_hf(
            &tokenizer(byte_level(), json!({})),
            cfg.as_object(),
            model.as_object(),
            8,
            "t.json",
        )
        .unwrap();
        assert_eq!(v.pre, "gpt-2");
        assert_eq!(
            v.tokens,
            [
                "<|endoftext|>",
                "a",
                "b",
                "ab",
                "<|im_end|>",
                "hello world",
                "[PAD6]",
                "[PAD7]"
            ]
        );
        use token_type::*;
        assert_eq!(
            v.token_types,
            [
                CONTROL,
                NORMAL,
                NORMAL,
                NORMAL,
                CONTROL,
                USER_DEFINED,
                UNUSED,
                UNUSED
            ]
        );
        assert_eq!(v.merges, ["a b"]);
        // eos from tokenizer_config (looked up in added_tokens) wins over config.json's 2.
        assert_eq!(v.special("eos"), Some(4));
        assert_eq!(v.special("bos"), Some(1));
        assert_eq!(v.id_of("ab"), Some(3));
    }

    #[test]
    fn pre_tokenizers_are_recognised_by_structure() {
        let split = |re: &str| {
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})
        };
        let digits = json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level()]});
        for (pre, name) in [
            (split(LLAMA3_REGEX), "llama-bpe"),
            (split(QWEN2_REGEX), "qwen2"),
            (digits, "smollm"),
        ] {
            let v = GgufVocab::from_hf(&tokenizer(pre, json!({})), None, None, 6, "t").unwrap();
            assert_eq!(v.pre, name);
        }
        let err = GgufVocab::from_hf(&tokenizer(split("\\w+"), json!({})), None, None, 6, "t")
            .unwrap_err();
        assert!(err.to_string().contains("pre_tokenizer"), "{err}");
    }

    #[test]
    fn sentencepiece_style_and_oversized_tokenizers_are_refused() {
        let spm = tokenizer(json!({"type": "Metaspace", "replacement": "▁"}), json!({}));
        let err = GgufVocab::from_hf(&spm, None, None, 6, "t.json").unwrap_err();
        assert!(matches!(err, VocabError::Unsupported { .. }), "{err}");
        let err = GgufVocab::from_hf(&tokenizer(byte_level(), json!({})), None, None, 4, "t.json")
            .unwrap_err();
        assert!(
            matches!(
                err,
                VocabError::IdOutOfRange {
                    id: 4,
                    vocab_size: 4,
                    ..
                }
            ),
            "{err}"
        );
        let unigram = br#"{"model": {"type": "Unigram", "vocab": []}}"#;
        assert!(GgufVocab::from_hf(unigram, None, None, 6, "t").is_err());
    }

    #[test]
    fn template_processing_sets_add_bos() {
        let pp = json!({"post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}]}});
        let cfg = json!({"bos_token": "<|endoftext|>"});
        let v = GgufVocab::from_hf(&tokenizer(byte_level(), pp), cfg.as_object(), None, 6, "t")
            .unwrap();
        assert!(v.adds_bos());
        assert_eq!(v.special("bos"), Some(0));
        assert_eq!(special_key("sep"), "tokenizer.ggml.seperator_token_id");
    }
}
