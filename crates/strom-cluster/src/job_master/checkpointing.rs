//! A job's checkpointing ([`Checkpointing`]): it runs the sans-IO [`CheckpointCoordinator`] and
//! carries out its commands (triggers to the source tasks, the metadata file, notifications to
//! every task, discarding old checkpoints), takes manual checkpoints and savepoints, releases the
//! final commit of sinks when the whole job reached its end, and chooses the checkpoint a restart
//! restores from. What it decides about the job as a whole (fail over, stop after a savepoint)
//! it returns as [`JobInput`]s for the job's core.

use super::JobState;
use crate::checkpoint_metadata::{
    CheckpointMetadata, MetadataError, RestorePlan, SavepointCopyError, VertexStateMeta,
};
use crate::checkpoint_stats::CheckpointSettingsView;
use crate::checkpoint_storage::CheckpointStorage;
use crate::protocol::{CheckpointAck, JobMasterId, TriggerError, TriggerRequest};
use crate::resource_manager::ResourceManager;
use crossbeam_channel::Sender;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use strom_common::config::keys::CHECKPOINTING_TOLERABLE_FAILED;
use strom_common::time::now_millis;
use strom_common::{DeclineKind, ExecutionState, FailureKind, JobStatus};
use strom_plan::OperatorSpec;
use strom_runtime::connector::FINAL_CHECKPOINT;
use strom_runtime::task::CheckpointTrigger;
use strom_scheduler::checkpoint_coordinator::{
    AbortReason, CheckpointCommand, CheckpointConfig, CheckpointCoordinator,
};
use strom_scheduler::checkpoint_failures::{CheckpointFailureManager, Verdict};
use strom_scheduler::exception_history::Failure;
use strom_scheduler::execution_graph::ExecutionVertexId;
use strom_scheduler::job_core::JobInput;

/// How a job takes checkpoints (streaming jobs).
pub struct CheckpointSetup {
    /// Periodic checkpoints (`execution.checkpointing.interval`); None: manual checkpoints and savepoints
    /// only.
    pub periodic: Option<CheckpointConfig>,
    /// The job's checkpoint directory (`state.checkpoints.dir`/<job id>).
    pub storage: CheckpointStorage,
    /// State to start from (`--from-savepoint`).
    pub restore: Option<RestorePlan>,
    /// Keep the checkpoints of a canceled job (`RETAIN_ON_CANCELLATION`).
    pub retain_on_cancellation: bool,
    /// `execution.checkpointing.tolerable-failed-checkpoints`.
    pub tolerable_failed_checkpoints: u32,
    /// The first checkpoint id when the leaders before took ids past the restored checkpoint's.
    pub first_id: Option<u64>,
    /// A highly available cluster's store: each checkpoint id is taken there before it is
    /// triggered, and each completed checkpoint recorded there before it counts.
    pub store: Option<std::sync::Arc<dyn crate::job_store::JobStore>>,
}

pub(super) struct Checkpointing {
    coordinator: CheckpointCoordinator,
    /// See [`CheckpointSetup::store`].
    store: Option<std::sync::Arc<dyn crate::job_store::JobStore>>,
    /// Which failed checkpoints the job tolerates.
    failures: CheckpointFailureManager,
    periodic: bool,
    storage: CheckpointStorage,
    /// Metadata of the completed checkpoints still retained, by id.
    retained: BTreeMap<u64, CheckpointMetadata>,
    /// Where the next attempt restores from.
    pub(super) restore: Option<RestorePlan>,
    /// Tasks that finished their input and wait for the final commit.
    final_waiting: HashSet<ExecutionVertexId>,
    final_sent: bool,
    /// The checkpoints and savepoints in flight that someone asked for, by checkpoint id.
    requested: HashMap<u64, TriggerRequest>,
    retain_on_cancellation: bool,
    /// Checkpoints and savepoints asked for while a checkpoint was in flight.
    queued: Vec<TriggerRequest>,
    last_tick: i64,
    /// Deletes discarded checkpoints off the JobMaster's thread (one thread per job, started on
    /// first use).
    discarder: Option<Sender<String>>,
    /// What checkpointing decided for the job as a whole since the last [`Self::take_inputs`].
    inputs: Vec<JobInput>,
}

