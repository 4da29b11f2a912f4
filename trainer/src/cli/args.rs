//! Command-line arguments. The doc comments are the `--help` text.

use std::path::PathBuf;

use ajuste_shared::formats::{FieldMap, Format};
use ajuste_shared::load::LoadOptions;
use clap::{Args, Parser, Subcommand};

/// ajuste: from a raw fine-tuning dataset to a trained adapter.
///
/// `ajuste data ...` inspects, validates, cleans, deduplicates, splits and renders datasets;
/// `ajuste bundle ...` packs prepared data with its template and training config into one file.
#[derive(Debug, Parser)]
#[command(
    name = "ajuste",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect, validate, clean, deduplicate, split and render datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Create and inspect `.ajuste` bundles (prepared data + template + training config).
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Measure throughput next to the reference tools (never part of the tests).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Export for other tools: `export gguf` (llama.cpp/Ollama), or `export --to
    /// trl|axolotl|llamafactory BUNDLE -o DIR` (a cluster job for that engine).
    Export(ExportArgs),
    /// Fine-tune a model: LoRA, rsLoRA, DoRA, QLoRA or all weights, with SFT, DPO, SimPO, KTO or
    /// ORPO, on a bundle or a dataset. Writes RUN_DIR/{events.jsonl, config.json, adapter/,
    /// checkpoints/}.
    Train(TrainArgs),
    /// Per-record loss of a model (with an adapter, optionally) on a dataset: mean cross-entropy
    /// over the trained tokens, their count and summed log-probability.
    Score(ScoreArgs),
    /// Generate text from a prompt (greedy, or sampled with temperature, top-k, top-p).
    Generate(GenerateArgs),
    /// Merge an adapter into its base model and write a Hugging Face model directory.
    Merge(MergeArgs),
    /// Pretrain a small Llama from scratch: a byte-level BPE tokenizer trained on the corpus,
    /// seeded random weights, causal language modelling on packed sequences. Writes a Hugging
    /// Face model directory (config.json, model.safetensors, tokenizer.json,
    /// tokenizer_config.json with the ChatML template, generation_config.json) and events.jsonl.
    Pretrain(PretrainArgs),
}

/// `ajuste export`: a GGUF file, or a bundle handed to another trainer.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub command: Option<ExportCommand>,
    /// The engine to hand the bundle to: trl, axolotl or llamafactory.
    #[arg(long, value_name = "TARGET", required = true)]
    pub to: Option<String>,
    /// The `.ajuste` bundle to hand off.
    #[arg(value_name = "BUNDLE.ajuste", required = true)]
    pub bundle: Option<PathBuf>,
    /// The base model (Hugging Face id or directory); the bundle's `train.model` by default.
    #[arg(long, value_name = "HF_ID_OR_DIR")]
    pub model: Option<String>,
    /// Output directory (created; files in it are replaced atomically).
    #[arg(long, short = 'o', value_name = "DIR", required = true)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Merged weights as a GGUF v3 file for llama.cpp and Ollama (llama, mistral, qwen2), with
    /// the tokenizer and the exact chat template; `--ollama DIR` adds a Modelfile.
    Gguf(ExportGgufArgs),
}

