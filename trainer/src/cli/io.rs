//! File plumbing for commands: opening inputs, and writing outputs atomically without ever
//! touching an input.
//!
//! Every output goes to a temporary file in the destination's directory and is renamed over the
//! destination only once it is complete, so an interrupted run leaves either the old file or the
//! new one, never half of one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Opens an input file with an error that names it.
pub fn open(path: &Path) -> Result<File> {
    let file = File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        bail!("`{}` is a directory; expected a file", path.display());
    }
    Ok(file)
}

/// Reads a whole (small) input file: configs, tokenizers, templates.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// The name used for an input in messages: the path as the user gave it.
pub fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// A path made absolute and resolved through symlinks, even when the file does not exist yet
/// (then its parent is resolved), so two spellings of one file compare equal.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?,
    };
    Some(parent.join(path.file_name()?))
}

/// Refuses an output path that is one of the inputs.
pub fn ensure_not_input(output: &Path, inputs: &[&Path]) -> Result<()> {
    let out = resolved(output);
    for input in inputs {
        if out.is_some() && out == resolved(input) {
            bail!(
                "refusing to write `{}`: it is an input of this command; choose another output path",
                output.display()
            );
        }
    }
    Ok(())
}

/// Writes `output` atomically with `write`, after checking it is none of `inputs`. When the
/// output name ends in `.gz` the bytes are gzip-compressed.
pub fn write_atomic(
    output: &Path,
    inputs: &[&Path],
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    ensure_not_input(output, inputs)?;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write `{}`: the directory `{}` does not exist",
            output.display(),
            dir.display()
        );
    }
    let tmp = output_builder(".ajuste-", false)
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in `{}`", dir.display()))?;
    {
        let mut buffered = BufWriter::new(tmp.as_file());
        if is_gzip_path(output) {
            let mut gz =
                flate2::write::GzEncoder::new(&mut buffered, flate2::Compression::default());
            write(&mut gz)?;
            gz.finish()
                .with_context(|| format!("cannot write `{}`", output.display()))?;
        } else {
            write(&mut buffered)?;
        }
        buffered
            .flush()
            .with_context(|| format!("cannot write `{}`", output.display()))?;
    }
    tmp.as_file().sync_all().ok();
    tmp.persist(output)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write `{}`", output.display()))?;
    Ok(())
}

/// A builder for the temporary file (`folder: false`) or folder an output is staged in.
/// tempfile makes them owner-only (0600, 0700); an output, once renamed into place, should get
/// the mode any other new file or folder gets: 0666 or 0777 less the umask.
pub fn output_builder(prefix: &str, folder: bool) -> tempfile::Builder<'_, '_> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if folder { 0o777 } else { 0o666 };
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = folder;
    builder
}

/// Creates an output directory (and parents) for commands that write several files.
pub fn create_dir(dir: &Path, inputs: &[&Path]) -> Result<()> {
    ensure_not_input(dir, inputs)?;
    if dir.exists() && !dir.is_dir() {
        bail!("`{}` exists and is not a directory", dir.display());
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory `{}`", dir.display()))
}

pub fn is_gzip_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The extension that decides an output's container, looking through a trailing `.gz`.
pub fn data_extension(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    Path::new(name).extension()?.to_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_equal_to_an_input_is_refused_even_through_another_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("data.jsonl");
        std::fs::write(&input, "{}\n").unwrap();
        let other_spelling = dir.path().join(".").join("data.jsonl");
        let err = write_atomic(&other_spelling, &[&input], |w| Ok(w.write_all(b"x")?)).unwrap_err();
        assert!(err.to_string().contains("refusing to write"), "{err}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "{}\n");
    }

    #[test]
    fn a_failed_write_leaves_the_old_output_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        std::fs::write(&out, "old").unwrap();
        let result = write_atomic(&out, &[], |w| {
            w.write_all(b"partial")?;
            bail!("interrupted")
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "the temporary file must be removed");
    }

    #[cfg(unix)]
    #[test]
    fn outputs_get_the_modes_of_any_new_file_not_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let out = dir.path().join("out.json");
        write_atomic(&out, &[], |w| Ok(w.write_all(b"{}")?)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out), mode(&plain));
    }

    #[test]
    fn gz_outputs_are_compressed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl.gz");
        write_atomic(&out, &[], |w| Ok(w.write_all(b"hello\n")?)).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
        assert_eq!(data_extension(&out).as_deref(), Some("jsonl"));
    }
}