/// What checkpointing reaches of its job: the shared state, the TaskManagers, and the JobMaster's
/// fencing token for the calls it makes.
pub(super) struct JobContext<'a> {
    pub state: &'a mut JobState,
    pub rm: &'a ResourceManager,
    pub job_master: JobMasterId,
}

impl JobContext<'_> {
    /// Whether every task runs (checkpoints need all of them, as in Flink before FLIP-147).
    pub fn all_running(&self) -> bool {
        let st = &*self.state;
        st.graph().status() == JobStatus::Running
            && st
                .graph()
                .vertices
                .iter()
                .flat_map(|v| v.subtasks.iter())
                .all(|e| e.current.state == ExecutionState::Running)
    }
}

impl Checkpointing {
    pub(super) fn new(setup: CheckpointSetup, tasks: Vec<(u32, u32)>) -> Self {
        let periodic = setup.periodic.is_some();
        let config = setup.periodic.unwrap_or(CheckpointConfig {
            interval_ms: i64::MAX,
            ..Default::default()
        });
        let first_id = setup
            .restore
            .as_ref()
            .map(|r| r.checkpoint_id + 1)
            .unwrap_or(1)
            .max(setup.first_id.unwrap_or(1));
        let mut coordinator = CheckpointCoordinator::new(config, tasks, first_id);
        if !periodic {
            coordinator.stop();
        }
        Self {
            coordinator,
            failures: CheckpointFailureManager::new(setup.tolerable_failed_checkpoints),
            periodic,
            storage: setup.storage,
            store: setup.store,
            retained: BTreeMap::new(),
            restore: setup.restore,
            final_waiting: HashSet::new(),
            final_sent: false,
            requested: HashMap::new(),
            retain_on_cancellation: setup.retain_on_cancellation,
            queued: Vec::new(),
            last_tick: 0,
            discarder: None,
            inputs: Vec::new(),
        }
    }

    pub(super) fn settings(&self, config: Option<&CheckpointConfig>) -> CheckpointSettingsView {
        let c = config.cloned().unwrap_or_default();
        CheckpointSettingsView {
            enabled: self.periodic,
            interval_ms: if self.periodic {
                c.interval_ms
            } else {
                i64::MAX
            },
            timeout_ms: c.timeout_ms,
            min_pause_ms: c.min_pause_ms,
            max_concurrent: c.max_concurrent,
            num_retained: c.num_retained,
            tolerable_failed_checkpoints: self.failures.tolerable(),
            dir: self.storage.location(""),
        }
    }

    pub(super) fn exactly_once(&self) -> bool {
        self.periodic
    }

    pub(super) fn dir(&self) -> String {
        self.storage.location("")
    }
}

fn key(
    graph: &strom_scheduler::execution_graph::ExecutionGraph,
    id: ExecutionVertexId,
) -> (u32, u32) {
    (
        graph.vertex_position(id.vertex).unwrap_or(usize::MAX) as u32,
        id.subtask,
    )
}

impl Checkpointing {
    /// The job's decisions that checkpointing took since the last call (fail over, stop).
    pub(super) fn take_inputs(&mut self) -> Vec<JobInput> {
        std::mem::take(&mut self.inputs)
    }

    /// A failure of the job as a whole: it fails over.
    fn job_failure(&mut self, message: String) {
        self.inputs.push(JobInput::JobFailure(message));
    }

    /// Periodic work: expiry, periodic triggers and the queued requests.
    pub(super) fn tick(&mut self, cx: &mut JobContext) {
        let now = now_millis();
        if now - self.last_tick < 20 {
            return;
        }
        self.last_tick = now;
        if !cx.all_running() {
            return;
        }
        if !self.queued.is_empty() && self.coordinator.pending_ids().is_empty() {
            let req = self.queued.remove(0);
            self.trigger_requested(req, cx);
            return;
        }
        let cmds = self.coordinator.tick(now);
        self.run_commands(cmds, cx);
    }

