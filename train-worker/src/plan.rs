//! From the studio's bundle and the model's files to what a run trains on, exactly as
//! `ajuste train BUNDLE --model DIR` with the flags of
//! [`TrainSettings::cli_args`](ajuste_shared::train_protocol::TrainSettings::cli_args) prepares
//! it: the bundle's training config with the page's settings over it, the bundle's template, the
//! model's tokenizer, the records tokenized by the trainer's `prepare`.

use std::io::Cursor;

use ajuste_shared::bundle::{Bundle, TemplateInfo};
use ajuste_shared::config::TrainConfig;
use ajuste_shared::record::Item;
use ajuste_shared::template::{Builtin, ChatTemplate, Template};
use ajuste_shared::tokenize::TextTokenizer;
use ajuste_shared::train_protocol::TrainSettings;
use ajuste_trainer::model::ModelConfig;
use ajuste_trainer::train::data::{Example, Prepared, prepare};

/// What a run trains on.
pub struct Plan {
    /// The resolved training config.
    pub config: TrainConfig,
    /// The bundle's chat template.
    pub template: Template,
    /// The model's tokenizer.
    pub tokenizer: TextTokenizer,
    pub train: Vec<Example>,
    pub eval: Vec<Example>,
    /// What tokenizing found worth saying (records left out, truncations, template warnings).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("config", &self.config)
            .field("train", &self.train.len())
            .field("eval", &self.eval.len())
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

/// Reads the bundle and prepares its records for `model`.
///
/// # Arguments
/// - `bundle`, `bundle_name`: the `.ajuste` file's bytes and name (for messages).
/// - `model_name`, `model`, `tokenizer_json`: the model's name, `config.json` and
///   `tokenizer.json`.
/// - `settings`: the page's choices.
///
/// # Errors
/// A message for people: a bundle that cannot be read, settings that cannot work, records that
/// do not fit the method, nothing left to train on, token ids outside the model's vocabulary.
pub fn plan(
    bundle: &[u8],
    bundle_name: &str,
    model_name: &str,
    model: &ModelConfig,
    tokenizer_json: &[u8],
    settings: &TrainSettings,
) -> Result<Plan, String> {
    settings.check()?;
    let bundle = Bundle::read(Cursor::new(bundle))
        .map_err(|e| format!("the bundle {bundle_name} cannot be read: {e}"))?;
    let mut config = bundle.manifest.train.clone();
    settings.apply(&mut config, model_name, model.max_position_embeddings);
    config
        .check()
        .map_err(|e| format!("invalid training settings: {e}"))?;
    let template = bundle_template(&bundle.manifest.template)?;
    let tokenizer = TextTokenizer::from_bytes(tokenizer_json)
        .map_err(|e| format!("{model_name}/tokenizer.json cannot be used: {e}"))?;
    let mut warnings: Vec<String> = tokenizer
        .check_template(&template)
        .into_iter()
        .map(|f| f.message)
        .collect();
    let train_name = format!("{bundle_name}:train.jsonl");
    let train = prepare_split(
        &bundle.train_dataset().items,
        &train_name,
        &config,
        &template,
        &tokenizer,
        model,
        &mut warnings,
    )?;
    let eval_items = bundle.eval_dataset().items;
    let eval = if eval_items.is_empty() {
        Vec::new()
    } else {
        let eval_name = format!("{bundle_name}:eval.jsonl");
        prepare_split(
            &eval_items,
            &eval_name,
            &config,
            &template,
            &tokenizer,
            model,
            &mut warnings,
        )?
    };
    Ok(Plan {
        config,
        template,
        tokenizer,
        train,
        eval,
        warnings,
    })
}

/// Tokenizes a split as the CLI does; what was skipped or truncated becomes a warning.
fn prepare_split(
    items: &[Item],
    name: &str,
    config: &TrainConfig,
    template: &Template,
    tokenizer: &TextTokenizer,
    model: &ModelConfig,
    warnings: &mut Vec<String>,
) -> Result<Vec<Example>, String> {
    let prepared: Prepared = prepare(
        items,
        config.method(),
        template,
        tokenizer,
        config.max_length,
    )
    .map_err(|e| format!("{name}: {e}"))?;
    if let Some(message) = prepared.skipped_message(name) {
        warnings.push(message);
    }
    let truncated = prepared
        .findings
        .iter()
        .filter(|f| f.code == ajuste_shared::Code::TooLongForContext)
        .count();
    if truncated > 0 {
        warnings.push(format!(
            "{name}: {truncated} sequences are longer than {} tokens and were cut",
            config.max_length
        ));
    }
    let vocab = model.vocab_size;
    for (example, source) in prepared.examples.iter().zip(&prepared.sources) {
        if let Some(id) = example
            .sequences()
            .iter()
            .flat_map(|s| s.input_ids.iter())
            .find(|&&id| id as usize >= vocab)
        {
            return Err(format!(
                "{name}: line {}: token id {id} is outside the model's vocabulary ({vocab}); is \
                 the tokenizer the model's?",
                source.line
            ));
        }
    }
    Ok(prepared.examples)
}

/// The template a bundle was prepared with: its built-in when the text is the built-in's, else
/// the Jinja text it carries (as `ajuste train` reads it).
pub fn bundle_template(info: &TemplateInfo) -> Result<Template, String> {
    if let Ok(builtin) = info.name.parse::<Builtin>()
        && builtin.jinja_source() == info.chat_template
    {
        return Ok(Template::Builtin(builtin));
    }
    let mut t = ChatTemplate::new(&info.chat_template, &info.bos_token, &info.eos_token);
    t.name = Some(info.name.clone());
    t.check()
        .map_err(|e| format!("the bundle's `{}` template: {e}", info.name))?;
    Ok(Template::Jinja(t))
}
