//! The adapter as one download: a zip of PEFT's two files, ready to unpack into a directory
//! that `PeftModel.from_pretrained` and `ajuste generate --adapter` load.

use std::io::{Cursor, Write};

use ajuste_trainer::adapter::peft::{AdapterFiles, CONFIG_FILE, WEIGHTS_FILE};

/// The zip of `files` (stored, fixed dates: the same adapter gives the same bytes).
pub fn adapter_zip(files: &AdapterFiles) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (name, bytes) in [
        (CONFIG_FILE, &files.config_json),
        (WEIGHTS_FILE, &files.weights),
    ] {
        zip.start_file(name, options).map_err(|e| e.to_string())?;
        zip.write_all(bytes).map_err(|e| e.to_string())?;
    }
    zip.finish()
        .map(Cursor::into_inner)
        .map_err(|e| e.to_string())
}

/// A file name for the adapter of a run: `<model>-<method>-<adapter>-adapter.zip`, with only
/// letters, digits, `.`, `-` and `_`.
pub fn adapter_zip_name(model: &str, method: &str, adapter: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!(
        "{}-{}-{}-adapter.zip",
        clean(model),
        clean(method),
        clean(adapter)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_zip_holds_both_files() {
        let files = AdapterFiles {
            config_json: b"{}".to_vec(),
            weights: vec![1, 2, 3],
        };
        let bytes = adapter_zip(&files).unwrap();
        assert_eq!(bytes, adapter_zip(&files).unwrap());
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut out = Vec::new();
        zip.by_name(WEIGHTS_FILE)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, [1, 2, 3]);
        assert!(zip.by_name(CONFIG_FILE).is_ok());
        assert_eq!(
            adapter_zip_name("my model/v1", "sft", "lora"),
            "my-model-v1-sft-lora-adapter.zip"
        );
    }
}
