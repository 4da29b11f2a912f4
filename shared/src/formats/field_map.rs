//! Renaming a dialect's fields and roles to a format's own names, before detection and parsing.
//!
//! Real datasets often hold a known layout under other names: a CSV with `question` and `answer`
//! columns is Alpaca with `instruction` and `output`; a chat log whose turns say `customer` and
//! `agent` is OpenAI messages with `user` and `assistant`. A [`FieldMap`] renames record fields
//! (`question=instruction`) and turn roles (`customer=user`) on every record as it is read, so the
//! format's parser sees its own names. Findings still name the user's fields: a finding at
//! `/instruction` is reported at `/question`.
//!
//! Renames are simultaneous (`a=b,b=a` swaps). A rename onto a field the record already has and
//! that is not renamed away would lose one of the two values, so the record is refused with
//! `map-conflict` instead.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codes::Code;
use crate::diagnostic::Finding;

/// Renames of record fields and of turn roles, each `(from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldMap {
    /// Top-level fields of each record: `question` -> `instruction`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, String)>,
    /// The `role` (or ShareGPT `from`) of every turn: `customer` -> `user`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<(String, String)>,
}

/// The fields that hold lists of turns, in any format.
const TURN_LISTS: [&str; 6] = [
    "conversations",
    "messages",
    "prompt",
    "chosen",
    "rejected",
    "completion",
];
/// The fields of a turn that name its speaker.
const ROLE_KEYS: [&str; 2] = ["role", "from"];

impl FieldMap {
    /// Builds a map from `FROM=TO` lists, checking it (see [`FieldMap::check`]).
    ///
    /// # Errors
    /// A sentence naming the bad pair.
    pub fn new(
        fields: Vec<(String, String)>,
        roles: Vec<(String, String)>,
    ) -> Result<Self, String> {
        let map = FieldMap { fields, roles };
        map.check()?;
        Ok(map)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.roles.is_empty()
    }

