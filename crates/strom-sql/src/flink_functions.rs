//! Flink built-in functions that are another spelling of something DataFusion plans, rewritten in
//! the parsed statement (before DataFusion sees it), so both modes and views get them:
//!
//! - `IF(condition, a, b)` is `CASE WHEN condition THEN a ELSE b END` (lazy: the branch not
//!   taken is not evaluated, and a NULL condition takes `b`, as in Flink);
//! - `YEAR(t)`, `QUARTER(t)`, `MONTH(t)`, `WEEK(t)`, `DAYOFYEAR(t)`, `DAYOFMONTH(t)`,
//!   `DAYOFWEEK(t)` (1 = Sunday), `HOUR(t)`, `MINUTE(t)`, `SECOND(t)` are `EXTRACT(... FROM t)`;
//! - `UNIX_TIMESTAMP()` is the current time in seconds since the epoch, `UNIX_TIMESTAMP(s)` and
//!   `UNIX_TIMESTAMP(s, format)` the seconds of `TO_TIMESTAMP(s[, format])` (Flink's default
//!   format `yyyy-MM-dd HH:mm:ss`; UTC, Strom's session time zone);
//! - a numeric literal with an exponent (`1e10`) is a DOUBLE, as in Flink;
//! - the JSON functions' syntax (see [`crate::json_syntax`]).
//!
//! Functions that need code of their own (`SPLIT_INDEX`, `REGEXP_EXTRACT`, ...) are UDFs in
//! `strom_plan::functions`.

use crate::calls::function;
use sqlparser::ast::{
    CaseWhen, CastKind, DataType, DateTimeField, Expr, ExtractSyntax, Function, FunctionArg,
    FunctionArgExpr, FunctionArguments, ObjectName, TimezoneInfo, VisitMut,
};
use std::ops::ControlFlow;

