//! The `ajuste bundle create` command line that builds a given bundle.
//!
//! The studio builds bundles in the browser and shows, next to its download button, the command
//! that makes the same file natively; the CLI's end-to-end tests run that command and compare the
//! bytes. Both come from [`bundle_create_args`], so the command shown is the one tested.
//!
//! Not every [`Recipe`] has a command line: the CLI exposes a subset of the parameters (for
//! example the repetition rules only with their defaults). Such a recipe gives a
//! [`CommandError`] that says which choice has no flag, instead of a command that would build a
//! different bundle.

use std::borrow::Cow;

use crate::balance::{BalanceConfig, DEFAULT_BALANCE_SEED};
use crate::bundle::Recipe;
use crate::clean::{DEFAULT_REFUSAL_PHRASES, PiiKind, Step};
use crate::config::TrainConfig;
use crate::dedup::DedupConfig;
use crate::formats::field_map::pairs_text;
use crate::formats::{FieldMap, Format};
use crate::template::Builtin;

/// The template as the command names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateArg<'a> {
    /// `--template NAME`.
    Builtin(Builtin),
    /// `--chat-template PATH`: a tokenizer_config.json (a `chat_template.jinja` beside it wins
    /// over the template inside, as the CLI reads them).
    ChatTemplate(&'a str),
}

/// The files and names a command refers to; the recipe holds everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleFiles<'a> {
    /// The dataset file (a name or a path).
    pub input: &'a str,
    /// `--format`, when the format is forced rather than detected.
    pub format: Option<Format>,
    /// `--map` and `--role`, when fields or roles are renamed.
    pub fields: Option<&'a FieldMap>,
    pub template: TemplateArg<'a>,
    /// `--tokenizer`: a tokenizer.json.
    pub tokenizer: Option<&'a str>,
    /// `-o`: the bundle to write.
    pub output: &'a str,
}

/// A recipe choice that `ajuste bundle create` has no flag for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error(
        "the command line always cleans: without a cleaning flag it runs the safe steps (nfkc, zero-width, whitespace)"
    )]
    NoCleaning,
    #[error(
        "the command line runs cleaning steps in their recommended order, once each; `{0}` is out of order or repeated"
    )]
    StepOrder(&'static str),
    #[error("the command line has no flag for the `{step}` step with {what}; only its defaults")]
    StepParameters { step: &'static str, what: String },
    #[error("the command line always removes exact duplicates when it deduplicates")]
    NoExactDedup,
    #[error(
        "the command line cannot rename `{0}`: a name with `,` or `=`, or blanks around it, has no FROM=TO spelling"
    )]
    Rename(String),
    #[error(
        "the command line sets only the method and the base model; the other training settings must be the defaults of `{0}`"
    )]
    TrainSettings(String),
}

/// `ajuste bundle create ...` as arguments (the first is `ajuste`), or why the recipe has no
/// command line. Defaults are spelled out where they are part of the recipe (cleaning steps,
/// split, method) so the command reads on its own; dedup parameters appear when they differ.
pub fn bundle_create_args(
    recipe: &Recipe,
    files: &BundleFiles<'_>,
) -> Result<Vec<String>, CommandError> {
    let mut args: Vec<String> = ["ajuste", "bundle", "create", files.input]
        .map(str::to_owned)
        .to_vec();
    if let Some(format) = files.format {
        push(&mut args, "--format", format.as_str());
    }
    if let Some(map) = files.fields {
        rename_args(map, &mut args)?;
    }
    match files.template {
        TemplateArg::Builtin(b) => push(&mut args, "--template", b.as_str()),
        TemplateArg::ChatTemplate(path) => push(&mut args, "--chat-template", path),
    }
    if let Some(tokenizer) = files.tokenizer {
        push(&mut args, "--tokenizer", tokenizer);
    }
    clean_args(&recipe.clean, &mut args)?;
    dedup_args(recipe.dedup.as_ref(), &mut args)?;
    if let Some(balance) = &recipe.balance {
        balance_args(balance, &mut args);
    }
    push(
        &mut args,
        "--eval-fraction",
        &recipe.split.eval_fraction.to_string(),
    );
    push(&mut args, "--seed", &recipe.split.seed.to_string());
    train_args(&recipe.train, &mut args)?;
    push(&mut args, "-o", files.output);
    Ok(args)
}

