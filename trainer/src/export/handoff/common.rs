//! What every target shares: the job's facts, a YAML writer, the accelerate and DeepSpeed
//! configs, message conversion and the README skeleton.

use ajuste_shared::bundle::Bundle;
use ajuste_shared::config::{AdapterKind, Method, TrainConfig};
use ajuste_shared::record::{Message, Record};
use serde_json::{Map, Value, json};

/// The facts of one hand-off.
pub struct Job<'a> {
    pub bundle: &'a Bundle,
    /// Base model (Hugging Face id or directory).
    pub model: String,
    pub cfg: &'a TrainConfig,
    pub method: Method,
}

impl<'a> Job<'a> {
    pub fn new(bundle: &'a Bundle, model: String) -> Self {
        let cfg = &bundle.manifest.train;
        Job {
            bundle,
            model,
            cfg,
            method: cfg.method(),
        }
    }

    /// The exact Jinja text the bundle was prepared with.
    pub fn template(&self) -> &str {
        &self.bundle.manifest.template.chat_template
    }

    /// Whether any turn overrides the default trained/not-trained choice.
    pub fn has_train_overrides(&self) -> bool {
        let any = |ms: &[Message]| ms.iter().any(|m| m.train.is_some());
        self.bundle.train.iter().any(|r| match r {
            Record::Conversation(c) => any(&c.messages),
            Record::Preference(p) => any(&p.prompt) || any(&p.chosen) || any(&p.rejected),
            Record::Feedback(f) => any(&f.prompt) || any(&f.completion),
        })
    }

    /// Whether a LoRA-family adapter is trained (not full fine-tuning).
    pub fn uses_peft(&self) -> bool {
        self.cfg.adapter.kind != AdapterKind::None
    }

    /// LoRA target modules as a list (`all-linear` kept as the one string PEFT knows).
    pub fn targets(&self) -> Vec<String> {
        self.cfg.adapter.target_modules.clone()
    }

    pub fn all_linear(&self) -> bool {
        self.cfg
            .adapter
            .target_modules
            .iter()
            .any(|t| t == "all-linear")
    }
}