    /// Takes a checkpoint or a savepoint now (and stops the job after a savepoint when asked);
    /// the periodic schedule goes on as it was.
    pub(super) fn trigger_requested(&mut self, req: TriggerRequest, cx: &mut JobContext) {
        if !cx.all_running() {
            req.reply(Err(TriggerError::NotRunning {
                status: cx.state.core().status(),
            }));
            return;
        }
        match self.coordinator.trigger_now(now_millis()) {
            Some(CheckpointCommand::Trigger { id, timestamp }) => {
                tracing::info!("triggering {} {id} on request", req.what());
                self.requested.insert(id, req);
                self.run_commands(vec![CheckpointCommand::Trigger { id, timestamp }], cx);
            }
            // a checkpoint is in flight: this one follows it
            _ => self.queued.push(req),
        }
    }

    pub(super) fn on_ack(&mut self, ack: CheckpointAck, cx: &mut JobContext) {
        let now = now_millis();
        let k = {
            let st = &*cx.state;
            if st.graph().current_attempt(ack.id) != Some(ack.attempt) {
                return;
            }
            key(st.graph(), ack.id)
        };
        if ack.checkpoint_id == FINAL_CHECKPOINT {
            self.final_waiting.insert(ack.id);
            self.check_final_commit(cx);
            return;
        }
        let cmds = match ack.declined {
            Some(reason) => {
                self.coordinator
                    .decline(ack.checkpoint_id, k, ack.decline_kind, reason, now)
            }
            None => {
                cx.state.checkpoints.acknowledged(
                    ack.checkpoint_id,
                    k.0 as usize,
                    ack.id.subtask,
                    now,
                    ack.size,
                );
                self.coordinator
                    .acknowledge(ack.checkpoint_id, k, ack.handle.unwrap_or_default())
            }
        };
        self.run_commands(cmds, cx);
    }

    /// A task finished: checkpoints in flight cannot complete without it; sinks waiting for the
    /// final commit may now get it.
    pub(super) fn task_finished(&mut self, id: ExecutionVertexId, cx: &mut JobContext) {
        let now = now_millis();
        let k = key(cx.state.graph(), id);
        let mut cmds = Vec::new();
        for p in self.coordinator.pending_ids() {
            cmds.extend(self.coordinator.decline(
                p,
                k,
                DeclineKind::TaskFinished,
                "a task finished".into(),
                now,
            ));
        }
        self.run_commands(cmds, cx);
        self.check_final_commit(cx);
    }

    /// A task failed or was lost: checkpoints in flight are aborted, nobody waits for a final
    /// commit any more (the job restarts from the last checkpoint or fails).
    pub(super) fn task_failed(&mut self, id: ExecutionVertexId, cx: &mut JobContext) {
        let now = now_millis();
        let k = key(cx.state.graph(), id);
        self.final_waiting.clear();
        self.final_sent = false;
        let cmds = self.coordinator.task_failed(k, now);
        self.run_commands(cmds, cx);
    }

    /// When every task finished or waits for the final commit: release the final commit.
    fn check_final_commit(&mut self, cx: &mut JobContext) {
        if self.final_waiting.is_empty() || self.final_sent {
            return;
        }
        let targets: Option<Vec<_>> = {
            let st = &*cx.state;
            let mut targets = Vec::new();
            let mut ready = true;
            for ev in st.graph().vertices.iter().flat_map(|v| v.subtasks.iter()) {
                if self.final_waiting.contains(&ev.id) {
                    targets.push((ev.current.attempt_id, ev.current.slot.clone()));
                } else if ev.current.state != ExecutionState::Finished {
                    ready = false;
                }
            }
            ready.then_some(targets)
        };
        let Some(targets) = targets else { return };
        tracing::info!(
            "every task reached its end: final commit of {} task(s)",
            targets.len()
        );
        self.final_sent = true;
        for (attempt, slot) in targets {
            if let Some(te) = slot.and_then(|s| cx.rm.task_executor(&s.task_manager)) {
                te.notify_checkpoint_complete(attempt, cx.job_master, FINAL_CHECKPOINT, false);
            }
        }
    }

