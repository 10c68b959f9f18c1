//! The rows of a `VALUES` clause (and the one row of a `SELECT` without `FROM`) inside a
//! JobGraph: the SQL planner makes them a table of the `values` connector whose `rows` option
//! holds them as an Arrow IPC stream in base64; the connector's readers decode them.

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use base64::Engine;

/// The connector's name.
pub const CONNECTOR: &str = "values";
/// The option holding the rows.
pub const ROWS_OPTION: &str = "rows";

/// Why rows could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    #[error("the rows of a VALUES table: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("the rows of a VALUES table are not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("the rows of a VALUES table hold {0} batches, expected one")]
    Batches(usize),
}

/// `batch` as the `rows` option's text.
pub fn encode(batch: &RecordBatch) -> Result<String, ValuesError> {
    let mut bytes = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut bytes, &batch.schema())?;
        w.write(batch)?;
        w.finish()?;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The rows of a `rows` option.
pub fn decode(text: &str) -> Result<RecordBatch, ValuesError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    let n = batches.len();
    let [batch] = <[RecordBatch; 1]>::try_from(batches).map_err(|_| ValuesError::Batches(n))?;
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn rows_survive_the_option_text() {
        let b = RecordBatch::try_from_iter(vec![
            ("a", Arc::new(Int64Array::from(vec![Some(1), None])) as _),
            ("b", Arc::new(StringArray::from(vec!["x", "y"])) as _),
        ])
        .unwrap();
        assert_eq!(decode(&encode(&b).unwrap()).unwrap(), b);
        assert!(decode("not base64!").is_err());
    }
}
