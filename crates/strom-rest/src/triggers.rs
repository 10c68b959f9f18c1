//! Asynchronous savepoint operations (`POST /jobs/:id/savepoints`, `POST /jobs/:id/stop`): the
//! REST layer keeps each trigger id with the outcome the job sends back, as Flink's
//! `CompletedOperationCache` does, for `GET /jobs/:id/savepoints/:triggerid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strom_common::JobId;

/// How long a finished operation's outcome stays (Flink's `rest.async.store-duration`, 5 min).
pub const STORE_FOR: Duration = Duration::from_secs(300);

/// The outcome of a savepoint: its path, or why it failed.
pub type Outcome = Result<String, String>;

#[derive(Default)]
struct Entry {
    /// None while in progress.
    outcome: Option<(Outcome, Instant)>,
}

/// Trigger ids by job, with their outcome once known.
#[derive(Default, Clone)]
pub struct SavepointTriggers {
    entries: Arc<Mutex<HashMap<(JobId, String), Entry>>>,
}

impl SavepointTriggers {
    pub fn new() -> Self {
        Self::default()
    }

    fn purge(map: &mut HashMap<(JobId, String), Entry>) {
        map.retain(|_, e| match &e.outcome {
            Some((_, at)) => at.elapsed() < STORE_FOR,
            None => true,
        });
    }

    /// Whether `trigger` is known for `job` (a repeated trigger id is not triggered again).
    pub fn contains(&self, job: JobId, trigger: &str) -> bool {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Self::purge(&mut map);
        map.contains_key(&(job, trigger.to_string()))
    }

    /// Registers `trigger` as in progress; a thread waits for `wait` (the job's answer) and
    /// keeps its outcome.
    pub fn insert(
        &self,
        job: JobId,
        trigger: String,
        wait: impl FnOnce() -> Outcome + Send + 'static,
    ) -> std::io::Result<()> {
        let key = (job, trigger);
        {
            let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            Self::purge(&mut map);
            map.insert(key.clone(), Entry::default());
        }
        let entries = self.entries.clone();
        let id = key.1.clone();
        let name = format!("savepoint-{}", &key.1[..key.1.len().min(8)]);
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let outcome = wait();
            let mut map = entries.lock().unwrap_or_else(|e| e.into_inner());
            map.insert(
                key,
                Entry {
                    outcome: Some((outcome, Instant::now())),
                },
            );
        });
        if let Err(e) = spawned {
            let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            map.remove(&(job, id));
            return Err(e);
        }
        Ok(())
    }

    /// None: unknown trigger; Some(None): in progress; Some(Some(outcome)): done.
    pub fn status(&self, job: JobId, trigger: &str) -> Option<Option<Outcome>> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Self::purge(&mut map);
        map.get(&(job, trigger.to_string()))
            .map(|e| e.outcome.as_ref().map(|(o, _)| o.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_done(t: &SavepointTriggers, job: JobId, id: &str) -> Outcome {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(Some(o)) = t.status(job, id) {
                return o;
            }
            assert!(Instant::now() < deadline, "no outcome");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn keeps_outcomes_by_job_and_trigger() {
        let t = SavepointTriggers::new();
        let job = JobId::random();
        let other = JobId::random();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        t.insert(job, "a".into(), move || {
            rx.recv().ok();
            Ok("/tmp/sp-1".into())
        })
        .unwrap();
        assert_eq!(t.status(job, "a"), Some(None));
        assert!(t.contains(job, "a"));
        assert_eq!(t.status(other, "a"), None);
        assert_eq!(t.status(job, "b"), None);
        tx.send(()).unwrap();
        assert_eq!(wait_done(&t, job, "a"), Ok("/tmp/sp-1".into()));
        t.insert(job, "b".into(), || Err("boom".into())).unwrap();
        assert_eq!(wait_done(&t, job, "b"), Err("boom".into()));
    }
}
