//! Flink's SQL client "tableau" view of a batch result: every row is collected, then printed
//! at the end of input as a table whose columns are as wide as their widest value (at most
//! [`MAX_COLUMN_WIDTH`] characters, longer values cut with `...`, as Flink's
//! `sql-client.display.max-column-width`), values and names right-aligned, NULL as `<NULL>`,
//! followed by `N rows in set` (`Empty set` for none):
//!
//! ```text
//! +-------+-----+
//! |  name | cnt |
//! +-------+-----+
//! | Alice |   1 |
//! |   Bob |   2 |
//! +-------+-----+
//! 2 rows in set
//! ```
//!
//! Rows are printed in the order they arrive: the planner runs this sink at parallelism 1
//! behind the query's root, so a query with ORDER BY prints in its order.

use super::Target;
use crate::format::{column_texts, Style};
use arrow::array::{Array, RecordBatch};
use strom_plan::TableSpec;
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SinkWriter};

/// Flink's default `sql-client.display.max-column-width`.
pub const MAX_COLUMN_WIDTH: usize = 30;

/// Collects a result and prints it as a table at the end.
pub struct TableauWriter {
    names: Vec<String>,
    rows: Vec<Vec<String>>,
    target: Target,
    bytes: u64,
}

impl TableauWriter {
    pub(super) fn new(table: &TableSpec, target: Target) -> Self {
        Self {
            names: table.schema.names(),
            rows: Vec::new(),
            target,
            bytes: 0,
        }
    }
}

/// `s` cut to `MAX_COLUMN_WIDTH` characters (the last three `...`).
fn clip(s: String) -> String {
    if s.chars().count() <= MAX_COLUMN_WIDTH {
        return s;
    }
    let mut cut: String = s.chars().take(MAX_COLUMN_WIDTH - 3).collect();
    cut.push_str("...");
    cut
}

/// The table of `names` and `rows`, and its row count line.
pub fn render(names: &[String], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "Empty set\n".to_string();
    }
    let names: Vec<String> = names.iter().map(|n| clip(n.clone())).collect();
    let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
    for row in rows {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let border: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let line = |cells: &[String]| -> String {
        let mut out: String = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("| {:>w$} ", c, w = *w))
            .collect();
        out.push_str("|\n");
        out
    };
    let mut out = String::new();
    out.push_str(&border);
    out.push_str(&line(&names));
    out.push_str(&border);
    for row in rows {
        out.push_str(&line(row));
    }
    out.push_str(&border);
    let n = rows.len();
    out.push_str(&format!(
        "{n} row{} in set\n",
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// Appends the table cells of `batch`'s rows to `rows` (NULL as `<NULL>`, values clipped).
pub fn push_cells(batch: &RecordBatch, rows: &mut Vec<Vec<String>>) -> Result<(), ConnectorError> {
    let cols = column_texts(batch)?;
    let mut buf = Vec::new();
    for row in 0..batch.num_rows() {
        let cells = batch
            .columns()
            .iter()
            .zip(&cols)
            .map(|(a, c)| {
                if a.is_null(row) {
                    return "<NULL>".to_string();
                }
                buf.clear();
                c.write(row, &mut buf, Style::Print);
                clip(String::from_utf8_lossy(&buf).into_owned())
            })
            .collect();
        rows.push(cells);
    }
    Ok(())
}

impl SinkWriter for TableauWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        push_cells(batch, &mut self.rows)
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        let text = render(&self.names, &self.rows);
        self.rows = Vec::new();
        self.target.write_all(text.as_bytes())?;
        self.bytes += text.len() as u64;
        self.target.flush()
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            skipped_rows: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn renders_flinks_tableau() {
        let text = render(
            &s(&["name", "cnt"]),
            &[s(&["Alice", "1"]), s(&["Bob", "2"]), s(&["<NULL>", "10"])],
        );
        assert_eq!(
            text,
            "+--------+-----+\n\
             |   name | cnt |\n\
             +--------+-----+\n\
             |  Alice |   1 |\n\
             |    Bob |   2 |\n\
             | <NULL> |  10 |\n\
             +--------+-----+\n\
             3 rows in set\n"
        );
        assert_eq!(render(&s(&["a"]), &[]), "Empty set\n");
        assert!(render(&s(&["a"]), &[s(&["x"])]).ends_with("\n1 row in set\n"));
        let long = clip("x".repeat(40));
        assert_eq!(long.chars().count(), MAX_COLUMN_WIDTH);
        assert!(long.ends_with("..."));
    }
}
