//! `ajuste bundle create` and `ajuste bundle inspect`.

use std::io::Write;

use ajuste_shared::bundle::{self, Bundle, Recipe, SourceFile};
use ajuste_shared::config::{Method, TrainConfig};
use ajuste_shared::record::Kind;
use ajuste_shared::split::SplitConfig;
use anyhow::{Context, Result};

use crate::cli::args::{BundleCreateArgs, BundleInspectArgs};
use crate::cli::commands::data::{balance, clean, dedup};
use crate::cli::commands::{report_file_finding, summarize_drops, template};
use crate::cli::{ExitStatus, io};

/// The method a dataset of this kind is usually trained with.
fn default_method(kind: Kind) -> Method {
    match kind {
        Kind::Sft => Method::Sft,
        Kind::Preference => Method::Dpo,
        Kind::Feedback => Method::Kto,
    }
}

pub fn create(args: &BundleCreateArgs) -> Result<ExitStatus> {
    let template = template::resolve(&args.template)?;
    let tokenizer_bytes = args.tokenizer.as_deref().map(io::read).transpose()?;
    let tokenizer = args
        .tokenizer
        .as_deref()
        .map(template::tokenizer)
        .transpose()?;
    let dedup = if args.no_dedup {
        None
    } else {
        Some(dedup::config(&args.dedup)?)
    };
    let path = &args.input.file;
    // The whole input is read once: its hash goes in the manifest.
    let bytes = io::read(path)?;
    let name = io::display_name(path);
    let opts = args.input.load_options()?;
    let loaded = match ajuste_shared::load::load(&bytes[..], &name, &opts) {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(path, &finding)),
    };
    let status = summarize_drops(path, &loaded);
    let method = args
        .method
        .unwrap_or_else(|| default_method(loaded.format.kind()));
    let mut train = TrainConfig::for_method(method);
    train.model = args.model.clone();
    let recipe = Recipe {
        clean: clean::steps(&args.clean)?,
        dedup,
        balance: balance::config(&args.balance)?,
        split: SplitConfig {
            eval_fraction: args.eval_fraction,
            seed: args.seed,
        },
        train,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(name);
    let source = SourceFile::new(
        &file_name,
        &bytes,
        loaded.format,
        loaded.report.records,
        loaded.report.valid,
    )
    .with_fields(opts.fields);
    let tok = tokenizer_bytes.as_deref().zip(tokenizer.as_ref());
    let built = bundle::build(source, loaded.dataset, &recipe, &template, tok)
        .with_context(|| format!("cannot build a bundle from `{}`", path.display()))?;
    let bytes = built.to_bytes()?;
    io::write_atomic(&args.output, &[path], |w: &mut dyn Write| {
        Ok(w.write_all(&bytes)?)
    })?;
    let m = &built.manifest;
    eprintln!(
        "wrote `{}`: {} train + {} eval {} records, template {}, method {}",
        args.output.display(),
        m.split.train,
        m.split.eval,
        m.kind,
        m.template.name,
        m.train.method()
    );
    Ok(status)
}

pub fn inspect(args: &BundleInspectArgs) -> Result<ExitStatus> {
    let file = io::open(&args.file)?;
    let bundle = Bundle::read(std::io::BufReader::new(file))
        .with_context(|| format!("cannot read bundle `{}`", args.file.display()))?;
    let m = &bundle.manifest;
    if args.json {
        println!("{}", serde_json::to_string_pretty(m)?);
        return Ok(ExitStatus::Success);
    }
    println!(
        "bundle:    {} (schema {}, {})",
        args.file.display(),
        m.schema_version,
        m.created_by
    );
    println!(
        "source:    {} ({}, {} records, {} valid)",
        m.source.name,
        m.source.format.as_str(),
        m.source.records,
        m.source.valid
    );
    println!("           sha256 {}", m.source.sha256);
    if !m.source.fields.is_empty() {
        println!("           read with {} renamed", m.source.fields);
    }
    let steps: Vec<&str> = m.cleaning.steps.iter().map(|s| s.name()).collect();
    println!(
        "cleaning:  {} ({} -> {} records)",
        if steps.is_empty() {
            "none".to_string()
        } else {
            steps.join(", ")
        },
        m.cleaning.records_in,
        m.cleaning.records_out
    );
    match &m.dedup {
        Some(d) => println!(
            "dedup:     {} exact, {} near removed (near: {}, threshold {})",
            d.exact_duplicates, d.near_duplicates, d.config.near, d.config.threshold
        ),
        None => println!("dedup:     not run"),
    }
    if let Some(b) = &m.balance {
        let groups: Vec<String> = b
            .groups
            .iter()
            .map(|g| format!("{} {} -> {}", g.group, g.records, g.kept))
            .collect();
        println!(
            "balance:   by {}, {} removed ({})",
            b.config.by,
            b.removed.len(),
            groups.join(", ")
        );
    }
    println!(
        "template:  {} (eos {:?})",
        m.template.name, m.template.eos_token
    );
    if let Some(t) = &m.tokenizer {
        println!("tokenizer: vocab {} sha256 {}", t.vocab_size, t.sha256);
    }
    println!(
        "split:     {} train / {} eval (fraction {}, seed {})",
        m.split.train, m.split.eval, m.split.eval_fraction, m.split.seed
    );
    println!(
        "training:  {} with {} r={} alpha={}, lr {}",
        m.train.method(),
        m.train.adapter.kind.as_str(),
        m.train.adapter.r,
        m.train.adapter.lora_alpha,
        m.train.learning_rate
    );
    // `Bundle::read` has checked every file against its hash by now.
    for (name, info) in &m.files {
        let records = if name.ends_with(".jsonl") {
            format!(", {} records", info.records)
        } else {
            String::new()
        };
        println!("file:      {name} {} bytes{records}, sha256 ok", info.bytes);
    }
    Ok(ExitStatus::Success)
}
