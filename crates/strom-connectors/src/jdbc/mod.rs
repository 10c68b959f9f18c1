//! The `jdbc` connector, for PostgreSQL (Flink's JDBC connector with its PostgreSQL dialect): a
//! bounded scan source, a lookup source (`JOIN t FOR SYSTEM_TIME AS OF s.proc_time`, rows
//! looked up by key, with Flink's `lookup.cache` options applied by the lookup join; with
//! `'lookup.cache' = 'FULL'` the join reads the table whole through the scan instead), and a sink
//! (appends, or upserts and deletes by the table's PRIMARY KEY: see [`sink`]).
//!
//! ```sql
//! CREATE TABLE users (id BIGINT, name STRING, PRIMARY KEY (id) NOT ENFORCED) WITH (
//!   'connector' = 'jdbc',
//!   'url' = 'jdbc:postgresql://localhost:5432/mydb',
//!   'table-name' = 'users',              -- or 'schema.table'
//!   'username' = 'strom', 'password' = '...',
//!   'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '10000',
//!   'lookup.partial-cache.expire-after-write' = '10 min',
//!   'lookup.max-retries' = '3'
//! );
//! ```
//!
//! Values travel as text: each column is read as its text form (`::text`, `to_char` for
//! timestamps) and parsed into the column's declared type with the same parsers as the CSV
//! format; keys are sent as text arrays cast to the key columns' SQL types, so that PostgreSQL
//! uses its indexes. The scan reads through a cursor, 8,192 rows at a time, in subtask 0 (the
//! others read nothing).

mod sink;

use crate::columns::{finish_batch, ColumnBuilder};
use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use postgres::{Client, NoTls, Row};
use std::sync::mpsc;
use strom_plan::{Column, SqlType, TableSpec};
use strom_runtime::connector::LookupClient;
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

/// The `jdbc` connector.
#[derive(Debug, Default)]
pub struct JdbcConnector;

const FETCH_ROWS: usize = 8192;

/// Where and how to connect, from the table's options.
#[derive(Debug, Clone)]
struct Target {
    config: postgres::Config,
    /// `'table-name'`, quoted part by part.
    table: String,
    max_retries: u32,
}

fn bad(table: &TableSpec, message: impl Into<String>) -> ConnectorError {
    ConnectorError::BadOption {
        table: table.name.clone(),
        message: message.into(),
    }
}

/// A SQL identifier, quoted.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Target {
    fn of(table: &TableSpec) -> Result<Self, ConnectorError> {
        let url = table.option("url").ok_or_else(|| {
            bad(
                table,
                "the jdbc connector needs 'url' ('jdbc:postgresql://host:port/database')",
            )
        })?;
        let rest = url.strip_prefix("jdbc:postgresql://").ok_or_else(|| {
            bad(
                table,
                format!("'url' = '{url}': Strom's jdbc connector speaks to PostgreSQL ('jdbc:postgresql://host:port/database')"),
            )
        })?;
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host_port, database) = address.split_once('/').unwrap_or((address, ""));
        let mut config = postgres::Config::new();
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad(table, format!("'url' = '{url}': '{p}' is not a port")))?,
            ),
            None => (host_port, 5432),
        };
        if host.is_empty() {
            return Err(bad(table, format!("'url' = '{url}' names no host")));
        }
        config.host(host).port(port);
        if !database.is_empty() {
            config.dbname(database);
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("user", u)) => {
                    config.user(u);
                }
                Some(("password", p)) => {
                    config.password(p);
                }
                _ => {}
            }
        }
        if let Some(u) = table.option("username") {
            config.user(u);
        }
        if let Some(p) = table.option("password") {
            config.password(p);
        }
        if config.get_user().is_none() {
            return Err(bad(table, "the jdbc connector needs 'username'"));
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        let name = table
            .option("table-name")
            .ok_or_else(|| bad(table, "the jdbc connector needs 'table-name'"))?;
        let max_retries = match table.option("lookup.max-retries") {
            None => 3,
            Some(v) => v.parse().map_err(|_| {
                bad(
                    table,
                    format!("'lookup.max-retries' = '{v}' is not a number"),
                )
            })?,
        };
        Ok(Self {
            config,
            table: name.split('.').map(quote).collect::<Vec<_>>().join("."),
            max_retries,
        })
    }

    fn connect(&self, table: &TableSpec) -> Result<Connection, ConnectorError> {
        Connection::open(self.config.clone(), table)
    }
}

