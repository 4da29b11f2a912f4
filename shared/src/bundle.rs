//! The `.ajuste` bundle: prepared data, its template and the resolved training config in one file.
//!
//! A bundle is a zip holding, in this order:
//! - `manifest.json`: schema version, source hash, cleaning steps, dedup parameters, template
//!   text, tokenizer hash, split, statistics, the training config and the hash of every file;
//! - `train.jsonl`, `eval.jsonl`: records in canonical form (TRL's conversational form);
//! - `chat_template.jinja`: the exact template text, for tools that take a file.
//!
//! Building is deterministic: the same input bytes and recipe give a byte-identical bundle
//! (fixed entry order, fixed timestamps and permissions, maps kept sorted), whether the CLI or
//! the studio in the browser builds it; both call [`build`] and [`Bundle::to_bytes`].

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::balance::{self, BalanceConfig, BalanceError, GroupBy, GroupCount};
use crate::clean::{self, Step};
use crate::config::TrainConfig;
use crate::dedup::{self, DedupConfig};
use crate::formats::{FieldMap, Format};
use crate::record::{Dataset, Item, Kind, Record};
use crate::split::{self, SplitConfig};
use crate::stats::{self, Stats};
use crate::template::Template;
use crate::tokenize::TextTokenizer;

/// Version of the manifest schema; readers refuse newer ones.
pub const SCHEMA_VERSION: u32 = 1;

const MANIFEST: &str = "manifest.json";
const TRAIN: &str = "train.jsonl";
const EVAL: &str = "eval.jsonl";
const TEMPLATE: &str = "chat_template.jinja";

/// The input file a bundle was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFile {
    pub name: String,
    pub sha256: String,
    pub format: Format,
    /// Records in the input, including those with errors.
    pub records: usize,
    /// Records that passed validation.
    pub valid: usize,
    /// The fields and roles renamed while reading it (`--map`, `--role`).
    #[serde(default, skip_serializing_if = "FieldMap::is_empty")]
    pub fields: FieldMap,
}

impl SourceFile {
    /// Describes an input from its bytes and what loading it found.
    pub fn new(name: &str, bytes: &[u8], format: Format, records: usize, valid: usize) -> Self {
        SourceFile {
            name: name.to_string(),
            sha256: sha256_hex(bytes),
            format,
            records,
            valid,
            fields: FieldMap::default(),
        }
    }

    /// The same, read with `fields` renamed.
    pub fn with_fields(self, fields: FieldMap) -> Self {
        SourceFile { fields, ..self }
    }
}

