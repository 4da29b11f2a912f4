//! The messages between the studio page and the training worker (`ajuste-train-worker`).
//!
//! The studio (crate `ajuste-web`) has no burn in its graph; the training worker is its own wasm
//! module, fetched only when the Train page opens. They talk in these types, sent as JSON text
//! with files beside them: the page hands the worker the session's `.ajuste` bundle (as the
//! native `ajuste train BUNDLE` reads it) and the model's files (`File`s the user picked, or a
//! URL: the model shipped with the studio, or one the user typed); the worker sends back progress, the run's events
//! (what `events.jsonl` holds natively), generated text, and the trained adapter as a file.
//!
//! [`TrainSettings`] are the choices the page offers; [`TrainSettings::apply`] puts them over the
//! bundle's training config exactly as the CLI's flags do, and [`TrainSettings::cli_args`] writes
//! those flags, so the page can show the native command that makes the same run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{AdapterKind, Method, TrainConfig};

/// Where tensors live in the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's wgpu backend on the browser's WebGPU.
    WebGpu,
    /// burn's flex backend: pure Rust on the CPU, single-threaded in a worker.
    Cpu,
}

impl Backend {
    /// The name the CLI's `--device` takes for the same backend natively.
    pub fn device_name(self) -> &'static str {
        match self {
            Backend::WebGpu => "wgpu",
            Backend::Cpu => "cpu",
        }
    }

    /// A name for people.
    pub fn label(self) -> &'static str {
        match self {
            Backend::WebGpu => "WebGPU",
            Backend::Cpu => "CPU (flex)",
        }
    }
}

/// Where the model's files come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelSource {
    /// A model served over HTTP: the one shipped with the studio (`url` relative to the
    /// site's root) or one the user named ([`ModelSource::from_url`]). `url` is the directory,
    /// ending in `/`; each file is fetched from `url` + its name.
    Url { name: String, url: String },
    /// A Hugging Face model directory the user picked: the `File`s travel beside the message,
    /// in the order of `files` (their names, without the directory).
    Files { name: String, files: Vec<String> },
}

impl ModelSource {
    /// The model's name, as the page shows it and the adapter's config records it.
    pub fn name(&self) -> &str {
        match self {
            ModelSource::Url { name, .. } | ModelSource::Files { name, .. } => name,
        }
    }

    /// The model at a URL the user typed: a Hugging Face model page
    /// (`https://huggingface.co/OWNER/REPO`, with or without `/tree/BRANCH` or
    /// `/resolve/BRANCH`), whose files are fetched from `resolve/BRANCH/` (`main` unless the
    /// URL names one), or any http(s) directory that serves the model's files. Named after
    /// the repository or the directory's last segment.
    pub fn from_url(text: &str) -> Result<ModelSource, String> {
        let text = text.trim();
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!(
                "'{text}' is not a URL: type the address of a model directory, such as \
                 https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"
            ));
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "'{text}' is a {scheme} URL: the model is fetched over http or https"
            ));
        }
        // The query and fragment name no file of the model.
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let mut segments = rest.split('/').filter(|s| !s.is_empty());
        let Some(host) = segments.next() else {
            return Err(format!("'{text}' has no host"));
        };
        let path: Vec<&str> = segments.collect();
        if host.eq_ignore_ascii_case("huggingface.co") || host.eq_ignore_ascii_case("hf.co") {
            return hugging_face(text, &path);
        }
        // A link to one of the model's files stands for its directory.
        let mut path = path;
        if path.last().is_some_and(|file| MODEL_FILES.contains(file)) {
            path.pop();
        }
        let name = path.last().copied().unwrap_or(host).to_owned();
        let url = format!(
            "{scheme}://{}/",
            [host]
                .iter()
                .chain(&path)
                .copied()
                .collect::<Vec<_>>()
                .join("/")
        );
        Ok(ModelSource::Url { name, url })
    }
}

impl ModelSource {
    /// The Hugging Face repository and revision a [`ModelSource::Url`] from
    /// [`ModelSource::from_url`] fetches from (`("OWNER/REPO", "main")`), for the command that
    /// downloads it; `None` for any other source.
    pub fn hugging_face_repo(&self) -> Option<(String, String)> {
        let ModelSource::Url { url, .. } = self else {
            return None;
        };
        let rest = url.strip_prefix("https://huggingface.co/")?;
        let (repo, revision) = rest.trim_end_matches('/').split_once("/resolve/")?;
        Some((repo.to_owned(), revision.to_owned()))
    }
}