/// What a connection's thread runs: a statement or two on the client, giving rows.
type Request = Box<dyn FnOnce(&mut Client) -> Result<Vec<Row>, postgres::Error> + Send>;
type Reply = mpsc::Sender<Result<Vec<Row>, postgres::Error>>;

/// A PostgreSQL connection on a thread of its own: the `postgres` client blocks on a runtime of
/// its own, which cannot run on a thread that already drives one (a batch stage's task). The
/// thread ends when the connection is dropped.
struct Connection {
    requests: mpsc::Sender<(Request, Reply)>,
    table: String,
}

impl Connection {
    fn open(config: postgres::Config, table: &TableSpec) -> Result<Self, ConnectorError> {
        let (requests, rx) = mpsc::channel::<(Request, Reply)>();
        let (ready_tx, ready) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("jdbc-{}", table.name))
            .spawn(move || {
                let mut client = match config.connect(NoTls) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!(
                            "cannot connect to PostgreSQL at {:?}:{:?}: {e}",
                            config.get_hosts(),
                            config.get_ports()
                        )));
                        return;
                    }
                };
                while let Ok((f, reply)) = rx.recv() {
                    let _ = reply.send(f(&mut client));
                }
            })
            .map_err(|e| ConnectorError::Io(format!("table '{}': {e}", table.name)))?;
        match ready.recv() {
            Ok(Ok(())) => Ok(Self {
                requests,
                table: table.name.clone(),
            }),
            Ok(Err(e)) => Err(ConnectorError::Io(format!("table '{}': {e}", table.name))),
            Err(_) => Err(ConnectorError::Io(format!(
                "table '{}': the connection thread ended",
                table.name
            ))),
        }
    }

    /// Runs `f` on the connection's client.
    fn run(
        &self,
        f: impl FnOnce(&mut Client) -> Result<Vec<Row>, postgres::Error> + Send + 'static,
    ) -> Result<Vec<Row>, ConnectorError> {
        let (tx, rx) = mpsc::channel();
        let gone =
            || ConnectorError::Io(format!("table '{}': the connection is closed", self.table));
        self.requests.send((Box::new(f), tx)).map_err(|_| gone())?;
        rx.recv()
            .map_err(|_| gone())?
            .map_err(|e| ConnectorError::Io(format!("table '{}': {e}", self.table)))
    }
}

/// The expression that reads column `c` (qualified by `of`, e.g. `t.`) as text, parseable as
/// its Flink type.
fn text_of(c: &Column, of: &str) -> String {
    let q = format!("{of}{}", quote(&c.name));
    match c.ty {
        SqlType::Boolean => format!("CASE WHEN {q} THEN 'true' WHEN NOT {q} THEN 'false' END"),
        SqlType::Timestamp(_) => format!("to_char({q}, 'YYYY-MM-DD HH24:MI:SS.US')"),
        _ => format!("{q}::text"),
    }
}

/// The PostgreSQL type a key of Flink type `ty` is compared as.
fn pg_type(ty: &SqlType) -> Result<&'static str, String> {
    Ok(match ty {
        SqlType::Boolean => "boolean",
        SqlType::TinyInt | SqlType::SmallInt => "smallint",
        SqlType::Int => "integer",
        SqlType::BigInt => "bigint",
        SqlType::Float => "real",
        SqlType::Double => "double precision",
        SqlType::Decimal(..) => "numeric",
        SqlType::String => "text",
        SqlType::Date => "date",
        SqlType::Timestamp(_) => "timestamp",
        other => return Err(format!("a {other} column cannot be a jdbc lookup key")),
    })
}

/// Checks that every column is of a type the connector reads.
fn check_types(table: &TableSpec) -> Result<(), ConnectorError> {
    for c in &table.schema.columns {
        if matches!(c.ty, SqlType::Row(_) | SqlType::Array(_) | SqlType::Map(..)) {
            return Err(bad(
                table,
                format!(
                    "column '{}' is {}: the jdbc connector reads flat columns",
                    c.name, c.ty
                ),
            ));
        }
    }
    Ok(())
}

