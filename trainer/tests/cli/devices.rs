//! `ajuste train --devices`: lists that cannot run are refused with exit 2 before anything is
//! written; two CPU replicas train the same run as one device.

use std::path::Path;

use safetensors::SafeTensors;

use crate::train::{data, events, model};
use crate::util::CliTest;

/// `ajuste train` on the SFT fixture, 3 steps of 2 micro-batches of 4, plus `extra`.
fn train(t: &CliTest, m: &Path, out: &str, extra: &[&str]) -> crate::util::Run {
    let mut args: Vec<String> = [
        "train",
        "--data",
        &data("sft.jsonl"),
        "--method",
        "sft",
        "--model",
        &m.display().to_string(),
        "--steps",
        "3",
        "--batch",
        "4",
        "--grad-accum",
        "2",
        "--lr",
        "5e-3",
        // Dropout masks are drawn per shard: without dropout the runs are the same.
        "--lora-dropout",
        "0",
        "--out",
        out,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    t.run(args)
}

#[test]
fn device_lists_that_cannot_run_exit_2_and_write_nothing() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    let cases: [(&str, &str); 6] = [
        ("cpu:0,cuda:1", "mix cpu and cuda"),
        ("cpu:0,cpu:0", "cpu:0 is listed twice"),
        ("cpu:zero", "`cpu:zero` is not a device"),
        ("tpu:0,tpu:1", "unknown device `tpu`"),
        (",", "no device given"),
        ("cpu:0,cpu:100000", "device cpu:100000 does not exist"),
    ];
    for (i, (list, message)) in cases.iter().enumerate() {
        let out = format!("run{i}");
        let run = train(&t, &m, &out, &["--devices", list]).expect(2);
        assert!(run.stderr.contains(message), "{list}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{list}: {}", run.stderr);
        assert!(!t.path(&out).exists(), "{list}: the run directory was made");
    }
    // --device and --devices do not go together.
    let run = train(
        &t,
        &m,
        "both",
        &["--device", "cpu", "--devices", "cpu:0,cpu:1"],
    )
    .expect(2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}

#[cfg(not(feature = "cuda"))]
#[test]
fn a_backend_this_build_lacks_names_its_feature() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    let run = train(&t, &m, "run", &["--devices", "cuda:0,cuda:1"]).expect(2);
    assert!(run.stderr.contains("--features cuda"), "{}", run.stderr);
    assert!(!t.path("run").exists());
}

/// The trained adapter's tensors, by name, as f32.
fn adapter(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(dir.join("adapter/adapter_model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn two_cpu_replicas_train_the_one_device_run() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    train(&t, &m, "one", &["--device", "cpu"]).expect(0);
    let two = train(&t, &m, "two", &["--devices", "cpu:0,cpu:1"]).expect(0);
    assert!(two.stderr.contains("on cpu:0,cpu:1"), "{}", two.stderr);
    let steps = |run: &str| -> Vec<(f64, u64)> {
        events(&t.path(run))
            .iter()
            .filter(|e| e["event"] == "step")
            .map(|e| (e["loss"].as_f64().unwrap(), e["tokens"].as_u64().unwrap()))
            .collect()
    };
    let (a, b) = (steps("one"), steps("two"));
    assert_eq!(a.len(), 3);
    for ((la, ta), (lb, tb)) in a.iter().zip(&b) {
        assert!((la - lb).abs() <= 1e-5, "{a:?} vs {b:?}");
        assert_eq!(ta, tb);
    }
    let (wa, wb) = (adapter(&t.path("one")), adapter(&t.path("two")));
    assert_eq!(wa.len(), wb.len());
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        for (x, y) in va.iter().zip(vb) {
            assert!((x - y).abs() <= 1e-5, "{na}: {x} vs {y}");
        }
    }
}