    /// Carries out the coordinator's commands (and those they lead to).
    fn run_commands(&mut self, mut cmds: Vec<CheckpointCommand>, cx: &mut JobContext) {
        while !cmds.is_empty() {
            let cmd = cmds.remove(0);
            let now = now_millis();
            match cmd {
                CheckpointCommand::Trigger { id, timestamp } => {
                    let job = cx.state.graph().job_id;
                    match self.store.as_ref().map(|s| s.checkpoint_id(job, id)) {
                        // a deposed leader triggers nothing: the checkpoint expires
                        Some(Err(e)) => tracing::warn!("checkpoint {id} not triggered: {e}"),
                        _ => self.send_triggers(id, timestamp, cx),
                    }
                }
                CheckpointCommand::WriteMetadata { id, handles } => {
                    let result = self
                        .write_metadata(id, &handles, cx)
                        .map_err(|e| e.to_string())
                        .and_then(|location| match &self.store {
                            Some(store) => {
                                let job = cx.state.graph().job_id;
                                store.checkpoint_completed(job, id, &location)
                            }
                            None => Ok(()),
                        });
                    cmds.extend(self.coordinator.metadata_written(id, result, now));
                }
                CheckpointCommand::NotifyComplete { id } => self.on_completed(id, cx),
                CheckpointCommand::NotifyAborted { id, reason } => {
                    self.on_aborted(id, reason, now, cx)
                }
                CheckpointCommand::Discard { id } => {
                    self.retained.remove(&id);
                    self.discard(id);
                }
            }
        }
    }

    fn on_aborted(&mut self, id: u64, reason: AbortReason, now: i64, cx: &mut JobContext) {
        let message = match &reason {
            AbortReason::Expired => "Checkpoint expired before completing.".into(),
            AbortReason::Declined { reason, .. } => reason.clone(),
            AbortReason::TaskFailed(_) => "A task failed.".into(),
            AbortReason::Subsumed => "Subsumed by a newer checkpoint.".into(),
            AbortReason::MetadataWriteFailed(e) => {
                format!("Cannot write the checkpoint metadata: {e}")
            }
        };
        cx.state.checkpoints.failed(id, now, message.clone());
        let request = self.requested.remove(&id);
        if let Some(req) = &request {
            req.reply(Err(TriggerError::Aborted {
                what: req.what(),
                reason: message.clone(),
            }));
        }
        let stop_failed = request.as_ref().is_some_and(TriggerRequest::stops);
        let savepoint = request.as_ref().and_then(TriggerRequest::savepoint);
        // a failed stop-with-savepoint fails the job over in any case (below)
        let verdict = if stop_failed {
            Verdict::NotCounted
        } else {
            self.failures.on_abort(id, &reason, savepoint.is_some())
        };
        let tolerable = self.failures.tolerable();
        self.discard(id);
        match verdict {
            Verdict::NotCounted => tracing::info!("checkpoint {id} failed: {message}"),
            Verdict::Tolerated { consecutive } => tracing::warn!(
                "checkpoint {id} failed ({consecutive} failed in a row, \
                 {CHECKPOINTING_TOLERABLE_FAILED} = {tolerable}): {message}"
            ),
            Verdict::FailJob { .. } => self.job_failure(format!(
                "Exceeded checkpoint tolerable failure threshold \
                 ({CHECKPOINTING_TOLERABLE_FAILED} = {tolerable}): checkpoint {id} failed: \
                 {message}"
            )),
        }
        if stop_failed {
            // the sources stopped at the barrier: resume from the latest checkpoint
            self.job_failure(format!("stop-with-savepoint {id} failed: {message}"));
        }
    }