/// A message as `{role, content, ...extra}`: ajuste's `train` flag is dropped (targets that can
/// express it get it separately).
pub fn message_json(m: &Message) -> Value {
    let mut o = Map::new();
    o.insert("role".into(), Value::String(role_name(m)));
    o.insert("content".into(), Value::String(m.content.clone()));
    for (k, v) in &m.extra {
        o.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(o)
}

pub fn role_name(m: &Message) -> String {
    serde_json::to_value(m.role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn messages_json(ms: &[Message]) -> Value {
    Value::Array(ms.iter().map(message_json).collect())
}

/// One JSON object per line.
pub fn jsonl(rows: impl IntoIterator<Item = Value>) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        out.extend_from_slice(row.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// A float as YAML 1.1 (PyYAML) reads it as a float: always with a decimal point, never an
/// exponent (`2e-5` would be read as a string).
fn yaml_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => yaml_float(n.as_f64().unwrap_or_default()),
        Value::Number(n) => n.to_string(),
        // JSON string syntax is YAML's double-quoted scalar: exact for any text, newlines included.
        Value::String(s) => Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}

fn yaml_into(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                match val {
                    Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml_into(out, val, indent + 2);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml_into(out, val, indent + 2);
                    }
                    Value::Object(_) => out.push_str(&format!("{pad}{k}: {{}}\n")),
                    Value::Array(_) => out.push_str(&format!("{pad}{k}: []\n")),
                    scalar => out.push_str(&format!("{pad}{k}: {}\n", yaml_scalar(scalar))),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        let mut inner = String::new();
                        yaml_into(&mut inner, item, indent + 2);
                        // The first key goes on the dash line.
                        let inner = inner.trim_start();
                        out.push_str(&format!("{pad}- {inner}"));
                    }
                    scalar => out.push_str(&format!("{pad}- {}\n", yaml_scalar(scalar))),
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{}\n", yaml_scalar(scalar))),
    }
}

/// A YAML document for a JSON value (objects keep their key order).
pub fn yaml(header: &str, v: &Value) -> Vec<u8> {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    yaml_into(&mut out, v, 0);
    out.into_bytes()
}

/// Accelerate's config for one machine with several GPUs (plain DDP), in the keys `accelerate
/// config` writes.
pub fn accelerate_multi_gpu() -> Value {
    json!({
        "compute_environment": "LOCAL_MACHINE",
        "debug": false,
        "distributed_type": "MULTI_GPU",
        "downcast_bf16": "no",
        "gpu_ids": "all",
        "machine_rank": 0,
        "main_training_function": "main",
        "mixed_precision": "bf16",
        "num_machines": 1,
        "num_processes": 8,
        "rdzv_backend": "static",
        "same_network": true,
        "tpu_env": [],
        "tpu_use_cluster": false,
        "tpu_use_sudo": false,
        "use_cpu": false,
    })
}

/// Accelerate's config for several machines with DeepSpeed ZeRO-2 (the file in `deepspeed/`).
/// `machine_rank` and `main_process_ip` are per machine: the README passes them on the
/// command line.
pub fn accelerate_multi_node() -> Value {
    json!({
        "compute_environment": "LOCAL_MACHINE",
        "debug": false,
        "deepspeed_config": {
            "deepspeed_config_file": "deepspeed/zero2.json",
            "deepspeed_multinode_launcher": "standard",
            "zero3_init_flag": false,
        },
        "distributed_type": "DEEPSPEED",
        "downcast_bf16": "no",
        "machine_rank": 0,
        "main_process_ip": "10.0.0.1",
        "main_process_port": 29500,
        "main_training_function": "main",
        "num_machines": 2,
        "num_processes": 16,
        "rdzv_backend": "static",
        "same_network": true,
        "tpu_env": [],
        "tpu_use_cluster": false,
        "tpu_use_sudo": false,
        "use_cpu": false,
    })
}

/// A DeepSpeed ZeRO-2 config whose sizes the Hugging Face Trainer fills in (`auto`), so the
/// batch, accumulation and clipping stay the ones of the target's config.
pub fn deepspeed_zero2() -> Vec<u8> {
    let v = json!({
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_optimization": {
            "stage": 2,
            "overlap_comm": true,
            "contiguous_gradients": true,
            "reduce_scatter": true,
            "allgather_partitions": true,
        },
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
    });
    let mut out = serde_json::to_vec_pretty(&v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The files every target gets besides its own.
pub fn shared_files(files: &mut Vec<(String, Vec<u8>)>, template: &str) {
    files.push(("chat_template.jinja".into(), template.as_bytes().to_vec()));
    files.push((
        "accelerate/multi_gpu.yaml".into(),
        yaml(
            "One machine, several GPUs (DDP). Set num_processes to the GPU count.",
            &accelerate_multi_gpu(),
        ),
    ));
    files.push((
        "accelerate/multi_node.yaml".into(),
        yaml(
            "Several machines with DeepSpeed ZeRO-2. num_processes counts GPUs on all machines;\n\
             pass --machine_rank and --main_process_ip on each machine.",
            &accelerate_multi_node(),
        ),
    ));
    files.push(("deepspeed/zero2.json".into(), deepspeed_zero2()));
}

/// The README: a title, the facts, the launch lines, then warnings.
pub fn readme(job: &Job, target: &str, launch: &str, warnings: &[String]) -> Vec<u8> {
    let b = &job.bundle.manifest;
    let mut s = format!(
        "# {target} job exported by ajuste\n\n\
         - base model: `{}`\n- method: {}\n- template: `{}` (exact Jinja text in `chat_template.jinja`)\n\
         - records: {} train, {} eval\n\n\
         Run every command from this directory.\n\n{launch}\n",
        job.model,
        job.method,
        b.template.name,
        job.bundle.train.len(),
        job.bundle.eval.len(),
    );
    if !warnings.is_empty() {
        s.push_str("\n## Warnings\n\n");
        for w in warnings {
            s.push_str(&format!("- {w}\n"));
        }
    }
    s.into_bytes()
}

/// Warns when per-turn training flags cannot be carried.
pub fn warn_overrides(job: &Job, target: &str, warnings: &mut Vec<String>) {
    if job.has_train_overrides() {
        warnings.push(format!(
            "some turns override which text is trained (ajuste's per-turn `train` flag); {target} \
             trains every assistant turn, so those turns are trained differently"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_nests_and_quotes_exactly() {
        let v = json!({"a": 1, "lr": 0.00002, "e": 2.0, "t": "x\n\"y\"", "l": [{"p": "q", "r": [1, 2]}], "m": {"k": true}, "n": null});
        let y = String::from_utf8(yaml("head", &v)).unwrap();
        assert_eq!(
            y,
            "# head\na: 1\nlr: 0.00002\ne: 2.0\nt: \"x\\n\\\"y\\\"\"\nl:\n  - p: \"q\"\n    r:\n      - 1\n      - 2\nm:\n  k: true\nn: null\n"
        );
    }
}