#[derive(Debug, Args)]
pub struct ExportGgufArgs {
    /// The Hugging Face model directory (config.json + safetensors).
    #[arg(long, value_name = "HF_DIR")]
    pub model: PathBuf,
    /// A PEFT adapter directory to merge into the weights.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// The directory holding tokenizer.json (and tokenizer_config.json); the model's by default.
    #[arg(long, value_name = "DIR")]
    pub tokenizer: Option<PathBuf>,
    /// Storage type of the matrices: f16, q8_0 or f32 (vectors are always f32).
    #[arg(long = "type", value_name = "TYPE", default_value = "f16")]
    pub ty: String,
    /// The built-in template the model was trained with (alpaca, vicuna, llama2, llama3, chatml,
    /// mistral, gemma, phi3, zephyr, qwen); by default the tokenizer directory's chat_template.
    #[arg(long, short = 't', value_name = "NAME")]
    pub template: Option<String>,
    /// A Hugging Face tokenizer_config.json (or directory) whose chat_template the model was
    /// trained with.
    #[arg(
        long,
        value_name = "tokenizer_config.json",
        conflicts_with = "template"
    )]
    pub chat_template: Option<PathBuf>,
    /// Take the chat template from this bundle (the one its data was prepared with).
    #[arg(long, value_name = "BUNDLE.ajuste", conflicts_with_all = ["template", "chat_template"])]
    pub bundle: Option<PathBuf>,
    /// Output GGUF file.
    #[arg(long, short = 'o', value_name = "OUT.gguf")]
    pub output: PathBuf,
    /// Also write an Ollama Modelfile (FROM the GGUF file) into this directory.
    #[arg(long, value_name = "DIR")]
    pub ollama: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Parse+validate, exact and near dedup on generated conversations with planted duplicates;
    /// near-duplicate precision/recall; datasketch side by side when Python has it.
    Data(BenchDataArgs),
    /// Training tokens/s and peak memory of LoRA SFT (batch 8 x 128 tokens) on a tiny and a
    /// SmolLM2-135M-shaped model, on the CPU; PyTorch+PEFT side by side when Python has them.
    Train(BenchTrainArgs),
}

#[derive(Debug, Args)]
pub struct BenchDataArgs {
    /// Conversations to generate.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// The Python to run datasketch with.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Write the generated ShareGPT records (JSONL) to FILE and stop, without timing anything
    /// (input for `ajuste data dedup` and the Ray driver's test and benchmark).
    #[arg(long, value_name = "FILE")]
    pub write: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Show a dataset's container, format, kind, record count and first record.
    Inspect(InspectArgs),
    /// Check every record; print each finding with its line and field. Exit 1 if any is an error.
    Validate(ValidateArgs),
    /// Convert a dataset to another format (sharegpt, openai, alpaca, dpo, hh, kto).
    Convert(ConvertArgs),
    /// Apply cleaning steps (normalisation, HTML stripping, turn repair, filters, PII redaction).
    Clean(CleanCommandArgs),
    /// Remove exact (and with --near, near) duplicates; report the clusters.
    Dedup(DedupCommandArgs),
    /// Cap the records of each KTO label or topic (after dedup), so that none dominates.
    Balance(BalanceCommandArgs),
    /// Split into train and eval parts with a seed.
    Split(SplitArgs),
    /// Render records with a chat template, showing which tokens are trained.
    Render(RenderArgs),
    /// Print statistics: records, turns, roles, languages, length histograms.
    Stats(StatsArgs),
    /// Explain a finding code (what it checks, why it matters, an example).
    Explain(ExplainArgs),
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Prepare a dataset (clean, dedup, balance, split) and pack it with its template and training config.
    Create(Box<BundleCreateArgs>),
    /// Show a bundle's manifest and check its contents against the recorded hashes.
    Inspect(BundleInspectArgs),
}

/// The dataset to read.
#[derive(Debug, Default, Args)]
pub struct InputArgs {
    /// The dataset: JSON, JSONL, CSV/TSV or Parquet, optionally gzip-compressed.
    pub file: PathBuf,
    /// The dataset format; detected from the records when absent.
    #[arg(long, short = 'f')]
    pub format: Option<Format>,
    /// Rename record fields (CSV columns) to a format's names before reading, as
    /// FROM=TO[,FROM=TO...]: a question/answer CSV is Alpaca with --map
    /// question=instruction,answer=output.
    #[arg(long = "map", value_name = "FROM=TO,...", value_parser = pairs)]
    pub map: Vec<Pairs>,
    /// Rename turn roles (an OpenAI `role`, a ShareGPT `from`) before reading, as
    /// FROM=TO[,FROM=TO...]: --role customer=user,agent=assistant.
    #[arg(long = "role", value_name = "FROM=TO,...", value_parser = pairs)]
    pub role: Vec<Pairs>,
}

