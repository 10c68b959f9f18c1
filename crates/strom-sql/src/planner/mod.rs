//! SQL script -> JobGraphs. DataFusion parses (through [`crate::parser`]), plans and optimizes;
//! Strom translates the optimized logical plan into its own operators, one translation rule per
//! file ([`scan`], [`calc`], [`aggregate`], [`join`]) over the [`Builder`] here. In batch mode
//! the query runs as stages of DataFusion's physical plan instead ([`stages`]).

mod aggregate;
mod calc;
mod computed;
mod explain;
mod join;
mod lookup_join;
mod over;
mod provider;
mod rank;
mod row_casts;
mod scan;
mod sink_types;
mod stages;
mod state_ttl;
mod upsert_keys;
mod values;
mod window_view;

use calc::to_unique_names;
use join::time_term;
use provider::{window_schema, Provider};
use sink_types::check_sink_types;

use crate::catalog::{Catalog, WindowTvf};
use crate::depth::check_depth;
use crate::error::SqlError;
use crate::parser::{column_list, parse_script, SqlStatement};
use crate::window_tvf::rewrite_window_tvfs;
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
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use strom_common::config::{keys, options, ConfigError};
use strom_common::{Configuration, JobType, VertexId};
use strom_plan::changelog::OP_COLUMN;
use strom_plan::expr_codec::DEEP_STACK_BYTES;
use strom_plan::expr_codec::{encode, unqualify};
use strom_plan::functions::session_context;
use strom_plan::job_graph::*;
use strom_plan::table::{NoStatistics, TableStatisticsSource};
use strom_plan::types::{Column, RowSchema, SqlType};

/// The result of compiling a script: one JobGraph per INSERT (or SELECT).
#[derive(Debug, Clone)]
pub struct CompiledScript {
    pub jobs: Vec<JobGraph>,
    /// The plans of the script's `EXPLAIN` statements, as text, in order.
    pub explains: Vec<String>,
    /// Configuration after the script's `SET` statements.
    pub config: Configuration,
}

/// Compiles a Flink SQL script. `config` holds the session defaults (`parallelism.default`,
/// `execution.runtime-mode`, ...); `SET` statements change them for later statements.
///
/// Runs on a thread of its own with a deep stack: planning recurses once per level of an
/// expression, and expressions up to [`crate::depth::MAX_EXPRESSION_DEPTH`] levels are accepted whichever
/// thread (a REST worker, the CLI's main thread) asks.
pub fn compile_script(sql: &str, config: &Configuration) -> Result<CompiledScript, SqlError> {
    compile_script_with_statistics(sql, config, Arc::new(NoStatistics))
}

/// [`compile_script`], with what `statistics` (the connectors) knows of the tables' data for
/// the batch planner: DataFusion then builds hash tables on the smaller side of a join and
/// broadcasts small inputs, as it does for its own tables.
pub fn compile_script_with_statistics(
    sql: &str,
    config: &Configuration,
    statistics: Arc<dyn TableStatisticsSource>,
) -> Result<CompiledScript, SqlError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("sql-planner".into())
            .stack_size(DEEP_STACK_BYTES)
            .spawn_scoped(scope, || compile_on_this_thread(sql, config, statistics))
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

