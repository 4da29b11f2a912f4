//! `ajuste train`: a fine-tuning run into a run directory.
//!
//! RUN_DIR gets `config.json` (the resolved training config), `events.jsonl` (one event per
//! line: steps, evaluations, checkpoints, the summary), `checkpoints/step-N/` and, at the end,
//! `adapter/` (PEFT format) or, for a full fine-tune, `model/` (a Hugging Face directory with the
//! base's tokenizer files). A directory that already holds a run is refused unless `--resume`
//! is given, and then only for the same settings.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

use ajuste_shared::bundle::{Bundle, TemplateInfo};
use ajuste_shared::config::{AdapterKind, TrainConfig};
use ajuste_shared::load::Loaded;
use ajuste_shared::record::Item;
use ajuste_shared::template::{Builtin, ChatTemplate, Template};
use ajuste_shared::tokenize::TextTokenizer;
use ajuste_shared::{Finding, Severity};
use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::adapter::{AdapterSource, AdapterSpec};
use crate::cli::args::{InputArgs, TrainArgs};
use crate::cli::commands::{load_input, report_file_finding, template};
use crate::cli::{ExitStatus, io};
use crate::device::device;
use crate::model::{Model, ModelConfig};
use crate::train::checkpoint::{self, Checkpoint};
use crate::train::data::{DataError, Prepared, prepare};
use crate::train::events::Event;
use crate::train::{RunHooks, TrainError, Trainer, TrainerOptions, adapter_spec, pad_id};

const CONFIG_FILE: &str = "config.json";
const EVENTS_FILE: &str = "events.jsonl";
const CHECKPOINTS_DIR: &str = "checkpoints";
/// Files of a model directory that go along with its weights.
pub(super) const TOKENIZER_FILES: [&str; 6] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
    "tokenizer.model",
];

/// Where the training records come from.
struct Data {
    train: Vec<Item>,
    eval: Vec<Item>,
    /// Names for messages.
    train_name: String,
    eval_name: String,
}