/// `FROM=TO` pairs of one --map or --role.
#[derive(Debug, Clone, Default)]
pub struct Pairs(pub Vec<(String, String)>);

fn pairs(text: &str) -> Result<Pairs, String> {
    FieldMap::parse_pairs(text).map(Pairs)
}

impl InputArgs {
    /// How to load the file: --format, --map and --role.
    ///
    /// # Errors
    /// A map that renames a name twice, or two names to one.
    pub fn load_options(&self) -> anyhow::Result<LoadOptions> {
        let flat = |all: &[Pairs]| all.iter().flat_map(|p| p.0.iter().cloned()).collect();
        let fields = FieldMap::new(flat(&self.map), flat(&self.role))
            .map_err(|e| anyhow::anyhow!("--map/--role: {e}"))?;
        Ok(LoadOptions {
            format: self.format,
            fields,
        })
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "OUT.json")]
    pub report: Option<PathBuf>,
    /// Print the JSON report on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The target format.
    #[arg(long)]
    pub to: Format,
    /// Output file; `.json` writes a JSON array, anything else JSONL; `.gz` compresses.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
}

/// Cleaning steps; each flag turns one on. Without flags, the safe steps run
/// (NFKC, whitespace, zero-width characters).
#[derive(Debug, Args, Default, Clone)]
pub struct CleanArgs {
    /// Unicode NFKC normalisation.
    #[arg(long)]
    pub nfkc: bool,
    /// Trim and collapse whitespace, normalise newlines, strip control characters.
    #[arg(long)]
    pub whitespace: bool,
    /// Remove zero-width characters and soft hyphens.
    #[arg(long)]
    pub zero_width: bool,
    /// Turn HTML into text (code blocks kept).
    #[arg(long)]
    pub strip_html: bool,
    /// Merge consecutive same-role turns, drop empty turns and dangling first/last turns.
    #[arg(long)]
    pub repair_turns: bool,
    /// Drop records whose assistant turns contain refusal/boilerplate phrases.
    #[arg(long)]
    pub drop_refusals: bool,
    /// A refusal phrase (repeatable); replaces the built-in list.
    #[arg(long, value_name = "PHRASE", requires = "drop_refusals")]
    pub refusal_phrase: Vec<String>,
    /// Replace emails, phones, IPs, card numbers and IBANs with placeholders.
    #[arg(long)]
    pub redact_pii: bool,
    /// Keep only records in these languages (ISO 639-3, comma-separated: eng,por).
    #[arg(long, value_delimiter = ',', value_name = "LANGS")]
    pub language: Vec<String>,
    /// Drop records with fewer characters.
    #[arg(long, value_name = "N")]
    pub min_chars: Option<usize>,
    /// Drop records with more characters.
    #[arg(long, value_name = "N")]
    pub max_chars: Option<usize>,
    /// Drop records whose answers loop (Gopher repetition rules).
    #[arg(long)]
    pub drop_repetitive: bool,
}

#[derive(Debug, Args)]
pub struct CleanCommandArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output file (same format as the input).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    #[command(flatten)]
    pub clean: CleanArgs,
    /// Write a JSON report of what each step changed and dropped.
    #[arg(long, value_name = "OUT.json")]
    pub report: Option<PathBuf>,
}

/// Deduplication parameters.
#[derive(Debug, Args, Clone)]
pub struct DedupArgs {
    /// Also remove near duplicates (MinHash + LSH over word n-grams).
    #[arg(long)]
    pub near: bool,
    /// Jaccard similarity above which two records are near duplicates.
    #[arg(long, default_value_t = 0.8, value_name = "T")]
    pub threshold: f64,
    /// Words per shingle.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub ngram: usize,
    /// MinHash permutations.
    #[arg(long, default_value_t = 112, value_name = "N")]
    pub permutations: usize,
    /// LSH bands (permutations must be a multiple).
    #[arg(long, default_value_t = 14, value_name = "N")]
    pub bands: usize,
    /// Seed of the MinHash permutations.
    #[arg(
        id = "dedup_seed",
        long = "dedup-seed",
        default_value_t = 1,
        value_name = "N"
    )]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct DedupCommandArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output file with the kept records (same format as the input).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    #[command(flatten)]
    pub dedup: DedupArgs,
    /// Write the clusters as a JSON report.
    #[arg(long, value_name = "OUT.json")]
    pub report: Option<PathBuf>,
    /// An eval file to check for leakage against this (training) file.
    #[arg(long, value_name = "FILE")]
    pub eval: Option<PathBuf>,
}

