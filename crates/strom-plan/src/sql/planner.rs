//! SQL script -> JobGraphs. DataFusion parses (through [`super::parser`]), plans and optimizes;
//! Strom translates the optimized logical plan into its own operators.

use super::catalog::{Catalog, WindowTvf};
use super::depth::{check_depth, DEEP_STACK_BYTES};
use super::error::SqlError;
use super::expr_codec::{encode, unqualify};
use super::functions::session_context;
use super::parser::{column_list, parse_script, SqlStatement};
use super::window_tvf::rewrite_window_tvfs;
use crate::changelog::OP_COLUMN;
use crate::job_graph::*;
use crate::types::{Column, RowSchema, SqlType};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, TableReference};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::planner::{ContextProvider, ExprPlanner};
use datafusion::logical_expr::{
    AggregateUDF, Expr, ExprSchemable, LogicalPlan, ScalarUDF, TableSource, WindowUDF, WriteOp,
};
use datafusion::sql::planner::{ParserOptions, SqlToRel};
use sqlparser::ast::{Spanned, Statement};
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_common::config::keys;
use strom_common::{Configuration, JobType, VertexId};

/// The result of compiling a script: one JobGraph per INSERT (or SELECT).
#[derive(Debug, Clone)]
pub struct CompiledScript {
    pub jobs: Vec<JobGraph>,
    /// Configuration after the script's `SET` statements.
    pub config: Configuration,
}

/// Compiles a Flink SQL script. `config` holds the session defaults (`parallelism.default`,
/// `execution.runtime-mode`, ...); `SET` statements change them for later statements.
///
/// Runs on a thread of its own with a deep stack: planning recurses once per level of an
/// expression, and expressions up to [`super::depth::MAX_EXPRESSION_DEPTH`] levels are accepted whichever
/// thread (a REST worker, the CLI's main thread) asks.
pub fn compile_script(sql: &str, config: &Configuration) -> Result<CompiledScript, SqlError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("sql-planner".into())
            .stack_size(DEEP_STACK_BYTES)
            .spawn_scoped(scope, || compile_on_this_thread(sql, config))
            .map_err(|e| SqlError::new(format!("cannot start the SQL planner thread: {e}")))?
            .join()
            .unwrap_or_else(|panic| {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown cause".into());
                Err(SqlError::new(format!(
                    "internal error in the SQL planner (please report it): {msg}"
                )))
            })
    })
}

fn compile_on_this_thread(sql: &str, config: &Configuration) -> Result<CompiledScript, SqlError> {
    let mut config = config.clone();
    let mut catalog = Catalog::default();
    let mut jobs = Vec::new();
    for stmt in parse_script(sql)? {
        match stmt {
            SqlStatement::Set { key, value } => config.set(key, value),
            SqlStatement::Reset { key: _ } => {}
            SqlStatement::CreateTable {
                table,
                if_not_exists,
                span,
            } => {
                if catalog.tables.contains_key(&table.name) {
                    if if_not_exists {
                        continue;
                    }
                    return Err(SqlError::at_span(format!("table '{}' already exists; use CREATE TABLE IF NOT EXISTS or another name", table.name), span));
                }
                catalog.tables.insert(table.name.clone(), table);
            }
            SqlStatement::Query(mut stmt) => {
                let span = stmt.span();
                check_depth(&stmt)?;
                let job =
                    plan_statement(&mut stmt, &catalog, &config).map_err(|e| e.or_at(span))?;
                jobs.push(job);
            }
        }
    }
    Ok(CompiledScript { jobs, config })
}

fn runtime_mode(config: &Configuration) -> Result<JobType, SqlError> {
    match config
        .get(keys::RUNTIME_MODE)
        .map(|s| s.to_ascii_lowercase())
    {
        None => Ok(JobType::Streaming),
        Some(m) if m == "streaming" => Ok(JobType::Streaming),
        Some(m) if m == "batch" => Ok(JobType::Batch),
        Some(m) => Err(SqlError::new(format!(
            "bad value '{m}' for '{}': expected 'streaming' or 'batch'",
            keys::RUNTIME_MODE
        ))),
    }
}

