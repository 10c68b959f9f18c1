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