/// What to do to the loaded records before packing them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub clean: Vec<Step>,
    /// `None` skips deduplication.
    pub dedup: Option<DedupConfig>,
    /// Caps on the records per label or topic, after deduplication; `None` keeps every record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<BalanceConfig>,
    pub split: SplitConfig,
    pub train: TrainConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleaningInfo {
    pub steps: Vec<Step>,
    pub records_in: usize,
    pub records_out: usize,
    /// Every record a step dropped, with the reason.
    pub drops: Vec<clean::Drop>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupInfo {
    pub config: DedupConfig,
    pub exact_duplicates: usize,
    pub near_duplicates: usize,
    /// Source line of every removed record, with the line of the record it duplicates.
    pub removed: Vec<RemovedDuplicate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RemovedDuplicate {
    pub line: usize,
    pub duplicate_of_line: usize,
    pub similarity: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceInfo {
    pub config: BalanceConfig,
    /// Every group with its records before and after.
    pub groups: Vec<GroupCount>,
    /// Source line of every record left out, with its group.
    pub removed: Vec<RemovedByBalance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedByBalance {
    pub line: usize,
    pub group: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateInfo {
    pub name: String,
    pub chat_template: String,
    pub bos_token: String,
    pub eos_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    pub sha256: String,
    pub vocab_size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    pub eval_fraction: f64,
    pub seed: u64,
    pub train: usize,
    pub eval: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub sha256: String,
    pub bytes: usize,
    pub records: usize,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub created_by: String,
    pub kind: Kind,
    pub source: SourceFile,
    pub cleaning: CleaningInfo,
    pub dedup: Option<DedupInfo>,
    /// Absent when the records were not balanced (and in bundles made before balancing existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<BalanceInfo>,
    pub template: TemplateInfo,
    pub tokenizer: Option<TokenizerInfo>,
    pub split: SplitInfo,
    /// Statistics of the training part.
    pub stats: Stats,
    pub train: TrainConfig,
    pub files: BTreeMap<String, FileInfo>,
}

/// A bundle in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub manifest: Manifest,
    pub train: Vec<Record>,
    pub eval: Vec<Record>,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the dataset is {found} data but the method `{method}` trains on {expected} data")]
    KindMismatch {
        method: String,
        expected: Kind,
        found: Kind,
    },
    #[error("no records are left after cleaning, deduplication and balancing; nothing to train on")]
    Empty,
    #[error("cannot balance: {0}")]
    Balance(#[from] BalanceError),
    #[error("invalid split: {0}")]
    Split(#[from] split::SplitError),
    #[error("invalid training config: {0}")]
    Config(String),
    #[error("not an ajuste bundle (zip): {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("the bundle has no `{0}`")]
    MissingEntry(&'static str),
    #[error("`{entry}` in the bundle is invalid: {message}")]
    InvalidEntry { entry: String, message: String },
    #[error("`{entry}` line {line}: {message}")]
    InvalidRecord {
        entry: String,
        line: usize,
        message: String,
    },
    #[error("`{0}` does not match the hash in the manifest: the bundle was modified or is damaged")]
    HashMismatch(String),
    #[error(
        "this bundle has schema version {0}; this ajuste reads up to {SCHEMA_VERSION}: upgrade ajuste"
    )]
    NewerSchema(u32),
    #[error("cannot write the bundle: {0}")]
    Io(#[from] std::io::Error),
}

/// Prepares `dataset` (already loaded and validated from `source`) as the recipe says and packs it.
/// `tokenizer` is the tokenizer.json's bytes and the tokenizer built from them.
pub fn build(
    source: SourceFile,
    mut dataset: Dataset,
    recipe: &Recipe,
    template: &Template,
    tokenizer: Option<(&[u8], &TextTokenizer)>,
) -> Result<Bundle, BundleError> {
    recipe.train.check().map_err(BundleError::Config)?;
    let expected = recipe.train.method().kind();
    if let Some(found) = dataset.kind()
        && found != expected
    {
        return Err(BundleError::KindMismatch {
            method: recipe.train.method().to_string(),
            expected,
            found,
        });
    }
    let records_in = dataset.len();
    let clean_report = clean::apply(&recipe.clean, &mut dataset);
    let cleaning = CleaningInfo {
        steps: recipe.clean.clone(),
        records_in,
        records_out: dataset.len(),
        drops: clean_report.drops,
    };
    let dedup = recipe
        .dedup
        .as_ref()
        .map(|cfg| remove_duplicates(&mut dataset, cfg));
    let balance = recipe
        .balance
        .as_ref()
        .map(|cfg| apply_balance(&mut dataset, cfg))
        .transpose()?;
    if dataset.is_empty() {
        return Err(BundleError::Empty);
    }
    let parts = split::split(dataset.len(), recipe.split)?;
    // How the source file laid records out (formats::LAYOUT_KEY) means nothing to a trainer;
    // the bundle's records are pure canonical form, readable by TRL as they are.
    let pick = |indices: &[usize]| -> Vec<Record> {
        indices
            .iter()
            .map(|&i| {
                let mut record = dataset.items[i].record.clone();
                record.meta_mut().remove(crate::formats::LAYOUT_KEY);
                record
            })
            .collect()
    };
    let (train, eval) = (pick(&parts.train), pick(&parts.eval));
    let train_set = Dataset {
        name: dataset.name.clone(),
        items: parts
            .train
            .iter()
            .map(|&i| dataset.items[i].clone())
            .collect(),
    };
    let token_lengths = tokenizer.map(|(_, tok)| {
        train
            .iter()
            .map(|r| stats::token_length(template, tok, r))
            .collect::<Vec<_>>()
    });
    let stats = stats::compute(
        &train_set,
        token_lengths.as_deref(),
        Some(recipe.train.max_length),
        recipe.balance.as_ref().map_or(&GroupBy::Auto, |b| &b.by),
    );
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        created_by: format!("ajuste {}", env!("CARGO_PKG_VERSION")),
        kind: expected,
        source,
        cleaning,
        dedup,
        balance,
        template: TemplateInfo {
            name: template.name(),
            chat_template: template.jinja_source(),
            bos_token: template.bos_token().to_string(),
            eos_token: template.eos_token().to_string(),
        },
        tokenizer: tokenizer.map(|(bytes, tok)| TokenizerInfo {
            sha256: sha256_hex(bytes),
            vocab_size: tok.vocab_size(),
        }),
        split: SplitInfo {
            eval_fraction: recipe.split.eval_fraction,
            seed: recipe.split.seed,
            train: train.len(),
            eval: eval.len(),
        },
        stats,
        train: recipe.train.clone(),
        files: BTreeMap::new(),
    };
    Ok(Bundle {
        manifest,
        train,
        eval,
    })
}

/// Removes duplicates from the dataset and describes what went, by source line.
fn remove_duplicates(dataset: &mut Dataset, cfg: &DedupConfig) -> DedupInfo {
    let records: Vec<Record> = dataset.records().cloned().collect();
    let report = dedup::dedup(&records, cfg);
    let mut removed = Vec::new();
    for cluster in &report.clusters {
        let kept_line = dataset.items[cluster.kept].source.line;
        for &r in &cluster.removed {
            removed.push(RemovedDuplicate {
                line: dataset.items[r].source.line,
                duplicate_of_line: kept_line,
                similarity: cluster.similarity,
            });
        }
    }
    removed.sort_by_key(|r| r.line);
    let gone = report.removed();
    let items = std::mem::take(&mut dataset.items);
    dataset.items = items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(_, it)| it)
        .collect();
    DedupInfo {
        config: cfg.clone(),
        exact_duplicates: report.exact_duplicates,
        near_duplicates: report.near_duplicates,
        removed,
    }
}

/// Leaves out what balancing drops and describes it, by source line.
fn apply_balance(dataset: &mut Dataset, cfg: &BalanceConfig) -> Result<BalanceInfo, BundleError> {
    let report = balance::balance(dataset.records(), cfg)?;
    let removed = report
        .removed
        .into_iter()
        .map(|(i, group)| RemovedByBalance {
            line: dataset.items[i].source.line,
            group,
        })
        .collect();
    let items = std::mem::take(&mut dataset.items);
    let mut keep = report.kept.iter().peekable();
    dataset.items = items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.next_if_eq(&i).is_some())
        .map(|(_, it)| it)
        .collect();
    Ok(BalanceInfo {
        config: cfg.clone(),
        groups: report.groups,
        removed,
    })
}

/// One record per line, canonical JSON.
fn to_jsonl(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        serde_json::to_writer(&mut out, r).expect("records always serialise");
        out.push(b'\n');
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Bundle {
    /// The bundle file's bytes. Deterministic.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BundleError> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.write(&mut out)?;
        Ok(out.into_inner())
    }

    /// Writes the zip. The manifest's `files` is filled in from the data written.
    pub fn write<W: Write + Seek>(&self, w: W) -> Result<(), BundleError> {
        let train = to_jsonl(&self.train);
        let eval = to_jsonl(&self.eval);
        let template = self.manifest.template.chat_template.as_bytes();
        let mut manifest = self.manifest.clone();
        manifest.files = BTreeMap::from([
            (TRAIN.to_string(), file_info(&train, self.train.len())),
            (EVAL.to_string(), file_info(&eval, self.eval.len())),
            (TEMPLATE.to_string(), file_info(template, 0)),
        ]);
        let mut manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        manifest_bytes.push(b'\n');

        let mut zip = zip::ZipWriter::new(w);
        // Fixed time (the zip epoch, 1980-01-01) and permissions: no trace of when or where.
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        for (name, bytes) in [
            (MANIFEST, &manifest_bytes[..]),
            (TRAIN, &train),
            (EVAL, &eval),
            (TEMPLATE, template),
        ] {
            zip.start_file(name, options)?;
            zip.write_all(bytes)?;
        }
        zip.finish()?;
        Ok(())
    }

    /// Reads a bundle, checking the schema version and every file's hash.
    pub fn read<R: Read + Seek>(r: R) -> Result<Bundle, BundleError> {
        let mut zip = zip::ZipArchive::new(r)?;
        let manifest_bytes = read_entry(&mut zip, MANIFEST)?;
        let version = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
            .ok()
            .and_then(|v| v.get("schema_version")?.as_u64())
            .ok_or_else(|| invalid(MANIFEST, "no schema_version"))?;
        if version > u64::from(SCHEMA_VERSION) {
            return Err(BundleError::NewerSchema(version as u32));
        }
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| invalid(MANIFEST, &e.to_string()))?;
        let mut checked = |name: &'static str| -> Result<Vec<u8>, BundleError> {
            let bytes = read_entry(&mut zip, name)?;
            let info = manifest
                .files
                .get(name)
                .ok_or_else(|| invalid(MANIFEST, &format!("no hash for {name}")))?;
            if sha256_hex(&bytes) != info.sha256 {
                return Err(BundleError::HashMismatch(name.to_string()));
            }
            Ok(bytes)
        };
        let train = parse_jsonl(TRAIN, &checked(TRAIN)?)?;
        let eval = parse_jsonl(EVAL, &checked(EVAL)?)?;
        checked(TEMPLATE)?;
        Ok(Bundle {
            manifest,
            train,
            eval,
        })
    }

    /// The training records as a dataset (sources point at lines of `train.jsonl`).
    pub fn train_dataset(&self) -> Dataset {
        records_dataset(TRAIN, &self.train)
    }

    pub fn eval_dataset(&self) -> Dataset {
        records_dataset(EVAL, &self.eval)
    }
}

fn records_dataset(name: &str, records: &[Record]) -> Dataset {
    let items = records
        .iter()
        .enumerate()
        .map(|(i, r)| Item {
            source: crate::record::Source {
                line: i + 1,
                index: i,
            },
            record: r.clone(),
        })
        .collect();
    Dataset {
        name: name.to_string(),
        items,
    }
}

fn file_info(bytes: &[u8], records: usize) -> FileInfo {
    FileInfo {
        sha256: sha256_hex(bytes),
        bytes: bytes.len(),
        records,
    }
}

fn invalid(entry: &str, message: &str) -> BundleError {
    BundleError::InvalidEntry {
        entry: entry.to_string(),
        message: message.to_string(),
    }
}

fn read_entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &'static str,
) -> Result<Vec<u8>, BundleError> {
    let mut file = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Err(BundleError::MissingEntry(name)),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    file.read_to_end(&mut out)?;
    Ok(out)
}