pub fn run(args: &TrainArgs) -> Result<ExitStatus> {
    // The devices first: a list this machine cannot run fails before anything is read or written.
    let (kind, devices) = match &args.devices {
        Some(list) => (list.kind(), crate::device::devices(&list.0)?),
        None => (args.device, vec![device(args.device)?]),
    };
    let (config, data, template) = match resolve_inputs(args)? {
        Ok(resolved) => resolved,
        Err(status) => return Ok(status),
    };
    let model_config = read_model_config(&args.model)?;
    let tokenizer = model_tokenizer(&args.model, args.tokenizer.as_deref())?;
    let mut config = config;
    config.max_length = max_length(args.max_len, config.max_length, &model_config)?;
    config
        .check()
        .map_err(|e| anyhow!("invalid training settings: {e}"))?;
    for f in tokenizer.check_template(&template) {
        eprintln!("warning: {}", f.message);
    }
    let run_dir = RunDir::open(&args.out, &config, args.resume, &input_paths(args))?;
    let resume_from = run_dir.resume_point()?;

    let prepare_split = |items: &[Item], name: &str| -> Result<Result<Prepared, ExitStatus>> {
        prepare_examples(items, name, &config, &template, &tokenizer, &model_config)
    };
    let train = match prepare_split(&data.train, &data.train_name)? {
        Ok(p) => p,
        Err(status) => return Ok(status),
    };
    let eval = if data.eval.is_empty() {
        Prepared::default()
    } else {
        match prepare_split(&data.eval, &data.eval_name)? {
            Ok(p) => p,
            Err(status) => return Ok(status),
        }
    };

    let devices: Vec<_> = devices
        .into_iter()
        .map(|d| {
            let d = d.autodiff();
            if config.gradient_checkpointing {
                d.gradient_checkpointing()
            } else {
                d
            }
        })
        .collect();
    let dev = devices[0].clone();
    let spec = match &resume_from {
        Some(ckpt) if ckpt.state.adapter => {
            let spec = AdapterSpec::peft(ckpt.weights_dir());
            if config.adapter.kind == AdapterKind::Qlora {
                spec.with_nf4_base()
            } else {
                spec
            }
        }
        _ => adapter_spec(&config),
    };
    let weights_dir = match &resume_from {
        Some(ckpt) if !ckpt.state.adapter => ckpt.weights_dir(),
        _ => args.model.clone(),
    };
    let model = load_model(&weights_dir, &dev, &spec)?;
    // A resumed full fine-tune still compares against the base it started from.
    let reference = match (&resume_from, config.adapter.kind) {
        (Some(_), AdapterKind::None)
            if crate::objective::ObjectiveConfig::from(&config.objective).needs_reference() =>
        {
            let inference = dev.clone().without_autodiff();
            Some(load_model(&args.model, &inference, &AdapterSpec::none())?)
        }
        _ => None,
    };
    let options = TrainerOptions {
        pad_id: pad_id(&model.config),
        reference,
    };
    let mut trainer = Trainer::new(
        model,
        config.clone(),
        train.examples,
        eval.examples,
        options,
    )
    .map_err(|e| anyhow!("{e}"))?;
    // Several devices: replicas of the model on the others, gradients summed onto the first
    // (through NCCL between CUDA devices).
    trainer
        .set_devices(
            devices,
            kind == crate::device::DeviceKind::Cuda && args.devices.is_some(),
        )
        .map_err(|e| anyhow!("{e}"))?;
    if let Some(ckpt) = &resume_from {
        ckpt.resume(&mut trainer)?;
        eprintln!(
            "resuming from {} (step {} of {})",
            ckpt.dir.display(),
            ckpt.state.progress.step,
            trainer.total_steps()
        );
    }
    let start = trainer.start_event();
    eprintln!(
        "training {} with {} on {} examples ({} eval) for {} steps on {}; {} trainable values",
        config.method(),
        adapter_name(config.adapter.kind),
        start.train_examples,
        start.eval_examples,
        start.total_steps,
        match &args.devices {
            Some(list) if list.0.len() > 1 => list.to_string(),
            _ => kind.to_string(),
        },
        start.trainable_params,
    );

    let mut hooks = CliHooks::new(&run_dir, &args.model, &trainer, resume_from.as_ref())?;
    let summary = trainer.run_blocking(&mut hooks);
    hooks.finish();
    let summary = summary.map_err(|e| anyhow!("{e}"))?;
    let out = write_final(&trainer, &run_dir, &args.model)?;
    eprintln!(
        "done: {} steps, loss {:.4} (mean {:.4}), {:.0} tokens/s; {} written to {}",
        summary.steps,
        summary.final_loss,
        summary.train_loss,
        summary.tokens_per_s,
        if trainer.config().adapter.kind == AdapterKind::None {
            "model"
        } else {
            "adapter"
        },
        out.display()
    );
    if let Some(loss) = summary.eval.get("eval_loss") {
        eprintln!("eval loss {loss:.4}");
    }
    Ok(ExitStatus::Success)
}

fn adapter_name(kind: AdapterKind) -> &'static str {
    match kind {
        AdapterKind::Lora => "LoRA",
        AdapterKind::Rslora => "rsLoRA",
        AdapterKind::Dora => "DoRA",
        AdapterKind::Qlora => "QLoRA (NF4 base)",
        AdapterKind::None => "every weight (full fine-tune)",
    }
}

fn input_paths(args: &TrainArgs) -> Vec<PathBuf> {
    let mut v = vec![args.model.clone()];
    v.extend(args.bundle.clone());
    v.extend(args.data.clone());
    v.extend(args.eval_data.clone());
    v
}

