//! Dedup throughput on 10,000 generated ShareGPT records with planted duplicates.
//!
//! `cargo bench -p ajuste-shared --bench dedup`. Quality (precision/recall) and the comparison
//! with datasketch are in `examples/dedup_quality.rs`; this measures time only.

use std::hint::black_box;

use ajuste_shared::dedup::{DedupConfig, dedup, record_text, signatures};
use ajuste_shared::synth::planted_records;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const RECORDS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let (records, _) = planted_records(RECORDS, 1);
    let mut group = c.benchmark_group("dedup");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);

    let exact = DedupConfig::default();
    group.bench_function("exact", |b| b.iter(|| dedup(black_box(&records), &exact)));
    let near = DedupConfig {
        near: true,
        ..DedupConfig::default()
    };
    group.bench_function("exact+near", |b| {
        b.iter(|| dedup(black_box(&records), &near))
    });

    // The two halves of the near path, to see where time goes.
    group.bench_function("record_text", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| record_text(black_box(r)).len())
                .sum::<usize>()
        })
    });
    group.bench_function("signatures", |b| {
        b.iter(|| signatures(black_box(&records), &near))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