fn compile_on_this_thread(
    sql: &str,
    config: &Configuration,
    statistics: Arc<dyn TableStatisticsSource>,
) -> Result<CompiledScript, SqlError> {
    let mut config = config.clone();
    let mut catalog = Catalog {
        statistics,
        ..Catalog::default()
    };
    let mut jobs = Vec::new();
    let mut explains = Vec::new();
    for stmt in parse_script(sql)? {
        match stmt {
            SqlStatement::Set { key, value } => config.set(key, value),
            SqlStatement::Reset { key: _ } => {}
            SqlStatement::CreateTable {
                mut table,
                computed,
                if_not_exists,
                span,
            } => {
                if catalog.has(&table.name) {
                    if if_not_exists {
                        continue;
                    }
                    return Err(SqlError::at_span(format!("table '{}' already exists; use CREATE TABLE IF NOT EXISTS or another name", table.name), span));
                }
                if !computed.is_empty() {
                    let sql = computed::declare(&mut table, &computed, &session_context().state())?;
                    catalog.computed.insert(table.name.clone(), sql);
                }
                catalog.tables.insert(table.name.clone(), table);
            }
            SqlStatement::CreateView {
                mut view,
                if_not_exists,
                span,
            } => {
                crate::flink_functions::rename_functions(&mut view.query, &catalog.functions);
                if catalog.has(&view.name) {
                    if if_not_exists {
                        continue;
                    }
                    return Err(SqlError::at_span(format!("a table or view '{}' already exists; use CREATE VIEW IF NOT EXISTS or another name", view.name), span));
                }
                // planned now, so that a bad view is reported where it is declared
                let schema = Provider::new(&session_context().state(), &catalog, &[], None)
                    .and_then(|p| p.plan_view(&view))
                    .and_then(|plan| row_schema(plan.schema()))
                    .map_err(|e| e.or_at(span))?;
                catalog.view_schemas.insert(view.name.clone(), schema);
                catalog.views.push(view);
            }
            SqlStatement::CreateFunction {
                name,
                class,
                if_not_exists,
                span,
            } => bind_function(&mut catalog, name, &class, if_not_exists, span)?,
            SqlStatement::Drop {
                view,
                name,
                if_exists,
                span,
            } => {
                let found = if view {
                    let before = catalog.views.len();
                    catalog.views.retain(|v| v.name != name);
                    catalog.view_schemas.remove(&name);
                    before != catalog.views.len()
                } else {
                    catalog.computed.remove(&name);
                    catalog.tables.remove(&name).is_some()
                };
                if !found && !if_exists {
                    let what = if view { "view" } else { "table" };
                    return Err(SqlError::at_span(
                        format!(
                            "{what} '{name}' does not exist; use DROP {} IF EXISTS to ignore that",
                            what.to_uppercase()
                        ),
                        span,
                    ));
                }
            }
            SqlStatement::Explain(inner) => {
                let job = plan_job(*inner, &catalog, &config)?;
                explains.push(explain::explain(&job));
            }
            stmt @ (SqlStatement::Query(_) | SqlStatement::StatementSet { .. }) => {
                jobs.push(plan_job(stmt, &catalog, &config)?);
            }
        }
    }
    Ok(CompiledScript {
        jobs,
        explains,
        config,
    })
}

/// The job of a SELECT, an INSERT or a statement set.
fn plan_job(
    stmt: SqlStatement,
    catalog: &Catalog,
    config: &Configuration,
) -> Result<JobGraph, SqlError> {
    match stmt {
        SqlStatement::Query(mut stmt) => {
            let span = stmt.span();
            check_depth(&stmt)?;
            plan_statements(std::slice::from_mut(&mut stmt), catalog, config)
                .map_err(|e| e.or_at(span))
        }
        SqlStatement::StatementSet { mut inserts, span } => {
            for stmt in &inserts {
                check_depth(stmt)?;
            }
            plan_statements(&mut inserts, catalog, config).map_err(|e| e.or_at(span))
        }
        _ => Err(SqlError::new(
            "EXPLAIN takes a SELECT, an INSERT INTO or a STATEMENT SET",
        )),
    }
}

/// `CREATE FUNCTION name AS 'class'`: binds `name` to the native function of Java class
/// `class` (Strom runs no JVM).
fn bind_function(
    catalog: &mut Catalog,
    name: String,
    class: &str,
    if_not_exists: bool,
    span: sqlparser::tokenizer::Span,
) -> Result<(), SqlError> {
    use strom_plan::functions::java_udfs::{native_for_class, JAVA_CLASSES};
    let Some(native) = native_for_class(class) else {
        let known: Vec<String> = JAVA_CLASSES
            .iter()
            .map(|(c, f)| format!("{c} ({f})"))
            .collect();
        return Err(SqlError::at_span(
            format!(
                "CREATE FUNCTION {name} AS '{class}': Strom runs no JVM; the Java functions it implements natively are {}",
                known.join(", ")
            ),
            span,
        ));
    };
    if catalog.functions.contains_key(&name) && !if_not_exists {
        return Err(SqlError::at_span(
            format!("function '{name}' already exists; use CREATE FUNCTION IF NOT EXISTS or another name"),
            span,
        ));
    }
    catalog.functions.entry(name).or_insert(native);
    Ok(())
}

