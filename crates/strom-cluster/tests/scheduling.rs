//! The embedded cluster schedules lazily in batch mode (a job runs in fewer slots than its
//! parallelism) and eagerly, all-or-nothing, in streaming mode (it waits for slots, then fails
//! with a message that says how many it needs).
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::wait;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strom_cluster::{start_embedded, Dispatcher};
use strom_common::{Configuration, JobId, JobStatus};

const ROWS: u64 = 20_000;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Bids per auction, straight from the generator's formula (all rows fall in the first 10 s).
fn expected_counts() -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for i in 0..ROWS {
        let auction = 1000 + i / 5000 + splitmix64(i.wrapping_mul(4)) % 1000;
        *m.entry(auction).or_insert(0) += 1;
    }
    m
}

fn script(out: &std::path::Path, mode: &str, p: u32) -> String {
    format!(
        "SET 'execution.runtime-mode' = '{mode}';
SET 'parallelism.default' = '{p}';
CREATE TABLE bid (auction BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND)
WITH ('connector' = 'datagen', 'generator' = 'bids', 'number-of-rows' = '{ROWS}');
CREATE TABLE s (auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT)
WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO s SELECT auction, window_start, window_end, COUNT(*) AS num
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;",
        out.display()
    )
}

fn cluster(slots: u32, extra: &[(&str, &str)]) -> Arc<Dispatcher> {
    let mut conf = Configuration::new();
    conf.set("taskmanager.numberOfTaskSlots", slots.to_string());
    for (k, v) in extra {
        conf.set(*k, *v);
    }
    start_embedded(conf, 1, strom_connectors::default_registry()).unwrap()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("strom-sched-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn batch_job_runs_in_fewer_slots_than_its_parallelism() {
    let out = temp_dir("lazy");
    let d = cluster(1, &[]);
    let job = strom_sql::compile_script(&script(&out, "batch", 2), &Configuration::new())
        .unwrap()
        .jobs
        .remove(0);
    let id = d.submit(job).unwrap();
    assert_eq!(
        wait(&d, id, Duration::from_secs(60)),
        JobStatus::Finished,
        "{:?}",
        d.job(id).unwrap().snapshot().root_cause()
    );
    let mut got = BTreeMap::new();
    for f in std::fs::read_dir(&out).unwrap() {
        for line in std::fs::read_to_string(f.unwrap().path()).unwrap().lines() {
            let cols: Vec<&str> = line.split(',').collect();
            assert_eq!(cols[1], "2024-01-01 00:00:00.000", "{line}");
            assert_eq!(cols[2], "2024-01-01 00:00:10.000", "{line}");
            let prev = got.insert(
                cols[0].parse::<u64>().unwrap(),
                cols[3].parse::<u64>().unwrap(),
            );
            assert!(prev.is_none(), "auction {} twice", cols[0]);
        }
    }
    assert_eq!(got, expected_counts());
    // the slot came back
    assert_eq!(d.rm.slot_counts(), (1, 1));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn streaming_job_waits_for_all_slots_then_fails_with_a_clear_message() {
    let out = temp_dir("eager");
    let d = cluster(1, &[("slot.request.timeout", "300 ms")]);
    let job = strom_sql::compile_script(&script(&out, "streaming", 2), &Configuration::new())
        .unwrap()
        .jobs
        .remove(0);
    let id = d.submit(job).unwrap();
    assert_eq!(wait(&d, id, Duration::from_secs(60)), JobStatus::Failed);
    let st = d.job(id).unwrap();
    let st = st.snapshot();
    let cause = st.root_cause().map(str::to_string).unwrap_or_default();
    assert!(
        cause.contains("needs 2 slots") && cause.contains("has 1"),
        "{cause}"
    );
    // nothing was deployed: all-or-nothing
    for v in &st.graph().vertices {
        for ev in &v.subtasks {
            assert!(ev.current.slot.is_none(), "{} got a slot", ev.id);
        }
    }
    drop(st);
    assert_eq!(d.rm.slot_counts(), (1, 1));
    // the cluster stays up: a job that fits still runs
    let job = strom_sql::compile_script(&script(&out, "streaming", 1), &Configuration::new())
        .unwrap()
        .jobs
        .remove(0);
    let id = d.submit(job).unwrap();
    assert_eq!(wait(&d, id, Duration::from_secs(60)), JobStatus::Finished);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn hop_windows_count_every_row_in_each_of_its_windows() {
    // 20,000 rows cover event time [0, 2000) ms, 10 rows per ms; HOP(slide 500 ms, size 1 s)
    let out = temp_dir("hop");
    let d = cluster(2, &[]);
    let sql = format!(
        "SET 'parallelism.default' = '2';
CREATE TABLE bid (price BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND)
WITH ('connector' = 'datagen', 'generator' = 'bids', 'number-of-rows' = '{ROWS}');
CREATE TABLE s (window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT)
WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO s SELECT window_start, window_end, COUNT(*) AS num
FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '0.5' SECOND, INTERVAL '1' SECOND))
GROUP BY window_start, window_end;",
        out.display()
    );
    let job = strom_sql::compile_script(&sql, &Configuration::new())
        .unwrap()
        .jobs
        .remove(0);
    let id = d.submit(job).unwrap();
    assert_eq!(wait(&d, id, Duration::from_secs(60)), JobStatus::Finished);
    let mut got: Vec<String> = Vec::new();
    for f in std::fs::read_dir(&out).unwrap() {
        got.extend(
            std::fs::read_to_string(f.unwrap().path())
                .unwrap()
                .lines()
                .map(str::to_string),
        );
    }
    got.sort();
    // windows start at -500, 0, 500, 1000, 1500 ms; count the rows whose time falls in each
    // the first window starts half a second before the first row (on 2023-12-31)
    let fmt = |ms: i64| {
        if ms < 0 {
            format!("2023-12-31 23:59:59.{:03}", 1000 + ms)
        } else {
            format!("2024-01-01 00:00:{:02}.{:03}", ms / 1000, ms % 1000)
        }
    };
    let mut want: Vec<String> = (-1..4)
        .map(|k| {
            let start = k * 500;
            let n = (0..ROWS as i64)
                .filter(|i| (start..start + 1000).contains(&(i / 10)))
                .count();
            format!("{},{},{n}", fmt(start), fmt(start + 1000))
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_duplicate_job_id_is_rejected_and_the_first_job_goes_on() {
    let out = temp_dir("dup");
    let d = cluster(1, &[]);
    let mut job = strom_sql::compile_script(&script(&out, "batch", 1), &Configuration::new())
        .unwrap()
        .jobs
        .remove(0);
    let id = JobId::random();
    job.job_id = Some(id);
    assert_eq!(d.submit(job.clone()).unwrap(), id);
    let e = d.submit(job).unwrap_err().to_string();
    assert!(
        e.contains(&id.to_string()) && e.contains("already exists"),
        "{e}"
    );
    assert_eq!(wait(&d, id, Duration::from_secs(60)), JobStatus::Finished);
    let _ = std::fs::remove_dir_all(&out);
}
