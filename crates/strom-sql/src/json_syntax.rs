//! Flink's JSON syntax, parsed into calls of the functions in `strom_plan::functions::json`:
//!
//! - `JSON_OBJECT([KEY] k VALUE v, ... [NULL | ABSENT ON NULL])` and
//!   `JSON_OBJECTAGG([KEY] k VALUE v [NULL | ABSENT ON NULL])` (parsed by [`parse_object_call`],
//!   which the dialect calls where an expression starts);
//! - `x IS [NOT] JSON [VALUE | SCALAR | ARRAY | OBJECT]` ([`parse_is_json`], after an
//!   expression);
//! - `JSON_VALUE(j, p [RETURNING t] [... ON EMPTY] [... ON ERROR])` ([`parse_value_call`]);
//! - `JSON_QUERY(j, p [RETURNING t] [... WRAPPER] [... ON EMPTY] [... ON ERROR])`
//!   ([`parse_query_call`]);
//! - `JSON_EXISTS(j, p [{TRUE | FALSE | UNKNOWN | ERROR} ON ERROR])` ([`parse_exists_call`]);
//! - and, in the parsed statement ([`rewritten`]): `JSON_OBJECT` / `JSON_ARRAY` as `json_object_texts` /
//!   `json_array_texts` of the values' JSON texts (`JSON_STRING(v)`, or a nested constructor's
//!   text as it is) after whether NULLs are kept; `JSON_ARRAYAGG(v)` as
//!   `json_arrayagg_result(ARRAY_AGG(JSON_STRING(v)))` and `JSON_OBJECTAGG(KEY k VALUE v)` as
//!   `json_objectagg_result(ARRAY_AGG(named_struct('k', k, 'v', JSON_STRING(v))), keep_nulls)`,
//!   keeping the call's FILTER and OVER.

use crate::calls::function;
use sqlparser::ast::{
    CastKind, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, JsonNullClause, NullTreatment, Value, WindowType,
};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// Names of the JSON constructors after the rewrite (their values are JSON texts).
const OBJECT_TEXTS: &str = "json_object_texts";
const ARRAY_TEXTS: &str = "json_array_texts";

/// `JSON_VALUE(json, path [RETURNING type] [{NULL | ERROR | DEFAULT expr} ON EMPTY]
/// [{NULL | ERROR | DEFAULT expr} ON ERROR])` where an expression starts, as
/// `[CAST(] json_value(json, path, empty_mode, empty_default, error_mode, error_default) [AS
/// type)]` (the defaults as strings); `None` for anything else. The call's own spelling (six
/// plain arguments) parses too.
pub fn parse_value_call(parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
    call_of(parser, "JSON_VALUE").then(|| value_call(parser))
}

fn value_call(parser: &mut Parser) -> Result<Expr, ParserError> {
    let (mut args, returning) = match head(parser)? {
        Head::Plain(args) => return Ok(Expr::Function(function("json_value", args))),
        Head::Clauses(args, returning) => (args, returning),
    };
    // (mode, default) on empty, then on error
    let mut behaviors = [(string("NULL"), null()), (string("NULL"), null())];
    let (mut seen_error, mut clauses) = (false, false);
    while !parser.consume_token(&Token::RParen) {
        let behavior = if parser.parse_keyword(Keyword::NULL) {
            (string("NULL"), null())
        } else if parser.parse_keyword(Keyword::ERROR) {
            (string("ERROR"), null())
        } else {
            parser.expect_keyword_is(Keyword::DEFAULT)?;
            let default = parser.parse_expr()?;
            (
                string("DEFAULT"),
                Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(default),
                    data_type: sqlparser::ast::DataType::String(None),
                    array: false,
                    format: None,
                },
            )
        };
        parser.expect_keyword_is(Keyword::ON)?;
        // ON EMPTY comes before ON ERROR, each at most once
        if !seen_error && parser.parse_keyword(Keyword::EMPTY) {
            behaviors[0] = behavior;
        } else {
            parser.expect_keyword_is(Keyword::ERROR)?;
            behaviors[1] = behavior;
            seen_error = true;
        }
        clauses = true;
    }
    if clauses {
        let [(empty_mode, empty_default), (error_mode, error_default)] = behaviors;
        args.extend([empty_mode, empty_default, error_mode, error_default]);
    }
    let call = Expr::Function(function("json_value", args));
    Ok(returned_as(call, returning))
}

