//! `CAST(x AS STRING)` (and `VARCHAR`) with Flink's text for the types whose text differs from
//! DataFusion's (Flink's `*ToStringCastRule`s): timestamps as `yyyy-MM-dd HH:mm:ss` with as many
//! fraction digits as the type's precision (`.SSS` for TIMESTAMP(3)), not ISO's `T`; booleans
//! as `TRUE` / `FALSE`; DOUBLE and FLOAT as Java's `Double.toString` (`1.0`, `1.0E10`). Other
//! types are cast by Arrow, whose text is Flink's. `strom_sql::flink_functions` rewrites the
//! casts into this function before planning.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::Arc;

/// The function's name in plans.
pub const NAME: &str = "flink_cast_string";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FlinkCastString {
    signature: Signature,
}

impl Default for FlinkCastString {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for FlinkCastString {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return datafusion::common::plan_err!("CAST takes one value");
        };
        match arg {
            ColumnarValue::Array(a) => Ok(ColumnarValue::Array(to_string(a)?)),
            ColumnarValue::Scalar(s) => {
                let a = to_string(&s.to_array()?)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?))
            }
        }
    }
}

/// Each value of `a` as Flink's text.
pub fn to_string(a: &ArrayRef) -> Result<ArrayRef> {
    let each = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(a.len(), a.len() * 8);
        for i in 0..a.len() {
            if a.is_null(i) {
                b.append_null();
            } else {
                b.append_value(f(i));
            }
        }
        Arc::new(b.finish())
    };
    Ok(match a.data_type() {
        DataType::Timestamp(unit, _) => {
            let digits = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            let (secs, nanos): (Vec<i64>, Vec<u32>) = match unit {
                TimeUnit::Second => split(a.as_primitive::<TimestampSecondType>().values(), 1),
                TimeUnit::Millisecond => {
                    split(a.as_primitive::<TimestampMillisecondType>().values(), 1_000)
                }
                TimeUnit::Microsecond => split(
                    a.as_primitive::<TimestampMicrosecondType>().values(),
                    1_000_000,
                ),
                TimeUnit::Nanosecond => split(
                    a.as_primitive::<TimestampNanosecondType>().values(),
                    1_000_000_000,
                ),
            };
            each(&|i| timestamp_text(secs[i], nanos[i], digits))
        }
        DataType::Boolean => {
            let b = a.as_boolean();
            each(&|i| if b.value(i) { "TRUE" } else { "FALSE" }.to_string())
        }
        DataType::Float64 => {
            let f = a.as_primitive::<Float64Type>();
            each(&|i| java_double(f.value(i)))
        }
        DataType::Float32 => {
            let f = a.as_primitive::<Float32Type>();
            each(&|i| java_double(f64::from(f.value(i))))
        }
        _ => cast(a, &DataType::Utf8)?,
    })
}

/// Whole seconds and nanoseconds of each value in units of `per_second`.
fn split(values: &[i64], per_second: i64) -> (Vec<i64>, Vec<u32>) {
    values
        .iter()
        .map(|v| {
            let s = v.div_euclid(per_second);
            let frac = v.rem_euclid(per_second);
            (s, (frac * (1_000_000_000 / per_second)) as u32)
        })
        .unzip()
}

/// `yyyy-MM-dd HH:mm:ss[.fraction]` with `digits` fraction digits.
fn timestamp_text(secs: i64, nanos: u32, digits: usize) -> String {
    let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) else {
        return format!("{secs}s");
    };
    let base = t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string();
    if digits == 0 {
        return base;
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}", &frac[..digits])
}

/// Java's `Double.toString`: decimal notation with at least one fraction digit for
/// 10^-3 <= |x| < 10^7, otherwise computerized scientific notation (`1.0E10`, `1.5E-5`);
/// the shortest digits that read back as `x`.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    // Rust's shortest scientific form: "1e10", "1.5e-5"
    let s = format!("{x:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exp}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BooleanArray, Float64Array, StringArray, TimestampMillisecondArray,
    };

    fn texts(a: ArrayRef) -> Vec<Option<String>> {
        let out = to_string(&a).unwrap();
        let s: &StringArray = out.as_string();
        s.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn timestamps_booleans_and_doubles_read_as_in_flink() {
        // 2024-01-02 03:04:05.678 and .000, and one before 1970
        let ts = TimestampMillisecondArray::from(vec![
            Some(1_704_164_645_678),
            Some(1_704_164_645_000),
            None,
            Some(-1),
        ]);
        assert_eq!(
            texts(Arc::new(ts)),
            [
                Some("2024-01-02 03:04:05.678".to_string()),
                Some("2024-01-02 03:04:05.000".to_string()),
                None,
                Some("1969-12-31 23:59:59.999".to_string())
            ]
        );
        let b = BooleanArray::from(vec![Some(true), Some(false), None]);
        assert_eq!(
            texts(Arc::new(b)),
            [Some("TRUE".into()), Some("FALSE".into()), None]
        );
        let d = Float64Array::from(vec![
            1.0, 0.1, 1e10, 1.5e-5, -2.5, 1234567.0, 12345678.0, 0.001,
        ]);
        assert_eq!(
            texts(Arc::new(d)).into_iter().flatten().collect::<Vec<_>>(),
            [
                "1.0",
                "0.1",
                "1.0E10",
                "1.5E-5",
                "-2.5",
                "1234567.0",
                "1.2345678E7",
                "0.001"
            ]
        );
    }
}