fn parse_jsonl(entry: &str, bytes: &[u8]) -> Result<Vec<Record>, BundleError> {
    let text = std::str::from_utf8(bytes).map_err(|e| invalid(entry, &e.to_string()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| BundleError::InvalidRecord {
                entry: entry.to_string(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Method;
    use crate::load::{LoadOptions, load};
    use crate::template::Builtin;

    const ALPACA: &str = concat!(
        r#"{"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"}"#,
        "\n",
        r#"{"instruction": "Name a colour.", "input": "", "output": "Blue."}"#,
        "\n",
        r#"{"instruction": "Name a fruit.", "input": "", "output": "A pear."}"#,
        "\n",
        r#"{"instruction": "Name a fruit.", "input": "", "output": "A pear."}"#,
        "\n",
    );

    fn bundle() -> Bundle {
        let loaded = load(ALPACA.as_bytes(), "a.jsonl", &LoadOptions::default()).unwrap();
        let source = SourceFile::new("a.jsonl", ALPACA.as_bytes(), loaded.format, 4, 4);
        let recipe = Recipe {
            clean: crate::clean::Step::defaults(),
            dedup: Some(DedupConfig::default()),
            balance: None,
            split: SplitConfig {
                eval_fraction: 0.34,
                seed: 1,
            },
            train: TrainConfig::for_method(Method::Sft),
        };
        build(
            source,
            loaded.dataset,
            &recipe,
            &Template::Builtin(Builtin::Chatml),
            None,
        )
        .unwrap()
    }

    #[test]
    fn bytes_are_deterministic_and_read_back_to_the_same_bundle() {
        let a = bundle().to_bytes().unwrap();
        assert_eq!(a, bundle().to_bytes().unwrap());
        let read = Bundle::read(std::io::Cursor::new(&a)).unwrap();
        let original = bundle();
        assert_eq!(read.train, original.train);
        assert_eq!(read.eval, original.eval);
        assert_eq!(read.manifest.files.len(), 3);
        assert_eq!(read.manifest.dedup.as_ref().unwrap().exact_duplicates, 1);
        assert_eq!(read.train.len() + read.eval.len(), 3);
    }

    #[test]
    fn balancing_after_dedup_is_recorded_with_every_record_it_leaves_out() {
        let rows = [
            ("Name a colour.", "Blue.", true),
            ("Name a fruit.", "A pear.", true),
            ("Add 2 and 3.", "Six.", false),
            ("Name a planet.", "Mars.", true),
            ("Name a river.", "The Douro.", true),
            ("Name a river.", "The Douro.", true),
        ];
        let kto: String = rows
            .iter()
            .map(|(q, a, label)| {
                format!("{{\"prompt\": \"{q}\", \"completion\": \"{a}\", \"label\": {label}}}\n")
            })
            .collect();
        let loaded = load(kto.as_bytes(), "k.jsonl", &LoadOptions::default()).unwrap();
        let source = SourceFile::new("k.jsonl", kto.as_bytes(), loaded.format, 6, 6);
        let recipe = Recipe {
            clean: crate::clean::Step::defaults(),
            dedup: Some(DedupConfig::default()),
            balance: Some(BalanceConfig {
                by: balance::GroupBy::Auto,
                max_per_group: None,
                max_ratio: Some(2.0),
                seed: 3,
            }),
            split: SplitConfig {
                eval_fraction: 0.0,
                seed: 1,
            },
            train: TrainConfig::for_method(Method::Kto),
        };
        let b = build(
            source,
            loaded.dataset,
            &recipe,
            &Template::Builtin(Builtin::Chatml),
            None,
        )
        .unwrap();
        let info = b.manifest.balance.as_ref().unwrap();
        let counts: Vec<(&str, usize, usize)> = info
            .groups
            .iter()
            .map(|g| (g.group.as_str(), g.records, g.kept))
            .collect();
        assert_eq!(counts, [("desirable", 4, 2), ("undesirable", 1, 1)]);
        assert_eq!(info.removed.len(), 2);
        assert!(
            info.removed
                .iter()
                .all(|r| r.group == "desirable" && r.line != 3)
        );
        assert_eq!(b.train.len(), 3);
        let read = Bundle::read(std::io::Cursor::new(b.to_bytes().unwrap())).unwrap();
        assert_eq!(read.manifest.balance, b.manifest.balance);
    }

    #[test]
    fn records_carry_no_source_layout() {
        let b = bundle();
        for r in b.train.iter().chain(&b.eval) {
            assert!(!r.meta().contains_key(crate::formats::LAYOUT_KEY), "{r:?}");
        }
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_reason() {
        let mut b = bundle();
        b.manifest.schema_version = SCHEMA_VERSION + 1;
        let bytes = b.to_bytes().unwrap();
        let err = Bundle::read(std::io::Cursor::new(bytes)).unwrap_err();
        assert!(err.to_string().contains("upgrade ajuste"), "{err}");
    }
}
