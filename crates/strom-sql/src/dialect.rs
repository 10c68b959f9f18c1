//! `FlinkDialect`: sqlparser's generic dialect plus the Flink syntax Strom needs inside
//! expressions: `TABLE name` as a table argument of a window table function
//! (`TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)`), and Flink's JSON syntax
//! (`JSON_OBJECT(KEY k VALUE v)`, `x IS JSON`; see [`crate::json_syntax`]).
//!
//! Statement-level Flink syntax (`CREATE TABLE ... WATERMARK FOR ... WITH (...)`, `SET 'k' = 'v'`)
//! is handled by [`crate::parser`], which drives the same parser instance, so every error
//! position is a true position in the SQL text.

use sqlparser::ast::{Expr, Ident};
use sqlparser::dialect::{Dialect, GenericDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// Marker identifier for a `TABLE name` argument (`__table__.name` as a compound identifier).
pub const TABLE_ARG_MARKER: &str = "__strom_table_arg__";

/// Separates the table name from its `PARTITION BY` columns in a table argument.
pub const PARTITION_BY_MARKER: &str = "__strom_partition_by__";

#[derive(Debug, Default, Clone, Copy)]
pub struct FlinkDialect;

/// Unquoted identifiers are case-insensitive (lower-cased, as DataFusion does); quoted ones keep
/// their case.
pub fn normalize_ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_ascii_lowercase()
    }
}

/// `TABLE name [PARTITION BY col | PARTITION BY (col, ...)]` as the compound identifier
/// `__strom_table_arg__.name[.__strom_partition_by__.col...]`.
fn parse_table_arg(parser: &mut Parser) -> Result<Expr, ParserError> {
    let name = parser.parse_object_name(false)?;
    let mut parts = vec![Ident::new(TABLE_ARG_MARKER)];
    parts.extend(name.0.into_iter().filter_map(|p| p.as_ident().cloned()));
    if parser.parse_keywords(&[Keyword::PARTITION, Keyword::BY]) {
        parts.push(Ident::new(PARTITION_BY_MARKER));
        if parser.consume_token(&Token::LParen) {
            loop {
                parts.push(parser.parse_identifier()?);
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
            parser.expect_token(&Token::RParen)?;
        } else {
            parts.push(parser.parse_identifier()?);
        }
    }
    Ok(Expr::CompoundIdentifier(parts))
}

impl Dialect for FlinkDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        GenericDialect.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        GenericDialect.is_identifier_part(ch)
    }

    fn supports_group_by_expr(&self) -> bool {
        true
    }

    /// `count(*) FILTER (WHERE price < 10000)`.
    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    /// `ARRAY_AGG(x IGNORE NULLS)`, Flink's place of the null treatment.
    fn supports_window_function_null_treatment_arg(&self) -> bool {
        true
    }

    /// `SELECT /*+ STATE_TTL('t' = '1d') */ ...` (Flink's query hints, see [`crate::hints`]).
    fn supports_comment_optimizer_hint(&self) -> bool {
        true
    }

    /// `JOIN dim FOR SYSTEM_TIME AS OF s.proc_time` (a lookup join).
    fn supports_table_versioning(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        if let Some(call) = crate::json_syntax::parse_object_call(parser)
            .or_else(|| crate::json_syntax::parse_value_call(parser))
            .or_else(|| crate::json_syntax::parse_query_call(parser))
            .or_else(|| crate::json_syntax::parse_exists_call(parser))
            .or_else(|| crate::collection_syntax::parse_map_constructor(parser))
        {
            return Some(call);
        }
        // `TABLE <name>` where an expression is expected (a table argument).
        let [first, second] = parser.peek_tokens();
        let is_table = matches!(&first, Token::Word(w) if w.keyword == Keyword::TABLE);
        let then_name = matches!(&second, Token::Word(_));
        if !(is_table && then_name) {
            return None;
        }
        parser.next_token();
        Some(parse_table_arg(parser))
    }

    /// `x IS [NOT] JSON [VALUE | SCALAR | ARRAY | OBJECT]`.
    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        _precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        crate::json_syntax::parse_is_json(parser, expr)
    }
}
