//! The JobMaster's side of checkpoints: it runs the sans-IO [`CheckpointCoordinator`] and carries
//! out its commands (triggers to the source tasks, the metadata file, notifications to every
//! task, discarding old checkpoints), takes manual checkpoints and savepoints, releases the final
//! commit of sinks when the whole job reached its end, and chooses the checkpoint a restart
//! restores from.

use super::{JobEvent, JobMaster};
use crate::checkpoint_metadata::{CheckpointMetadata, RestorePlan, VertexStateMeta};
use crate::checkpoint_stats::CheckpointSettingsView;
use crate::checkpoint_storage::CheckpointStorage;
use crate::gateway::CheckpointAck;
use crossbeam_channel::Sender;
use std::collections::{BTreeMap, HashMap, HashSet};
use strom_common::config::keys::CHECKPOINTING_TOLERABLE_FAILED;
use strom_common::time::now_millis;
use strom_common::{DeclineKind, ExecutionState, FailureKind, JobStatus};
use strom_plan::OperatorSpec;
use strom_runtime::task::{CheckpointTrigger, FINAL_CHECKPOINT};
use strom_scheduler::checkpoint_coordinator::{
    AbortReason, CheckpointCommand, CheckpointConfig, CheckpointCoordinator,
};
use strom_scheduler::checkpoint_failures::{CheckpointFailureManager, Verdict};
use strom_scheduler::exception_history::Failure;
use strom_scheduler::execution_graph::ExecutionVertexId;

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
}

/// A savepoint someone waits for.
#[derive(Debug)]
pub struct SavepointRequest {
    /// The directory savepoints go to (a `savepoint-<job>-<n>` directory is made in it).
    pub target: String,
    /// Stop the job once the savepoint completed.
    pub stop: bool,
    /// With `stop`: advance event time to the end first (`stop --drain`).
    pub drain: bool,
    pub reply: Sender<Result<String, String>>,
}

/// A checkpoint or savepoint taken on request (outside the periodic schedule), and who waits for
/// it.
#[derive(Debug)]
pub enum TriggerRequest {
    /// One checkpoint now (Flink's `POST /jobs/:id/checkpoints`); the reply is its id. It is a
    /// checkpoint like the periodic ones (retained, subsumed, restored from).
    Checkpoint(Sender<Result<u64, String>>),
    Savepoint(SavepointRequest),
}

impl TriggerRequest {
    fn what(&self) -> &'static str {
        match self {
            Self::Checkpoint(_) => "checkpoint",
            Self::Savepoint(_) => "savepoint",
        }
    }

    fn savepoint(&self) -> Option<&SavepointRequest> {
        match self {
            Self::Savepoint(r) => Some(r),
            Self::Checkpoint(_) => None,
        }
    }

    /// Whether the job stops after it (stop-with-savepoint).
    fn stops(&self) -> bool {
        self.savepoint().is_some_and(|r| r.stop)
    }

    /// Answers whoever waits: checkpoint `id` completed at `location`, or the failure.
    fn reply(&self, outcome: Result<(u64, &str), String>) {
        match self {
            Self::Checkpoint(tx) => {
                let _ = tx.send(outcome.map(|(id, _)| id));
            }
            Self::Savepoint(r) => {
                let _ = r.reply.send(outcome.map(|(_, path)| path.to_string()));
            }
        }
    }
}