fn runtime_mode(config: &Configuration) -> Result<JobType, SqlError> {
    match config_value(options::RUNTIME_MODE.choice(config))?.as_str() {
        "batch" => Ok(JobType::Batch),
        _ => Ok(JobType::Streaming),
    }
}

fn config_value<T>(r: Result<T, ConfigError>) -> Result<T, SqlError> {
    r.map_err(|e| SqlError::new(e.to_string()))
}

/// One job of `stmts`: a SELECT or INSERT, or the INSERTs of a statement set (each query
/// planned on its own, their sinks side by side in one job graph).
fn plan_statements(
    stmts: &mut [Statement],
    catalog: &Catalog,
    config: &Configuration,
) -> Result<JobGraph, SqlError> {
    let job_type = runtime_mode(config)?;
    let parallelism = check_parallelism(config)?;
    let mut nested = Vec::new();
    for stmt in stmts.iter_mut() {
        let first = nested.len();
        nested.extend(crate::nested_values::take_nested_values(stmt, first));
    }
    let with_views;
    let catalog = if nested.is_empty() {
        catalog
    } else {
        let mut c = catalog.clone();
        c.views.extend(nested);
        with_views = c;
        &with_views
    };
    let mut tvfs = Vec::with_capacity(stmts.len());
    let mut lookups = BTreeSet::new();
    let mut ttl_hints = crate::hints::StateTtlHints::default();
    for stmt in stmts.iter_mut() {
        crate::flink_functions::rename_functions(stmt, &catalog.functions);
        let hints = crate::hints::state_ttl_hints(stmt)?;
        ttl_hints.join.extend(hints.join);
        ttl_hints.aggregate.extend(hints.aggregate);
        crate::group_windows::rewrite_group_windows(stmt)?;
        lookups.extend(crate::lookup::take_lookup_tables(stmt)?);
        tvfs.push(rewrite_window_tvfs(stmt, catalog)?);
        let is_query = matches!(stmt, Statement::Query(_));
        if !is_query && !matches!(stmt, Statement::Insert(_)) {
            return Err(SqlError::new(format!(
                "unsupported statement '{}': Strom runs SET, CREATE TABLE, INSERT INTO ... SELECT and SELECT",
                first_words(&stmt.to_string())
            )));
        }
    }
    let ctx = session_context();
    let state = ctx.state();
    let mut b = Builder {
        nodes: Vec::new(),
        catalog,
        tvfs: &[],
        parallelism,
        job_type,
        state: &state,
        agg_two_phase: config_value(options::AGG_PHASE_STRATEGY.choice(config))? != "one_phase",
        mini_batch: config_value(options::MINI_BATCH_ENABLED.get(config))?,
        joins: stages::JoinStrategies::from_disabled(&config_value(
            options::DISABLED_OPERATORS.get(config),
        )?)?,
        collect: config_value(options::SELECT_RESULTS.choice(config))? == "collect",
        lookups,
        state_ttl_ms: config_value(options::STATE_TTL.get(config))?.as_millis() as u64,
        ttl_hints,
        materialize: upsert_keys::Materialize::of(config)?,
    };
    let mut names = Vec::new();
    for (stmt, tvfs) in stmts.iter().zip(&tvfs) {
        b.tvfs = tvfs;
        names.push(plan_into(&mut b, stmt)?);
    }
    // Flink names a statement set's job after all its sinks
    let name = if names.len() > 1 {
        let tables: Vec<&str> = names
            .iter()
            .map(|n| n.strip_prefix("insert-into_").unwrap_or(n))
            .collect();
        format!("insert-into_{}", tables.join(","))
    } else {
        names.pop().unwrap_or_default()
    };
    let name = config_value(options::PIPELINE_NAME.get(config))?.unwrap_or(name);
    let job_config: BTreeMap<String, String> = config
        .entries()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(b.into_job_graph(name, job_config))
}

