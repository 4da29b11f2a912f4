//! LLaMA-Factory: `llamafactory-cli train llamafactory.yaml`.
//!
//! Keys are those of LLaMA-Factory's `hparams/{model,data,finetuning}_args.py` and
//! transformers' `TrainingArguments`. Data is `sharegpt`-formatted with OpenAI-style tags
//! (`role`/`content`), registered in `data/dataset_info.json`; preference data as `ranking`
//! rows with `chosen`/`rejected` messages, KTO rows with a `kto_tag`. LLaMA-Factory renders with
//! its own named templates only, so ajuste's template is mapped to the closest name and a
//! template without an exact counterpart is warned about (README and stderr).

use ajuste_shared::config::{AdapterKind, DpoLoss, Objective};
use ajuste_shared::record::{Message, Record, Role};
use serde_json::{Map, Value, json};

use super::common::{self, Job, message_json};
use super::trl::scheduler;
use super::{ExportError, Handoff};

/// How ajuste's template maps to a LLaMA-Factory template name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateMatch {
    /// LLaMA-Factory's template renders the same text (checked by the golden script).
    Exact(&'static str),
    /// The closest template; the rendered text differs.
    Closest(&'static str),
    /// No template fits.
    None,
}

/// The LLaMA-Factory template for ajuste's template `name` (a built-in's name).
pub fn llamafactory_template(name: &str) -> TemplateMatch {
    // Which ones are exact is what tests/golden/export.py measured with LLaMA-Factory's own
    // template code (tests/fixtures/golden/export/handoff.json).
    match name {
        "chatml" => TemplateMatch::Exact("chatml"),
        "qwen" => TemplateMatch::Exact("qwen"),
        "llama3" => TemplateMatch::Exact("llama3"),
        "llama2" => TemplateMatch::Closest("llama2"),
        "mistral" => TemplateMatch::Closest("mistral"),
        "gemma" => TemplateMatch::Exact("gemma"),
        "phi3" => TemplateMatch::Closest("phi"),
        "zephyr" => TemplateMatch::Closest("zephyr"),
        "vicuna" => TemplateMatch::Closest("vicuna"),
        "alpaca" => TemplateMatch::Closest("alpaca"),
        _ => TemplateMatch::None,
    }
}

/// Splits a leading system message off (LLaMA-Factory keeps it in its own column).
fn split_system(ms: &[Message]) -> (Option<&str>, &[Message]) {
    match ms.split_first() {
        Some((first, rest)) if first.role == Role::System => (Some(&first.content), rest),
        _ => (None, ms),
    }
}

fn row(messages: &[Message], extra: &[(&str, Value)]) -> Value {
    let (system, rest) = split_system(messages);
    let mut o = Map::new();
    o.insert(
        "messages".into(),
        Value::Array(rest.iter().map(message_json).collect()),
    );
    if let Some(s) = system {
        o.insert("system".into(), json!(s));
    }
    for (k, v) in extra {
        o.insert((*k).to_string(), v.clone());
    }
    Value::Object(o)
}

/// The one assistant message of a completion (LLaMA-Factory's ranking format holds one).
fn single(ms: &[Message], side: &str) -> Result<Value, ExportError> {
    match ms {
        [m] => Ok(message_json(m)),
        _ => Err(ExportError::Input(format!(
            "LLaMA-Factory's preference format holds one `{side}` message; a record has {}",
            ms.len()
        ))),
    }
}

fn rows(records: &[Record]) -> Result<Vec<Value>, ExportError> {
    records
        .iter()
        .map(|r| match r {
            Record::Conversation(c) => Ok(row(&c.messages, &[])),
            Record::Preference(p) => Ok(row(
                &p.prompt,
                &[
                    ("chosen", single(&p.chosen, "chosen")?),
                    ("rejected", single(&p.rejected, "rejected")?),
                ],
            )),
            Record::Feedback(f) => {
                let all: Vec<Message> = f.prompt.iter().chain(&f.completion).cloned().collect();
                Ok(row(&all, &[("kto_tag", json!(f.label))]))
            }
        })
        .collect()
}

fn dataset_info(job: &Job, file: &str) -> Value {
    let mut columns = json!({"messages": "messages", "system": "system"});
    let mut info = json!({
        "file_name": file,
        "formatting": "sharegpt",
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "observation_tag": "tool",
            "function_tag": "function_call",
            "system_tag": "system",
        },
    });
    match job.method.kind() {
        ajuste_shared::record::Kind::Preference => {
            info["ranking"] = json!(true);
            columns["chosen"] = json!("chosen");
            columns["rejected"] = json!("rejected");
        }
        ajuste_shared::record::Kind::Feedback => columns["kto_tag"] = json!("kto_tag"),
        ajuste_shared::record::Kind::Sft => {}
    }
    info["columns"] = columns;
    info
}

