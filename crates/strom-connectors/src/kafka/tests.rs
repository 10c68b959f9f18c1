//! Unit tests without a broker: options, partition assignment, decoding and encoding.
//! The broker-backed tests are in `tests/kafka.rs`.

use super::decode::Decoder;
use super::options::*;
use super::source::parse_error_message;
use super::*;
use arrow::array::RecordBatch;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
    StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{Int32Type, Int64Type};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strom_plan::{RowSchema, SqlType};

fn table(columns: &[(&str, SqlType)], opts: &[(&str, &str)]) -> TableSpec {
    let mut options: BTreeMap<String, String> = [
        ("connector", "kafka"),
        ("topic", "bids"),
        ("properties.bootstrap.servers", "127.0.0.1:9092"),
        ("format", "json"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in opts {
        if v.is_empty() {
            options.remove(*k);
        } else {
            options.insert(k.to_string(), v.to_string());
        }
    }
    TableSpec {
        name: "t".into(),
        schema: RowSchema::nullable(columns),
        options,
        watermark: None,
        primary_key: vec![],
        partition_keys: vec![],
    }
}

fn bid_table(opts: &[(&str, &str)]) -> TableSpec {
    table(
        &[
            ("auction", SqlType::BigInt),
            ("price", SqlType::Decimal(10, 2)),
            ("bidder", SqlType::String),
            ("ts", SqlType::Timestamp(3)),
        ],
        opts,
    )
}

fn parse(opts: &[(&str, &str)]) -> Result<KafkaOptions, String> {
    KafkaOptions::parse(&bid_table(opts)).map_err(|e| e.to_string())
}

#[test]
fn defaults() {
    let o = parse(&[]).expect("valid");
    assert_eq!(o.topic, "bids");
    assert_eq!(o.servers, "127.0.0.1:9092");
    assert_eq!(o.group(), "strom-bids");
    assert_eq!(o.format, KafkaFormat::Json);
    assert_eq!(o.startup, StartupMode::GroupOffsets);
    assert_eq!(o.bounded, BoundedMode::Unbounded);
    assert_eq!(o.idle_timeout, None);
    assert_eq!(o.delivery, DeliveryGuarantee::AtLeastOnce);
    assert_eq!(o.delimiter, b',');
    assert!(!o.ignore_parse_errors());
    assert_eq!(
        o.properties.get("bootstrap.servers").map(String::as_str),
        Some("127.0.0.1:9092")
    );
    assert!(!KafkaConnector.is_bounded(&bid_table(&[])));
}

#[test]
fn all_options() {
    let o = parse(&[
        ("properties.group.id", "g1"),
        ("properties.fetch.wait.max.ms", "50"),
        ("format", ""),
        ("value.format", "CSV"),
        ("csv.field-delimiter", "\\t"),
        ("csv.ignore-parse-errors", "TRUE"),
        ("scan.startup.mode", "timestamp"),
        ("scan.startup.timestamp-millis", "1704067200000"),
        ("scan.bounded.mode", "latest-offset"),
        ("scan.watermark.idle-timeout", "500 ms"),
        ("sink.parallelism", "3"),
        ("sink.delivery-guarantee", "none"),
    ])
    .expect("valid");
    assert_eq!(o.group(), "g1");
    assert_eq!(
        o.properties.get("fetch.wait.max.ms").map(String::as_str),
        Some("50")
    );
    assert_eq!(o.format, KafkaFormat::Csv);
    assert_eq!(o.delimiter, b'\t');
    assert!(o.ignore_parse_errors());
    assert_eq!(o.startup, StartupMode::Timestamp(1_704_067_200_000));
    assert_eq!(o.bounded, BoundedMode::LatestOffset);
    assert_eq!(o.idle_timeout, Some(Duration::from_millis(500)));
    assert_eq!(o.delivery, DeliveryGuarantee::None);
    assert!(KafkaConnector.is_bounded(&bid_table(&[("scan.bounded.mode", "latest-offset")])));
    for (mode, want) in [
        ("earliest-offset", StartupMode::Earliest),
        ("latest-offset", StartupMode::Latest),
        ("group-offsets", StartupMode::GroupOffsets),
    ] {
        assert_eq!(
            parse(&[("scan.startup.mode", mode)])
                .expect("valid")
                .startup,
            want
        );
    }
    assert_eq!(
        parse(&[("scan.watermark.idle-timeout", "5 s")])
            .expect("valid")
            .idle_timeout,
        Some(Duration::from_secs(5))
    );
}

#[track_caller]
fn assert_err(opts: &[(&str, &str)], needles: &[&str]) {
    let e = parse(opts).expect_err("must be rejected");
    for n in needles {
        assert!(e.contains(n), "error {e:?} should contain {n:?}");
    }
}

#[test]
fn option_errors() {
    assert_err(&[("topic", "")], &["needs 'topic'"]);
    assert_err(
        &[("topic", "a;b")],
        &["'topic' = 'a;b'", "list of topics is not supported"],
    );
    assert_err(
        &[("properties.bootstrap.servers", "")],
        &["'properties.bootstrap.servers'"],
    );
    assert_err(
        &[("format", "")],
        &["needs a 'format'", "'json', 'csv', 'raw'"],
    );
    assert_err(&[("format", "avro")], &["'format' = 'avro'", "'raw'"]);
    assert_err(
        &[("value.format", "json")],
        &["either 'format' or 'value.format'"],
    );
    assert_err(
        &[("scan.startup.mod", "earliest-offset")],
        &[
            "unsupported option 'scan.startup.mod'",
            "'scan.startup.mode'",
            "'properties.*'",
        ],
    );
    assert_err(&[("path", "/tmp")], &["unsupported option 'path'"]);
    assert_err(
        &[("scan.startup.mode", "specific-offsets")],
        &[
            "'scan.startup.mode' = 'specific-offsets'",
            "'earliest-offset'",
        ],
    );
    assert_err(
        &[("scan.startup.mode", "timestamp")],
        &["needs 'scan.startup.timestamp-millis'"],
    );
    assert_err(
        &[
            ("scan.startup.mode", "timestamp"),
            ("scan.startup.timestamp-millis", "yesterday"),
        ],
        &["'scan.startup.timestamp-millis' = 'yesterday'"],
    );
    assert_err(
        &[("scan.startup.timestamp-millis", "5")],
        &["only used with 'scan.startup.mode' = 'timestamp'"],
    );
    assert_err(
        &[("scan.bounded.mode", "timestamp")],
        &["'scan.bounded.mode' = 'timestamp'", "'latest-offset'"],
    );
    assert_err(
        &[("scan.watermark.idle-timeout", "soon")],
        &["'scan.watermark.idle-timeout' = 'soon'", "'5 s'"],
    );
    assert_err(
        &[("sink.delivery-guarantee", "exactly-once")],
        &["needs 'sink.transactional-id-prefix'", "unique to this job"],
    );
    let o = parse(&[
        ("sink.delivery-guarantee", "exactly-once"),
        ("sink.transactional-id-prefix", " q5-job "),
    ])
    .expect("valid");
    assert_eq!(
        o.delivery,
        DeliveryGuarantee::ExactlyOnce {
            prefix: "q5-job".into()
        }
    );
    assert_err(
        &[("sink.delivery-guarantee", "maybe")],
        &["'sink.delivery-guarantee' = 'maybe'"],
    );
    assert_err(
        &[("json.ignore-parse-errors", "yes")],
        &["'json.ignore-parse-errors' = 'yes' must be 'true' or 'false'"],
    );
    assert_err(&[("csv.field-delimiter", ";;")], &["'csv.field-delimiter'"]);
    assert_err(&[("sink.parallelism", "0")], &["'sink.parallelism' = '0'"]);
    assert_err(&[("properties.", "x")], &["'properties.'"]);
    // raw: exactly one STRING column
    assert_err(
        &[("format", "raw")],
        &[
            "'format' = 'raw' needs exactly one STRING column",
            "auction BIGINT",
        ],
    );
    let raw = table(&[("line", SqlType::String)], &[("format", "raw")]);
    assert_eq!(
        KafkaOptions::parse(&raw).expect("valid").format,
        KafkaFormat::Raw
    );
    let not_string = table(&[("n", SqlType::Int)], &[("format", "raw")]);
    assert!(KafkaOptions::parse(&not_string).is_err());
}

#[test]
fn bad_librdkafka_property_names_the_option() {
    let t = bid_table(&[("properties.no.such.property", "1")]);
    let opts = KafkaOptions::parse(&t).expect("options parse");
    let e = client::consumer(&opts, "x", &[])
        .err()
        .expect("librdkafka rejects it")
        .to_string();
    assert!(
        e.contains("'properties.no.such.property' = '1'"),
        "unexpected error: {e}"
    );
}

#[test]
fn partition_assignment() {
    let parts = [0, 1, 2, 3];
    assert_eq!(assigned_partitions(&parts, 0, 1), vec![0, 1, 2, 3]);
    assert_eq!(assigned_partitions(&parts, 0, 2), vec![0, 2]);
    assert_eq!(assigned_partitions(&parts, 1, 2), vec![1, 3]);
    assert_eq!(assigned_partitions(&parts, 0, 3), vec![0, 3]);
    assert_eq!(assigned_partitions(&parts, 1, 3), vec![1]);
    assert_eq!(assigned_partitions(&parts, 2, 3), vec![2]);
    assert_eq!(assigned_partitions(&parts, 4, 5), Vec::<i32>::new());
    // every partition is read by exactly one subtask
    for parallelism in 1..=9u32 {
        let mut all: Vec<i32> = (0..parallelism)
            .flat_map(|i| assigned_partitions(&[5, 3, 0, 1, 4, 2, 6], i, parallelism))
            .collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4, 5, 6]);
    }
}

