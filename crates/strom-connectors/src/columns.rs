//! Column builders for the text readers: append parsed values straight into `Vec` buffers and
//! turn them into Arrow arrays, with row-level rollback (a row that fails half way is undone).

use crate::text;
use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, Int8Array, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use arrow::buffer::{BooleanBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, TimeUnit};
use std::sync::Arc;
use strom_plan::{Column, SqlType};

enum Data {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Dec(Vec<i128>, u8, i8),
    Str(Vec<i32>, Vec<u8>),
    Date(Vec<i32>),
    Ts(Vec<i64>, TimeUnit, text::DateCache),
}

/// Text formats (CSV, JSON, raw) read flat columns only: a clear error for a ROW, ARRAY or MAP
/// column of a table read with one.
pub(crate) fn check_flat(
    table: &strom_plan::TableSpec,
    format: &str,
) -> Result<(), strom_runtime::ConnectorError> {
    match table.schema.columns.iter().find(|c| c.ty.is_nested()) {
        None => Ok(()),
        Some(c) => Err(strom_runtime::ConnectorError::BadOption {
            table: table.name.clone(),
            message: format!(
                "column '{}' has type {}; reading nested types (ROW, ARRAY, MAP) from the '{format}' format is not supported yet",
                c.name, c.ty
            ),
        }),
    }
}

/// Why a value could not be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The text is not a value of the column's type.
    Malformed,
    /// An empty field (NULL) in a NOT NULL column.
    NullInNotNull,
    /// A value of the wrong JSON kind (e.g. an object for a number).
    WrongKind,
}

/// Builds one column of a batch.
pub struct ColumnBuilder {
    data: Data,
    nulls: NullBufferBuilder,
    nullable: bool,
}