/// Files of a Hugging Face model directory that a link may point at.
const MODEL_FILES: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
];

/// `OWNER/REPO[/tree|resolve/BRANCH]` on huggingface.co, as the URL its files are fetched from.
fn hugging_face(text: &str, path: &[&str]) -> Result<ModelSource, String> {
    let (repo, branch) = match path {
        [owner, repo] => ((*owner, *repo), "main"),
        [owner, repo, "tree" | "resolve" | "blob", branch, ..] => ((*owner, *repo), *branch),
        _ => {
            return Err(format!(
                "'{text}' is not a Hugging Face model's page: the address is \
                 https://huggingface.co/OWNER/MODEL"
            ));
        }
    };
    Ok(ModelSource::Url {
        name: repo.1.to_owned(),
        url: format!(
            "https://huggingface.co/{}/{}/resolve/{branch}/",
            repo.0, repo.1
        ),
    })
}

/// The run's choices, on top of the bundle's training config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    pub method: Method,
    pub adapter: AdapterKind,
    /// LoRA rank.
    pub rank: usize,
    /// LoRA alpha.
    pub alpha: f64,
    pub learning_rate: f64,
    /// Optimiser steps.
    pub steps: usize,
    /// Records per micro-batch.
    pub batch_size: usize,
    /// Tokens per sequence at most (lowered to the model's context).
    pub max_length: usize,
    pub seed: u64,
}

impl TrainSettings {
    /// Methods the page offers (ORPO runs natively and from bundles, but is not offered here).
    pub const METHODS: [Method; 4] = [Method::Sft, Method::Dpo, Method::Simpo, Method::Kto];
    /// Adapters the page offers.
    pub const ADAPTERS: [AdapterKind; 3] =
        [AdapterKind::Lora, AdapterKind::Rslora, AdapterKind::Dora];

    /// Defaults for a short run of `method` in a browser tab on a small model: a higher learning
    /// rate than the native defaults (few steps, small rank), rank 8, 30 steps, batches of 4,
    /// 256 tokens.
    pub fn defaults(method: Method) -> Self {
        let learning_rate = match method {
            Method::Sft | Method::Orpo => 1e-3,
            // SimPO's margin (beta 2, gamma 1) is on length-averaged log-probs: it moves
            // with a smaller step than DPO/KTO's summed ones.
            Method::Simpo => 2e-4,
            Method::Dpo | Method::Kto => 5e-4,
        };
        TrainSettings {
            method,
            adapter: AdapterKind::Lora,
            rank: 8,
            alpha: 16.0,
            learning_rate,
            steps: 30,
            batch_size: 4,
            max_length: 256,
            seed: 42,
        }
    }

    /// Puts these settings over a bundle's config, as `ajuste train BUNDLE` does with the flags
    /// of [`TrainSettings::cli_args`]: another method takes that method's default objective
    /// first, then every flag overrides its field. `model_context` (the model's
    /// `max_position_embeddings`) caps the length.
    pub fn apply(&self, config: &mut TrainConfig, model: &str, model_context: usize) {
        if self.method != config.method() {
            config.objective = self.method.default_objective();
            config.learning_rate = self.method.default_lr();
        }
        config.adapter.kind = self.adapter;
        config.adapter.r = self.rank;
        config.adapter.lora_alpha = self.alpha;
        config.steps = Some(self.steps);
        config.learning_rate = self.learning_rate;
        config.batch_size = self.batch_size;
        config.seed = self.seed;
        config.max_length = self.max_length.min(model_context);
        config.model = Some(model.to_owned());
    }

    /// The `ajuste train` flags that make the same run natively (after the bundle and
    /// `--model DIR`); `model_context` caps `--max-len` as [`TrainSettings::apply`] does.
    pub fn cli_args(&self, backend: Backend, model_context: Option<usize>) -> Vec<String> {
        let max_length = model_context.map_or(self.max_length, |c| self.max_length.min(c));
        vec![
            "--method".into(),
            self.method.as_str().into(),
            "--adapter".into(),
            self.adapter.as_str().into(),
            "--rank".into(),
            self.rank.to_string(),
            "--alpha".into(),
            format_number(self.alpha),
            "--lr".into(),
            format_number(self.learning_rate),
            "--steps".into(),
            self.steps.to_string(),
            "--batch".into(),
            self.batch_size.to_string(),
            "--max-len".into(),
            max_length.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--device".into(),
            backend.device_name().into(),
        ]
    }