/// `JSON_QUERY(json, path [RETURNING type] [{WITHOUT | WITH [CONDITIONAL | UNCONDITIONAL]}
/// [ARRAY] WRAPPER] [{NULL | EMPTY ARRAY | EMPTY OBJECT | ERROR} ON EMPTY] [... ON ERROR])` where
/// an expression starts, as `json_query(json, path, wrapper, on_empty, on_error)` (the clauses
/// as strings: `WITHOUT`, `CONDITIONAL`, `UNCONDITIONAL`; `NULL`, `EMPTY ARRAY`, `EMPTY OBJECT`,
/// `ERROR`), cast to RETURNING's type; `None` for anything else. Without clauses it stays the
/// two-argument call.
pub fn parse_query_call(parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
    call_of(parser, "JSON_QUERY").then(|| query_call(parser))
}

fn query_call(parser: &mut Parser) -> Result<Expr, ParserError> {
    let (mut args, returning) = match head(parser)? {
        Head::Plain(args) => return Ok(Expr::Function(function("json_query", args))),
        Head::Clauses(args, returning) => (args, returning),
    };
    let mut wrapper = None;
    if word(parser, "WITHOUT") {
        word(parser, "ARRAY");
        expect_word(parser, "WRAPPER")?;
        wrapper = Some("WITHOUT");
    } else if word(parser, "WITH") {
        let kind = if word(parser, "CONDITIONAL") {
            "CONDITIONAL"
        } else {
            word(parser, "UNCONDITIONAL");
            "UNCONDITIONAL"
        };
        word(parser, "ARRAY");
        expect_word(parser, "WRAPPER")?;
        wrapper = Some(kind);
    }
    // on empty, then on error
    let mut behaviors: [Option<&str>; 2] = [None, None];
    let mut seen_error = false;
    while !parser.consume_token(&Token::RParen) {
        let behavior = if word(parser, "NULL") {
            "NULL"
        } else if word(parser, "ERROR") {
            "ERROR"
        } else {
            expect_word(parser, "EMPTY")?;
            if word(parser, "ARRAY") {
                "EMPTY ARRAY"
            } else {
                expect_word(parser, "OBJECT")?;
                "EMPTY OBJECT"
            }
        };
        expect_word(parser, "ON")?;
        // ON EMPTY comes before ON ERROR, each at most once
        if !seen_error && word(parser, "EMPTY") {
            behaviors[0] = Some(behavior);
        } else {
            expect_word(parser, "ERROR")?;
            behaviors[1] = Some(behavior);
            seen_error = true;
        }
    }
    if wrapper.is_some() || behaviors.iter().any(Option::is_some) {
        args.push(string(wrapper.unwrap_or("WITHOUT")));
        args.extend(behaviors.map(|b| string(b.unwrap_or("NULL"))));
    }
    let call = Expr::Function(function("json_query", args));
    Ok(returned_as(call, returning))
}

/// `JSON_EXISTS(json, path [{TRUE | FALSE | UNKNOWN | ERROR} ON ERROR])` where an expression
/// starts, as `json_exists(json, path, on_error)` (the behaviour as a string); `None` for
/// anything else. Without the clause it stays the two-argument call.
pub fn parse_exists_call(parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
    call_of(parser, "JSON_EXISTS").then(|| exists_call(parser))
}

