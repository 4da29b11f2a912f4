//! TRL: `trl sft|dpo|kto --config trl.yaml`, launched through accelerate.
//!
//! Keys are those of TRL's `ScriptArguments`/`DatasetMixtureConfig`, `ModelConfig` and the
//! trainer's config (`SFTConfig`, `DPOConfig`, `KTOConfig`, over transformers'
//! `TrainingArguments`), as `TrlParser` reads them. Data: SFT rows `{"messages"}`, preference
//! rows `{"prompt", "chosen", "rejected"}`, KTO rows `{"prompt", "completion", "label"}`, all
//! conversational. TRL's CLI has no SimPO or ORPO command (its CPO/ORPO trainers are
//! experimental), so those methods are refused.

use ajuste_shared::config::{AdapterKind, DpoLoss, Objective, Schedule};
use ajuste_shared::record::Record;
use serde_json::{Map, Value, json};

use super::common::{self, Job, messages_json};
use super::{ExportError, Handoff, method_name};

fn rows(records: &[Record]) -> Vec<Value> {
    records
        .iter()
        .map(|r| match r {
            Record::Conversation(c) => json!({"messages": messages_json(&c.messages)}),
            Record::Preference(p) => json!({
                "prompt": messages_json(&p.prompt),
                "chosen": messages_json(&p.chosen),
                "rejected": messages_json(&p.rejected),
            }),
            Record::Feedback(f) => json!({
                "prompt": messages_json(&f.prompt),
                "completion": messages_json(&f.completion),
                "label": f.label,
            }),
        })
        .collect()
}

/// LoRA alpha as the integer `ModelConfig.lora_alpha` is declared as.
pub(super) fn integer_alpha(job: &Job, target: &str) -> Result<i64, ExportError> {
    let a = job.cfg.adapter.lora_alpha;
    if a.fract() != 0.0 {
        return Err(ExportError::Input(format!(
            "{target} takes an integer lora_alpha; the bundle has {a}"
        )));
    }
    Ok(a as i64)
}

pub(super) fn scheduler(s: Schedule) -> &'static str {
    match s {
        Schedule::Cosine => "cosine",
        Schedule::Linear => "linear",
        Schedule::Constant => "constant",
    }
}

