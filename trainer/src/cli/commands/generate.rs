//! `ajuste generate`: a continuation of a prompt, printed as it is generated.
//!
//! The prompt is the user's message rendered with the chat template (with its generation
//! prompt), or the raw text with `--raw`. Generation stops at the model's EOS, at the template's
//! end-of-turn token, after `--max-new` tokens or at the model's context length.

use std::io::Write;

use ajuste_shared::record::Message;
use anyhow::{Context, Result, anyhow};

use super::train::{load_model, model_tokenizer, resolve_template};
use crate::adapter::AdapterSpec;
use crate::cli::ExitStatus;
use crate::cli::args::GenerateArgs;
use crate::device::device;
use crate::generate::{SamplingConfig, StopReason, generate_blocking};

pub fn run(args: &GenerateArgs) -> Result<ExitStatus> {
    let tokenizer = model_tokenizer(&args.model, args.tokenizer.as_deref())?;
    let spec = match &args.adapter {
        Some(dir) => AdapterSpec::peft(dir),
        None => AdapterSpec::none(),
    };
    let sampling = SamplingConfig {
        max_new_tokens: args.max_new,
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        seed: args.seed,
    };
    sampling.validate().map_err(|e| anyhow!("{e}"))?;
    let model = load_model(&args.model, &device(args.device)?, &spec)?;
    let mut stop: Vec<u32> = model.config.eos_token_ids.clone();
    let text = if args.raw {
        args.prompt.clone()
    } else {
        let template = resolve_template(
            args.template.as_deref(),
            args.chat_template.as_deref(),
            &args.model,
        )?;
        stop.extend(tokenizer.token_id(template.eos_token()));
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(Message::system(system.clone()));
        }
        messages.push(Message::user(args.prompt.clone()));
        template
            .render_prompt(&messages)
            .context("cannot render the prompt with the template")?
    };
    let prompt = tokenizer.encode_text(&text);
    let mut out = std::io::stdout().lock();
    let mut generated: Vec<u32> = Vec::new();
    let mut printed = 0usize;
    let mut write_error = None;
    let result = generate_blocking(&model, &prompt, &stop, &sampling, |token| {
        generated.push(token);
        // Decode everything so far and print what is new: a token may complete a character
        // that the previous ones left half-written.
        let text = tokenizer.decode(&generated);
        if text.len() > printed && text.is_char_boundary(printed) && !text.ends_with('\u{fffd}') {
            if let Err(e) = out
                .write_all(&text.as_bytes()[printed..])
                .and_then(|_| out.flush())
            {
                write_error.get_or_insert(e);
            }
            printed = text.len();
        }
    })
    .map_err(|e| anyhow!("{e}"))?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let text = tokenizer.decode(&result.tokens);
    if text.len() > printed && text.is_char_boundary(printed) {
        out.write_all(&text.as_bytes()[printed..])?;
    }
    writeln!(out)?;
    let why = match result.stop {
        StopReason::Stop(id) => format!("stop token {id}"),
        StopReason::MaxNewTokens => format!("--max-new {}", args.max_new),
        StopReason::Context => "the model's context is full".into(),
    };
    eprintln!(
        "[{} prompt tokens, {} generated; stopped at {why}]",
        prompt.len(),
        result.tokens.len()
    );
    Ok(ExitStatus::Success)
}
