//! `ajuste data stats`: sizes, turns, roles, languages, length histograms.

use ajuste_shared::balance::GroupBy;
use ajuste_shared::dedup::{self, DedupConfig};
use ajuste_shared::record::Record;
use ajuste_shared::stats::{self, Histogram, Stats};
use anyhow::Result;

use crate::cli::ExitStatus;
use crate::cli::args::{StatsArgs, TemplateArgs};
use crate::cli::commands::{load_input, report_file_finding, summarize_drops, template};

pub fn run(args: &StatsArgs) -> Result<ExitStatus> {
    let tokenizer = args
        .tokenizer
        .as_deref()
        .map(template::tokenizer)
        .transpose()?;
    let template = match (&args.template, &args.chat_template) {
        (None, None) => template::builtin("chatml")?,
        (name, path) => template::resolve(&TemplateArgs {
            template: name.clone(),
            chat_template: path.clone(),
        })?,
    };
    let loaded = match load_input(&args.input)? {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(&args.input.file, &finding)),
    };
    let token_lengths: Option<Vec<usize>> = tokenizer.as_ref().map(|tok| {
        loaded
            .dataset
            .records()
            .map(|r| stats::token_length(&template, tok, r))
            .collect()
    });
    let mut stats = stats::compute(
        &loaded.dataset,
        token_lengths.as_deref(),
        args.max_len,
        &GroupBy::Auto,
    );
    let records: Vec<Record> = loaded.dataset.records().cloned().collect();
    stats.exact_duplicates = Some(dedup::dedup(&records, &DedupConfig::default()).exact_duplicates);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print_text(&stats, args.max_len);
    }
    Ok(summarize_drops(&args.input.file, &loaded))
}

fn print_text(s: &Stats, max_len: Option<usize>) {
    println!("records: {}", s.records);
    if let Some(kind) = s.kind {
        println!("kind:    {kind}");
    }
    println!(
        "turns per record: min {} / median {} / max {} (mean {:.1})",
        s.turns.min, s.turns.p50, s.turns.max, s.turns.mean
    );
    let roles: Vec<String> = s.roles.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!("turns by role: {}", roles.join(", "));
    let mut langs: Vec<(&String, &usize)> = s.languages.iter().collect();
    langs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let langs: Vec<String> = langs
        .iter()
        .take(8)
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    println!("languages: {}", langs.join(", "));
    if let Some(d) = s.exact_duplicates {
        println!("exact duplicates: {d}");
    }
    if !s.balance.is_empty() {
        let groups: Vec<String> = s.balance.iter().map(|(g, n)| format!("{g} {n}")).collect();
        println!("balance: {}", groups.join(", "));
    }
    print_histogram("characters per record", &s.chars);
    if let Some(tokens) = &s.tokens {
        print_histogram("tokens per record", tokens);
        if let (Some(over), Some(max)) = (s.over_max_length, max_len) {
            println!("records over {max} tokens: {over}");
        }
    }
}

fn print_histogram(title: &str, h: &Histogram) {
    let s = &h.summary;
    println!(
        "{title}: min {} / p50 {} / p90 {} / p99 {} / max {} (mean {:.1})",
        s.min, s.p50, s.p90, s.p99, s.max, s.mean
    );
    let peak = h.counts.iter().copied().max().unwrap_or(0).max(1);
    for (i, &count) in h.counts.iter().enumerate() {
        let bar = "#".repeat((count * 40).div_ceil(peak));
        println!(
            "  {:>8} .. {:<8} {:>7} {bar}",
            h.edges[i],
            h.edges[i + 1],
            count
        );
    }
}