fn config(job: &Job) -> Result<(Value, &'static str), ExportError> {
    let cfg = job.cfg;
    let mut m = Map::new();
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    set("model_name_or_path", json!(job.model));
    set(
        "datasets",
        json!([{"path": "json", "data_files": "data/train.jsonl", "split": "train"}]),
    );
    set("chat_template_path", json!("chat_template.jinja"));
    set("max_length", json!(cfg.max_length));
    if job.uses_peft() {
        set("use_peft", json!(true));
        set("lora_r", json!(cfg.adapter.r));
        set("lora_alpha", json!(integer_alpha(job, "TRL")?));
        set("lora_dropout", json!(cfg.adapter.lora_dropout));
        // PEFT reads the string "all-linear", not a list holding it.
        let targets = if job.all_linear() {
            json!("all-linear")
        } else {
            json!(job.targets())
        };
        set("lora_target_modules", targets);
        set("use_rslora", json!(cfg.adapter.kind == AdapterKind::Rslora));
        set("use_dora", json!(cfg.adapter.kind == AdapterKind::Dora));
        if cfg.adapter.kind == AdapterKind::Qlora {
            set("load_in_4bit", json!(true));
            set("bnb_4bit_quant_type", json!("nf4"));
            set("use_bnb_nested_quant", json!(true));
        }
    }
    let command = match &cfg.objective {
        Objective::Sft => {
            set("assistant_only_loss", json!(true));
            let eos = &job.bundle.manifest.template.eos_token;
            if !eos.is_empty() {
                set("eos_token", json!(eos));
            }
            "sft"
        }
        Objective::Dpo {
            beta,
            loss_type,
            label_smoothing,
        } => {
            set("beta", json!(beta));
            let loss = match loss_type {
                DpoLoss::Sigmoid => "sigmoid",
                DpoLoss::Ipo => "ipo",
                DpoLoss::Hinge => "hinge",
            };
            set("loss_type", json!([loss]));
            set("label_smoothing", json!(label_smoothing));
            "dpo"
        }
        Objective::Kto {
            beta,
            desirable_weight,
            undesirable_weight,
        } => {
            set("beta", json!(beta));
            set("desirable_weight", json!(desirable_weight));
            set("undesirable_weight", json!(undesirable_weight));
            "kto"
        }
        Objective::Simpo { .. } | Objective::Orpo { .. } => {
            return Err(ExportError::Input(format!(
                "TRL's command line has no `{}` trainer (CPO/ORPO are experimental in TRL); \
                 use --to axolotl or --to llamafactory",
                method_name(job.method)
            )));
        }
    };
    set("learning_rate", json!(cfg.learning_rate));
    set("per_device_train_batch_size", json!(cfg.batch_size));
    set(
        "gradient_accumulation_steps",
        json!(cfg.gradient_accumulation_steps),
    );
    match cfg.steps {
        Some(steps) => set("max_steps", json!(steps)),
        None => set("num_train_epochs", json!(cfg.epochs)),
    }
    set("lr_scheduler_type", json!(scheduler(cfg.lr_scheduler)));
    // transformers 5 folded warmup_ratio into warmup_steps (a float below 1 is a ratio).
    set("warmup_steps", json!(cfg.warmup_ratio));
    set("weight_decay", json!(cfg.weight_decay));
    set("max_grad_norm", json!(cfg.max_grad_norm));
    set("seed", json!(cfg.seed));
    set("logging_steps", json!(cfg.logging_steps));
    if cfg.save_steps > 0 {
        set("save_steps", json!(cfg.save_steps));
    }
    set("gradient_checkpointing", json!(cfg.gradient_checkpointing));
    set("bf16", json!(true));
    set("eval_strategy", json!("no"));
    set("output_dir", json!("output"));
    set("report_to", json!("none"));
    Ok((Value::Object(m), command))
}

pub(super) fn build(job: &Job) -> Result<Handoff, ExportError> {
    let (cfg, command) = config(job)?;
    let mut warnings = Vec::new();
    common::warn_overrides(job, "TRL", &mut warnings);
    if !job.bundle.eval.is_empty() {
        warnings.push(
            "TRL's `datasets` list loads one training mixture: data/eval.jsonl is written but \
             not evaluated on (eval_strategy: no)"
                .into(),
        );
    }
    let mut files = vec![
        (
            "data/train.jsonl".to_string(),
            common::jsonl(rows(&job.bundle.train)),
        ),
        (
            "data/eval.jsonl".to_string(),
            common::jsonl(rows(&job.bundle.eval)),
        ),
        (
            "trl.yaml".to_string(),
            common::yaml(
                &format!("TRL `{command}` config written by ajuste. Launch lines: README.md."),
                &cfg,
            ),
        ),
    ];
    common::shared_files(&mut files, job.template());
    let launch = format!(
        "## Launch\n\n\
         One GPU:\n\n```sh\ntrl {command} --config trl.yaml\n```\n\n\
         One machine, several GPUs (edit `num_processes` in accelerate/multi_gpu.yaml):\n\n\
         ```sh\ntrl {command} --config trl.yaml --accelerate_config accelerate/multi_gpu.yaml\n```\n\n\
         Several machines (DeepSpeed ZeRO-2; run on every machine, rank 0 on the first):\n\n\
         ```sh\ntrl {command} --config trl.yaml --accelerate_config accelerate/multi_node.yaml \\\n  \
         --num_machines 2 --num_processes 16 --machine_rank $RANK --main_process_ip $MASTER_ADDR --main_process_port 29500\n```\n\n\
         Other ready-made accelerate configs of TRL: `--accelerate_config zero1|zero2|zero3|fsdp2`.\n\
         The adapter lands in `output/`.\n"
    );
    files.push((
        "README.md".to_string(),
        common::readme(job, "TRL", &launch, &warnings),
    ));
    Ok(Handoff { files, warnings })
}
