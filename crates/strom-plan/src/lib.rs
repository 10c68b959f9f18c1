//! Strom's plans: the JobGraph (what a client submits) and the SQL compiler that builds it from
//! Flink-dialect SQL through DataFusion's parser and planner.

pub mod changelog;
pub mod job_graph;
pub mod sql;
pub mod types;

pub use changelog::{RowKind, OP_COLUMN};
pub use job_graph::*;
pub use sql::error::SqlError;
pub use sql::planner::{compile_script, CompiledScript};
pub use types::{Column, RowSchema, SqlType};
