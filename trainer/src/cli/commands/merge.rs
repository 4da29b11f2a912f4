//! `ajuste merge`: an adapter folded into its base model, written as a Hugging Face directory
//! (`config.json`, `model.safetensors` in f32) with the base's tokenizer files beside it.

use anyhow::Result;

use super::train::{copy_tokenizer_files, load_model};
use crate::adapter::AdapterSpec;
use crate::cli::args::MergeArgs;
use crate::cli::{ExitStatus, io};
use crate::device::{DeviceKind, device};

pub fn run(args: &MergeArgs) -> Result<ExitStatus> {
    io::create_dir(&args.output, &[&args.model, &args.adapter])?;
    let mut model = load_model(
        &args.model,
        &device(DeviceKind::Cpu)?,
        &AdapterSpec::peft(&args.adapter),
    )?;
    model.merge_and_unload();
    model.save(&args.output)?;
    copy_tokenizer_files(&args.model, &args.output)?;
    eprintln!(
        "merged `{}` into `{}`: {}",
        args.adapter.display(),
        args.model.display(),
        args.output.display()
    );
    Ok(ExitStatus::Success)
}
