//! The tiny model the browser tests train (tests/fixtures/browser/tiny-model/): a random Llama
//! (seed 1) sized to the tiny byte-level BPE tokenizer of the template fixtures (420 tokens, ChatML
//! specials), saved as a Hugging Face directory. This test checks the committed files are what
//! the code makes; `AJUSTE_BLESS=1 cargo test -p ajuste-train-worker --test worker fixture` rewrites
//! them.

use ajuste_trainer::model::{Model, ModelConfig, RandomWeights};
use burn::tensor::Device;

use crate::repo;

const CONFIG: &str = r#"{"model_type":"llama","hidden_size":64,"intermediate_size":128,
    "num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,"vocab_size":420,
    "max_position_embeddings":256,"bos_token_id":null,"eos_token_id":2,"pad_token_id":0,
    "tie_word_embeddings":true}"#;

#[test]
fn the_browser_tests_tiny_model_is_what_the_code_makes() {
    let out = repo("tests/fixtures/browser/tiny-model");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ModelConfig::from_json(CONFIG.as_bytes(), "tiny").unwrap();
    let weights = RandomWeights {
        seed: 1,
        std: 0.1,
        tied: true,
    };
    let model = Model::from_weights(cfg, &weights, &Device::flex()).unwrap();
    model.save(tmp.path()).unwrap();
    let tokenizer = repo("shared/tests/fixtures/templates/tiny");
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(tokenizer.join(f), tmp.path().join(f)).unwrap();
    }
    let files = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ];
    if std::env::var_os("AJUSTE_BLESS").is_some() {
        std::fs::create_dir_all(&out).unwrap();
        for f in files {
            std::fs::copy(tmp.path().join(f), out.join(f)).unwrap();
        }
    }
    for f in files {
        let made = std::fs::read(tmp.path().join(f)).unwrap();
        let committed = std::fs::read(out.join(f)).unwrap_or_else(|e| {
            panic!("{}: {e} (AJUSTE_BLESS=1 writes it)", out.join(f).display())
        });
        assert!(
            made == committed,
            "{f} differs from what the code makes (AJUSTE_BLESS=1 rewrites it)"
        );
    }
}