pub(super) struct Checkpointing {
    coordinator: CheckpointCoordinator,
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
            .unwrap_or(1);
        let mut coordinator = CheckpointCoordinator::new(config, tasks, first_id);
        if !periodic {
            coordinator.stop();
        }
        Self {
            coordinator,
            failures: CheckpointFailureManager::new(setup.tolerable_failed_checkpoints),
            periodic,
            storage: setup.storage,
            retained: BTreeMap::new(),
            restore: setup.restore,
            final_waiting: HashSet::new(),
            final_sent: false,
            requested: HashMap::new(),
            retain_on_cancellation: setup.retain_on_cancellation,
            queued: Vec::new(),
            last_tick: 0,
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

impl JobMaster {
    /// Whether every task runs (checkpoints need all of them, as in Flink before FLIP-147).
    fn all_running(&self) -> bool {
        let st = self.state.lock();
        st.graph.status() == JobStatus::Running
            && st
                .graph
                .vertices
                .iter()
                .flat_map(|v| v.subtasks.iter())
                .all(|e| e.current.state == ExecutionState::Running)
    }

    /// Periodic work: expiry and periodic triggers.
    pub(super) fn checkpoint_tick(&mut self) {
        let now = now_millis();
        let Some(c) = &mut self.ckpt else { return };
        if now - c.last_tick < 20 {
            return;
        }
        c.last_tick = now;
        if !self.all_running() {
            return;
        }
        let Some(c) = &mut self.ckpt else { return };
        if !c.queued.is_empty() && c.coordinator.pending_ids().is_empty() {
            let req = c.queued.remove(0);
            self.trigger_requested(req);
            return;
        }
        let cmds = c.coordinator.tick(now);
        self.run_checkpoint_commands(cmds);
    }

    /// Takes a checkpoint or a savepoint now (and stops the job after a savepoint when asked);
    /// the periodic schedule goes on as it was.
    pub(super) fn trigger_requested(&mut self, req: TriggerRequest) {
        if self.ckpt.is_none() {
            req.reply(Err(format!(
                "{}s are taken of streaming jobs only; this job runs in batch mode",
                req.what()
            )));
            return;
        }
        if !self.all_running() {
            req.reply(Err(format!(
                "the job is {} and not all its tasks are running; try again when it runs",
                self.status()
            )));
            return;
        }
        let now = now_millis();
        let c = self.ckpt.as_mut().expect("checked");
        match c.coordinator.trigger_now(now) {
            Some(CheckpointCommand::Trigger { id, timestamp }) => {
                tracing::info!("triggering {} {id} on request", req.what());
                c.requested.insert(id, req);
                self.run_checkpoint_commands(vec![CheckpointCommand::Trigger { id, timestamp }]);
            }
            // a checkpoint is in flight: this one follows it
            _ => c.queued.push(req),
        }
    }

    pub(super) fn on_checkpoint_ack(&mut self, ack: CheckpointAck) {
        let now = now_millis();
        let current = {
            let st = self.state.lock();
            st.graph.current_attempt(ack.id) == Some(ack.attempt)
        };
        if !current {
            return;
        }
        let Some(c) = &mut self.ckpt else { return };
        if ack.checkpoint_id == FINAL_CHECKPOINT {
            c.final_waiting.insert(ack.id);
            self.check_final_commit();
            return;
        }
        let (k, vertex_pos) = {
            let st = self.state.lock();
            let k = key(&st.graph, ack.id);
            (k, k.0 as usize)
        };
        let c = self.ckpt.as_mut().expect("checked");
        let cmds = match ack.declined {
            Some(reason) => {
                c.coordinator
                    .decline(ack.checkpoint_id, k, ack.decline_kind, reason, now)
            }
            None => {
                self.state.lock().checkpoints.acknowledged(
                    ack.checkpoint_id,
                    vertex_pos,
                    ack.id.subtask,
                    now,
                    ack.size,
                );
                c.coordinator
                    .acknowledge(ack.checkpoint_id, k, ack.handle.unwrap_or_default())
            }
        };
        self.run_checkpoint_commands(cmds);
    }

    /// A task finished: checkpoints in flight cannot complete without it; sinks waiting for the
    /// final commit may now get it.
    pub(super) fn checkpoint_task_finished(&mut self, id: ExecutionVertexId) {
        let now = now_millis();
        let k = key(&self.state.lock().graph, id);
        let Some(c) = &mut self.ckpt else { return };
        let mut cmds = Vec::new();
        for p in c.coordinator.pending_ids() {
            cmds.extend(c.coordinator.decline(
                p,
                k,
                DeclineKind::TaskFinished,
                "a task finished".into(),
                now,
            ));
        }
        self.run_checkpoint_commands(cmds);
        self.check_final_commit();
    }

    /// A task failed or was lost: checkpoints in flight are aborted, nobody waits for a final
    /// commit any more (the job restarts from the last checkpoint or fails).
    pub(super) fn checkpoint_task_failed(&mut self, id: ExecutionVertexId) {
        let now = now_millis();
        let k = key(&self.state.lock().graph, id);
        let Some(c) = &mut self.ckpt else { return };
        c.final_waiting.clear();
        c.final_sent = false;
        let cmds = c.coordinator.task_failed(k, now);
        self.run_checkpoint_commands(cmds);
    }

    /// When every task finished or waits for the final commit: release the final commit.
    fn check_final_commit(&mut self) {
        let Some(c) = &self.ckpt else { return };
        if c.final_waiting.is_empty() || c.final_sent {
            return;
        }
        let targets: Option<Vec<_>> = {
            let st = self.state.lock();
            let mut targets = Vec::new();
            let mut ready = true;
            for ev in st.graph.vertices.iter().flat_map(|v| v.subtasks.iter()) {
                if c.final_waiting.contains(&ev.id) {
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
        self.ckpt.as_mut().expect("checked").final_sent = true;
        for (attempt, slot) in targets {
            if let Some(te) = slot.and_then(|s| self.rm.task_executor(&s.task_manager)) {
                te.notify_checkpoint_complete(attempt, self.id, FINAL_CHECKPOINT, false);
            }
        }
    }

    /// Carries out the coordinator's commands (and those they lead to).
    pub(super) fn run_checkpoint_commands(&mut self, mut cmds: Vec<CheckpointCommand>) {
        while !cmds.is_empty() {
            let cmd = cmds.remove(0);
            let now = now_millis();
            match cmd {
                CheckpointCommand::Trigger { id, timestamp } => self.send_triggers(id, timestamp),
                CheckpointCommand::WriteMetadata { id, handles } => {
                    let result = self.write_metadata(id, &handles);
                    let c = self.ckpt.as_mut().expect("checkpointing");
                    cmds.extend(c.coordinator.metadata_written(id, result, now));
                }
                CheckpointCommand::NotifyComplete { id } => self.on_completed(id),
                CheckpointCommand::NotifyAborted { id, reason } => {
                    let message = match &reason {
                        AbortReason::Expired => "Checkpoint expired before completing.".into(),
                        AbortReason::Declined { reason, .. } => reason.clone(),
                        AbortReason::TaskFailed(_) => "A task failed.".into(),
                        AbortReason::Subsumed => "Subsumed by a newer checkpoint.".into(),
                        AbortReason::MetadataWriteFailed(e) => {
                            format!("Cannot write the checkpoint metadata: {e}")
                        }
                    };
                    self.state
                        .lock()
                        .checkpoints
                        .failed(id, now, message.clone());
                    let c = self.ckpt.as_mut().expect("checkpointing");
                    let request = c.requested.remove(&id);
                    if let Some(req) = &request {
                        req.reply(Err(format!("the {} failed: {message}", req.what())));
                    }
                    let stop_failed = request.as_ref().is_some_and(TriggerRequest::stops);
                    let savepoint = request.as_ref().and_then(TriggerRequest::savepoint);
                    // a failed stop-with-savepoint fails the job over in any case (below)
                    let verdict = if stop_failed {
                        Verdict::NotCounted
                    } else {
                        c.failures.on_abort(id, &reason, savepoint.is_some())
                    };
                    let tolerable = c.failures.tolerable();
                    let storage = c.storage.clone();
                    std::thread::spawn(move || storage.delete_all(&format!("chk-{id}")));
                    match verdict {
                        Verdict::NotCounted => {
                            tracing::info!("checkpoint {id} failed: {message}")
                        }
                        Verdict::Tolerated { consecutive } => tracing::warn!(
                            "checkpoint {id} failed ({consecutive} failed in a row, \
                             {CHECKPOINTING_TOLERABLE_FAILED} = {tolerable}): {message}"
                        ),
                        Verdict::FailJob { .. } => {
                            self.job_failure(format!(
                                "Exceeded checkpoint tolerable failure threshold \
                                 ({CHECKPOINTING_TOLERABLE_FAILED} = {tolerable}): checkpoint \
                                 {id} failed: {message}"
                            ));
                        }
                    }
                    if stop_failed {
                        // the sources stopped at the barrier: resume from the latest checkpoint
                        self.job_failure(format!("stop-with-savepoint {id} failed: {message}"));
                    }
                }
                CheckpointCommand::Discard { id } => {
                    let c = self.ckpt.as_mut().expect("checkpointing");
                    c.retained.remove(&id);
                    let storage = c.storage.clone();
                    std::thread::spawn(move || storage.delete_all(&format!("chk-{id}")));
                }
            }
        }
    }

    fn send_triggers(&mut self, id: u64, timestamp: i64) {
        let request = self
            .ckpt
            .as_ref()
            .and_then(|c| c.requested.get(&id))
            .and_then(TriggerRequest::savepoint);
        let savepoint = request.is_some();
        let stop = request.is_some_and(|r| r.stop);
        let drain = request.is_some_and(|r| r.drain);
        let targets: Vec<_> = {
            let mut st = self.state.lock();
            let sizes: Vec<usize> = st.graph.vertices.iter().map(|v| v.subtasks.len()).collect();
            st.checkpoints.triggered(id, timestamp, savepoint, &sizes);
            st.graph
                .vertices
                .iter()
                .filter(|v| matches!(v.vertex.operators.first(), Some(OperatorSpec::Source(_))))
                .flat_map(|v| v.subtasks.iter())
                .map(|ev| (ev.current.attempt_id, ev.current.slot.clone()))
                .collect()
        };
        for (attempt, slot) in targets {
            if let Some(te) = slot.and_then(|s| self.rm.task_executor(&s.task_manager)) {
                te.trigger_checkpoint(
                    attempt,
                    self.id,
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

    fn write_metadata(&mut self, id: u64, handles: &[((u32, u32), String)]) -> Result<(), String> {
        let meta = {
            let st = self.state.lock();
            let rec = st.checkpoints.record(id);
            let savepoint = rec.is_some_and(|r| r.savepoint);
            let mut meta = CheckpointMetadata::new(
                id,
                st.graph.job_id.to_string(),
                rec.map(|r| r.trigger_timestamp).unwrap_or_else(now_millis),
                savepoint,
            );
            for (pos, v) in st.graph.vertices.iter().enumerate() {
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
        let c = self.ckpt.as_mut().expect("checkpointing");
        let dir = c.storage.child(&format!("chk-{id}"));
        meta.write(&dir)?;
        c.retained.insert(id, meta);
        Ok(())
    }

    fn on_completed(&mut self, id: u64) {
        let c = self.ckpt.as_mut().expect("checkpointing");
        c.failures.on_success(id);
        let dir = c.storage.child(&format!("chk-{id}"));
        let mut path = dir.location("");
        let mut requested = c.requested.remove(&id);
        let mut copy_failed = None;
        if let Some(req) = requested.as_ref().and_then(TriggerRequest::savepoint) {
            match copy_savepoint(&dir, c.retained.get(&id), &req.target, id) {
                Ok(p) => path = p,
                Err(e) => {
                    let e = format!("the savepoint could not be written: {e}");
                    tracing::warn!("savepoint {id}: {e}");
                    copy_failed = Some(e);
                }
            }
        }
        tracing::debug!("checkpoint {id} completed ({path})");
        self.state.lock().checkpoints.completed(id, path.clone());
        if let Some(e) = copy_failed {
            // the checkpoint stands; the savepoint failed (and a stopping job goes on)
            let req = requested.take().expect("a savepoint");
            req.reply(Err(e.clone()));
            if req.stops() {
                self.job_failure(format!("stop-with-savepoint {id} failed: {e}"));
                return;
            }
        }
        let stop = requested.as_ref().is_some_and(TriggerRequest::stops);
        if stop {
            tracing::info!("stopping the job after savepoint {id}");
            self.stopping = true;
        }
        // every task learns of it (sinks commit); after a stop-with-savepoint, tasks then stop
        // and end FINISHED (see `JobMaster::stopped`)
        let targets: Vec<_> = {
            let st = self.state.lock();
            st.graph
                .vertices
                .iter()
                .flat_map(|v| v.subtasks.iter())
                .filter(|ev| ev.current.state == ExecutionState::Running)
                .map(|ev| (ev.current.attempt_id, ev.current.slot.clone()))
                .collect()
        };
        for (attempt, slot) in targets {
            if let Some(te) = slot.and_then(|s| self.rm.task_executor(&s.task_manager)) {
                if stop {
                    self.stopped.insert(attempt);
                }
                te.notify_checkpoint_complete(attempt, self.id, id, stop);
            }
        }
        if let Some(req) = requested {
            req.reply(Ok((id, &path)));
        }
        if stop {
            // the tasks that were not running (none, after a complete checkpoint) are canceled
            self.cancel_tasks();
            self.check_all_terminal();
        }
    }

    /// The job ended: its checkpoints go (Flink's default, `NO_EXTERNALIZED_CHECKPOINTS`) when it
    /// finished or was canceled, unless retained on cancellation
    /// (`execution.checkpointing.externalized-checkpoint-retention`); a failed job keeps them to
    /// be restored from (`--from-savepoint <dir>/<job>/chk-<n>`).
    pub(super) fn discard_checkpoints(&mut self, status: JobStatus) {
        let Some(c) = &self.ckpt else { return };
        let keep = match status {
            JobStatus::Finished => false,
            JobStatus::Canceled => c.retain_on_cancellation,
            _ => true,
        };
        if !keep {
            c.storage.delete_all("");
        }
    }

    /// Before a restart: restore from the latest retained checkpoint whose metadata reads back,
    /// saying so when it falls back to an older one.
    pub(super) fn choose_restore_point(&mut self) {
        let Some(c) = &mut self.ckpt else { return };
        let ids: Vec<u64> = c.retained.keys().rev().copied().collect();
        let graph = self.state.lock().plan.clone();
        for (n, id) in ids.iter().enumerate() {
            let dir = c.storage.child(&format!("chk-{id}"));
            match CheckpointMetadata::read(&dir) {
                Ok(meta) => {
                    if n > 0 {
                        tracing::warn!(
                            "restoring from the older checkpoint {id}: the latest could not be read"
                        );
                    }
                    let plan = RestorePlan::new(&meta, &dir, &graph);
                    self.state.lock().checkpoints.latest_restored =
                        Some((*id, now_millis(), dir.location(""), false));
                    self.state.lock().checkpoints.restored += 1;
                    c.restore = Some(plan);
                    return;
                }
                Err(e) => {
                    tracing::warn!("checkpoint {id} cannot be restored: {e}");
                    let msg = format!("checkpoint {id} cannot be restored: {e}");
                    self.state.lock().exceptions.note(Failure {
                        timestamp: now_millis(),
                        message: msg,
                        task: None,
                        task_manager: None,
                        kind: FailureKind::Recoverable,
                    });
                }
            }
        }
        // no checkpoint completed: a savepoint the job started from still applies
    }

    pub(super) fn restore_for(
        &self,
        vertex_pos: usize,
    ) -> Option<strom_runtime::task::TaskRestore> {
        self.ckpt
            .as_ref()
            .and_then(|c| c.restore.as_ref())
            .and_then(|r| r.vertices.get(vertex_pos).cloned().flatten())
    }
}

/// Copies a completed checkpoint into `<target>/savepoint-<id>-<random>` (self-contained).
fn copy_savepoint(
    from: &CheckpointStorage,
    meta: Option<&CheckpointMetadata>,
    target: &str,
    id: u64,
) -> Result<String, String> {
    let meta = meta.ok_or("the checkpoint's metadata is gone")?;
    let root = CheckpointStorage::open(target).map_err(|e| e.to_string())?;
    let name = format!("savepoint-{id}-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let to = root.child(&name);
    for f in meta.vertices.iter().flat_map(|v| v.files.iter().flatten()) {
        let bytes = from.get(f).map_err(|e| e.to_string())?;
        to.put(f, bytes).map_err(|e| e.to_string())?;
    }
    let mut m = meta.clone();
    m.savepoint = true;
    m.write(&to)?;
    Ok(to.location(""))
}

/// A savepoint request (stopping the job after it when `stop`) for the JobMaster's events.
pub fn savepoint_event(
    target: String,
    stop: bool,
    drain: bool,
    reply: Sender<Result<String, String>>,
) -> JobEvent {
    JobEvent::Trigger(TriggerRequest::Savepoint(SavepointRequest {
        target,
        stop,
        drain: stop && drain,
        reply,
    }))
}

/// A manual checkpoint request for the JobMaster's events.
pub fn checkpoint_event(reply: Sender<Result<u64, String>>) -> JobEvent {
    JobEvent::Trigger(TriggerRequest::Checkpoint(reply))
}
