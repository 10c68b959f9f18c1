use super::*;
use crate::table::TableSpec;
use crate::types::{Column, RowSchema, SqlType};
use datafusion::physical_expr::expressions::{col, lit, BinaryExpr};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::CrossJoinExec;
use datafusion::physical_plan::{displayable, ExecutionPlanProperties};

fn table() -> TableSpec {
    TableSpec {
        name: "t".into(),
        schema: RowSchema::new(vec![
            Column {
                name: "a".into(),
                ty: SqlType::BigInt,
                nullable: false,
            },
            Column {
                name: "b".into(),
                ty: SqlType::String,
                nullable: true,
            },
        ]),
        options: [("connector".to_string(), "filesystem".to_string())].into(),
        watermark: None,
        primary_key: vec![],
        partition_keys: vec![],
    }
}

#[test]
fn a_fragment_with_both_leaves_survives_the_trip() {
    let scan: Arc<dyn ExecutionPlan> = Arc::new(TableSourceExec::new(table(), vec![1, 0], 3));
    let predicate = Arc::new(BinaryExpr::new(
        col("a", &scan.schema()).unwrap(),
        datafusion::logical_expr::Operator::Gt,
        lit(5i64),
    ));
    let filter: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(predicate, scan).unwrap());
    let input: Arc<dyn ExecutionPlan> = Arc::new(StageInputExec::new(
        2,
        table().schema.to_arrow(),
        1,
        InputMode::Merged,
    ));
    let plan: Arc<dyn ExecutionPlan> = Arc::new(CrossJoinExec::new(input, filter));
    let text = encode_fragment(Arc::clone(&plan)).unwrap();
    let ctx = crate::functions::session_context().task_ctx();
    let back = decode_fragment(&text, &ctx).unwrap();
    assert_eq!(
        displayable(back.as_ref()).indent(false).to_string(),
        displayable(plan.as_ref()).indent(false).to_string()
    );
    assert_eq!(back.output_partitioning().partition_count(), 3);
    assert_eq!(back.schema(), plan.schema());
}

#[test]
fn garbage_is_a_clear_error() {
    let ctx = crate::functions::session_context().task_ctx();
    assert!(matches!(
        decode_fragment("not base64!", &ctx),
        Err(FragmentCodecError::Base64(_))
    ));
    assert!(matches!(
        decode_fragment("AAAA", &ctx),
        Err(FragmentCodecError::Decode(_))
    ));
}

/// A scan's statistics: the projected columns of the table's, a size in bytes only when every
/// projected column has a fixed width, and each partition an equal share of the rows.
#[test]
fn a_scan_projects_and_shares_the_table_statistics() {
    use datafusion::common::stats::Precision;
    use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
    use datafusion::physical_plan::statistics::StatisticsArgs;
    let whole = Statistics {
        num_rows: Precision::Exact(1001),
        total_byte_size: Precision::Exact(50_000),
        column_statistics: vec![
            ColumnStatistics {
                max_value: Precision::Exact(ScalarValue::Int64(Some(7))),
                ..ColumnStatistics::new_unknown()
            },
            ColumnStatistics {
                byte_size: Precision::Exact(42_000),
                ..ColumnStatistics::new_unknown()
            },
        ],
    };
    let stats = |projection: Vec<usize>, partition| {
        TableSourceExec::new(table(), projection, 2)
            .with_table_statistics(whole.clone())
            .statistics_from_inputs(&[], &StatisticsArgs::new().with_partition(partition))
            .unwrap()
    };
    let a = stats(vec![0], None);
    assert_eq!(a.num_rows, Precision::Inexact(1001));
    assert_eq!(a.total_byte_size, Precision::Inexact(8 * 1001));
    assert_eq!(
        a.column_statistics[0].max_value,
        Precision::Inexact(ScalarValue::Int64(Some(7)))
    );
    let ba = stats(vec![1, 0], None);
    assert_eq!(ba.total_byte_size, Precision::Absent, "a string column");
    assert_eq!(
        ba.column_statistics[0].byte_size,
        Precision::Inexact(42_000)
    );
    let half = stats(vec![1, 0], Some(1));
    assert_eq!(half.num_rows, Precision::Inexact(501));
    assert_eq!(
        half.column_statistics[0].byte_size,
        Precision::Inexact(21_000)
    );
    let unknown = TableSourceExec::new(table(), vec![0], 2)
        .statistics_from_inputs(&[], &StatisticsArgs::new())
        .unwrap();
    assert_eq!(unknown.num_rows, Precision::Absent);
}