fn config(job: &Job, template: &str) -> Value {
    let cfg = job.cfg;
    let mut m = Map::new();
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    set("model_name_or_path", json!(job.model));
    let stage = match cfg.objective {
        Objective::Sft => "sft",
        Objective::Kto { .. } => "kto",
        _ => "dpo",
    };
    set("stage", json!(stage));
    set("do_train", json!(true));
    if job.uses_peft() {
        set("finetuning_type", json!("lora"));
        set("lora_rank", json!(cfg.adapter.r));
        set("lora_alpha", json!(cfg.adapter.lora_alpha.round() as i64));
        set("lora_dropout", json!(cfg.adapter.lora_dropout));
        let target = if job.all_linear() {
            "all".to_string()
        } else {
            job.targets().join(",")
        };
        set("lora_target", json!(target));
        set("use_rslora", json!(cfg.adapter.kind == AdapterKind::Rslora));
        set("use_dora", json!(cfg.adapter.kind == AdapterKind::Dora));
        if cfg.adapter.kind == AdapterKind::Qlora {
            set("quantization_bit", json!(4));
        }
    } else {
        set("finetuning_type", json!("full"));
    }
    match &cfg.objective {
        Objective::Sft => {}
        Objective::Dpo {
            beta,
            loss_type,
            label_smoothing,
        } => {
            set("pref_beta", json!(beta));
            let loss = match loss_type {
                DpoLoss::Sigmoid => "sigmoid",
                DpoLoss::Ipo => "ipo",
                DpoLoss::Hinge => "hinge",
            };
            set("pref_loss", json!(loss));
            set("dpo_label_smoothing", json!(label_smoothing));
        }
        Objective::Simpo { beta, gamma } => {
            set("pref_beta", json!(beta));
            set("pref_loss", json!("simpo"));
            set("simpo_gamma", json!(gamma));
        }
        Objective::Orpo { beta } => {
            set("pref_beta", json!(beta));
            set("pref_loss", json!("orpo"));
        }
        Objective::Kto {
            beta,
            desirable_weight,
            undesirable_weight,
        } => {
            set("pref_beta", json!(beta));
            set("kto_chosen_weight", json!(desirable_weight));
            set("kto_rejected_weight", json!(undesirable_weight));
        }
    }
    set("dataset_dir", json!("data"));
    set("dataset", json!("ajuste_train"));
    if !job.bundle.eval.is_empty() {
        set("eval_dataset", json!("ajuste_eval"));
    }
    set("template", json!(template));
    set("cutoff_len", json!(cfg.max_length));
    set("overwrite_cache", json!(true));
    set("output_dir", json!("output"));
    set("logging_steps", json!(cfg.logging_steps));
    if cfg.save_steps > 0 {
        set("save_steps", json!(cfg.save_steps));
    }
    set("per_device_train_batch_size", json!(cfg.batch_size));
    set(
        "gradient_accumulation_steps",
        json!(cfg.gradient_accumulation_steps),
    );
    set("learning_rate", json!(cfg.learning_rate));
    match cfg.steps {
        Some(steps) => set("max_steps", json!(steps)),
        None => set("num_train_epochs", json!(cfg.epochs)),
    }
    set("lr_scheduler_type", json!(scheduler(cfg.lr_scheduler)));
    // transformers 5 folded warmup_ratio into warmup_steps (a float below 1 is a ratio);
    // LLaMA-Factory passes it through to TrainingArguments.
    set("warmup_steps", json!(cfg.warmup_ratio));
    set("weight_decay", json!(cfg.weight_decay));
    set("max_grad_norm", json!(cfg.max_grad_norm));
    set("seed", json!(cfg.seed));
    set("gradient_checkpointing", json!(cfg.gradient_checkpointing));
    set("bf16", json!(true));
    set("report_to", json!("none"));
    Value::Object(m)
}

