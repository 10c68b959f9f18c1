//! Asynchronous savepoint and checkpoint operations (`POST /jobs/:id/savepoints`,
//! `POST /jobs/:id/stop`, `POST /jobs/:id/checkpoints`): the REST layer keeps each trigger id
//! with the outcome the job sends back, as Flink's `CompletedOperationCache` does, for
//! `GET /jobs/:id/savepoints/:triggerid` and `GET /jobs/:id/checkpoints/:triggerid` (one store
//! each, as Flink keeps one cache each).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strom_cluster::protocol::TriggerError;
use strom_common::JobId;

/// How long a finished operation's outcome stays (Flink's `rest.async.store-duration`, 5 min).
pub const STORE_FOR: Duration = Duration::from_secs(300);

/// The outcome of an operation: a savepoint's path (a checkpoint's id), or why it failed.
pub type Outcome<T = String> = Result<T, TriggerError>;

struct Entry<T> {
    /// None while in progress.
    outcome: Option<(Outcome<T>, Instant)>,
}

type Entries<T> = HashMap<(JobId, String), Entry<T>>;

/// Trigger ids by job, with their outcome once known.
pub struct Triggers<T> {
    entries: Arc<Mutex<Entries<T>>>,
}

/// Savepoints and stop-with-savepoint: the outcome is the savepoint's path.
pub type SavepointTriggers = Triggers<String>;

/// Manual checkpoints: the outcome is the checkpoint's id.
pub type CheckpointTriggers = Triggers<u64>;

impl<T> Default for Triggers<T> {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
        }
    }
}

impl<T> Clone for Triggers<T> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
        }
    }
}

impl<T: Clone + Send + 'static> Triggers<T> {
    pub fn new() -> Self {
        Self::default()
    }

    fn purge(map: &mut Entries<T>) {
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
        wait: impl FnOnce() -> Outcome<T> + Send + 'static,
    ) -> std::io::Result<()> {
        let key = (job, trigger);
        {
            let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            Self::purge(&mut map);
            map.insert(key.clone(), Entry { outcome: None });
        }
        let entries = self.entries.clone();
        let id = key.1.clone();
        let name = format!("trigger-{}", &key.1[..key.1.len().min(8)]);
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
    pub fn status(&self, job: JobId, trigger: &str) -> Option<Option<Outcome<T>>> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Self::purge(&mut map);
        map.get(&(job, trigger.to_string()))
            .map(|e| e.outcome.as_ref().map(|(o, _)| o.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_done<T: Clone + Send + 'static>(t: &Triggers<T>, job: JobId, id: &str) -> Outcome<T> {
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
        assert!(matches!(t.status(job, "a"), Some(None)));
        assert!(t.contains(job, "a"));
        assert!(t.status(other, "a").is_none());
        assert!(t.status(job, "b").is_none());
        tx.send(()).unwrap();
        assert_eq!(wait_done(&t, job, "a").unwrap(), "/tmp/sp-1");
        t.insert(job, "b".into(), || {
            Err(TriggerError::JobEnded { what: "savepoint" })
        })
        .unwrap();
        assert!(matches!(
            wait_done(&t, job, "b"),
            Err(TriggerError::JobEnded { what: "savepoint" })
        ));
        // checkpoints: their own store, the checkpoint id as the outcome
        let c = CheckpointTriggers::new();
        assert!(c.status(job, "a").is_none());
        c.insert(job, "a".into(), || Ok(7)).unwrap();
        assert_eq!(wait_done(&c, job, "a").unwrap(), 7);
    }
}
