//! Flink's string functions DataFusion has no equivalent for:
//!
//! - `SPLIT_INDEX(s, separator, index)`: the `index`-th (from 0) piece of `s` split at every
//!   `separator`; NULL when an argument is NULL or `index` is negative or past the last piece;
//! - `REGEXP_EXTRACT(s, regex[, index])`: group `index` (0 = the whole match, the default as in
//!   Flink) of the first match of `regex` (Java-like syntax, the `regex` crate's) in `s`; NULL
//!   when nothing matches, the group did not take part in the match, or an argument is NULL.
//!   A regex that does not compile, or an index beyond its groups, fails the query.

use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Which function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StringFn {
    SplitIndex,
    RegexpExtract,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FlinkStringFunc {
    kind: StringFn,
    signature: Signature,
}

impl FlinkStringFunc {
    pub fn new(kind: StringFn) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn arity(&self) -> (usize, usize, &'static str) {
        match self.kind {
            StringFn::SplitIndex => (3, 3, "SPLIT_INDEX(string, separator, index)"),
            StringFn::RegexpExtract => (2, 3, "REGEXP_EXTRACT(string, regex[, index])"),
        }
    }
}

pub(super) fn is_string(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

impl ScalarUDFImpl for FlinkStringFunc {
    fn name(&self) -> &str {
        match self.kind {
            StringFn::SplitIndex => "split_index",
            StringFn::RegexpExtract => "regexp_extract",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (min, max, usage) = self.arity();
        if !(min..=max).contains(&arg_types.len()) {
            return plan_err!(
                "{usage} takes {min} to {max} arguments, got {}",
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match i {
                0 | 1 if is_string(t) => Ok(DataType::Utf8),
                2 if t.is_integer() || matches!(t, DataType::Null) => Ok(DataType::Int64),
                _ => plan_err!("{usage}: argument {} cannot be {t}", i + 1),
            })
            .collect()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = super::arrays(&args)?;
        let text = |i: usize| super::utf8(&arrays[i]);
        let (s, second) = (text(0)?, text(1)?);
        let index: Option<Int64Array> = match arrays.get(2) {
            Some(a) => Some(cast(a, &DataType::Int64)?.as_primitive().clone()),
            None => None,
        };
        let index_at = |row: usize| -> Option<i64> {
            match &index {
                Some(ix) if ix.is_null(row) => None,
                Some(ix) => Some(ix.value(row)),
                None => Some(0),
            }
        };
        let out: StringArray = match self.kind {
            StringFn::SplitIndex => (0..n)
                .map(|row| {
                    if s.is_null(row) || second.is_null(row) {
                        return None;
                    }
                    let i = usize::try_from(index_at(row)?).ok()?;
                    let sep = second.value(row);
                    if sep.is_empty() {
                        return (i == 0).then(|| s.value(row).to_string());
                    }
                    s.value(row).split(sep).nth(i).map(str::to_string)
                })
                .collect(),
            StringFn::RegexpExtract => {
                // one compiled regex per distinct pattern of the batch; the last one used is
                // kept at hand (a constant pattern: every row), its capture slots reused
                let mut compiled: HashMap<&str, regex::Regex> = HashMap::new();
                let mut last: Option<(&str, regex::Regex, regex::CaptureLocations)> = None;
                let mut out = StringBuilder::with_capacity(n, n * 4);
                for row in 0..n {
                    let group = match index_at(row) {
                        Some(g) if s.is_valid(row) && second.is_valid(row) => g,
                        _ => {
                            out.append_null();
                            continue;
                        }
                    };
                    let pattern = second.value(row);
                    if last.as_ref().is_none_or(|(p, _, _)| *p != pattern) {
                        let re = match compiled.get(pattern) {
                            Some(re) => re.clone(),
                            None => match regex::Regex::new(pattern) {
                                Ok(re) => {
                                    compiled.insert(pattern, re.clone());
                                    re
                                }
                                Err(e) => {
                                    return exec_err!("REGEXP_EXTRACT: bad regex '{pattern}': {e}")
                                }
                            },
                        };
                        let locations = re.capture_locations();
                        last = Some((pattern, re, locations));
                    }
                    let Some((_, re, locations)) = last.as_mut() else {
                        return exec_err!("REGEXP_EXTRACT: regex '{pattern}' lost");
                    };
                    let groups = re.captures_len() as i64;
                    if group < 0 || group >= groups {
                        return exec_err!(
                            "REGEXP_EXTRACT: group {group} does not exist in '{pattern}' (it has {} groups)",
                            groups - 1
                        );
                    }
                    let text = s.value(row);
                    match re
                        .captures_read(locations, text)
                        .and_then(|_| locations.get(group as usize))
                    {
                        Some((from, to)) => out.append_value(&text[from..to]),
                        None => out.append_null(),
                    }
                }
                out.finish()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
