//! The built-in templates, each written as a Jinja chat template.
//!
//! For models on the Hugging Face Hub the text is the model's own `chat_template`, byte for byte
//! (the golden script `tests/golden/templates.py` checks it and the rendered text against
//! transformers):
//!
//! | built-in | template of                                   | BOS                 | EOS               |
//! |----------|-----------------------------------------------|---------------------|-------------------|
//! | llama2   | meta-llama/Llama-2-7b-chat-hf                 | `<s>`               | `</s>`            |
//! | llama3   | meta-llama/Meta-Llama-3-8B-Instruct           | `<\|begin_of_text\|>` | `<\|eot_id\|>`    |
//! | chatml   | teknium/OpenHermes-2.5-Mistral-7B             | (none)              | `<\|im_end\|>`    |
//! | mistral  | mistralai/Mistral-7B-Instruct-v0.2            | `<s>`               | `</s>`            |
//! | gemma    | google/gemma-7b-it (and Gemma 2)              | `<bos>`             | `<eos>`           |
//! | phi3     | microsoft/Phi-3-mini-4k-instruct              | `<s>`               | `<\|endoftext\|>` |
//! | zephyr   | HuggingFaceH4/zephyr-7b-beta                  | `<s>`               | `</s>`            |
//! | qwen     | Qwen/Qwen2.5-0.5B-Instruct (ChatML + default system prompt) | (none) | `<\|im_end\|>` |
//!
//! Alpaca and Vicuna predate chat templates; their text is ours, written to give exactly the
//! published formats: Stanford Alpaca's prompt (`### Response:` then a newline, as in the
//! tatsu-lab/alpaca `text` column and alpaca-lora) and FastChat's `vicuna_v1.1` conversation. The
//! golden script checks them against independent Python renderings of those formats.

use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::TemplateError;
use super::jinja::ChatTemplate;

/// A built-in template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Builtin {
    Alpaca,
    Vicuna,
    Llama2,
    Llama3,
    Chatml,
    Mistral,
    Gemma,
    Phi3,
    Zephyr,
    Qwen,
}

impl Builtin {
    pub const ALL: [Builtin; 10] = [
        Builtin::Alpaca,
        Builtin::Vicuna,
        Builtin::Llama2,
        Builtin::Llama3,
        Builtin::Chatml,
        Builtin::Mistral,
        Builtin::Gemma,
        Builtin::Phi3,
        Builtin::Zephyr,
        Builtin::Qwen,
    ];

    /// The stable lowercase name (`--template chatml`).
    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::Alpaca => "alpaca",
            Builtin::Vicuna => "vicuna",
            Builtin::Llama2 => "llama2",
            Builtin::Llama3 => "llama3",
            Builtin::Chatml => "chatml",
            Builtin::Mistral => "mistral",
            Builtin::Gemma => "gemma",
            Builtin::Phi3 => "phi3",
            Builtin::Zephyr => "zephyr",
            Builtin::Qwen => "qwen",
        }
    }

    /// The Jinja text of the template.
    pub fn jinja_source(self) -> &'static str {
        match self {
            Builtin::Alpaca => include_str!("builtins/alpaca.jinja"),
            Builtin::Vicuna => include_str!("builtins/vicuna.jinja"),
            Builtin::Llama2 => include_str!("builtins/llama2.jinja"),
            Builtin::Llama3 => include_str!("builtins/llama3.jinja"),
            Builtin::Chatml => include_str!("builtins/chatml.jinja"),
            Builtin::Mistral => include_str!("builtins/mistral.jinja"),
            Builtin::Gemma => include_str!("builtins/gemma.jinja"),
            Builtin::Phi3 => include_str!("builtins/phi3.jinja"),
            Builtin::Zephyr => include_str!("builtins/zephyr.jinja"),
            Builtin::Qwen => include_str!("builtins/qwen.jinja"),
        }
    }

    /// The BOS token the template writes (empty: the model family has none).
    pub fn bos_token(self) -> &'static str {
        match self {
            Builtin::Alpaca | Builtin::Vicuna | Builtin::Llama2 | Builtin::Mistral => "<s>",
            Builtin::Phi3 | Builtin::Zephyr => "<s>",
            Builtin::Llama3 => "<|begin_of_text|>",
            Builtin::Gemma => "<bos>",
            Builtin::Chatml | Builtin::Qwen => "",
        }
    }

    /// The EOS token the template writes.
    pub fn eos_token(self) -> &'static str {
        match self {
            Builtin::Alpaca
            | Builtin::Vicuna
            | Builtin::Llama2
            | Builtin::Mistral
            | Builtin::Zephyr => "</s>",
            Builtin::Llama3 => "<|eot_id|>",
            Builtin::Chatml | Builtin::Qwen => "<|im_end|>",
            Builtin::Gemma => "<eos>",
            Builtin::Phi3 => "<|endoftext|>",
        }
    }

    /// The template as a [`ChatTemplate`], e.g. to render it with another model's special tokens.
    pub fn to_chat_template(self) -> ChatTemplate {
        let mut template =
            ChatTemplate::new(self.jinja_source(), self.bos_token(), self.eos_token());
        template.name = Some(self.as_str().to_owned());
        template
    }

    /// The shared compiled template, built on first use.
    pub(crate) fn chat_template(self) -> &'static ChatTemplate {
        static CACHE: [OnceLock<ChatTemplate>; 10] = [const { OnceLock::new() }; 10];
        CACHE[self as usize].get_or_init(|| self.to_chat_template())
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Builtin {
    type Err = TemplateError;

    /// Parses a built-in's name, ignoring case and `-`/`_`/`.` (`Llama-3`, `phi_3`, `qwen2.5` work).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let found = match key.as_str() {
            "qwen2" | "qwen25" => Some(Builtin::Qwen),
            "vicuna11" | "vicunav11" => Some(Builtin::Vicuna),
            "gemma2" => Some(Builtin::Gemma),
            _ => Builtin::ALL.into_iter().find(|b| b.as_str() == key),
        };
        found.ok_or_else(|| TemplateError::UnknownBuiltin(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for b in Builtin::ALL {
            assert_eq!(b.as_str().parse::<Builtin>().unwrap(), b);
            assert!(b.to_chat_template().check().is_ok(), "{b} does not compile");
        }
        assert_eq!("Llama-3".parse::<Builtin>().unwrap(), Builtin::Llama3);
        assert_eq!("qwen2.5".parse::<Builtin>().unwrap(), Builtin::Qwen);
        assert!(matches!(
            "gpt".parse::<Builtin>(),
            Err(TemplateError::UnknownBuiltin(_))
        ));
    }

    #[test]
    fn cache_index_matches_declaration_order() {
        for (i, b) in Builtin::ALL.into_iter().enumerate() {
            assert_eq!(b as usize, i);
        }
    }
}
