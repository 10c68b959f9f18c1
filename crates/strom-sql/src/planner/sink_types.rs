//! The sink column types check: what an INSERT writes must fit the sink's declared columns (as Flink refuses it at planning).

use super::*;

/// Refuses a query whose column types cannot be written into the sink's columns, naming the
/// sink, the column and both types (as Flink's planner does before the job runs). `input` is the
/// INSERT's unoptimized input: DataFusion has put a CAST to the sink's type on each column whose
/// type differs, so the query's own type is the one under the CAST.
pub(super) fn check_sink_types(table: &TableSpec, input: &LogicalPlan) -> Result<(), SqlError> {
    let LogicalPlan::Projection(p) = input else {
        return Ok(());
    };
    let mut query: Vec<(String, SqlType)> = Vec::new();
    for e in &p.expr {
        let inner = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            e => e,
        };
        let inner = match inner {
            Expr::Cast(c) => c.expr.as_ref(),
            Expr::TryCast(c) => c.expr.as_ref(),
            e => e,
        };
        let name = match inner {
            Expr::Column(c) => c.name.clone(),
            Expr::Alias(a) => a.name.clone(),
            e => e.schema_name().to_string(),
        };
        let ty = inner.get_type(p.input.schema()).map_err(df_error)?;
        // a type Strom has no name for is left to the planner's own checks
        let Some(ty) = SqlType::from_arrow(&ty) else {
            return Ok(());
        };
        query.push((name, ty));
    }
    if query.len() != table.schema.len() {
        return Ok(());
    }
    let listed = |cols: &mut dyn Iterator<Item = (&str, &SqlType)>| {
        cols.map(|(n, t)| format!("{n}: {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (k, ((qname, qty), t)) in query.iter().zip(&table.schema.columns).enumerate() {
        if !qty.insertable_into(&t.ty) {
            return Err(SqlError::new(format!(
                "Column types of query result and sink for 'default_catalog.default_database.{}' do not match: sink column '{}' at position {k} is {} but the query gives {qty} ('{qname}'); CAST it in the query. Query schema: [{}]; sink schema: [{}]",
                table.name,
                t.name,
                t.ty,
                listed(&mut query.iter().map(|(n, t)| (n.as_str(), t))),
                listed(&mut table.schema.columns.iter().map(|c| (c.name.as_str(), &c.ty)))
            )));
        }
    }
    Ok(())
}
