//! Flink's `LOG(x)` is the natural logarithm (DataFusion's `log(x)` is base 10); `LOG(b, x)`
//! is the logarithm of `x` to base `b` in both.

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::Arc;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FlinkLog {
    signature: Signature,
}

impl FlinkLog {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for FlinkLog {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for FlinkLog {
    fn name(&self) -> &str {
        "log"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(1..=2).contains(&arg_types.len()) {
            return plan_err!("LOG expects 1 or 2 arguments, got {}", arg_types.len());
        }
        for t in arg_types {
            if !t.is_numeric() && !matches!(t, DataType::Null) {
                return plan_err!("LOG expects numeric arguments, got {t}");
            }
        }
        Ok(vec![DataType::Float64; arg_types.len()])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let floats = args
            .args
            .iter()
            .map(|a| {
                let a = cast(&a.to_array(rows)?, &DataType::Float64)?;
                Ok(a.as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("Float64")
                    .clone())
            })
            .collect::<Result<Vec<_>>>()?;
        let out: Float64Array = match floats.as_slice() {
            [x] => x.iter().map(|x| x.map(f64::ln)).collect(),
            [b, x] => b
                .iter()
                .zip(x.iter())
                .map(|(b, x)| Some(x?.ln() / b?.ln()))
                .collect(),
            _ => return plan_err!("LOG expects 1 or 2 arguments"),
        };
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(Arc::new(out)))
        }
    }
}
