//! Dispatcher: accepts JobGraphs, validates them, assigns ids, keeps every job (running and
//! finished, for the history), starts one JobMaster per job, and answers queries.

use crate::checkpoint_metadata::{CheckpointMetadata, RestorePlan};
use crate::checkpoint_storage::CheckpointStorage;
use crate::job_master::{CheckpointSetup, JobMaster, JobMasterConfig, JobSnapshot, JobSnapshots};
use crate::protocol::{checkpoint_event, savepoint_event, JobEvent, TriggerError};
use crate::resource_manager::ResourceManager;
use crate::result_buffer::ResultBuffer;
use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_common::checkpointing::CheckpointingOptions;
use strom_common::config::{keys, options, ConfigError};
use strom_common::time::now_millis;
use strom_common::{Configuration, JobId, JobStatus, JobType};
use strom_plan::{JobGraph, OperatorSpec, TableSpec};
use strom_runtime::ConnectorRegistry;
use strom_scheduler::chaining::chain;
use strom_scheduler::checkpoint_coordinator::CheckpointConfig;
use strom_scheduler::execution_graph::ExecutionGraph;
use strom_scheduler::failover_strategy::FailoverStrategy;
use strom_scheduler::restart_strategy::RestartStrategy;
use strom_scheduler::slot_pool::SlotPolicy;

/// Why a submission or request was refused.
#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    #[error("job {0} already exists; submit with another job id or none")]
    DuplicateJob(JobId),
    #[error("invalid job graph: {0}")]
    InvalidGraph(String),
    #[error("Job {0} not found")]
    JobNotFound(JobId),
    #[error("the cluster is shutting down")]
    ShuttingDown,
    #[error("cannot restore the job's state: {0}")]
    Restore(String),
    /// A savepoint asked for with no directory given and none configured.
    #[error(
        "no savepoint directory: give one (strom savepoint JOB_ID DIR, or \"target-directory\" in the request) or set '{}'",
        keys::SAVEPOINT_DIR
    )]
    NoSavepointDirectory,
    /// A checkpoint asked of a batch job (Flink's words, SchedulerBase#triggerCheckpoint).
    #[error(
        "Job {0} is not a streaming job. (it runs in batch mode: batch jobs take no checkpoints)"
    )]
    NotStreaming(JobId),
    /// A checkpoint asked of a job that ended.
    #[error("Job {job} is {status}: checkpoints are taken of running jobs only")]
    JobEnded { job: JobId, status: JobStatus },
    /// The job's JobMaster is gone (the job ended meanwhile).
    #[error("job {0} is no longer running")]
    NoLongerRunning(JobId),
    /// The job could not be kept in the job store of a highly available cluster.
    #[error("cannot keep the job in the high-availability job store: {0}")]
    JobStore(String),
}

pub use crate::job_store::{JobStore, NEXT_CHECKPOINT_ID_KEY};

/// Where jobs' checkpoints go: `state.checkpoints.dir`, else `strom-checkpoints` in the
/// temporary directory.
pub(crate) fn checkpoints_dir(o: &CheckpointingOptions) -> String {
    o.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir()
            .join("strom-checkpoints")
            .display()
            .to_string()
    })
}

/// Checkpoint settings of a streaming job from Flink's keys, and the savepoint it starts from.
fn checkpoint_setup(
    conf: &Configuration,
    job: JobId,
    graph: &JobGraph,
) -> Result<CheckpointSetup, DispatcherError> {
    let o = CheckpointingOptions::from_config(conf)
        .map_err(|e| DispatcherError::InvalidGraph(e.to_string()))?;
    let ms = |d: std::time::Duration| d.as_millis() as i64;
    let periodic = o.interval.map(|interval| CheckpointConfig {
        interval_ms: ms(interval),
        timeout_ms: ms(o.timeout),
        min_pause_ms: ms(o.min_pause),
        max_concurrent: o.max_concurrent as usize,
        num_retained: o.num_retained as usize,
    });
    let dir = checkpoints_dir(&o);
    let storage = CheckpointStorage::open(&dir)
        .map_err(|e| DispatcherError::InvalidGraph(e.to_string()))?
        .child(&job.to_string());
    let restore = match &o.restore_path {
        None => None,
        Some(path) => {
            let dir = CheckpointStorage::open(path)
                .map_err(|e| DispatcherError::Restore(e.to_string()))?;
            let meta = CheckpointMetadata::read(&dir)
                .map_err(|e| DispatcherError::Restore(e.to_string()))?;
            let plan = RestorePlan::new(&meta, &dir, graph);
            if !plan.unmatched.is_empty() && !o.allow_non_restored_state {
                return Err(DispatcherError::Restore(format!(
                    "{} has state for operators this job does not have: {}. Restore with --allow-non-restored-state ('{}' = 'true') to drop it",
                    dir.location(""),
                    plan.unmatched.join(", "),
                    keys::STATE_RECOVERY_IGNORE_UNCLAIMED
                )));
            }
            for line in &plan.report {
                tracing::info!("restore from {}: {line}", dir.location(""));
            }
            Some(plan)
        }
    };
    Ok(CheckpointSetup {
        periodic,
        storage,
        restore,
        retain_on_cancellation: o.retention.retains_on_cancellation(),
        tolerable_failed_checkpoints: o.tolerable_failed,
        first_id: conf
            .get(NEXT_CHECKPOINT_ID_KEY)
            .and_then(|v| v.parse().ok()),
        store: None,
    })
}