impl ColumnBuilder {
    pub fn new(col: &Column, capacity: usize) -> Self {
        let data = match &col.ty {
            SqlType::Boolean => Data::Bool(Vec::with_capacity(capacity)),
            SqlType::TinyInt => Data::I8(Vec::with_capacity(capacity)),
            SqlType::SmallInt => Data::I16(Vec::with_capacity(capacity)),
            SqlType::Int => Data::I32(Vec::with_capacity(capacity)),
            SqlType::BigInt => Data::I64(Vec::with_capacity(capacity)),
            SqlType::Float => Data::F32(Vec::with_capacity(capacity)),
            SqlType::Double => Data::F64(Vec::with_capacity(capacity)),
            SqlType::Decimal(p, s) => Data::Dec(Vec::with_capacity(capacity), *p, *s),
            SqlType::String => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                Data::Str(offsets, Vec::with_capacity(capacity * 16))
            }
            SqlType::Date => Data::Date(Vec::with_capacity(capacity)),
            SqlType::Timestamp(_) => {
                let unit = match col.ty.to_arrow() {
                    DataType::Timestamp(u, _) => u,
                    _ => TimeUnit::Millisecond,
                };
                Data::Ts(Vec::with_capacity(capacity), unit, Default::default())
            }
            // refused by `check_flat` before a reader is made; as text, the batch would not
            // match the schema and the reader fails with that error
            SqlType::Row(_) | SqlType::Array(_) | SqlType::Map(..) => {
                Data::Str(vec![0], Vec::new())
            }
        };
        Self {
            data,
            nulls: NullBufferBuilder::new(capacity),
            nullable: col.nullable,
        }
    }

    pub fn len(&self) -> usize {
        self.nulls.len()
    }

    pub fn is_string(&self) -> bool {
        matches!(self.data, Data::Str(..))
    }

    /// Appends NULL.
    pub fn push_null(&mut self) -> Result<(), PushError> {
        if !self.nullable {
            return Err(PushError::NullInNotNull);
        }
        match &mut self.data {
            Data::Bool(v) => v.push(false),
            Data::I8(v) => v.push(0),
            Data::I16(v) => v.push(0),
            Data::I32(v) => v.push(0),
            Data::I64(v) => v.push(0),
            Data::F32(v) => v.push(0.0),
            Data::F64(v) => v.push(0.0),
            Data::Dec(v, ..) => v.push(0),
            Data::Str(o, vals) => o.push(vals.len() as i32),
            Data::Date(v) => v.push(0),
            Data::Ts(v, ..) => v.push(0),
        }
        self.nulls.append_null();
        Ok(())
    }

    /// Appends the value of a text field; an empty field is NULL.
    #[inline]
    pub fn push_text(&mut self, s: &[u8]) -> Result<(), PushError> {
        if s.is_empty() {
            return self.push_null();
        }
        let ok = match &mut self.data {
            Data::I64(v) => text::parse_i64(s).map(|x| v.push(x)).is_some(),
            Data::Ts(v, unit, dates) => text::parse_timestamp_with(s, *unit, dates)
                .map(|x| v.push(x))
                .is_some(),
            Data::Str(..) => return self.push_string(s),
            Data::I32(v) => text::parse_i64(s)
                .and_then(|x| i32::try_from(x).ok())
                .map(|x| v.push(x))
                .is_some(),
            Data::I16(v) => text::parse_i64(s)
                .and_then(|x| i16::try_from(x).ok())
                .map(|x| v.push(x))
                .is_some(),
            Data::I8(v) => text::parse_i64(s)
                .and_then(|x| i8::try_from(x).ok())
                .map(|x| v.push(x))
                .is_some(),
            Data::F64(v) => text::parse_f64(s).map(|x| v.push(x)).is_some(),
            Data::F32(v) => text::parse_f64(s).map(|x| v.push(x as f32)).is_some(),
            Data::Dec(v, p, sc) => text::parse_decimal(s, *p, *sc).map(|x| v.push(x)).is_some(),
            Data::Bool(v) => text::parse_bool(s).map(|x| v.push(x)).is_some(),
            Data::Date(v) => text::parse_date(s).map(|x| v.push(x)).is_some(),
        };
        if ok {
            self.nulls.append_non_null();
            Ok(())
        } else {
            Err(PushError::Malformed)
        }
    }

    /// Appends a string value as is (an empty string stays an empty string); for other types
    /// the text is parsed (empty = NULL).
    pub fn push_string(&mut self, s: &[u8]) -> Result<(), PushError> {
        match &mut self.data {
            Data::Str(o, vals) => {
                if !(s.is_ascii() || std::str::from_utf8(s).is_ok()) {
                    return Err(PushError::Malformed);
                }
                vals.extend_from_slice(s);
                let Ok(end) = i32::try_from(vals.len()) else {
                    vals.truncate(*o.last().unwrap_or(&0) as usize);
                    return Err(PushError::Malformed);
                };
                o.push(end);
                self.nulls.append_non_null();
                Ok(())
            }
            _ => self.push_text(s),
        }
    }

    /// Appends an integer (JSON number).
    pub fn push_i64(&mut self, x: i64) -> Result<(), PushError> {
        let ok = match &mut self.data {
            Data::I64(v) => {
                v.push(x);
                true
            }
            Data::I32(v) => i32::try_from(x).map(|x| v.push(x)).is_ok(),
            Data::I16(v) => i16::try_from(x).map(|x| v.push(x)).is_ok(),
            Data::I8(v) => i8::try_from(x).map(|x| v.push(x)).is_ok(),
            Data::F64(v) => {
                v.push(x as f64);
                true
            }
            Data::F32(v) => {
                v.push(x as f32);
                true
            }
            Data::Dec(v, p, s) => {
                let scaled = if *s >= 0 {
                    (x as i128).checked_mul(text::pow10(*s as u32))
                } else {
                    Some(x as i128 / text::pow10((-*s) as u32))
                };
                match scaled {
                    Some(val) if *p > 38 || val.abs() < text::pow10(*p as u32) => {
                        v.push(val);
                        true
                    }
                    _ => false,
                }
            }
            Data::Ts(..) | Data::Str(..) | Data::Date(..) | Data::Bool(..) => {
                let mut buf = Vec::with_capacity(20);
                text::write_i64(&mut buf, x);
                return match &self.data {
                    Data::Str(..) => self.push_string(&buf),
                    _ => self.push_text(&buf),
                };
            }
        };
        if ok {
            self.nulls.append_non_null();
            Ok(())
        } else {
            Err(PushError::Malformed)
        }
    }

    /// Appends a boolean (JSON true/false).
    pub fn push_bool(&mut self, b: bool) -> Result<(), PushError> {
        match &mut self.data {
            Data::Bool(v) => {
                v.push(b);
                self.nulls.append_non_null();
                Ok(())
            }
            Data::Str(..) => self.push_string(if b { b"true" } else { b"false" }),
            _ => Err(PushError::WrongKind),
        }
    }

    /// Removes rows beyond `len` (rollback of a partly appended row).
    pub fn truncate(&mut self, len: usize) {
        if self.len() <= len {
            return;
        }
        match &mut self.data {
            Data::Bool(v) => v.truncate(len),
            Data::I8(v) => v.truncate(len),
            Data::I16(v) => v.truncate(len),
            Data::I32(v) => v.truncate(len),
            Data::I64(v) => v.truncate(len),
            Data::F32(v) => v.truncate(len),
            Data::F64(v) => v.truncate(len),
            Data::Dec(v, ..) => v.truncate(len),
            Data::Str(o, vals) => {
                o.truncate(len + 1);
                vals.truncate(o[len] as usize);
            }
            Data::Date(v) => v.truncate(len),
            Data::Ts(v, ..) => v.truncate(len),
        }
        self.nulls.truncate(len);
    }

    /// The array of the rows appended so far; the builder is empty afterwards.
    pub fn finish(&mut self) -> Result<ArrayRef, arrow::error::ArrowError> {
        let cap = self.len();
        let nulls = self.nulls.finish();
        self.nulls = NullBufferBuilder::new(cap);
        let arr: ArrayRef = match &mut self.data {
            Data::Bool(v) => Arc::new(BooleanArray::new(
                BooleanBuffer::from(take_cap(v, cap)),
                nulls,
            )),
            Data::I8(v) => Arc::new(Int8Array::new(ScalarBuffer::from(take_cap(v, cap)), nulls)),
            Data::I16(v) => Arc::new(Int16Array::new(ScalarBuffer::from(take_cap(v, cap)), nulls)),
            Data::I32(v) => Arc::new(Int32Array::new(ScalarBuffer::from(take_cap(v, cap)), nulls)),
            Data::I64(v) => Arc::new(Int64Array::new(ScalarBuffer::from(take_cap(v, cap)), nulls)),
            Data::F32(v) => Arc::new(Float32Array::new(
                ScalarBuffer::from(take_cap(v, cap)),
                nulls,
            )),
            Data::F64(v) => Arc::new(Float64Array::new(
                ScalarBuffer::from(take_cap(v, cap)),
                nulls,
            )),
            Data::Dec(v, p, s) => Arc::new(
                Decimal128Array::new(ScalarBuffer::from(take_cap(v, cap)), nulls)
                    .with_precision_and_scale(*p, *s)?,
            ),
            Data::Str(o, vals) => {
                let offsets = std::mem::replace(o, Vec::with_capacity(cap + 1));
                o.push(0);
                let values = std::mem::replace(vals, Vec::with_capacity(cap * 16));
                Arc::new(StringArray::try_new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values.into(),
                    nulls,
                )?)
            }
            Data::Date(v) => Arc::new(Date32Array::new(
                ScalarBuffer::from(take_cap(v, cap)),
                nulls,
            )),
            Data::Ts(v, unit, _) => {
                let values = ScalarBuffer::from(take_cap(v, cap));
                match unit {
                    TimeUnit::Second => Arc::new(TimestampSecondArray::new(values, nulls)),
                    TimeUnit::Millisecond => {
                        Arc::new(TimestampMillisecondArray::new(values, nulls))
                    }
                    TimeUnit::Microsecond => {
                        Arc::new(TimestampMicrosecondArray::new(values, nulls))
                    }
                    TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::new(values, nulls)),
                }
            }
        };
        Ok(arr)
    }
}

