//! Splits a SQL script into statements and parses Flink's statement syntax:
//! `SET 'k' = 'v'`, `RESET`, `CREATE TABLE ... (cols, WATERMARK FOR c AS e, PRIMARY KEY (..) NOT
//! ENFORCED) WITH ('k' = 'v', ...)`; everything else (INSERT, SELECT) goes to sqlparser's stock
//! statement parser with [`FlinkDialect`].

pub use crate::dialect::normalize_ident;
use crate::dialect::FlinkDialect;
use crate::error::SqlError;
use sqlparser::ast::{DataType, ExactNumberInfo, ObjectType, Spanned, Statement, TimezoneInfo};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Span, Token};
use std::collections::BTreeMap;
use strom_plan::job_graph::{TableSpec, WatermarkSpec};
use strom_plan::types::{Column, RowSchema, SqlType};

/// One statement of a script.
#[derive(Debug, Clone)]
pub enum SqlStatement {
    Set {
        key: String,
        value: String,
    },
    Reset {
        key: Option<String>,
    },
    CreateTable {
        /// Computed columns have a placeholder type here: the planner infers it.
        table: TableSpec,
        /// `name AS expression` columns (also in `table.schema`, in declaration order).
        computed: Vec<ComputedColumn>,
        if_not_exists: bool,
        span: Span,
    },
    /// `CREATE [TEMPORARY] VIEW [IF NOT EXISTS] name [(columns)] AS query`.
    CreateView {
        view: ViewSpec,
        if_not_exists: bool,
        span: Span,
    },
    /// `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'class' [LANGUAGE JAVA]`.
    CreateFunction {
        name: String,
        class: String,
        if_not_exists: bool,
        span: Span,
    },
    /// `DROP [TEMPORARY] VIEW | TABLE [IF EXISTS] name`.
    Drop {
        view: bool,
        name: String,
        if_exists: bool,
        span: Span,
    },
    /// INSERT INTO ... / SELECT ..., parsed by sqlparser.
    Query(Box<Statement>),
    /// `EXPLAIN [PLAN FOR | detail, ...] statement` (a SELECT, an INSERT or a statement set):
    /// the plan, not a run.
    Explain(Box<SqlStatement>),
    /// `EXECUTE STATEMENT SET BEGIN INSERT ...; ... END` (or the SQL client's `BEGIN STATEMENT
    /// SET; INSERT ...; ... END`): INSERTs that run as one job.
    StatementSet {
        inserts: Vec<Statement>,
        span: Span,
    },
}

/// A computed column of `CREATE TABLE`: `name AS expression` over the table's other columns.
#[derive(Debug, Clone)]
pub struct ComputedColumn {
    pub name: String,
    pub expr: sqlparser::ast::Expr,
    pub span: Span,
}

/// A view: a named query, planned where it is used.
#[derive(Debug, Clone)]
pub struct ViewSpec {
    pub name: String,
    /// Names for the query's columns (empty: the query's own).
    pub columns: Vec<String>,
    pub query: Box<sqlparser::ast::Query>,
}

/// Parses a whole script (statements separated by `;`).
pub fn parse_script(sql: &str) -> Result<Vec<SqlStatement>, SqlError> {
    parse_statements(sql).map_err(|e| {
        if e.position.is_some() {
            return e;
        }
        // errors at the end of the text carry no position in sqlparser: point at the end
        let line = sql.lines().count().max(1) as u64;
        let column = sql
            .lines()
            .last()
            .map(|l| l.chars().count() as u64 + 1)
            .unwrap_or(1);
        SqlError::at(e.message, line, column)
    })
}

fn parse_statements(sql: &str) -> Result<Vec<SqlStatement>, SqlError> {
    let dialect = FlinkDialect;
    let mut parser = Parser::new(&dialect).try_with_sql(sql)?;
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token().token == Token::EOF {
            break;
        }
        let stmt = parse_one(&mut parser)?;
        out.push(stmt);
        let next = parser.peek_token();
        if next.token != Token::EOF && next.token != Token::SemiColon {
            return Err(SqlError::at_span(
                format!(
                    "SQL parse error: expected ';' or end of script, found '{}'",
                    next.token
                ),
                next.span,
            ));
        }
    }
    Ok(out)
}