fn exists_call(parser: &mut Parser) -> Result<Expr, ParserError> {
    let mut args = match head(parser)? {
        Head::Plain(args) => return Ok(Expr::Function(function("json_exists", args))),
        Head::Clauses(args, _) => args,
    };
    if !matches!(parser.peek_token().token, Token::RParen) {
        let behavior = ["TRUE", "FALSE", "UNKNOWN", "ERROR"]
            .into_iter()
            .find(|b| word(parser, b));
        let Some(behavior) = behavior else {
            return parser.expected("TRUE, FALSE, UNKNOWN or ERROR", parser.peek_token());
        };
        expect_word(parser, "ON")?;
        expect_word(parser, "ERROR")?;
        args.push(string(behavior));
    }
    parser.expect_token(&Token::RParen)?;
    Ok(Expr::Function(function("json_exists", args)))
}

/// The start of a JSON function's call, after `name(`.
enum Head {
    /// Plain arguments only (the call's own spelling, as a view's text has it), the closing
    /// parenthesis consumed.
    Plain(Vec<Expr>),
    /// The json and path arguments and the RETURNING type; the clauses follow.
    Clauses(Vec<Expr>, Option<sqlparser::ast::DataType>),
}

fn head(parser: &mut Parser) -> Result<Head, ParserError> {
    let mut args = vec![parser.parse_expr()?];
    parser.expect_token(&Token::Comma)?;
    args.push(parser.parse_expr()?);
    if parser.consume_token(&Token::Comma) {
        args.extend(parser.parse_comma_separated(Parser::parse_expr)?);
        parser.expect_token(&Token::RParen)?;
        return Ok(Head::Plain(args));
    }
    let returning = if parser.parse_keyword(Keyword::RETURNING) {
        Some(parser.parse_data_type()?)
    } else {
        None
    };
    Ok(Head::Clauses(args, returning))
}

/// Consumes `name(` if that is what comes next (`name` unquoted, in any case).
fn call_of(parser: &mut Parser, name: &str) -> bool {
    let [first, second] = parser.peek_tokens();
    let is_call = matches!(&first, Token::Word(w)
        if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(name));
    if !is_call || second != Token::LParen {
        return false;
    }
    parser.next_token();
    parser.next_token();
    true
}

/// `call` cast to RETURNING's type, if there is one.
fn returned_as(call: Expr, returning: Option<sqlparser::ast::DataType>) -> Expr {
    match returning {
        Some(data_type) => Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(call),
            data_type,
            array: false,
            format: None,
        },
        None => call,
    }
}

/// Consumes the next token if it is the unquoted word `w` (any case).
fn word(parser: &mut Parser, w: &str) -> bool {
    let is = matches!(parser.peek_token().token, Token::Word(ref t)
        if t.quote_style.is_none() && t.value.eq_ignore_ascii_case(w));
    if is {
        parser.next_token();
    }
    is
}

/// Consumes the word `w`, or says what was found instead.
fn expect_word(parser: &mut Parser, w: &str) -> Result<(), ParserError> {
    if word(parser, w) {
        Ok(())
    } else {
        parser.expected(w, parser.peek_token())
    }
}

/// `JSON_OBJECT(...)` or `JSON_OBJECTAGG(...)` with Flink's `KEY k VALUE v` arguments, where an
/// expression starts; `None` for anything else.
pub fn parse_object_call(parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
    let [first, second] = parser.peek_tokens();
    let name = match &first {
        Token::Word(w)
            if w.quote_style.is_none()
                && (w.value.eq_ignore_ascii_case("JSON_OBJECT")
                    || w.value.eq_ignore_ascii_case("JSON_OBJECTAGG")) =>
        {
            w.value.to_ascii_uppercase()
        }
        _ => return None,
    };
    if second != Token::LParen {
        return None;
    }
    parser.next_token();
    parser.next_token();
    Some(object_call(parser, name))
}

