//! The JobGraph: what a client submits. Vertices carry operator chains (one operator each as
//! the SQL compiler emits them; the JobMaster chains FORWARD neighbours), edges carry a ship
//! strategy and a result type. Serde JSON is the wire format of `POST /jobs`.

pub use crate::aggregates::{AggFunc, StateField};
use crate::types::{Column, RowSchema, SqlType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strom_common::{JobId, JobType, VertexId};

/// A job as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobGraph {
    /// Chosen by the client or, when absent, by the Dispatcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    pub name: String,
    #[serde(default)]
    pub job_type: JobType,
    /// Job configuration (SQL `SET` statements, `-D` of the client).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    pub vertices: Vec<JobVertex>,
    #[serde(default)]
    pub edges: Vec<JobEdge>,
}

/// One vertex: a chain of operators run by one task per subtask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobVertex {
    pub id: VertexId,
    pub name: String,
    pub parallelism: u32,
    #[serde(default = "default_max_parallelism")]
    pub max_parallelism: u32,
    #[serde(default = "default_group")]
    pub slot_sharing_group: String,
    /// Operators in chain order; the first consumes the vertex's inputs.
    pub operators: Vec<OperatorSpec>,
    /// Stable ids of the operators (what checkpoints and savepoints key state by); empty: derived
    /// from the vertex id (see [`JobVertex::operator_ids`]). Chaining keeps each operator's id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_ids: Vec<VertexId>,
}

impl JobVertex {
    /// The id of each operator: as recorded, or the vertex id for the first operator and ids
    /// derived from it for the others.
    pub fn operator_ids(&self) -> Vec<VertexId> {
        if self.operator_ids.len() == self.operators.len() {
            return self.operator_ids.clone();
        }
        (0..self.operators.len())
            .map(|k| match k {
                0 => self.id,
                k => VertexId::derive(format!("{}/{k}", self.id).as_bytes()),
            })
            .collect()
    }
}

/// Flink's upper bound of a max parallelism (the number of key groups): 2^15.
pub const UPPER_BOUND_MAX_PARALLELISM: u32 = 1 << 15;

pub fn default_max_parallelism() -> u32 {
    128
}

pub fn default_group() -> String {
    "default".to_string()
}

/// How records are distributed from the producer's subtasks to the consumer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipStrategy {
    /// Subtask i sends to subtask i (equal parallelism required).
    Forward,
    /// Rows are routed by a hash of the key columns (indices into the producer's output).
    Hash { keys: Vec<usize> },
    /// Round robin.
    Rebalance,
    /// Every row to every consumer subtask.
    Broadcast,
}

impl ShipStrategy {
    pub fn name(&self) -> &'static str {
        match self {
            ShipStrategy::Forward => "FORWARD",
            ShipStrategy::Hash { .. } => "HASH",
            ShipStrategy::Rebalance => "REBALANCE",
            ShipStrategy::Broadcast => "BROADCAST",
        }
    }
}

/// Whether a consumer may read while the producer runs (PIPELINED) or only after it finished
/// (BLOCKING, batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResultType {
    Pipelined,
    Blocking,
}

/// A data edge between two vertices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEdge {
    pub source: VertexId,
    pub target: VertexId,
    pub ship_strategy: ShipStrategy,
    pub result_type: ResultType,
    /// Which input of the target's first operator this edge feeds (0 for single-input).
    #[serde(default)]
    pub input_index: u32,
}

/// A DataFusion logical expression, serialized with datafusion-proto (base64), with its SQL text
/// for humans. Column references are unqualified names of the operator's input schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExprSpec {
    pub sql: String,
    pub proto: String,
}

/// A table declared by `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSpec {
    pub name: String,
    pub schema: RowSchema,
    /// The `WITH (...)` options, keys as written.
    pub options: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<WatermarkSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
}

impl TableSpec {
    pub fn connector(&self) -> &str {
        self.options
            .get("connector")
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

/// `WATERMARK FOR column AS expr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatermarkSpec {
    pub column: String,
    /// The expression as written (over the table's columns).
    pub sql: String,
}

/// One operator of a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum OperatorSpec {
    Source(SourceSpec),
    Calc(CalcSpec),
    WindowTableFunction(WindowTvfSpec),
    Aggregate(AggregateSpec),
    Join(JoinSpec),
    Sink(SinkSpec),
}