/// `--map FROM=TO,...` and `--role FROM=TO,...`, as [`FieldMap::parse_pairs`] reads them back.
fn rename_args(map: &FieldMap, args: &mut Vec<String>) -> Result<(), CommandError> {
    for (flag, pairs) in [("--map", &map.fields), ("--role", &map.roles)] {
        if pairs.is_empty() {
            continue;
        }
        let unspeakable = pairs
            .iter()
            .flat_map(|(from, to)| [from, to])
            .find(|name| name.contains([',', '=']) || name.trim() != name.as_str());
        if let Some(name) = unspeakable {
            return Err(CommandError::Rename(name.clone()));
        }
        push(args, flag, &pairs_text(pairs, ","));
    }
    Ok(())
}

fn push(args: &mut Vec<String>, flag: &str, value: &str) {
    args.push(flag.to_owned());
    args.push(value.to_owned());
}

/// The flags of the cleaning steps. The CLI sorts the steps it is given by [`Step::rank`] and
/// takes each once, so a recipe in any other order has no command line.
fn clean_args(steps: &[Step], args: &mut Vec<String>) -> Result<(), CommandError> {
    if steps.is_empty() {
        return Err(CommandError::NoCleaning);
    }
    if steps.windows(2).any(|w| w[0].rank() >= w[1].rank()) {
        let out = steps
            .windows(2)
            .find(|w| w[0].rank() >= w[1].rank())
            .map_or("", |w| w[1].name());
        return Err(CommandError::StepOrder(out));
    }
    for step in steps {
        step_args(step, args)?;
    }
    Ok(())
}

fn step_args(step: &Step, args: &mut Vec<String>) -> Result<(), CommandError> {
    let only_defaults = |what: &str| CommandError::StepParameters {
        step: step.name(),
        what: what.to_owned(),
    };
    match step {
        Step::Nfkc => args.push("--nfkc".into()),
        Step::ZeroWidth => args.push("--zero-width".into()),
        Step::StripHtml => args.push("--strip-html".into()),
        Step::Whitespace => args.push("--whitespace".into()),
        Step::RepairTurns => args.push("--repair-turns".into()),
        Step::RedactPii { kinds } => {
            if kinds.as_slice() != PiiKind::ALL {
                return Err(only_defaults("a chosen set of kinds of personal data"));
            }
            args.push("--redact-pii".into());
        }
        Step::Repetition { .. } => {
            if Some(step) != Step::with_defaults("repetition").as_ref() {
                return Err(only_defaults("changed repetition limits"));
            }
            args.push("--drop-repetitive".into());
        }
        Step::DropRefusals { phrases } => {
            args.push("--drop-refusals".into());
            if !phrases.iter().eq(DEFAULT_REFUSAL_PHRASES.iter()) {
                if phrases.is_empty() {
                    return Err(only_defaults("no phrases"));
                }
                for phrase in phrases {
                    push(args, "--refusal-phrase", phrase);
                }
            }
        }
        Step::Language { allow, min_chars } => {
            let defaults = Step::with_defaults("language");
            let default_min = match defaults {
                Some(Step::Language { min_chars, .. }) => min_chars,
                _ => 0,
            };
            if *min_chars != default_min {
                return Err(only_defaults(&format!(
                    "a minimum of {min_chars} characters to judge"
                )));
            }
            // The flag splits on commas, so a code holding one could not round-trip (and is not a
            // language code anyway; the step's own check refuses it).
            if allow.is_empty() || allow.iter().any(|code| code.contains(',')) {
                return Err(only_defaults("this list of languages"));
            }
            push(args, "--language", &allow.join(","));
        }
        Step::Length {
            min_chars,
            max_chars,
        } => {
            if min_chars.is_none() && max_chars.is_none() {
                return Err(only_defaults("no bound"));
            }
            if let Some(min) = min_chars {
                push(args, "--min-chars", &min.to_string());
            }
            if let Some(max) = max_chars {
                push(args, "--max-chars", &max.to_string());
            }
        }
    }
    Ok(())
}

