//! Flink's value constructor of a map, `MAP[k1, v1, k2, v2, ...]`, parsed by the dialect into
//! DataFusion's `map(make_array(k1, k2, ...), make_array(v1, v2, ...))`. (`ARRAY[...]` and
//! `ROW(...)` are the SQL standard's and DataFusion's own.)

use crate::calls::function;
use sqlparser::ast::Expr;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// `MAP[...]` at the parser's position: the call it stands for (the tokens consumed), or
/// `None` (nothing consumed) for anything else.
pub fn parse_map_constructor(parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
    let [first, second] = parser.peek_tokens();
    let is_map = matches!(&first, Token::Word(w) if w.value.eq_ignore_ascii_case("MAP"));
    if !(is_map && second == Token::LBracket) {
        return None;
    }
    parser.next_token();
    parser.next_token();
    Some(map_constructor(parser))
}

fn map_constructor(parser: &mut Parser) -> Result<Expr, ParserError> {
    let at = parser.peek_token();
    let items = parser.parse_comma_separated(Parser::parse_expr)?;
    parser.expect_token(&Token::RBracket)?;
    if items.len() % 2 != 0 {
        return Err(ParserError::ParserError(format!(
            "MAP[...] takes keys and values in pairs (k1, v1, k2, v2, ...), got {} expressions{}",
            items.len(),
            at.span.start
        )));
    }
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    for (i, e) in items.into_iter().enumerate() {
        if i % 2 == 0 {
            keys.push(e);
        } else {
            values.push(e);
        }
    }
    Ok(Expr::Function(function(
        "map",
        vec![
            Expr::Function(function("make_array", keys)),
            Expr::Function(function("make_array", values)),
        ],
    )))
}

#[cfg(test)]
mod tests {
    use crate::dialect::FlinkDialect;
    use sqlparser::parser::Parser;

    fn parse(sql: &str) -> Result<String, String> {
        Parser::new(&FlinkDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .map(|e| e.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn map_constructors_become_map_calls() {
        assert_eq!(
            parse("MAP['a', 1, 'b', x + 1]"),
            Ok("map(make_array('a', 'b'), make_array(1, x + 1))".into())
        );
        // access to a map column's value is not a constructor
        assert_eq!(parse("m['k']"), Ok("m['k']".into()));
        let e = parse("MAP['a', 1, 'b']").expect_err("odd");
        assert!(e.contains("in pairs"), "{e}");
    }
}
