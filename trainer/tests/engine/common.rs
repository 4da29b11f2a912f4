//! What the training tests share: the tiny model, its data and a base config.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ajuste_shared::config::{Method, Schedule, TrainConfig};
use ajuste_shared::load::LoadOptions;
use ajuste_shared::template::{Builtin, Template};
use ajuste_shared::tokenize::TextTokenizer;
use ajuste_trainer::model::{Model, ModelConfig, RandomWeights};
use ajuste_trainer::train::data::{Example, prepare};
use burn::tensor::Device;

/// Held by every test that trains: flex's RNG (LoRA dropout) is process-wide, and the machines
/// running CI have two cores.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Takes [`SERIAL`], even after another test panicked while holding it.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A tiny random Llama (vocab of the tiny tokenizer, 420) saved as a Hugging Face directory
/// under `dir` with the tokenizer files beside it.
pub fn model_dir(dir: &Path) -> PathBuf {
    let json = r#"{"model_type":"llama","hidden_size":64,"intermediate_size":128,
        "num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,"vocab_size":420,
        "max_position_embeddings":256,"eos_token_id":2,"pad_token_id":0,"tie_word_embeddings":true}"#;
    let cfg = ModelConfig::from_json(json.as_bytes(), "tiny").unwrap();
    let w = RandomWeights {
        seed: 1,
        std: 0.1,
        tied: true,
    };
    let out = dir.join("model");
    Model::from_weights(cfg, &w, &Device::flex())
        .unwrap()
        .save(&out)
        .unwrap();
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ] {
        std::fs::copy(
            repo("shared/tests/fixtures/templates/tiny").join(f),
            out.join(f),
        )
        .unwrap();
    }
    out
}

/// `tests/fixtures/train/FILE` prepared for `method` with ChatML and the tiny tokenizer.
pub fn examples(file: &str, method: Method) -> Vec<Example> {
    let bytes = std::fs::read(repo(&format!("tests/fixtures/train/{file}"))).unwrap();
    let loaded = ajuste_shared::load::load(&bytes[..], file, &LoadOptions::default()).unwrap();
    let tokenizer = TextTokenizer::from_bytes(
        &std::fs::read(repo("shared/tests/fixtures/templates/tiny/tokenizer.json")).unwrap(),
    )
    .unwrap();
    let template = Template::Builtin("chatml".parse::<Builtin>().unwrap());
    prepare(&loaded.dataset.items, method, &template, &tokenizer, 128)
        .unwrap()
        .examples
}

/// `method`'s defaults made quick to learn: `steps` steps of batch 4, a constant 5e-3, LoRA
/// r 8 without dropout, 128 tokens.
pub fn config(method: Method, steps: usize) -> TrainConfig {
    let mut c = TrainConfig::for_method(method);
    c.steps = Some(steps);
    c.batch_size = 4;
    c.learning_rate = 5e-3;
    c.warmup_ratio = 0.0;
    c.lr_scheduler = Schedule::Constant;
    c.adapter.r = 8;
    c.adapter.lora_alpha = 16.0;
    c.adapter.lora_dropout = 0.0;
    c.max_length = 128;
    c
}
