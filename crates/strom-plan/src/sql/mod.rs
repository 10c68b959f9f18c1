//! Flink-dialect SQL: parsing, planning with DataFusion, translation to a JobGraph.

pub mod catalog;
pub mod depth;
pub mod dialect;
pub mod error;
pub mod parser;
pub mod planner;
pub mod window_tvf;
