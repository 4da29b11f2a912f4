//! What the list of ops amounts to: the fixes to make to the source and the recipe (cleaning,
//! dedup, balancing, template, split, method) the later stages and the bundle use.
//!
//! A fresh session starts from the command line's defaults (`ajuste bundle create` with no
//! flags but a template): the safe cleaning steps, exact dedup, a 5% eval split with seed 42, the
//! method the data's kind calls for. So the studio's first bundle is the CLI's plainest one.

use std::collections::{BTreeMap, BTreeSet};

use ajuste_shared::balance::BalanceConfig;
use ajuste_shared::bundle::Recipe;
use ajuste_shared::clean::Step;
use ajuste_shared::config::{Method, TrainConfig};
use ajuste_shared::dedup::DedupConfig;
use ajuste_shared::formats::FieldMap;
use ajuste_shared::split::SplitConfig;
use ajuste_shared::template::{Builtin, ChatTemplate, Template};
use ajuste_shared::{Format, Kind, LoadOptions};

use crate::protocol::{Op, TemplateChoice, TokenizerRef};

/// The template a fresh session uses (the CLI needs one named; ChatML is the most common).
pub const DEFAULT_TEMPLATE: Builtin = Builtin::Chatml;

/// The session's settings after its ops.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub format: Option<Format>,
    pub fields: FieldMap,
    /// Fixes by record: (pointer, text), in the order they were made.
    pub edits: BTreeMap<usize, Vec<(String, String)>>,
    pub drops: BTreeSet<usize>,
    pub clean: Vec<Step>,
    pub dedup: Option<DedupConfig>,
    pub balance: Option<BalanceConfig>,
    pub template: TemplateChoice,
    pub tokenizer: Option<TokenizerRef>,
    pub split: SplitConfig,
    pub method: Method,
    pub model: Option<String>,
}

/// The method a kind of data is usually trained with (as `ajuste bundle create` picks it).
pub fn default_method(kind: Kind) -> Method {
    match kind {
        Kind::Sft => Method::Sft,
        Kind::Preference => Method::Dpo,
        Kind::Feedback => Method::Kto,
    }
}

impl Settings {
    /// The defaults for data of `kind`.
    pub fn new(kind: Kind) -> Self {
        Settings {
            format: None,
            fields: FieldMap::default(),
            edits: BTreeMap::new(),
            drops: BTreeSet::new(),
            clean: Step::defaults(),
            dedup: Some(DedupConfig::default()),
            balance: None,
            template: TemplateChoice::Builtin(DEFAULT_TEMPLATE),
            tokenizer: None,
            split: SplitConfig {
                eval_fraction: 0.05,
                seed: 42,
            },
            method: default_method(kind),
            model: None,
        }
    }

    /// The settings after `ops`, from the defaults for `kind`.
    pub fn from_ops<'a>(kind: Kind, ops: impl IntoIterator<Item = &'a Op>) -> Self {
        let mut s = Settings::new(kind);
        for op in ops {
            s.apply(op);
        }
        s
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Format(format) => self.format = *format,
            Op::Fields(map) => self.fields.clone_from(map),
            Op::Edit {
                record,
                pointer,
                value,
            } => self
                .edits
                .entry(*record)
                .or_default()
                .push((pointer.clone(), value.clone())),
            Op::Drop { record } => {
                self.drops.insert(*record);
            }
            Op::Clean(steps) => self.clean.clone_from(steps),
            Op::Dedup(config) => self.dedup.clone_from(config),
            Op::Balance(config) => self.balance.clone_from(config),
            Op::Template(choice) => self.template = choice.clone(),
            Op::Tokenizer(tokenizer) => self.tokenizer.clone_from(tokenizer),
            Op::Split(split) => self.split = *split,
            Op::Train { method, model } => {
                self.method = *method;
                self.model.clone_from(model);
            }
        }
    }

    /// How the source is read.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            format: self.format,
            fields: self.fields.clone(),
        }
    }

    /// Whether the source is read with any fix or drop.
    pub fn has_edits(&self) -> bool {
        !self.edits.is_empty() || !self.drops.is_empty()
    }

    /// The training config of the recipe: the method's defaults with the base model.
    pub fn train_config(&self) -> TrainConfig {
        let mut train = TrainConfig::for_method(self.method);
        train.model.clone_from(&self.model);
        train
    }

    /// The recipe a bundle is built with.
    pub fn recipe(&self) -> Recipe {
        Recipe {
            clean: self.clean.clone(),
            dedup: self.dedup.clone(),
            balance: self.balance.clone(),
            split: self.split,
            train: self.train_config(),
        }
    }

    /// The template, compiled; a Hugging Face template that does not compile is an error.
    pub fn template(&self) -> Result<Template, String> {
        template_of(&self.template)
    }
}