/// `EXPLAIN [PLAN FOR] statement`, or Flink's `EXPLAIN detail, ... statement` (ESTIMATED_COST,
/// CHANGELOG_MODE, JSON_EXECUTION_PLAN, PLAN_ADVICE: all plans show the same here).
fn parse_explain(parser: &mut Parser) -> Result<SqlStatement, SqlError> {
    let start = parser.peek_token().span;
    parser.expect_keyword(Keyword::EXPLAIN)?;
    if parser.parse_keyword(Keyword::PLAN) {
        parser.expect_keyword(Keyword::FOR)?;
    } else {
        const DETAILS: [&str; 4] = [
            "ESTIMATED_COST",
            "CHANGELOG_MODE",
            "JSON_EXECUTION_PLAN",
            "PLAN_ADVICE",
        ];
        while let Token::Word(w) = parser.peek_token().token {
            if !DETAILS.contains(&w.value.to_ascii_uppercase().as_str()) {
                break;
            }
            parser.next_token();
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
    }
    let inner = parse_one(parser)?;
    match inner {
        SqlStatement::Query(_) | SqlStatement::StatementSet { .. } => {
            Ok(SqlStatement::Explain(Box::new(inner)))
        }
        _ => Err(SqlError::at_span(
            "EXPLAIN takes a SELECT, an INSERT INTO or a STATEMENT SET".to_string(),
            start,
        )),
    }
}

fn parse_one(parser: &mut Parser) -> Result<SqlStatement, SqlError> {
    if parser.parse_keyword(Keyword::SET) {
        let key = parse_string_or_word(parser)?;
        parser.expect_token(&Token::Eq)?;
        let value = parse_string_or_word(parser)?;
        return Ok(SqlStatement::Set { key, value });
    }
    if parser.parse_keyword(Keyword::RESET) {
        let key = match parser.peek_token().token {
            Token::SingleQuotedString(_) => Some(parser.parse_literal_string()?),
            _ => None,
        };
        return Ok(SqlStatement::Reset { key });
    }
    let [a, b, c] = parser.peek_tokens();
    let is_kw = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    let execute_set =
        is_kw(&a, Keyword::EXECUTE) && is_kw(&b, Keyword::STATEMENT) && is_kw(&c, Keyword::SET);
    let begin_set =
        is_kw(&a, Keyword::BEGIN) && is_kw(&b, Keyword::STATEMENT) && is_kw(&c, Keyword::SET);
    if execute_set || begin_set {
        return parse_statement_set(parser, begin_set);
    }
    if is_kw(&a, Keyword::EXPLAIN) {
        return parse_explain(parser);
    }
    let create_table = is_kw(&a, Keyword::CREATE)
        && (is_kw(&b, Keyword::TABLE)
            || (is_kw(&b, Keyword::TEMPORARY) && is_kw(&c, Keyword::TABLE)));
    if create_table {
        return parse_create_table(parser);
    }
    let words: Vec<String> = parser
        .peek_tokens::<4>()
        .iter()
        .map(|t| match t {
            Token::Word(w) => w.value.to_ascii_uppercase(),
            _ => String::new(),
        })
        .collect();
    let function_at = words.iter().position(|w| w == "FUNCTION");
    if words[0] == "CREATE"
        && function_at.is_some_and(|i| {
            words[1..i]
                .iter()
                .all(|w| w == "TEMPORARY" || w == "SYSTEM")
        })
    {
        return parse_create_function(parser);
    }
    let start = parser.peek_token().span;
    let mut stmt = parser.parse_statement()?;
    let span = start.union(&parser.peek_token().span);
    crate::flink_functions::rewrite(&mut stmt);
    crate::field_names::name_fields(&mut stmt);
    match stmt {
        Statement::CreateView(v) => create_view(v, span),
        Statement::Drop {
            object_type: object_type @ (ObjectType::View | ObjectType::Table),
            if_exists,
            names,
            ..
        } => {
            let [name] = &names[..] else {
                return Err(SqlError::at_span(
                    "DROP takes one name at a time".to_string(),
                    span,
                ));
            };
            Ok(SqlStatement::Drop {
                view: object_type == ObjectType::View,
                name: last_ident(name),
                if_exists,
                span,
            })
        }
        other => Ok(SqlStatement::Query(Box::new(other))),
    }
}

/// The INSERTs of a statement set, after its first three words, up to its `END`.
fn parse_statement_set(parser: &mut Parser, client_form: bool) -> Result<SqlStatement, SqlError> {
    let start = parser.peek_token().span;
    for _ in 0..3 {
        parser.next_token();
    }
    if client_form {
        // BEGIN STATEMENT SET;
        parser.expect_token(&Token::SemiColon)?;
    } else {
        parser.expect_keyword(Keyword::BEGIN)?;
    }
    let mut inserts = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let next = parser.peek_token();
        if parser.parse_keyword(Keyword::END) {
            break;
        }
        if next.token == Token::EOF {
            return Err(SqlError::at_span(
                "the statement set has no END: close it with END;".to_string(),
                start,
            ));
        }
        let mut stmt = parser.parse_statement()?;
        crate::flink_functions::rewrite(&mut stmt);
        crate::field_names::name_fields(&mut stmt);
        if !matches!(stmt, Statement::Insert(_)) {
            let span = next.span.union(&parser.peek_token().span);
            return Err(SqlError::at_span(
                format!(
                    "a statement set holds only INSERT statements, found '{}'",
                    stmt.to_string()
                        .split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                span,
            ));
        }
        inserts.push(stmt);
    }
    let span = start.union(&parser.peek_token().span);
    if inserts.is_empty() {
        return Err(SqlError::at_span(
            "the statement set holds no INSERT statement".to_string(),
            span,
        ));
    }
    Ok(SqlStatement::StatementSet { inserts, span })
}

fn last_ident(name: &sqlparser::ast::ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(normalize_ident)
        .unwrap_or_default()
}

fn create_view(v: sqlparser::ast::CreateView, span: Span) -> Result<SqlStatement, SqlError> {
    if v.materialized || v.or_replace || v.or_alter {
        return Err(SqlError::at_span(
            "Flink SQL creates plain views: CREATE [TEMPORARY] VIEW [IF NOT EXISTS] name [(columns)] AS query".to_string(),
            span,
        ));
    }
    Ok(SqlStatement::CreateView {
        view: ViewSpec {
            name: last_ident(&v.name),
            columns: v.columns.iter().map(|c| normalize_ident(&c.name)).collect(),
            query: v.query,
        },
        if_not_exists: v.if_not_exists,
        span,
    })
}

fn parse_string_or_word(parser: &mut Parser) -> Result<String, SqlError> {
    let t = parser.next_token();
    match t.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s),
        Token::Word(w) => {
            // unquoted dotted keys: execution.runtime-mode is several tokens; collect them
            let mut s = w.value;
            loop {
                let n = parser.peek_token_no_skip();
                match n.token {
                    Token::Period | Token::Minus => {
                        parser.next_token_no_skip();
                        s.push_str(&n.token.to_string());
                    }
                    Token::Word(ref w2) if s.ends_with('.') || s.ends_with('-') => {
                        s.push_str(&w2.value);
                        parser.next_token_no_skip();
                    }
                    Token::Number(ref num, _) if s.ends_with('.') || s.ends_with('-') => {
                        s.push_str(num);
                        parser.next_token_no_skip();
                    }
                    _ => break,
                }
            }
            Ok(s)
        }
        Token::Number(n, _) => Ok(n),
        other => Err(SqlError::at_span(
            format!("SQL parse error: expected a quoted string such as 'value', found '{other}'"),
            t.span,
        )),
    }
}