/// Parses rows of text columns (the first `columns.len()` of each row) into a batch.
fn to_batch(
    table: &TableSpec,
    columns: &[Column],
    rows: &[Row],
) -> Result<RecordBatch, ConnectorError> {
    let mut builders: Vec<ColumnBuilder> = columns
        .iter()
        .map(|c| ColumnBuilder::new(c, rows.len()))
        .collect();
    for row in rows {
        for (i, b) in builders.iter_mut().enumerate() {
            let v: Option<&str> = row
                .try_get(i)
                .map_err(|e| ConnectorError::Parse(format!("table '{}': {e}", table.name)))?;
            let pushed = match v {
                None => b.push_null(),
                Some(s) => b.push_text(s.as_bytes()),
            };
            pushed.map_err(|e| {
                ConnectorError::Parse(format!(
                    "table '{}', column '{}': value {v:?}: {e:?}",
                    table.name, columns[i].name
                ))
            })?;
        }
    }
    let schema = strom_plan::RowSchema::new(columns.to_vec()).to_arrow();
    finish_batch(&schema, &mut builders, rows.len(), "jdbc")
}

fn projected(table: &TableSpec, projection: &[usize]) -> Vec<Column> {
    projection
        .iter()
        .map(|i| table.schema.columns[*i].clone())
        .collect()
}

impl ConnectorFactory for JdbcConnector {
    fn name(&self) -> &'static str {
        "jdbc"
    }

    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        check_types(table)?;
        if as_source {
            Target::of(table).map(|_| ())
        } else {
            sink::JdbcWriter::new(table).map(|_| ())
        }
    }

    /// With a PRIMARY KEY the sink upserts and deletes by it.
    fn supports_changelog(&self, table: &TableSpec) -> bool {
        !table.primary_key.is_empty()
    }

    fn create_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        _batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        crate::check_projection(table, projection)?;
        let target = Target::of(table)?;
        let columns = projected(table, projection);
        let client = if subtask.index == 0 {
            let connection = target.connect(table)?;
            let select: Vec<String> = columns.iter().map(|c| text_of(c, "")).collect();
            let select = if select.is_empty() {
                "1".to_string()
            } else {
                select.join(", ")
            };
            let sql = format!(
                "BEGIN READ ONLY; DECLARE strom_scan NO SCROLL CURSOR FOR SELECT {select} FROM {}",
                target.table
            );
            connection.run(move |c| c.batch_execute(&sql).map(|_| Vec::new()))?;
            Some(connection)
        } else {
            None
        };
        Ok(Box::new(JdbcReader {
            table: table.clone(),
            columns,
            client,
        }))
    }

    fn create_lookup(
        &self,
        table: &TableSpec,
        projection: &[usize],
        keys: &[usize],
    ) -> Result<Option<Box<dyn LookupClient>>, ConnectorError> {
        crate::check_projection(table, projection)?;
        let target = Target::of(table)?;
        let columns = projected(table, projection);
        let key_cols: Vec<&Column> = keys.iter().map(|k| &table.schema.columns[*k]).collect();
        let mut args = Vec::new();
        let mut on = Vec::new();
        for (i, c) in key_cols.iter().enumerate() {
            let ty = pg_type(&c.ty).map_err(|e| bad(table, e))?;
            args.push(format!("${}::text[]", i + 1));
            on.push(format!("t.{} = k.v{i}::{ty}", quote(&c.name)));
        }
        let names: Vec<String> = (0..key_cols.len()).map(|i| format!("v{i}")).collect();
        let mut select: Vec<String> = columns.iter().map(|c| text_of(c, "t.")).collect();
        select.push("k.i".into());
        let sql = format!(
            "SELECT {} FROM {} t JOIN unnest({}) WITH ORDINALITY AS k({}, i) ON {}",
            select.join(", "),
            target.table,
            args.join(", "),
            names.join(", "),
            on.join(" AND ")
        );
        Ok(Some(Box::new(JdbcLookup {
            table: table.clone(),
            target,
            columns,
            sql,
            client: None,
        })))
    }

    fn create_writer(
        &self,
        table: &TableSpec,
        _subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Ok(Box::new(sink::JdbcWriter::new(table)?))
    }
}

/// The scan: fetches the cursor's rows in subtask 0.
struct JdbcReader {
    table: TableSpec,
    columns: Vec<Column>,
    client: Option<Connection>,
}

impl SourceReader for JdbcReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        let Some(client) = &mut self.client else {
            return Ok(None);
        };
        let rows = client.run(|c| c.query(&format!("FETCH {FETCH_ROWS} FROM strom_scan"), &[]))?;
        if rows.is_empty() {
            let _ = client.run(|c| {
                c.batch_execute("CLOSE strom_scan; COMMIT")
                    .map(|_| Vec::new())
            });
            self.client = None;
            return Ok(None);
        }
        to_batch(&self.table, &self.columns, &rows).map(Some)
    }
}