/// A template choice as a template.
pub fn template_of(choice: &TemplateChoice) -> Result<Template, String> {
    match choice {
        TemplateChoice::Builtin(b) => Ok(Template::Builtin(*b)),
        TemplateChoice::HuggingFace {
            config_name,
            config,
            jinja,
        } => ChatTemplate::from_tokenizer_config(config.as_bytes(), jinja.as_deref())
            .map(Template::Jinja)
            .map_err(|e| format!("{config_name}: {e}")),
    }
}

/// What an op did, in a few words (the undo button says which change it takes back).
pub fn describe(op: &Op) -> String {
    match op {
        Op::Format(Some(f)) => format!("read as {f}"),
        Op::Format(None) => "detect the format".into(),
        Op::Fields(map) if map.is_empty() => "rename no fields".into(),
        Op::Fields(map) => format!("rename {map}"),
        Op::Edit {
            record, pointer, ..
        } => format!("fix {pointer} of record {record}"),
        Op::Drop { record } => format!("drop record {record}"),
        Op::Clean(steps) if steps.is_empty() => "no cleaning".into(),
        Op::Clean(steps) => format!(
            "clean: {}",
            steps.iter().map(Step::name).collect::<Vec<_>>().join(", ")
        ),
        Op::Dedup(None) => "no deduplication".into(),
        Op::Dedup(Some(c)) if c.near => format!("exact and near dedup at {}", c.threshold),
        Op::Dedup(Some(_)) => "exact dedup".into(),
        Op::Balance(None) => "no balancing".into(),
        Op::Balance(Some(c)) => format!("balance by {}", c.by),
        Op::Template(TemplateChoice::Builtin(b)) => format!("template {b}"),
        Op::Template(TemplateChoice::HuggingFace { config_name, .. }) => {
            format!("template from {config_name}")
        }
        Op::Tokenizer(Some(t)) => format!("tokenizer {}", t.name),
        Op::Tokenizer(None) => "no tokenizer".into(),
        Op::Split(s) => format!("eval split {} (seed {})", s.eval_fraction, s.seed),
        Op::Train { method, .. } => format!("method {method}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_session_is_the_cli_default_recipe() {
        let s = Settings::new(Kind::Preference);
        let r = s.recipe();
        assert_eq!(r.clean, Step::defaults());
        assert_eq!(r.dedup, Some(DedupConfig::default()));
        assert_eq!((r.split.eval_fraction, r.split.seed), (0.05, 42));
        assert_eq!(r.train, TrainConfig::for_method(Method::Dpo));
        assert!(!s.has_edits());
    }

    #[test]
    fn later_ops_win_and_fixes_accumulate() {
        let ops = [
            Op::Clean(vec![]),
            Op::Edit {
                record: 2,
                pointer: "/a".into(),
                value: "x".into(),
            },
            Op::Edit {
                record: 2,
                pointer: "/b".into(),
                value: "y".into(),
            },
            Op::Drop { record: 5 },
            Op::Clean(vec![Step::Nfkc]),
            Op::Train {
                method: Method::Orpo,
                model: Some("m".into()),
            },
        ];
        let s = Settings::from_ops(Kind::Sft, &ops);
        assert_eq!(s.clean, [Step::Nfkc]);
        assert_eq!(s.edits[&2].len(), 2);
        assert!(s.drops.contains(&5) && s.has_edits());
        assert_eq!(s.train_config().model.as_deref(), Some("m"));
        assert_eq!(s.method, Method::Orpo);
    }

    #[test]
    fn a_template_that_does_not_compile_is_an_error_naming_the_file() {
        let choice = TemplateChoice::HuggingFace {
            config_name: "tokenizer_config.json".into(),
            config: r#"{"chat_template": "{% if %}"}"#.into(),
            jinja: None,
        };
        let err = template_of(&choice).unwrap_err();
        assert!(err.starts_with("tokenizer_config.json:"), "{err}");
        assert!(template_of(&TemplateChoice::Builtin(Builtin::Llama3)).is_ok());
    }
}