/// The training config, the records and the template, from a bundle or from --data.
/// `Ok(Err(status))` is a problem with the data already reported.
#[allow(clippy::type_complexity)]
fn resolve_inputs(args: &TrainArgs) -> Result<Result<(TrainConfig, Data, Template), ExitStatus>> {
    if let Some(path) = &args.bundle {
        let file = io::open(path)?;
        let bundle = Bundle::read(std::io::BufReader::new(file))
            .with_context(|| format!("cannot read bundle `{}`", path.display()))?;
        let mut config = bundle.manifest.train.clone();
        if let Some(m) = args.method
            && m != config.method()
        {
            config.objective = m.default_objective();
            config.learning_rate = m.default_lr();
        }
        apply_overrides(&mut config, args);
        let template = bundle_template(&bundle.manifest.template)?;
        let name = path.display().to_string();
        let data = Data {
            train: bundle.train_dataset().items,
            eval: bundle.eval_dataset().items,
            train_name: format!("{name}:train.jsonl"),
            eval_name: format!("{name}:eval.jsonl"),
        };
        return Ok(Ok((config, data, template)));
    }
    let Some(data_path) = &args.data else {
        bail!("give a BUNDLE.ajuste or --data FILE");
    };
    let Some(method) = args.method else {
        bail!("--data needs --method (sft, dpo, simpo, kto or orpo)");
    };
    let template = resolve_template(
        args.template.as_deref(),
        args.chat_template.as_deref(),
        &args.model,
    )?;
    let mut config = TrainConfig::for_method(method);
    apply_overrides(&mut config, args);
    let train = match read_records(data_path, args.format)? {
        Ok(items) => items,
        Err(status) => return Ok(Err(status)),
    };
    let eval = match &args.eval_data {
        Some(p) => match read_records(p, args.format)? {
            Ok(items) => items,
            Err(status) => return Ok(Err(status)),
        },
        None => Vec::new(),
    };
    let data = Data {
        train,
        eval,
        train_name: data_path.display().to_string(),
        eval_name: args
            .eval_data
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    Ok(Ok((config, data, template)))
}

/// The valid records of a dataset file; records with errors are left out with a warning.
fn read_records(
    path: &Path,
    format: Option<ajuste_shared::formats::Format>,
) -> Result<Result<Vec<Item>, ExitStatus>> {
    let input = InputArgs {
        file: path.to_path_buf(),
        format,
        ..InputArgs::default()
    };
    let loaded: Loaded = match load_input(&input)? {
        Ok(l) => l,
        Err(finding) => return Ok(Err(report_file_finding(path, &finding))),
    };
    let dropped = loaded.report.records - loaded.report.valid;
    if dropped > 0 {
        eprintln!(
            "warning: {dropped} of {} records in `{}` have errors and are left out; \
             `ajuste data validate {}` shows each one",
            loaded.report.records,
            path.display(),
            path.display()
        );
    }
    Ok(Ok(loaded.dataset.items))
}

/// The command line's settings over the base config.
fn apply_overrides(config: &mut TrainConfig, args: &TrainArgs) {
    if let Some(kind) = args.adapter {
        config.adapter.kind = kind;
    }
    if let Some(r) = args.rank {
        config.adapter.r = r;
    }
    if let Some(a) = args.alpha {
        config.adapter.lora_alpha = a;
    }
    if let Some(p) = args.lora_dropout {
        config.adapter.lora_dropout = p;
    }
    if let Some(steps) = args.steps {
        config.steps = Some(steps);
    }
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
        config.steps = None;
    }
    if let Some(lr) = args.lr {
        config.learning_rate = lr;
    }
    if let Some(b) = args.batch {
        config.batch_size = b;
    }
    if let Some(n) = args.grad_accum {
        config.gradient_accumulation_steps = n;
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if let Some(n) = args.eval_steps {
        config.eval_steps = n;
    }
    if let Some(n) = args.save_steps {
        config.save_steps = n;
    }
    config.model = Some(args.model.display().to_string());
}

/// The template a bundle was prepared with: its built-in when the text is the built-in's,
/// else the Jinja text it carries.
fn bundle_template(info: &TemplateInfo) -> Result<Template> {
    if let Ok(builtin) = info.name.parse::<Builtin>()
        && builtin.jinja_source() == info.chat_template
    {
        return Ok(Template::Builtin(builtin));
    }
    let mut t = ChatTemplate::new(&info.chat_template, &info.bos_token, &info.eos_token);
    t.name = Some(info.name.clone());
    t.check()
        .with_context(|| format!("the bundle's `{}` template", info.name))?;
    Ok(Template::Jinja(t))
}

/// The template named by the flags, else the model directory's chat template.
pub(super) fn resolve_template(
    name: Option<&str>,
    chat_template: Option<&Path>,
    model_dir: &Path,
) -> Result<Template> {
    match (name, chat_template) {
        (Some(n), _) => template::builtin(n),
        (None, Some(p)) => template::from_hf(p),
        (None, None) => {
            if !model_dir.join("tokenizer_config.json").is_file() {
                bail!(
                    "`{}` has no tokenizer_config.json with a chat template: give --template NAME \
                     or --chat-template FILE",
                    model_dir.display()
                );
            }
            template::from_hf(model_dir).context(
                "the model directory's chat template cannot be used: give --template NAME or --chat-template FILE",
            )
        }
    }
}

/// The tokenizer of `--tokenizer`, else the model directory's `tokenizer.json`.
pub(super) fn model_tokenizer(model_dir: &Path, path: Option<&Path>) -> Result<TextTokenizer> {
    match path {
        Some(p) => template::tokenizer(p),
        None => {
            if !model_dir.join("tokenizer.json").is_file() {
                bail!(
                    "`{}` has no tokenizer.json: give --tokenizer FILE",
                    model_dir.display()
                );
            }
            template::tokenizer(model_dir)
        }
    }
}

/// The model directory's `config.json`.
pub(super) fn read_model_config(dir: &Path) -> Result<ModelConfig> {
    let path = dir.join("config.json");
    let bytes = io::read(&path)?;
    Ok(ModelConfig::from_json(&bytes, &path.display().to_string())?)
}

/// Loads a model with adapters, the error naming the directory and the adapters read from disk.
pub(super) fn load_model(
    dir: &Path,
    device: &burn::tensor::Device,
    spec: &AdapterSpec,
) -> Result<Model> {
    Model::load(dir, device, spec).with_context(|| {
        let adapters: Vec<String> = spec
            .adapters
            .iter()
            .filter_map(|a| match &a.source {
                AdapterSource::Peft(path) => Some(format!("`{}`", path.display())),
                AdapterSource::New { .. } => None,
            })
            .collect();
        let with = match adapters.len() {
            0 => String::new(),
            1 => format!(" with the adapter {}", adapters[0]),
            _ => format!(" with the adapters {}", adapters.join(", ")),
        };
        format!("cannot load the model in `{}`{with}", dir.display())
    })
}

/// The maximum sequence length: `--max-len` (refused above the model's context), else the
/// config's, lowered to the context if it is longer.
fn max_length(flag: Option<usize>, configured: usize, model: &ModelConfig) -> Result<usize> {
    let context = model.max_position_embeddings;
    match flag {
        Some(n) if n > context => bail!(
            "--max-len {n} is longer than the model's context ({context} tokens, \
             max_position_embeddings in config.json)"
        ),
        Some(n) => Ok(n),
        None => Ok(configured.min(context)),
    }
}

/// Tokenizes a split; reports what was skipped and truncated. `Ok(Err(1))` for data that
/// cannot be trained on (reported), `Err` for a method that does not fit the data.
fn prepare_examples(
    items: &[Item],
    name: &str,
    config: &TrainConfig,
    template: &Template,
    tokenizer: &TextTokenizer,
    model: &ModelConfig,
) -> Result<Result<Prepared, ExitStatus>> {
    let prepared = match prepare(
        items,
        config.method(),
        template,
        tokenizer,
        config.max_length,
    ) {
        Ok(p) => p,
        Err(e @ DataError::KindMismatch { .. }) => bail!("{name}: {e}"),
        Err(e) => {
            eprintln!("error: {name}: {e}");
            return Ok(Err(ExitStatus::Failure));
        }
    };
    report_findings(name, &prepared.findings);
    if let Some(msg) = prepared.skipped_message(name) {
        eprintln!("warning: {msg}");
    }
    let vocab = model.vocab_size;
    for (example, source) in prepared.examples.iter().zip(&prepared.sources) {
        if let Some(id) = example
            .sequences()
            .iter()
            .flat_map(|s| s.input_ids.iter())
            .find(|&&id| id as usize >= vocab)
        {
            bail!(
                "{name}: line {}: token id {id} is outside the model's vocabulary ({vocab}); \
                 is the tokenizer the model's?",
                source.line
            );
        }
    }
    Ok(Ok(prepared))
}

/// Prints rendering/tokenizing findings: each error, and a count per code for the rest.
fn report_findings(name: &str, findings: &[Finding]) {
    let mut counts: Vec<(ajuste_shared::Code, usize, &Finding)> = Vec::new();
    // Records without trained tokens are listed by `skipped_message`.
    for f in findings
        .iter()
        .filter(|f| f.code != ajuste_shared::Code::NoTrainedTokens)
    {
        if f.severity == Severity::Error {
            eprintln!("{}", f.display_with(name));
            continue;
        }
        match counts.iter_mut().find(|(c, _, _)| *c == f.code) {
            Some(entry) => entry.1 += 1,
            None => counts.push((f.code, 1, f)),
        }
    }
    for (code, n, first) in counts {
        let at = first
            .line
            .map(|l| format!(", the first at line {l}"))
            .unwrap_or_default();
        eprintln!(
            "{}: {name}: {n} record(s) with `{}`{at}: {}",
            first.severity,
            code.as_str(),
            first.message
        );
    }
}

/// The run directory and what it holds.
struct RunDir {
    dir: PathBuf,
    resume: bool,
}

impl RunDir {
    /// Creates RUN_DIR for a new run, or checks that it holds this run when resuming.
    fn open(dir: &Path, config: &TrainConfig, resume: bool, inputs: &[PathBuf]) -> Result<RunDir> {
        let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
        io::create_dir(dir, &inputs)?;
        let config_path = dir.join(CONFIG_FILE);
        let holds_run = config_path.exists() || dir.join(EVENTS_FILE).exists();
        if holds_run && !resume {
            bail!(
                "`{}` already holds a training run: pass --resume to continue it, or choose another --out",
                dir.display()
            );
        }
        if holds_run {
            let stored: TrainConfig = serde_json::from_slice(&io::read(&config_path)?)
                .with_context(|| format!("`{}` is not a training config", config_path.display()))?;
            let differences = config_differences(&stored, config);
            if !differences.is_empty() {
                bail!(
                    "`{}` holds a different run: {} (resuming needs the same settings)",
                    dir.display(),
                    differences.join(", ")
                );
            }
        }
        let json = serde_json::to_vec_pretty(config)?;
        io::write_atomic(&config_path, &inputs, |w| Ok(w.write_all(&json)?))?;
        Ok(RunDir {
            dir: dir.to_path_buf(),
            resume,
        })
    }

    fn checkpoints(&self) -> PathBuf {
        self.dir.join(CHECKPOINTS_DIR)
    }

    /// The checkpoint to resume from, when resuming and there is one.
    fn resume_point(&self) -> Result<Option<Checkpoint>> {
        if !self.resume {
            return Ok(None);
        }
        match checkpoint::latest(&self.checkpoints()) {
            Some(dir) => Ok(Some(Checkpoint::read(&dir)?)),
            None => {
                eprintln!(
                    "no checkpoint in `{}`: starting from step 0",
                    self.checkpoints().display()
                );
                Ok(None)
            }
        }
    }
}

/// `field: stored -> new` for every top-level key of the two configs that differs.
fn config_differences(stored: &TrainConfig, new: &TrainConfig) -> Vec<String> {
    let (a, b) = (
        serde_json::to_value(stored).unwrap_or_default(),
        serde_json::to_value(new).unwrap_or_default(),
    );
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["the configs cannot be compared".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&serde_json::Value>| v.map_or("(none)".into(), |v| v.to_string());
            format!("`{k}` was {} and is now {}", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

/// Writes events to `events.jsonl`, shows progress, saves checkpoints.
struct CliHooks {
    events: File,
    checkpoints: PathBuf,
    base_model: String,
    bar: Option<ProgressBar>,
    logging_steps: usize,
    total: usize,
}

impl CliHooks {
    fn new(
        run: &RunDir,
        model_dir: &Path,
        trainer: &Trainer,
        resumed: Option<&Checkpoint>,
    ) -> Result<CliHooks> {
        let path = run.dir.join(EVENTS_FILE);
        let kept = match resumed {
            Some(c) => kept_events(&path, c.state.progress.step)?,
            None => Vec::new(),
        };
        let mut events =
            File::create(&path).with_context(|| format!("cannot write `{}`", path.display()))?;
        for line in kept {
            writeln!(events, "{line}")?;
        }
        let total = trainer.total_steps();
        let bar = progress_visible().then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>8} [{bar:30}] {pos}/{len} steps, {elapsed} elapsed, ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_position(trainer.progress().step as u64);
            bar.set_message("training");
            bar
        });
        Ok(CliHooks {
            events,
            checkpoints: run.checkpoints(),
            base_model: model_dir.display().to_string(),
            bar,
            logging_steps: trainer.config().logging_steps.max(1),
            total,
        })
    }

    fn say(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The lines of an earlier `events.jsonl` up to `step` (what a resumed run keeps), without its
/// summary.
fn kept_events(path: &Path, step: usize) -> Result<Vec<String>> {
    let Ok(file) = File::open(path) else {
        return Ok(Vec::new());
    };
    let mut kept = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        match serde_json::from_str::<Event>(&line) {
            Ok(Event::Summary(_)) => {}
            Ok(e) if e.step() <= step => kept.push(line),
            _ => {}
        }
    }
    Ok(kept)
}

fn progress_visible() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("AJUSTE_NO_PROGRESS").is_none()
}

impl RunHooks for CliHooks {
    fn event(&mut self, _trainer: &Trainer, event: &Event) -> Result<(), TrainError> {
        let io_err = |source| TrainError::Io {
            path: EVENTS_FILE.into(),
            source,
        };
        let logged = match event {
            Event::Step(s) => s.step % self.logging_steps == 0 || s.step == self.total,
            _ => true,
        };
        if logged {
            let line = serde_json::to_string(event).unwrap_or_default();
            writeln!(self.events, "{line}").map_err(io_err)?;
            self.events.flush().map_err(io_err)?;
        }
        match event {
            Event::Step(s) => match &self.bar {
                Some(bar) => {
                    bar.set_position(s.step as u64);
                    bar.set_message(format!("loss {:.4}, {:.0} tok/s", s.loss, s.tokens_per_s));
                }
                None if logged => eprintln!(
                    "step {}/{}: loss {:.4}, lr {:.3e}, grad norm {:.3}, {:.0} tokens/s",
                    s.step, self.total, s.loss, s.lr, s.grad_norm, s.tokens_per_s
                ),
                None => {}
            },
            Event::Eval(e) => {
                let metrics: Vec<String> = e
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.4}"))
                    .collect();
                self.say(format!("eval at step {}: {}", e.step, metrics.join(", ")));
            }
            Event::Checkpoint(c) => self.say(format!("checkpoint {}", c.path)),
            Event::Start(_) | Event::Summary(_) => {}
        }
        Ok(())
    }

    fn save(&mut self, trainer: &Trainer) -> Result<Option<String>, TrainError> {
        let step = trainer.progress().step;
        let dir = checkpoint::step_dir(&self.checkpoints, step);
        checkpoint::save(trainer, &dir, &self.base_model)?;
        Ok(Some(format!("{CHECKPOINTS_DIR}/step-{step}")))
    }
}

