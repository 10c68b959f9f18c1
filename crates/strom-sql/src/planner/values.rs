//! Translation rule: the rows of `VALUES (...), (...)` and the one row of a `SELECT` without
//! `FROM` into a source of the `values` connector, the rows in its options (see
//! [`strom_plan::values`]). Their expressions are constants, evaluated here.

use super::*;
use datafusion::arrow::array::{
    new_empty_array, Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions,
};
use datafusion::arrow::compute::{cast, concat};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::physical_expr::create_physical_expr;

impl Builder<'_> {
    pub(super) fn values(
        &mut self,
        v: &datafusion::logical_expr::Values,
    ) -> Result<usize, SqlError> {
        let schema = row_schema(&v.schema)?;
        let arrow = schema.to_arrow();
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .map_err(|e| SqlError::new(e.to_string()))?;
        let empty = DFSchema::empty();
        let props = ExecutionProps::new();
        let mut columns = Vec::with_capacity(schema.len());
        for (c, field) in arrow.fields().iter().enumerate() {
            let mut values: Vec<ArrayRef> = Vec::with_capacity(v.values.len());
            for row in &v.values {
                let e = create_physical_expr(
                    &row[c],
                    &empty,
                    &props,
                    &PhysicalPlanningContext::default(),
                )
                .map_err(df_error)?;
                let value = e
                    .evaluate(&one_row)
                    .and_then(|v| v.into_array(1))
                    .map_err(df_error)?;
                values.push(
                    cast(&value, field.data_type()).map_err(|e| SqlError::new(e.to_string()))?,
                );
            }
            let refs: Vec<&dyn Array> = values.iter().map(|a| a.as_ref()).collect();
            columns.push(if refs.is_empty() {
                new_empty_array(field.data_type())
            } else {
                concat(&refs).map_err(|e| SqlError::new(e.to_string()))?
            });
        }
        let batch =
            RecordBatch::try_new(arrow, columns).map_err(|e| SqlError::new(e.to_string()))?;
        self.values_source(schema, &batch)
    }

    /// `SELECT 1`: one row of no columns (a placeholder column here, which no expression
    /// reads), or no rows.
    pub(super) fn empty_relation(
        &mut self,
        e: &datafusion::logical_expr::EmptyRelation,
    ) -> Result<usize, SqlError> {
        if !e.produce_one_row {
            let schema = row_schema(&e.schema)?;
            let batch = RecordBatch::new_empty(schema.to_arrow());
            return self.values_source(schema, &batch);
        }
        let schema = RowSchema::new(vec![Column {
            name: "$row".into(),
            ty: SqlType::Boolean,
            nullable: false,
        }]);
        let batch = RecordBatch::try_new(
            schema.to_arrow(),
            vec![Arc::new(BooleanArray::from(vec![true])) as ArrayRef],
        )
        .map_err(|e| SqlError::new(e.to_string()))?;
        self.values_source(schema, &batch)
    }

    fn values_source(&mut self, schema: RowSchema, batch: &RecordBatch) -> Result<usize, SqlError> {
        let mut options = BTreeMap::new();
        options.insert(
            "connector".to_string(),
            strom_plan::values::CONNECTOR.to_string(),
        );
        options.insert(
            strom_plan::values::ROWS_OPTION.to_string(),
            strom_plan::values::encode(batch).map_err(|e| SqlError::new(e.to_string()))?,
        );
        let proj = (0..schema.len()).collect();
        let table = TableSpec {
            name: format!("values${}", self.nodes.len()),
            schema,
            options,
            watermark: None,
            primary_key: Vec::new(),
            partition_keys: Vec::new(),
        };
        let spec = self.source_spec(table, proj, None)?;
        Ok(self.add(OperatorSpec::Source(spec), vec![], None))
    }
}
