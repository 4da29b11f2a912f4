//! A bundle as a job for the engines people run on clusters: TRL (+ accelerate/DeepSpeed),
//! Axolotl and LLaMA-Factory.
//!
//! Each target gets the bundle's records in its native data format, its config file (every key
//! of notes/scaleout.md that applies, named as the tool's own source names them), accelerate
//! configs for one machine with several GPUs and for several machines, a DeepSpeed ZeRO-2
//! config, and a README with the launch lines. The chat template travels as the exact Jinja
//! text where the target takes text (TRL, Axolotl); LLaMA-Factory only takes template names, so
//! ajuste's template is mapped to one and a mismatch is warned about.
//!
//! [`build`] produces every file in memory and checks what the target would refuse first, so a
//! failed export leaves nothing on disk.

mod axolotl;
mod common;
mod llamafactory;
mod trl;

use ajuste_shared::bundle::Bundle;
use ajuste_shared::config::Method;

use super::ExportError;

pub use llamafactory::{TemplateMatch, llamafactory_template};

/// The engine to hand the job to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Hugging Face TRL (`trl sft|dpo|kto --config`), launched through accelerate.
    Trl,
    /// Axolotl (`axolotl train`).
    Axolotl,
    /// LLaMA-Factory (`llamafactory-cli train`).
    LlamaFactory,
}

impl Target {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Trl => "trl",
            Target::Axolotl => "axolotl",
            Target::LlamaFactory => "llamafactory",
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "trl" => Ok(Target::Trl),
            "axolotl" => Ok(Target::Axolotl),
            "llamafactory" => Ok(Target::LlamaFactory),
            _ => Err(format!(
                "unknown target `{s}`; expected one of trl, axolotl, llamafactory"
            )),
        }
    }
}

/// The files of a hand-off, relative to the output directory, and what to tell the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    /// `(relative path, contents)`, in writing order.
    pub files: Vec<(String, Vec<u8>)>,
    /// Warnings for stderr (each is also a line of the README).
    pub warnings: Vec<String>,
}

/// Builds the hand-off of `bundle` to `target`. `model` overrides the bundle's base model.
///
/// # Errors
/// [`ExportError::Input`] when the target cannot run this job: no base model named, a method
/// the target has no trainer or data format for, an empty training split.
pub fn build(bundle: &Bundle, target: Target, model: Option<&str>) -> Result<Handoff, ExportError> {
    let model = model
        .map(str::to_owned)
        .or_else(|| bundle.manifest.train.model.clone())
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| {
            ExportError::Input(
                "the bundle names no base model (`train.model` in its manifest); pass --model \
                 HF_ID_OR_DIR: every target needs one"
                    .into(),
            )
        })?;
    if bundle.train.is_empty() {
        return Err(ExportError::Input(
            "the bundle's training split is empty".into(),
        ));
    }
    bundle
        .manifest
        .train
        .check()
        .map_err(|e| ExportError::Input(format!("the bundle's training config: {e}")))?;
    let job = common::Job::new(bundle, model);
    match target {
        Target::Trl => trl::build(&job),
        Target::Axolotl => axolotl::build(&job),
        Target::LlamaFactory => llamafactory::build(&job),
    }
}

/// The method's name as the user knows it, for messages.
fn method_name(m: Method) -> &'static str {
    m.as_str()
}