/// Adds the operators of `stmt` (a SELECT or an INSERT) and its sink to `b`; returns the
/// statement's job name.
fn plan_into(b: &mut Builder<'_>, stmt: &Statement) -> Result<String, SqlError> {
    let catalog = b.catalog;
    // batch mode runs DataFusion's physical plan in stages, with TUMBLE, HOP and CUMULATE as
    // views (see `window_view`); SESSION windows are Strom's operators, planned as in
    // streaming mode
    let staged = b.job_type == JobType::Batch && b.tvfs.iter().all(window_view::is_plannable);
    let batch_partitions = staged.then_some(b.parallelism as usize);
    let plan = logical_plan(stmt, catalog, b.state, b.tvfs, batch_partitions)?;
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
    let query = sink
        .as_ref()
        .map(|(_, input)| input.as_ref())
        .unwrap_or(&plan);
    let root = if staged {
        b.stages(query)?
    } else {
        b.translate(query)?
    };
    match sink {
        Some((table, _)) => b.table_sink(table, root)?,
        // A bare SELECT prints its rows (Flink's SQL client shows them).
        None => b.print_sink(root)?,
    }
    Ok(name)
}

/// `'parallelism.default'` (positive), after checking `'pipeline.max-parallelism'`.
fn check_parallelism(config: &Configuration) -> Result<u32, SqlError> {
    let parallelism = config_value(options::PARALLELISM_DEFAULT.get(config))?;
    if parallelism == 0 {
        return Err(SqlError::new(format!(
            "'{}' must be a positive integer, got 0",
            keys::PARALLELISM_DEFAULT
        )));
    }
    if let Some(max) = config_value(options::MAX_PARALLELISM.get(config))? {
        if max == 0 || max > UPPER_BOUND_MAX_PARALLELISM {
            return Err(SqlError::new(format!(
                "'{}' must be between 1 and {UPPER_BOUND_MAX_PARALLELISM} (both inclusive), got {max}",
                keys::MAX_PARALLELISM
            )));
        }
    }
    Ok(parallelism)
}