/// `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'class' [LANGUAGE JAVA |
/// SCALA | PYTHON] [USING JAR '...']` (the class is bound to a native function when the script
/// runs, see `strom_plan::functions::java_udfs`).
fn parse_create_function(parser: &mut Parser) -> Result<SqlStatement, SqlError> {
    let start = parser.peek_token().span;
    parser.expect_keyword(Keyword::CREATE)?;
    let _ = parser.parse_keyword(Keyword::TEMPORARY);
    let _ = parser.parse_keyword(Keyword::SYSTEM);
    parser.expect_keyword(Keyword::FUNCTION)?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = last_ident(&parser.parse_object_name(false)?);
    parser.expect_keyword(Keyword::AS)?;
    let class = parser.parse_literal_string()?;
    if parser.parse_keyword(Keyword::LANGUAGE) {
        let language = parser.parse_identifier()?.value.to_ascii_uppercase();
        if language != "JAVA" && language != "SCALA" {
            return Err(SqlError::at_span(
                format!("CREATE FUNCTION ... LANGUAGE {language}: Strom binds Java classes it implements natively, and runs no {language}"),
                start,
            ));
        }
    }
    if parser.parse_keyword(Keyword::USING) {
        // `USING JAR 'path'`: the jar is not needed (nor read)
        let _ = parser.parse_identifier()?;
        let _ = parser.parse_literal_string()?;
    }
    let span = start.union(&parser.peek_token().span);
    Ok(SqlStatement::CreateFunction {
        name,
        class,
        if_not_exists,
        span,
    })
}

