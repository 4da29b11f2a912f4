//! `ajuste bench train`: the tiny model's row (and, on two cores or more, its row with two CPU
//! replicas) without PyTorch.

use crate::util::CliTest;

#[test]
fn bench_train_times_the_tiny_model_alone_and_on_two_cpu_replicas() {
    let t = CliTest::new();
    let run = t
        .run([
            "bench",
            "train",
            "--tiny-only",
            "--steps",
            "1",
            "--python",
            "/nonexistent/python",
        ])
        .expect(0);
    let tokens_per_s = |name: &str| -> f64 {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no `{name}` row:\n{}", run.stdout));
        let after = line[name.len()..].split_whitespace().collect::<Vec<_>>();
        after[1].parse().unwrap() // [params, ajuste tok/s, peak MB, ...]
    };
    assert!(tokens_per_s("tiny (golden llama)") > 0.0);
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        assert!(tokens_per_s("  same, 2 CPU replicas") > 0.0);
    }
    assert!(
        run.stdout.contains("PyTorch+PEFT not run"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("SmolLM2"), "--tiny-only");
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn bench_train_on_a_backend_this_build_lacks_names_its_feature() {
    let t = CliTest::new();
    let run = t
        .run(["bench", "train", "--tiny-only", "--device", "wgpu"])
        .expect(2);
    assert!(run.stderr.contains("--features wgpu"), "{}", run.stderr);
}