/// Balancing parameters: which records form a group, and the caps.
#[derive(Debug, Args, Clone)]
pub struct BalanceArgs {
    /// What makes a group: auto (the KTO label, else a topic/category/task/source field),
    /// label, or the name of a top-level field of the records.
    #[arg(long = "balance-by", alias = "by", value_name = "auto|label|FIELD")]
    pub by: Option<String>,
    /// Each group keeps at most N records.
    #[arg(long, value_name = "N")]
    pub max_per_group: Option<usize>,
    /// Each group keeps at most X times the records of the smallest group (1: equal groups).
    #[arg(long, value_name = "X")]
    pub max_ratio: Option<f64>,
    /// Seed of the draw that picks which records a capped group keeps.
    #[arg(
        id = "balance_seed",
        long = "balance-seed",
        default_value_t = ajuste_shared::balance::DEFAULT_BALANCE_SEED,
        value_name = "N"
    )]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct BalanceCommandArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output file with the kept records (same format as the input).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    #[command(flatten)]
    pub balance: BalanceArgs,
    /// Write the groups and every record left out as a JSON report.
    #[arg(long, value_name = "OUT.json")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SplitArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Fraction of records that go to eval.
    #[arg(long, value_name = "X")]
    pub eval_fraction: f64,
    /// Seed of the shuffle.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory; gets train.<ext> and eval.<ext>.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: PathBuf,
}

/// Which chat template renders records.
#[derive(Debug, Args, Clone)]
#[group(required = true, multiple = false)]
pub struct TemplateArgs {
    /// A built-in template: alpaca, vicuna, llama2, llama3, chatml, mistral, gemma, phi3, zephyr, qwen.
    #[arg(long, short = 't', value_name = "NAME")]
    pub template: Option<String>,
    /// A Hugging Face tokenizer_config.json (or model directory) whose chat_template to use.
    #[arg(long, value_name = "tokenizer_config.json")]
    pub chat_template: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub template: TemplateArgs,
    /// A tokenizer.json: also print token ids and labels (-100 = not trained).
    #[arg(long, value_name = "tokenizer.json")]
    pub tokenizer: Option<PathBuf>,
    /// Truncate to this many tokens (needs --tokenizer) and warn where a response is cut.
    #[arg(long, value_name = "N", requires = "tokenizer")]
    pub max_len: Option<usize>,
    /// Print one JSON object per record: {"record", "text", "input_ids", "labels"}.
    #[arg(long)]
    pub json: bool,
    /// Render only the first N records.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// A tokenizer.json for token-length statistics (with --template or --chat-template).
    #[arg(long, value_name = "tokenizer.json")]
    pub tokenizer: Option<PathBuf>,
    /// Template used to render records for token counts (default: chatml).
    #[arg(long, value_name = "NAME")]
    pub template: Option<String>,
    /// A tokenizer_config.json whose chat_template renders records for token counts.
    #[arg(
        long,
        value_name = "tokenizer_config.json",
        conflicts_with = "template"
    )]
    pub chat_template: Option<PathBuf>,
    /// Count records longer than this many tokens.
    #[arg(long, value_name = "N")]
    pub max_len: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finding code, e.g. `unknown-role`; without one, lists all codes.
    pub code: Option<String>,
}