pub(super) fn build(job: &Job) -> Result<Handoff, ExportError> {
    let mut warnings = Vec::new();
    let name = &job.bundle.manifest.template.name;
    let template = match llamafactory_template(name) {
        TemplateMatch::Exact(t) => t,
        TemplateMatch::Closest(t) => {
            warnings.push(format!(
                "LLaMA-Factory's `{t}` template is the closest to ajuste's `{name}` but does not \
                 render the same text: the model is trained on a different format than ajuste \
                 showed; use --to trl or --to axolotl to keep the exact template"
            ));
            t
        }
        TemplateMatch::None => {
            warnings.push(format!(
                "LLaMA-Factory takes named templates only and none matches ajuste's `{name}`: \
                 `template: default` is written; set the right one in llamafactory.yaml, or use \
                 --to trl or --to axolotl to keep the exact template"
            ));
            "default"
        }
    };
    common::warn_overrides(job, "LLaMA-Factory", &mut warnings);
    if job.cfg.adapter.lora_alpha.fract() != 0.0 {
        warnings.push(format!(
            "LLaMA-Factory takes an integer lora_alpha; {} was rounded",
            job.cfg.adapter.lora_alpha
        ));
    }
    let mut info = Map::new();
    info.insert("ajuste_train".into(), dataset_info(job, "train.jsonl"));
    if !job.bundle.eval.is_empty() {
        info.insert("ajuste_eval".into(), dataset_info(job, "eval.jsonl"));
    }
    let mut info_bytes = serde_json::to_vec_pretty(&Value::Object(info)).unwrap_or_default();
    info_bytes.push(b'\n');
    let mut files = vec![
        (
            "data/train.jsonl".to_string(),
            common::jsonl(rows(&job.bundle.train)?),
        ),
        (
            "data/eval.jsonl".to_string(),
            common::jsonl(rows(&job.bundle.eval)?),
        ),
        ("data/dataset_info.json".to_string(), info_bytes),
        (
            "llamafactory.yaml".to_string(),
            common::yaml(
                "LLaMA-Factory config written by ajuste. Launch lines: README.md.",
                &config(job, template),
            ),
        ),
    ];
    common::shared_files(&mut files, job.template());
    let launch = "## Launch\n\n\
         One machine (all its GPUs):\n\n```sh\nllamafactory-cli train llamafactory.yaml\n```\n\n\
         With DeepSpeed ZeRO-2:\n\n```sh\nFORCE_TORCHRUN=1 llamafactory-cli train llamafactory.yaml \
         deepspeed=deepspeed/zero2.json\n```\n\n\
         Several machines (run on every machine, rank 0 on the first):\n\n\
         ```sh\nFORCE_TORCHRUN=1 NNODES=2 NODE_RANK=$RANK MASTER_ADDR=$MASTER_ADDR MASTER_PORT=29500 \\\n  \
         llamafactory-cli train llamafactory.yaml deepspeed=deepspeed/zero2.json\n```\n\n\
         The adapter lands in `output/`.\n";
    files.push((
        "README.md".to_string(),
        common::readme(job, "LLaMA-Factory", launch, &warnings),
    ));
    Ok(Handoff { files, warnings })
}