    /// Checks the page's inputs; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err("the learning rate must be a number above 0".into());
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err("alpha must be a number above 0".into());
        }
        if self.rank == 0 || self.rank > 256 {
            return Err("the rank must be between 1 and 256".into());
        }
        if self.steps == 0 || self.steps > 100_000 {
            return Err("the steps must be between 1 and 100,000".into());
        }
        if self.batch_size == 0 || self.batch_size > 256 {
            return Err("the batch size must be between 1 and 256".into());
        }
        if self.method == Method::Kto && self.batch_size < 2 {
            return Err(
                "KTO needs a batch size of at least 2 (its KL estimate pairs records of a batch)"
                    .into(),
            );
        }
        if self.max_length < 8 {
            return Err("the maximum length must be at least 8 tokens".into());
        }
        Ok(())
    }
}

/// A number as the command line would take it: `0.001`, `16`, `2e-5`.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 1e-3 {
        let s = format!("{v}");
        s.trim_end_matches('0').to_owned()
    } else {
        format!("{v:e}")
    }
}

/// What the page asks the training worker. Requests are answered in order; a long one
/// (starting a run, chatting) sends [`TrainResponse::Status`] as it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrainRequest {
    /// Which backends work here: opens WebGPU (once) and reports the adapter or why not.
    Probe,
    /// Reads a model's `config.json` (nothing else) and says whether a run of `settings` on it
    /// fits the backend.
    CheckModel {
        source: ModelSource,
        backend: Backend,
        settings: TrainSettings,
    },
    /// Loads the model, tokenizes the bundle (its bytes come beside the message, after the
    /// model's files) and starts training. Answered by [`TrainResponse::Started`], then events.
    Start {
        source: ModelSource,
        backend: Backend,
        settings: TrainSettings,
        /// The bundle's file name (for messages).
        bundle: String,
    },
    /// Stop after the current step, keeping everything; [`TrainRequest::Resume`] goes on.
    Pause,
    Resume,
    /// End the run after the current step: it evaluates and the adapter can be downloaded.
    Stop,
    /// Generates a reply to `prompt` with the base model and with the adapter, one after the
    /// other (when no step is running).
    Chat {
        prompt: String,
        chat: ChatSettings,
    },
    /// The adapter as a PEFT directory (zip), and the run's `events.jsonl`.
    Adapter,
}

/// How the chat box generates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChatSettings {
    pub max_new_tokens: usize,
    /// 0: greedy.
    pub temperature: f64,
    pub seed: u64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            max_new_tokens: 48,
            temperature: 0.0,
            seed: 42,
        }
    }
}

/// What the training worker says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrainResponse {
    /// The answer to [`TrainRequest::Probe`].
    Probed(Probe),
    /// The answer to [`TrainRequest::CheckModel`].
    Checked(ModelCheck),
    /// What a long request is doing now ("Loading the weights", ...).
    Status(String),
    /// The run is set up and about to take its first step.
    Started(Box<RunStart>),
    /// One event of the run (steps, evaluations, the summary).
    Event(RunEvent),
    /// The run waits (after [`TrainRequest::Pause`]).
    Paused { step: usize },
    /// The run goes on.
    Resumed { step: usize },
    /// The run ended: all its steps, or stopped. The adapter can be downloaded.
    Finished { step: usize, stopped: bool },
    /// Text generated so far for one side of the chat.
    Chat(ChatReply),
    /// The adapter zip comes beside the message; `events` is the run's `events.jsonl`.
    Adapter(AdapterFile),
    /// A request could not be served; `what` names it (`probe`, `model`, `start`, `run`,
    /// `chat`, `adapter`).
    Failed { what: String, message: String },
}

/// Which backends the worker can use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The WebGPU adapter, or why there is none (no `navigator.gpu`, no adapter, the device did
    /// not open).
    pub webgpu: Result<GpuInfo, String>,
}

