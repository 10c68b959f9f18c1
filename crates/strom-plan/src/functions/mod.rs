//! The DataFusion session Strom plans and evaluates with: DataFusion's built-in functions plus
//! Flink functions DataFusion lacks (`MOD`, `PROCTIME`), and Flink's semantics where Flink and
//! DataFusion share a name but differ: `DATE_FORMAT`, `TO_TIMESTAMP`, `TO_DATE`, `FROM_UNIXTIME`
//! ([`datetime`], Java date patterns), `LOG` ([`log`], natural logarithm), `CONCAT`, `GREATEST`,
//! `LEAST` ([`flink_variant`], NULL when an argument is NULL), `EXTRACT(DOW ...)` ([`flink_variant`],
//! 1 = Sunday), `CAST(... AS STRING)` ([`cast_string`], Flink's text of timestamps, booleans and
//! doubles); Flink's `SPLIT_INDEX` and `REGEXP_EXTRACT` ([`strings`]); Flink's JSON
//! functions ([`json`]); and Flink's `COLLECT` aggregate ([`collect`]). Flink spellings of
//! what DataFusion has (`IF`, `HOUR`, `UNIX_TIMESTAMP`, ...) are rewritten before planning
//! (`strom_sql::flink_functions`).
//!
//! Checked against Flink's list of built-in functions, the other names DataFusion shares with
//! Flink behave alike for Flink's documented examples (string, math, conditional and temporal
//! functions such as `SUBSTRING`, `TRIM`, `LPAD`, `REPLACE`, `CONCAT_WS`, `ROUND`, `POWER`,
//! `COALESCE`, `NULLIF`, `NOW`).
//!
//! Java UDFs of well-known jobs that Strom implements natively (`CREATE FUNCTION ... AS
//! 'java.Class'`) are in [`java_udfs`].

pub mod cast_string;
pub mod collect;
mod datetime;
mod flink_variant;
mod java_time;
pub mod java_udfs;
pub mod json;
mod log;
mod strings;

use datafusion::arrow::compute::kernels::numeric::rem;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result};
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datetime::{FlinkTimeFunc, TimeFn};
use std::sync::Arc;

/// A session configured for Flink semantics (decimal literals, Flink functions).
pub fn session_context() -> SessionContext {
    let mut config = SessionConfig::new()
        .with_target_partitions(1)
        .with_information_schema(false);
    config.options_mut().sql_parser.parse_float_as_decimal = true;
    config.options_mut().execution.time_zone = Some("+00:00".to_string());
    // uncorrelated scalar subqueries become joins with their single row (as Flink plans them),
    // not a physical operator that shares the value in memory with the expressions using it:
    // those may run in other tasks
    config
        .options_mut()
        .optimizer
        .enable_physical_uncorrelated_scalar_subquery = false;
    // Flink's EXTRACT planned before DataFusion's
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    state
        .expr_planners()
        .get_or_insert_with(Vec::new)
        .insert(0, Arc::new(flink_variant::FlinkExtractPlanner));
    let ctx = SessionContext::new_with_state(state.build());
    // registered after DataFusion's functions, so that Flink's win where names (or DataFusion's
    // aliases, such as to_char's `date_format`) are shared
    for udaf in aggregate_functions() {
        ctx.register_udaf(udaf.as_ref().clone());
    }
    ctx.register_udf(ScalarUDF::from(ModFunc::new()));
    ctx.register_udf(ScalarUDF::from(ProcTimeFunc::new()));
    for kind in [
        TimeFn::DateFormat,
        TimeFn::ToTimestamp,
        TimeFn::ToDate,
        TimeFn::FromUnixtime,
    ] {
        ctx.register_udf(ScalarUDF::from(FlinkTimeFunc::new(kind)));
    }
    ctx.register_udf(ScalarUDF::from(log::FlinkLog::new()));
    for kind in [
        strings::StringFn::SplitIndex,
        strings::StringFn::RegexpExtract,
    ] {
        ctx.register_udf(ScalarUDF::from(strings::FlinkStringFunc::new(kind)));
    }
    ctx.register_udf(ScalarUDF::from(flink_variant::FlinkVariant::date_part()));
    for kind in json::JsonFn::ALL {
        ctx.register_udf(ScalarUDF::from(json::JsonFunc::new(kind)));
    }
    ctx.register_udf(ScalarUDF::from(java_udfs::CountChar::default()));
    ctx.register_udf(ScalarUDF::from(cast_string::FlinkCastString::default()));
    for inner in [
        datafusion::functions::string::concat(),
        datafusion::functions::core::greatest(),
        datafusion::functions::core::least(),
    ] {
        ctx.register_udf(ScalarUDF::from(flink_variant::FlinkVariant::null_strict(
            inner,
        )));
    }
    ctx
}