fn parse_create_table(parser: &mut Parser) -> Result<SqlStatement, SqlError> {
    let start = parser.peek_token().span;
    parser.expect_keyword(Keyword::CREATE)?;
    let _ = parser.parse_keyword(Keyword::TEMPORARY);
    parser.expect_keyword(Keyword::TABLE)?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name_tok = parser.peek_token();
    let name = parser.parse_object_name(false)?;
    let name = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(normalize_ident)
        .ok_or_else(|| {
            SqlError::at_span("SQL parse error: expected a table name", name_tok.span)
        })?;
    parser.expect_token(&Token::LParen)?;
    let mut columns = Vec::new();
    let mut computed = Vec::new();
    let mut watermark = None;
    let mut primary_key = Vec::new();
    loop {
        let t = parser.peek_token();
        if word_is(&t.token, "WATERMARK") {
            watermark = Some(parse_watermark(parser)?);
        } else if matches!(&t.token, Token::Word(w) if w.keyword == Keyword::PRIMARY) {
            parse_primary_key(parser, &mut primary_key)?;
        } else {
            let column = parse_column(parser, &mut primary_key, &mut computed)?;
            if columns.iter().any(|c: &Column| c.name == column.name) {
                return Err(SqlError::at_span(
                    format!(
                        "column '{}' is declared twice in table '{name}'",
                        column.name
                    ),
                    t.span,
                ));
            }
            columns.push(column);
        }
        if parser.consume_token(&Token::Comma) {
            continue;
        }
        parser.expect_token(&Token::RParen)?;
        break;
    }
    if parser.parse_keyword(Keyword::COMMENT) {
        parser.parse_literal_string()?;
    }
    let partition_keys = parse_partitioned_by(parser)?;
    let options = legacy_options(parse_with_options(parser)?);
    let schema = RowSchema::new(columns);
    for (k, span) in &partition_keys {
        if schema.index_of(k).is_none() {
            return Err(SqlError::at_span(
                format!("PARTITIONED BY column '{k}' is not a column of table '{name}'"),
                *span,
            ));
        }
    }
    let partition_keys: Vec<String> = partition_keys.into_iter().map(|(k, _)| k).collect();
    let watermark = match watermark {
        Some((w, span)) => Some(check_watermark(w, span, &schema, &computed, &name)?),
        None => None,
    };
    for k in &primary_key {
        if schema.index_of(k).is_none() {
            return Err(SqlError::at_span(
                format!("PRIMARY KEY column '{k}' is not a column of table '{name}'"),
                start,
            ));
        }
    }
    if !options.contains_key("connector") {
        return Err(SqlError::at_span(
            format!("table '{name}' has no 'connector' option; add WITH ('connector' = 'filesystem' | 'datagen' | 'blackhole' | 'print', ...)"),
            start,
        ));
    }
    let table = TableSpec {
        name,
        schema,
        options,
        watermark,
        primary_key,
        partition_keys,
    };
    let span = start.union(&parser.peek_token().span);
    Ok(SqlStatement::CreateTable {
        table,
        computed,
        if_not_exists,
        span,
    })
}