/// A job known to the Dispatcher.
pub struct JobEntry {
    pub id: JobId,
    pub name: String,
    pub submitted_at: i64,
    snapshots: JobSnapshots,
    events: Sender<JobEvent>,
    /// The rows of the job's `collect` sink, until the client fetches them.
    pub results: Arc<ResultBuffer>,
    /// Set once the JobMaster has ended (after its terminal status: checkpoints discarded,
    /// TaskManagers' exchanges released).
    archived: std::sync::atomic::AtomicBool,
}

impl JobEntry {
    /// The job as its JobMaster last published it.
    pub fn snapshot(&self) -> Arc<JobSnapshot> {
        self.snapshots.latest()
    }

    /// Whether the job's JobMaster has ended.
    pub fn is_archived(&self) -> bool {
        self.archived.load(std::sync::atomic::Ordering::Acquire)
    }
}

pub struct Dispatcher {
    pub config: Configuration,
    pub rm: Arc<ResourceManager>,
    pub connectors: Arc<ConnectorRegistry>,
    pub started_at: i64,
    jobs: RwLock<BTreeMap<JobId, Arc<JobEntry>>>,
    order: Mutex<Vec<JobId>>,
    /// A highly available cluster's job store (set by the leader).
    job_store: std::sync::OnceLock<Arc<dyn JobStore>>,
    /// A highly available cluster: this JobManager's record as its leader (REST shows it).
    leader: std::sync::OnceLock<crate::ha::LeaderRecord>,
}

impl Dispatcher {
    pub fn new(
        config: Configuration,
        rm: Arc<ResourceManager>,
        connectors: Arc<ConnectorRegistry>,
    ) -> Self {
        Self {
            config,
            rm,
            connectors,
            started_at: now_millis(),
            jobs: RwLock::new(BTreeMap::new()),
            order: Mutex::new(Vec::new()),
            job_store: std::sync::OnceLock::new(),
            leader: std::sync::OnceLock::new(),
        }
    }

    /// Checks a graph: structure, then every connector's options and inputs.
    pub fn validate(&self, graph: &JobGraph) -> Result<(), DispatcherError> {
        graph
            .validate()
            .map_err(|e| DispatcherError::InvalidGraph(e.to_string()))?;
        for v in &graph.vertices {
            for op in &v.operators {
                let tables: Vec<(&TableSpec, bool)> = match op {
                    OperatorSpec::Source(s) => vec![(&s.table, true)],
                    OperatorSpec::Sink(s) => vec![(&s.table, false)],
                    OperatorSpec::Stage(s) => s.tables.iter().map(|t| (t, true)).collect(),
                    OperatorSpec::LookupJoin(l) => vec![(&l.table, true)],
                    _ => continue,
                };
                for (table, as_source) in tables {
                    self.validate_table(graph, op, table, as_source)?;
                }
            }
        }
        Ok(())
    }

