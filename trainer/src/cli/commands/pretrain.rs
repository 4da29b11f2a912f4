//! `ajuste pretrain`: a small Llama and its tokenizer, trained from scratch on a text corpus.
//!
//! Every setting and the corpus are checked before anything is written: a bad flag, a missing
//! or non-UTF-8 file, an empty corpus exit 2 with the output directory untouched. Then the
//! directory is created, `events.jsonl` is written as the run goes (one JSON line per logged
//! step and evaluation, as `ajuste train` writes it), and at the end the model files are
//! written, each atomically: `config.json`, `model.safetensors` (f32), `tokenizer.json`,
//! `tokenizer_config.json` (ChatML `chat_template`, BOS/EOS/PAD), `special_tokens_map.json`,
//! `generation_config.json` and `pretrain.json` (the settings, corpus and result).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use ajuste_shared::tokenize::TextTokenizer;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;

use crate::cli::args::PretrainArgs;
use crate::cli::{ExitStatus, io};
use crate::device::device;
use crate::pretrain::tokenizer::{
    self, MIN_VOCAB, generation_config, special_ids, special_tokens_map, tokenizer_config,
};
use crate::pretrain::{
    Geometry, RunSettings, documents, init_model, pack, parameter_count, split_eval, train_config,
};
use crate::train::events::Event;
use crate::train::{RunHooks, TrainError, Trainer, TrainerOptions};

const EVENTS_FILE: &str = "events.jsonl";

/// One corpus file and what it held.
struct CorpusFile {
    path: PathBuf,
    text: String,
}

pub fn run(args: &PretrainArgs) -> Result<ExitStatus> {
    let geometry = Geometry {
        hidden: args.hidden,
        layers: args.layers,
        heads: args.heads,
        kv_heads: args.kv_heads,
        intermediate: args.intermediate,
        max_len: args.max_len,
    };
    geometry.check().map_err(|e| anyhow!(e))?;
    let settings = RunSettings {
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        warmup_ratio: args.warmup,
        weight_decay: args.weight_decay,
        seed: args.seed,
    };
    check_settings(args)?;
    // A backend this build lacks is refused before any work.
    let dev = device(args.device)?;

    let files = read_corpus(&args.corpus)?;
    let inputs: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    io::ensure_not_input(&args.output, &inputs)?;
    if args.output.exists() && !args.output.is_dir() {
        bail!("`{}` exists and is not a directory", args.output.display());
    }
    let docs: Vec<&str> = files.iter().flat_map(|f| documents(&f.text)).collect();
    if docs.is_empty() {
        bail!("the corpus has no text (every file is empty or only `<|endoftext|>` markers)");
    }
    let bytes: usize = files.iter().map(|f| f.text.len()).sum();
    eprintln!(
        "corpus: {} file(s), {} documents, {bytes} bytes",
        files.len(),
        docs.len()
    );

    let tok = tokenizer::train_bpe(&docs, args.vocab)?;
    let ids = special_ids(&tok)?;
    let vocab = tok.get_vocab_size(true);
    if vocab < args.vocab {
        eprintln!(
            "warning: the corpus gives only {vocab} tokens (no pair left that occurs twice), fewer than --vocab {}",
            args.vocab
        );
    }
    let tokenizer_json = tok
        .to_string(true)
        .map_err(|e| anyhow!("cannot write the tokenizer: {e}"))?;
    let text_tokenizer = TextTokenizer::from_bytes(tokenizer_json.as_bytes())?;
    let doc_ids: Vec<Vec<u32>> = docs.iter().map(|d| text_tokenizer.encode_text(d)).collect();
    let tokens: usize = doc_ids.iter().map(|d| d.len() + 1).sum();
    let sequences = pack(&doc_ids, ids.end_of_text, args.max_len);
    let (train, eval) = split_eval(sequences, args.eval_fraction);
    let (n_train, n_eval) = (train.len(), eval.len());
    eprintln!(
        "tokenizer: {vocab} tokens; the corpus is {tokens} tokens, packed into {n_train} training \
         and {n_eval} held-out sequences of up to {} tokens",
        args.max_len
    );

    let config = geometry.model_config(vocab, ids)?;
    let params = parameter_count(&config);
    eprintln!(
        "model: Llama, hidden {}, {} layers, {}/{} heads, MLP {}, vocab {vocab}, context {}: \
         {params} parameters ({:.1} MB in f32)",
        args.hidden,
        args.layers,
        args.heads,
        args.kv_heads,
        args.intermediate,
        args.max_len,
        (params * 4) as f64 / 1e6
    );
    let train_dev = dev.autodiff();
    let model = init_model(config, args.seed, &train_dev)?;
    let mut run_config = train_config(&settings, args.max_len, args.eval_steps);
    run_config.logging_steps = args.logging_steps.max(1);
    run_config.model = Some("(random initialisation)".into());
    let options = TrainerOptions {
        pad_id: ids.pad,
        reference: None,
    };
    let mut trainer =
        Trainer::new(model, run_config, train, eval, options).map_err(|e| anyhow!("{e}"))?;

    io::create_dir(&args.output, &inputs)?;
    let events_path = args.output.join(EVENTS_FILE);
    let events = File::create(&events_path)
        .with_context(|| format!("cannot write `{}`", events_path.display()))?;
    eprintln!(
        "pretraining for {} steps of {} sequences on {}",
        args.steps, args.batch, args.device
    );
    let mut hooks = Hooks {
        events,
        logging_steps: args.logging_steps.max(1),
        total: trainer.total_steps(),
    };
    let summary = trainer
        .run_blocking(&mut hooks)
        .map_err(|e| anyhow!("{e}"))?;

    let out = &args.output;
    trainer
        .model()
        .save(out)
        .with_context(|| format!("cannot write the model to `{}`", out.display()))?;
    let write_json = |name: &str, value: &serde_json::Value| -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value)?;
        io::write_atomic(&out.join(name), &inputs, |w| Ok(w.write_all(&bytes)?))
    };
    io::write_atomic(&out.join("tokenizer.json"), &inputs, |w| {
        Ok(w.write_all(tokenizer_json.as_bytes())?)
    })?;
    write_json("tokenizer_config.json", &tokenizer_config(args.max_len))?;
    write_json("special_tokens_map.json", &special_tokens_map())?;
    write_json("generation_config.json", &generation_config(ids))?;
    let corpus: Vec<serde_json::Value> = files
        .iter()
        .map(|f| json!({"file": f.path.display().to_string(), "bytes": f.text.len()}))
        .collect();
    write_json(
        "pretrain.json",
        &json!({
            "geometry": geometry,
            "settings": settings,
            "vocab_size": vocab,
            "parameters": params,
            "corpus": corpus,
            "documents": docs.len(),
            "tokens": tokens,
            "train_sequences": n_train,
            "eval_sequences": n_eval,
            "final_loss": summary.final_loss,
            "train_loss": summary.train_loss,
            "eval_loss": summary.eval.get("eval_loss"),
            "runtime_s": summary.runtime_s,
            "device": args.device.name(),
        }),
    )?;
    let eval = summary
        .eval
        .get("eval_loss")
        .map(|l| format!(", held-out loss {l:.4}"))
        .unwrap_or_default();
    eprintln!(
        "done: {} steps in {:.0} s, loss {:.4}{eval}; model written to {}",
        summary.steps,
        summary.runtime_s,
        summary.final_loss,
        out.display()
    );
    Ok(ExitStatus::Success)
}