/// The WebGPU adapter the worker opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub vendor: String,
    pub architecture: String,
    pub description: String,
    /// A software adapter (SwiftShader): WebGPU works, but every kernel runs on the CPU and
    /// flex is much faster.
    pub software: bool,
    /// The adapter's `maxStorageBufferBindingSize` (the largest tensor it can bind), bytes.
    pub max_binding_bytes: u64,
    /// The adapter's `maxBufferSize`, bytes.
    pub max_buffer_bytes: u64,
}

/// A model's shape, from its `config.json`, and whether it fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCheck {
    pub name: String,
    /// `llama`, `qwen2`, ...
    pub model_type: String,
    pub parameters: u64,
    pub layers: usize,
    pub hidden_size: usize,
    pub vocab_size: usize,
    /// `max_position_embeddings`.
    pub context: usize,
    /// Bytes of the weight files.
    pub file_bytes: u64,
    /// Memory a LoRA run needs, roughly (f32 weights, the files while loading, activations).
    pub estimated_bytes: u64,
    /// Why it cannot be trained here, if it cannot (checked before anything is loaded).
    pub problem: Option<String>,
    /// Files the directory lacks or has that matter (no tokenizer.json, ...).
    pub missing: Vec<String>,
}

/// A run, as it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStart {
    pub backend: Backend,
    pub model: String,
    pub method: Method,
    pub adapter: AdapterKind,
    pub total_steps: usize,
    pub train_examples: usize,
    pub eval_examples: usize,
    pub trainable_params: usize,
    /// Records left out (no trained token) and other warnings from tokenizing.
    pub warnings: Vec<String>,
    /// The resolved training config (what `config.json` of a native run holds).
    pub config: TrainConfig,
    /// Seconds spent loading the model and preparing the data.
    pub setup_s: f64,
}

/// One event of a run, as [`events.jsonl`] holds it natively (every value `None` where it
/// is not a finite number).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunEvent {
    Step(StepPoint),
    Eval {
        step: usize,
        /// `eval_loss`, `eval_perplexity`, `eval_rewards/accuracies`, ...
        metrics: BTreeMap<String, Option<f64>>,
    },
    Summary {
        steps: usize,
        train_loss: Option<f64>,
        final_loss: Option<f64>,
        runtime_s: Option<f64>,
        tokens_per_s: Option<f64>,
    },
}

/// One optimiser step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepPoint {
    pub step: usize,
    pub loss: Option<f64>,
    pub lr: Option<f64>,
    pub grad_norm: Option<f64>,
    pub tokens_per_s: Option<f64>,
    /// Seconds the step took.
    pub seconds: Option<f64>,
    /// The objective's metrics by TRL's names (`rewards/accuracies`, `mean_token_accuracy`...).
    pub metrics: BTreeMap<String, Option<f64>>,
}

/// Which model answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatSide {
    /// The model as loaded (adapter off).
    Base,
    /// The model with the trained adapter.
    Adapter,
}

/// Generated text of one side, so far or finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatReply {
    pub side: ChatSide,
    pub text: String,
    /// Generated tokens.
    pub tokens: usize,
    /// `Some(reason)` when the side is finished ("end of turn", "48 tokens", ...).
    pub done: Option<String>,
    pub seconds: f64,
}

/// The trained adapter, ready to download.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterFile {
    /// `<model>-<method>-<adapter>.zip`.
    pub name: String,
    pub step: usize,
    /// `adapter_config.json`, as it is in the zip.
    pub config_json: String,
    /// Bytes of `adapter_model.safetensors`.
    pub weights_bytes: usize,
    /// The run's events, one JSON object per line, as `ajuste train` writes `events.jsonl`.
    pub events_jsonl: String,
}