    /// Deletes checkpoint `id`'s files off this thread.
    fn discard(&mut self, id: u64) {
        let storage = &self.storage;
        let tx = self.discarder.get_or_insert_with(|| {
            let (tx, rx) = crossbeam_channel::unbounded::<String>();
            let storage = storage.clone();
            let spawned = std::thread::Builder::new()
                .name("checkpoint-discarder".into())
                .spawn(move || {
                    for dir in rx {
                        storage.delete_all(&dir);
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start the checkpoint discarder: {e}");
            }
            tx
        });
        let dir = format!("chk-{id}");
        if let Err(e) = tx.send(dir) {
            // no discarder thread: delete here
            self.storage.delete_all(&e.0);
        }
    }

    fn send_triggers(&mut self, id: u64, timestamp: i64, cx: &mut JobContext) {
        let request = self.requested.get(&id).and_then(TriggerRequest::savepoint);
        let savepoint = request.is_some();
        let stop = request.is_some_and(|r| r.stop);
        let drain = request.is_some_and(|r| r.drain);
        let targets: Vec<_> = {
            let st = &mut *cx.state;
            let sizes: Vec<usize> = st
                .graph()
                .vertices
                .iter()
                .map(|v| v.subtasks.len())
                .collect();
            st.checkpoints.triggered(id, timestamp, savepoint, &sizes);
            st.graph()
                .vertices
                .iter()
                .filter(|v| matches!(v.vertex.operators.first(), Some(OperatorSpec::Source(_))))
                .flat_map(|v| v.subtasks.iter())
                .map(|ev| (ev.current.attempt_id, ev.current.slot.clone()))
                .collect()
        };
        for (attempt, slot) in targets {
            if let Some(te) = slot.and_then(|s| cx.rm.task_executor(&s.task_manager)) {
                te.trigger_checkpoint(
                    attempt,
                    cx.job_master,
                    CheckpointTrigger {
                        id,
                        timestamp,
                        stop,
                        drain,
                    },
                );
            }
        }
    }

    fn write_metadata(
        &mut self,
        id: u64,
        handles: &[((u32, u32), String)],
        cx: &mut JobContext,
    ) -> Result<String, MetadataError> {
        let meta = {
            let st = &*cx.state;
            let rec = st.checkpoints.record(id);
            let savepoint = rec.is_some_and(|r| r.savepoint);
            let mut meta = CheckpointMetadata::new(
                id,
                st.graph().job_id.to_string(),
                rec.map(|r| r.trigger_timestamp).unwrap_or_else(now_millis),
                savepoint,
            );
            for (pos, v) in st.graph().vertices.iter().enumerate() {
                let mut files = vec![None; v.subtasks.len()];
                for ((vp, s), h) in handles {
                    if *vp as usize == pos && !h.is_empty() {
                        if let Some(f) = files.get_mut(*s as usize) {
                            *f = Some(h.clone());
                        }
                    }
                }
                let state_size = rec
                    .and_then(|r| r.acks.get(pos))
                    .map(|a| a.iter().map(|x| x.2).sum())
                    .unwrap_or(0);
                meta.vertices.push(VertexStateMeta {
                    id: v.id(),
                    name: v.vertex.name.clone(),
                    parallelism: v.parallelism(),
                    max_parallelism: v.vertex.max_parallelism,
                    operators: v.vertex.operators.iter().map(|o| o.name()).collect(),
                    operator_ids: v.vertex.operator_ids(),
                    stateful: v
                        .vertex
                        .operators
                        .iter()
                        .map(|o| {
                            !matches!(
                                o,
                                OperatorSpec::Calc(_) | OperatorSpec::WindowTableFunction(_)
                            )
                        })
                        .collect(),
                    files,
                    state_size,
                });
            }
            meta
        };
        let dir = self.storage.child(&format!("chk-{id}"));
        meta.write(&dir)?;
        self.retained.insert(id, meta);
        Ok(dir.location(""))
    }

    fn on_completed(&mut self, id: u64, cx: &mut JobContext) {
        self.failures.on_success(id);
        let dir = self.storage.child(&format!("chk-{id}"));
        let mut path = dir.location("");
        let mut requested = self.requested.remove(&id);
        let mut copy_failed = None;
        if let Some(req) = requested.as_ref().and_then(TriggerRequest::savepoint) {
            match copy_savepoint(&dir, self.retained.get(&id), &req.target, id) {
                Ok(p) => path = p,
                Err(e) => {
                    let e = TriggerError::SavepointWrite(Arc::new(e));
                    tracing::warn!("savepoint {id}: {e}");
                    copy_failed = Some(e);
                }
            }
        }
        tracing::debug!("checkpoint {id} completed ({path})");
        cx.state.checkpoints.completed(id, path.clone());
        if let Some(e) = copy_failed {
            // the checkpoint stands; the savepoint failed (and a stopping job goes on)
            if let Some(req) = requested.take() {
                req.reply(Err(e.clone()));
                if req.stops() {
                    self.job_failure(format!("stop-with-savepoint {id} failed: {e}"));
                    return;
                }
            }
        }
        let stop = requested.as_ref().is_some_and(TriggerRequest::stops);
        if stop {
            tracing::info!("stopping the job after savepoint {id}");
        }
        // every task learns of it (sinks commit); after a stop-with-savepoint, tasks then stop
        // and end FINISHED (see `JobInput::Stop`)
        let targets: Vec<_> = {
            let st = &*cx.state;
            st.graph()
                .vertices
                .iter()
                .flat_map(|v| v.subtasks.iter())
                .filter(|ev| ev.current.state == ExecutionState::Running)
                .map(|ev| (ev.current.attempt_id, ev.current.slot.clone()))
                .collect()
        };
        let mut stopped = Vec::new();
        for (attempt, slot) in targets {
            if let Some(te) = slot.and_then(|s| cx.rm.task_executor(&s.task_manager)) {
                if stop {
                    stopped.push(attempt);
                }
                te.notify_checkpoint_complete(attempt, cx.job_master, id, stop);
            }
        }
        if let Some(req) = requested {
            req.reply(Ok((id, &path)));
        }
        if stop {
            self.inputs.push(JobInput::Stop { attempts: stopped });
        }
    }

    /// The job ended: its checkpoints go (Flink's default, `NO_EXTERNALIZED_CHECKPOINTS`) when it
    /// finished or was canceled, unless retained on cancellation
    /// (`execution.checkpointing.externalized-checkpoint-retention`); a failed job keeps them to
    /// be restored from (`--from-savepoint <dir>/<job>/chk-<n>`).
    pub(super) fn job_ended(&self, status: JobStatus) {
        let keep = match status {
            JobStatus::Finished => false,
            JobStatus::Canceled => self.retain_on_cancellation,
            _ => true,
        };
        if !keep {
            self.storage.delete_all("");
        }
    }

    /// Before a restart: restore from the latest retained checkpoint whose metadata reads back,
    /// saying so when it falls back to an older one.
    pub(super) fn choose_restore_point(&mut self, cx: &mut JobContext) {
        let ids: Vec<u64> = self.retained.keys().rev().copied().collect();
        let graph = cx.state.plan.clone();
        for (n, id) in ids.iter().enumerate() {
            let dir = self.storage.child(&format!("chk-{id}"));
            match CheckpointMetadata::read(&dir) {
                Ok(meta) => {
                    if n > 0 {
                        tracing::warn!(
                            "restoring from the older checkpoint {id}: the latest could not be read"
                        );
                    }
                    let plan = RestorePlan::new(&meta, &dir, &graph);
                    let st = &mut *cx.state;
                    st.checkpoints.latest_restored =
                        Some((*id, now_millis(), dir.location(""), false));
                    st.checkpoints.restored += 1;
                    self.restore = Some(plan);
                    return;
                }
                Err(e) => {
                    tracing::warn!("checkpoint {id} cannot be restored: {e}");
                    cx.state.core.note(Failure {
                        timestamp: now_millis(),
                        message: format!("checkpoint {id} cannot be restored: {e}"),
                        task: None,
                        task_manager: None,
                        kind: FailureKind::Recoverable,
                    });
                }
            }
        }
        // no checkpoint completed: a savepoint the job started from still applies
    }

    /// The state a task of the vertex at `vertex_pos` restores.
    pub(super) fn restore_for(
        &self,
        vertex_pos: usize,
    ) -> Option<strom_runtime::task_state::TaskRestore> {
        self.restore
            .as_ref()
            .and_then(|r| r.vertices.get(vertex_pos).cloned().flatten())
    }
}

/// Copies a completed checkpoint into `<target>/savepoint-<id>-<random>` (self-contained).
fn copy_savepoint(
    from: &CheckpointStorage,
    meta: Option<&CheckpointMetadata>,
    target: &str,
    id: u64,
) -> Result<String, SavepointCopyError> {
    let meta = meta.ok_or(SavepointCopyError::MetadataGone)?;
    let root = CheckpointStorage::open(target)?;
    let name = format!("savepoint-{id}-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let to = root.child(&name);
    for f in meta.vertices.iter().flat_map(|v| v.files.iter().flatten()) {
        let bytes = from.get(f)?;
        to.put(f, bytes)?;
    }
    let mut m = meta.clone();
    m.savepoint = true;
    m.write(&to)?;
    Ok(to.location(""))
}
