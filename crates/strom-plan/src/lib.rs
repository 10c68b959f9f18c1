//! Strom's plans: the JobGraph (what a client submits) with its operator specs and encoded
//! expressions, and the functions they evaluate with ([`functions`], and the aggregate
//! functions in [`aggregates`]). The SQL compiler that
//! builds JobGraphs from Flink-dialect SQL is the `strom-sql` crate.

pub mod aggregates;
pub mod changelog;
pub mod expr_codec;
pub mod functions;
pub mod job_graph;
pub mod specs;
pub mod stage;
pub mod table;
pub mod types;
pub mod values;

pub use changelog::{RowKind, OP_COLUMN};
pub use job_graph::*;
pub use types::{Column, RowSchema, SqlType};