/// DataFusion's optimized logical plan of the statement (an INSERT's types checked against
/// its table first). With `batch_partitions`, its tables are scanned in that many partitions
/// by a physical plan (see [`stages`]).
fn logical_plan(
    stmt: &Statement,
    catalog: &Catalog,
    state: &SessionState,
    tvfs: &[WindowTvf],
    batch_partitions: Option<usize>,
) -> Result<LogicalPlan, SqlError> {
    let provider = Provider::new(state, catalog, tvfs, batch_partitions)?;
    let planner = SqlToRel::new_with_options(&provider, parser_options());
    let plan = planner
        .sql_statement_to_plan(stmt.clone())
        .map_err(df_error)?;
    if let LogicalPlan::Dml(dml) = &plan {
        let name = dml.table_name.table();
        if let Some(c) = catalog.computed.get(name) {
            return Err(SqlError::new(format!(
                "table '{name}' has computed columns ({}): Strom does not write into such a table yet; declare the sink without them",
                c.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        if let Some(table) = catalog.tables.get(name) {
            check_sink_types(table, &dml.input)?;
        }
    }
    let mut plan = state.optimize(&plan).map_err(df_error)?;
    plan = row_casts::by_position(plan).map_err(df_error)?;
    if batch_partitions.is_some() {
        let reduced = stages::reduce_aggregates(plan).map_err(df_error)?;
        plan = reduced.data;
        // the key sources copied into the plan get their columns pruned and filters pushed
        if reduced.transformed {
            plan = state.optimize(&plan).map_err(df_error)?;
        }
    }
    tracing::debug!("optimized plan:\n{}", plan.display_indent());
    Ok(plan)
}

impl Builder<'_> {
    /// `INSERT INTO table`: the query's node `i` into the table's sink.
    fn table_sink(&mut self, table: TableSpec, i: usize) -> Result<(), SqlError> {
        let changelog = self.nodes[i].updating;
        let in_schema = self.nodes[i].op.output_schema().without_op();
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
        let sink_parallelism =
            match table.options.get("sink.parallelism") {
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
        let input = self.sink_input(&table, i, sink_parallelism)?;
        let n = self.add(
            OperatorSpec::Sink(SinkSpec {
                table,
                output,
                changelog,
            }),
            vec![input],
            None,
        );
        // Flink's 'sink.parallelism': a sink of another parallelism gets a REBALANCE input (a
        // HASH one for a changelog, see `sink_input`)
        if let Some(p) = sink_parallelism {
            self.nodes[n].parallelism = p;
        }
        Ok(())
    }

    /// A bare SELECT: the query's node `i` into a print sink. In batch mode the sink prints
    /// the result as Flink's SQL client does (a table, at parallelism 1, in the query's order).
    ///
    /// With `strom.sql.select-results = collect` (a client of a remote cluster) the rows go to
    /// a `collect` sink at parallelism 1 instead, which hands them through the JobManager to
    /// the client, which prints them the same way.
    fn print_sink(&mut self, i: usize) -> Result<(), SqlError> {
        let changelog = self.nodes[i].updating;
        let schema = self.nodes[i].op.output_schema().without_op();
        let mut options = BTreeMap::new();
        let collect = self.collect;
        let connector = if collect { "collect" } else { "print" };
        options.insert("connector".to_string(), connector.to_string());
        let tableau = self.job_type == JobType::Batch && !changelog;
        if tableau {
            options.insert("print.style".to_string(), "tableau".to_string());
        }
        let table = TableSpec {
            name: connector.into(),
            schema: schema.clone(),
            options,
            watermark: None,
            primary_key: vec![],
            partition_keys: vec![],
        };
        self.add(
            OperatorSpec::Sink(SinkSpec {
                table,
                output: schema,
                changelog,
            }),
            vec![(i, Ship::Forward)],
            None,
        );
        if tableau || collect {
            let n = self.nodes.len() - 1;
            self.nodes[n].parallelism = 1;
        }
        Ok(())
    }
}

/// How DataFusion plans Flink SQL: decimal literals, lower-case identifiers, positions kept.
fn parser_options() -> ParserOptions {
    ParserOptions {
        parse_float_as_decimal: true,
        enable_ident_normalization: true,
        collect_spans: true,
        ..ParserOptions::default()
    }
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

#[derive(Debug, Clone, PartialEq)]
enum Ship {
    Forward,
    Hash(Vec<usize>),
    Rebalance,
    Broadcast,
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
    /// The output column that is a processing-time attribute (a `PROCTIME()`).
    proctime: Option<usize>,
    /// For a join: the (qualifier, name) DataFusion gives each output column, to resolve
    /// qualified references (`l.id`, `r.id`) above it to Strom's unique column names.
    qualified: Option<Vec<(Option<String>, String)>>,
    /// For a changelog: its upsert keys (Flink's), the sets of output columns known to be unique
    /// among the rows of the result it describes, so that a change of one key value is `-U` of
    /// that value's row and `+U` of its new row. See [`upsert_keys`].
    upsert_keys: Vec<Vec<usize>>,
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
    /// Batch mode's join strategies.
    joins: stages::JoinStrategies,
    /// A bare SELECT's rows go to a `collect` sink (the client fetches them).
    collect: bool,
    /// The names lookup tables (`FOR SYSTEM_TIME AS OF`) go by in the query.
    lookups: BTreeSet<String>,
    /// `table.exec.state.ttl` (ms, 0: none) and the `STATE_TTL` hints.
    state_ttl_ms: u64,
    ttl_hints: crate::hints::StateTtlHints,
    /// `table.exec.sink.upsert-materialize`.
    materialize: upsert_keys::Materialize,
}

fn row_schema(df: &DFSchema) -> Result<RowSchema, SqlError> {
    let mut cols: Vec<Column> = Vec::new();
    for f in df.fields() {
        if cols.iter().any(|c| c.name == *f.name()) {
            return Err(SqlError::new(format!(
                "the query produces two columns named '{}'; give them distinct aliases",
                f.name()
            )));
        }
        cols.push(column(f)?);
    }
    Ok(RowSchema::new(cols))
}

/// A query column as Strom carries it.
fn column(f: &Field) -> Result<Column, SqlError> {
    // Flink has no unsigned types: DataFusion's ROW_NUMBER(), RANK(), ... are Flink's BIGINT
    let ty = match f.data_type() {
        DataType::UInt64 | DataType::UInt32 => Some(SqlType::BigInt),
        other => SqlType::from_arrow(other),
    };
    let ty = ty.ok_or_else(|| {
        SqlError::new(format!(
            "column '{}' has type {} which Strom cannot carry yet",
            f.name(),
            f.data_type()
        ))
    })?;
    Ok(Column {
        name: f.name().clone(),
        ty,
        nullable: f.is_nullable(),
    })
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
            // a join without equality keys sees every row at one subtask
            (OperatorSpec::Join(j), _) if j.left_keys.is_empty() => 1,
            (OperatorSpec::Source(_), _) | (OperatorSpec::Join(_), _) => self.parallelism,
            (OperatorSpec::Rank(r), _) if r.partition_by.is_empty() => 1,
            (OperatorSpec::Rank(_), _) => self.parallelism,
            (OperatorSpec::OverAggregate(o), _) if o.partition_by.is_empty() => 1,
            (OperatorSpec::OverAggregate(_), _) => self.parallelism,
            (OperatorSpec::UpsertMaterialize(_), _) => self.parallelism,
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
            OperatorSpec::Rank(r) => r.window_end.is_none(),
            OperatorSpec::Join(j) => j.output.index_of(OP_COLUMN).is_some(),
            OperatorSpec::Calc(_) => inputs.first().is_some_and(|(i, _)| self.nodes[*i].updating),
            OperatorSpec::UpsertMaterialize(_) => true,
            _ => false,
        };
        let upsert_keys = if updating {
            upsert_keys::of_operator(&op)
        } else {
            vec![]
        };
        self.nodes.push(Node {
            op,
            parallelism,
            inputs,
            window,
            updating,
            session: None,
            rowtime: None,
            proctime: None,
            qualified: None,
            upsert_keys,
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
                    LogicalPlan::Filter(f) if !rank::is_window(&f.input) => {
                        (f.input.as_ref(), Some(f.predicate.clone()))
                    }
                    other => (other, None),
                };
                let i = self.translate(input)?;
                let output = row_schema(&p.schema)?;
                self.calc(i, filter, p.expr.clone(), output)
            }
            LogicalPlan::Filter(f) if rank::is_window(&f.input) => self.rank(f),
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
            LogicalPlan::Window(w) => self.over(w),
            LogicalPlan::Values(v) => self.values(v),
            LogicalPlan::EmptyRelation(e) => self.empty_relation(e),
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
                    Ship::Forward | Ship::Rebalance if p_src == 1 && n.parallelism == 1 => {
                        ShipStrategy::Forward
                    }
                    Ship::Forward if p_src == n.parallelism => ShipStrategy::Forward,
                    Ship::Forward | Ship::Rebalance => ShipStrategy::Rebalance,
                    Ship::Broadcast => ShipStrategy::Broadcast,
                };
                // a batch stage reads its inputs once they are finished
                let into_stage = matches!(n.op, OperatorSpec::Stage(_));
                let result_type = match (&ship_strategy, self.job_type) {
                    (_, JobType::Batch) if into_stage => ResultType::Blocking,
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
            .get(options::MAX_PARALLELISM.key)
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
