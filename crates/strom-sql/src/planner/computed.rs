//! Translation rule: computed columns of `CREATE TABLE` (`name AS expression`). They are typed
//! when the table is declared; in streaming mode the source evaluates them on the columns its
//! connector read (so a watermark may be declared on one, as Nexmark's `dateTime`); in batch
//! mode the table is planned as a projection over its physical columns.

use super::*;
use crate::catalog::ComputedSql;
use crate::parser::ComputedColumn;

/// Types the computed columns of `table` (placeholders in its schema) from their expressions
/// over the physical columns, and checks a watermark declared on one. Returns them as SQL.
pub(super) fn declare(
    table: &mut TableSpec,
    computed: &[ComputedColumn],
    state: &SessionState,
) -> Result<Vec<ComputedSql>, SqlError> {
    let is_computed = |name: &str| computed.iter().any(|c| c.name == name);
    let physical = RowSchema::new(
        table
            .schema
            .columns
            .iter()
            .filter(|c| !is_computed(&c.name))
            .cloned()
            .collect(),
    );
    let df = df_schema(&physical)?;
    let mut out = Vec::with_capacity(computed.len());
    for c in computed {
        let sql = c.expr.to_string();
        let expr = typed_expr(state, &sql, &df).map_err(|e| {
            SqlError::at_span(
                format!(
                    "computed column '{}' AS {sql}: {} (a computed column reads the table's other, non-computed columns)",
                    c.name,
                    df_error(e)
                ),
                c.span,
            )
        })?;
        let dt = expr
            .get_type(&df)
            .map_err(|e| SqlError::at_span(df_error(e).message, c.span))?;
        let ty = SqlType::from_arrow(&dt).ok_or_else(|| {
            SqlError::at_span(
                format!(
                    "computed column '{}' AS {sql} has type {dt}, which no table column can hold",
                    c.name
                ),
                c.span,
            )
        })?;
        let i = table.schema.index_of(&c.name).expect("declared");
        table.schema.columns[i].ty = ty;
        out.push(ComputedSql {
            name: c.name.clone(),
            sql,
        });
    }
    if let Some(wm) = &table.watermark {
        let i = table
            .schema
            .index_of(&wm.column)
            .expect("checked by the parser");
        let ty = &table.schema.columns[i].ty;
        if !matches!(ty, SqlType::Timestamp(_)) {
            return Err(SqlError::new(format!(
                "WATERMARK FOR '{}': the rowtime column must be TIMESTAMP(3), not {ty}",
                wm.column
            )));
        }
    }
    Ok(out)
}

/// `sql` as an expression over `df`, its operands coerced to common types (as DataFusion's
/// analyzer does in a plan): `event_type = 0` compares an INT column with an INT literal.
fn typed_expr(state: &SessionState, sql: &str, df: &DFSchema) -> datafusion::error::Result<Expr> {
    coerce(state.create_logical_expr(sql, df)?, df)
}

fn coerce(expr: Expr, df: &DFSchema) -> datafusion::error::Result<Expr> {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::optimizer::analyzer::type_coercion::TypeCoercionRewriter;
    expr.rewrite(&mut TypeCoercionRewriter::new(df))
        .map(|t| t.data)
}

impl Builder<'_> {
    /// The source reading columns `proj` of `table`: where some are computed, the connector
    /// reads the physical columns they need and the source computes the rest.
    pub(super) fn source_spec(
        &self,
        table: TableSpec,
        proj: Vec<usize>,
        watermark: Option<SourceWatermark>,
    ) -> Result<SourceSpec, SqlError> {
        let output = table.schema.project(&proj);
        let Some(computed) = self.catalog.computed.get(&table.name) else {
            return Ok(SourceSpec {
                table,
                projection: proj,
                output,
                watermark,
                computed: None,
                processing_time: false,
            });
        };
        let physical = physical_table(&table, computed);
        let df = df_schema(&physical.schema)?;
        let mut read: Vec<usize> = Vec::new();
        let mut exprs = Vec::with_capacity(output.len());
        for c in &output.columns {
            let expr = match computed.iter().find(|cc| cc.name == c.name) {
                Some(cc) => typed_expr(self.state, &cc.sql, &df).map_err(df_error)?,
                None => Expr::Column(datafusion::common::Column::new_unqualified(&c.name)),
            };
            for r in expr.column_refs() {
                let i = physical
                    .schema
                    .index_of(&r.name)
                    .ok_or_else(|| SqlError::new(format!("unknown column '{}'", r.name)))?;
                if !read.contains(&i) {
                    read.push(i);
                }
            }
            exprs.push(expr);
        }
        let exprs = exprs
            .iter()
            .map(|e| encode(e).map_err(|e| SqlError::new(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SourceSpec {
            table: physical,
            projection: read,
            output,
            watermark,
            computed: Some(exprs),
            processing_time: false,
        })
    }
}

/// `table` without its computed columns: what its connector reads.
pub(super) fn physical_table(table: &TableSpec, computed: &[ComputedSql]) -> TableSpec {
    let mut t = table.clone();
    t.schema
        .columns
        .retain(|c| !computed.iter().any(|cc| cc.name == c.name));
    t
}

/// A batch plan of a table with computed columns: its physical columns read through `source`,
/// then every column of the table in declaration order.
pub(super) fn batch_plan(
    table: &TableSpec,
    computed: &[ComputedSql],
    source: Arc<dyn TableSource>,
    state: &SessionState,
) -> Result<LogicalPlan, SqlError> {
    let physical = physical_table(table, computed);
    let df = df_schema(&physical.schema)?;
    let exprs = table
        .schema
        .columns
        .iter()
        .map(|c| match computed.iter().find(|cc| cc.name == c.name) {
            Some(cc) => typed_expr(state, &cc.sql, &df)
                .map(|e| e.alias(&c.name))
                .map_err(df_error),
            None => Ok(Expr::Column(datafusion::common::Column::new(
                Some(table.name.as_str()),
                &c.name,
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    datafusion::logical_expr::LogicalPlanBuilder::scan(table.name.as_str(), source, None)
        .and_then(|b| b.project(exprs))
        .and_then(|b| b.build())
        .map_err(df_error)
}

fn df_schema(schema: &RowSchema) -> Result<DFSchema, SqlError> {
    DFSchema::try_from(schema.to_arrow().as_ref().clone()).map_err(|e| SqlError::new(e.to_string()))
}
