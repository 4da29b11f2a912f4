//! The dedup configuration as it crosses the Python boundary (JSON, as the bundle manifest
//! stores it) and as it travels with every output table (schema metadata), so that a table
//! says which n-gram size, permutations, bands and seed produced it.

use std::collections::HashMap;

use ajuste_shared::dedup::DedupConfig;

use crate::error::{KernelError, Result};

/// Metadata key holding the whole configuration as JSON (the bundle's form).
pub const CONFIG_KEY: &str = "ajuste.dedup.config";
/// Metadata keys of the parameters a reader most often wants, one value each.
pub const NGRAM_KEY: &str = "ajuste.dedup.ngram";
pub const PERMUTATIONS_KEY: &str = "ajuste.dedup.permutations";
pub const BANDS_KEY: &str = "ajuste.dedup.bands";
pub const SEED_KEY: &str = "ajuste.dedup.seed";
pub const THRESHOLD_KEY: &str = "ajuste.dedup.threshold";

/// The configuration described by `json` (a [`DedupConfig`] object; missing keys take their
/// defaults), or the default when `None`; near dedup is on either way, since that is what
/// these stages are for. Checked with [`DedupConfig::validate`].
pub fn parse(json: Option<&str>) -> Result<DedupConfig> {
    let mut cfg: DedupConfig = match json {
        Some(text) => {
            serde_json::from_str(text).map_err(|e| KernelError::ConfigJson(e.to_string()))?
        }
        None => DedupConfig::default(),
    };
    cfg.near = true;
    cfg.validate()?;
    Ok(cfg)
}

/// The schema metadata recording `cfg`.
pub fn metadata(cfg: &DedupConfig) -> HashMap<String, String> {
    let json = serde_json::to_string(cfg).unwrap_or_default();
    HashMap::from([
        (CONFIG_KEY.to_owned(), json),
        (NGRAM_KEY.to_owned(), cfg.ngram.to_string()),
        (PERMUTATIONS_KEY.to_owned(), cfg.permutations.to_string()),
        (BANDS_KEY.to_owned(), cfg.bands.to_string()),
        (SEED_KEY.to_owned(), cfg.seed.to_string()),
        (THRESHOLD_KEY.to_owned(), cfg.threshold.to_string()),
    ])
}

/// The configuration recorded in schema metadata, if any.
pub fn from_metadata(metadata: &HashMap<String, String>) -> Option<DedupConfig> {
    serde_json::from_str(metadata.get(CONFIG_KEY)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_metadata() {
        let cfg = parse(Some(
            r#"{"ngram": 3, "permutations": 64, "bands": 16, "seed": 9}"#,
        ))
        .unwrap();
        assert_eq!(
            (cfg.ngram, cfg.permutations, cfg.bands, cfg.seed),
            (3, 64, 16, 9)
        );
        assert!(cfg.near && cfg.exact);
        let md = metadata(&cfg);
        assert_eq!(md[NGRAM_KEY], "3");
        assert_eq!(md[BANDS_KEY], "16");
        assert_eq!(from_metadata(&md), Some(cfg));
        assert_eq!(parse(None).unwrap().permutations, 112);
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(matches!(parse(Some("{")), Err(KernelError::ConfigJson(_))));
        assert!(matches!(
            parse(Some(r#"{"permutations": 100, "bands": 14}"#)),
            Err(KernelError::Config(_))
        ));
        assert!(matches!(
            parse(Some(r#"{"threshold": 2}"#)),
            Err(KernelError::Config(_))
        ));
    }
}
