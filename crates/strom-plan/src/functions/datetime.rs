//! Flink's date and time functions whose names DataFusion also uses with other semantics:
//! `DATE_FORMAT` (DataFusion: an alias of `to_char`, chrono patterns), `TO_TIMESTAMP` and
//! `TO_DATE` (chrono patterns, nanosecond timestamps), `FROM_UNIXTIME` (DataFusion answers a
//! timestamp, Flink a string). Patterns are Java's (see [`super::java_time`]); the session time
//! zone is UTC. As in Flink, a string that does not match its pattern gives NULL.

use super::java_time::{parse_default_timestamp, JavaPattern};
use chrono::{DateTime, NaiveDateTime};
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, Int64Array, StringArray, StringBuilder, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::Arc;

/// Which Flink function a [`FlinkTimeFunc`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeFn {
    /// `DATE_FORMAT(timestamp | string, pattern)` -> STRING
    DateFormat,
    /// `TO_TIMESTAMP(string [, pattern])` -> TIMESTAMP(3)
    ToTimestamp,
    /// `TO_DATE(string [, pattern])` -> DATE
    ToDate,
    /// `FROM_UNIXTIME(seconds [, pattern])` -> STRING
    FromUnixtime,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FlinkTimeFunc {
    kind: TimeFn,
    signature: Signature,
}

impl FlinkTimeFunc {
    pub fn new(kind: TimeFn) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn default_pattern(&self) -> &'static str {
        match self.kind {
            TimeFn::ToDate => "yyyy-MM-dd",
            _ => "yyyy-MM-dd HH:mm:ss",
        }
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

impl ScalarUDFImpl for FlinkTimeFunc {
    fn name(&self) -> &str {
        match self.kind {
            TimeFn::DateFormat => "date_format",
            TimeFn::ToTimestamp => "to_timestamp",
            TimeFn::ToDate => "to_date",
            TimeFn::FromUnixtime => "from_unixtime",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            TimeFn::DateFormat | TimeFn::FromUnixtime => DataType::Utf8,
            TimeFn::ToTimestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            TimeFn::ToDate => DataType::Date32,
        })
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name().to_ascii_uppercase();
        let (first, pattern) = match arg_types {
            [a] if self.kind != TimeFn::DateFormat => (a, None),
            [a, p] => (a, Some(p)),
            _ => {
                return plan_err!(
                    "{name} expects {} arguments, got {}",
                    if self.kind == TimeFn::DateFormat {
                        "2"
                    } else {
                        "1 or 2"
                    },
                    arg_types.len()
                )
            }
        };
        if let Some(p) = pattern {
            if !is_string(p) {
                return plan_err!("{name}: the pattern must be a STRING, got {p}");
            }
        }
        let first = match self.kind {
            TimeFn::DateFormat => match first {
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => first.clone(),
                t if is_string(t) => DataType::Utf8,
                t => return plan_err!("DATE_FORMAT expects a TIMESTAMP, DATE or STRING, got {t}"),
            },
            TimeFn::ToTimestamp | TimeFn::ToDate => match first {
                t if is_string(t) => DataType::Utf8,
                t => return plan_err!("{name} expects a STRING, got {t}"),
            },
            TimeFn::FromUnixtime => match first {
                t if t.is_integer() || matches!(t, DataType::Null) => DataType::Int64,
                t => {
                    return plan_err!("FROM_UNIXTIME expects an integer number of seconds, got {t}")
                }
            },
        };
        let mut out = vec![first];
        if pattern.is_some() {
            out.push(DataType::Utf8);
        }
        Ok(out)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { n };
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let patterns = Patterns::new(arrays.get(1), self.default_pattern())?;
        let values = datetimes(&arrays[0], self.kind)?;
        let result: ArrayRef = match self.kind {
            TimeFn::DateFormat | TimeFn::FromUnixtime => {
                let mut out = StringBuilder::with_capacity(rows, rows * 16);
                let mut text = String::new();
                for (i, v) in values.iter().enumerate() {
                    match (v, patterns.get(i)?) {
                        (Some(t), Some(p)) => {
                            text.clear();
                            p.format_into(t, &mut text);
                            out.append_value(&text);
                        }
                        _ => out.append_null(),
                    }
                }
                Arc::new(out.finish())
            }
            TimeFn::ToTimestamp | TimeFn::ToDate => {
                let strings = arrays[0].as_any().downcast_ref::<StringArray>();
                let mut out = Vec::with_capacity(rows);
                for i in 0..rows {
                    let s = strings.filter(|a| a.is_valid(i)).map(|a| a.value(i));
                    let t = match (s, arrays.len()) {
                        (None, _) => None,
                        (Some(s), 1) => parse_default_timestamp(s),
                        (Some(s), _) => patterns.get(i)?.and_then(|p| p.parse(s)),
                    };
                    out.push(t);
                }
                if self.kind == TimeFn::ToDate {
                    Arc::new(Date32Array::from(
                        out.into_iter()
                            .map(|t| {
                                t.map(|t| {
                                    (t.date() - chrono::NaiveDate::default()).num_days() as i32
                                })
                            })
                            .collect::<Vec<_>>(),
                    ))
                } else {
                    Arc::new(TimestampMillisecondArray::from(
                        out.into_iter()
                            .map(|t| t.map(|t| t.and_utc().timestamp_millis()))
                            .collect::<Vec<_>>(),
                    ))
                }
            }
        };
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

/// The pattern of each row: one compiled pattern when it is the same for every row (a constant,
/// as an array or not).
enum Patterns {
    One(JavaPattern),
    PerRow(StringArray),
}

impl Patterns {
    fn new(arg: Option<&ArrayRef>, default: &str) -> Result<Self> {
        let compile = |p: &str| {
            JavaPattern::compile(p)
                .map_err(|e| datafusion::error::DataFusionError::Execution(e.to_string()))
        };
        let Some(a) = arg else {
            return Ok(Self::One(compile(default)?));
        };
        let a = cast(a, &DataType::Utf8)?;
        let a = a
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8")
            .clone();
        let constant =
            a.null_count() == 0 && !a.is_empty() && (1..a.len()).all(|i| a.value(i) == a.value(0));
        if constant {
            return Ok(Self::One(compile(a.value(0))?));
        }
        Ok(Self::PerRow(a))
    }

