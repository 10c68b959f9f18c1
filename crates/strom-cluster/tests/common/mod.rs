//! What the cluster tests share.

use std::time::{Duration, Instant};
use strom_cluster::Dispatcher;
use strom_common::{JobId, JobStatus};

/// Waits until job `id` is globally terminal; fails the test past `within` (a job that restarts
/// forever, or hangs).
pub fn wait(d: &Dispatcher, id: JobId, within: Duration) -> JobStatus {
    let deadline = Instant::now() + within;
    loop {
        let s = d.status(id).unwrap();
        if s.is_globally_terminal() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} did not end within {within:?} (restarting forever?): {s}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