impl OperatorSpec {
    /// Flink-like operator name for vertex names and plans.
    pub fn name(&self) -> String {
        match self {
            OperatorSpec::Source(s) => format!("Source: {}", s.table.name),
            OperatorSpec::Calc(c) => {
                if c.filter.is_some() {
                    "Calc(where)".to_string()
                } else {
                    "Calc".to_string()
                }
            }
            OperatorSpec::WindowTableFunction(w) => {
                format!("WindowTableFunction({})", w.window.kind_name())
            }
            OperatorSpec::Aggregate(a) if a.session_gap_ms.is_some() => {
                "SessionWindowAggregate".into()
            }
            OperatorSpec::Aggregate(a) => match (a.window_end_column.is_some(), a.mode) {
                (true, AggregateMode::Partial) => "LocalWindowAggregate".into(),
                (true, AggregateMode::Final) => "GlobalWindowAggregate".into(),
                (true, AggregateMode::Single) => "WindowAggregate".into(),
                (false, AggregateMode::Partial) => "LocalGroupAggregate".into(),
                (false, AggregateMode::Final) => "GlobalGroupAggregate".into(),
                (false, AggregateMode::Single) => "GroupAggregate".into(),
            },
            OperatorSpec::Join(j) => match j.kind {
                JoinKind::Window { .. } => "WindowJoin".into(),
                JoinKind::Interval { .. } => "IntervalJoin".into(),
            },
            OperatorSpec::Sink(s) => format!("{}: Writer", s.table.name),
        }
    }

    /// The schema of the rows this operator emits (empty for a sink).
    pub fn output_schema(&self) -> &RowSchema {
        match self {
            OperatorSpec::Source(s) => &s.output,
            OperatorSpec::Calc(c) => &c.output,
            OperatorSpec::WindowTableFunction(w) => &w.output,
            OperatorSpec::Aggregate(a) => &a.output,
            OperatorSpec::Join(j) => &j.output,
            OperatorSpec::Sink(s) => &s.output,
        }
    }

    /// A one-line description for the plan (`/jobs/:id/plan`).
    pub fn description(&self) -> String {
        match self {
            OperatorSpec::Source(s) => format!(
                "TableSourceScan(table=[{}], fields=[{}]{})",
                s.table.name,
                s.output
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.watermark
                    .as_ref()
                    .map(|w| format!(", watermark=[{}]", w.sql))
                    .unwrap_or_default()
            ),
            OperatorSpec::Calc(c) => {
                let sel: Vec<String> = c
                    .exprs
                    .iter()
                    .map(|(n, e)| format!("{} AS {n}", e.sql))
                    .collect();
                match &c.filter {
                    Some(f) => format!("Calc(select=[{}], where=[{}])", sel.join(", "), f.sql),
                    None => format!("Calc(select=[{}])", sel.join(", ")),
                }
            }
            OperatorSpec::WindowTableFunction(w) => {
                format!(
                    "WindowTableFunction(window=[{}])",
                    w.window.describe(&w.input)
                )
            }
            OperatorSpec::Aggregate(a) => {
                let keys: Vec<&str> = a
                    .group_by
                    .iter()
                    .map(|i| a.input.columns[*i].name.as_str())
                    .collect();
                let aggs: Vec<String> = a
                    .aggregates
                    .iter()
                    .map(|x| format!("{} AS {}", x.describe(&a.input), x.name))
                    .collect();
                format!(
                    "{}(groupBy=[{}], select=[{}])",
                    self.name(),
                    keys.join(", "),
                    aggs.join(", ")
                )
            }
            OperatorSpec::Join(j) => {
                let keys: Vec<String> = j
                    .left_keys
                    .iter()
                    .zip(&j.right_keys)
                    .map(|(l, r)| {
                        format!("{} = {}", j.left.columns[*l].name, j.right.columns[*r].name)
                    })
                    .collect();
                let kind = match j.kind {
                    JoinKind::Window { .. } => "window".to_string(),
                    JoinKind::Interval {
                        left_time,
                        right_time,
                        lower_ms,
                        upper_ms,
                    } => format!(
                        "{} BETWEEN {} + {lower_ms} ms AND {} + {upper_ms} ms",
                        j.left.columns[left_time].name,
                        j.right.columns[right_time].name,
                        j.right.columns[right_time].name
                    ),
                };
                format!(
                    "{}(joinType=[{:?}], keys=[{}], {kind}{})",
                    self.name(),
                    j.join_type,
                    keys.join(", "),
                    j.filter
                        .as_ref()
                        .map(|f| format!(", where=[{}]", f.sql))
                        .unwrap_or_default()
                )
            }
            OperatorSpec::Sink(s) => {
                format!("Sink(table=[{}], fields=[{}])", s.table.name, s.output)
            }
        }
    }
}

