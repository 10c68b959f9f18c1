//! The ExecutionGraph: the parallel form of a (chained) JobGraph, with one ExecutionVertex per
//! subtask and the state machine of its execution attempts and of the job.
//!
//! Edges stay per vertex pair (the chained graph's `JobEdge`s); subtask-to-subtask connections
//! follow from the ship strategy and are never materialised.

use crate::error::SchedulerError;
pub use crate::execution_vertex_id::ExecutionVertexId;
use crate::slot_pool::SlotId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use strom_common::{AttemptId, ExecutionState, JobId, JobStatus, JobType, VertexId};
use strom_plan::{JobEdge, JobGraph, JobVertex};

/// One execution attempt of a subtask (Flink's `Execution`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub attempt_id: AttemptId,
    /// 0 for the first attempt.
    pub attempt_number: u32,
    pub state: ExecutionState,
    /// When each state this attempt went through was entered (millis).
    pub state_timestamps: BTreeMap<ExecutionState, i64>,
    pub slot: Option<SlotId>,
    pub failure: Option<String>,
    /// The job's execution round when this attempt was deployed: it names the attempt's
    /// exchanges, so that a restarted attempt never meets a channel of an older one while
    /// finished producers' results keep theirs.
    #[serde(default)]
    pub round: u32,
}

impl Execution {
    /// A new attempt in CREATED, with an id derived from (job, subtask, attempt number).
    pub fn new(job_id: JobId, id: ExecutionVertexId, attempt_number: u32, now: i64) -> Self {
        Self {
            attempt_id: Self::derive_attempt_id(job_id, id, attempt_number),
            attempt_number,
            state: ExecutionState::Created,
            state_timestamps: BTreeMap::from([(ExecutionState::Created, now)]),
            slot: None,
            failure: None,
            round: 0,
        }
    }

    /// The deterministic attempt id of attempt `attempt_number` of subtask `id` of a job.
    pub fn derive_attempt_id(
        job_id: JobId,
        id: ExecutionVertexId,
        attempt_number: u32,
    ) -> AttemptId {
        let mut bytes = Vec::with_capacity(40);
        bytes.extend_from_slice(&job_id.0.to_be_bytes());
        bytes.extend_from_slice(&id.vertex.0.to_be_bytes());
        bytes.extend_from_slice(&id.subtask.to_be_bytes());
        bytes.extend_from_slice(&attempt_number.to_be_bytes());
        AttemptId::derive(&bytes)
    }

    pub fn state_timestamp(&self, state: ExecutionState) -> Option<i64> {
        self.state_timestamps.get(&state).copied()
    }
}

/// One subtask with its current and earlier attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionVertex {
    pub id: ExecutionVertexId,
    pub current: Execution,
    pub prior_attempts: Vec<Execution>,
}

/// A job vertex with its subtasks (Flink's `ExecutionJobVertex`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionJobVertex {
    pub vertex: JobVertex,
    /// Indexed by subtask.
    pub subtasks: Vec<ExecutionVertex>,
}

impl ExecutionJobVertex {
    pub fn id(&self) -> VertexId {
        self.vertex.id
    }

    pub fn parallelism(&self) -> u32 {
        self.vertex.parallelism
    }

    /// Number of subtasks per state of their current attempt; every state is present.
    pub fn state_counts(&self) -> BTreeMap<ExecutionState, usize> {
        let mut counts: BTreeMap<ExecutionState, usize> =
            ExecutionState::ALL.iter().map(|s| (*s, 0)).collect();
        for st in &self.subtasks {
            *counts.entry(st.current.state).or_default() += 1;
        }
        counts
    }

    /// The vertex's state as Flink aggregates it: any FAILED -> FAILED; else any CANCELING ->
    /// CANCELING; else any CANCELED -> CANCELED; else any INITIALIZING -> INITIALIZING; else any
    /// RUNNING -> RUNNING; else some FINISHED -> FINISHED when all are, RUNNING otherwise; else
    /// any DEPLOYING -> DEPLOYING; else any SCHEDULED -> SCHEDULED; else CREATED.
    pub fn aggregate_state(&self) -> ExecutionState {
        use ExecutionState::*;
        let c = self.state_counts();
        let any = |s: ExecutionState| c[&s] > 0;
        if any(Failed) {
            Failed
        } else if any(Canceling) {
            Canceling
        } else if any(Canceled) {
            Canceled
        } else if any(Initializing) {
            Initializing
        } else if any(Running) {
            Running
        } else if any(Finished) {
            if c[&Finished] == self.subtasks.len() {
                Finished
            } else {
                Running
            }
        } else if any(Deploying) {
            Deploying
        } else if any(Scheduled) {
            Scheduled
        } else {
            Created
        }
    }