fn plan_statement(
    stmt: &mut Statement,
    catalog: &Catalog,
    config: &Configuration,
) -> Result<JobGraph, SqlError> {
    let job_type = runtime_mode(config)?;
    let parallelism = config
        .get_u32(keys::PARALLELISM_DEFAULT, 1)
        .map_err(|e| SqlError::new(e.to_string()))?;
    if parallelism == 0 {
        return Err(SqlError::new(format!(
            "'{}' must be a positive integer, got 0",
            keys::PARALLELISM_DEFAULT
        )));
    }
    if config.get(keys::MAX_PARALLELISM).is_some() {
        let max = config
            .get_u32(keys::MAX_PARALLELISM, 0)
            .map_err(|e| SqlError::new(e.to_string()))?;
        if max == 0 || max > UPPER_BOUND_MAX_PARALLELISM {
            return Err(SqlError::new(format!(
                "'{}' must be between 1 and {UPPER_BOUND_MAX_PARALLELISM} (both inclusive), got {max}",
                keys::MAX_PARALLELISM
            )));
        }
    }
    let tvfs = rewrite_window_tvfs(stmt, catalog)?;
    let is_query = matches!(stmt, Statement::Query(_));
    if !is_query && !matches!(stmt, Statement::Insert(_)) {
        return Err(SqlError::new(format!(
            "unsupported statement '{}': Strom runs SET, CREATE TABLE, INSERT INTO ... SELECT and SELECT",
            first_words(&stmt.to_string())
        )));
    }
    let ctx = session_context();
    let state = ctx.state();
    let provider = Provider::new(&state, catalog, &tvfs);
    let options = ParserOptions {
        parse_float_as_decimal: true,
        enable_ident_normalization: true,
        collect_spans: true,
        ..ParserOptions::default()
    };
    let planner = SqlToRel::new_with_options(&provider, options);
    let plan = planner
        .sql_statement_to_plan(stmt.clone())
        .map_err(df_error)?;
    if let LogicalPlan::Dml(dml) = &plan {
        if let Some(table) = catalog.tables.get(dml.table_name.table()) {
            check_sink_types(table, &dml.input)?;
        }
    }
    let plan = state.optimize(&plan).map_err(df_error)?;
    tracing::debug!("optimized plan:\n{}", plan.display_indent());
    let mut b = Builder {
        nodes: Vec::new(),
        catalog,
        tvfs: &tvfs,
        parallelism,
        job_type,
        state: &state,
        agg_two_phase: config
            .get(keys::AGG_PHASE_STRATEGY)
            .map(|s| !s.eq_ignore_ascii_case("ONE_PHASE"))
            .unwrap_or(true),
        mini_batch: config
            .get(keys::MINI_BATCH_ENABLED)
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("true")),
    };
    let (name, sink) = match &plan {
        LogicalPlan::Dml(dml)
            if dml.op
                == WriteOp::Insert(
                    datafusion::logical_expr::logical_plan::dml::InsertOp::Append,
                ) =>
        {
            let table_name = dml.table_name.table().to_string();
            let table = catalog
                .tables
                .get(&table_name)
                .cloned()
                .ok_or_else(|| unknown_table(&table_name, catalog))?;
            (
                format!("insert-into_default_catalog.default_database.{table_name}"),
                Some((table, dml.input.clone())),
            )
        }
        LogicalPlan::Dml(dml) => {
            return Err(SqlError::new(format!(
                "unsupported DML '{}': Strom supports INSERT INTO",
                dml.op
            )))
        }
        _ => ("collect".to_string(), None),
    };
    match sink {
        Some((table, input)) => {
            let i = b.translate(&input)?;
            let changelog = b.nodes[i].updating;
            let in_schema = b.nodes[i].op.output_schema().without_op();
            if in_schema.len() != table.schema.len() {
                return Err(SqlError::new(format!(
                    "INSERT INTO {}: the query produces {} columns but the table has {} ({})",
                    table.name,
                    in_schema.len(),
                    table.schema.len(),
                    column_list(&table.schema)
                )));
            }
            let output = table.schema.clone();
            let sink_parallelism = match table.options.get("sink.parallelism") {
                None => None,
                Some(v) => Some(v.trim().parse::<u32>().ok().filter(|p| *p > 0).ok_or_else(
                    || {
                        SqlError::new(format!(
                            "table {}: 'sink.parallelism' must be a positive integer, got '{v}'",
                            table.name
                        ))
                    },
                )?),
            };
            let n = b.add(
                OperatorSpec::Sink(SinkSpec {
                    table,
                    output,
                    changelog,
                }),
                vec![(i, Ship::Forward)],
                None,
            );
            // Flink's 'sink.parallelism': a sink of another parallelism gets a REBALANCE input
            if let Some(p) = sink_parallelism {
                b.nodes[n].parallelism = p;
            }
        }
        None => {
            // A bare SELECT prints its rows (Flink's SQL client shows them).
            let i = b.translate(&plan)?;
            let changelog = b.nodes[i].updating;
            let schema = b.nodes[i].op.output_schema().without_op();
            let mut options = BTreeMap::new();
            options.insert("connector".to_string(), "print".to_string());
            let table = TableSpec {
                name: "print".into(),
                schema: schema.clone(),
                options,
                watermark: None,
                primary_key: vec![],
            };
            b.add(
                OperatorSpec::Sink(SinkSpec {
                    table,
                    output: schema,
                    changelog,
                }),
                vec![(i, Ship::Forward)],
                None,
            );
        }
    }
    let name = config
        .get(keys::PIPELINE_NAME)
        .map(str::to_string)
        .unwrap_or(name);
    let job_config: BTreeMap<String, String> = config
        .entries()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(b.into_job_graph(name, job_config))
}

