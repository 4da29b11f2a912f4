//! `ajuste score`: the loss of a model (with an adapter, optionally) on each record.
//!
//! Records are rendered and tokenized exactly as `ajuste data render --tokenizer --json` does
//! (same template, same ids and labels, cut only with `--max-len`). For each sequence the output
//! gives `loss` (mean cross-entropy over the trained tokens), `tokens` (trained tokens that a
//! position predicts: the first token of a sequence has none before it) and `logprob` (their
//! summed log-probability, so `loss = -logprob / tokens`). Preference records give both sides.

use std::io::Write;

use ajuste_shared::record::Record;
use ajuste_shared::template::Rendered;
use ajuste_shared::{Finding, Severity};
use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::train::{load_model, model_tokenizer};
use crate::adapter::AdapterSpec;
use crate::cli::args::{InputArgs, ScoreArgs};
use crate::cli::commands::{load_input, report_file_finding, summarize_drops, template};
use crate::cli::{ExitStatus, io};
use crate::device::device;
use crate::model::Model;
use crate::objective::output_logps;
use crate::train::data::{Batch, Sequence};
use crate::train::pad_id;

/// The score of one sequence.
#[derive(Debug, Clone, Copy)]
struct Score {
    tokens: usize,
    logprob: f64,
}

impl Score {
    fn json(self) -> Value {
        let loss = (self.tokens > 0).then(|| -self.logprob / self.tokens as f64);
        json!({ "loss": loss, "tokens": self.tokens, "logprob": self.logprob })
    }
}

