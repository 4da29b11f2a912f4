//! Axolotl: `axolotl train axolotl.yml`.
//!
//! Keys are those of Axolotl's config schema (`utils/schemas/{config,model,peft,training,
//! datasets}.py`). The template goes as `chat_template: jinja` + `chat_template_jinja` (the
//! exact text); SFT data is the `chat_template` dataset type over `messages`, training the
//! assistant turns and their end-of-turn token; per-turn `train` flags map to
//! `message_field_training`. Preference data uses `chat_template.default` (prompt messages,
//! `chosen`, `rejected`). Axolotl has no chat-template dataset type for KTO or ORPO, so those
//! methods are refused.

use ajuste_shared::config::{AdapterKind, DpoLoss, Objective};
use ajuste_shared::record::{Message, Record};
use serde_json::{Map, Value, json};

use super::common::{self, Job, message_json};
use super::trl::{integer_alpha, scheduler};
use super::{ExportError, Handoff, method_name};

/// A message with its `train` flag kept (Axolotl reads it through `message_field_training`).
fn message(m: &Message) -> Value {
    let mut v = message_json(m);
    if let (Some(train), Some(o)) = (m.train, v.as_object_mut()) {
        o.insert("train".into(), json!(train));
    }
    v
}

fn messages(ms: &[Message]) -> Value {
    Value::Array(ms.iter().map(message).collect())
}

fn rows(records: &[Record]) -> Vec<Value> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Conversation(c) => Some(json!({"messages": messages(&c.messages)})),
            Record::Preference(p) => Some(json!({
                "messages": messages(&p.prompt),
                "chosen": messages(&p.chosen),
                "rejected": messages(&p.rejected),
            })),
            Record::Feedback(_) => None,
        })
        .collect()
}

fn dataset(job: &Job, path: &str, preference: bool) -> Value {
    let mut d = Map::new();
    d.insert("path".into(), json!(path));
    d.insert("ds_type".into(), json!("json"));
    d.insert("split".into(), json!("train"));
    if preference {
        d.insert("type".into(), json!("chat_template.default"));
        d.insert("field_messages".into(), json!("messages"));
        d.insert("field_chosen".into(), json!("chosen"));
        d.insert("field_rejected".into(), json!("rejected"));
    } else {
        d.insert("type".into(), json!("chat_template"));
        d.insert("field_messages".into(), json!("messages"));
    }
    d.insert(
        "message_property_mappings".into(),
        json!({"role": "role", "content": "content"}),
    );
    if !preference {
        d.insert("roles_to_train".into(), json!(["assistant"]));
        d.insert("train_on_eos".into(), json!("turn"));
        if job.has_train_overrides() {
            d.insert("message_field_training".into(), json!("train"));
        }
    }
    Value::Object(d)
}