/// Looks keys up with one query per batch of keys (the keys as text arrays, unnested).
struct JdbcLookup {
    table: TableSpec,
    target: Target,
    columns: Vec<Column>,
    sql: String,
    client: Option<Connection>,
}

impl JdbcLookup {
    fn query(&mut self, params: &[Vec<Option<String>>]) -> Result<Vec<Row>, ConnectorError> {
        if self.client.is_none() {
            self.client = Some(self.target.connect(&self.table)?);
        }
        let client = self.client.as_ref().expect("connected");
        let (sql, params) = (self.sql.clone(), params.to_vec());
        client.run(move |c| {
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                .collect();
            c.query(&sql, &refs)
        })
    }
}

impl LookupClient for JdbcLookup {
    fn lookup(&mut self, keys: &RecordBatch) -> Result<(RecordBatch, Vec<u32>), ConnectorError> {
        let mut params: Vec<Vec<Option<String>>> = Vec::with_capacity(keys.num_columns());
        for col in keys.columns() {
            let text: ArrayRef = cast(col, &DataType::Utf8)
                .map_err(|e| ConnectorError::Other(format!("a lookup key as text: {e}")))?;
            let text = text
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .ok_or_else(|| ConnectorError::Other("a lookup key as text".into()))?;
            params.push(
                (0..text.len())
                    .map(|i| text.is_valid(i).then(|| text.value(i).to_string()))
                    .collect(),
            );
        }
        // Flink's `lookup.max-retries`: reconnect and try again
        let mut attempt = 0;
        let rows = loop {
            match self.query(&params) {
                Ok(rows) => break rows,
                Err(e) if attempt < self.target.max_retries => {
                    attempt += 1;
                    tracing::warn!("{e}; retrying ({attempt} of {})", self.target.max_retries);
                    self.client = None;
                    std::thread::sleep(std::time::Duration::from_millis(100 * attempt as u64));
                }
                Err(e) => return Err(e),
            }
        };
        let n = self.columns.len();
        let mut positions = Vec::with_capacity(rows.len());
        for row in &rows {
            let i: i64 = row
                .try_get(n)
                .map_err(|e| ConnectorError::Parse(format!("table '{}': {e}", self.table.name)))?;
            positions.push((i - 1) as u32);
        }
        Ok((to_batch(&self.table, &self.columns, &rows)?, positions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn table(options: &[(&str, &str)]) -> TableSpec {
        TableSpec {
            name: "users".into(),
            schema: strom_plan::RowSchema::new(vec![Column {
                name: "id".into(),
                ty: SqlType::BigInt,
                nullable: true,
            }]),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([("connector".to_string(), "jdbc".to_string())])
                .collect::<BTreeMap<_, _>>(),
            watermark: None,
            primary_key: vec![],
            partition_keys: vec![],
        }
    }

    #[test]
    fn options_name_the_server_table_and_user() {
        let t = Target::of(&table(&[
            ("url", "jdbc:postgresql://127.0.0.1:5433/shop?user=a"),
            ("table-name", "public.Users"),
            ("password", "pw"),
        ]))
        .unwrap();
        assert_eq!(t.config.get_ports(), &[5433]);
        assert_eq!(t.config.get_dbname(), Some("shop"));
        assert_eq!(t.config.get_user(), Some("a"));
        assert_eq!(t.table, "\"public\".\"Users\"");
        for (opts, message) in [
            (vec![("table-name", "t"), ("username", "u")], "needs 'url'"),
            (
                vec![
                    ("url", "jdbc:mysql://h/d"),
                    ("table-name", "t"),
                    ("username", "u"),
                ],
                "speaks to PostgreSQL",
            ),
            (
                vec![
                    ("url", "jdbc:postgresql://h:x/d"),
                    ("table-name", "t"),
                    ("username", "u"),
                ],
                "not a port",
            ),
            (
                vec![("url", "jdbc:postgresql://h/d"), ("username", "u")],
                "needs 'table-name'",
            ),
            (
                vec![("url", "jdbc:postgresql://h/d"), ("table-name", "t")],
                "needs 'username'",
            ),
        ] {
            let e = JdbcConnector.validate(&table(&opts), true).unwrap_err();
            assert!(e.to_string().contains(message), "{e}");
        }
        let sink = table(&[
            ("url", "jdbc:postgresql://h/d"),
            ("table-name", "t"),
            ("username", "u"),
            ("sink.buffer-flush.max-rows", "many"),
        ]);
        let e = JdbcConnector.validate(&sink, false).unwrap_err();
        assert!(e.to_string().contains("is not a number"), "{e}");
    }
}