/// Reads a table. The reader produces the `projection` columns of the table, in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    pub table: TableSpec,
    pub projection: Vec<usize>,
    pub output: RowSchema,
    /// Watermark strategy over the projected output (index of the rowtime column, expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<SourceWatermark>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceWatermark {
    pub rowtime: usize,
    pub expr: ExprSpec,
    pub sql: String,
    /// When the expression is `rowtime - INTERVAL ...` (or the rowtime itself): that delay in ms,
    /// so sources compute watermarks with integer arithmetic instead of evaluating `expr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<i64>,
}

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

/// A window assigner over a time column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WindowSpec {
    Tumble {
        size_ms: i64,
        offset_ms: i64,
    },
    Hop {
        slide_ms: i64,
        size_ms: i64,
        offset_ms: i64,
    },
    Cumulate {
        step_ms: i64,
        size_ms: i64,
        offset_ms: i64,
    },
    /// Session windows: rows of one partition closer than `gap_ms` belong to one window. The
    /// window function gives each row its own window `[ts, ts + gap)`; the window aggregate
    /// merges overlapping ones.
    Session {
        gap_ms: i64,
    },
}

impl WindowSpec {
    pub fn kind_name(&self) -> &'static str {
        match self {
            WindowSpec::Tumble { .. } => "TUMBLE",
            WindowSpec::Hop { .. } => "HOP",
            WindowSpec::Cumulate { .. } => "CUMULATE",
            WindowSpec::Session { .. } => "SESSION",
        }
    }

    pub fn describe(&self, _input: &RowSchema) -> String {
        match self {
            WindowSpec::Tumble { size_ms, .. } => format!("TUMBLE(size=[{} ms])", size_ms),
            WindowSpec::Hop {
                slide_ms, size_ms, ..
            } => {
                format!("HOP(slide=[{} ms], size=[{} ms])", slide_ms, size_ms)
            }
            WindowSpec::Cumulate {
                step_ms, size_ms, ..
            } => {
                format!("CUMULATE(step=[{} ms], max_size=[{} ms])", step_ms, size_ms)
            }
            WindowSpec::Session { gap_ms } => format!("SESSION(gap=[{gap_ms} ms])"),
        }
    }
}

/// `TABLE(TUMBLE(TABLE t, DESCRIPTOR(col), size))`: appends `window_start`, `window_end`,
/// `window_time` to every row (one copy per window the row belongs to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowTvfSpec {
    pub input: RowSchema,
    pub time_column: usize,
    pub window: WindowSpec,
    pub output: RowSchema,
}

/// One aggregate call: function, argument column (none for COUNT(*)), result name and type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggCall {
    pub func: AggFunc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<usize>,
    #[serde(default)]
    pub distinct: bool,
    pub name: String,
    pub result_type: SqlType,
}

impl AggCall {
    pub fn describe(&self, input: &RowSchema) -> String {
        let arg = match self.arg {
            Some(i) => input.columns[i].name.clone(),
            None => "*".into(),
        };
        let d = if self.distinct { "DISTINCT " } else { "" };
        format!("{}({d}{arg})", self.func.sql_name())
    }

    /// The state columns of this call's partial aggregate.
    pub fn state_fields(&self, input: &RowSchema) -> Vec<StateField> {
        let arg = self.arg.and_then(|a| input.columns.get(a)).map(|c| &c.ty);
        self.func.state_fields(arg, &self.result_type)
    }
}

/// Schema of partial aggregate rows: group keys, then per call its state columns
/// ([`AggCall::state_fields`]: AVG keeps sum and count).
pub fn partial_schema(input: &RowSchema, group_by: &[usize], calls: &[AggCall]) -> RowSchema {
    let mut cols: Vec<Column> = group_by.iter().map(|g| input.columns[*g].clone()).collect();
    for (k, c) in calls.iter().enumerate() {
        cols.extend(c.state_fields(input).into_iter().map(|f| Column {
            name: format!("${}{k}", f.name),
            ty: f.ty,
            nullable: f.nullable,
        }));
    }
    RowSchema::new(cols)
}