/// `PARTITIONED BY (col, ...)`, if there (each column with its position, for errors).
fn parse_partitioned_by(parser: &mut Parser) -> Result<Vec<(String, Span)>, SqlError> {
    if !word_is(&parser.peek_token().token, "PARTITIONED") {
        return Ok(Vec::new());
    }
    parser.next_token();
    parser.expect_keyword(Keyword::BY)?;
    parser.expect_token(&Token::LParen)?;
    let mut keys = Vec::new();
    loop {
        let t = parser.peek_token();
        keys.push((normalize_ident(&parser.parse_identifier()?), t.span));
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(keys)
}

/// `WATERMARK FOR column AS expression` (the column's position, for errors).
fn parse_watermark(parser: &mut Parser) -> Result<(WatermarkSpec, Span), SqlError> {
    parser.next_token();
    let for_tok = parser.next_token();
    if !matches!(&for_tok.token, Token::Word(w) if w.keyword == Keyword::FOR) {
        return Err(SqlError::at_span(
            "SQL parse error: expected FOR after WATERMARK (WATERMARK FOR column AS expression)",
            for_tok.span,
        ));
    }
    let col_tok = parser.peek_token();
    let col = normalize_ident(&parser.parse_identifier()?);
    parser.expect_keyword(Keyword::AS)?;
    let expr = parser.parse_expr()?;
    Ok((
        WatermarkSpec {
            column: col,
            sql: expr.to_string(),
        },
        col_tok.span,
    ))
}

/// `PRIMARY KEY (col, ...) [NOT ENFORCED]`.
fn parse_primary_key(parser: &mut Parser, primary_key: &mut Vec<String>) -> Result<(), SqlError> {
    parser.next_token();
    parser.expect_keyword(Keyword::KEY)?;
    parser.expect_token(&Token::LParen)?;
    loop {
        primary_key.push(normalize_ident(&parser.parse_identifier()?));
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
    Ok(())
}

/// A column: `name type [NOT NULL | NULL | PRIMARY KEY [NOT ENFORCED] | COMMENT '...']*`, or a
/// computed column `name AS expression [COMMENT '...']` (added to `computed`; its type here is a
/// placeholder the planner replaces).
fn parse_column(
    parser: &mut Parser,
    primary_key: &mut Vec<String>,
    computed: &mut Vec<ComputedColumn>,
) -> Result<Column, SqlError> {
    let name_tok = parser.peek_token();
    let col_name = normalize_ident(&parser.parse_identifier()?);
    if parser.parse_keyword(Keyword::AS) {
        let start = parser.peek_token().span;
        let mut expr = parser.parse_expr()?;
        crate::flink_functions::rewrite(&mut expr);
        let span = name_tok.span.union(&start.union(&parser.peek_token().span));
        if parser.parse_keyword(Keyword::COMMENT) {
            parser.parse_literal_string()?;
        }
        computed.push(ComputedColumn {
            name: col_name.clone(),
            expr,
            span,
        });
        return Ok(Column {
            name: col_name,
            ty: SqlType::String,
            nullable: true,
        });
    }
    let ty = TypeParser::default()
        .parse(parser)
        .map_err(|e| prefix_error(e, &format!("column '{col_name}': ")))?;
    let nullable = parse_column_constraints(parser, Some((&col_name, primary_key)))?;
    Ok(Column {
        name: col_name,
        ty,
        nullable,
    })
}

/// `[NOT NULL | NULL | PRIMARY KEY [NOT ENFORCED] | COMMENT '...']*` after a column's type;
/// whether the column is nullable. `key`: the column's name and the table's primary key (a
/// ROW's fields have none).
fn parse_column_constraints(
    parser: &mut Parser,
    mut key: Option<(&String, &mut Vec<String>)>,
) -> Result<bool, SqlError> {
    let mut nullable = true;
    loop {
        if parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
            nullable = false;
        } else if parser.parse_keyword(Keyword::NULL) {
            nullable = true;
        } else if key.is_some() && parser.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
            let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
            if let Some((name, pk)) = key.as_mut() {
                pk.push((*name).clone());
            }
        } else if parser.parse_keyword(Keyword::COMMENT) {
            parser.parse_literal_string()?;
        } else {
            return Ok(nullable);
        }
    }
}

fn prefix_error(mut e: SqlError, prefix: &str) -> SqlError {
    e.message = format!("{prefix}{}", e.message);
    e
}

const SUPPORTED_TYPES: &str = "BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, DECIMAL(p, s), STRING/VARCHAR, DATE, TIMESTAMP(p), ROW<name type, ...>, ARRAY<type>, MAP<type, type>, MULTISET<type>";