    /// When the first subtask started deploying (Flink's vertex start time).
    pub fn start_time(&self) -> Option<i64> {
        self.subtasks
            .iter()
            .filter_map(|s| s.current.state_timestamp(ExecutionState::Deploying))
            .min()
    }

    /// When the last subtask reached a terminal state, once all have.
    pub fn end_time(&self) -> Option<i64> {
        let mut end = None;
        for s in &self.subtasks {
            if !s.current.state.is_terminal() {
                return None;
            }
            end = end.max(s.current.state_timestamp(s.current.state));
        }
        end
    }
}

/// The ExecutionGraph of one job.
#[derive(Debug, Clone)]
pub struct ExecutionGraph {
    pub job_id: JobId,
    pub name: String,
    pub job_type: JobType,
    pub config: BTreeMap<String, String>,
    /// In topological order (sources first). Do not add, remove or reorder vertices.
    pub vertices: Vec<ExecutionJobVertex>,
    /// The chained graph's edges, one per vertex pair.
    pub edges: Vec<JobEdge>,
    status: JobStatus,
    status_timestamps: BTreeMap<JobStatus, i64>,
    position: HashMap<VertexId, usize>,
}

impl ExecutionGraph {
    /// Builds the ExecutionGraph of an already chained JobGraph (see [`crate::chain`]). The job
    /// is CREATED, with the INITIALIZING and CREATED timestamps at `now`; every subtask has
    /// attempt 0 in CREATED.
    pub fn new(job_id: JobId, chained: JobGraph, now: i64) -> Result<Self, SchedulerError> {
        chained.validate()?;
        let order = chained.topological_order()?;
        let mut slots: Vec<Option<JobVertex>> = chained.vertices.into_iter().map(Some).collect();
        let vertices: Vec<ExecutionJobVertex> = order
            .into_iter()
            .map(|i| {
                let vertex = slots[i].take().expect("topological order is a permutation");
                let subtasks = (0..vertex.parallelism)
                    .map(|s| {
                        let id = ExecutionVertexId::new(vertex.id, s);
                        ExecutionVertex {
                            id,
                            current: Execution::new(job_id, id, 0, now),
                            prior_attempts: Vec::new(),
                        }
                    })
                    .collect();
                ExecutionJobVertex { vertex, subtasks }
            })
            .collect();
        let position = vertices
            .iter()
            .enumerate()
            .map(|(i, v)| (v.id(), i))
            .collect();
        Ok(Self {
            job_id,
            name: chained.name,
            job_type: chained.job_type,
            config: chained.config,
            vertices,
            edges: chained.edges,
            status: JobStatus::Created,
            status_timestamps: BTreeMap::from([
                (JobStatus::Initializing, now),
                (JobStatus::Created, now),
            ]),
            position,
        })
    }

    pub fn status(&self) -> JobStatus {
        self.status
    }

    /// When the job last entered `status`.
    pub fn status_timestamp(&self, status: JobStatus) -> Option<i64> {
        self.status_timestamps.get(&status).copied()
    }

    pub fn status_timestamps(&self) -> &BTreeMap<JobStatus, i64> {
        &self.status_timestamps
    }

    /// Moves the job to `to` if Flink allows it, recording the time.
    pub fn transition_job(&mut self, to: JobStatus, now: i64) -> Result<(), SchedulerError> {
        if !self.status.can_transition_to(to) {
            return Err(SchedulerError::IllegalJobTransition {
                from: self.status,
                to,
            });
        }
        tracing::debug!(job = %self.job_id, from = %self.status, %to, "job status");
        self.status = to;
        self.status_timestamps.insert(to, now);
        Ok(())
    }

    pub fn job_vertex(&self, id: VertexId) -> Option<&ExecutionJobVertex> {
        self.position.get(&id).map(|i| &self.vertices[*i])
    }