/// [`Decoder::push`] with the error as its message.
fn push(d: &mut Decoder, value: Option<&[u8]>) -> Result<bool, String> {
    d.push(value).map_err(|e| e.to_string())
}

fn decoder(t: &TableSpec, projection: &[usize]) -> Decoder {
    let o = KafkaOptions::parse(t).expect("valid");
    Decoder::new(t, o.format, o.delimiter, projection, 16)
}

#[test]
fn json_decoding() {
    let t = bid_table(&[]);
    let mut d = decoder(&t, &[0, 1, 2, 3]);
    let ok: &[&[u8]] = &[
        br#"{"auction": 1, "price": 90.8, "bidder": "ann", "ts": "2024-01-01 00:00:00.001"}"#,
        br#"{"auction": "2", "price": "1.005", "extra": [1], "ts": null}"#,
        br#"{"bidder": {"nested": true}}"#,
    ];
    for m in ok {
        assert_eq!(push(&mut d, Some(m)), Ok(true));
    }
    assert_eq!(push(&mut d, None), Ok(false), "a tombstone is no row");
    let bad: &[(&[u8], &str)] = &[
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (
            br#"{"auction": "x1"}"#,
            "column 'auction' (BIGINT) cannot take the value \"x1\"",
        ),
        (
            br#"{"auction": 1, "ts": "yesterday"}"#,
            "column 'ts' (TIMESTAMP(3))",
        ),
        (br#"{"auction": {"a": 1}}"#, "column 'auction'"),
    ];
    for (m, want) in bad {
        let e = push(&mut d, Some(m)).expect_err("malformed");
        assert!(e.contains(want), "{e:?} should contain {want:?}");
    }
    let b = d.finish().expect("batch");
    assert_eq!(b.num_rows(), 3);
    let auction = b.column(0).as_primitive::<Int64Type>();
    assert_eq!(
        auction.iter().collect::<Vec<_>>(),
        vec![Some(1), Some(2), None]
    );
    let price = b
        .column(1)
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .expect("decimal");
    assert_eq!(price.value(0), 9080);
    assert_eq!(price.value(1), 101); // half up, 2 digits
    assert!(price.is_null(2));
    let bidder = b.column(2).as_string::<i32>();
    assert_eq!(bidder.value(0), "ann");
    assert!(bidder.is_null(1));
    assert_eq!(bidder.value(2), r#"{"nested":true}"#);
    let ts = b
        .column(3)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .expect("ts");
    assert_eq!(ts.value(0), 1_704_067_200_001);
    assert!(ts.is_null(1));
    // the decoder is empty afterwards
    assert_eq!(d.rows(), 0);
    assert_eq!(d.finish().expect("batch").num_rows(), 0);
}

#[test]
fn json_projection_and_not_null() {
    let mut t = bid_table(&[]);
    t.schema.columns[0].nullable = false;
    // only `bidder` and `auction`, in that order
    let mut d = decoder(&t, &[2, 0]);
    assert_eq!(d.schema().field(0).name(), "bidder");
    assert_eq!(
        push(
            &mut d,
            Some(br#"{"auction": 7, "bidder": "b", "price": "x"}"#)
        ),
        Ok(true)
    );
    let e = push(&mut d, Some(br#"{"bidder": "c"}"#)).expect_err("auction is NOT NULL");
    assert!(
        e.contains("column 'auction' (BIGINT NOT NULL) is missing or null"),
        "{e}"
    );
    let b = d.finish().expect("batch");
    assert_eq!(b.num_rows(), 1, "the failed row was rolled back");
    assert_eq!(b.column(0).as_string::<i32>().value(0), "b");
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 7);
    // no projected column: rows still count
    let mut d = decoder(&t, &[]);
    assert_eq!(push(&mut d, Some(b"{}")), Ok(true));
    assert!(push(&mut d, Some(b"nope")).is_err());
    assert_eq!(d.finish().expect("batch").num_rows(), 1);
}

#[test]
fn csv_decoding() {
    let t = bid_table(&[("format", "csv")]);
    let mut d = decoder(&t, &[0, 1, 2, 3]);
    let ok: &[&[u8]] = &[
        b"1,90.8,ann,2024-01-01 00:00:00.001",
        b"2,,\"b,\"\"q\"\"\nz\",\n",
        b"3,1,\"\",2024-01-01\r\n",
    ];
    for m in ok {
        assert_eq!(
            push(&mut d, Some(m)),
            Ok(true),
            "{}",
            String::from_utf8_lossy(m)
        );
    }
    assert_eq!(push(&mut d, None), Ok(false));
    let bad: &[(&[u8], &str)] = &[
        (b"1,2,3", "expected 4 fields separated by ',' but found 3"),
        (b"1,2,3,4,5", "found 5"),
        (b"x,1,a,", "column 'auction' (BIGINT) cannot parse 'x'"),
        (b"1,\"2,a,", "unterminated quoted field"),
        (b"1,\"2\"x,a,", "unexpected character after a closing quote"),
    ];
    for (m, want) in bad {
        let e = push(&mut d, Some(m)).expect_err("malformed");
        assert!(e.contains(want), "{e:?} should contain {want:?}");
    }
    let b = d.finish().expect("batch");
    assert_eq!(b.num_rows(), 3);
    let bidder = b.column(2).as_string::<i32>();
    assert_eq!(bidder.value(0), "ann");
    assert_eq!(bidder.value(1), "b,\"q\"\nz");
    assert_eq!(
        bidder.value(2),
        "",
        "a quoted empty field is an empty string"
    );
    assert!(b.column(1).is_null(1), "an empty field is NULL");
    assert!(b.column(3).is_null(1));
    // another delimiter, projection
    let t = bid_table(&[("format", "csv"), ("csv.field-delimiter", "|")]);
    let mut d = decoder(&t, &[3, 0]);
    assert_eq!(
        push(&mut d, Some(b"5|1.5|x|2024-01-01 00:00:01.000")),
        Ok(true)
    );
    assert!(push(&mut d, Some(b"5,1.5,x,2024-01-01"))
        .expect_err("wrong delimiter")
        .contains("separated by '|'"));
    let b = d.finish().expect("batch");
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 5);
}

#[test]
fn raw_decoding() {
    let t = table(&[("line", SqlType::String)], &[("format", "raw")]);
    let mut d = decoder(&t, &[0]);
    assert_eq!(push(&mut d, Some(b"hello, {world}")), Ok(true));
    assert_eq!(push(&mut d, Some(b"")), Ok(true));
    assert_eq!(push(&mut d, None), Ok(true), "raw: a tombstone is NULL");
    assert!(push(&mut d, Some(&[0xff, 0xfe]))
        .expect_err("not UTF-8")
        .contains("not valid UTF-8"));
    let b = d.finish().expect("batch");
    let s = b.column(0).as_string::<i32>();
    assert_eq!(s.value(0), "hello, {world}");
    assert_eq!(s.value(1), "");
    assert!(s.is_null(2));
    // NOT NULL: a tombstone is an error
    let mut t = t;
    t.schema.columns[0].nullable = false;
    let mut d = decoder(&t, &[0]);
    assert!(push(&mut d, None)
        .expect_err("NOT NULL")
        .contains("without a value"));
}

#[test]
fn parse_error_names_topic_partition_offset() {
    let o = parse(&[]).expect("valid");
    assert_eq!(
        parse_error_message(&o, 3, 42, "invalid JSON (x)"),
        "topic 'bids' partition 3 offset 42: invalid JSON (x); set 'json.ignore-parse-errors' = 'true' to skip such messages"
    );
    let o = parse(&[("format", "csv")]).expect("valid");
    assert!(parse_error_message(&o, 0, 0, "x").contains("'csv.ignore-parse-errors' = 'true'"));
}

/// Renders the rows of `batch` as the sink does, then decodes them as the source does.
fn round_trip(t: &TableSpec, batch: &RecordBatch) -> (Vec<Option<Vec<u8>>>, RecordBatch) {
    let w = super::encode::RowEncoder::new(t, KafkaOptions::parse(t).expect("valid options"));
    let cols: Vec<_> = batch
        .columns()
        .iter()
        .map(|a| crate::format::ColumnText::new(a).expect("supported"))
        .collect();
    let mut messages = Vec::new();
    let all: Vec<usize> = (0..t.schema.columns.len()).collect();
    let mut d = decoder(t, &all);
    for row in 0..batch.num_rows() {
        let mut buf = Vec::new();
        let value = w
            .render(batch, &cols, row, strom_plan::RowKind::Insert, &mut buf)
            .then_some(buf);
        push(&mut d, value.as_deref()).expect("decodes");
        messages.push(value);
    }
    (messages, d.finish().expect("batch"))
}

fn typed_table(format: &str) -> TableSpec {
    table(
        &[
            ("i", SqlType::Int),
            ("b", SqlType::BigInt),
            ("d", SqlType::Double),
            ("dec", SqlType::Decimal(10, 3)),
            ("s", SqlType::String),
            ("flag", SqlType::Boolean),
            ("ts", SqlType::Timestamp(3)),
        ],
        &[("format", format)],
    )
}

fn typed_batch(t: &TableSpec) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(vec![Some(1), None, Some(-3)])),
        Arc::new(Int64Array::from(vec![Some(1 << 40), Some(0), None])),
        Arc::new(Float64Array::from(vec![Some(0.1), Some(-2.5e10), None])),
        Arc::new(
            Decimal128Array::from(vec![Some(90_800), None, Some(-5)])
                .with_precision_and_scale(10, 3)
                .expect("valid"),
        ),
        Arc::new(StringArray::from(vec![
            Some("plain"),
            Some("a,\"b\"\nc"),
            None,
        ])),
        Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_704_067_200_001),
            None,
            Some(-1),
        ])),
    ];
    RecordBatch::try_new(t.schema.to_arrow(), cols).expect("batch")
}