#[derive(Debug, Args)]
pub struct BundleCreateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub template: TemplateArgs,
    /// A tokenizer.json: token statistics and its hash go in the manifest.
    #[arg(long, value_name = "tokenizer.json")]
    pub tokenizer: Option<PathBuf>,
    #[command(flatten)]
    pub clean: CleanArgs,
    /// Skip deduplication (exact dedup runs by default).
    #[arg(long, conflicts_with = "near")]
    pub no_dedup: bool,
    #[command(flatten)]
    pub dedup: DedupArgs,
    #[command(flatten)]
    pub balance: BalanceArgs,
    /// Fraction of records held out for evaluation.
    #[arg(long, default_value_t = 0.05, value_name = "X")]
    pub eval_fraction: f64,
    /// Seed of the split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Training method; defaults to the one the data's kind calls for (sft, dpo, kto).
    #[arg(long)]
    pub method: Option<ajuste_shared::config::Method>,
    /// The base model (a Hugging Face id or directory), recorded in the manifest.
    #[arg(long)]
    pub model: Option<String>,
    /// Output bundle file.
    #[arg(long, short = 'o', value_name = "OUT.ajuste")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct BundleInspectArgs {
    /// The `.ajuste` bundle.
    pub file: PathBuf,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ajuste train`: where the data comes from, the model, and the settings that override the
/// bundle's (or the method's default) training config.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["bundle", "data"])))]
pub struct TrainArgs {
    /// A `.ajuste` bundle: prepared data, chat template and training config.
    #[arg(value_name = "BUNDLE.ajuste")]
    pub bundle: Option<PathBuf>,
    /// A dataset to train on instead of a bundle (JSON, JSONL, CSV/TSV, Parquet; needs --method).
    #[arg(long, value_name = "FILE", requires = "method")]
    pub data: Option<PathBuf>,
    /// An eval dataset for --data: evaluated before training, every --eval-steps and at the end.
    #[arg(long, value_name = "FILE", requires = "data")]
    pub eval_data: Option<PathBuf>,
    /// The format of --data and --eval-data; detected from the records when absent.
    #[arg(long, short = 'f', requires = "data")]
    pub format: Option<Format>,
    /// Training method: sft, dpo, simpo, kto or orpo (a bundle carries its own).
    #[arg(long)]
    pub method: Option<ajuste_shared::config::Method>,
    /// A built-in template (alpaca, vicuna, llama2, llama3, chatml, mistral, gemma, phi3, zephyr,
    /// qwen); without it, the model directory's chat template.
    #[arg(long, short = 't', value_name = "NAME", conflicts_with = "bundle")]
    pub template: Option<String>,
    /// A tokenizer_config.json (or directory) whose chat_template to use.
    #[arg(long, value_name = "tokenizer_config.json", conflicts_with_all = ["bundle", "template"])]
    pub chat_template: Option<PathBuf>,
    /// The tokenizer.json (or a directory holding one); the model directory's by default.
    #[arg(long, value_name = "tokenizer.json")]
    pub tokenizer: Option<PathBuf>,
    /// The base model: a Hugging Face directory (config.json and safetensors).
    #[arg(long, value_name = "HF_DIR")]
    pub model: PathBuf,
    /// What to train: lora, rslora, dora, qlora (LoRA on a 4-bit NF4 base) or none (every weight).
    #[arg(long)]
    pub adapter: Option<ajuste_shared::config::AdapterKind>,
    /// LoRA rank r.
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// LoRA alpha (the update is scaled by alpha/r, or alpha/sqrt(r) for rslora).
    #[arg(long, value_name = "A")]
    pub alpha: Option<f64>,
    /// Dropout on the LoRA input (default 0.05; 0 makes --devices runs equal one device's).
    #[arg(long, value_name = "P")]
    pub lora_dropout: Option<f64>,
    /// Optimiser steps to take (instead of --epochs).
    #[arg(long, value_name = "N", conflicts_with = "epochs")]
    pub steps: Option<usize>,
    /// Passes over the training data (default 1).
    #[arg(long, value_name = "E")]
    pub epochs: Option<f64>,
    /// Peak learning rate (default 2e-4 for sft/orpo, 5e-5 for dpo/simpo/kto).
    #[arg(long, value_name = "X")]
    pub lr: Option<f64>,
    /// Records per micro-batch (default 4; KTO needs 2 or more).
    #[arg(long, value_name = "B")]
    pub batch: Option<usize>,
    /// Micro-batches per optimiser step.
    #[arg(long, value_name = "N")]
    pub grad_accum: Option<usize>,
    /// Cut sequences to this many tokens (default: the config's, at most the model's context).
    #[arg(long, value_name = "N")]
    pub max_len: Option<usize>,
    /// Seed of the adapter initialisation, the shuffling and dropout.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Evaluate every N steps (and at the end).
    #[arg(long, value_name = "N")]
    pub eval_steps: Option<usize>,
    /// Save a checkpoint every N steps (and at the end).
    #[arg(long, value_name = "N")]
    pub save_steps: Option<usize>,
    /// Where to compute: cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: crate::device::DeviceKind,
    /// Several devices of one kind (cuda:0,cuda:1 or wgpu:0,wgpu:1; cpu:0,cpu:1 are replicas on
    /// the CPU): each micro-batch is split across them, the loss stays one device's.
    #[arg(long, value_name = "KIND:N,...", conflicts_with = "device")]
    pub devices: Option<crate::device::DeviceList>,
    /// The run directory (created); refused if it holds another run, unless --resume.
    #[arg(long, short = 'o', value_name = "RUN_DIR")]
    pub out: PathBuf,
    /// Continue the run in RUN_DIR from its latest checkpoint (same settings required).
    #[arg(long)]
    pub resume: bool,
}

/// `ajuste score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The base model: a Hugging Face directory.
    #[arg(long, value_name = "HF_DIR")]
    pub model: PathBuf,
    /// A PEFT adapter directory to apply.
    #[arg(long, value_name = "ADAPTER_DIR")]
    pub adapter: Option<PathBuf>,
    /// The dataset to score.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The dataset format; detected from the records when absent.
    #[arg(long, short = 'f')]
    pub format: Option<Format>,
    #[command(flatten)]
    pub template: TemplateArgs,
    /// The tokenizer.json (or a directory holding one); the model directory's by default.
    #[arg(long, value_name = "tokenizer.json")]
    pub tokenizer: Option<PathBuf>,
    /// Cut records to this many tokens first (as `ajuste data render --max-len`).
    #[arg(long, value_name = "N")]
    pub max_len: Option<usize>,
    /// Records per forward pass.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub batch: usize,
    /// Where to compute: cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: crate::device::DeviceKind,
    /// Print one JSON object per record: {"record", "loss", "tokens", "logprob"} (preference
    /// records: {"record", "chosen": {...}, "rejected": {...}}).
    #[arg(long)]
    pub json: bool,
}