/// The training settings' ranges; each message names the flag.
fn check_settings(args: &PretrainArgs) -> Result<()> {
    if args.vocab < MIN_VOCAB {
        bail!(
            "--vocab {} is too small: a byte-level BPE needs the 256 bytes and 4 special tokens (at least {MIN_VOCAB})",
            args.vocab
        );
    }
    if args.vocab > u32::MAX as usize {
        bail!("--vocab {} is too large", args.vocab);
    }
    if args.steps == 0 {
        bail!("--steps must be at least 1");
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        bail!("--lr must be a positive number (got {})", args.lr);
    }
    if !(0.0..1.0).contains(&args.warmup) {
        bail!("--warmup must be in [0, 1) (got {})", args.warmup);
    }
    if !(args.weight_decay.is_finite() && args.weight_decay >= 0.0) {
        bail!(
            "--weight-decay must be 0 or more (got {})",
            args.weight_decay
        );
    }
    if !(0.0..1.0).contains(&args.eval_fraction) {
        bail!(
            "--eval-fraction must be in [0, 1) (got {})",
            args.eval_fraction
        );
    }
    Ok(())
}

/// The corpus files: each file given, and the `.txt` files under each directory given, in path
/// order; every one read as UTF-8.
fn read_corpus(paths: &[PathBuf]) -> Result<Vec<CorpusFile>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk_txt(path, &mut found)?;
            if found.is_empty() {
                bail!(
                    "the corpus directory `{}` holds no .txt file",
                    path.display()
                );
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|path| {
            let bytes = io::read(&path)?;
            let text = String::from_utf8(bytes).map_err(|e| {
                anyhow!(
                    "`{}` is not UTF-8 text (invalid byte at offset {})",
                    path.display(),
                    e.utf8_error().valid_up_to()
                )
            })?;
            Ok(CorpusFile { path, text })
        })
        .collect()
}

/// Collects the `.txt` files under `dir` (hidden entries skipped).
fn walk_txt(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read `{}`", dir.display()))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk_txt(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("txt"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Writes logged events to `events.jsonl` and prints progress on stderr.
struct Hooks {
    events: File,
    logging_steps: usize,
    total: usize,
}

impl RunHooks for Hooks {
    fn event(&mut self, _trainer: &Trainer, event: &Event) -> Result<(), TrainError> {
        let logged = match event {
            Event::Step(s) => s.step % self.logging_steps == 0 || s.step == self.total,
            _ => true,
        };
        if !logged {
            return Ok(());
        }
        let io_err = |source| TrainError::Io {
            path: EVENTS_FILE.into(),
            source,
        };
        let line = serde_json::to_string(event).unwrap_or_default();
        writeln!(self.events, "{line}").map_err(io_err)?;
        self.events.flush().map_err(io_err)?;
        match event {
            Event::Step(s) => eprintln!(
                "step {}/{}: loss {:.4}, lr {:.3e}, grad norm {:.3}, {:.0} tokens/s, {:.0} s",
                s.step, self.total, s.loss, s.lr, s.grad_norm, s.tokens_per_s, s.elapsed_s
            ),
            Event::Eval(e) => {
                if let Some(loss) = e.metrics.get("eval_loss") {
                    eprintln!("eval at step {}: held-out loss {loss:.4}", e.step);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