fn dedup_args(dedup: Option<&DedupConfig>, args: &mut Vec<String>) -> Result<(), CommandError> {
    let Some(cfg) = dedup else {
        args.push("--no-dedup".into());
        return Ok(());
    };
    if !cfg.exact {
        return Err(CommandError::NoExactDedup);
    }
    let default = DedupConfig::default();
    if cfg.near {
        args.push("--near".into());
    }
    if cfg.threshold != default.threshold {
        push(args, "--threshold", &cfg.threshold.to_string());
    }
    if cfg.ngram != default.ngram {
        push(args, "--ngram", &cfg.ngram.to_string());
    }
    if cfg.permutations != default.permutations {
        push(args, "--permutations", &cfg.permutations.to_string());
    }
    if cfg.bands != default.bands {
        push(args, "--bands", &cfg.bands.to_string());
    }
    if cfg.seed != default.seed {
        push(args, "--dedup-seed", &cfg.seed.to_string());
    }
    Ok(())
}

/// The balancing flags; the group key is spelled out, the seed only when it is not the default.
fn balance_args(cfg: &BalanceConfig, args: &mut Vec<String>) {
    push(args, "--balance-by", &cfg.by.to_string());
    if let Some(n) = cfg.max_per_group {
        push(args, "--max-per-group", &n.to_string());
    }
    if let Some(r) = cfg.max_ratio {
        push(args, "--max-ratio", &r.to_string());
    }
    if cfg.seed != DEFAULT_BALANCE_SEED {
        push(args, "--balance-seed", &cfg.seed.to_string());
    }
}

fn train_args(train: &TrainConfig, args: &mut Vec<String>) -> Result<(), CommandError> {
    let method = train.method();
    let mut expected = TrainConfig::for_method(method);
    expected.model.clone_from(&train.model);
    if &expected != train {
        return Err(CommandError::TrainSettings(method.to_string()));
    }
    push(args, "--method", method.as_str());
    if let Some(model) = &train.model {
        push(args, "--model", model);
    }
    Ok(())
}

/// One argument as a POSIX shell reads it back: as it is when it holds only safe characters,
/// else in single quotes (a quote inside becomes `'\''`).
pub fn shell_quote(arg: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./,:=@%+".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        Cow::Borrowed(arg)
    } else {
        Cow::Owned(format!("'{}'", arg.replace('\'', r"'\''")))
    }
}