    fn get(&self, i: usize) -> Result<Option<std::borrow::Cow<'_, JavaPattern>>> {
        use std::borrow::Cow;
        match self {
            Self::One(p) => Ok(Some(Cow::Borrowed(p))),
            Self::PerRow(a) if a.is_valid(i) => JavaPattern::compile(a.value(i))
                .map(|p| Some(Cow::Owned(p)))
                .map_err(|e| datafusion::error::DataFusionError::Execution(e.to_string())),
            Self::PerRow(_) => Ok(None),
        }
    }
}

/// The first argument as date-times (for DATE_FORMAT and FROM_UNIXTIME), or untouched strings
/// (TO_TIMESTAMP, TO_DATE: an empty list, they parse the strings themselves).
fn datetimes(a: &ArrayRef, kind: TimeFn) -> Result<Vec<Option<NaiveDateTime>>> {
    let from_millis = |ms: i64| DateTime::from_timestamp_millis(ms).map(|t| t.naive_utc());
    match (kind, a.data_type()) {
        (TimeFn::ToTimestamp | TimeFn::ToDate, _) => Ok(Vec::new()),
        (TimeFn::FromUnixtime, _) => {
            let s = cast(a, &DataType::Int64)?;
            let s = s.as_any().downcast_ref::<Int64Array>().expect("Int64");
            Ok(s.iter()
                .map(|v| v.and_then(|v| DateTime::from_timestamp(v, 0).map(|t| t.naive_utc())))
                .collect())
        }
        (_, DataType::Utf8) => {
            let s = a.as_any().downcast_ref::<StringArray>().expect("Utf8");
            Ok(s.iter()
                .map(|v| v.and_then(parse_default_timestamp))
                .collect())
        }
        (_, DataType::Timestamp(..) | DataType::Date32 | DataType::Date64) => {
            let ms = cast(a, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            let ms = ms
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .expect("Timestamp(ms)");
            Ok(ms.iter().map(|v| v.and_then(from_millis)).collect())
        }
        (_, other) => exec_err!("DATE_FORMAT cannot format a {other}"),
    }
}