    /// Checks one table a graph reads (`as_source`) or writes: its connector's options, and
    /// what the job asks of it.
    fn validate_table(
        &self,
        graph: &JobGraph,
        op: &OperatorSpec,
        table: &TableSpec,
        as_source: bool,
    ) -> Result<(), DispatcherError> {
        // the JobMaster's own sink, not a connector
        if table.connector() == strom_runtime::collect::CONNECTOR && !as_source {
            return Ok(());
        }
        let f = self
            .connectors
            .get(table)
            .map_err(|e| DispatcherError::InvalidGraph(e.to_string()))?;
        f.validate(table, as_source)
            .map_err(|e| DispatcherError::InvalidGraph(e.to_string()))?;
        if as_source && graph.job_type == JobType::Batch && !f.is_bounded(table) {
            return Err(DispatcherError::InvalidGraph(format!(
                "Querying an unbounded table 'default_catalog.default_database.{}' in batch mode is not allowed. The table source is unbounded (connector '{}'): bound it (for example 'number-of-rows' for datagen, 'scan.bounded.mode' for kafka) or run with SET 'execution.runtime-mode' = 'streaming'",
                table.name,
                table.connector()
            )));
        }
        if let OperatorSpec::Sink(s) = op {
            if s.changelog && !f.supports_changelog(table) {
                return Err(DispatcherError::InvalidGraph(format!(
                    "table sink '{}' (connector '{}') doesn't support consuming update changes, which the non-windowed GROUP BY of this query produces; write to a table with 'connector' = 'upsert-kafka' and a PRIMARY KEY, 'connector' = 'kafka' with 'format' = 'debezium-json', 'print' or 'blackhole', use a windowed aggregation, or run with SET 'execution.runtime-mode' = 'batch'",
                    table.name,
                    table.connector()
                )));
            }
        }
        Ok(())
    }

    /// Keeps the jobs in `store` from now on (a highly available cluster's leader).
    /// This JobManager leads a highly available cluster, as `record` says.
    pub fn set_leader(&self, record: crate::ha::LeaderRecord) {
        let _ = self.leader.set(record);
    }

    /// The leader's record when this JobManager leads a highly available cluster.
    pub fn leader(&self) -> Option<&crate::ha::LeaderRecord> {
        self.leader.get()
    }

    pub fn set_job_store(&self, store: Arc<dyn JobStore>) {
        let _ = self.job_store.set(store);
    }

    /// The cluster's configuration overlaid by the job's own (its SET statements).
    fn job_config(&self, graph: &JobGraph) -> Configuration {
        let mut conf = self.config.clone();
        for (k, v) in &graph.config {
            conf.set(k.clone(), v.clone());
        }
        conf
    }

    /// Accepts a job and starts its JobMaster; returns its id.
    pub fn submit(self: &Arc<Self>, graph: JobGraph) -> Result<JobId, DispatcherError> {
        self.start_job(graph, true)
    }

    /// Starts a job a new leader found in the job store (kept there already).
    pub fn submit_recovered(self: &Arc<Self>, graph: JobGraph) -> Result<JobId, DispatcherError> {
        self.start_job(graph, false)
    }

