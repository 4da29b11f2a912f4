//! Files the studio hands out: the `.ajuste` bundle (with the `ajuste bundle create` line that
//! makes the same bytes), the prepared data in any format, and the edited source.

use std::borrow::Cow;

use ajuste_shared::bundle::{self, SourceFile};
use ajuste_shared::command::{BundleFiles, TemplateArg, bundle_create_args, shell_line};
use ajuste_shared::container::write_values;
use ajuste_shared::formats::export_record;
use ajuste_shared::load::load;
use ajuste_shared::{Container, Format};
use web_time::Instant;

use super::source::stem;
use super::{Engine, Progress, Session, elapsed_ms};
use crate::protocol::{ExportFile, ExportKind, TemplateChoice};

impl Engine {
    /// Makes a file to download: its description and its bytes.
    pub fn export(
        &self,
        kind: ExportKind,
        progress: Progress<'_>,
    ) -> Result<(ExportFile, Vec<u8>), String> {
        let s = self.session()?;
        let start = Instant::now();
        let (name, mime, bytes, command) = match &kind {
            ExportKind::Bundle | ExportKind::TrainingBundle => {
                let (name, bytes) = bundle_file(s, progress)?;
                (name, "application/zip", bytes, Some(command(s)))
            }
            ExportKind::Data { format, container } => {
                progress("Writing the prepared data", 0, 0);
                let (name, bytes) = data_file(s, *format, *container)?;
                (name, "application/json", bytes, None)
            }
            ExportKind::EditedSource => {
                let (name, bytes) = s.input.edited(s.edits())?;
                (name, "application/json", bytes, None)
            }
        };
        let file = ExportFile {
            kind,
            name,
            mime: mime.to_owned(),
            bytes: bytes.len(),
            command,
            needs_edited_source: s.settings.has_edits(),
            ms: elapsed_ms(start),
        };
        Ok((file, bytes))
    }
}

/// The source the bundle is built from, as the command line would read it: the file itself, or
/// the edited source when records were fixed or dropped.
fn bundle_source(s: &Session) -> Result<(String, Cow<'_, [u8]>), String> {
    if s.settings.has_edits() {
        let (name, bytes) = s.input.edited(s.edits())?;
        Ok((name, Cow::Owned(bytes)))
    } else {
        Ok((s.input.name.clone(), Cow::Borrowed(&s.input.bytes[..])))
    }
}

/// Builds the bundle as `ajuste bundle create` does (load the source, then
/// `bundle::build` with the recipe): its file name and bytes.
fn bundle_file(s: &Session, progress: Progress<'_>) -> Result<(String, Vec<u8>), String> {
    if let Some(error) = &s.template.error {
        return Err(error.clone());
    }
    let (source_name, source_bytes) = bundle_source(s)?;
    progress("Building the bundle", 0, 0);
    let opts = s.settings.load_options();
    let loaded = load(&source_bytes[..], &source_name, &opts).map_err(|f| f.message)?;
    let source = SourceFile::new(
        &source_name,
        &source_bytes,
        loaded.format,
        loaded.report.records,
        loaded.report.valid,
    )
    .with_fields(opts.fields);
    let template = s.template.template.clone()?;
    let tokenizer = s
        .template
        .tokenizer
        .as_ref()
        .map(|t| (&t.bytes[..], &t.tokenizer));
    let recipe = s.settings.recipe();
    let built = bundle::build(source, loaded.dataset, &recipe, &template, tokenizer)
        .map_err(|e| e.to_string())?;
    let bytes = built.to_bytes().map_err(|e| e.to_string())?;
    let (_, output) = bundle_names(s);
    Ok((output, bytes))
}

/// The name of the source the bundle is built from (the edited source when there are fixes) and
/// of the bundle file.
pub fn bundle_names(s: &Session) -> (String, String) {
    let source = if s.settings.has_edits() {
        s.input.edited_name()
    } else {
        s.input.name.clone()
    };
    let output = format!("{}.ajuste", stem(&source));
    (source, output)
}

/// The `ajuste bundle create` line that builds the session's bundle, or why there is none.
pub fn command(s: &Session) -> Result<String, String> {
    let (source_name, output) = bundle_names(s);
    let template_arg = match &s.settings.template {
        TemplateChoice::Builtin(b) => TemplateArg::Builtin(*b),
        TemplateChoice::HuggingFace { config_name, .. } => TemplateArg::ChatTemplate(config_name),
    };
    let files = BundleFiles {
        input: &source_name,
        format: s.settings.format,
        fields: Some(&s.settings.fields).filter(|m| !m.is_empty()),
        template: template_arg,
        tokenizer: s.settings.tokenizer.as_ref().map(|t| t.name.as_str()),
        output: &output,
    };
    bundle_create_args(&s.settings.recipe(), &files)
        .map(|args| shell_line(&args))
        .map_err(|e| e.to_string())
}

/// The `ajuste train` line that trains the bundle natively (the base model's directory is the
/// user's to fill in when the session names none).
pub fn train_command(s: &Session) -> String {
    let (_, output) = bundle_names(s);
    let model = s.settings.model.as_deref().unwrap_or("MODEL_DIR");
    shell_line(&[
        "ajuste".into(),
        "train".into(),
        output,
        "--model".into(),
        model.into(),
    ])
}

/// The prepared records written in `format`, as JSONL or a JSON array.
fn data_file(
    s: &Session,
    format: Format,
    container: Container,
) -> Result<(String, Vec<u8>), String> {
    let mut values = Vec::with_capacity(s.prepared().len());
    let mut failed = Vec::new();
    for (source, record) in s.prepared() {
        match export_record(format, record) {
            Ok(value) => values.push(value),
            Err(e) => failed.push((source.index, source.line, e)),
        }
    }
    if let Some((record, line, first)) = failed.first() {
        return Err(format!(
            "{} of {} records cannot be written as {format}; the first is record {record} (line {line}): {first}",
            failed.len(),
            s.prepared().len()
        ));
    }
    let container = match container {
        Container::JsonArray => Container::JsonArray,
        _ => Container::Jsonl,
    };
    let mut out = Vec::new();
    write_values(&mut out, container, values).map_err(|e| e.to_string())?;
    let name = format!(
        "{}.prepared.{}.{}",
        stem(&s.input.name),
        format.as_str(),
        container.as_str()
    );
    Ok((name, out))
}
