//! Java user-defined functions of well-known Flink jobs, implemented natively: Strom runs no JVM,
//! so `CREATE FUNCTION name AS 'java.Class'` binds `name` to the native function of that class
//! (see [`native_for_class`]); another class is refused with the list of those known.
//!
//! - `com.github.nexmark.flink.udf.CountChar` (Nexmark's q14): `count_char(s, c)`, the number of
//!   characters of `s` equal to the first character of `c` (0 when `s` is NULL; NULL when `c` is
//!   NULL or empty).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::Arc;

/// The Java classes Strom implements, with the name of their native function.
pub const JAVA_CLASSES: &[(&str, &str)] =
    &[("com.github.nexmark.flink.udf.CountChar", "count_char")];

/// The native function of Java class `class`, if Strom implements it.
pub fn native_for_class(class: &str) -> Option<&'static str> {
    JAVA_CLASSES
        .iter()
        .find(|(c, _)| *c == class)
        .map(|(_, f)| *f)
}

/// Nexmark's `CountChar`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CountChar {
    signature: Signature,
}

impl Default for CountChar {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CountChar {
    fn name(&self) -> &str {
        "count_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "count_char(string, character) takes 2 arguments, got {}",
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .map(|t| match t {
                t if super::strings::is_string(t) => Ok(DataType::Utf8),
                other => plan_err!("count_char(string, character): an argument is {other}"),
            })
            .collect()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(n).and_then(|a| Ok(cast(&a, &DataType::Utf8)?)))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let (s, c) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
        let out: Int64Array = (0..n)
            .map(|row| {
                let wanted = c.is_valid(row).then(|| c.value(row).chars().next())??;
                if s.is_null(row) {
                    return Some(0);
                }
                Some(s.value(row).chars().filter(|x| *x == wanted).count() as i64)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    #[test]
    fn count_char_counts_the_first_character_of_its_second_argument() {
        let s: ArrayRef = Arc::new(StringArray::from(vec![
            Some("abcabc"),
            None,
            Some("xyz"),
            Some("cc"),
        ]));
        let c: ArrayRef = Arc::new(StringArray::from(vec![
            Some("c"),
            Some("c"),
            None,
            Some(""),
        ]));
        let args = ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(s), ColumnarValue::Array(c)],
            arg_fields: vec![
                Arc::new(Field::new("s", DataType::Utf8, true)),
                Arc::new(Field::new("c", DataType::Utf8, true)),
            ],
            number_rows: 4,
            return_field: Arc::new(Field::new("n", DataType::Int64, true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        let ColumnarValue::Array(out) = CountChar::default().invoke_with_args(args).unwrap() else {
            panic!("an array")
        };
        let out = out.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let got: Vec<Option<i64>> = (0..4)
            .map(|i| out.is_valid(i).then(|| out.value(i)))
            .collect();
        assert_eq!(got, vec![Some(2), Some(0), None, None]);
        assert_eq!(
            native_for_class("com.github.nexmark.flink.udf.CountChar"),
            Some("count_char")
        );
        assert_eq!(native_for_class("com.example.Other"), None);
    }
}