    /// Index of a vertex in [`Self::vertices`] (its topological position).
    pub fn vertex_position(&self, id: VertexId) -> Option<usize> {
        self.position.get(&id).copied()
    }

    pub fn execution_vertex(&self, id: ExecutionVertexId) -> Option<&ExecutionVertex> {
        self.job_vertex(id.vertex)?
            .subtasks
            .get(id.subtask as usize)
    }

    pub fn execution_vertex_mut(&mut self, id: ExecutionVertexId) -> Option<&mut ExecutionVertex> {
        let i = *self.position.get(&id.vertex)?;
        self.vertices[i].subtasks.get_mut(id.subtask as usize)
    }

    /// Every subtask, in priority order: topological order of the vertices, then subtask index.
    pub fn execution_vertex_ids(&self) -> impl Iterator<Item = ExecutionVertexId> + '_ {
        self.vertices
            .iter()
            .flat_map(|v| v.subtasks.iter().map(|s| s.id))
    }

    pub fn num_tasks(&self) -> usize {
        self.vertices.iter().map(|v| v.subtasks.len()).sum()
    }

    /// The current attempt id of a subtask.
    pub fn current_attempt(&self, id: ExecutionVertexId) -> Option<AttemptId> {
        self.execution_vertex(id).map(|v| v.current.attempt_id)
    }

    /// Moves the current attempt of subtask `id` to `to`, recording the time and, when given, the
    /// failure. Rejected without any change: an unknown subtask, an `attempt` that is not the
    /// current one ([`SchedulerError::StaleAttempt`], safe to ignore) and a transition Flink does
    /// not allow.
    pub fn transition_task(
        &mut self,
        id: ExecutionVertexId,
        attempt: AttemptId,
        to: ExecutionState,
        now: i64,
        failure: Option<String>,
    ) -> Result<(), SchedulerError> {
        let job = self.job_id;
        let ev = self
            .execution_vertex_mut(id)
            .ok_or(SchedulerError::UnknownTask(id))?;
        let ex = &mut ev.current;
        if ex.attempt_id != attempt {
            return Err(SchedulerError::StaleAttempt {
                id,
                attempt,
                current: ex.attempt_id,
            });
        }
        if !ex.state.can_transition_to(to) {
            return Err(SchedulerError::IllegalTaskTransition {
                id,
                from: ex.state,
                to,
            });
        }
        tracing::debug!(%job, subtask = %id, attempt = ex.attempt_number, from = %ex.state, %to, "task state");
        ex.state = to;
        ex.state_timestamps.insert(to, now);
        if failure.is_some() {
            ex.failure = failure;
        }
        Ok(())
    }

    /// Records the slot the current attempt of `id` runs in (or none).
    pub fn set_slot(
        &mut self,
        id: ExecutionVertexId,
        attempt: AttemptId,
        slot: Option<SlotId>,
    ) -> Result<(), SchedulerError> {
        let ev = self
            .execution_vertex_mut(id)
            .ok_or(SchedulerError::UnknownTask(id))?;
        if ev.current.attempt_id != attempt {
            return Err(SchedulerError::StaleAttempt {
                id,
                attempt,
                current: ev.current.attempt_id,
            });
        }
        ev.current.slot = slot;
        Ok(())
    }

    /// Number of subtasks per state of their current attempt; every state is present.
    pub fn task_counts(&self) -> BTreeMap<ExecutionState, usize> {
        let mut counts: BTreeMap<ExecutionState, usize> =
            ExecutionState::ALL.iter().map(|s| (*s, 0)).collect();
        for v in &self.vertices {
            for s in &v.subtasks {
                *counts.entry(s.current.state).or_default() += 1;
            }
        }
        counts
    }

    /// Whether every subtask's current attempt is FINISHED.
    pub fn all_finished(&self) -> bool {
        self.vertices.iter().all(|v| {
            v.subtasks
                .iter()
                .all(|s| s.current.state == ExecutionState::Finished)
        })
    }

    /// Starts a new attempt (CREATED, attempt number + 1) for each subtask in `ids`, keeping the
    /// current one in `prior_attempts`. Cancel the subtasks first: this does not check that the
    /// current attempts are terminal. Unknown ids are skipped.
    pub fn reset_for_restart(&mut self, ids: &[ExecutionVertexId], now: i64) {
        let job = self.job_id;
        for id in ids {
            let Some(ev) = self.execution_vertex_mut(*id) else {
                tracing::warn!(%job, subtask = %id, "reset of an unknown subtask ignored");
                continue;
            };
            let next = Execution::new(job, *id, ev.current.attempt_number + 1, now);
            let prior = std::mem::replace(&mut ev.current, next);
            ev.prior_attempts.push(prior);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{calc, graph, job_graph, source, vid};
    use proptest::prelude::*;
    use strom_plan::{ResultType, ShipStrategy};
    use ExecutionState::*;

    fn eg() -> ExecutionGraph {
        let g = job_graph(
            vec![calc(2, "sink", 2), source(1, "src", 3)],
            vec![(1, 2, ShipStrategy::Rebalance, ResultType::Pipelined)],
        );
        ExecutionGraph::new(JobId(7), g, 100).unwrap()
    }

    #[test]
    fn builds_in_topological_order() {
        let eg = eg();
        assert_eq!(
            eg.vertices
                .iter()
                .map(|v| v.vertex.name.as_str())
                .collect::<Vec<_>>(),
            ["src", "sink"]
        );
        assert_eq!(eg.num_tasks(), 5);
        assert_eq!(eg.status(), JobStatus::Created);
        assert_eq!(eg.status_timestamp(JobStatus::Initializing), Some(100));
        assert_eq!(eg.status_timestamp(JobStatus::Created), Some(100));
        assert_eq!(eg.task_counts()[&Created], 5);
        let first = ExecutionVertexId::new(vid(1), 0);
        assert_eq!(eg.execution_vertex_ids().next(), Some(first));
        assert_eq!(first.to_string(), format!("{}_0", vid(1)));
        // attempt ids are deterministic and distinct
        assert_eq!(
            eg.current_attempt(first),
            Some(Execution::derive_attempt_id(JobId(7), first, 0))
        );
        let ids: std::collections::HashSet<_> = eg
            .execution_vertex_ids()
            .map(|i| eg.current_attempt(i).unwrap())
            .collect();
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn rejects_invalid_graph() {
        let g = job_graph(vec![source(1, "src", 0)], vec![]);
        let err = ExecutionGraph::new(JobId(1), g, 0).unwrap_err();
        assert!(matches!(err, SchedulerError::InvalidGraph(_)));
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("parallelism 0"), "{source}");
    }

    #[test]
    fn task_transitions_and_restart() {
        let mut eg = eg();
        let id = ExecutionVertexId::new(vid(1), 1);
        let a0 = eg.current_attempt(id).unwrap();
        eg.transition_task(id, a0, Scheduled, 101, None).unwrap();
        let err = eg.transition_task(id, a0, Finished, 102, None).unwrap_err();
        assert_eq!(
            err,
            SchedulerError::IllegalTaskTransition {
                id,
                from: Scheduled,
                to: Finished
            }
        );
        eg.transition_task(id, a0, Failed, 103, Some("boom".into()))
            .unwrap();
        assert_eq!(eg.job_vertex(vid(1)).unwrap().aggregate_state(), Failed);
        eg.reset_for_restart(&[id], 104);
        let ev = eg.execution_vertex(id).unwrap();
        assert_eq!(
            (
                ev.current.attempt_number,
                ev.current.state,
                ev.prior_attempts.len()
            ),
            (1, Created, 1)
        );
        assert_eq!(ev.prior_attempts[0].failure.as_deref(), Some("boom"));
        assert_eq!(
            ev.current.state_timestamps,
            BTreeMap::from([(Created, 104)])
        );
        let err = eg
            .transition_task(id, a0, Scheduled, 105, None)
            .unwrap_err();
        assert!(err.is_stale(), "{err}");
        assert!(eg
            .transition_task(ExecutionVertexId::new(vid(9), 0), a0, Scheduled, 0, None)
            .is_err());
    }

    #[test]
    fn job_transitions() {
        let mut eg = eg();
        assert!(eg.transition_job(JobStatus::Finished, 1).is_err());
        eg.transition_job(JobStatus::Running, 2).unwrap();
        eg.transition_job(JobStatus::Finished, 3).unwrap();
        assert_eq!(eg.status_timestamp(JobStatus::Finished), Some(3));
        let err = eg.transition_job(JobStatus::Running, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the job cannot go from FINISHED to RUNNING"
        );
    }

    #[test]
    fn aggregate_state_and_times() {
        let mut eg = eg();
        let src = vid(1);
        let path = [Scheduled, Deploying, Running, Finished];
        let agg = |eg: &ExecutionGraph| eg.job_vertex(src).unwrap().aggregate_state();
        assert_eq!(agg(&eg), Created);
        for (t, to) in path.iter().enumerate() {
            let id = ExecutionVertexId::new(src, 0);
            eg.transition_task(
                id,
                eg.current_attempt(id).unwrap(),
                *to,
                10 + t as i64,
                None,
            )
            .unwrap();
        }
        assert_eq!(agg(&eg), Running, "one of three finished");
        let jv = eg.job_vertex(src).unwrap();
        assert_eq!((jv.start_time(), jv.end_time()), (Some(11), None));
        for s in 1..3 {
            let id = ExecutionVertexId::new(src, s);
            for (t, to) in path.iter().enumerate() {
                eg.transition_task(
                    id,
                    eg.current_attempt(id).unwrap(),
                    *to,
                    20 * s as i64 + t as i64,
                    None,
                )
                .unwrap();
            }
        }
        let jv = eg.job_vertex(src).unwrap();
        assert_eq!(jv.aggregate_state(), Finished);
        assert_eq!((jv.start_time(), jv.end_time()), (Some(11), Some(43)));
        assert_eq!(jv.state_counts()[&Finished], 3);
        assert!(!eg.all_finished());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Transition { task: usize, to: usize, stale: bool },
        Reset(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (any::<usize>(), 0usize..9, prop::bool::weighted(0.1)).prop_map(|(task, to, stale)| Op::Transition { task, to, stale }),
            1 => any::<usize>().prop_map(Op::Reset),
        ]
    }

    proptest! {
        #[test]
        fn random_transitions_keep_timestamps_consistent(g in graph(), ops in prop::collection::vec(op(), 0..80)) {
            let mut eg = ExecutionGraph::new(JobId(3), crate::chain(&g), 0).unwrap();
            let ids: Vec<ExecutionVertexId> = eg.execution_vertex_ids().collect();
            // the model: the states each current attempt went through, and its number of resets
            let mut visited: Vec<Vec<ExecutionState>> = vec![vec![Created]; ids.len()];
            let mut resets = vec![0usize; ids.len()];
            for (t, op) in ops.into_iter().enumerate() {
                let now = t as i64 + 1;
                match op {
                    Op::Transition { task, to, stale } => {
                        let k = task % ids.len();
                        let id = ids[k];
                        let to = ExecutionState::ALL[to];
                        let before = eg.execution_vertex(id).unwrap().clone();
                        let attempt = if stale { AttemptId(before.current.attempt_id.0 ^ 1) } else { before.current.attempt_id };
                        let legal = !stale && before.current.state.can_transition_to(to);
                        let res = eg.transition_task(id, attempt, to, now, (to == Failed).then(|| "x".to_string()));
                        prop_assert_eq!(res.is_ok(), legal);
                        if legal {
                            visited[k].push(to);
                        } else {
                            prop_assert_eq!(eg.execution_vertex(id).unwrap(), &before);
                        }
                    }
                    Op::Reset(task) => {
                        let k = task % ids.len();
                        eg.reset_for_restart(&[ids[k]], now);
                        visited[k] = vec![Created];
                        resets[k] += 1;
                    }
                }
                for (k, id) in ids.iter().enumerate() {
                    let ev = eg.execution_vertex(*id).unwrap();
                    let ex = &ev.current;
                    prop_assert_eq!(ex.state, *visited[k].last().unwrap());
                    let keys: Vec<ExecutionState> = ex.state_timestamps.keys().copied().collect();
                    let mut want = visited[k].clone();
                    want.sort();
                    prop_assert_eq!(keys, want);
                    // timestamps do not go back in the order the states were entered
                    let times: Vec<i64> = visited[k].iter().map(|s| ex.state_timestamps[s]).collect();
                    prop_assert!(times.windows(2).all(|w| w[0] <= w[1]), "{:?}", times);
                    prop_assert_eq!(ev.prior_attempts.len(), resets[k]);
                    prop_assert_eq!(ex.attempt_number as usize, resets[k]);
                }
                let counts = eg.task_counts();
                prop_assert_eq!(counts.values().sum::<usize>(), ids.len());
            }
        }
    }
}
