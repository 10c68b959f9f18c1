//! Flink functions that DataFusion has under the same name with other semantics, where
//! DataFusion computes the value and Flink's semantics adjust it:
//! - NULL when any argument is NULL: `CONCAT` (DataFusion skips NULLs), `GREATEST` and `LEAST`
//!   (DataFusion ignores NULLs);
//! - `EXTRACT(DOW FROM t)` (DataFusion's `date_part('dow', t)`): Flink counts the days of the
//!   week from 1 (Sunday) to 7, DataFusion from 0 (Sunday) to 6; every other part is
//!   DataFusion's.

use datafusion::arrow::array::{new_null_array, Array, ArrayRef, BooleanBufferBuilder, Scalar};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::kernels::numeric::add;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use std::sync::Arc;

/// How Flink's semantics adjust DataFusion's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Adjust {
    /// NULL on every row where an argument is NULL.
    NullStrict,
    /// `date_part('dow', ...)` + 1.
    DowFromOne,
}

/// DataFusion's function `inner`, with Flink's adjustment.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FlinkVariant {
    inner: Arc<ScalarUDF>,
    adjust: Adjust,
}

impl FlinkVariant {
    /// `inner`, answering NULL where an argument is NULL.
    pub fn null_strict(inner: Arc<ScalarUDF>) -> Self {
        Self {
            inner,
            adjust: Adjust::NullStrict,
        }
    }

    /// `date_part` (and `EXTRACT`) with Flink's days of the week.
    pub fn date_part() -> Self {
        Self {
            inner: datafusion::functions::datetime::date_part(),
            adjust: Adjust::DowFromOne,
        }
    }
}

impl ScalarUDFImpl for FlinkVariant {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        #[allow(deprecated)]
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match self.adjust {
            Adjust::NullStrict => null_strict(&self.inner, args),
            Adjust::DowFromOne => dow_from_one(&self.inner, args),
        }
    }
}

fn null_strict(inner: &ScalarUDF, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
    let n = args.number_rows;
    let any_null_scalar = args
        .args
        .iter()
        .any(|a| matches!(a, ColumnarValue::Scalar(s) if s.is_null()));
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let ty = args.return_field.data_type().clone();
    if any_null_scalar {
        return Ok(if all_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from(&ty)?)
        } else {
            ColumnarValue::Array(new_null_array(&ty, n))
        });
    }
    // rows where an array argument is NULL
    let mut valid: Option<BooleanBufferBuilder> = None;
    for a in &args.args {
        if let ColumnarValue::Array(arr) = a {
            if let Some(nulls) = arr.logical_nulls() {
                let v = valid.get_or_insert_with(|| {
                    let mut b = BooleanBufferBuilder::new(n);
                    b.append_n(n, true);
                    b
                });
                for i in 0..n {
                    if nulls.is_null(i) {
                        v.set_bit(i, false);
                    }
                }
            }
        }
    }
    let out = inner.invoke_with_args(args)?;
    let Some(mut valid) = valid else {
        return Ok(out);
    };
    let out: ArrayRef = out.to_array(n)?;
    let mask = NullBuffer::new(valid.finish());
    let nulls = NullBuffer::union(Some(&mask), out.logical_nulls().as_ref());
    let data = out.to_data().into_builder().nulls(nulls).build()?;
    Ok(ColumnarValue::Array(datafusion::arrow::array::make_array(
        data,
    )))
}

fn dow_from_one(inner: &ScalarUDF, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
    let dow = matches!(
        args.args.first(),
        Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(p)) | ScalarValue::Utf8View(Some(p)) | ScalarValue::LargeUtf8(Some(p))))
            if p.eq_ignore_ascii_case("dow")
    );
    let out = inner.invoke_with_args(args)?;
    if !dow {
        return Ok(out);
    }
    let one = ScalarValue::Int32(Some(1)).cast_to(&out.data_type())?;
    let one = Scalar::new(one.to_array()?);
    Ok(match out {
        ColumnarValue::Array(a) => ColumnarValue::Array(add(&a, &one)?),
        ColumnarValue::Scalar(s) => {
            let a = add(&s.to_array()?, &one)?;
            ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?)
        }
    })
}

/// Plans `EXTRACT(part FROM t)` with [`FlinkDatePart`] (DataFusion's own planner calls its
/// `date_part` directly, not through the function registry).
#[derive(Debug)]
pub struct FlinkExtractPlanner;

impl datafusion::logical_expr::planner::ExprPlanner for FlinkExtractPlanner {
    fn plan_extract(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
    ) -> Result<datafusion::logical_expr::planner::PlannerResult<Vec<datafusion::logical_expr::Expr>>>
    {
        Ok(datafusion::logical_expr::planner::PlannerResult::Planned(
            datafusion::logical_expr::Expr::ScalarFunction(
                datafusion::logical_expr::expr::ScalarFunction::new_udf(
                    Arc::new(ScalarUDF::from(FlinkVariant::date_part())),
                    args,
                ),
            ),
        ))
    }
}
