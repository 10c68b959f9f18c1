//! The planning-only catalog DataFusion plans against: Strom's tables, views and window TVF
//! tables, and the session's functions.

use super::*;
use crate::parser::ViewSpec;

/// DataFusion's view of Strom's catalog during planning.
pub(super) struct Provider<'a> {
    state: &'a SessionState,
    sources: BTreeMap<String, Arc<dyn TableSource>>,
}

impl<'a> Provider<'a> {
    /// `batch_partitions`: the tables are scanned by a physical plan in that many partitions.
    /// Views are planned here, each over the tables and the views before it.
    pub(super) fn new(
        state: &'a SessionState,
        catalog: &Catalog,
        tvfs: &[WindowTvf],
        batch_partitions: Option<usize>,
    ) -> Result<Self, SqlError> {
        let mut sources = BTreeMap::new();
        for (name, t) in &catalog.tables {
            let source = match (batch_partitions, catalog.computed.get(name)) {
                (Some(partitions), computed) => {
                    let physical = match computed {
                        Some(c) => super::computed::physical_table(t, c),
                        None => t.clone(),
                    };
                    let source = datafusion::datasource::provider_as_source(Arc::new(
                        super::stages::StromTable::new(
                            physical,
                            partitions,
                            Arc::clone(&catalog.statistics),
                        ),
                    ));
                    match computed {
                        // the computed columns as a projection over the physical ones
                        Some(c) => datafusion::datasource::provider_as_source(Arc::new(
                            datafusion::datasource::ViewTable::new(
                                super::computed::batch_plan(t, c, source, state)?,
                                None,
                            ),
                        )),
                        None => source,
                    }
                }
                (None, _) => Catalog::source_for(t.schema.to_arrow()),
            };
            sources.insert(name.clone(), source);
        }
        let mut provider = Self { state, sources };
        for view in &catalog.views {
            let plan = provider.plan_view(view)?;
            let table = datafusion::datasource::ViewTable::new(plan, Some(view.query.to_string()));
            provider.sources.insert(
                view.name.clone(),
                datafusion::datasource::provider_as_source(Arc::new(table)),
            );
        }
        for (i, w) in tvfs.iter().enumerate() {
            let schema = match catalog.tables.get(&w.table) {
                Some(t) => &t.schema,
                None => catalog
                    .view_schemas
                    .get(&w.table)
                    .ok_or_else(|| SqlError::new(format!("unknown table or view '{}'", w.table)))?,
            };
            // batch: a view DataFusion plans into the stages; streaming: a planning table that
            // the translation turns into Strom's window operator
            let view = match batch_partitions {
                Some(_) => match super::window_view::window_view(w, &w.table, schema)? {
                    Some(v) => Some(provider.plan_view(&v)?),
                    None => None,
                },
                None => None,
            };
            let source = match view {
                Some(plan) => datafusion::datasource::provider_as_source(Arc::new(
                    datafusion::datasource::ViewTable::new(plan, None),
                )),
                None => Catalog::source_for(window_schema(schema).to_arrow()),
            };
            provider.sources.insert(WindowTvf::table_name(i), source);
        }
        Ok(provider)
    }

    /// The logical plan of a view's query over what this provider knows, its columns renamed
    /// as the view declares.
    pub(super) fn plan_view(&self, view: &ViewSpec) -> Result<LogicalPlan, SqlError> {
        let planner = SqlToRel::new_with_options(self, parser_options());
        let plan = planner
            .sql_statement_to_plan(Statement::Query(view.query.clone()))
            .map_err(df_error)?;
        if view.columns.is_empty() {
            return Ok(plan);
        }
        if view.columns.len() != plan.schema().fields().len() {
            return Err(SqlError::new(format!(
                "view '{}' names {} columns but its query has {}",
                view.name,
                view.columns.len(),
                plan.schema().fields().len()
            )));
        }
        let exprs: Vec<Expr> = plan
            .schema()
            .columns()
            .into_iter()
            .zip(&view.columns)
            .map(|(c, name)| Expr::Column(c).alias(name))
            .collect();
        datafusion::logical_expr::LogicalPlanBuilder::from(plan)
            .project(exprs)
            .and_then(|b| b.build())
            .map_err(df_error)
    }
}

pub(super) fn window_schema(input: &RowSchema) -> RowSchema {
    let mut cols = input.columns.clone();
    for n in ["window_start", "window_end", "window_time"] {
        cols.push(Column {
            name: n.into(),
            ty: SqlType::Timestamp(3),
            nullable: false,
        });
    }
    RowSchema::new(cols)
}

impl ContextProvider for Provider<'_> {
    fn get_table_source(
        &self,
        name: TableReference,
    ) -> datafusion::common::Result<Arc<dyn TableSource>> {
        let t = name.table().to_string();
        self.sources.get(&t).cloned().ok_or_else(|| {
            let known: Vec<&str> = self
                .sources
                .keys()
                .filter(|k| !k.starts_with("__window_"))
                .map(String::as_str)
                .collect();
            DataFusionError::Plan(format!(
                "unknown table '{t}'; declare it with CREATE TABLE first (known tables: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        self.state.expr_planners()
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.state.scalar_functions().get(name).cloned()
    }

    fn get_higher_order_meta(
        &self,
        name: &str,
    ) -> Option<Arc<datafusion::logical_expr::HigherOrderUDF>> {
        self.state.higher_order_functions().get(name).cloned()
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.state.aggregate_functions().get(name).cloned()
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.state.window_functions().get(name).cloned()
    }

    fn get_variable_type(&self, _names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &datafusion::config::ConfigOptions {
        self.state.config_options()
    }

    fn udf_names(&self) -> Vec<String> {
        self.state.scalar_functions().keys().cloned().collect()
    }

    fn udaf_names(&self) -> Vec<String> {
        self.state.aggregate_functions().keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        self.state
            .higher_order_functions()
            .keys()
            .cloned()
            .collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        self.state.window_functions().keys().cloned().collect()
    }
}
