//! Flink-dialect SQL: parsing ([`parser`], [`dialect`]), the tables of a session ([`catalog`]),
//! window table functions ([`window_tvf`]) and legacy group windows ([`group_windows`]), Flink function spellings ([`flink_functions`]),
//! planning with DataFusion and the translation of its logical plans into JobGraphs ([`planner`], one translation rule per file). It builds on
//! `strom-plan` (the JobGraph, the encoded expressions, Flink's functions); nothing at run time
//! depends on this crate.

mod calls;
pub mod catalog;
pub mod collection_syntax;
pub mod depth;
pub mod dialect;
pub mod error;
pub mod field_names;
pub mod flink_functions;
pub mod group_windows;
pub mod hints;
pub mod json_syntax;
pub mod lookup;
pub mod nested_values;
pub mod parser;
pub mod planner;
pub mod window_tvf;

pub use error::SqlError;
pub use planner::{compile_script, compile_script_with_statistics, CompiledScript};
