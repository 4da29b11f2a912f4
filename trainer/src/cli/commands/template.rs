//! Resolving the template and tokenizer that the flags name.

use std::path::Path;

use ajuste_shared::template::{Builtin, ChatTemplate, Template};
use ajuste_shared::tokenize::TextTokenizer;
use anyhow::{Context, Result, anyhow};

use crate::cli::args::TemplateArgs;
use crate::cli::io;

/// The template named by `--template NAME` or `--chat-template PATH`.
pub fn resolve(args: &TemplateArgs) -> Result<Template> {
    match (&args.template, &args.chat_template) {
        (Some(name), _) => builtin(name),
        (None, Some(path)) => from_hf(path),
        (None, None) => Err(anyhow!(
            "give --template NAME or --chat-template tokenizer_config.json"
        )),
    }
}

pub fn builtin(name: &str) -> Result<Template> {
    let builtin: Builtin = name.parse().map_err(|e| anyhow!("{e}"))?;
    Ok(Template::Builtin(builtin))
}

/// A Hugging Face chat template from a tokenizer_config.json, or from a model directory holding
/// one (with `chat_template.jinja` beside it, as transformers 5 writes them).
pub fn from_hf(path: &Path) -> Result<Template> {
    let (config, dir) = if path.is_dir() {
        (path.join("tokenizer_config.json"), path.to_path_buf())
    } else {
        (
            path.to_path_buf(),
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        )
    };
    let json = io::read(&config)?;
    let jinja_path = dir.join("chat_template.jinja");
    let jinja = if jinja_path.is_file() {
        Some(
            String::from_utf8(io::read(&jinja_path)?)
                .with_context(|| format!("`{}` is not UTF-8 text", jinja_path.display()))?,
        )
    } else {
        None
    };
    let template = ChatTemplate::from_tokenizer_config(&json, jinja.as_deref())
        .with_context(|| format!("cannot use the chat template of `{}`", config.display()))?;
    Ok(Template::Jinja(template))
}

/// A tokenizer.json (or a model directory holding one).
pub fn tokenizer(path: &Path) -> Result<TextTokenizer> {
    let file = if path.is_dir() {
        path.join("tokenizer.json")
    } else {
        path.to_path_buf()
    };
    let bytes = io::read(&file)?;
    TextTokenizer::from_bytes(&bytes)
        .with_context(|| format!("cannot load tokenizer `{}`", file.display()))
}
