//! ajuste's objectives against the reference implementations, on burn's flex (CPU) device.
//!
//! The fixtures under `tests/fixtures/golden/objectives/` were written by
//! `tests/golden/objectives.py` (run by hand, see its docstring), which calls TRL 1.16's own loss
//! code (`DPOTrainer._compute_loss`, `KTOTrainer._compute_loss`, the experimental
//! `CPOTrainer`/`ORPOTrainer.get_batch_loss_metrics`) and transformers' `ForCausalLMLoss` on fixed
//! random logits. Each test feeds the same logits and labels through ajuste and compares the
//! loss, every metric TRL logged that ajuste computes, and gradients.
//!
//! Tolerance: 1e-5, relative where the expected value's magnitude is above 1, absolute below
//! (f32 arithmetic on both sides).

use std::path::PathBuf;

use ajuste_trainer::objective::dpo::{DpoConfig, DpoLossType, dpo_loss, dpo_pair_losses};
use ajuste_trainer::objective::kto::{KtoBatch, KtoConfig, kl_pairing, kto_loss};
use ajuste_trainer::objective::orpo::{OrpoConfig, orpo_loss};
use ajuste_trainer::objective::sft::sft_loss;
use ajuste_trainer::objective::simpo::{SimpoConfig, simpo_loss};
use ajuste_trainer::objective::{LabelBatch, Metrics, PairLogps, token_logps};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

const TOLERANCE: f64 = 1e-5;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/golden/objectives")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A nested JSON array as flat values and shape.
fn flatten(value: &Value) -> (Vec<f64>, Vec<usize>) {
    match value {
        Value::Array(items) => {
            let mut flat = Vec::new();
            let mut inner = Vec::new();
            for item in items {
                let (values, shape) = flatten(item);
                assert!(
                    inner.is_empty() || inner == shape,
                    "ragged array in fixture"
                );
                inner = shape;
                flat.extend(values);
            }
            let mut shape = vec![items.len()];
            shape.extend(inner);
            (flat, shape)
        }
        Value::Number(n) => (vec![n.as_f64().unwrap()], vec![]),
        Value::Bool(b) => (vec![f64::from(u8::from(*b))], vec![]),
        other => panic!("not a number: {other}"),
    }
}

fn tensor<const D: usize>(value: &Value, device: &Device) -> Tensor<D> {
    let (values, shape) = flatten(value);
    let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
    let shape: [usize; D] = shape.try_into().expect("rank");
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn rows(value: &Value) -> Vec<Vec<i64>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        })
        .collect()
}

fn labels(value: &Value) -> LabelBatch {
    LabelBatch::new(&rows(value)).unwrap()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().unwrap()
}

fn numbers(value: &Value) -> Vec<f64> {
    flatten(value).0
}

fn assert_close(what: &str, got: f64, want: f64) {
    let scale = want.abs().max(1.0);
    assert!(
        (got - want).abs() <= TOLERANCE * scale,
        "{what}: ajuste {got}, reference {want}"
    );
}

fn assert_all_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(&format!("{what}[{i}]"), *g, *w);
    }
}