    fn start_job(
        self: &Arc<Self>,
        mut graph: JobGraph,
        persist: bool,
    ) -> Result<JobId, DispatcherError> {
        self.validate(&graph)?;
        let id = graph.job_id.unwrap_or_else(JobId::random);
        graph.job_id = Some(id);
        if self.jobs.read().contains_key(&id) {
            return Err(DispatcherError::DuplicateJob(id));
        }
        if let (true, Some(store)) = (persist, self.job_store.get()) {
            store.put(&graph).map_err(DispatcherError::JobStore)?;
        }
        let mut jobs = self.jobs.write();
        if jobs.contains_key(&id) {
            return Err(DispatcherError::DuplicateJob(id));
        }
        let now = now_millis();
        let chained = chain(&graph);
        let eg = ExecutionGraph::new(id, chained.clone(), now)
            .map_err(|e| DispatcherError::InvalidGraph(e.to_string()))?;
        let job_conf = self.job_config(&graph);
        let invalid = |e: ConfigError| DispatcherError::InvalidGraph(e.to_string());
        let slot_timeout_ms = options::SLOT_REQUEST_TIMEOUT
            .get(&job_conf)
            .map_err(invalid)?
            .as_millis() as i64;
        let policy = match options::SLOT_POLICY
            .choice(&job_conf)
            .map_err(invalid)?
            .as_str()
        {
            "pack" => SlotPolicy::Pack,
            _ => SlotPolicy::Spread,
        };
        let failover = match options::FAILOVER_STRATEGY
            .choice(&job_conf)
            .map_err(invalid)?
            .as_str()
        {
            "full" => FailoverStrategy::Full,
            _ => FailoverStrategy::Region,
        };
        let restart_strategy = RestartStrategy::from_config(&job_conf)
            .map_err(|e| DispatcherError::InvalidGraph(e.to_string()))?;
        let checkpoints = match chained.job_type {
            JobType::Streaming => Some(CheckpointSetup {
                store: self.job_store.get().cloned(),
                ..checkpoint_setup(&job_conf, id, &chained)?
            }),
            JobType::Batch => None,
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let results = Arc::new(ResultBuffer::default());
        let me = Arc::downgrade(self);
        let jm = JobMaster::new(
            eg,
            chained,
            self.rm.clone(),
            JobMasterConfig {
                slot_timeout_ms,
                policy,
                restart_strategy,
                failover,
                results: results.clone(),
                checkpoints,
            },
            (tx.clone(), rx),
            Box::new(move |status| {
                if let Some(d) = me.upgrade() {
                    d.on_job_terminal(id, status);
                }
            }),
        );
        let entry = Arc::new(JobEntry {
            id,
            name: graph.name.clone(),
            submitted_at: now,
            snapshots: jm.snapshots(),
            events: tx,
            results,
            archived: Default::default(),
        });
        jobs.insert(id, entry);
        self.order.lock().push(id);
        drop(jobs);
        tracing::info!("job {id} ({}) submitted", graph.name);
        std::thread::Builder::new()
            .name(format!("jobmaster-{}", &id.to_string()[..8]))
            .spawn(move || jm.run())
            .map_err(|e| {
                DispatcherError::InvalidGraph(format!("cannot start the JobMaster: {e}"))
            })?;
        Ok(id)
    }

    fn on_job_terminal(&self, id: JobId, status: JobStatus) {
        tracing::info!("job {id} is {status}; archived");
        if let (true, Some(store)) = (status.is_globally_terminal(), self.job_store.get()) {
            if let Err(e) = store.remove(id, status) {
                tracing::warn!("job {id}: cannot record its end in the job store: {e}");
            }
        }
        if let Ok(j) = self.job(id) {
            j.archived.store(true, std::sync::atomic::Ordering::Release);
        }
    }

    pub fn job(&self, id: JobId) -> Result<Arc<JobEntry>, DispatcherError> {
        self.jobs
            .read()
            .get(&id)
            .cloned()
            .ok_or(DispatcherError::JobNotFound(id))
    }

    /// Jobs, newest first.
    pub fn jobs(&self) -> Vec<Arc<JobEntry>> {
        let jobs = self.jobs.read();
        self.order
            .lock()
            .iter()
            .rev()
            .filter_map(|id| jobs.get(id).cloned())
            .collect()
    }

    /// This JobManager lost its leadership (high availability): every job that has not ended
    /// cancels its tasks and ends SUSPENDED, left in the job store for the next leader. The
    /// number of jobs suspended.
    pub fn suspend_all(&self) -> usize {
        self.jobs()
            .iter()
            .filter(|job| !job.snapshot().graph().status().is_globally_terminal())
            .filter(|job| job.events.send(JobEvent::Suspend).is_ok())
            .count()
    }

    pub fn cancel(&self, id: JobId) -> Result<(), DispatcherError> {
        let job = self.job(id)?;
        let _ = job.events.send(JobEvent::Cancel);
        Ok(())
    }

    /// Asks a job for a savepoint into `target` (or `state.savepoints.dir`), stopping it after
    /// when `stop` (first advancing event time to the end when `drain`); the answer (the
    /// savepoint's path) arrives on the returned channel.
    pub fn savepoint(
        &self,
        id: JobId,
        target: Option<String>,
        stop: bool,
        drain: bool,
    ) -> Result<crossbeam_channel::Receiver<Result<String, TriggerError>>, DispatcherError> {
        let job = self.job(id)?;
        let target = target
            .or_else(|| options::SAVEPOINT_DIR.get(&self.config).ok().flatten())
            .ok_or(DispatcherError::NoSavepointDirectory)?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        Self::send_trigger(&job, savepoint_event(target, stop, drain, tx))?;
        Ok(rx)
    }

    /// Asks a streaming job for one checkpoint now, outside its periodic schedule (Flink's
    /// `POST /jobs/:id/checkpoints`); its id arrives on the returned channel once it completed.
    /// A batch job, or one that ended, is refused.
    pub fn checkpoint(
        &self,
        id: JobId,
    ) -> Result<crossbeam_channel::Receiver<Result<u64, TriggerError>>, DispatcherError> {
        let job = self.job(id)?;
        {
            let st = job.snapshot();
            if st.graph().job_type == JobType::Batch {
                return Err(DispatcherError::NotStreaming(id));
            }
            let status = st.graph().status();
            if status.is_globally_terminal() {
                return Err(DispatcherError::JobEnded { job: id, status });
            }
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        Self::send_trigger(&job, checkpoint_event(tx))?;
        Ok(rx)
    }

    /// Hands a checkpoint or savepoint request to the job's JobMaster.
    fn send_trigger(job: &JobEntry, event: JobEvent) -> Result<(), DispatcherError> {
        job.events
            .send(event)
            .map_err(|_| DispatcherError::NoLongerRunning(job.id))
    }

    pub fn status(&self, id: JobId) -> Result<JobStatus, DispatcherError> {
        Ok(self.job(id)?.snapshot().graph().status())
    }
}