/// The arguments as one shell command line.
pub fn shell_line(args: &[String]) -> String {
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Method;
    use crate::split::SplitConfig;

    fn recipe() -> Recipe {
        Recipe {
            clean: Step::defaults(),
            dedup: Some(DedupConfig::default()),
            balance: None,
            split: SplitConfig {
                eval_fraction: 0.05,
                seed: 42,
            },
            train: TrainConfig::for_method(Method::Sft),
        }
    }

    fn files() -> BundleFiles<'static> {
        BundleFiles {
            input: "chats.jsonl",
            format: None,
            fields: None,
            template: TemplateArg::Builtin(Builtin::Chatml),
            tokenizer: None,
            output: "chats.ajuste",
        }
    }

    fn line(recipe: &Recipe, files: &BundleFiles<'_>) -> String {
        shell_line(&bundle_create_args(recipe, files).expect("has a command line"))
    }

    #[test]
    fn the_defaults_spell_out_steps_split_and_method() {
        assert_eq!(
            line(&recipe(), &files()),
            "ajuste bundle create chats.jsonl --template chatml --nfkc --zero-width --whitespace \
             --eval-fraction 0.05 --seed 42 --method sft -o chats.ajuste"
        );
    }

    #[test]
    fn every_choice_with_a_flag_gets_it() {
        let mut r = recipe();
        r.clean = vec![
            Step::StripHtml,
            Step::Nfkc,
            Step::RepairTurns,
            Step::with_defaults("redact-pii").unwrap(),
            Step::DropRefusals {
                phrases: vec!["I can't".into(), "as an AI".into()],
            },
            Step::Language {
                allow: vec!["eng".into(), "por".into()],
                min_chars: 50,
            },
            Step::Length {
                min_chars: Some(10),
                max_chars: None,
            },
            Step::with_defaults("repetition").unwrap(),
        ];
        r.dedup = Some(DedupConfig {
            near: true,
            threshold: 0.7,
            ngram: 3,
            ..DedupConfig::default()
        });
        r.balance = Some(BalanceConfig {
            by: crate::balance::GroupBy::Field("topic".into()),
            max_per_group: Some(100),
            max_ratio: Some(1.5),
            seed: 7,
        });
        r.split.eval_fraction = 0.2;
        r.train.model = Some("HuggingFaceTB/SmolLM2-135M".into());
        let f = BundleFiles {
            format: Some(Format::Sharegpt),
            template: TemplateArg::ChatTemplate("my model/tokenizer_config.json"),
            tokenizer: Some("tokenizer.json"),
            ..files()
        };
        assert_eq!(
            line(&r, &f),
            "ajuste bundle create chats.jsonl --format sharegpt \
             --chat-template 'my model/tokenizer_config.json' --tokenizer tokenizer.json \
             --strip-html --nfkc --repair-turns --redact-pii --drop-refusals \
             --refusal-phrase 'I can'\\''t' --refusal-phrase 'as an AI' --language eng,por \
             --min-chars 10 --drop-repetitive --near --threshold 0.7 --ngram 3 \
             --balance-by topic --max-per-group 100 --max-ratio 1.5 --balance-seed 7 \
             --eval-fraction 0.2 --seed 42 --method sft --model HuggingFaceTB/SmolLM2-135M \
             -o chats.ajuste"
        );
    }

    #[test]
    fn renames_are_flags_that_read_back_as_the_same_map() {
        let map = FieldMap::new(
            FieldMap::parse_pairs("question=instruction,answer=output").unwrap(),
            FieldMap::parse_pairs("bot=assistant").unwrap(),
        )
        .unwrap();
        let f = BundleFiles {
            fields: Some(&map),
            ..files()
        };
        let args = bundle_create_args(&recipe(), &f).unwrap();
        assert_eq!(
            shell_line(&args[..8]),
            "ajuste bundle create chats.jsonl --map question=instruction,answer=output --role bot=assistant"
        );
        let back = FieldMap::new(
            FieldMap::parse_pairs(&args[5]).unwrap(),
            FieldMap::parse_pairs(&args[7]).unwrap(),
        );
        assert_eq!(back.unwrap(), map);
        let odd = FieldMap::new(vec![("a,b".into(), "output".into())], vec![]).unwrap();
        let f = BundleFiles {
            fields: Some(&odd),
            ..files()
        };
        assert_eq!(
            bundle_create_args(&recipe(), &f),
            Err(CommandError::Rename("a,b".into()))
        );
    }

    #[test]
    fn default_refusal_phrases_need_no_list_and_no_dedup_is_a_flag() {
        let mut r = recipe();
        r.clean.push(Step::with_defaults("drop-refusals").unwrap());
        r.dedup = None;
        let args = bundle_create_args(&r, &files()).unwrap();
        assert!(args.contains(&"--drop-refusals".to_owned()));
        assert!(!args.contains(&"--refusal-phrase".to_owned()));
        assert!(args.contains(&"--no-dedup".to_owned()));
    }

    #[test]
    fn choices_without_a_flag_say_so() {
        let mut r = recipe();
        r.clean.clear();
        assert_eq!(
            bundle_create_args(&r, &files()),
            Err(CommandError::NoCleaning)
        );

        let mut r = recipe();
        r.clean.reverse();
        assert!(matches!(
            bundle_create_args(&r, &files()),
            Err(CommandError::StepOrder(_))
        ));

        let mut r = recipe();
        r.clean = vec![Step::RedactPii {
            kinds: vec![PiiKind::ALL[0]],
        }];
        let err = bundle_create_args(&r, &files()).unwrap_err();
        assert!(err.to_string().contains("redact-pii"), "{err}");

        let mut r = recipe();
        r.dedup = Some(DedupConfig {
            exact: false,
            near: true,
            ..DedupConfig::default()
        });
        assert_eq!(
            bundle_create_args(&r, &files()),
            Err(CommandError::NoExactDedup)
        );

        let mut r = recipe();
        r.train.learning_rate = 1e-3;
        assert_eq!(
            bundle_create_args(&r, &files()),
            Err(CommandError::TrainSettings("sft".into()))
        );
    }

    #[test]
    fn quoting_round_trips_through_a_posix_shell_reading() {
        assert_eq!(shell_quote("plain-name_1.jsonl"), "plain-name_1.jsonl");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }
}