/// The same metric names as the reference, each value within tolerance.
fn assert_metrics(got: &Metrics, want: &Value) {
    let want = want.as_object().unwrap();
    let mut got_names: Vec<&str> = got.names().collect();
    let mut want_names: Vec<&str> = want.keys().map(String::as_str).collect();
    got_names.sort_unstable();
    want_names.sort_unstable();
    assert_eq!(got_names, want_names, "metric names");
    for (name, value) in want {
        assert_close(name, got.get(name).unwrap(), value.as_f64().unwrap());
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    values(t)[0]
}

/// Logits as a leaf on an autodiff flex device, so their gradient can be read.
fn leaf_logits(value: &Value) -> Tensor<3> {
    tensor::<3>(value, &Device::flex().autodiff()).require_grad()
}

fn assert_logit_grads(loss: &Tensor<1>, logits: &Tensor<3>, want: &Value) {
    let grads = loss.backward();
    let got = values(logits.grad(&grads).expect("logits take part in the loss"));
    assert_all_close("d loss / d logits", &got, &numbers(want));
}

#[test]
fn token_logps_match_trl_selective_log_softmax() {
    let f = fixture("logprobs_sft");
    let (inputs, expected) = (&f["inputs"], &f["expected"]);
    let labels = labels(&inputs["labels"]);
    let lp = token_logps(tensor(&inputs["logits"], &Device::flex()), &labels).unwrap();
    assert_all_close(
        "token log-probs",
        &values(lp.logps()),
        &numbers(&expected["token_logps"]),
    );
    assert_eq!(values(lp.mask()), numbers(&expected["mask"]));
    assert_all_close(
        "sequence log-probs",
        &values(lp.sequence_logps()),
        &numbers(&expected["sequence_logps"]),
    );
    let average = values(lp.average_logps("test").unwrap());
    assert_all_close(
        "average log-probs",
        &average,
        &numbers(&expected["average_logps"]),
    );
    let counts: Vec<f64> = lp.counts().iter().map(|&c| c as f64).collect();
    assert_eq!(counts, numbers(&expected["token_counts"]));
}

#[test]
fn sft_loss_matches_transformers_for_causal_lm_loss() {
    let f = fixture("logprobs_sft");
    let logits = leaf_logits(&f["inputs"]["logits"]);
    let out =
        sft_loss(&token_logps(logits.clone(), &labels(&f["inputs"]["labels"])).unwrap()).unwrap();
    assert_close(
        "SFT loss",
        scalar(out.loss.clone()),
        f["expected"]["sft_loss"].as_f64().unwrap(),
    );
    assert_logit_grads(&out.loss, &logits, &f["expected"]["grad_logits"]);
}

fn dpo_config(f: &Value) -> DpoConfig {
    let c = &f["config"];
    DpoConfig {
        beta: c["beta"].as_f64().unwrap(),
        loss_type: c["loss_type"]
            .as_str()
            .unwrap()
            .parse::<DpoLossType>()
            .unwrap(),
        label_smoothing: c["label_smoothing"].as_f64().unwrap(),
    }
}

fn reference_pairs(f: &Value, device: &Device) -> PairLogps {
    PairLogps::from_values(
        &numbers(&f["inputs"]["ref_chosen_logps"]),
        &numbers(&f["inputs"]["ref_rejected_logps"]),
        device,
    )
    .unwrap()
}

fn check_dpo(name: &str) {
    let f = fixture(name);
    let config = dpo_config(&f);
    let device = Device::flex().autodiff();
    let logits = leaf_logits(&f["inputs"]["logits"]);
    let labels = labels(&f["inputs"]["labels"]);
    let policy = token_logps(logits.clone(), &labels).unwrap();
    let out = dpo_loss(&policy, &reference_pairs(&f, &device), &config).unwrap();
    assert_close(
        "DPO loss",
        scalar(out.loss.clone()),
        f["expected"]["loss"].as_f64().unwrap(),
    );
    assert_metrics(
        &out.metrics.clone().read_blocking().unwrap(),
        &f["expected"]["metrics"],
    );
    if f["expected"].get("grad_logits").is_some() {
        assert_logit_grads(&out.loss, &logits, &f["expected"]["grad_logits"]);
    }
}

#[test]
fn dpo_sigmoid_matches_trl() {
    check_dpo("dpo_sigmoid");
}

#[test]
fn dpo_ipo_matches_trl() {
    check_dpo("dpo_ipo");
}

#[test]
fn dpo_hinge_matches_trl() {
    check_dpo("dpo_hinge");
}

#[test]
fn conservative_dpo_matches_trl_on_single_pairs() {
    check_dpo("dpo_sigmoid_smoothing");
}

/// d loss / d (summed policy log-probs), for each DPO loss: the gradient the policy receives.
#[test]
fn dpo_gradient_with_respect_to_policy_logps_matches_trl() {
    for name in ["dpo_sigmoid", "dpo_ipo", "dpo_hinge"] {
        let f = fixture(name);
        let config = dpo_config(&f);
        // Policy log-probs computed without a graph, then made leaves of their own.
        let labels = labels(&f["inputs"]["labels"]);
        let lp = token_logps(tensor(&f["inputs"]["logits"], &Device::flex()), &labels).unwrap();
        let sums = values(lp.sequence_logps());
        let b = sums.len() / 2;
        let device = Device::flex().autodiff();
        let leaf = |v: &[f64]| {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::<1>::from_data(TensorData::new(v, [b]), &device).require_grad()
        };
        let policy = PairLogps {
            chosen: leaf(&sums[..b]),
            rejected: leaf(&sums[b..]),
        };
        let counts = labels.label_counts();
        let pairs = dpo_pair_losses(
            &policy,
            &reference_pairs(&f, &device),
            (&counts[..b], &counts[b..]),
            &config,
        )
        .unwrap();
        let grads = pairs.losses.mean().backward();
        let mut got = values(policy.chosen.grad(&grads).unwrap());
        got.extend(values(policy.rejected.grad(&grads).unwrap()));
        assert_all_close(
            &format!("{name}: d loss / d policy log-probs"),
            &got,
            &numbers(&f["expected"]["grad_policy_logps"]),
        );
    }
}

fn check_simpo(name: &str) {
    let f = fixture(name);
    let c = &f["config"];
    let config = SimpoConfig {
        beta: c["beta"].as_f64().unwrap(),
        gamma: c["gamma"].as_f64().unwrap(),
        label_smoothing: c["label_smoothing"].as_f64().unwrap(),
        cpo_alpha: c["cpo_alpha"].as_f64().unwrap(),
    };
    let logits = leaf_logits(&f["inputs"]["logits"]);
    let policy = token_logps(logits.clone(), &labels(&f["inputs"]["labels"])).unwrap();
    let out = simpo_loss(&policy, &config).unwrap();
    assert_close(
        "SimPO loss",
        scalar(out.loss.clone()),
        f["expected"]["loss"].as_f64().unwrap(),
    );
    assert_metrics(
        &out.metrics.clone().read_blocking().unwrap(),
        &f["expected"]["metrics"],
    );
    assert_logit_grads(&out.loss, &logits, &f["expected"]["grad_logits"]);
}

#[test]
fn simpo_matches_trl_cpo_trainer() {
    check_simpo("simpo");
}

#[test]
fn cpo_simpo_with_nll_and_label_smoothing_matches_trl() {
    check_simpo("simpo_cpo_smoothing");
}

#[test]
fn orpo_matches_trl() {
    let f = fixture("orpo");
    let inputs = &f["inputs"];
    let config = OrpoConfig {
        beta: f["config"]["beta"].as_f64().unwrap(),
    };
    let full = LabelBatch::from_input_ids(
        &rows(&inputs["input_ids"]),
        &rows(&inputs["attention_mask"]),
    )
    .unwrap();
    let completion = labels(&inputs["labels"]);
    let logits = leaf_logits(&inputs["logits"]);
    let policy = token_logps(logits.clone(), &full).unwrap();

    // The fixture makes one chosen completion nearly certain, to exercise log(1 - e^x) near 0.
    let average = values(
        policy
            .restrict(&completion)
            .unwrap()
            .average_logps("test")
            .unwrap(),
    );
    assert!(
        average[0] > -std::f64::consts::LN_2,
        "row 0 should average above -ln 2: {}",
        average[0]
    );

    let out = orpo_loss(&policy, &completion, &config).unwrap();
    assert_close(
        "ORPO loss",
        scalar(out.loss.clone()),
        f["expected"]["loss"].as_f64().unwrap(),
    );
    assert_metrics(
        &out.metrics.clone().read_blocking().unwrap(),
        &f["expected"]["metrics"],
    );
    assert_logit_grads(&out.loss, &logits, &f["expected"]["grad_logits"]);
}

/// The trained labels of each row (its completion tokens).
fn completions(labels: &Value) -> Vec<Vec<i64>> {
    rows(labels)
        .into_iter()
        .map(|r| r.into_iter().filter(|&l| l != -100).collect())
        .collect()
}

fn check_kto(name: &str) {
    let f = fixture(name);
    let (inputs, c) = (&f["inputs"], &f["config"]);
    let config = KtoConfig {
        beta: c["beta"].as_f64().unwrap(),
        desirable_weight: c["desirable_weight"].as_f64().unwrap(),
        undesirable_weight: c["undesirable_weight"].as_f64().unwrap(),
    };
    let desirable: Vec<bool> = inputs["desirable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();

    // TRL's KL rows pair prompt i with completion kl_pairing[i].
    let matched = completions(&inputs["labels"]);
    let mismatched = completions(&inputs["kl_labels"]);
    for (i, &j) in kl_pairing(desirable.len()).unwrap().iter().enumerate() {
        assert_eq!(
            mismatched[i], matched[j],
            "KL row {i} should carry completion {j}"
        );
    }

    let device = Device::flex().autodiff();
    let logits = leaf_logits(&inputs["logits"]);
    let policy = token_logps(logits.clone(), &labels(&inputs["labels"])).unwrap();
    // The KL rows' log-probs, computed outside the graph as TRL does (no_grad).
    let kl_policy = token_logps(
        tensor(&inputs["kl_logits"], &Device::flex()),
        &labels(&inputs["kl_labels"]),
    )
    .unwrap()
    .sequence_logps();
    let kl_policy = Tensor::<1>::from_data(kl_policy.into_data(), &device);
    let batch = KtoBatch {
        policy: &policy,
        policy_kl: kl_policy,
        reference: tensor(&inputs["ref_logps"], &device),
        reference_kl: tensor(&inputs["ref_kl_logps"], &device),
        desirable: &desirable,
    };
    let out = kto_loss(&batch, &config).unwrap();
    assert_close(
        "KTO loss",
        scalar(out.loss.clone()),
        f["expected"]["loss"].as_f64().unwrap(),
    );
    assert_metrics(
        &out.metrics.clone().read_blocking().unwrap(),
        &f["expected"]["metrics"],
    );
    assert_logit_grads(&out.loss, &logits, &f["expected"]["grad_logits"]);
}

#[test]
fn kto_matches_trl() {
    check_kto("kto");
}

#[test]
fn kto_clamps_a_negative_kl_estimate_like_trl() {
    check_kto("kto_clamped");
}

#[test]
fn kto_without_undesirable_examples_logs_what_trl_logs() {
    check_kto("kto_all_desirable");
}