/// Flink's type syntax, nested types included: `ROW<name type, ...>` (or `ROW(name type, ...)`),
/// `ARRAY<type>`, `MAP<key, value>`, `MULTISET<type>` (as `MAP<type, INT>`, the element's
/// count). Counts the `>` of a `>>` token that closes two levels.
#[derive(Default)]
struct TypeParser {
    pending_gt: usize,
}

impl TypeParser {
    fn parse(&mut self, parser: &mut Parser) -> Result<SqlType, SqlError> {
        let tok = parser.peek_token();
        if word_is(&tok.token, "STRING") {
            parser.next_token();
            return Ok(SqlType::String);
        }
        if word_is(&tok.token, "ROW") {
            parser.next_token();
            let angle = if parser.consume_token(&Token::Lt) {
                true
            } else {
                parser.expect_token(&Token::LParen)?;
                false
            };
            let mut fields: Vec<Column> = Vec::new();
            loop {
                let name_tok = parser.peek_token();
                let name = normalize_ident(&parser.parse_identifier()?);
                if fields.iter().any(|f| f.name == name) {
                    return Err(SqlError::at_span(
                        format!("ROW field '{name}' is declared twice"),
                        name_tok.span,
                    ));
                }
                let ty = self.parse(parser)?;
                let nullable = if self.pending_gt == 0 {
                    parse_column_constraints(parser, None)?
                } else {
                    true
                };
                fields.push(Column { name, ty, nullable });
                if self.pending_gt == 0 && parser.consume_token(&Token::Comma) {
                    continue;
                }
                break;
            }
            if angle {
                self.close(parser)?;
            } else {
                parser.expect_token(&Token::RParen)?;
            }
            return Ok(SqlType::Row(fields));
        }
        if word_is(&tok.token, "ARRAY") {
            parser.next_token();
            parser.expect_token(&Token::Lt)?;
            let e = self.parse(parser)?;
            self.close(parser)?;
            return Ok(SqlType::Array(Box::new(e)));
        }
        if word_is(&tok.token, "MAP") {
            parser.next_token();
            parser.expect_token(&Token::Lt)?;
            let k = self.parse(parser)?;
            parser.expect_token(&Token::Comma)?;
            let v = self.parse(parser)?;
            self.close(parser)?;
            return Ok(SqlType::Map(Box::new(k), Box::new(v)));
        }
        if word_is(&tok.token, "MULTISET") {
            // Flink's MULTISET<T> (COLLECT's result) is a map from each element to its count
            parser.next_token();
            parser.expect_token(&Token::Lt)?;
            let e = self.parse(parser)?;
            self.close(parser)?;
            return Ok(SqlType::Map(Box::new(e), Box::new(SqlType::Int)));
        }
        let dt = parser.parse_data_type()?;
        check_type_range(&dt).map_err(|m| SqlError::at_span(m, tok.span))?;
        sql_type(&dt).ok_or_else(|| {
            SqlError::at_span(
                format!("unsupported type {dt}; supported: {SUPPORTED_TYPES}"),
                tok.span,
            )
        })
    }

    /// The `>` closing a `ROW<`, `ARRAY<` or `MAP<`.
    fn close(&mut self, parser: &mut Parser) -> Result<(), SqlError> {
        if self.pending_gt > 0 {
            self.pending_gt -= 1;
            return Ok(());
        }
        let t = parser.next_token();
        match t.token {
            Token::Gt => Ok(()),
            Token::ShiftRight => {
                self.pending_gt += 1;
                Ok(())
            }
            other => Err(SqlError::at_span(
                format!("SQL parse error: expected '>' to close the type, found '{other}'"),
                t.span,
            )),
        }
    }
}

/// `WITH ('key' = 'value', ...)`, if given.
fn parse_with_options(parser: &mut Parser) -> Result<BTreeMap<String, String>, SqlError> {
    let mut options = BTreeMap::new();
    if parser.parse_keyword(Keyword::WITH) {
        parser.expect_token(&Token::LParen)?;
        if !parser.consume_token(&Token::RParen) {
            loop {
                let k = parser.parse_literal_string()?;
                parser.expect_token(&Token::Eq)?;
                let v = parser.parse_literal_string()?;
                options.insert(k, v);
                if parser.consume_token(&Token::Comma) {
                    continue;
                }
                parser.expect_token(&Token::RParen)?;
                break;
            }
        }
    }
    Ok(options)
}