fn object_call(parser: &mut Parser, name: String) -> Result<Expr, ParserError> {
    let mut args = Vec::new();
    let mut clauses = Vec::new();
    if !parser.consume_token(&Token::RParen) {
        loop {
            if let Some(c) = null_clause(parser) {
                clauses.push(FunctionArgumentClause::JsonNullClause(c));
                parser.expect_token(&Token::RParen)?;
                break;
            }
            let _optional_key = parser.parse_keyword(Keyword::KEY);
            args.push(parser.parse_expr()?);
            parser.expect_keyword_is(Keyword::VALUE)?;
            args.push(parser.parse_expr()?);
            if !parser.consume_token(&Token::Comma) {
                if let Some(c) = null_clause(parser) {
                    clauses.push(FunctionArgumentClause::JsonNullClause(c));
                }
                parser.expect_token(&Token::RParen)?;
                break;
            }
        }
    }
    // FILTER (WHERE ...) and OVER, as after any other call
    let filter = if parser.parse_keyword(Keyword::FILTER) {
        parser.expect_token(&Token::LParen)?;
        parser.expect_keyword_is(Keyword::WHERE)?;
        let f = parser.parse_expr()?;
        parser.expect_token(&Token::RParen)?;
        Some(Box::new(f))
    } else {
        None
    };
    let over = if parser.parse_keyword(Keyword::OVER) {
        if parser.consume_token(&Token::LParen) {
            Some(WindowType::WindowSpec(parser.parse_window_spec()?))
        } else {
            Some(WindowType::NamedWindow(parser.parse_identifier()?))
        }
    } else {
        None
    };
    let mut f = function(&name, args);
    if let FunctionArguments::List(list) = &mut f.args {
        list.clauses = clauses;
    }
    f.filter = filter;
    f.over = over;
    Ok(Expr::Function(f))
}

fn null_clause(parser: &mut Parser) -> Option<JsonNullClause> {
    if parser.parse_keywords(&[Keyword::NULL, Keyword::ON, Keyword::NULL]) {
        Some(JsonNullClause::NullOnNull)
    } else if parser.parse_keywords(&[Keyword::ABSENT, Keyword::ON, Keyword::NULL]) {
        Some(JsonNullClause::AbsentOnNull)
    } else {
        None
    }
}

/// `expr IS [NOT] JSON [VALUE | SCALAR | ARRAY | OBJECT]` after `expr`; `None` when the next
/// tokens are not that.
pub fn parse_is_json(parser: &mut Parser, expr: &Expr) -> Option<Result<Expr, ParserError>> {
    let [is, second, third] = parser.peek_tokens();
    let word = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    if !word(&is, Keyword::IS) {
        return None;
    }
    let negated = word(&second, Keyword::NOT);
    if !word(if negated { &third } else { &second }, Keyword::JSON) {
        return None;
    }
    parser.next_token();
    if negated {
        parser.next_token();
    }
    parser.next_token();
    let kind = match parser.peek_token().token {
        Token::Word(w)
            if ["VALUE", "SCALAR", "ARRAY", "OBJECT"]
                .contains(&w.value.to_ascii_uppercase().as_str()) =>
        {
            parser.next_token();
            w.value.to_ascii_uppercase()
        }
        _ => "VALUE".to_string(),
    };
    let test = Expr::Function(function("is_json", vec![expr.clone(), string(&kind)]));
    Some(Ok(if negated {
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Not,
            expr: Box::new(Expr::Nested(Box::new(test))),
        }
    } else {
        test
    }))
}

fn string(s: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(s.into()).into())
}

fn null() -> Expr {
    Expr::Value(Value::Null.into())
}

fn boolean(b: bool) -> Expr {
    Expr::Value(Value::Boolean(b).into())
}

/// The call's plain arguments and its JSON clauses (NULL treatment, RETURNING); `None` when it
/// has anything else (DISTINCT, ORDER BY, named arguments).
fn json_args(
    f: &Function,
) -> Option<(
    Vec<Expr>,
    Option<JsonNullClause>,
    Option<sqlparser::ast::DataType>,
)> {
    let list = match &f.args {
        FunctionArguments::List(list) => list,
        FunctionArguments::None => return Some((Vec::new(), None, None)),
        FunctionArguments::Subquery(_) => return None,
    };
    if list.duplicate_treatment.is_some() || !f.within_group.is_empty() {
        return None;
    }
    let (mut nulls, mut returning) = (None, None);
    for c in &list.clauses {
        match c {
            FunctionArgumentClause::JsonNullClause(n) => nulls = Some(n.clone()),
            FunctionArgumentClause::JsonReturningClause(r) => returning = Some(r.data_type.clone()),
            _ => return None,
        }
    }
    let args = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((args, nulls, returning))
}