pub fn run(args: &ScoreArgs) -> Result<ExitStatus> {
    let template = template::resolve(&args.template)?;
    let tokenizer = model_tokenizer(&args.model, args.tokenizer.as_deref())?;
    let spec = match &args.adapter {
        Some(dir) => AdapterSpec::peft(dir),
        None => AdapterSpec::none(),
    };
    let model = load_model(&args.model, &device(args.device)?, &spec)?;
    let input = InputArgs {
        file: args.data.clone(),
        format: args.format,
        ..InputArgs::default()
    };
    let loaded = match load_input(&input)? {
        Ok(l) => l,
        Err(finding) => return Ok(report_file_finding(&args.data, &finding)),
    };
    let name = io::display_name(&args.data);
    let context = model.config.max_position_embeddings;
    let mut errors = 0;
    // Every sequence to score: (record position, part name, tokens), parts in output order.
    let mut parts: Vec<(usize, &'static str, Option<Sequence>)> = Vec::new();
    for (i, item) in loaded.dataset.items.iter().enumerate() {
        let rendered: Vec<(&'static str, Rendered)> = match &item.record {
            Record::Preference(p) => {
                let (c, r) = template.render_pair(p);
                vec![("chosen", c), ("rejected", r)]
            }
            record => vec![("", template.render(record))],
        };
        for (part, r) in rendered {
            let encoded = tokenizer.encode(&r, args.max_len);
            let mut findings: Vec<Finding> = r.findings.clone();
            findings.extend(encoded.findings.iter().cloned());
            let mut seq = Some(Sequence {
                input_ids: encoded.input_ids,
                labels: encoded.labels,
            });
            if seq.as_ref().is_some_and(|s| s.len() > context) {
                findings.push(
                    Finding::new(
                        ajuste_shared::Code::TooLongForContext,
                        format!(
                            "the record has {} tokens, more than the model's context of {context}; \
                         it is not scored (pass --max-len to cut it)",
                            seq.as_ref().map_or(0, Sequence::len)
                        ),
                    )
                    .severity(Severity::Error),
                );
                seq = None;
            }
            for f in findings {
                let f = f.at(item.source.line, item.source.index);
                errors += usize::from(f.severity == Severity::Error);
                eprintln!("{}", f.display_with(&name));
            }
            parts.push((i, part, seq));
        }
    }
    let scores = score_all(&model, &parts, args.batch.max(1))?;
    write_scores(args, &loaded.dataset.items, &parts, &scores)?;
    let status = summarize_drops(&args.data, &loaded);
    Ok(if errors > 0 {
        ExitStatus::Failure
    } else {
        status
    })
}

/// Scores every sequence, `batch` at a time; `None` for sequences that are not scored.
fn score_all(
    model: &Model,
    parts: &[(usize, &'static str, Option<Sequence>)],
    batch: usize,
) -> Result<Vec<Option<Score>>> {
    let device = model.model.embed_tokens.weight.lazy_device();
    let pad = pad_id(&model.config);
    let scorable: Vec<(usize, &Sequence)> = parts
        .iter()
        .enumerate()
        .filter_map(|(i, (_, _, s))| s.as_ref().filter(|s| s.len() >= 2).map(|s| (i, s)))
        .collect();
    let mut scores = vec![None; parts.len()];
    for (i, (_, _, s)) in parts.iter().enumerate() {
        if s.as_ref().is_some_and(|s| s.len() < 2) {
            // Nothing before the only token: nothing is predicted.
            scores[i] = Some(Score {
                tokens: 0,
                logprob: 0.0,
            });
        }
    }
    for chunk in scorable.chunks(batch) {
        let seqs: Vec<&Sequence> = chunk.iter().map(|(_, s)| *s).collect();
        let b = Batch::pad(&seqs, pad)?;
        let outputs = model.outputs(b.ids_tensor(&device), Some(b.mask_tensor(&device)));
        let lp = output_logps(outputs, &b.labels)?;
        let values = lp
            .sequence_logps()
            .try_into_vec_as::<f64>()
            .context("reading log-probs from the device")?;
        for (((i, _), logprob), tokens) in chunk.iter().zip(values).zip(lp.counts()) {
            scores[*i] = Some(Score {
                tokens: *tokens,
                logprob,
            });
        }
    }
    Ok(scores)
}

fn write_scores(
    args: &ScoreArgs,
    items: &[ajuste_shared::record::Item],
    parts: &[(usize, &'static str, Option<Sequence>)],
    scores: &[Option<Score>],
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (mut total_tokens, mut total_logprob) = (0usize, 0.0f64);
    let mut p = 0;
    while p < parts.len() {
        let record = parts[p].0;
        let item = &items[record];
        let mut line = json!({ "record": item.source.index });
        let mut text = Vec::new();
        while p < parts.len() && parts[p].0 == record {
            let (_, part, _) = parts[p];
            // Not scored (too long for the model): every field null.
            let value = scores[p].map_or_else(
                || json!({ "loss": null, "tokens": null, "logprob": null }),
                Score::json,
            );
            if let Some(s) = scores[p] {
                total_tokens += s.tokens;
                total_logprob += s.logprob;
                let loss = (s.tokens > 0).then(|| -s.logprob / s.tokens as f64);
                let loss = loss.map_or("-".into(), |l| format!("{l:.4}"));
                let label = if part.is_empty() {
                    String::new()
                } else {
                    format!("{part} ")
                };
                text.push(format!(
                    "{label}loss {loss}, {} tokens, logprob {:.4}",
                    s.tokens, s.logprob
                ));
            } else {
                text.push(format!("{part} not scored").trim().to_string());
            }
            if part.is_empty() {
                if let (Some(o), Value::Object(map)) = (line.as_object_mut(), value) {
                    o.extend(map);
                }
            } else {
                line[part] = value;
            }
            p += 1;
        }
        if args.json {
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(
                out,
                "record {} (line {}): {}",
                item.source.index,
                item.source.line,
                text.join("; ")
            )?;
        }
    }
    if !args.json && total_tokens > 0 {
        writeln!(
            out,
            "mean loss {:.4} over {total_tokens} trained tokens",
            -total_logprob / total_tokens as f64
        )?;
    }
    Ok(())
}