/// The watermark's column is a TIMESTAMP column of the table.
fn check_watermark(
    w: WatermarkSpec,
    span: Span,
    schema: &RowSchema,
    computed: &[ComputedColumn],
    name: &str,
) -> Result<WatermarkSpec, SqlError> {
    let Some(idx) = schema.index_of(&w.column) else {
        return Err(SqlError::at_span(
            format!(
                "WATERMARK FOR '{}': table '{name}' has no such column; columns: {}",
                w.column,
                column_list(schema)
            ),
            span,
        ));
    };
    // a computed rowtime's type is known once the planner typed it (checked there)
    let is_computed = computed.iter().any(|c| c.name == schema.columns[idx].name);
    if !is_computed && !matches!(schema.columns[idx].ty, SqlType::Timestamp(_)) {
        return Err(SqlError::at_span(
            format!(
                "WATERMARK FOR '{}': the rowtime column must be TIMESTAMP(3), not {}",
                w.column, schema.columns[idx].ty
            ),
            span,
        ));
    }
    Ok(w)
}

pub(crate) fn column_list(schema: &RowSchema) -> String {
    schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn word_is(t: &Token, text: &str) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(text))
}

/// Flink's bounds on type parameters: DECIMAL precision 1 to 38 and scale 0 to the precision,
/// TIMESTAMP precision 0 to 9.
fn check_type_range(dt: &DataType) -> Result<(), String> {
    match dt {
        DataType::Decimal(info) | DataType::Numeric(info) | DataType::Dec(info) => {
            let (p, s) = match info {
                ExactNumberInfo::None => (10, 0),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
            };
            if !(1..=38).contains(&p) {
                return Err(format!(
                    "Decimal precision must be between 1 and 38 (both inclusive), got {dt}"
                ));
            }
            if s < 0 || s as u64 > p {
                return Err(format!(
                    "Decimal scale must be between 0 and the precision {p} (both inclusive), got {dt}"
                ));
            }
        }
        DataType::Timestamp(Some(p), _) | DataType::Datetime(Some(p)) if *p > 9 => {
            return Err(format!(
                "Timestamp precision must be between 0 and 9 (both inclusive), got {dt}"
            ));
        }
        _ => {}
    }
    Ok(())
}

fn sql_type(dt: &DataType) -> Option<SqlType> {
    Some(match dt {
        DataType::Boolean | DataType::Bool => SqlType::Boolean,
        DataType::TinyInt(_) => SqlType::TinyInt,
        DataType::SmallInt(_) => SqlType::SmallInt,
        DataType::Int(_) | DataType::Integer(_) => SqlType::Int,
        DataType::BigInt(_) => SqlType::BigInt,
        DataType::Float(_) | DataType::Real => SqlType::Float,
        DataType::Double(_) | DataType::DoublePrecision => SqlType::Double,
        DataType::Decimal(info) | DataType::Numeric(info) | DataType::Dec(info) => match info {
            ExactNumberInfo::None => SqlType::Decimal(10, 0),
            ExactNumberInfo::Precision(p) => SqlType::Decimal((*p).min(38) as u8, 0),
            ExactNumberInfo::PrecisionAndScale(p, s) => {
                SqlType::Decimal((*p).min(38) as u8, *s as i8)
            }
        },
        DataType::String(_)
        | DataType::Varchar(_)
        | DataType::Char(_)
        | DataType::Text
        | DataType::CharVarying(_)
        | DataType::Character(_) => SqlType::String,
        DataType::Date => SqlType::Date,
        DataType::Timestamp(p, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
            SqlType::Timestamp(p.unwrap_or(6).min(9) as u8)
        }
        DataType::Datetime(p) => SqlType::Timestamp(p.unwrap_or(6).min(9) as u8),
        DataType::Custom(name, args) if name.to_string().eq_ignore_ascii_case("TIMESTAMP_LTZ") => {
            SqlType::Timestamp(args.first().and_then(|a| a.parse().ok()).unwrap_or(6))
        }
        _ => return None,
    })
}