fn name_of(f: &Function) -> Option<String> {
    match &f.name.0[..] {
        [part] => part.as_ident().map(|i| i.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// A value of a JSON constructor as JSON text: a nested constructor's text as it is, anything
/// else through JSON_STRING.
fn json_text(e: Expr) -> Expr {
    let nested = match &e {
        Expr::Function(f) => name_of(f).is_some_and(|n| {
            [
                "JSON_OBJECT",
                "JSON_ARRAY",
                "JSON_OBJECT_TEXTS",
                "JSON_ARRAY_TEXTS",
            ]
            .contains(&n.as_str())
        }),
        _ => false,
    };
    if nested {
        e
    } else {
        Expr::Function(function("json_string", vec![e]))
    }
}

/// The rewrite of a JSON call (see the module doc), `None` for anything else.
pub fn rewritten(e: &Expr) -> Option<Expr> {
    let Expr::Function(f) = e else { return None };
    let name = name_of(f)?;
    if !name.starts_with("JSON_") {
        return None;
    }
    let (args, nulls, returning) = json_args(f)?;
    let keep_nulls = |default: bool| match &nulls {
        Some(JsonNullClause::NullOnNull) => true,
        Some(JsonNullClause::AbsentOnNull) => false,
        None => default,
    };
    let aggregate = f.filter.is_some() || f.over.is_some();
    match name.as_str() {
        // (JSON_VALUE is parsed whole by `parse_value_call`)
        "JSON_VALUE" | "JSON_QUERY" | "JSON_EXISTS" => None,
        _ if returning.is_some() || (aggregate && !name.ends_with("AGG")) => None,
        "JSON_OBJECT" => {
            let mut out = vec![boolean(keep_nulls(true))];
            for (i, a) in args.into_iter().enumerate() {
                out.push(if i % 2 == 0 { a } else { json_text(a) });
            }
            Some(Expr::Function(function(OBJECT_TEXTS, out)))
        }
        "JSON_ARRAY" => {
            let mut out = vec![boolean(keep_nulls(false))];
            out.extend(args.into_iter().map(json_text));
            Some(Expr::Function(function(ARRAY_TEXTS, out)))
        }
        "JSON_ARRAYAGG" | "JSON_OBJECTAGG" => {
            let (item, keep, result) = match (name.as_str(), <[Expr; 2]>::try_from(args.clone())) {
                ("JSON_OBJECTAGG", Ok([k, v])) => (
                    Expr::Function(function(
                        "named_struct",
                        vec![string("k"), k, string("v"), json_text(v)],
                    )),
                    // (the rows are never NULL: only a FILTER makes them so, and then they
                    // are left out)
                    false,
                    "json_objectagg_result",
                ),
                ("JSON_ARRAYAGG", _) if args.len() == 1 => (
                    json_text(args.into_iter().next()?),
                    keep_nulls(false),
                    "json_arrayagg_result",
                ),
                _ => return None,
            };
            let mut agg = function("array_agg", vec![item]);
            if !keep {
                if let FunctionArguments::List(list) = &mut agg.args {
                    list.clauses
                        .push(FunctionArgumentClause::IgnoreOrRespectNulls(
                            NullTreatment::IgnoreNulls,
                        ));
                }
            }
            agg.filter = f.filter.clone();
            agg.over = f.over.clone();
            let mut result_args = vec![Expr::Function(agg)];
            if name == "JSON_OBJECTAGG" {
                result_args.push(boolean(keep_nulls(true)));
            }
            Some(Expr::Function(function(result, result_args)))
        }
        _ => None,
    }
}
