//! Reading columns out of Arrow batches whatever physical type an engine chose for them
//! (pyarrow, Ray's shuffles and polars joins move between `string`, `large_string` and
//! `string_view`, and between signed and unsigned integers), and building output batches.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::error::{KernelError, Result};

/// The column `name` of `batch`.
pub fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| KernelError::MissingColumn(name.to_owned()))
}

/// True when `batch` has a column `name`.
pub fn has_column(batch: &RecordBatch, name: &str) -> bool {
    batch.schema().column_with_name(name).is_some()
}

/// The values of an integer column as `u64` (unsigned or non-negative signed, 32 or 64 bit).
/// Nulls and negative values are errors: ids and hashes are never missing.
pub fn u64s(batch: &RecordBatch, name: &str) -> Result<Vec<u64>> {
    let array = column(batch, name)?;
    let null = |row| KernelError::Null {
        column: name.to_owned(),
        row,
    };
    if array.null_count() > 0 {
        let row = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0);
        return Err(null(row));
    }
    let signed = |values: Vec<i64>| -> Result<Vec<u64>> {
        values
            .into_iter()
            .enumerate()
            .map(|(row, v)| {
                u64::try_from(v).map_err(|_| KernelError::Negative {
                    column: name.to_owned(),
                    row,
                    value: v,
                })
            })
            .collect()
    };
    match array.data_type() {
        DataType::UInt64 => Ok(array.as_primitive::<UInt64Type>().values().to_vec()),
        DataType::UInt32 => Ok(array
            .as_primitive::<UInt32Type>()
            .values()
            .iter()
            .map(|&v| u64::from(v))
            .collect()),
        DataType::Int64 => signed(array.as_primitive::<Int64Type>().values().to_vec()),
        DataType::Int32 => signed(
            array
                .as_primitive::<Int32Type>()
                .values()
                .iter()
                .map(|&v| i64::from(v))
                .collect(),
        ),
        other => Err(KernelError::ColumnType {
            column: name.to_owned(),
            found: other.clone(),
            expected: "an integer type",
        }),
    }
}

/// A text or bytes column of any of Arrow's six layouts, read row by row.
pub enum Bytes<'a> {
    Utf8(&'a arrow_array::StringArray),
    LargeUtf8(&'a arrow_array::LargeStringArray),
    Utf8View(&'a arrow_array::StringViewArray),
    Binary(&'a arrow_array::BinaryArray),
    LargeBinary(&'a arrow_array::LargeBinaryArray),
    BinaryView(&'a arrow_array::BinaryViewArray),
}

impl<'a> Bytes<'a> {
    /// The column `name` of `batch` as bytes.
    pub fn of(batch: &'a RecordBatch, name: &str) -> Result<Self> {
        let array = column(batch, name)?;
        Ok(match array.data_type() {
            DataType::Utf8 => Bytes::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Bytes::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => Bytes::Utf8View(array.as_string_view()),
            DataType::Binary => Bytes::Binary(array.as_binary::<i32>()),
            DataType::LargeBinary => Bytes::LargeBinary(array.as_binary::<i64>()),
            DataType::BinaryView => Bytes::BinaryView(array.as_binary_view()),
            other => {
                return Err(KernelError::ColumnType {
                    column: name.to_owned(),
                    found: other.clone(),
                    expected: "string or binary",
                });
            }
        })
    }

    /// Row `i`, or `None` when it is null.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        fn opt<T>(null: bool, v: T) -> Option<T> {
            (!null).then_some(v)
        }
        match self {
            Bytes::Utf8(a) => opt(a.is_null(i), a.value(i).as_bytes()),
            Bytes::LargeUtf8(a) => opt(a.is_null(i), a.value(i).as_bytes()),
            Bytes::Utf8View(a) => opt(a.is_null(i), a.value(i).as_bytes()),
            Bytes::Binary(a) => opt(a.is_null(i), a.value(i)),
            Bytes::LargeBinary(a) => opt(a.is_null(i), a.value(i)),
            Bytes::BinaryView(a) => opt(a.is_null(i), a.value(i)),
        }
    }

    /// Row `i` as text; a null row or bytes that are not UTF-8 are errors naming `column`.
    pub fn text(&self, i: usize, column: &str) -> Result<&'a str> {
        let bytes = self.get(i).ok_or_else(|| KernelError::Null {
            column: column.to_owned(),
            row: i,
        })?;
        std::str::from_utf8(bytes).map_err(|_| KernelError::NotUtf8 {
            column: column.to_owned(),
            row: i,
        })
    }
}

/// A batch from named columns, with `metadata` on its schema (every output carries the dedup
/// configuration there). Every field is nullable, so that batches of one kernel always share
/// one schema whatever their values (engines concatenate them).
pub fn batch(
    columns: Vec<(&str, ArrayRef)>,
    metadata: &HashMap<String, String>,
) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let schema = Schema::new(fields).with_metadata(metadata.clone());
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    Ok(RecordBatch::try_new(Arc::new(schema), arrays)?)
}

/// A `UInt64` array.
pub fn u64_array(values: Vec<u64>) -> ArrayRef {
    Arc::new(arrow_array::UInt64Array::from(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, LargeBinaryArray, StringArray};

    #[test]
    fn integers_of_any_width_read_as_u64() {
        let b = batch(
            vec![
                ("a", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
                ("b", u64_array(vec![7, 8])),
            ],
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(u64s(&b, "a").unwrap(), [1, 2]);
        assert_eq!(u64s(&b, "b").unwrap(), [7, 8]);
        assert!(matches!(
            u64s(&b, "c"),
            Err(KernelError::MissingColumn(c)) if c == "c"
        ));
        let neg = batch(
            vec![("a", Arc::new(Int64Array::from(vec![3, -1])) as ArrayRef)],
            &HashMap::new(),
        )
        .unwrap();
        assert!(matches!(
            u64s(&neg, "a"),
            Err(KernelError::Negative { row: 1, .. })
        ));
        let nulls = batch(
            vec![(
                "a",
                Arc::new(Int64Array::from(vec![Some(3), None])) as ArrayRef,
            )],
            &HashMap::new(),
        )
        .unwrap();
        assert!(matches!(
            u64s(&nulls, "a"),
            Err(KernelError::Null { row: 1, .. })
        ));
    }

    #[test]
    fn text_and_bytes_layouts_read_alike() {
        let b = batch(
            vec![
                (
                    "s",
                    Arc::new(StringArray::from(vec![Some("hé"), None])) as ArrayRef,
                ),
                (
                    "b",
                    Arc::new(LargeBinaryArray::from(vec![
                        Some(&b"ok"[..]),
                        Some(&b"\xff"[..]),
                    ])) as ArrayRef,
                ),
            ],
            &HashMap::new(),
        )
        .unwrap();
        let s = Bytes::of(&b, "s").unwrap();
        assert_eq!(s.text(0, "s").unwrap(), "hé");
        assert!(matches!(s.text(1, "s"), Err(KernelError::Null { .. })));
        let bytes = Bytes::of(&b, "b").unwrap();
        assert_eq!(bytes.get(0), Some(&b"ok"[..]));
        assert!(matches!(
            bytes.text(1, "b"),
            Err(KernelError::NotUtf8 { row: 1, .. })
        ));
        assert!(matches!(
            Bytes::of(&b, "x"),
            Err(KernelError::MissingColumn(_))
        ));
    }
}