/// `ajuste generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The base model: a Hugging Face directory.
    #[arg(long, value_name = "HF_DIR")]
    pub model: PathBuf,
    /// A PEFT adapter directory to apply.
    #[arg(long, value_name = "ADAPTER_DIR")]
    pub adapter: Option<PathBuf>,
    /// The user's message (rendered with the chat template), or the raw text with --raw.
    #[arg(long, value_name = "TEXT")]
    pub prompt: String,
    /// A system message before the prompt.
    #[arg(long, value_name = "TEXT", conflicts_with = "raw")]
    pub system: Option<String>,
    /// A built-in template; without it, the model directory's chat template.
    #[arg(long, short = 't', value_name = "NAME")]
    pub template: Option<String>,
    /// A tokenizer_config.json (or directory) whose chat_template to use.
    #[arg(
        long,
        value_name = "tokenizer_config.json",
        conflicts_with = "template"
    )]
    pub chat_template: Option<PathBuf>,
    /// Continue the prompt text as it is, without a chat template.
    #[arg(long, conflicts_with_all = ["template", "chat_template"])]
    pub raw: bool,
    /// The tokenizer.json (or a directory holding one); the model directory's by default.
    #[arg(long, value_name = "tokenizer.json")]
    pub tokenizer: Option<PathBuf>,
    /// New tokens at most.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub max_new: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, value_name = "T", default_value_t = 0.0)]
    pub temperature: f64,
    /// Sample among the K most likely tokens only (0: all).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub top_k: usize,
    /// Sample among the most likely tokens whose probabilities add up to P.
    #[arg(long, value_name = "P", default_value_t = 1.0)]
    pub top_p: f64,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where to compute: cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: crate::device::DeviceKind,
}

