//! The Calc operator's spec: projection and filter.

use super::ExprSpec;
use super::Spec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// Projection and filter (Flink's `Calc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalcSpec {
    pub input: RowSchema,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ExprSpec>,
    /// Output expressions with their names, evaluated over `input`.
    pub exprs: Vec<(String, ExprSpec)>,
    pub output: RowSchema,
}

impl Spec for CalcSpec {
    fn name(&self) -> String {
        if self.filter.is_some() {
            "Calc(where)".to_string()
        } else {
            "Calc".to_string()
        }
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        let sel: Vec<String> = self
            .exprs
            .iter()
            .map(|(n, e)| format!("{} AS {n}", e.sql))
            .collect();
        match &self.filter {
            Some(f) => format!("Calc(select=[{}], where=[{}])", sel.join(", "), f.sql),
            None => format!("Calc(select=[{}])", sel.join(", ")),
        }
    }
}
