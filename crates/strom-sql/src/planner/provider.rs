//! The planning-only catalog DataFusion plans against: Strom's tables and window TVF tables, and the session's functions.

use super::*;

/// DataFusion's view of Strom's catalog during planning.
pub(super) struct Provider<'a> {
    state: &'a SessionState,
    sources: BTreeMap<String, Arc<dyn TableSource>>,
}

impl<'a> Provider<'a> {
    /// `batch_partitions`: the tables are scanned by a physical plan in that many partitions.
    pub(super) fn new(
        state: &'a SessionState,
        catalog: &Catalog,
        tvfs: &[WindowTvf],
        batch_partitions: Option<usize>,
    ) -> Self {
        let mut sources = BTreeMap::new();
        for (name, t) in &catalog.tables {
            let source = match batch_partitions {
                Some(partitions) => datafusion::datasource::provider_as_source(Arc::new(
                    super::stages::StromTable {
                        table: t.clone(),
                        partitions,
                    },
                )),
                None => Catalog::source_for(t.schema.to_arrow()),
            };
            sources.insert(name.clone(), source);
        }
        for (i, w) in tvfs.iter().enumerate() {
            let t = &catalog.tables[&w.table];
            sources.insert(
                WindowTvf::table_name(i),
                Catalog::source_for(window_schema(&t.schema).to_arrow()),
            );
        }
        Self { state, sources }
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