/// Single: raw rows in, final rows out. Partial: raw rows in, partial states out.
/// Final: partial states in, final rows out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AggregateMode {
    #[default]
    Single,
    Partial,
    Final,
}

/// `GROUP BY` aggregation. With `window_end_column`, a window aggregate: a group fires when the
/// watermark passes its window end (and at end of input); otherwise results are emitted at end of
/// input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateSpec {
    pub input: RowSchema,
    /// Group-by columns of `input` (including the window columns for a window aggregate).
    pub group_by: Vec<usize>,
    pub aggregates: Vec<AggCall>,
    /// The input column holding `window_end`, for a window aggregate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end_column: Option<usize>,
    /// Group-by columns of `input` that are window attributes (`window_start`, `window_end`,
    /// `window_time`): constant within one window, so not hashed per row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub window_key_columns: Vec<usize>,
    #[serde(default)]
    pub mode: AggregateMode,
    /// A non-windowed aggregate of a streaming job: every change of a group's result is emitted
    /// as it happens (+I, then -U/+U pairs), with the row kind in a trailing `$op` column of
    /// `output`. Otherwise results are emitted when a window fires or at end of input.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changelog: bool,
    /// With `changelog`: fold the changes of a whole input batch into one change per group
    /// (`table.exec.mini-batch.enabled`), instead of one per input row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mini_batch: bool,
    /// A session window aggregate: windows `[start, end)` of the input rows (from a SESSION
    /// window function) that overlap are merged per group before they fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_gap_ms: Option<i64>,
    /// Output: group-by columns, then aggregates (or partial states for Partial), then `$op`
    /// with `changelog`.
    pub output: RowSchema,
}

/// Which rows of a join are kept without a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JoinType {
    Inner,
    Left,
    Right,
    Full,
}

/// How a streaming join bounds its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JoinKind {
    /// Both inputs are windowed alike and joined per window (`window_end` columns given); a
    /// window's rows are joined when the watermark passes its end, then dropped.
    Window { left_end: usize, right_end: usize },
    /// `right.ts + lower <= left.ts <= right.ts + upper` on the two rowtime columns; rows are
    /// dropped once the watermark passes the last time a partner could have.
    Interval {
        left_time: usize,
        right_time: usize,
        lower_ms: i64,
        upper_ms: i64,
    },
}

/// A two-input join: input 0 is the left side, input 1 the right. Output: left columns, then
/// right columns (names made unique).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinSpec {
    pub left: RowSchema,
    pub right: RowSchema,
    pub join_type: JoinType,
    /// Equality keys (columns of left and right, pairwise); the inputs are hashed on them.
    pub left_keys: Vec<usize>,
    pub right_keys: Vec<usize>,
    pub kind: JoinKind,
    /// The rest of the join condition, over `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ExprSpec>,
    pub output: RowSchema,
}

/// Writes rows to a table. `output` is the table schema (the input must match it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkSpec {
    pub table: TableSpec,
    pub output: RowSchema,
    /// The input is a changelog: its batches carry a trailing `$op` column after `output`'s.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changelog: bool,
}

/// Why a JobGraph is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("the job graph has no vertices")]
    Empty,
    #[error("vertex {0} appears twice")]
    DuplicateVertex(VertexId),
    #[error("vertex '{0}' has parallelism 0; parallelism must be at least 1")]
    ZeroParallelism(String),
    #[error("vertex '{name}' has parallelism {parallelism} above its max parallelism {max}")]
    AboveMaxParallelism {
        name: String,
        parallelism: u32,
        max: u32,
    },
    #[error("vertex '{name}' has max parallelism {max}; it must be between 1 and {UPPER_BOUND_MAX_PARALLELISM} (both inclusive), as in Flink")]
    BadMaxParallelism { name: String, max: u32 },
    #[error("vertex '{0}' has no operators")]
    NoOperators(String),
    #[error("edge refers to unknown vertex {0}")]
    UnknownVertex(VertexId),
    #[error("FORWARD edge from '{from}' (parallelism {p1}) to '{to}' (parallelism {p2}) needs equal parallelism; use REBALANCE or HASH")]
    ForwardParallelism {
        from: String,
        to: String,
        p1: u32,
        p2: u32,
    },
    #[error("the job graph has a cycle through vertex '{0}'")]
    Cycle(String),
    #[error("vertex '{0}' has no inputs but does not start with a source")]
    NoSource(String),
    #[error("hash key column {key} is out of range for '{vertex}' ({width} columns)")]
    BadHashKey {
        vertex: String,
        key: usize,
        width: usize,
    },
}

