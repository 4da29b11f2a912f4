//! `ajuste data ...`: one file per subcommand.

pub mod balance;
pub mod clean;
pub mod convert;
pub mod dedup;
pub mod explain;
pub mod inspect;
pub mod render;
pub mod split;
pub mod stats;
pub mod validate;

use std::io::Write;
use std::path::Path;

use ajuste_shared::container::{self, Container};
use ajuste_shared::formats::{self, Format};
use ajuste_shared::record::Item;
use anyhow::{Context, Result};

use crate::cli::io;

/// The container an output path asks for: `.json` a JSON array, anything else JSONL.
pub fn output_container(path: &Path) -> Container {
    match io::data_extension(path).as_deref() {
        Some("json") => Container::JsonArray,
        _ => Container::Jsonl,
    }
}

/// Writes items in `format` to `output` atomically; refuses to overwrite any of `inputs`.
/// Fails (writing nothing) if a record cannot be expressed in the format, naming it.
pub fn write_items<'a>(
    output: &Path,
    inputs: &[&Path],
    format: Format,
    items: impl IntoIterator<Item = &'a Item>,
) -> Result<usize> {
    let mut values = Vec::new();
    for item in items {
        let value = formats::export_record(format, &item.record).with_context(|| {
            format!(
                "record {} (line {}) cannot be written as {}",
                item.source.index,
                item.source.line,
                format.as_str()
            )
        })?;
        values.push(value);
    }
    let count = values.len();
    let container = output_container(output);
    io::write_atomic(output, inputs, |w: &mut dyn Write| {
        container::write_values(w, container, values)
            .with_context(|| format!("cannot write `{}`", output.display()))
    })?;
    Ok(count)
}