fn config(job: &Job) -> Result<Value, ExportError> {
    let cfg = job.cfg;
    let preference = matches!(
        cfg.objective,
        Objective::Dpo { .. } | Objective::Simpo { .. }
    );
    let mut m = Map::new();
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    set("base_model", json!(job.model));
    set("chat_template", json!("jinja"));
    set("chat_template_jinja", json!(job.template()));
    let eot = &job.bundle.manifest.template.eos_token;
    if !eot.is_empty() {
        set("eot_tokens", json!([eot]));
    }
    set(
        "datasets",
        json!([dataset(job, "data/train.jsonl", preference)]),
    );
    if !job.bundle.eval.is_empty() {
        set(
            "test_datasets",
            json!([dataset(job, "data/eval.jsonl", preference)]),
        );
    } else {
        set("val_set_size", json!(0.0));
    }
    set("dataset_prepared_path", json!("last_run_prepared"));
    match &cfg.objective {
        Objective::Sft => {}
        Objective::Dpo {
            beta,
            loss_type,
            label_smoothing,
        } => {
            match loss_type {
                DpoLoss::Sigmoid => set("rl", json!("dpo")),
                DpoLoss::Ipo => set("rl", json!("ipo")),
                DpoLoss::Hinge => {
                    set("rl", json!("dpo"));
                    set("dpo_loss_type", json!(["hinge"]));
                }
            }
            set("rl_beta", json!(beta));
            set("dpo_label_smoothing", json!(label_smoothing));
        }
        Objective::Simpo { beta, gamma } => {
            set("rl", json!("simpo"));
            set("rl_beta", json!(beta));
            set("simpo_gamma", json!(gamma));
        }
        Objective::Kto { .. } | Objective::Orpo { .. } => {
            return Err(ExportError::Input(format!(
                "Axolotl has no chat_template dataset type for `{}`, so the exact template cannot \
                 be carried; use --to trl (kto) or --to llamafactory",
                method_name(job.method)
            )));
        }
    }
    if job.uses_peft() {
        let qlora = cfg.adapter.kind == AdapterKind::Qlora;
        set("adapter", json!(if qlora { "qlora" } else { "lora" }));
        if qlora {
            set("load_in_4bit", json!(true));
        }
        set("lora_r", json!(cfg.adapter.r));
        set("lora_alpha", json!(integer_alpha(job, "Axolotl")?));
        set("lora_dropout", json!(cfg.adapter.lora_dropout));
        if job.all_linear() {
            set("lora_target_linear", json!(true));
        } else {
            set("lora_target_modules", json!(job.targets()));
        }
        set(
            "peft_use_rslora",
            json!(cfg.adapter.kind == AdapterKind::Rslora),
        );
        set(
            "peft_use_dora",
            json!(cfg.adapter.kind == AdapterKind::Dora),
        );
    }
    set("sequence_len", json!(cfg.max_length));
    set("micro_batch_size", json!(cfg.batch_size));
    set(
        "gradient_accumulation_steps",
        json!(cfg.gradient_accumulation_steps),
    );
    match cfg.steps {
        Some(steps) => set("max_steps", json!(steps)),
        None => set("num_epochs", json!(cfg.epochs)),
    }
    set("learning_rate", json!(cfg.learning_rate));
    set("lr_scheduler", json!(scheduler(cfg.lr_scheduler)));
    set("warmup_ratio", json!(cfg.warmup_ratio));
    set("weight_decay", json!(cfg.weight_decay));
    set("max_grad_norm", json!(cfg.max_grad_norm));
    set("seed", json!(cfg.seed));
    set("logging_steps", json!(cfg.logging_steps));
    if cfg.save_steps > 0 {
        set("save_steps", json!(cfg.save_steps));
    }
    set("gradient_checkpointing", json!(cfg.gradient_checkpointing));
    set("bf16", json!("auto"));
    set("output_dir", json!("./output"));
    Ok(Value::Object(m))
}

pub(super) fn build(job: &Job) -> Result<Handoff, ExportError> {
    let cfg = config(job)?;
    let warnings = Vec::new();
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
            "axolotl.yml".to_string(),
            common::yaml(
                "Axolotl config written by ajuste. Launch lines: README.md.",
                &cfg,
            ),
        ),
    ];
    common::shared_files(&mut files, job.template());
    let launch = "## Launch\n\n\
         One GPU:\n\n```sh\naxolotl preprocess axolotl.yml\naxolotl train axolotl.yml\n```\n\n\
         One machine, several GPUs (DeepSpeed ZeRO-2):\n\n\
         ```sh\naxolotl train axolotl.yml --deepspeed deepspeed/zero2.json\n```\n\n\
         Several machines (accelerate; run on every machine, rank 0 on the first):\n\n\
         ```sh\naccelerate launch --config_file accelerate/multi_node.yaml --machine_rank $RANK \\\n  \
         --main_process_ip $MASTER_ADDR -m axolotl.cli.train axolotl.yml\n```\n\n\
         or `axolotl train axolotl.yml --launcher torchrun -- --nnodes 2 --node_rank $RANK \
         --rdzv_endpoint $MASTER_ADDR:29500`.\nThe adapter lands in `output/`.\n";
    files.push((
        "README.md".to_string(),
        common::readme(job, "Axolotl", launch, &warnings),
    ));
    Ok(Handoff { files, warnings })
}
