//! Flink's `STATE_TTL` query hint: `SELECT /*+ STATE_TTL('o' = '1d', 'c' = '12h') */ ...`
//! gives the regular join of that query block a state time-to-live per input, or its
//! non-windowed aggregate one for its input, by the name the input goes by in the block's FROM
//! clause (its alias, else its table or view name). It wins over `table.exec.state.ttl`.
//!
//! This AST pass reads the hints of every query block and checks their names against the
//! block's FROM clause, as Flink does; the planner applies them by name to the joins and
//! aggregates whose input goes by it. Other hints (Flink's batch join strategy hints
//! `BROADCAST`, `SHUFFLE_HASH`, ...) are ignored with a warning.

use crate::dialect::{normalize_ident, FlinkDialect};
use crate::error::SqlError;
use sqlparser::ast::{Query, Select, SetExpr, Statement, TableFactor, Visit, Visitor};
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// The state time-to-live the hints give, by input name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StateTtlHints {
    /// A join's input (its block has a join).
    pub join: BTreeMap<String, u64>,
    /// An aggregate's input (its block has no join).
    pub aggregate: BTreeMap<String, u64>,
}

impl StateTtlHints {
    fn insert(&mut self, join: bool, name: String, ms: u64) -> Result<(), SqlError> {
        let map = if join {
            &mut self.join
        } else {
            &mut self.aggregate
        };
        match map.insert(name.clone(), ms) {
            Some(old) if old != ms => Err(SqlError::new(format!(
                "two STATE_TTL hints give '{name}' different values ({old} ms and {ms} ms); Strom applies a STATE_TTL hint by input name in the whole statement, so give the inputs distinct aliases"
            ))),
            _ => Ok(()),
        }
    }
}

#[derive(Default)]
struct Finder {
    hints: StateTtlHints,
    error: Option<SqlError>,
}