/// A finite value, else `None` (JSON has no NaN).
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_apply_like_the_cli_flags() {
        let mut config = TrainConfig::for_method(Method::Sft);
        let mut s = TrainSettings::defaults(Method::Dpo);
        s.batch_size = 2;
        s.max_length = 4096;
        s.apply(&mut config, "micro", 512);
        assert_eq!(config.method(), Method::Dpo);
        assert_eq!(config.learning_rate, 5e-4);
        assert_eq!(config.steps, Some(30));
        assert_eq!(config.batch_size, 2);
        assert_eq!(config.max_length, 512);
        assert_eq!(config.adapter.r, 8);
        assert_eq!(config.model.as_deref(), Some("micro"));
        // The bundle's other settings stay.
        assert_eq!(config.warmup_ratio, 0.03);
        assert!(config.check().is_ok());
    }

    #[test]
    fn cli_args_name_every_setting() {
        let s = TrainSettings::defaults(Method::Sft);
        let line = s.cli_args(Backend::Cpu, None).join(" ");
        assert_eq!(
            line,
            "--method sft --adapter lora --rank 8 --alpha 16 --lr 0.001 --steps 30 --batch 4 \
             --max-len 256 --seed 42 --device cpu"
        );
        assert!(
            s.cli_args(Backend::WebGpu, Some(128))
                .join(" ")
                .contains("--max-len 128")
        );
        assert_eq!(format_number(2e-5), "2e-5");
        assert_eq!(format_number(0.0005), "5e-4");
        assert_eq!(format_number(0.25), "0.25");
    }

    #[test]
    fn bad_settings_are_named() {
        let mut s = TrainSettings::defaults(Method::Kto);
        s.batch_size = 1;
        assert!(s.check().unwrap_err().contains("KTO"));
        s = TrainSettings::defaults(Method::Sft);
        s.learning_rate = f64::NAN;
        assert!(s.check().unwrap_err().contains("learning rate"));
    }

    #[test]
    fn model_urls_name_the_directory_files_are_fetched_from() {
        let url = |text: &str| match ModelSource::from_url(text).unwrap() {
            ModelSource::Url { name, url } => (name, url),
            other => panic!("{other:?}"),
        };
        let smol = (
            "SmolLM2-135M".to_owned(),
            "https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/".to_owned(),
        );
        for text in [
            "https://huggingface.co/HuggingFaceTB/SmolLM2-135M",
            " https://huggingface.co/HuggingFaceTB/SmolLM2-135M/ ",
            "https://huggingface.co/HuggingFaceTB/SmolLM2-135M/tree/main",
            "https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/config.json",
            "https://hf.co/HuggingFaceTB/SmolLM2-135M?library=transformers",
        ] {
            assert_eq!(url(text), smol, "{text}");
        }
        assert_eq!(
            url("https://huggingface.co/Qwen/Qwen2-0.5B/tree/v1.0").1,
            "https://huggingface.co/Qwen/Qwen2-0.5B/resolve/v1.0/"
        );
        for text in [
            "http://127.0.0.1:8080/models/micro",
            "http://127.0.0.1:8080/models/micro/",
            "http://127.0.0.1:8080/models/micro/config.json",
        ] {
            assert_eq!(
                url(text),
                (
                    "micro".to_owned(),
                    "http://127.0.0.1:8080/models/micro/".to_owned()
                ),
                "{text}"
            );
        }
        let repo = |text: &str| ModelSource::from_url(text).unwrap().hugging_face_repo();
        assert_eq!(
            repo("https://huggingface.co/Qwen/Qwen2-0.5B/tree/v1.0"),
            Some(("Qwen/Qwen2-0.5B".to_owned(), "v1.0".to_owned()))
        );
        assert_eq!(repo("http://127.0.0.1:8080/models/micro"), None);
        assert_eq!(
            url("https://example.com").1,
            "https://example.com/",
            "the site's root"
        );
        for (text, says) in [
            ("models/micro", "is not a URL"),
            ("", "is not a URL"),
            ("file:///home/me/model", "is a file URL"),
            ("https://", "has no host"),
            (
                "https://huggingface.co/HuggingFaceTB",
                "not a Hugging Face model's page",
            ),
        ] {
            let error = ModelSource::from_url(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn messages_round_trip_through_json() {
        let r = TrainResponse::Event(RunEvent::Step(StepPoint {
            step: 1,
            loss: Some(2.5),
            lr: None,
            grad_norm: Some(1.0),
            tokens_per_s: Some(10.0),
            seconds: Some(0.5),
            metrics: BTreeMap::from([("mean_token_accuracy".to_owned(), Some(0.1))]),
        }));
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<TrainResponse>(&json).unwrap(), r);
        let q = TrainRequest::Start {
            source: ModelSource::Url {
                name: "micro".into(),
                url: "models/micro/".into(),
            },
            backend: Backend::WebGpu,
            settings: TrainSettings::defaults(Method::Sft),
            bundle: "x.ajuste".into(),
        };
        let json = serde_json::to_string(&q).unwrap();
        assert_eq!(serde_json::from_str::<TrainRequest>(&json).unwrap(), q);
    }
}