/// `ajuste merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The base model: a Hugging Face directory.
    #[arg(long, value_name = "HF_DIR")]
    pub model: PathBuf,
    /// The PEFT adapter directory to merge in.
    #[arg(long, value_name = "ADAPTER_DIR")]
    pub adapter: PathBuf,
    /// The output directory: config.json, model.safetensors and the base's tokenizer files.
    #[arg(long, short = 'o', value_name = "OUT_DIR")]
    pub output: PathBuf,
}

/// `ajuste pretrain`.
#[derive(Debug, Args)]
pub struct PretrainArgs {
    /// UTF-8 text files, or directories whose `.txt` files are read (recursively, in path
    /// order). `<|endoftext|>` separates documents; ChatML markers in the text are single tokens.
    #[arg(long, value_name = "FILE_OR_DIR", required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    /// Tokenizer vocabulary (byte-level BPE; at least 260: the 256 bytes and 4 special tokens).
    #[arg(long, value_name = "N", default_value_t = 2048)]
    pub vocab: usize,
    /// Width of the residual stream.
    #[arg(long, value_name = "H", default_value_t = 192)]
    pub hidden: usize,
    /// Decoder layers.
    #[arg(long, value_name = "L", default_value_t = 4)]
    pub layers: usize,
    /// Query heads (divides --hidden).
    #[arg(long, value_name = "A", default_value_t = 6)]
    pub heads: usize,
    /// Key/value heads (divides --heads; fewer than --heads is grouped-query attention).
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub kv_heads: usize,
    /// Width of the SwiGLU MLP.
    #[arg(long, value_name = "I", default_value_t = 512)]
    pub intermediate: usize,
    /// Tokens per packed training sequence; also the model's context length.
    #[arg(long, value_name = "T", default_value_t = 128)]
    pub max_len: usize,
    /// Optimiser steps.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub steps: usize,
    /// Sequences per step.
    #[arg(long, value_name = "B", default_value_t = 16)]
    pub batch: usize,
    /// Peak learning rate (warm-up, then cosine decay to 0).
    #[arg(long, value_name = "X", default_value_t = 2e-3)]
    pub lr: f64,
    /// Share of the steps spent warming the learning rate up.
    #[arg(long, value_name = "X", default_value_t = 0.05)]
    pub warmup: f64,
    /// AdamW weight decay (norms are not decayed).
    #[arg(long, value_name = "X", default_value_t = 0.1)]
    pub weight_decay: f64,
    /// Seed of the weights and of the order of the sequences.
    #[arg(long, value_name = "S", default_value_t = 42)]
    pub seed: u64,
    /// Share of the packed sequences held out for the eval loss (the last ones).
    #[arg(long, value_name = "X", default_value_t = 0.02)]
    pub eval_fraction: f64,
    /// Evaluate every N steps (0: before the first step and at the end only).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub eval_steps: usize,
    /// Print and log a step every N steps.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub logging_steps: usize,
    /// Where to compute: cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: crate::device::DeviceKind,
    /// The model directory (created; its files are replaced atomically).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: PathBuf,
}

/// `ajuste bench train`.
#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Timed steps per model (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// The Python to run PyTorch+PEFT with.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Only the tiny model (skip the SmolLM2-135M shape).
    #[arg(long)]
    pub tiny_only: bool,
    /// Where ajuste trains: cpu, wgpu or cuda. Off the CPU, PyTorch runs on CUDA when it has
    /// it (else on the CPU) and the replica rows are left out.
    #[arg(long, default_value = "cpu")]
    pub device: crate::device::DeviceKind,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