impl Visitor for Finder {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let mut result = Ok(());
        each_select(&q.body, &mut |s| {
            if result.is_ok() {
                result = self.select(s);
            }
        });
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

/// Calls `f` on each SELECT of a query body (the operands of UNION, INTERSECT, ...).
fn each_select(body: &SetExpr, f: &mut dyn FnMut(&Select)) {
    match body {
        SetExpr::Select(s) => f(s),
        SetExpr::SetOperation { left, right, .. } => {
            each_select(left, f);
            each_select(right, f);
        }
        _ => {}
    }
}

/// The name a FROM item goes by in its block.
fn factor_name(tf: &TableFactor) -> Option<String> {
    match tf {
        TableFactor::Table { name, alias, .. } => match alias {
            Some(a) => Some(normalize_ident(&a.name)),
            None => name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(normalize_ident),
        },
        TableFactor::Derived { alias, .. } | TableFactor::Function { alias, .. } => {
            alias.as_ref().map(|a| normalize_ident(&a.name))
        }
        _ => None,
    }
}

impl Finder {
    fn select(&mut self, s: &Select) -> Result<(), SqlError> {
        if s.optimizer_hints.is_empty() {
            return Ok(());
        }
        let mut names = Vec::new();
        let mut joined = s.from.len() > 1;
        for t in &s.from {
            names.extend(factor_name(&t.relation));
            for j in &t.joins {
                joined = true;
                names.extend(factor_name(&j.relation));
            }
        }
        for hint in &s.optimizer_hints {
            for (name, args) in parse_hints(&hint.text)? {
                if !name.eq_ignore_ascii_case("STATE_TTL") {
                    tracing::warn!("query hint {name} is ignored: Strom knows STATE_TTL");
                    continue;
                }
                if args.is_empty() {
                    return Err(SqlError::new(
                        "STATE_TTL needs at least one option: STATE_TTL('input' = 'duration', ...)",
                    ));
                }
                for (key, value) in args {
                    let key = key.to_ascii_lowercase();
                    if !names.contains(&key) {
                        return Err(SqlError::new(format!(
                            "The options of following hints cannot match the name of input tables or views: `{key}` in `STATE_TTL` (the block's inputs: {})",
                            names.join(", ")
                        )));
                    }
                    let ms = strom_common::config::parse_duration(&value)
                        .ok_or_else(|| {
                            SqlError::new(format!(
                                "STATE_TTL('{key}' = '{value}'): not a duration (write e.g. '1d', '12 h', '30 min', '100 ms')"
                            ))
                        })?
                        .as_millis() as u64;
                    self.hints.insert(joined, key, ms)?;
                }
            }
        }
        Ok(())
    }
}

/// A hint's name and its options.
type Hint = (String, Vec<(String, String)>);

/// The hints of a hint comment's text: `NAME(k = v, ...) NAME2(...)`, each with its key/value
/// options (quoted or bare).
fn parse_hints(text: &str) -> Result<Vec<Hint>, SqlError> {
    let bad = |why: &str| SqlError::new(format!("query hint '/*+{text}*/': {why}"));
    let tokens = Tokenizer::new(&FlinkDialect, text)
        .tokenize()
        .map_err(|e| bad(&e.to_string()))?;
    let mut it = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .peekable();
    let word = |t: Option<Token>| -> Option<String> {
        match t? {
            Token::Word(w) => Some(w.value),
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Some(s),
            Token::Number(n, _) => Some(n),
            _ => None,
        }
    };
    let mut hints = Vec::new();
    while let Some(t) = it.next() {
        if t == Token::Comma {
            continue;
        }
        let name = word(Some(t)).ok_or_else(|| bad("a hint name expected"))?;
        let mut args = Vec::new();
        if it.peek() == Some(&Token::LParen) {
            it.next();
            loop {
                match it.peek() {
                    Some(Token::RParen) => {
                        it.next();
                        break;
                    }
                    Some(Token::Comma) => {
                        it.next();
                    }
                    None => return Err(bad("')' expected")),
                    _ => {
                        let key = word(it.next()).ok_or_else(|| bad("an option name expected"))?;
                        if it.peek() == Some(&Token::Eq) {
                            it.next();
                            let value = word(it.next())
                                .ok_or_else(|| bad("an option value expected after '='"))?;
                            args.push((key, value));
                        } else {
                            args.push((key, String::new()));
                        }
                    }
                }
            }
        }
        hints.push((name, args));
    }
    Ok(hints)
}

/// The `STATE_TTL` hints of `stmt`.
pub fn state_ttl_hints(stmt: &Statement) -> Result<StateTtlHints, SqlError> {
    let mut f = Finder::default();
    let _ = stmt.visit(&mut f);
    match f.error {
        Some(e) => Err(e),
        None => Ok(f.hints),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::parser::Parser;

    fn hints(sql: &str) -> Result<StateTtlHints, SqlError> {
        let stmt = Parser::parse_sql(&FlinkDialect, sql).unwrap().remove(0);
        state_ttl_hints(&stmt)
    }

    #[test]
    fn join_and_aggregate_hints_by_input_name() {
        let h = hints(
            "SELECT /*+ STATE_TTL('o' = '1d', 'Customers' = '12 h') */ * FROM orders o LEFT JOIN customers ON o.c = customers.id",
        )
        .unwrap();
        assert_eq!(h.join.get("o"), Some(&86_400_000));
        assert_eq!(h.join.get("customers"), Some(&43_200_000));
        let h = hints(
            "INSERT INTO s SELECT k, n FROM (SELECT /*+ STATE_TTL('t' = '100ms') */ k, COUNT(*) AS n FROM t GROUP BY k)",
        )
        .unwrap();
        assert_eq!(h.aggregate.get("t"), Some(&100));
        assert!(h.join.is_empty());
    }

    #[test]
    fn refuses_unknown_names_bad_durations_and_ignores_other_hints() {
        let e =
            hints("SELECT /*+ STATE_TTL('x' = '1d') */ * FROM a JOIN b ON a.k = b.k").unwrap_err();
        assert!(e.to_string().contains("`x` in `STATE_TTL`"), "{e}");
        let e = hints("SELECT /*+ STATE_TTL('a' = 'soon') */ * FROM a JOIN b ON a.k = b.k")
            .unwrap_err();
        assert!(e.to_string().contains("not a duration"), "{e}");
        let h = hints("SELECT /*+ BROADCAST(b) */ * FROM a JOIN b ON a.k = b.k").unwrap();
        assert_eq!(h, StateTtlHints::default());
    }
}