/// Flink's aggregate functions DataFusion lacks: `COLLECT` ([`collect`]).
pub fn aggregate_functions() -> Vec<Arc<datafusion::logical_expr::AggregateUDF>> {
    vec![Arc::new(datafusion::logical_expr::AggregateUDF::from(
        collect::Collect::default(),
    ))]
}

/// The arguments of a call as arrays of its rows.
fn arrays(args: &ScalarFunctionArgs) -> Result<Vec<datafusion::arrow::array::ArrayRef>> {
    args.args
        .iter()
        .map(|a| a.to_array(args.number_rows))
        .collect()
}

/// `a` as a string array (cast).
fn utf8(a: &datafusion::arrow::array::ArrayRef) -> Result<datafusion::arrow::array::StringArray> {
    use datafusion::arrow::array::AsArray;
    Ok(datafusion::arrow::compute::cast(a, &DataType::Utf8)?
        .as_string::<i32>()
        .clone())
}

/// Flink's `PROCTIME()`: the wall-clock time when the row is processed, as TIMESTAMP(3) (UTC),
/// evaluated per batch at run time (volatile: never folded into a constant at planning).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ProcTimeFunc {
    signature: Signature,
}

impl ProcTimeFunc {
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(vec![], Volatility::Volatile),
        }
    }
}

impl Default for ProcTimeFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ProcTimeFunc {
    fn name(&self) -> &str {
        "proctime"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Millisecond,
            None,
        ))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Ok(ColumnarValue::Scalar(
            datafusion::common::ScalarValue::TimestampMillisecond(Some(now), None),
        ))
    }
}

/// Flink's `MOD(a, b)`: the remainder with the sign of `a` (as Java's `%`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ModFunc {
    signature: Signature,
}

impl ModFunc {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ModFunc {
    fn default() -> Self {
        Self::new()
    }
}

fn mod_type(a: &DataType, b: &DataType) -> Result<DataType> {
    use DataType::*;
    let int = |t: &DataType| {
        matches!(
            t,
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Null
        )
    };
    if int(a) && int(b) {
        Ok(
            if matches!(
                (a, b),
                (Int8 | Int16 | Int32 | Null, Int8 | Int16 | Int32 | Null)
            ) {
                Int32
            } else {
                Int64
            },
        )
    } else if a.is_numeric() && b.is_numeric() || matches!(a, Null) || matches!(b, Null) {
        Ok(Float64)
    } else {
        plan_err!("MOD expects two numeric arguments, got {a} and {b}")
    }
}

impl ScalarUDFImpl for ModFunc {
    fn name(&self) -> &str {
        "mod"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [a, b] => mod_type(a, b),
            _ => plan_err!("MOD expects 2 arguments, got {}", arg_types.len()),
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [a, b] => {
                let t = mod_type(a, b)?;
                Ok(vec![t.clone(), t])
            }
            _ => plan_err!("MOD expects 2 arguments, got {}", arg_types.len()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [a, b] = args.args.as_slice() else {
            return plan_err!("MOD expects 2 arguments");
        };
        let scalar_result = matches!((a, b), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
        let a = a.to_array(n)?;
        let b = b.to_array(n)?;
        let r = rem(&a, &b)?;
        if scalar_result {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&r, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(Arc::new(r) as _))
        }
    }
}

#[cfg(test)]
mod tests;
