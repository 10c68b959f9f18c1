//! Strom's plans: the JobGraph (what a client submits) with its operator specs and encoded
//! expressions, the functions they evaluate with ([`functions`]), and the SQL compiler
//! ([`sql`]) that builds JobGraphs from Flink-dialect SQL through DataFusion. The runtime uses
//! everything here but [`sql`].

pub mod changelog;
pub mod expr_codec;
pub mod functions;
pub mod job_graph;
pub mod sql;
pub mod types;

pub use changelog::{RowKind, OP_COLUMN};
pub use job_graph::*;
pub use sql::error::SqlError;
pub use sql::planner::{compile_script, CompiledScript};
pub use types::{Column, RowSchema, SqlType};