#[test]
fn sink_json_and_csv_round_trip() {
    for format in ["json", "csv"] {
        let t = typed_table(format);
        let batch = typed_batch(&t);
        let (messages, back) = round_trip(&t, &batch);
        assert_eq!(back, batch, "{format}");
        let first = String::from_utf8(messages[0].clone().expect("value")).expect("utf8");
        let want = match format {
            "json" => {
                r#"{"i":1,"b":1099511627776,"d":0.1,"dec":90.800,"s":"plain","flag":true,"ts":"2024-01-01 00:00:00.001"}"#
            }
            _ => "1,1099511627776,0.1,90.800,plain,true,2024-01-01 00:00:00.001",
        };
        assert_eq!(first, want, "one message per row, no line break");
    }
}

#[test]
fn sink_raw_round_trip() {
    let t = table(&[("line", SqlType::String)], &[("format", "raw")]);
    let batch = RecordBatch::try_new(
        t.schema.to_arrow(),
        vec![Arc::new(StringArray::from(vec![Some("a,\"b\""), None, Some("")])) as ArrayRef],
    )
    .expect("batch");
    let (messages, back) = round_trip(&t, &batch);
    assert_eq!(
        messages,
        vec![Some(b"a,\"b\"".to_vec()), None, Some(Vec::new())]
    );
    assert_eq!(back, batch);
}