    /// Parses `FROM=TO[,FROM=TO...]` (blanks around names are ignored; an empty text is no pair).
    ///
    /// # Errors
    /// A sentence naming the piece that is not `FROM=TO`.
    pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|piece| !piece.is_empty())
            .map(|piece| match piece.split_once('=') {
                Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                    Ok((from.trim().to_owned(), to.trim().to_owned()))
                }
                _ => Err(format!("`{piece}` is not FROM=TO")),
            })
            .collect()
    }

    /// Refuses maps that cannot mean one thing: a name renamed twice, or two names renamed to
    /// the same one.
    ///
    /// # Errors
    /// A sentence naming the clash.
    pub fn check(&self) -> Result<(), String> {
        for (what, pairs) in [("field", &self.fields), ("role", &self.roles)] {
            for (i, (from, to)) in pairs.iter().enumerate() {
                for (other_from, other_to) in &pairs[..i] {
                    if other_from == from {
                        return Err(format!("the {what} `{from}` is renamed twice"));
                    }
                    if other_to == to {
                        return Err(format!(
                            "the {what}s `{other_from}` and `{from}` are both renamed to `{to}`"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The record with its fields and turn roles renamed. A record that is not an object comes
    /// back as it is (the parser reports it).
    ///
    /// # Errors
    /// `map-conflict`, at the field renamed onto one the record already has.
    pub fn apply(&self, value: Value) -> Result<Value, Finding> {
        let Value::Object(record) = value else {
            return Ok(value);
        };
        let mut record = self.rename_fields(record)?;
        if !self.roles.is_empty() {
            for key in TURN_LISTS {
                if let Some(Value::Array(turns)) = record.get_mut(key) {
                    turns.iter_mut().for_each(|turn| self.rename_role(turn));
                }
            }
        }
        Ok(Value::Object(record))
    }

    fn rename_fields(&self, record: Map<String, Value>) -> Result<Map<String, Value>, Finding> {
        if self.fields.is_empty() {
            return Ok(record);
        }
        let renamed_to = |name: &str| {
            self.fields
                .iter()
                .find(|(from, _)| from == name)
                .map(|(_, to)| to.as_str())
        };
        for (from, to) in &self.fields {
            if record.contains_key(from) && record.contains_key(to) && renamed_to(to).is_none() {
                return Err(Finding::new(
                    Code::MapConflict,
                    format!("`{from}` is renamed to `{to}`, but the record already has `{to}`"),
                )
                .path(format!("/{}", escape(from))));
            }
        }
        // Rebuilt in the record's order, so that exports keep the user's field order.
        Ok(record
            .into_iter()
            .map(|(name, value)| match renamed_to(&name) {
                Some(to) => (to.to_owned(), value),
                None => (name, value),
            })
            .collect())
    }

    fn rename_role(&self, turn: &mut Value) {
        let Value::Object(turn) = turn else { return };
        for key in ROLE_KEYS {
            if let Some(Value::String(role)) = turn.get_mut(key)
                && let Some((_, to)) = self.roles.iter().find(|(from, _)| from == role)
            {
                *role = to.clone();
            }
        }
    }

    /// The pointer into the user's record for a pointer into the renamed one: its first
    /// segment goes back to the user's field name.
    pub fn source_path(&self, path: &str) -> String {
        let Some(rest) = path.strip_prefix('/') else {
            return path.to_owned();
        };
        let (first, tail) = rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b));
        let Some((from, _)) = self.fields.iter().find(|(_, to)| escape(to) == first) else {
            return path.to_owned();
        };
        if tail.is_empty() {
            format!("/{}", escape(from))
        } else {
            format!("/{}/{tail}", escape(from))
        }
    }
}

/// `pairs` as `FROM=TO` joined by `separator`: what [`FieldMap::parse_pairs`] reads back.
pub fn pairs_text(pairs: &[(String, String)], separator: &str) -> String {
    pairs
        .iter()
        .map(|(from, to)| format!("{from}={to}"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// `FROM=TO,...` lists, as the command line takes them.
impl fmt::Display for FieldMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |pairs: &[(String, String)]| pairs_text(pairs, ",");
        match (self.fields.is_empty(), self.roles.is_empty()) {
            (true, true) => f.write_str("no renames"),
            (false, true) => write!(f, "fields {}", list(&self.fields)),
            (true, false) => write!(f, "roles {}", list(&self.roles)),
            (false, false) => write!(
                f,
                "fields {}; roles {}",
                list(&self.fields),
                list(&self.roles)
            ),
        }
    }
}

/// A field name as a JSON pointer segment (RFC 6901).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(fields: &str, roles: &str) -> FieldMap {
        FieldMap::new(
            FieldMap::parse_pairs(fields).unwrap(),
            FieldMap::parse_pairs(roles).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn fields_are_renamed_in_place_and_roles_in_every_turn_list() {
        let m = map(
            "question=instruction, answer=output, dialog=messages",
            "customer=user,agent=assistant",
        );
        let out = m
            .apply(json!({"id": 1, "question": "q", "answer": "a"}))
            .unwrap();
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"id":1,"instruction":"q","output":"a"}"#,
            "renamed where they were, the rest untouched"
        );
        let out = m
            .apply(json!({"dialog": [{"role": "customer", "content": "hi"}, {"role": "agent", "content": "yo"}, {"role": "user", "content": "x"}]}))
            .unwrap();
        assert_eq!(
            out,
            json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "x"}]})
        );
        let out = map("", "bot=gpt")
            .apply(json!({"conversations": [{"from": "bot", "value": "v"}], "chosen": [{"role": "bot"}]}))
            .unwrap();
        assert_eq!(
            out,
            json!({"conversations": [{"from": "gpt", "value": "v"}], "chosen": [{"role": "gpt"}]})
        );
    }

    #[test]
    fn renames_are_simultaneous_and_a_clash_is_refused_not_lost() {
        let swap = map("a=b,b=a", "");
        assert_eq!(
            swap.apply(json!({"a": 1, "b": 2})).unwrap(),
            json!({"b": 1, "a": 2})
        );
        let err = map("question=instruction", "")
            .apply(json!({"question": "q", "instruction": "i"}))
            .unwrap_err();
        assert_eq!(err.code, Code::MapConflict);
        assert_eq!(err.path, "/question");
        assert!(
            err.message.contains("already has `instruction`"),
            "{}",
            err.message
        );
        // Not an object: the parser's business.
        assert_eq!(swap.apply(json!([1])).unwrap(), json!([1]));
    }

    #[test]
    fn findings_point_back_at_the_users_field_names() {
        let m = map("question=instruction,a/b=output", "");
        assert_eq!(m.source_path("/instruction"), "/question");
        assert_eq!(m.source_path("/output/0"), "/a~1b/0");
        assert_eq!(m.source_path("/input"), "/input");
        assert_eq!(m.source_path(""), "");
    }

    #[test]
    fn bad_maps_are_refused_with_the_pair_at_fault() {
        assert_eq!(
            FieldMap::parse_pairs("a=b,c").unwrap_err(),
            "`c` is not FROM=TO"
        );
        assert!(FieldMap::parse_pairs("=b").is_err());
        assert_eq!(FieldMap::parse_pairs(" , ").unwrap(), vec![]);
        let twice = FieldMap::new(FieldMap::parse_pairs("a=b,a=c").unwrap(), vec![]);
        assert_eq!(twice.unwrap_err(), "the field `a` is renamed twice");
        let same = FieldMap::new(vec![], FieldMap::parse_pairs("x=user,y=user").unwrap());
        assert_eq!(
            same.unwrap_err(),
            "the roles `x` and `y` are both renamed to `user`"
        );
    }

    #[test]
    fn it_reads_back_as_the_command_line_wrote_it() {
        let m = map("q=instruction", "bot=assistant");
        assert_eq!(m.to_string(), "fields q=instruction; roles bot=assistant");
        assert_eq!(FieldMap::default().to_string(), "no renames");
        let json = serde_json::to_string(&FieldMap::default()).unwrap();
        assert_eq!(json, "{}", "an empty map adds nothing to a manifest");
    }
}
