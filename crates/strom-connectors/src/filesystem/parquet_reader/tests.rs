//! The Parquet source and sink: splits at every parallelism, projection and types, filter
//! pushdown, positions, and a round trip through the sink. The expected rows are the ones the
//! test wrote, never what the reader returned before.

use super::super::tests::{table, TempDir};
use super::super::{FileSystemConnector, FsOptions};
use super::*;
use arrow::array::AsArray;
use arrow::array::{Date32Array, Decimal128Array, Int64Array, StringViewArray};
use arrow::datatypes::Int64Type;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::Column as ColumnExpr;
use datafusion::physical_expr::expressions::{binary, lit};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use proptest::prelude::*;
use strom_plan::SqlType;
use strom_runtime::ConnectorFactory;

/// Writes rows `ids` as a Parquet file with row groups of `group` rows: `id` INT64, `name`
/// (a string view, as tpchgen-cli writes them), `price` DECIMAL(15, 2) = id * 1.5, `day` DATE.
fn write_file(path: &std::path::Path, ids: std::ops::Range<i64>, group: usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8View, false),
        Field::new("price", DataType::Decimal128(15, 2), false),
        Field::new("day", DataType::Date32, false),
    ]));
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let file = File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).unwrap();
    let ids: Vec<i64> = ids.collect();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringViewArray::from_iter_values(
                ids.iter().map(|i| format!("n{i}")),
            )),
            Arc::new(
                Decimal128Array::from(ids.iter().map(|i| i128::from(*i) * 150).collect::<Vec<_>>())
                    .with_precision_and_scale(15, 2)
                    .unwrap(),
            ),
            Arc::new(Date32Array::from(
                ids.iter().map(|i| 19000 + *i as i32).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Two files, 600 + 400 rows (ids 0..1000), row groups of `group` rows.
fn input(dir: &TempDir, group: usize) -> TableSpec {
    write_file(&dir.path().join("a.parquet"), 0..600, group);
    write_file(&dir.path().join("b.parquet"), 600..1000, group);
    table(
        &[
            ("id", SqlType::BigInt),
            ("NAME", SqlType::String),
            ("price", SqlType::Decimal(15, 2)),
            ("extra", SqlType::Int),
        ],
        dir.path(),
        &[("format", "parquet")],
    )
}

fn reader(
    t: &TableSpec,
    projection: &[usize],
    filters: &[Arc<dyn PhysicalExpr>],
    k: u32,
    p: u32,
    batch: usize,
) -> Box<dyn SourceReader> {
    FileSystemConnector
        .create_filtered_reader(
            t,
            projection,
            filters,
            SubtaskInfo {
                index: k,
                parallelism: p,
            },
            batch,
        )
        .unwrap()
}

/// The `id` column (output column `col`) of every batch `r` gives.
fn ids(r: &mut dyn SourceReader, col: usize) -> Vec<i64> {
    let mut out = Vec::new();
    while let Some(b) = r.next_batch().unwrap() {
        out.extend(b.column(col).as_primitive::<Int64Type>().values().iter());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Every row is read exactly once for any parallelism and row group size.
    #[test]
    fn every_row_once_at_any_parallelism(p in 1u32..7, group in prop::sample::select(vec![7usize, 100, 333, 1000]), batch in 1usize..400) {
        let dir = TempDir::new("pq-split");
        let t = input(&dir, group);
        let mut all = Vec::new();
        for k in 0..p {
            all.extend(ids(reader(&t, &[0], &[], k, p, batch).as_mut(), 0));
        }
        all.sort_unstable();
        prop_assert_eq!(all, (0..1000).collect::<Vec<i64>>());
    }
}

#[test]
fn projection_order_types_and_missing_columns() {
    let dir = TempDir::new("pq-proj");
    let t = input(&dir, 100);
    let mut r = reader(&t, &[3, 2, 1, 0], &[], 0, 1, 1000);
    let b = r.next_batch().unwrap().unwrap();
    assert_eq!(b.schema().field(0).name(), "extra");
    assert_eq!(b.column(0).null_count(), b.num_rows());
    assert_eq!(b.column(0).data_type(), &DataType::Int32);
    assert_eq!(b.column(2).data_type(), &DataType::Utf8, "cast to STRING");
    let row = 5;
    let id = b.column(3).as_primitive::<Int64Type>().value(row);
    assert_eq!(b.column(2).as_string::<i32>().value(row), format!("n{id}"));
    let price = b
        .column(1)
        .as_primitive::<arrow::datatypes::Decimal128Type>()
        .value(row);
    assert_eq!(price, i128::from(id) * 150);
}

fn col(t: &TableSpec, name: &str) -> Arc<dyn PhysicalExpr> {
    let schema = t.schema.to_arrow();
    let i = schema.index_of(name).unwrap();
    Arc::new(ColumnExpr::new(name, i))
}

#[test]
fn filters_skip_row_groups_but_never_a_passing_row() {
    let dir = TempDir::new("pq-filter");
    let t = input(&dir, 100);
    let schema = t.schema.to_arrow();
    // id >= 950 AND price < 1470.00 (ids 950..979), over a column not projected
    let f1 = binary(col(&t, "id"), Operator::GtEq, lit(950i64), &schema).unwrap();
    let price = lit(ScalarValue::Decimal128(Some(147_000), 15, 2));
    let f2 = binary(col(&t, "price"), Operator::Lt, price, &schema).unwrap();
    for p in [1, 2, 3] {
        let mut got = Vec::new();
        for k in 0..p {
            let mut r = reader(&t, &[1, 0], &[f1.clone(), f2.clone()], k, p, 64);
            got.extend(ids(r.as_mut(), 1));
        }
        got.sort_unstable();
        // the one row group that can hold ids 950..979, whole: the plan filters its rows
        assert_eq!(got, (900..1000).collect::<Vec<i64>>(), "p={p}");
    }
    // row groups: only the last of b.parquet can pass `id >= 950`
    let files = super::super::split::list_input(dir.path()).unwrap();
    let opened = open_files(&files).unwrap();
    let keep: Vec<Vec<bool>> = opened
        .iter()
        .map(|f| prune(&f.meta, std::slice::from_ref(&f1), &schema))
        .collect();
    assert_eq!(keep[0], vec![false; 6]);
    assert_eq!(keep[1], vec![false, false, false, true]);
}

#[test]
fn positions_resume_at_another_parallelism() {
    let dir = TempDir::new("pq-pos");
    let t = input(&dir, 100);
    let mut seen = Vec::new();
    let mut positions = Vec::new();
    for k in 0..2 {
        let mut r = reader(&t, &[0], &[], k, 2, 70);
        // a few batches, then the checkpoint
        for _ in 0..(3 + k) {
            if let Some(b) = r.next_batch().unwrap() {
                seen.extend(b.column(0).as_primitive::<Int64Type>().values().iter());
            }
        }
        positions.push(r.snapshot_position().unwrap().unwrap());
    }
    for k in 0..3 {
        let mut r = FileSystemConnector
            .restore_reader(
                &t,
                &[0],
                SubtaskInfo {
                    index: k,
                    parallelism: 3,
                },
                50,
                &positions,
            )
            .unwrap();
        seen.extend(ids(r.as_mut(), 0));
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..1000).collect::<Vec<i64>>());
}

#[test]
fn a_file_that_is_not_parquet_is_a_clear_error() {
    let dir = TempDir::new("pq-bad");
    std::fs::write(dir.path().join("x.parquet"), "id,name\n1,a\n").unwrap();
    let t = table(
        &[("id", SqlType::BigInt)],
        dir.path(),
        &[("format", "parquet")],
    );
    let e = FileSystemConnector
        .validate(&t, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.parquet") && e.contains("Parquet"), "{e}");
}

#[test]
fn a_value_that_does_not_fit_the_declared_type_names_the_column() {
    let dir = TempDir::new("pq-type");
    write_file(&dir.path().join("a.parquet"), 0..10, 5);
    let t = table(
        &[("name", SqlType::Int)],
        dir.path(),
        &[("format", "parquet")],
    );
    let e = reader(&t, &[0], &[], 0, 1, 100)
        .next_batch()
        .unwrap_err()
        .to_string();
    assert!(e.contains("'name'") && e.contains("a.parquet"), "{e}");
}

#[test]
fn the_sink_writes_parquet_the_source_reads_back() {
    let src = TempDir::new("pq-src");
    let t = input(&src, 100);
    let out = TempDir::new("pq-out");
    for compression in ["SNAPPY", "zstd", "GZIP(6)", "uncompressed", "LZ4"] {
        let sink = table(
            &[("id", SqlType::BigInt), ("label", SqlType::String)],
            out.path(),
            &[("format", "parquet"), ("parquet.compression", compression)],
        );
        FsOptions::parse(&sink).unwrap();
        for (k, exactly_once) in [(0u32, false), (1, true)] {
            let subtask = SubtaskInfo {
                index: k,
                parallelism: 2,
            };
            let mut w = if exactly_once {
                FileSystemConnector
                    .create_exactly_once_writer(&sink, subtask)
                    .unwrap()
            } else {
                FileSystemConnector.create_writer(&sink, subtask).unwrap()
            };
            let mut r = reader(&t, &[0, 1], &[], k, 2, 128);
            while let Some(b) = r.next_batch().unwrap() {
                w.write(&b).unwrap();
            }
            w.finish().unwrap();
            if exactly_once {
                w.prepare_commit(u64::MAX).unwrap();
                w.commit(u64::MAX).unwrap();
            }
        }
        let mut back = Vec::new();
        let mut r = reader(&sink, &[1, 0], &[], 0, 1, 1000);
        while let Some(b) = r.next_batch().unwrap() {
            for i in 0..b.num_rows() {
                let id = b.column(1).as_primitive::<Int64Type>().value(i);
                assert_eq!(b.column(0).as_string::<i32>().value(i), format!("n{id}"));
                back.push(id);
            }
        }
        back.sort_unstable();
        assert_eq!(back, (0..1000).collect::<Vec<i64>>(), "{compression}");
        for e in std::fs::read_dir(out.path()).unwrap().flatten() {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let bad = table(
        &[("id", SqlType::BigInt)],
        out.path(),
        &[("format", "parquet"), ("parquet.compression", "snappy2")],
    );
    let e = FsOptions::parse(&bad).unwrap_err().to_string();
    assert!(e.contains("'parquet.compression' = 'snappy2'"), "{e}");
}

/// The footers' figures against what `input` wrote: ids 0..1000, names "n0".."n999", prices
/// id * 1.50, and `extra`, in no file, unknown.
#[test]
fn statistics_from_the_footers() {
    use datafusion::common::stats::Precision;
    let dir = TempDir::new("pq-stats");
    let t = input(&dir, 128);
    let s = FileSystemConnector
        .statistics(&t)
        .expect("Parquet tables have statistics");
    assert_eq!(s.num_rows, Precision::Inexact(1000));
    let [id, name, price, extra] = &s.column_statistics[..] else {
        panic!("one entry per table column: {s:?}")
    };
    assert_eq!(
        id.min_value,
        Precision::Inexact(ScalarValue::Int64(Some(0)))
    );
    assert_eq!(
        id.max_value,
        Precision::Inexact(ScalarValue::Int64(Some(999)))
    );
    assert_eq!(id.null_count, Precision::Inexact(0));
    assert_eq!(id.byte_size, Precision::Inexact(8 * 1000));
    // strings compare as strings: "n999" is the largest, typed as the table's STRING
    assert_eq!(
        name.min_value,
        Precision::Inexact(ScalarValue::Utf8(Some("n0".into())))
    );
    assert_eq!(
        name.max_value,
        Precision::Inexact(ScalarValue::Utf8(Some("n999".into())))
    );
    assert!(matches!(name.byte_size, Precision::Inexact(b) if b > 1000));
    assert_eq!(
        price.max_value,
        Precision::Inexact(ScalarValue::Decimal128(Some(999 * 150), 15, 2))
    );
    assert_eq!(extra.min_value, Precision::Absent);
    assert_eq!(extra.byte_size, Precision::Absent);
    assert_eq!(s.total_byte_size, Precision::Absent, "a column is unknown");
    // CSV and JSON would have to be read: no statistics
    let csv = table(&[("id", SqlType::BigInt)], dir.path(), &[("format", "csv")]);
    assert!(FileSystemConnector.statistics(&csv).is_none());
}