#[test]
fn columns_of_other_names() {
    // a sink whose input batch has other field names still writes the table's column names
    let t = table(&[("n", SqlType::Int)], &[]);
    let batch = RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("EXPR$0", arrow::datatypes::DataType::Int32, true),
        ])),
        vec![Arc::new(Int32Array::from(vec![5])) as ArrayRef],
    )
    .expect("batch");
    let (messages, back) = round_trip(&t, &batch);
    assert_eq!(messages, vec![Some(br#"{"n":5}"#.to_vec())]);
    assert_eq!(back.column(0).as_primitive::<Int32Type>().value(0), 5);
}

#[test]
fn checkpoint_positions_decode_as_a_union() {
    use super::source::{decode_positions, Resume};
    let positions = vec![
        br#"{"offsets": {"0": 120, "2": 7}, "ends": {"0": 300, "2": 7}}"#.to_vec(),
        br#"{"offsets": {"1": 5}}"#.to_vec(),
        // the older form: partition -> next offset
        br#"{"3": 42}"#.to_vec(),
        // the same partition twice at the same offset is harmless
        br#"{"offsets": {"1": 5}}"#.to_vec(),
    ];
    let r = decode_positions("t", &positions).expect("positions");
    assert_eq!(
        r,
        BTreeMap::from([
            (
                0,
                Resume {
                    next: 120,
                    end: Some(300)
                }
            ),
            (1, Resume { next: 5, end: None }),
            (
                2,
                Resume {
                    next: 7,
                    end: Some(7)
                }
            ),
            (
                3,
                Resume {
                    next: 42,
                    end: None
                }
            ),
        ])
    );
    assert!(decode_positions("t", &[]).expect("none").is_empty());
    let err = |p: &[u8]| {
        decode_positions("t", &[br#"{"offsets": {"1": 6}}"#.to_vec(), p.to_vec()])
            .expect_err("refused")
            .to_string()
    };
    let e = err(br#"{"offsets": {"1": 5}}"#);
    assert!(
        e.contains("table 't'") && e.contains("partition 1") && e.contains("without restoring"),
        "{e}"
    );
    let e = err(b"[1]");
    assert!(
        e.contains("position 1 is not a kafka source position"),
        "{e}"
    );
    let e = err(br#"{"offsets": {"x": 5}}"#);
    assert!(e.contains("partition 'x'"), "{e}");
}
