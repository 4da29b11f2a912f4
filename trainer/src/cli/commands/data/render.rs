//! `ajuste data render`: records through a chat template, trained tokens marked.

use std::io::{IsTerminal, Write};

use ajuste_shared::record::Record;
use ajuste_shared::template::Rendered;
use ajuste_shared::tokenize::Encoded;
use anyhow::Result;
use serde_json::{Value, json};

use crate::cli::args::RenderArgs;
use crate::cli::commands::{load_input, report_file_finding, summarize_drops, template};
use crate::cli::{ExitStatus, io};

pub fn run(args: &RenderArgs) -> Result<ExitStatus> {
    let template = template::resolve(&args.template)?;
    let tokenizer = args
        .tokenizer
        .as_deref()
        .map(template::tokenizer)
        .transpose()?;
    let loaded = match load_input(&args.input)? {
        Ok(loaded) => loaded,
        Err(finding) => return Ok(report_file_finding(&args.input.file, &finding)),
    };
    let name = io::display_name(&args.input.file);
    let color = !args.json && std::io::stdout().is_terminal();
    let mut stdout = std::io::stdout().lock();
    let mut errors = 0;
    let limit = args.limit.unwrap_or(usize::MAX);
    for item in loaded.dataset.items.iter().take(limit) {
        let index = item.source.index;
        let parts: Vec<(&str, Rendered)> = match &item.record {
            Record::Preference(p) => {
                let (chosen, rejected) = template.render_pair(p);
                vec![("chosen", chosen), ("rejected", rejected)]
            }
            record => vec![("", template.render(record))],
        };
        let mut objects = Vec::new();
        for (part, rendered) in &parts {
            let mut findings = rendered.findings.clone();
            let mut object = json!({ "text": rendered.text() });
            let encoded = tokenizer
                .as_ref()
                .map(|tok| tok.encode(rendered, args.max_len));
            if let Some(encoded) = &encoded {
                findings.extend(encoded.findings.iter().cloned());
                object["input_ids"] = json!(encoded.input_ids);
                object["labels"] = json!(encoded.labels);
            }
            for finding in findings {
                let finding = finding.at(item.source.line, index);
                errors += usize::from(finding.severity == ajuste_shared::Severity::Error);
                eprintln!("{}", finding.display_with(&name));
            }
            if args.json {
                objects.push((*part, object));
            } else {
                let label = if part.is_empty() {
                    String::new()
                } else {
                    format!(", {part}")
                };
                writeln!(
                    stdout,
                    "--- record {index} (line {}{label}) ---",
                    item.source.line
                )?;
                write_marked(&mut stdout, rendered, color, encoded.as_ref())?;
            }
        }
        if args.json {
            let mut line = json!({ "record": index });
            match objects.as_slice() {
                [("", object)] => merge(&mut line, object),
                _ => objects
                    .into_iter()
                    .for_each(|(part, object)| line[part] = object),
            }
            serde_json::to_writer(&mut stdout, &line)?;
            stdout.write_all(b"\n")?;
        }
    }
    let status = summarize_drops(&args.input.file, &loaded);
    Ok(if errors > 0 {
        ExitStatus::Failure
    } else {
        status
    })
}

fn merge(into: &mut Value, from: &Value) {
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        into.extend(from.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Prints the rendered text with trained spans in bold green on a terminal, or between
/// `«` and `»` otherwise, then a token count line when the record was tokenized. Where
/// `--max-len` cut the record, `✂` marks the cut and what follows is printed unmarked (dim on a
/// terminal): it is not trained.
fn write_marked(
    out: &mut impl Write,
    rendered: &Rendered,
    color: bool,
    encoded: Option<&Encoded>,
) -> Result<()> {
    let (kept, dropped) = rendered.split_at(encoded.and_then(|e| e.cut_at).unwrap_or(usize::MAX));
    for seg in &kept {
        match (seg.trained, color) {
            (false, _) => write!(out, "{}", seg.text)?,
            (true, true) => write!(out, "\x1b[1;32m{}\x1b[0m", seg.text)?,
            (true, false) => write!(out, "«{}»", seg.text)?,
        }
    }
    if !dropped.is_empty() {
        let rest: String = dropped.iter().map(|s| s.text.as_str()).collect();
        match color {
            true => write!(out, "\x1b[2m✂{rest}\x1b[0m")?,
            false => write!(out, "✂{rest}")?,
        }
    }
    writeln!(out)?;
    if let Some(encoded) = encoded {
        let total = match encoded.cut_at {
            Some(_) => format!("cut to {} tokens", encoded.input_ids.len()),
            None => format!("{} tokens", encoded.input_ids.len()),
        };
        writeln!(out, "[{total}, {} trained]", encoded.trained_tokens())?;
    }
    Ok(())
}