/// Writes the trained adapter (PEFT) or model to RUN_DIR and returns where.
fn write_final(trainer: &Trainer, run: &RunDir, model_dir: &Path) -> Result<PathBuf> {
    let base = model_dir.display().to_string();
    if trainer.config().adapter.kind == AdapterKind::None {
        let out = run.dir.join("model");
        trainer.model().save(&out)?;
        copy_tokenizer_files(model_dir, &out)?;
        Ok(out)
    } else {
        let out = run.dir.join("adapter");
        crate::adapter::peft::save_adapter(trainer.model(), "default", &out, &base)?;
        Ok(out)
    }
}

/// Copies the tokenizer and generation files of `from` that exist into `to`.
pub(super) fn copy_tokenizer_files(from: &Path, to: &Path) -> Result<()> {
    for name in TOKENIZER_FILES {
        let src = from.join(name);
        if src.is_file() {
            let bytes = io::read(&src)?;
            io::write_atomic(&to.join(name), &[&src], |w| Ok(w.write_all(&bytes)?))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_differences_name_the_fields() {
        let a = TrainConfig::for_method(ajuste_shared::config::Method::Sft);
        let mut b = a.clone();
        assert!(config_differences(&a, &b).is_empty());
        b.learning_rate = 1.0;
        b.steps = Some(3);
        let d = config_differences(&a, &b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].starts_with("`learning_rate` was 0.0002 and is now 1.0"),
            "{d:?}"
        );
        assert!(d[1].contains("`steps` was null and is now 3"), "{d:?}");
    }
}