/// The span of a statement (for errors).
pub fn statement_span(s: &Statement) -> Span {
    s.span()
}

/// Flink's legacy table descriptor keys (`'connector.type' = 'filesystem'`, `'connector.path'`,
/// `'format.type'`, as Nexmark's q13 writes them) as today's options (`connector`, `path`,
/// `format`); a `file://` path is a local path.
fn legacy_options(mut options: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for (old, new) in [
        ("connector.type", "connector"),
        ("connector.path", "path"),
        ("format.type", "format"),
    ] {
        if !options.contains_key(new) {
            if let Some(v) = options.remove(old) {
                options.insert(new.to_string(), v);
            }
        }
    }
    if options.get("connector").map(String::as_str) == Some("filesystem") {
        if let Some(p) = options.get_mut("path") {
            if let Some(local) = p.strip_prefix("file://") {
                *p = local.to_string();
            }
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    const BID: &str = include_str!("../tests/data/bid_source.sql");

    #[test]
    fn parses_the_benchmark_source() {
        let stmts = parse_script(BID).unwrap();
        assert_eq!(stmts.len(), 1);
        let SqlStatement::CreateTable { table, .. } = &stmts[0] else {
            panic!("{stmts:?}")
        };
        assert_eq!(table.name, "bid");
        assert_eq!(table.schema.len(), 7);
        assert_eq!(table.schema.columns[5].ty, SqlType::Timestamp(3));
        assert_eq!(table.watermark.as_ref().unwrap().column, "date_time");
        assert_eq!(table.option("format"), Some("csv"));
    }

    /// Nested types, `>>` closing two levels, and MULTISET as a map to counts.
    #[test]
    fn nested_and_collection_types() {
        let stmts = parse_script(
            "CREATE TABLE t (m MULTISET<STRING>, n MAP<STRING, ARRAY<MULTISET<INT>>>, \
             r ROW<a INT, b MULTISET<BIGINT>>) WITH ('connector' = 'blackhole')",
        )
        .unwrap();
        let SqlStatement::CreateTable { table, .. } = &stmts[0] else {
            panic!("{stmts:?}")
        };
        let ms = |t: SqlType| SqlType::Map(Box::new(t), Box::new(SqlType::Int));
        let tys: Vec<&SqlType> = table.schema.columns.iter().map(|c| &c.ty).collect();
        assert_eq!(tys[0], &ms(SqlType::String));
        assert_eq!(
            tys[1],
            &SqlType::Map(
                Box::new(SqlType::String),
                Box::new(SqlType::Array(Box::new(ms(SqlType::Int))))
            )
        );
        assert_eq!(tys[2].to_string(), "ROW<`a` INT, `b` MAP<BIGINT, INT>>");
        let e = parse_script("CREATE TABLE t (m MULTISET<>) WITH ('connector' = 'x')").unwrap_err();
        assert!(e.position.is_some(), "{e}");
    }

    #[test]
    fn set_and_tvf() {
        let stmts = parse_script(
            "SET 'execution.runtime-mode' = 'batch';\nSET parallelism.default = 2;\nINSERT INTO s SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) GROUP BY window_start, window_end;",
        )
        .unwrap();
        assert!(
            matches!(&stmts[0], SqlStatement::Set { key, value } if key == "execution.runtime-mode" && value == "batch")
        );
        assert!(
            matches!(&stmts[1], SqlStatement::Set { key, value } if key == "parallelism.default" && value == "2"),
            "{:?}",
            stmts[1]
        );
        assert!(matches!(&stmts[2], SqlStatement::Query(_)));
    }

    #[test]
    fn errors_have_positions() {
        let e =
            parse_script("CREATE TABLE t (a BIGINT,\n  b WHATEVER(3)) WITH ('connector' = 'x')")
                .unwrap_err();
        assert_eq!(e.position.map(|p| p.line), Some(2), "{e}");
        let e = parse_script("SELEC 1").unwrap_err();
        assert!(e.position.is_some(), "{e}");
        let e =
            parse_script("CREATE TABLE t (a BIGINT, WATERMARK FOR b AS b) WITH ('connector'='x')")
                .unwrap_err();
        assert!(e.message.contains("no such column"), "{e}");
    }
}
