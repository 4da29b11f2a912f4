//! `ajuste export gguf ...` and `ajuste export --to TARGET BUNDLE -o DIR`.
//!
//! Both check every input before writing anything; outputs are written atomically (the GGUF
//! file through a temporary file; a hand-off directory's files are all written to a temporary
//! directory first and then moved in), so a failure leaves no half-written output.

use std::path::{Path, PathBuf};

use ajuste_shared::bundle::Bundle;
use ajuste_shared::template::ChatTemplate;
use anyhow::{Context, Result, anyhow, bail};

use crate::cli::args::{ExportArgs, ExportCommand, ExportGgufArgs, TemplateArgs};
use crate::cli::commands::template;
use crate::cli::{ExitStatus, io};
use crate::export::gguf::GgmlType;
use crate::export::handoff::{self, Target};
use crate::export::{GgufExport, GgufOptions, ollama};

pub fn run(args: &ExportArgs) -> Result<ExitStatus> {
    match &args.command {
        Some(ExportCommand::Gguf(gguf)) => run_gguf(gguf),
        None => run_handoff(args),
    }
}

fn parse_type(s: &str) -> Result<GgmlType> {
    match s.to_ascii_lowercase().as_str() {
        "f16" => Ok(GgmlType::F16),
        "q8_0" | "q8" => Ok(GgmlType::Q8_0),
        "f32" => Ok(GgmlType::F32),
        other => bail!("unknown --type `{other}`; expected f16, q8_0 or f32"),
    }
}

fn read_bundle(path: &Path) -> Result<Bundle> {
    let file = io::open(path)?;
    Bundle::read(std::io::BufReader::new(file))
        .with_context(|| format!("cannot read bundle `{}`", path.display()))
}

/// The training template: from the flags, the bundle, or the model's tokenizer files.
fn resolve_template(args: &ExportGgufArgs) -> Result<ChatTemplate> {
    if args.template.is_some() || args.chat_template.is_some() {
        let flags = TemplateArgs {
            template: args.template.clone(),
            chat_template: args.chat_template.clone(),
        };
        return Ok(template::resolve(&flags)?.chat().clone());
    }
    if let Some(bundle) = &args.bundle {
        let t = read_bundle(bundle)?.manifest.template;
        let mut chat = ChatTemplate::new(t.chat_template, t.bos_token, t.eos_token);
        chat.name = Some(t.name);
        return Ok(chat);
    }
    let dir = args.tokenizer.as_deref().unwrap_or(&args.model);
    let has_template = dir.join("chat_template.jinja").is_file()
        || std::fs::read(dir.join("tokenizer_config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v.get("chat_template").is_some_and(|t| !t.is_null()));
    if !has_template {
        bail!(
            "`{}` has no chat template (tokenizer_config.json `chat_template` or \
             chat_template.jinja); give the one the model was trained with: --template NAME, \
             --chat-template tokenizer_config.json or --bundle BUNDLE.ajuste",
            dir.display()
        );
    }
    Ok(template::from_hf(dir)?.chat().clone())
}

/// The path Ollama's `FROM` should name: `./file` when the Modelfile sits beside it.
fn from_path(gguf: &Path, ollama_dir: &Path) -> Result<String> {
    let gguf_abs = gguf
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", gguf.display()))?;
    let dir_abs = ollama_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", ollama_dir.display()))?;
    let name = gguf_abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(if gguf_abs.parent() == Some(dir_abs.as_path()) {
        format!("./{name}")
    } else {
        gguf_abs.display().to_string()
    })
}

fn run_gguf(args: &ExportGgufArgs) -> Result<ExitStatus> {
    let ty = parse_type(&args.ty)?;
    let template = resolve_template(args)?;
    let mut inputs: Vec<&Path> = vec![&args.model];
    if let Some(a) = &args.adapter {
        inputs.push(a);
    }
    io::ensure_not_input(&args.output, &inputs)?;
    let opts = GgufOptions {
        model_dir: args.model.clone(),
        adapter: args.adapter.clone(),
        tokenizer_dir: args.tokenizer.clone(),
        ty,
        template: template.clone(),
        name: None,
    };
    let export = GgufExport::prepare(&opts).context("cannot export this model to GGUF")?;
    for w in &export.warnings {
        eprintln!("warning: {w}");
    }
    for name in &export.fell_back_to_f16 {
        eprintln!("note: `{name}` rows are not whole Q8_0 blocks of 32; written as f16");
    }
    // The Modelfile is decided before the GGUF is written, so a bad --ollama fails first.
    let ollama_dir = match &args.ollama {
        Some(dir) => {
            io::create_dir(dir, &inputs)?;
            Some(dir.clone())
        }
        None => None,
    };
    io::write_atomic(&args.output, &inputs, |w| {
        export.write(w).map_err(|e| anyhow!(e))
    })?;
    eprintln!(
        "wrote {} ({} tensors, {}, architecture {}, {} tokens)",
        args.output.display(),
        export.tensors().len(),
        args.ty.to_ascii_lowercase(),
        export.arch,
        export.vocab.tokens.len()
    );
    if let Some(dir) = ollama_dir {
        let num_ctx = match &args.bundle {
            Some(b) => read_bundle(b)?.manifest.train.max_length,
            None => export.config().max_position_embeddings,
        };
        let from = from_path(&args.output, &dir)?;
        let mf = ollama::modelfile(&from, &template, export.vocab.adds_bos(), num_ctx);
        for w in &mf.warnings {
            eprintln!("warning: {w}");
        }
        let path = dir.join("Modelfile");
        io::write_atomic(&path, &inputs, |w| Ok(w.write_all(mf.text.as_bytes())?))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitStatus::Success)
}

fn run_handoff(args: &ExportArgs) -> Result<ExitStatus> {
    let (Some(to), Some(bundle_path), Some(out)) = (&args.to, &args.bundle, &args.output) else {
        bail!("give `export gguf ...` or `export --to TARGET BUNDLE.ajuste -o DIR`");
    };
    let target: Target = to.parse().map_err(|e: String| anyhow!(e))?;
    let bundle = read_bundle(bundle_path)?;
    let handoff = handoff::build(&bundle, target, args.model.as_deref())
        .with_context(|| format!("cannot hand this bundle to {}", target.as_str()))?;
    io::ensure_not_input(out, &[bundle_path])?;
    if out.exists() && !out.is_dir() {
        bail!("`{}` exists and is not a directory", out.display());
    }
    write_dir(out, &handoff.files)?;
    for w in &handoff.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "wrote {} files for {} into {} (launch lines in README.md)",
        handoff.files.len(),
        target.as_str(),
        out.display()
    );
    Ok(ExitStatus::Success)
}

/// Writes every file into a temporary directory beside `out`, then moves them in: either all
/// files land or none does.
fn write_dir(out: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write `{}`: the directory `{}` does not exist",
            out.display(),
            parent.display()
        );
    }
    let staging = crate::cli::io::output_builder(".ajuste-export-", true)
        .tempdir_in(&parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in `{}`",
                parent.display()
            )
        })?;
    for (rel, bytes) in files {
        let path = staging.path().join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        std::fs::write(&path, bytes)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    if !out.exists() {
        let staged = staging.keep();
        std::fs::rename(&staged, out)
            .with_context(|| format!("cannot create `{}`", out.display()))?;
        return Ok(());
    }
    for (rel, _) in files {
        let to = out.join(rel);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        std::fs::rename(staging.path().join(rel), &to)
            .with_context(|| format!("cannot write `{}`", to.display()))?;
    }
    Ok(())
}