fn take_cap<T>(v: &mut Vec<T>, cap: usize) -> Vec<T> {
    std::mem::replace(v, Vec::with_capacity(cap))
}

/// Finishes every builder into one batch of `rows` rows (`what` names the format in errors).
pub fn finish_batch(
    schema: &arrow::datatypes::SchemaRef,
    builders: &mut [ColumnBuilder],
    rows: usize,
    what: &str,
) -> Result<arrow::record_batch::RecordBatch, crate::ConnectorError> {
    finish_batch_in(schema, builders, None, rows, what)
}

/// [`finish_batch`], the batch's columns being the arrays of the builders `order` names (a
/// builder may be named twice), or of every builder in turn.
pub fn finish_batch_in(
    schema: &arrow::datatypes::SchemaRef,
    builders: &mut [ColumnBuilder],
    order: Option<&[usize]>,
    rows: usize,
    what: &str,
) -> Result<arrow::record_batch::RecordBatch, crate::ConnectorError> {
    let err = |e: arrow::error::ArrowError| {
        crate::ConnectorError::Other(format!("building a {what} batch: {e}"))
    };
    let mut arrays = builders
        .iter_mut()
        .map(|b| b.finish().map_err(err))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(order) = order {
        arrays = order.iter().map(|&b| arrays[b].clone()).collect();
    }
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    arrow::record_batch::RecordBatch::try_new_with_options(schema.clone(), arrays, &options)
        .map_err(err)
}

