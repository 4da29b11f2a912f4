//! TRL: `trl sft|dpo|kto --config trl.yaml`, launched through accelerate.
//!
//! Keys are those of TRL's `ScriptArguments`/`DatasetMixtureConfig`, `ModelConfig` and the
//! trainer's config (`SFTConfig`, `DPOConfig`, `KTOConfig`, over transformers'
//! `TrainingArguments`), as `TrlParser` reads them. Preference rows are `{"prompt", "chosen",
//! "rejected"}`, KTO rows `{"prompt", "completion", "label"}`, all conversational. TRL's CLI has
//! no SimPO or ORPO command (its CPO/ORPO trainers are experimental), so those are refused.
//!
//! SFT: TRL's `assistant_only_loss` needs `{% generation %}` markers in the template (without
//! them `SFTTrainer` refuses to start unless it knows a patched copy of the template). With
//! markers, rows are `{"messages"}` and `assistant_only_loss: true`. Without, every trained
//! assistant turn becomes a prompt-completion row (`prompt`: the turns before it, `completion`:
//! the turn) with `completion_only_loss: true`: TRL then trains exactly the text the template
//! adds after the generation prompt, end-of-turn included, which is what ajuste trains. A
//! conversation with several trained answers gives several rows.
//!
//! `trl dpo` and `trl kto` have no template setting (only `SFTConfig` has `chat_template_path`):
//! they render with the model tokenizer's template, which the README says how to replace.

use ajuste_shared::config::{AdapterKind, DpoLoss, Objective, Schedule};
use ajuste_shared::record::{Message, Record, Role};
use serde_json::{Map, Value, json};

use super::common::{self, Job, messages_json};
use super::{ExportError, Handoff, method_name};

/// Whether the template marks assistant text with `{% generation %}` (TRL's check).
fn has_generation_markers(template: &str) -> bool {
    let mut rest = template;
    while let Some(i) = rest.find("{%") {
        let tag = rest[i + 2..].trim_start_matches('-').trim_start();
        if let Some(after) = tag.strip_prefix("generation") {
            let after = after.trim_start();
            if after.starts_with("%}") || after.starts_with("-%}") {
                return true;
            }
        }
        rest = &rest[i + 2..];
    }
    false
}

/// One prompt-completion row per trained assistant turn.
fn completion_rows(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::Assistant && m.train != Some(false))
        .map(|(i, m)| {
            json!({
                "prompt": messages_json(&messages[..i]),
                "completion": messages_json(std::slice::from_ref(m)),
            })
        })
        .collect()
}

fn rows(records: &[Record], markers: bool) -> Vec<Value> {
    records
        .iter()
        .flat_map(|r| match r {
            Record::Conversation(c) if !markers => completion_rows(&c.messages),
            other => vec![single_row(other)],
        })
        .collect()
}

fn single_row(r: &Record) -> Value {
    match r {
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
    }
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
    // Only SFTConfig takes a template; `trl dpo` and `trl kto` render with the tokenizer's own.
    if cfg.objective == Objective::Sft {
        set("chat_template_path", json!("chat_template.jinja"));
    }
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
            if has_generation_markers(job.template()) {
                set("assistant_only_loss", json!(true));
            } else {
                set("completion_only_loss", json!(true));
            }
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
    if job.cfg.objective != Objective::Sft {
        warnings.push(format!(
            "`trl {command}` has no chat-template setting and renders with the model's own \
             tokenizer template: to train on the exact text ajuste prepared, put \
             chat_template.jinja into the model directory (transformers reads it from there)"
        ));
    }
    if !job.bundle.eval.is_empty() {
        warnings.push(
            "TRL's `datasets` list loads one training mixture: data/eval.jsonl is written but \
             not evaluated on (eval_strategy: no)"
                .into(),
        );
    }
    let markers = has_generation_markers(job.template());
    let train = rows(&job.bundle.train, markers);
    if !markers && train.len() > job.bundle.train.len() {
        warnings.push(format!(
            "the template has no {{% generation %}} markers, so each trained answer is its own \
             prompt-completion row: {} conversations became {} rows (an epoch has more steps)",
            job.bundle.train.len(),
            train.len()
        ));
    }
    let mut files = vec![
        ("data/train.jsonl".to_string(), common::jsonl(train)),
        (
            "data/eval.jsonl".to_string(),
            common::jsonl(rows(&job.bundle.eval, markers)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_markers_are_found_in_their_trim_variants_only() {
        assert!(has_generation_markers(
            "a{% generation %}b{% endgeneration %}"
        ));
        assert!(has_generation_markers("a{%- generation -%}b"));
        assert!(!has_generation_markers(
            "{% if generation_prompt %}{% endif %}"
        ));
        assert!(!has_generation_markers("{{ add_generation_prompt }}"));
    }

    #[test]
    fn each_trained_answer_is_a_prompt_completion_row() {
        let msg = |role: Role, content: &str, train: Option<bool>| Message {
            role,
            content: content.into(),
            train,
            extra: Default::default(),
        };
        let conv = [
            msg(Role::User, "a", None),
            msg(Role::Assistant, "b", Some(false)),
            msg(Role::User, "c", None),
            msg(Role::Assistant, "d", None),
        ];
        let rows = completion_rows(&conv);
        assert_eq!(rows.len(), 1, "the untrained answer is context only");
        assert_eq!(rows[0]["prompt"].as_array().unwrap().len(), 3);
        assert_eq!(rows[0]["completion"][0]["content"], "d");
    }
}