impl JobGraph {
    pub fn vertex(&self, id: VertexId) -> Option<&JobVertex> {
        self.vertices.iter().find(|v| v.id == id)
    }

    pub fn inputs_of(&self, id: VertexId) -> impl Iterator<Item = &JobEdge> {
        self.edges.iter().filter(move |e| e.target == id)
    }

    pub fn outputs_of(&self, id: VertexId) -> impl Iterator<Item = &JobEdge> {
        self.edges.iter().filter(move |e| e.source == id)
    }

    /// Vertex indices in topological order (sources first); an error names a vertex on a cycle.
    pub fn topological_order(&self) -> Result<Vec<usize>, GraphError> {
        let idx = |id: VertexId| self.vertices.iter().position(|v| v.id == id);
        let mut indeg = vec![0usize; self.vertices.len()];
        for e in &self.edges {
            indeg[idx(e.target).ok_or(GraphError::UnknownVertex(e.target))?] += 1;
            idx(e.source).ok_or(GraphError::UnknownVertex(e.source))?;
        }
        let mut ready: Vec<usize> = (0..self.vertices.len())
            .filter(|i| indeg[*i] == 0)
            .collect();
        ready.reverse();
        let mut order = Vec::with_capacity(self.vertices.len());
        while let Some(i) = ready.pop() {
            order.push(i);
            for e in self.outputs_of(self.vertices[i].id) {
                let t = idx(e.target).expect("checked");
                indeg[t] -= 1;
                if indeg[t] == 0 {
                    ready.push(t);
                }
            }
        }
        if order.len() != self.vertices.len() {
            let stuck = (0..self.vertices.len())
                .find(|i| indeg[*i] > 0)
                .unwrap_or(0);
            return Err(GraphError::Cycle(self.vertices[stuck].name.clone()));
        }
        Ok(order)
    }

    /// Structural validation (the Dispatcher's first check).
    pub fn validate(&self) -> Result<(), GraphError> {
        if self.vertices.is_empty() {
            return Err(GraphError::Empty);
        }
        let mut seen = std::collections::HashSet::new();
        for v in &self.vertices {
            if !seen.insert(v.id) {
                return Err(GraphError::DuplicateVertex(v.id));
            }
            if v.parallelism == 0 {
                return Err(GraphError::ZeroParallelism(v.name.clone()));
            }
            if v.max_parallelism == 0 || v.max_parallelism > UPPER_BOUND_MAX_PARALLELISM {
                return Err(GraphError::BadMaxParallelism {
                    name: v.name.clone(),
                    max: v.max_parallelism,
                });
            }
            if v.parallelism > v.max_parallelism {
                return Err(GraphError::AboveMaxParallelism {
                    name: v.name.clone(),
                    parallelism: v.parallelism,
                    max: v.max_parallelism,
                });
            }
            if v.operators.is_empty() {
                return Err(GraphError::NoOperators(v.name.clone()));
            }
        }
        for e in &self.edges {
            let s = self
                .vertex(e.source)
                .ok_or(GraphError::UnknownVertex(e.source))?;
            let t = self
                .vertex(e.target)
                .ok_or(GraphError::UnknownVertex(e.target))?;
            if e.ship_strategy == ShipStrategy::Forward && s.parallelism != t.parallelism {
                return Err(GraphError::ForwardParallelism {
                    from: s.name.clone(),
                    to: t.name.clone(),
                    p1: s.parallelism,
                    p2: t.parallelism,
                });
            }
            if let ShipStrategy::Hash { keys } = &e.ship_strategy {
                let width = s
                    .operators
                    .last()
                    .map(|o| o.output_schema().len())
                    .unwrap_or(0);
                if let Some(k) = keys.iter().find(|k| **k >= width) {
                    return Err(GraphError::BadHashKey {
                        vertex: s.name.clone(),
                        key: *k,
                        width,
                    });
                }
            }
        }
        self.topological_order()?;
        for v in &self.vertices {
            if self.inputs_of(v.id).next().is_none()
                && !matches!(v.operators.first(), Some(OperatorSpec::Source(_)))
            {
                return Err(GraphError::NoSource(v.name.clone()));
            }
        }
        Ok(())
    }
}