/// Why a JSON field value cannot go into its column: which column, what value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Missing or `null` in a NOT NULL column.
    #[error("column '{column}' ({ty} NOT NULL) is missing or null")]
    MissingNotNull { column: String, ty: String },
    /// Not a value of the column's type (`value` is an excerpt of its JSON text).
    #[error("column '{column}' ({ty}) cannot take the value {value}")]
    BadValue {
        column: String,
        ty: String,
        value: String,
    },
}

/// Why a JSON row (a line, a message) cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum JsonRowError {
    #[error("invalid JSON ({0})")]
    Invalid(#[source] serde_json::Error),
    #[error("expected a JSON object")]
    NotAnObject,
    #[error(transparent)]
    Field(#[from] FieldError),
}

/// Parses one JSON row: it must be an object.
pub fn json_object(
    bytes: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, JsonRowError> {
    match serde_json::from_slice(bytes).map_err(JsonRowError::Invalid)? {
        serde_json::Value::Object(obj) => Ok(obj),
        _ => Err(JsonRowError::NotAnObject),
    }
}

/// Appends one JSON field value (`None` = missing) to the builder of column `c` (the JSON rules
/// of the filesystem reader and the Kafka source): numbers and strings are parsed as the column's
/// text; arrays and objects only go into STRING columns, as their JSON text.
pub fn push_json_value(
    c: &strom_plan::Column,
    b: &mut ColumnBuilder,
    v: Option<&serde_json::Value>,
) -> Result<(), FieldError> {
    let r = match v {
        None | Some(serde_json::Value::Null) => b.push_null(),
        Some(serde_json::Value::Bool(x)) => b.push_bool(*x),
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(i) => b.push_i64(i),
            None => {
                let t = n.to_string();
                if b.is_string() {
                    b.push_string(t.as_bytes())
                } else {
                    b.push_text(t.as_bytes())
                }
            }
        },
        Some(serde_json::Value::String(s)) => {
            if b.is_string() {
                b.push_string(s.as_bytes())
            } else {
                b.push_text(s.as_bytes())
            }
        }
        Some(v @ (serde_json::Value::Array(_) | serde_json::Value::Object(_))) => {
            if b.is_string() {
                b.push_string(v.to_string().as_bytes())
            } else {
                Err(PushError::WrongKind)
            }
        }
    };
    r.map_err(|e| match e {
        PushError::NullInNotNull => FieldError::MissingNotNull {
            column: c.name.clone(),
            ty: c.ty.to_string(),
        },
        _ => FieldError::BadValue {
            column: c.name.clone(),
            ty: c.ty.to_string(),
            value: crate::format::excerpt(v.map(|v| v.to_string()).unwrap_or_default().as_bytes()),
        },
    })
}

/// Appends the fields of one split CSV line: `plan` pairs a field index with the builder that
/// takes it, `fields` holds `(start, end, quoted)` ranges of `scratch` (see
/// [`crate::kafka::decode::split_csv_line`]). A quoted field is always a string, an unquoted
/// one is parsed as text. On error: the field index, why, and its text.
pub fn push_csv_fields<'a>(
    plan: &[(usize, usize)],
    fields: &[(usize, usize, bool)],
    scratch: &'a [u8],
    builders: &mut [ColumnBuilder],
) -> Result<(), (usize, PushError, &'a [u8])> {
    for &(fi, bi) in plan {
        let (a, b, quoted) = fields[fi];
        let field = &scratch[a..b];
        let r = if quoted {
            builders[bi].push_string(field)
        } else {
            builders[bi].push_text(field)
        };
        r.map_err(|e| (fi, e, field))?;
    }
    Ok(())
}
