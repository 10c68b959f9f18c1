//! SQL errors: what was wrong, where (line and column in the SQL text), and what to do.

use std::fmt;

/// A position in the SQL text (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

/// An error in a SQL script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub message: String,
    pub position: Option<Position>,
}

impl SqlError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            position: None,
        }
    }

    pub fn at(message: impl Into<String>, line: u64, column: u64) -> Self {
        let position = (line > 0).then_some(Position { line, column });
        Self {
            message: message.into(),
            position,
        }
    }

    pub fn at_span(message: impl Into<String>, span: sqlparser::tokenizer::Span) -> Self {
        Self::at(message, span.start.line, span.start.column)
    }

    /// Adds a position when the error has none yet.
    pub fn or_at(mut self, span: sqlparser::tokenizer::Span) -> Self {
        if self.position.is_none() && span.start.line > 0 {
            self.position = Some(Position {
                line: span.start.line,
                column: span.start.column,
            });
        }
        self
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(
                f,
                "{} (at line {}, column {})",
                self.message, p.line, p.column
            ),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for SqlError {}

impl From<strom_plan::expr_codec::ExprCodecError> for SqlError {
    fn from(e: strom_plan::expr_codec::ExprCodecError) -> Self {
        SqlError::new(e.to_string())
    }
}

impl From<sqlparser::parser::ParserError> for SqlError {
    fn from(e: sqlparser::parser::ParserError) -> Self {
        // sqlparser's message ends with "at Line: L, Column: C"; keep it as the position.
        let text = match e {
            sqlparser::parser::ParserError::TokenizerError(s)
            | sqlparser::parser::ParserError::ParserError(s) => s,
            sqlparser::parser::ParserError::RecursionLimitExceeded => {
                "the statement is nested too deeply".into()
            }
        };
        if let Some(idx) = text.rfind(" at Line: ") {
            let tail = &text[idx + " at Line: ".len()..];
            let mut parts = tail.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse().ok());
            let column = parts.next().and_then(|c| c.trim().parse().ok());
            if let (Some(line), Some(column)) = (line, column) {
                return SqlError::at(format!("SQL parse error: {}", &text[..idx]), line, column);
            }
        }
        SqlError::new(format!("SQL parse error: {text}"))
    }
}

/// Builds a [`SqlError`] with `format!` arguments.
#[macro_export]
macro_rules! sql_err {
    ($($arg:tt)*) => { $crate::error::SqlError::new(format!($($arg)*)) };
}
