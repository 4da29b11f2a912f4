//! Properties of every format on generated records: parse -> export gives the same bytes back,
//! parse -> export -> parse gives the same record, and the canonical (serde) form round-trips.

mod formats_gen;

use ajuste_shared::formats::{Format, export_record, parse_record};
use ajuste_shared::{Message, Record, Role};
use proptest::prelude::*;
use serde_json::Value;

fn check_identity(format: Format, source: &Value) -> Result<(), TestCaseError> {
    let (record, _warnings) = parse_record(format, source)
        .map_err(|f| TestCaseError::fail(format!("{format}: {source} did not parse: {f:?}")))?;
    let exported = export_record(format, &record)
        .map_err(|e| TestCaseError::fail(format!("{format}: {source}: {e}")))?;
    prop_assert_eq!(
        serde_json::to_string(&exported).unwrap(),
        serde_json::to_string(source).unwrap()
    );
    let (again, _) =
        parse_record(format, &exported).map_err(|f| TestCaseError::fail(format!("{f:?}")))?;
    prop_assert_eq!(&again, &record);
    let canonical: Record = serde_json::from_value(serde_json::to_value(&record).unwrap())
        .map_err(|e| TestCaseError::fail(format!("canonical form of {source}: {e}")))?;
    prop_assert_eq!(&canonical, &record);
    Ok(())
}

/// Each whole conversation a record holds, as (role, text) turns: the messages of an SFT record,
/// prompt + chosen and prompt + rejected of a pair, prompt + completion of a KTO example.
fn sides(record: &Record) -> Vec<Vec<(Role, String)>> {
    let turns = |lists: &[&Vec<Message>]| {
        lists
            .iter()
            .flat_map(|l| l.iter())
            .map(|m| (m.role, m.content.clone()))
            .collect()
    };
    match record {
        Record::Conversation(c) => vec![turns(&[&c.messages])],
        Record::Preference(p) => vec![
            turns(&[&p.prompt, &p.chosen]),
            turns(&[&p.prompt, &p.rejected]),
        ],
        Record::Feedback(f) => vec![turns(&[&f.prompt, &f.completion])],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn sharegpt_parse_export_parse_is_identity(v in formats_gen::sharegpt()) {
        check_identity(Format::Sharegpt, &v)?;
    }

    #[test]
    fn openai_parse_export_parse_is_identity(v in formats_gen::openai()) {
        check_identity(Format::Openai, &v)?;
    }

    #[test]
    fn alpaca_parse_export_parse_is_identity(v in formats_gen::alpaca()) {
        check_identity(Format::Alpaca, &v)?;
    }

    #[test]
    fn dpo_parse_export_parse_is_identity(v in formats_gen::dpo()) {
        check_identity(Format::Dpo, &v)?;
    }

    #[test]
    fn hh_parse_export_parse_is_identity(v in formats_gen::hh()) {
        check_identity(Format::Hh, &v)?;
    }

    #[test]
    fn kto_parse_export_parse_is_identity(v in formats_gen::kto()) {
        check_identity(Format::Kto, &v)?;
    }

    /// Converting to another format either fails with a reason or keeps every turn's role and
    /// text (the record's kind is the same, so the other format's parser reads it back).
    #[test]
    fn conversions_keep_turns_or_refuse((format, v) in formats_gen::any_record()) {
        let (record, _) = parse_record(format, &v).unwrap();
        for target in Format::ALL.into_iter().filter(|t| t.kind() == format.kind()) {
            match export_record(target, &record) {
                Ok(out) => {
                    let (back, _) = parse_record(target, &out)
                        .map_err(|f| TestCaseError::fail(format!("{format} -> {target}: {out}: {f:?}")))?;
                    // Splitting the prompt may move turns between lists, never change a side.
                    prop_assert_eq!(sides(&record), sides(&back), "{} -> {}: {}", format, target, out);
                }
                Err(e) => prop_assert!(!e.reason.is_empty()),
            }
        }
    }
}