/// Renames the calls of functions `CREATE FUNCTION` named (`names`, lower case) to their native
/// functions.
pub fn rename_functions<V: VisitMut>(
    node: &mut V,
    names: &std::collections::BTreeMap<String, &'static str>,
) {
    if names.is_empty() {
        return;
    }
    let _ = sqlparser::ast::visit_expressions_mut(node, |e| {
        if let Expr::Function(f) = e {
            let called = match &f.name.0[..] {
                [part] => part.as_ident().map(crate::dialect::normalize_ident),
                _ => None,
            };
            if let Some(native) = called.and_then(|n| names.get(&n)) {
                f.name = ObjectName::from(vec![sqlparser::ast::Ident::new(*native)]);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Rewrites the Flink spellings in `node` (a statement, a query; see the module doc).
pub fn rewrite<V: VisitMut>(node: &mut V) {
    let _ = sqlparser::ast::visit_expressions_mut(node, |e| {
        if let Some(new) = rewritten(e) {
            *e = new;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The plain positional arguments of a call, or `None` for anything else (named arguments,
/// `DISTINCT`, a subquery, clauses such as `ORDER BY` inside the call).
fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return match &f.args {
            FunctionArguments::None => Some(Vec::new()),
            _ => None,
        };
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn function_name(name: &ObjectName) -> Option<String> {
    match &name.0[..] {
        [part] => part.as_ident().map(|i| i.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(function(name, args))
}

fn extract(field: DateTimeField, expr: Expr) -> Expr {
    Expr::Extract {
        field,
        syntax: ExtractSyntax::From,
        expr: Box::new(expr),
    }
}

/// `CAST(EXTRACT(EPOCH FROM t) AS BIGINT)`: whole seconds since the epoch.
fn epoch_seconds(t: Expr) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(call("floor", vec![extract(DateTimeField::Epoch, t)])),
        data_type: DataType::BigInt(None),
        array: false,
        format: None,
    }
}

/// `CAST(x AS STRING)` (or `VARCHAR`): Flink's text of `x` (see
/// `strom_plan::functions::cast_string`).
fn cast_to_string(e: &Expr) -> Option<Expr> {
    let Expr::Cast {
        kind: CastKind::Cast | CastKind::DoubleColon,
        expr,
        data_type,
        array: false,
        format: None,
    } = e
    else {
        return None;
    };
    match data_type {
        DataType::String(_)
        | DataType::Varchar(_)
        | DataType::Text
        | DataType::CharacterVarying(_)
        | DataType::Nvarchar(_) => Some(call(
            strom_plan::functions::cast_string::NAME,
            vec![(**expr).clone()],
        )),
        _ => None,
    }
}

/// `TIMESTAMP '2024-01-02 03:04:05.678'`: as in Flink, of the precision its fraction digits
/// give (TIMESTAMP(3) here, TIMESTAMP(0) without a fraction), rounded up to the precisions Arrow
/// has (0, 3, 6, 9); DataFusion would make every such literal TIMESTAMP(9).
fn timestamp_literal(e: &Expr) -> Option<Expr> {
    let Expr::TypedString(t) = e else { return None };
    if !matches!(t.data_type, DataType::Timestamp(None, TimezoneInfo::None)) {
        return None;
    }
    let text = t.value.clone().into_string()?;
    let digits = text.split_once('.').map_or(0, |(_, f)| {
        f.chars().take_while(char::is_ascii_digit).count()
    });
    let precision = [0u64, 3, 6, 9]
        .into_iter()
        .find(|p| *p as usize >= digits)
        .unwrap_or(9);
    Some(Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::Value(t.value.clone())),
        data_type: DataType::Timestamp(Some(precision), TimezoneInfo::None),
        array: false,
        format: None,
    })
}

/// A numeric literal with an exponent (`1e10`, `2.5E-3`) is a DOUBLE in Flink (DataFusion,
/// reading literals as decimals here, would make it a DECIMAL): `CAST('1e10' AS DOUBLE)`.
fn exponent_literal(e: &Expr) -> Option<Expr> {
    let Expr::Value(v) = e else { return None };
    let sqlparser::ast::Value::Number(text, _) = &v.value else {
        return None;
    };
    if !text.contains(['e', 'E']) {
        return None;
    }
    Some(Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::Value(
            sqlparser::ast::Value::SingleQuotedString(text.clone()).into(),
        )),
        data_type: DataType::Double(sqlparser::ast::ExactNumberInfo::None),
        array: false,
        format: None,
    })
}

fn rewritten(e: &Expr) -> Option<Expr> {
    if let Some(json) = crate::json_syntax::rewritten(e) {
        return Some(json);
    }
    if let Some(cast) = cast_to_string(e)
        .or_else(|| timestamp_literal(e))
        .or_else(|| exponent_literal(e))
    {
        return Some(cast);
    }
    let Expr::Function(f) = e else { return None };
    let name = function_name(&f.name)?;
    let mut args = plain_args(f)?;
    let part = |field| -> Option<Expr> {
        let [t] = <[Expr; 1]>::try_from(args.clone()).ok()?;
        Some(extract(field, t))
    };
    match name.as_str() {
        "IF" if args.len() == 3 => {
            let b = args.pop()?;
            let a = args.pop()?;
            let condition = args.pop()?;
            Some(Expr::Case {
                case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                operand: None,
                conditions: vec![CaseWhen {
                    condition,
                    result: a,
                }],
                else_result: Some(Box::new(b)),
            })
        }
        // Flink's VARIANCE is the sample variance (DataFusion spells it VAR_SAMP)
        "VARIANCE" if args.len() == 1 => Some(call("var_samp", args)),
        // Flink's LISTAGG is DataFusion's STRING_AGG, whose separator is not optional
        "LISTAGG" if args.len() == 1 => {
            args.push(Expr::Value(
                sqlparser::ast::Value::SingleQuotedString(",".into()).into(),
            ));
            Some(call("string_agg", args))
        }
        "LISTAGG" if args.len() == 2 => Some(call("string_agg", args)),
        "YEAR" => part(DateTimeField::Year),
        "QUARTER" => part(DateTimeField::Quarter),
        "MONTH" => part(DateTimeField::Month),
        "WEEK" => part(DateTimeField::Week(None)),
        "DAYOFYEAR" => part(DateTimeField::Doy),
        "DAYOFMONTH" => part(DateTimeField::Day),
        "DAYOFWEEK" => part(DateTimeField::Dow),
        "HOUR" => part(DateTimeField::Hour),
        "MINUTE" => part(DateTimeField::Minute),
        "SECOND" => part(DateTimeField::Second),
        "UNIX_TIMESTAMP" => match args.len() {
            0 => Some(epoch_seconds(call("now", vec![]))),
            1 | 2 => Some(epoch_seconds(call("to_timestamp", args))),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::FlinkDialect;
    use sqlparser::parser::Parser;

    fn rewrite_sql(sql: &str) -> String {
        let mut stmts = Parser::parse_sql(&FlinkDialect, sql).expect("parses");
        rewrite(&mut stmts[0]);
        stmts[0].to_string()
    }

    #[test]
    fn flink_spellings_become_what_datafusion_plans() {
        assert_eq!(
            rewrite_sql("SELECT IF(a > 1, IF(b, 'x', 'y'), NULL) FROM t"),
            "SELECT CASE WHEN a > 1 THEN CASE WHEN b THEN 'x' ELSE 'y' END ELSE NULL END FROM t"
        );
        assert_eq!(
            rewrite_sql("SELECT HOUR(ts), dayofweek(ts), DAYOFMONTH(d) FROM t"),
            "SELECT EXTRACT(HOUR FROM ts), EXTRACT(DOW FROM d2), EXTRACT(DAY FROM d) FROM t"
                .replace("d2", "ts")
        );
        assert_eq!(
            rewrite_sql("SELECT UNIX_TIMESTAMP(s, 'yyyy-MM-dd') FROM t"),
            "SELECT CAST(floor(EXTRACT(EPOCH FROM to_timestamp(s, 'yyyy-MM-dd'))) AS BIGINT) FROM t"
        );
        assert_eq!(
            rewrite_sql("SELECT 1e10, 2.5E-3, 1.5 FROM t"),
            "SELECT CAST('1e10' AS DOUBLE), CAST('2.5E-3' AS DOUBLE), 1.5 FROM t"
        );
        // other shapes are left alone (DataFusion then reports them)
        assert_eq!(
            rewrite_sql("SELECT IF(a, b) FROM t"),
            "SELECT IF(a, b) FROM t"
        );
        assert_eq!(
            rewrite_sql("SELECT x.hour(ts) FROM t"),
            "SELECT x.hour(ts) FROM t"
        );
    }

    #[test]
    fn flinks_json_syntax_becomes_calls() {
        assert_eq!(
            rewrite_sql("SELECT JSON_OBJECT(KEY 'a' VALUE x, 'b' VALUE JSON_ARRAY(1, y NULL ON NULL) ABSENT ON NULL) FROM t"),
            "SELECT json_object_texts(false, 'a', json_string(x), 'b', json_array_texts(true, json_string(1), json_string(y))) FROM t"
        );
        assert_eq!(
            rewrite_sql("SELECT JSON_VALUE(j, '$.a' RETURNING INT), JSON_QUERY(j, '$.b') FROM t"),
            "SELECT CAST(json_value(j, '$.a') AS INT), json_query(j, '$.b') FROM t"
        );
        assert_eq!(
            rewrite_sql("SELECT JSON_QUERY(j, 'lax $.b' WITH CONDITIONAL ARRAY WRAPPER), JSON_QUERY(j, '$' RETURNING STRING WITH WRAPPER EMPTY OBJECT ON EMPTY ERROR ON ERROR), JSON_QUERY(j, '$' WITHOUT WRAPPER EMPTY ARRAY ON ERROR) FROM t"),
            "SELECT json_query(j, 'lax $.b', 'CONDITIONAL', 'NULL', 'NULL'), flink_cast_string(json_query(j, '$', 'UNCONDITIONAL', 'EMPTY OBJECT', 'ERROR')), json_query(j, '$', 'WITHOUT', 'NULL', 'EMPTY ARRAY') FROM t"
        );
        assert_eq!(
            rewrite_sql("SELECT JSON_VALUE(j, '$.a' RETURNING DOUBLE DEFAULT 1.5 ON EMPTY ERROR ON ERROR) FROM t"),
            "SELECT CAST(json_value(j, '$.a', 'DEFAULT', flink_cast_string(1.5), 'ERROR', NULL) AS DOUBLE) FROM t"
        );
        assert_eq!(
            rewrite_sql(
                "SELECT JSON_EXISTS(j, 'strict $.a' TRUE ON ERROR), JSON_EXISTS(j, '$.a') FROM t"
            ),
            "SELECT json_exists(j, 'strict $.a', 'TRUE'), json_exists(j, '$.a') FROM t"
        );
        // the call's own spelling parses back (a view's text)
        assert_eq!(
            rewrite_sql("SELECT json_value(j, '$.a', 'NULL', NULL, 'DEFAULT', '0') FROM t"),
            "SELECT json_value(j, '$.a', 'NULL', NULL, 'DEFAULT', '0') FROM t"
        );
        assert_eq!(
            rewrite_sql("SELECT k, JSON_OBJECTAGG(KEY c VALUE n) FILTER (WHERE n > 1), JSON_ARRAYAGG(c NULL ON NULL) FROM t GROUP BY k"),
            "SELECT k, json_objectagg_result(array_agg(named_struct('k', c, 'v', json_string(n)) IGNORE NULLS) FILTER (WHERE n > 1), true), json_arrayagg_result(array_agg(json_string(c))) FROM t GROUP BY k"
        );
        assert_eq!(
            rewrite_sql("SELECT j IS JSON, j IS NOT JSON OBJECT, j IS NULL FROM t"),
            "SELECT is_json(j, 'VALUE'), NOT (is_json(j, 'OBJECT')), j IS NULL FROM t"
        );
    }
}
