//! Event time end to end: out-of-order rows within the watermark delay are counted in their
//! windows, rows behind the watermark are dropped and counted in `numLateRecordsDropped`
//! (REST). The input is small and the answer is checked by hand.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::*;
use std::time::Duration;

/// Seconds after 2024-01-01 00:00:00 of each row, in arrival order. Watermark = ts - 5 s,
/// 10 s tumbling windows:
/// 1, 3, 12 (wm 7), 8 (within the delay: counted), 16 (wm 11: [0,10) fires),
/// 9 and 2 (late: dropped), 14 (counted), 25 (wm 20: [10,20) fires), 19 (late), 21.
const ARRIVALS: [u32; 11] = [1, 3, 12, 8, 16, 9, 2, 14, 25, 19, 21];

/// Writes the events file and the windowed count query (batch mode when `batch`) into `dir`;
/// returns the script and the sink directory.
fn windowed_counts(dir: &TempDir, batch: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let input = dir.join("events.csv");
    let text: String = ARRIVALS
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{i},2024-01-01 00:00:{s:02}.000\n"))
        .collect();
    write_text(&input, &text);
    let out = dir.join("out");
    let sql = dir.join("counts.sql");
    write_text(
        &sql,
        &format!(
            "{}CREATE TABLE events (
  id BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
CREATE TABLE counts (window_start TIMESTAMP(3), cnt BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO counts
SELECT window_start, COUNT(*) AS cnt
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end;
",
            if batch {
                "SET 'execution.runtime-mode' = 'batch';\n"
            } else {
                ""
            },
            input.display(),
            out.display()
        ),
    );
    (sql, out)
}

#[test]
fn out_of_order_rows_within_the_delay_count_and_later_ones_are_dropped_and_counted() {
    let dir = TempDir::new("event-time");
    let (sql, out) = windowed_counts(&dir, false);
    let cluster = Standalone::start(1);
    let run = run_with_timeout(
        strom().args([
            "sql",
            "-f",
            sql.to_str().unwrap(),
            "--jobmanager",
            &cluster.rest,
        ]),
        Duration::from_secs(60),
    );
    run.assert_success();
    let id = run.job_id();
    let mut rows = read_sink_rows(&out);
    rows.sort();
    assert_eq!(
        rows,
        vec![
            "2024-01-01 00:00:00.000,3",
            "2024-01-01 00:00:10.000,3",
            "2024-01-01 00:00:20.000,2"
        ],
        "window counts"
    );
    // the late rows are counted where they were dropped, and reported over REST
    let job = cluster.get_json(&format!("/jobs/{id}"));
    let vertices = job["vertices"].as_array().expect("vertices");
    let mut late = 0.0;
    for v in vertices {
        let vid = v["id"].as_str().expect("vertex id");
        let m = cluster.get_json(&format!(
            "/jobs/{id}/vertices/{vid}/subtasks/metrics?get=numLateRecordsDropped&agg=sum"
        ));
        late += m[0]["sum"].as_f64().expect("a sum");
    }
    assert_eq!(late, 3.0, "rows dropped as late (9, 2 and 19)");
    // the metric is listed among the vertex's metrics, per subtask
    let vid = vertices[0]["id"].as_str().unwrap();
    let ids = cluster.get_json(&format!("/jobs/{id}/vertices/{vid}/metrics"));
    assert!(
        ids.as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "0.numLateRecordsDropped"),
        "{ids}"
    );
}

#[test]
fn batch_mode_has_no_late_rows() {
    // as Flink: a batch job has no watermarks, windows fire at the end, every row counts
    let dir = TempDir::new("event-time-batch");
    let (sql, out) = windowed_counts(&dir, true);
    run(strom().args(["sql", "-f", sql.to_str().unwrap()])).assert_success();
    let mut rows = read_sink_rows(&out);
    rows.sort();
    assert_eq!(
        rows,
        vec![
            "2024-01-01 00:00:00.000,5",
            "2024-01-01 00:00:10.000,4",
            "2024-01-01 00:00:20.000,2"
        ]
    );
}
