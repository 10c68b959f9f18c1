//! Flink's documented examples of the functions Strom evaluates, through SQL, against the values
//! Flink's documentation gives (hand-checked), on a column as well as on literals.

use super::session_context;
use datafusion::arrow::util::display::array_value_to_string;

async fn one(sql_expr: &str) -> String {
    let ctx = session_context();
    let sql = format!(
        "SELECT {sql_expr} AS v FROM (VALUES (TIMESTAMP '2020-04-15 13:07:09.042', 'x', CAST(NULL AS VARCHAR))) AS t(ts, s, n)"
    );
    let batches = ctx
        .sql(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql_expr}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql_expr}: {e}"));
    let col = batches[0].column(0);
    if col.is_null(0) {
        return "NULL".into();
    }
    array_value_to_string(col, 0).unwrap()
}

#[tokio::test]
async fn flink_date_and_time_functions() {
    for (e, want) in [
        ("DATE_FORMAT(ts, 'yyyy-MM-dd')", "2020-04-15"),
        ("DATE_FORMAT(ts, 'HH:mm')", "13:07"),
        (
            "DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss.SSS')",
            "2020-04-15 13:07:09.042",
        ),
        ("DATE_FORMAT('2020-04-15 13:07:09', 'yy/MM/dd')", "20/04/15"),
        ("DATE_FORMAT(CAST(NULL AS TIMESTAMP), 'yyyy')", "NULL"),
        ("TO_TIMESTAMP('2020-04-15 13:07:09')", "2020-04-15T13:07:09"),
        (
            "TO_TIMESTAMP('15/04/2020 13:07', 'dd/MM/yyyy HH:mm')",
            "2020-04-15T13:07:00",
        ),
        ("TO_TIMESTAMP('not a time')", "NULL"),
        ("TO_DATE('2020-04-15')", "2020-04-15"),
        ("TO_DATE('20200415', 'yyyyMMdd')", "2020-04-15"),
        // Flink's documentation: FROM_UNIXTIME(44) returns '1970-01-01 00:00:44' in UTC
        ("FROM_UNIXTIME(44)", "1970-01-01 00:00:44"),
        ("FROM_UNIXTIME(86400, 'yyyy-MM-dd')", "1970-01-02"),
        // Flink: EXTRACT(DOW ...) is 1 (Sunday) to 7; 2020-04-15 was a Wednesday
        ("EXTRACT(DOW FROM ts)", "4"),
        ("EXTRACT(DOW FROM DATE '2020-04-19')", "1"),
        ("EXTRACT(DOY FROM ts)", "106"),
        ("EXTRACT(HOUR FROM ts)", "13"),
    ] {
        assert_eq!(one(e).await, want, "{e}");
    }
}

#[tokio::test]
async fn flink_math_and_string_functions() {
    for (e, want) in [
        // Flink: LOG(x) is the natural logarithm, LOG(b, x) the logarithm to base b
        ("ROUND(LOG(EXP(2)), 6)", "2.0"),
        ("LOG(2, 8)", "3.0"),
        ("ROUND(LOG(100), 4)", "4.6052"),
        // Flink: CONCAT returns NULL if any argument is NULL
        ("CONCAT('AA', 'BB', 'CC')", "AABBCC"),
        ("CONCAT('AA', n)", "NULL"),
        ("CONCAT(s, s)", "xx"),
        // Flink: CONCAT_WS skips NULL arguments
        ("CONCAT_WS('~', 'AA', n, 'BB', '', 'CC')", "AA~BB~~CC"),
        // Flink: GREATEST / LEAST return NULL if any argument is NULL
        ("GREATEST(1, 3, 2)", "3"),
        ("LEAST(4, 2, 3)", "2"),
        ("GREATEST(s, n)", "NULL"),
        ("LEAST(1, CAST(NULL AS INT))", "NULL"),
        // shared names that agree with Flink's documented examples
        ("LPAD('hi', 4, '??')", "??hi"),
        ("LPAD('hi', 1, '??')", "h"),
        ("RPAD('hi', 4, '??')", "hi??"),
        ("RPAD('hi', 1, '??')", "h"),
        (
            "OVERLAY('This is an old string' PLACING ' new' FROM 10 FOR 5)",
            "This is a new string",
        ),
        ("REPEAT('ab', 3)", "ababab"),
        ("REPLACE('hello world', 'world', 'flink')", "hello flink"),
        ("SUBSTRING('Hello World' FROM 7 FOR 3)", "Wor"),
        ("POSITION('lo' IN 'Hello')", "4"),
        ("CHAR_LENGTH('Hello')", "5"),
        ("INITCAP('hello world')", "Hello World"),
        ("UPPER('ab')", "AB"),
        ("TRIM(BOTH 'x' FROM 'xxhixx')", "hi"),
        ("COALESCE(n, 'd')", "d"),
        ("NULLIF(s, 'x')", "NULL"),
        ("MOD(-7, 3)", "-1"),
        ("POWER(2, 10)", "1024.0"),
        ("ABS(-2)", "2"),
        // Flink's SPLIT_INDEX counts from 0; out of range or NULL input: NULL
        ("SPLIT_INDEX('Jack,John,Mary', ',', 2)", "Mary"),
        ("SPLIT_INDEX('Jack,John,Mary', ',', 0)", "Jack"),
        ("SPLIT_INDEX('Jack,John,Mary', ',', 3)", "NULL"),
        ("SPLIT_INDEX('Jack,John,Mary', ',', -1)", "NULL"),
        ("SPLIT_INDEX('a::b', '::', 1)", "b"),
        ("SPLIT_INDEX(n, ',', 0)", "NULL"),
        // Flink's documentation: REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2) returns 'bar'
        ("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2)", "bar"),
        ("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 1)", "the"),
        ("REGEXP_EXTRACT('foothebar', 'o+')", "oo"),
        ("REGEXP_EXTRACT('foothebar', 'x(y)', 1)", "NULL"),
        ("REGEXP_EXTRACT(n, 'x')", "NULL"),
    ] {
        assert_eq!(one(e).await, want, "{e}");
    }
}

#[tokio::test]
async fn a_bad_regex_or_group_is_a_clear_error() {
    for (sql, want) in [
        ("SELECT REGEXP_EXTRACT('abc', 'a(')", "bad regex 'a('"),
        (
            "SELECT REGEXP_EXTRACT('abc', 'a(b)', 2)",
            "group 2 does not exist",
        ),
    ] {
        let err = session_context()
            .sql(sql)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(err.to_string().contains(want), "{sql}: {err}");
    }
}

#[test]
fn a_bad_date_pattern_is_a_clear_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = rt.block_on(async {
        session_context()
            .sql("SELECT DATE_FORMAT(TIMESTAMP '2020-01-01 00:00:00', 'yyyy-qq')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err()
    });
    assert!(
        err.to_string().contains("illegal pattern character 'q'"),
        "{err}"
    );
}