/// Refuses a query whose column types cannot be written into the sink's columns, naming the
/// sink, the column and both types (as Flink's planner does before the job runs). `input` is the
/// INSERT's unoptimized input: DataFusion has put a CAST to the sink's type on each column whose
/// type differs, so the query's own type is the one under the CAST.
fn check_sink_types(table: &TableSpec, input: &LogicalPlan) -> Result<(), SqlError> {
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

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn unknown_table(name: &str, catalog: &Catalog) -> SqlError {
    let known: Vec<&str> = catalog.tables.keys().map(String::as_str).collect();
    SqlError::new(format!(
        "unknown table '{name}'; declare it with CREATE TABLE first (known tables: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

/// Maps a DataFusion planning error to a SqlError, keeping its position when it has one.
fn df_error(e: DataFusionError) -> SqlError {
    let span = e.diagnostic().and_then(|d| d.span);
    let msg = match e.find_root() {
        DataFusionError::Plan(m) => m.clone(),
        DataFusionError::SchemaError(s, _) => s.to_string(),
        DataFusionError::NotImplemented(m) => format!("not supported: {m}"),
        other => other.to_string(),
    };
    let msg = msg
        .replace("Schema error: ", "")
        .replace("Error during planning: ", "");
    let msg = if msg.contains("No field named") {
        format!("unknown column: {msg}")
    } else if msg.contains("Invalid function")
        || msg.contains("function") && msg.contains("not found")
    {
        format!("unknown function: {msg}")
    } else {
        msg
    };
    match span {
        Some(s) => SqlError::at(msg, s.start.line, s.start.column),
        None => SqlError::new(msg),
    }
}

/// DataFusion's view of Strom's catalog during planning.
struct Provider<'a> {
    state: &'a SessionState,
    sources: BTreeMap<String, Arc<dyn TableSource>>,
}

impl<'a> Provider<'a> {
    fn new(state: &'a SessionState, catalog: &Catalog, tvfs: &[WindowTvf]) -> Self {
        let mut sources = BTreeMap::new();
        for (name, t) in &catalog.tables {
            sources.insert(name.clone(), Catalog::source_for(t.schema.to_arrow()));
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

fn window_schema(input: &RowSchema) -> RowSchema {
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

#[derive(Debug, Clone, PartialEq)]
enum Ship {
    Forward,
    Hash(Vec<usize>),
}

type Win = Option<(usize, Vec<usize>)>;

struct Node {
    op: OperatorSpec,
    parallelism: u32,
    inputs: Vec<(usize, Ship)>,
    /// When this node's rows carry a window: the output column holding `window_end`, and every
    /// window attribute column (`window_start`, `window_end`, `window_time`), which are constant
    /// within one window.
    window: Win,
    /// The node emits a changelog (a trailing `$op` column).
    updating: bool,
    /// Rows carry SESSION proto-windows: the gap, the PARTITION BY keys and their output
    /// columns (`None` for a key the node does not output).
    session: Option<(i64, Vec<String>, Vec<Option<usize>>)>,
    /// The output column that is the event-time attribute (a rowtime with a watermark).
    rowtime: Option<usize>,
    /// For a join: the (qualifier, name) DataFusion gives each output column, to resolve
    /// qualified references (`l.id`, `r.id`) above it to Strom's unique column names.
    qualified: Option<Vec<(Option<String>, String)>>,
}

struct Builder<'a> {
    nodes: Vec<Node>,
    catalog: &'a Catalog,
    tvfs: &'a [WindowTvf],
    parallelism: u32,
    job_type: JobType,
    state: &'a SessionState,
    agg_two_phase: bool,
    mini_batch: bool,
}

fn row_schema(df: &DFSchema) -> Result<RowSchema, SqlError> {
    let mut cols: Vec<Column> = Vec::new();
    for f in df.fields() {
        let ty = SqlType::from_arrow(f.data_type()).ok_or_else(|| {
            SqlError::new(format!(
                "column '{}' has type {} which Strom cannot carry yet",
                f.name(),
                f.data_type()
            ))
        })?;
        if cols.iter().any(|c| c.name == *f.name()) {
            return Err(SqlError::new(format!(
                "the query produces two columns named '{}'; give them distinct aliases",
                f.name()
            )));
        }
        cols.push(Column {
            name: f.name().clone(),
            ty,
            nullable: f.is_nullable(),
        });
    }
    Ok(RowSchema::new(cols))
}

fn col_index(schema: &RowSchema, e: &Expr) -> Option<usize> {
    match e {
        Expr::Column(c) => schema.columns.iter().position(|x| x.name == c.name),
        Expr::Alias(a) => col_index(schema, &a.expr),
        _ => None,
    }
}

impl Builder<'_> {
    fn add(&mut self, op: OperatorSpec, inputs: Vec<(usize, Ship)>, window: Win) -> usize {
        let parallelism = match (&op, inputs.first()) {
            (OperatorSpec::Source(_), _) | (OperatorSpec::Join(_), _) => self.parallelism,
            (OperatorSpec::Aggregate(a), _)
                if a.group_by.is_empty() && a.mode != AggregateMode::Partial =>
            {
                1
            }
            (OperatorSpec::Aggregate(a), Some((_, Ship::Hash(_))))
                if a.mode != AggregateMode::Partial =>
            {
                self.parallelism
            }
            (_, Some((i, _))) => self.nodes[*i].parallelism,
            (_, None) => self.parallelism,
        };
        let updating = match &op {
            OperatorSpec::Aggregate(a) => a.changelog,
            OperatorSpec::Calc(_) => inputs.first().is_some_and(|(i, _)| self.nodes[*i].updating),
            _ => false,
        };
        self.nodes.push(Node {
            op,
            parallelism,
            inputs,
            window,
            updating,
            session: None,
            rowtime: None,
            qualified: None,
        });
        self.nodes.len() - 1
    }

    fn out(&self, i: usize) -> &RowSchema {
        self.nodes[i].op.output_schema()
    }

    fn translate(&mut self, plan: &LogicalPlan) -> Result<usize, SqlError> {
        match plan {
            LogicalPlan::Projection(p) => {
                let (input, filter) = match p.input.as_ref() {
                    LogicalPlan::Filter(f) => (f.input.as_ref(), Some(f.predicate.clone())),
                    other => (other, None),
                };
                let i = self.translate(input)?;
                let output = row_schema(&p.schema)?;
                self.calc(i, filter, p.expr.clone(), output)
            }
            LogicalPlan::Filter(f) => {
                let i = self.translate(&f.input)?;
                let in_schema = self.out(i).clone();
                let exprs = in_schema
                    .columns
                    .iter()
                    .map(|c| Expr::Column(datafusion::common::Column::new_unqualified(&c.name)))
                    .collect();
                self.calc(i, Some(f.predicate.clone()), exprs, in_schema)
            }
            LogicalPlan::SubqueryAlias(s) => self.translate(&s.input),
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::Aggregate(a) => self.aggregate(a),
            LogicalPlan::Join(j) => self.join(j),
            other => Err(SqlError::new(format!(
                "Strom does not support this part of the query yet: {}",
                other.display().to_string().lines().next().unwrap_or("?")
            ))),
        }
    }

    /// Rewrites column references to a join's output into its unique column names.
    fn resolve(&self, input: usize, e: Expr) -> Expr {
        match &self.nodes[input].qualified {
            Some(q) => to_unique_names(e, q, self.out(input)),
            None => e,
        }
    }

    /// A streaming join: a window join when both inputs are windowed and joined on
    /// `window_end`, otherwise an interval join bounded by the rowtimes in the condition.
    fn join(&mut self, j: &datafusion::logical_expr::Join) -> Result<usize, SqlError> {
        use datafusion::logical_expr::JoinType as DfJoin;
        let join_type = match j.join_type {
            DfJoin::Inner => JoinType::Inner,
            DfJoin::Left => JoinType::Left,
            DfJoin::Right => JoinType::Right,
            DfJoin::Full => JoinType::Full,
            other => {
                return Err(SqlError::new(format!(
                    "{other} joins are not supported yet; Strom runs INNER, LEFT, RIGHT and FULL window joins and INNER interval joins"
                )))
            }
        };
        let l = self.translate(&j.left)?;
        let r = self.translate(&j.right)?;
        if self.nodes[l].updating || self.nodes[r].updating {
            return Err(SqlError::new(
                "joining an updating result (a non-windowed GROUP BY) is not supported yet",
            ));
        }
        let ls = self.out(l).clone();
        let rs = self.out(r).clone();
        // output columns: left then right, duplicate names qualified
        let fields: Vec<(Option<String>, String)> = j
            .schema
            .iter()
            .map(|(q, f)| (q.map(|q| q.table().to_string()), f.name().clone()))
            .collect();
        if fields.len() != ls.len() + rs.len() {
            return Err(SqlError::new(
                "internal: the join schema does not match its inputs",
            ));
        }
        let mut columns = Vec::with_capacity(fields.len());
        for (i, (q, name)) in fields.iter().enumerate() {
            let dup = fields.iter().filter(|(_, n)| n == name).count() > 1;
            let mut c = if i < ls.len() {
                ls.columns[i].clone()
            } else {
                rs.columns[i - ls.len()].clone()
            };
            c.name = match (dup, q) {
                (false, _) => name.clone(),
                (true, Some(q)) => format!("{q}.{name}"),
                (true, None) => format!("{name}${i}"),
            };
            let outer_side = if i < ls.len() {
                matches!(join_type, JoinType::Right | JoinType::Full)
            } else {
                matches!(join_type, JoinType::Left | JoinType::Full)
            };
            c.nullable |= outer_side;
            columns.push(c);
        }
        let output = RowSchema::new(columns);
        // equality keys
        let key = |node: usize, schema: &RowSchema, e: &Expr| -> Result<usize, SqlError> {
            col_index(schema, &unqualify(self.resolve(node, e.clone()))).ok_or_else(|| {
                SqlError::new(format!(
                    "join keys must be columns; compute '{e}' in a subquery first"
                ))
            })
        };
        let mut pairs = Vec::new();
        for (a, b) in &j.on {
            let (lk, rk) = (key(l, &ls, a)?, key(r, &rs, b)?);
            if ls.columns[lk].ty != rs.columns[rk].ty {
                return Err(SqlError::new(format!(
                    "join key {} ({}) and {} ({}) have different types; CAST one of them",
                    ls.columns[lk].name, ls.columns[lk].ty, rs.columns[rk].name, rs.columns[rk].ty
                )));
            }
            pairs.push((lk, rk));
        }
        // the rest of the condition, over the output's names
        let to_output = |e: Expr| to_unique_names(e, &fields, &output);
        let window_pair = match (&self.nodes[l].window, &self.nodes[r].window) {
            (Some((lwe, lattrs)), Some((rwe, _))) if pairs.contains(&(*lwe, *rwe)) => {
                Some((*lwe, *rwe, lattrs.clone()))
            }
            _ => None,
        };
        let (kind, pairs) = match window_pair {
            Some((lwe, rwe, lattrs)) => (
                JoinKind::Window {
                    left_end: lwe,
                    right_end: rwe,
                },
                pairs
                    .into_iter()
                    .filter(|(a, _)| !lattrs.contains(a))
                    .collect::<Vec<_>>(),
            ),
            None => {
                let usage = "a streaming join needs bounded state: join windowed inputs ON their window_start and window_end (a window join), or bound the rowtimes (an interval join: l.ts BETWEEN r.ts - INTERVAL '1' MINUTE AND r.ts + INTERVAL '1' MINUTE)";
                let (Some(lt), Some(rt)) = (self.nodes[l].rowtime, self.nodes[r].rowtime) else {
                    return Err(SqlError::new(format!(
                        "{usage}; both inputs must carry a time attribute (a column with WATERMARK FOR)"
                    )));
                };
                if join_type != JoinType::Inner {
                    return Err(SqlError::new(
                        "interval joins are INNER only for now; use a window join for outer joins",
                    ));
                }
                let (lower, upper) = j
                    .filter
                    .as_ref()
                    .map(|f| interval_bounds(&to_output(f.clone()), &output, lt, ls.len() + rt))
                    .unwrap_or((None, None));
                let (Some(lower_ms), Some(upper_ms)) = (lower, upper) else {
                    return Err(SqlError::new(format!(
                        "{usage}; the condition bounds {} against {} {}",
                        ls.columns[lt].name,
                        rs.columns[rt].name,
                        match (lower, upper) {
                            (None, None) => "on neither side",
                            (None, _) => "only from above",
                            _ => "only from below",
                        }
                    )));
                };
                (
                    JoinKind::Interval {
                        left_time: lt,
                        right_time: rt,
                        lower_ms,
                        upper_ms,
                    },
                    pairs,
                )
            }
        };
        let filter = j
            .filter
            .as_ref()
            .map(|f| encode(&to_output(f.clone())))
            .transpose()?;
        let (left_keys, right_keys): (Vec<usize>, Vec<usize>) = pairs.into_iter().unzip();
        let n = self.add(
            OperatorSpec::Join(JoinSpec {
                left: ls,
                right: rs,
                join_type,
                left_keys: left_keys.clone(),
                right_keys: right_keys.clone(),
                kind,
                filter,
                output,
            }),
            vec![(l, Ship::Hash(left_keys)), (r, Ship::Hash(right_keys))],
            None,
        );
        self.nodes[n].qualified = Some(fields);
        Ok(n)
    }

    fn calc(
        &mut self,
        input: usize,
        filter: Option<Expr>,
        exprs: Vec<Expr>,
        mut output: RowSchema,
    ) -> Result<usize, SqlError> {
        let in_schema = self.out(input).clone();
        let exprs: Vec<Expr> = exprs.into_iter().map(|e| self.resolve(input, e)).collect();
        let filter = filter.map(|f| self.resolve(input, f));
        let mut exprs = exprs;
        // a changelog keeps its row kinds through projections and filters
        if self.nodes[input].updating && output.index_of(OP_COLUMN).is_none() {
            exprs.push(Expr::Column(datafusion::common::Column::new_unqualified(
                OP_COLUMN,
            )));
            output = output.with_op();
        }
        let identity = filter.is_none()
            && exprs.len() == in_schema.len()
            && exprs
                .iter()
                .enumerate()
                .all(|(k, e)| col_index(&in_schema, e) == Some(k))
            && output
                .columns
                .iter()
                .zip(&in_schema.columns)
                .all(|(a, b)| a.name == b.name);
        if identity {
            return Ok(input);
        }
        // window attributes survive a Calc when passed through as plain columns
        let pos = |c: usize| {
            exprs
                .iter()
                .position(|e| col_index(&in_schema, &unqualify(e.clone())) == Some(c))
        };
        let window = self.nodes[input].window.clone().and_then(|(we, attrs)| {
            let we = pos(we)?;
            Some((we, attrs.into_iter().filter_map(pos).collect()))
        });
        let rowtime = self.nodes[input].rowtime.and_then(pos);
        let session = self.nodes[input].session.clone().map(|(gap, names, keys)| {
            (
                gap,
                names,
                keys.into_iter().map(|k| k.and_then(pos)).collect(),
            )
        });
        let filter = filter.map(|f| encode(&f)).transpose()?;
        let exprs = exprs
            .iter()
            .zip(&output.columns)
            .map(|(e, c)| {
                let e = match e {
                    Expr::Alias(a) => a.expr.as_ref(),
                    e => e,
                };
                Ok((c.name.clone(), encode(e)?))
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        let n = self.add(
            OperatorSpec::Calc(CalcSpec {
                input: in_schema,
                filter,
                exprs,
                output,
            }),
            vec![(input, Ship::Forward)],
            window,
        );
        self.nodes[n].session = session;
        self.nodes[n].rowtime = rowtime;
        Ok(n)
    }

    fn scan(&mut self, scan: &datafusion::logical_expr::TableScan) -> Result<usize, SqlError> {
        let name = scan.table_name.table().to_string();
        let projected = row_schema(&scan.projected_schema)?;
        let node = if let Some(n) = name.strip_prefix("__window_") {
            let w = &self.tvfs[n
                .parse::<usize>()
                .map_err(|_| SqlError::new("bad window table"))?];
            let table = self.catalog.tables[&w.table].clone();
            // read the projected table columns plus the time column
            let mut proj: Vec<usize> = projected
                .columns
                .iter()
                .filter_map(|c| table.schema.index_of(&c.name))
                .collect();
            let time_idx = table
                .schema
                .index_of(&w.time_column)
                .expect("checked when rewriting");
            if !proj.contains(&time_idx) {
                proj.push(time_idx);
            }
            add_filter_columns(&mut proj, &table.schema, &scan.filters);
            // batch mode has no watermarks (as Flink): windows fire at the end of the input, so
            // rows out of order are never late
            let watermark = match (&table.watermark, self.job_type) {
                (_, JobType::Batch) => None,
                (Some(wm), _) if wm.column == w.time_column => Some(self.source_watermark(&table, &proj, wm)?),
                _ => {
                    return Err(SqlError::new(format!(
                        "DESCRIPTOR({}) must be a time attribute in streaming mode: declare WATERMARK FOR {} AS ... in table '{}', or run with SET 'execution.runtime-mode' = 'batch'",
                        w.time_column, w.time_column, table.name
                    )))
                }
            };
            let src_out = table.schema.project(&proj);
            let src = self.add(
                OperatorSpec::Source(SourceSpec {
                    table,
                    projection: proj,
                    output: src_out.clone(),
                    watermark,
                }),
                vec![],
                None,
            );
            let tcol = src_out.index_of(&w.time_column).expect("projected");
            let tvf_out = window_schema(&src_out);
            let we = tvf_out.index_of("window_end").map(|we| {
                let attrs = ["window_start", "window_end", "window_time"]
                    .iter()
                    .filter_map(|n| tvf_out.index_of(n))
                    .collect();
                (we, attrs)
            });
            let session = match w.window {
                WindowSpec::Session { gap_ms } => Some((
                    gap_ms,
                    w.partition_by.clone(),
                    w.partition_by.iter().map(|k| tvf_out.index_of(k)).collect(),
                )),
                _ => None,
            };
            let tvf = self.add(
                OperatorSpec::WindowTableFunction(WindowTvfSpec {
                    input: src_out,
                    time_column: tcol,
                    window: w.window.clone(),
                    output: tvf_out,
                }),
                vec![(src, Ship::Forward)],
                we,
            );
            self.nodes[tvf].session = session;
            let exprs = projected
                .columns
                .iter()
                .map(|c| Expr::Column(datafusion::common::Column::new_unqualified(&c.name)))
                .collect();
            // the pushed-down filters run before the projection (they may read other columns)
            let filter = scan.filters.iter().cloned().reduce(|a, b| a.and(b));
            return self.calc(tvf, filter, exprs, projected);
        } else {
            let table = self
                .catalog
                .tables
                .get(&name)
                .cloned()
                .ok_or_else(|| unknown_table(&name, self.catalog))?;
            let mut proj: Vec<usize> = match &scan.projection {
                Some(p) => p.clone(),
                None => (0..table.schema.len()).collect(),
            };
            // DataFusion pushes filters into the scan and leaves their columns out of its
            // projection: read them too, the Calc below drops them again
            add_filter_columns(&mut proj, &table.schema, &scan.filters);
            let out = table.schema.project(&proj);
            // the watermark, when the rowtime column is read (an interval join needs it)
            let rowtime = table
                .watermark
                .as_ref()
                .and_then(|wm| out.index_of(&wm.column).map(|i| (wm.clone(), i)));
            let watermark = match &rowtime {
                Some((wm, _)) if self.job_type == JobType::Streaming => {
                    Some(self.source_watermark(&table, &proj, wm)?)
                }
                _ => None,
            };
            let n = self.add(
                OperatorSpec::Source(SourceSpec {
                    table,
                    projection: proj,
                    output: out,
                    watermark,
                }),
                vec![],
                None,
            );
            self.nodes[n].rowtime = rowtime.map(|(_, i)| i);
            n
        };
        if scan.filters.is_empty() {
            return Ok(node);
        }
        let pred = scan
            .filters
            .iter()
            .cloned()
            .reduce(|a, b| a.and(b))
            .expect("non-empty");
        let exprs = projected
            .columns
            .iter()
            .map(|c| Expr::Column(datafusion::common::Column::new_unqualified(&c.name)))
            .collect();
        self.calc(node, Some(pred), exprs, projected)
    }

    fn source_watermark(
        &self,
        table: &TableSpec,
        proj: &[usize],
        wm: &WatermarkSpec,
    ) -> Result<SourceWatermark, SqlError> {
        let out = table.schema.project(proj);
        let arrow = out.to_arrow();
        let df = DFSchema::try_from(Schema::new(
            arrow
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect::<Vec<Field>>(),
        ))
        .map_err(|e| SqlError::new(e.to_string()))?;
        let expr = self.state.create_logical_expr(&wm.sql, &df).map_err(|e| {
            SqlError::new(format!(
                "WATERMARK FOR {} AS {}: {}",
                wm.column,
                wm.sql,
                df_error(e)
            ))
        })?;
        let rowtime = out.index_of(&wm.column).expect("projected");
        let delay_ms = match time_term(&expr, &out) {
            Some((c, offset)) if c == rowtime => Some(-offset),
            _ => None,
        };
        Ok(SourceWatermark {
            rowtime,
            expr: encode(&expr)?,
            sql: wm.sql.clone(),
            delay_ms,
        })
    }

    fn aggregate(&mut self, a: &datafusion::logical_expr::Aggregate) -> Result<usize, SqlError> {
        let mut input = self.translate(&a.input)?;
        let group_expr: Vec<Expr> = a
            .group_expr
            .iter()
            .map(|e| self.resolve(input, e.clone()))
            .collect();
        let aggr_expr: Vec<Expr> = a
            .aggr_expr
            .iter()
            .map(|e| self.resolve(input, e.clone()))
            .collect();
        if self.nodes[input].updating {
            return Err(SqlError::new(
                "aggregating an updating result (a GROUP BY over a non-windowed GROUP BY) is not supported yet; aggregate the source rows directly, or use window aggregations",
            ));
        }
        let mut in_schema = self.out(input).clone();
        // group keys and aggregate arguments must be plain columns; compute others first
        let mut extra: Vec<(String, Expr)> = Vec::new();
        let column_for =
            |e: &Expr, in_schema: &RowSchema, extra: &mut Vec<(String, Expr)>| -> usize {
                let e = unqualify(e.clone());
                if let Some(i) = col_index(in_schema, &e) {
                    return i;
                }
                if let Some(k) = extra.iter().position(|(_, x)| *x == e) {
                    return in_schema.len() + k;
                }
                extra.push((format!("$expr{}", extra.len()), e));
                in_schema.len() + extra.len() - 1
            };
        let group_by: Vec<usize> = group_expr
            .iter()
            .map(|g| column_for(g, &in_schema, &mut extra))
            .collect();
        let mut calls = Vec::new();
        let out_schema = row_schema(&a.schema)?;
        for (k, ae) in aggr_expr.iter().enumerate() {
            let inner = match ae {
                Expr::Alias(al) => al.expr.as_ref(),
                e => e,
            };
            let Expr::AggregateFunction(f) = inner else {
                return Err(SqlError::new(format!(
                    "unsupported aggregate expression {ae}"
                )));
            };
            let p = &f.params;
            if p.filter.is_some() || !p.order_by.is_empty() {
                return Err(SqlError::new(format!(
                    "{ae}: FILTER and ORDER BY inside aggregates are not supported yet"
                )));
            }
            let fname = f.func.name().to_ascii_lowercase();
            let func = match fname.as_str() {
                "count" => AggFunc::Count,
                "sum" => AggFunc::Sum,
                "min" => AggFunc::Min,
                "max" => AggFunc::Max,
                "avg" | "mean" => AggFunc::Avg,
                other => {
                    return Err(SqlError::new(format!(
                        "aggregate function '{other}' is not supported yet; Strom supports COUNT, SUM, MIN, MAX, AVG"
                    )))
                }
            };
            let (func, arg) = match (func, p.args.as_slice()) {
                (AggFunc::Count, [Expr::Literal(v, _)]) if !v.is_null() && !p.distinct => {
                    (AggFunc::CountStar, None)
                }
                (AggFunc::Count, []) => (AggFunc::CountStar, None),
                (f, [arg]) => (f, Some(column_for(arg, &in_schema, &mut extra))),
                _ => return Err(SqlError::new(format!("{ae}: expected one argument"))),
            };
            let col = &out_schema.columns[group_by.len() + k];
            calls.push(AggCall {
                func,
                arg,
                distinct: p.distinct,
                name: col.name.clone(),
                result_type: col.ty.clone(),
            });
        }
        if !extra.is_empty() {
            let mut exprs: Vec<Expr> = in_schema
                .columns
                .iter()
                .map(|c| Expr::Column(datafusion::common::Column::new_unqualified(&c.name)))
                .collect();
            let mut df_fields: Vec<Field> = in_schema
                .to_arrow()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            let df = DFSchema::try_from(Schema::new(df_fields.clone()))
                .map_err(|e| SqlError::new(e.to_string()))?;
            for (name, e) in &extra {
                let (_, field) = e.to_field(&df).map_err(df_error)?;
                df_fields.push(Field::new(
                    name,
                    field.data_type().clone(),
                    field.is_nullable(),
                ));
                exprs.push(e.clone().alias(name));
            }
            let out = row_schema(
                &DFSchema::try_from(Schema::new(df_fields))
                    .map_err(|e| SqlError::new(e.to_string()))?,
            )?;
            input = self.calc(input, None, exprs, out)?;
            in_schema = self.out(input).clone();
        }
        let (window_end_column, window_key_columns) = match &self.nodes[input].window {
            Some((we, attrs)) if group_by.contains(we) => {
                let keys: Vec<usize> = group_by
                    .iter()
                    .copied()
                    .filter(|g| attrs.contains(g))
                    .collect();
                (Some(*we), keys)
            }
            _ => (None, vec![]),
        };
        // window attributes among the output's group keys
        let out_key_pos: Vec<usize> = window_key_columns
            .iter()
            .filter_map(|c| group_by.iter().position(|g| g == c))
            .collect();
        let out_window: Win = window_end_column.and_then(|we| {
            group_by
                .iter()
                .position(|g| *g == we)
                .map(|p| (p, out_key_pos.clone()))
        });
        let out_window_end = out_window.as_ref().map(|w| w.0);
        // a non-windowed aggregate of a streaming job emits a changelog, in one phase
        let changelog = window_end_column.is_none() && self.job_type == JobType::Streaming;
        let session = match (&self.nodes[input].session, window_end_column) {
            (Some((gap, names, keys)), Some(_)) => {
                // sessions are kept per PARTITION BY key: the other group keys must be exactly those
                let varying: Vec<usize> = group_by
                    .iter()
                    .copied()
                    .filter(|g| !window_key_columns.contains(g))
                    .collect();
                let mut want: Vec<Option<usize>> = keys.clone();
                want.sort();
                let mut have: Vec<Option<usize>> = varying.iter().map(|g| Some(*g)).collect();
                have.sort();
                if want != have {
                    return Err(SqlError::new(format!(
                        "a SESSION window aggregate must GROUP BY the PARTITION BY columns of the window ({}) and window_start, window_end",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    )));
                }
                Some((*gap, varying))
            }
            _ => None,
        };
        let single = AggregateSpec {
            input: in_schema.clone(),
            group_by: group_by.clone(),
            aggregates: calls.clone(),
            window_end_column,
            window_key_columns,
            mode: AggregateMode::Single,
            changelog,
            mini_batch: changelog && self.mini_batch,
            session_gap_ms: session.as_ref().map(|s| s.0),
            output: if changelog {
                out_schema.with_op()
            } else {
                out_schema.clone()
            },
        };
        // keyed aggregates take the same shape at any parallelism (a hash exchange becomes a
        // forward one at parallelism 1), so that a savepoint restores at another parallelism
        let parallel = self.nodes[input].parallelism > 1 || !group_by.is_empty();
        if let Some((_, keys)) = session {
            // one phase, hashed on the partition keys (a row's proto-window must not decide
            // where it goes)
            let ship = if parallel {
                Ship::Hash(keys)
            } else {
                Ship::Forward
            };
            return Ok(self.add(
                OperatorSpec::Aggregate(single),
                vec![(input, ship)],
                out_window,
            ));
        }
        if !parallel {
            return Ok(self.add(
                OperatorSpec::Aggregate(single),
                vec![(input, Ship::Forward)],
                out_window,
            ));
        }
        // DISTINCT aggregates keep their value sets in one place: one phase, hashed on the keys
        if !self.agg_two_phase || changelog || calls.iter().any(|c| c.distinct) {
            return Ok(self.add(
                OperatorSpec::Aggregate(single),
                vec![(input, Ship::Hash(group_by))],
                out_window,
            ));
        }
        // two phases: a local (partial) aggregate chained to the input, a hash exchange on the keys,
        // a global (final) aggregate
        let partial_schema = partial_schema(&in_schema, &group_by, &calls);
        let partial = AggregateSpec {
            mode: AggregateMode::Partial,
            output: partial_schema.clone(),
            ..single.clone()
        };
        let local = self.add(
            OperatorSpec::Aggregate(partial),
            vec![(input, Ship::Forward)],
            out_window.clone(),
        );
        let keys: Vec<usize> = (0..group_by.len()).collect();
        // the final phase reads each call's state columns: its argument is the first of them
        let mut state_col = keys.len();
        let final_calls = calls
            .iter()
            .map(|c| {
                let call = AggCall {
                    arg: c.arg.map(|_| state_col),
                    ..c.clone()
                };
                state_col += if c.func == AggFunc::Avg { 2 } else { 1 };
                call
            })
            .collect();
        let final_spec = AggregateSpec {
            input: partial_schema,
            group_by: keys.clone(),
            aggregates: final_calls,
            window_end_column: out_window_end,
            window_key_columns: out_key_pos,
            mode: AggregateMode::Final,
            ..single
        };
        Ok(self.add(
            OperatorSpec::Aggregate(final_spec),
            vec![(local, Ship::Hash(keys))],
            out_window,
        ))
    }

    fn into_job_graph(self, name: String, config: BTreeMap<String, String>) -> JobGraph {
        let ids: Vec<VertexId> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| VertexId::derive(format!("{name}/{i}/{}", n.op.description()).as_bytes()))
            .collect();
        let mut edges = Vec::new();
        for (t, n) in self.nodes.iter().enumerate() {
            for (input_index, (s, ship)) in n.inputs.iter().enumerate() {
                let p_src = self.nodes[*s].parallelism;
                let ship_strategy = match ship {
                    Ship::Hash(_) if p_src == 1 && n.parallelism == 1 => ShipStrategy::Forward,
                    Ship::Hash(keys) => ShipStrategy::Hash { keys: keys.clone() },
                    Ship::Forward if p_src == n.parallelism => ShipStrategy::Forward,
                    Ship::Forward => ShipStrategy::Rebalance,
                };
                let result_type = match (&ship_strategy, self.job_type) {
                    (ShipStrategy::Forward, _) | (_, JobType::Streaming) => ResultType::Pipelined,
                    (_, JobType::Batch) => ResultType::Blocking,
                };
                edges.push(JobEdge {
                    source: ids[*s],
                    target: ids[t],
                    ship_strategy,
                    result_type,
                    input_index: input_index as u32,
                });
            }
        }
        let max_parallelism = config
            .get(strom_common::config::keys::MAX_PARALLELISM)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|m| *m > 0)
            .unwrap_or_else(default_max_parallelism);
        let vertices = self
            .nodes
            .into_iter()
            .enumerate()
            .map(|(i, n)| JobVertex {
                id: ids[i],
                name: n.op.name(),
                parallelism: n.parallelism,
                max_parallelism: max_parallelism.max(n.parallelism),
                slot_sharing_group: default_group(),
                operators: vec![n.op],
                operator_ids: Vec::new(),
            })
            .collect();
        JobGraph {
            job_id: None,
            name,
            job_type: self.job_type,
            config,
            vertices,
            edges,
        }
    }
}

/// Adds to a scan's projection the columns of `schema` that only its pushed-down `filters` read.
fn add_filter_columns(proj: &mut Vec<usize>, schema: &RowSchema, filters: &[Expr]) {
    for f in filters {
        for c in f.column_refs() {
            if let Some(i) = schema.index_of(&c.name) {
                if !proj.contains(&i) {
                    proj.push(i);
                }
            }
        }
    }
}

/// Rewrites references to a join's columns, given as DataFusion's `(qualifier, name)` per output
/// column in `fields`, into the unique names of `output`.
fn to_unique_names(e: Expr, fields: &[(Option<String>, String)], output: &RowSchema) -> Expr {
    e.transform(|x| {
        Ok(match x {
            Expr::Column(c) => {
                let found = fields.iter().position(|(rel, name)| {
                    *name == c.name
                        && match &c.relation {
                            None => true,
                            Some(r) => rel.as_deref() == Some(r.table()),
                        }
                });
                match found {
                    Some(k) => Transformed::yes(Expr::Column(
                        datafusion::common::Column::new_unqualified(&output.columns[k].name),
                    )),
                    None => Transformed::no(Expr::Column(c)),
                }
            }
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
    .expect("infallible rewrite")
}

/// A time term of a join condition: `column ± interval` over the join output: (column, ms).
fn time_term(e: &Expr, output: &RowSchema) -> Option<(usize, i64)> {
    use datafusion::logical_expr::Operator;
    match e {
        Expr::Column(_) => col_index(output, e).map(|c| (c, 0)),
        Expr::Cast(c) => time_term(&c.expr, output),
        Expr::BinaryExpr(b) if matches!(b.op, Operator::Plus | Operator::Minus) => {
            let (c, o) = time_term(&b.left, output)?;
            let ms = interval_literal_ms(&b.right)?;
            Some((
                c,
                if b.op == Operator::Plus {
                    o + ms
                } else {
                    o - ms
                },
            ))
        }
        _ => None,
    }
}

fn interval_literal_ms(e: &Expr) -> Option<i64> {
    use datafusion::common::ScalarValue;
    match e {
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) if v.months == 0 => {
            Some(v.days as i64 * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => {
            Some(v.days as i64 * 86_400_000 + v.milliseconds as i64)
        }
        Expr::Literal(ScalarValue::DurationMillisecond(Some(v)), _) => Some(*v),
        Expr::Literal(ScalarValue::DurationSecond(Some(v)), _) => Some(v * 1000),
        _ => None,
    }
}

/// The bounds `lower <= left.ts - right.ts <= upper` a join condition puts on the rowtime
/// columns `lt` and `rt` of the join output.
fn interval_bounds(
    cond: &Expr,
    output: &RowSchema,
    lt: usize,
    rt: usize,
) -> (Option<i64>, Option<i64>) {
    use datafusion::logical_expr::utils::split_conjunction;
    use datafusion::logical_expr::Operator;
    let mut lower: Option<i64> = None;
    let mut upper: Option<i64> = None;
    let mut add = |a: &Expr, op: Operator, b: &Expr| {
        let (Some((ca, oa)), Some((cb, ob))) = (time_term(a, output), time_term(b, output)) else {
            return;
        };
        // normalize to (left - right) op c
        let (op, c) = if ca == lt && cb == rt {
            (op, ob - oa)
        } else if ca == rt && cb == lt {
            let flipped = match op {
                Operator::Gt => Operator::Lt,
                Operator::GtEq => Operator::LtEq,
                Operator::Lt => Operator::Gt,
                Operator::LtEq => Operator::GtEq,
                o => o,
            };
            (flipped, oa - ob)
        } else {
            return;
        };
        match op {
            Operator::GtEq => lower = Some(lower.map_or(c, |l| l.max(c))),
            Operator::Gt => lower = Some(lower.map_or(c + 1, |l| l.max(c + 1))),
            Operator::LtEq => upper = Some(upper.map_or(c, |u| u.min(c))),
            Operator::Lt => upper = Some(upper.map_or(c - 1, |u| u.min(c - 1))),
            Operator::Eq => {
                lower = Some(lower.map_or(c, |l| l.max(c)));
                upper = Some(upper.map_or(c, |u| u.min(c)));
            }
            _ => {}
        }
    };
    for part in split_conjunction(cond) {
        match part {
            Expr::BinaryExpr(b) => add(&b.left, b.op, &b.right),
            Expr::Between(bt) if !bt.negated => {
                add(&bt.expr, Operator::GtEq, &bt.low);
                add(&bt.expr, Operator::LtEq, &bt.high);
            }
            _ => {}
        }
    }
    (lower, upper)
}

/// Schema of partial aggregate rows: group keys, then per call its state columns
/// (AVG keeps sum and count).
pub fn partial_schema(input: &RowSchema, group_by: &[usize], calls: &[AggCall]) -> RowSchema {
    let mut cols: Vec<Column> = group_by.iter().map(|g| input.columns[*g].clone()).collect();
    for (k, c) in calls.iter().enumerate() {
        match c.func {
            AggFunc::Avg => {
                let sum_ty = match c.arg.map(|a| &input.columns[a].ty) {
                    Some(SqlType::Decimal(_, s)) => SqlType::Decimal(38, *s),
                    _ => SqlType::Double,
                };
                cols.push(Column {
                    name: format!("$sum{k}"),
                    ty: sum_ty,
                    nullable: true,
                });
                cols.push(Column {
                    name: format!("$count{k}"),
                    ty: SqlType::BigInt,
                    nullable: false,
                });
            }
            _ => cols.push(Column {
                name: format!("$state{k}"),
                ty: c.result_type.clone(),
                nullable: true,
            }),
        }
    }
    RowSchema::new(cols)
}
