// The job page's other tabs: timeline, checkpoints, exceptions, configuration.

import { get, getOptional } from './api.js';
import { h, badge, fmtDuration, fmtTime, fmtBytes, table, kvTable, card } from './format.js';

const JOB_STATES = ['INITIALIZING', 'CREATED', 'RUNNING', 'FAILING', 'RESTARTING', 'CANCELLING', 'SUSPENDED', 'FAILED', 'CANCELED', 'FINISHED'];

// The job's states in the order it entered them (from `timestamps`), with how long it stayed.
export function jobStateSpans(job) {
  const entered = Object.entries(job.timestamps || {}).filter(([, t]) => t > 0).sort((a, b) => a[1] - b[1] || JOB_STATES.indexOf(a[0]) - JOB_STATES.indexOf(b[0]));
  const end = job['end-time'] > 0 ? job['end-time'] : job.now;
  return entered.map(([state, t], i) => ({ state, start: t, end: i + 1 < entered.length ? entered[i + 1][1] : end }));
}

function bars(rows, t0, t1) {
  const span = Math.max(1, t1 - t0);
  return h('div', { class: 'timeline' }, rows.map((r) => h('div', { class: 'row' },
    h('div', { title: r.label }, r.label),
    h('div', { class: 'track' }, h('div', {
      class: `bar ${r.state}`,
      style: `left:${(100 * (r.start - t0)) / span}%;width:${(100 * (r.end - r.start)) / span}%`,
      title: `${r.state}: ${fmtTime(r.start)} to ${fmtTime(r.end)}`,
    })),
    h('div', { class: 'muted' }, fmtDuration(r.end - r.start)))));
}

export function timelineTab(job) {
  const spans = jobStateSpans(job);
  const t0 = spans.length ? spans[0].start : job['start-time'];
  const t1 = job['end-time'] > 0 ? job['end-time'] : job.now;
  const vertices = job.vertices.filter((v) => v['start-time'] > 0).map((v) => ({
    label: v.name, state: v.status, start: v['start-time'], end: v['end-time'] > 0 ? v['end-time'] : job.now,
  }));
  return h('div', { id: 'timeline' },
    h('h2', {}, 'Job states'),
    bars(spans.map((s) => ({ ...s, label: s.state })), t0, t1),
    table(['State', 'Entered', 'Left', 'Time in state'], spans.map((s, i) => [badge(s.state), fmtTime(s.start), i + 1 < spans.length ? fmtTime(s.end) : (job['end-time'] > 0 ? '-' : '(now)'), fmtDuration(s.end - s.start)])),
    h('h2', {}, 'Vertices'),
    vertices.length ? bars(vertices, t0, t1) : h('p', { class: 'muted' }, 'No vertex has been deployed yet.'));
}

function checkpointRow(c) {
  return [c.id, badge(c.status), c.is_savepoint ? 'savepoint' : 'checkpoint', fmtTime(c.trigger_timestamp), fmtTime(c.latest_ack_timestamp),
    fmtDuration(c.end_to_end_duration), fmtBytes(c.state_size), `${c.num_acknowledged_subtasks}/${c.num_subtasks}`,
    c.external_path || c.failure_message || ''];
}

export async function checkpointsTab(job) {
  const [cp, conf] = await Promise.all([get(`/jobs/${job.jid}/checkpoints`), getOptional(`/jobs/${job.jid}/checkpoints/config`)]);
  const latest = cp.latest || {};
  const latestRows = [['Completed', latest.completed], ['Savepoint', latest.savepoint], ['Failed', latest.failed]]
    .map(([k, c]) => [k, c ? `#${c.id} at ${fmtTime(c.latest_ack_timestamp || c.failure_timestamp)}${c.external_path ? ` · ${c.external_path}` : ''}${c.failure_message ? ` · ${c.failure_message}` : ''}` : 'none']);
  latestRows.push(['Restored', latest.restored ? `#${latest.restored.id} from ${latest.restored.external_path} at ${fmtTime(latest.restored.restore_timestamp)}` : 'none']);
  const c = cp.counts || {};
  return h('div', { id: 'checkpoints' },
    h('div', { class: 'cards' }, card('Triggered', c.total), card('In progress', c.in_progress), card('Completed', c.completed), card('Failed', c.failed), card('Restored', c.restored)),
    h('h2', {}, 'Latest'), kvTable(latestRows),
    h('h2', {}, 'History'),
    table(['Id', 'Status', 'Type', 'Triggered', 'Latest acknowledgement', 'End to end', 'State size', 'Acknowledged', 'Path / failure'], (cp.history || []).map(checkpointRow), 'No checkpoints yet.'),
    h('h2', {}, 'Checkpoint configuration'),
    conf ? kvTable(Object.entries(conf).map(([k, v]) => [k, k === 'interval' && v >= 9e18 ? 'disabled' : v])) : h('p', { class: 'muted' }, 'Not available.'));
}

export async function exceptionsTab(job) {
  const ex = await get(`/jobs/${job.jid}/exceptions`);
  const entries = (ex.exceptionHistory && ex.exceptionHistory.entries) || [];
  const root = job['strom-root-cause'] || (entries[0] && entries[0].stacktrace);
  return h('div', { id: 'exceptions' },
    h('h2', {}, 'Root cause'),
    root ? h('pre', { id: 'root-cause' }, root) : h('p', { class: 'muted' }, 'No failure.'),
    h('h2', {}, 'Exception history'),
    table(['Time', 'Task', 'TaskManager', 'Exception'], entries.map((e) => [fmtTime(e.timestamp), e.taskName || '-', e.taskManagerId || e.endpoint || '-', h('pre', {}, e.stacktrace)]), 'No exceptions.'),
    ex.exceptionHistory && ex.exceptionHistory.truncated ? h('p', { class: 'muted' }, 'The history is truncated.') : null);
}

export async function configurationTab(job) {
  const [conf, cpConf] = await Promise.all([getOptional(`/jobs/${job.jid}/config`), getOptional(`/jobs/${job.jid}/checkpoints/config`)]);
  const parts = [h('h2', {}, 'Job'), kvTable([['Job id', job.jid], ['Name', job.name], ['Type', job['job-type']], ['Max parallelism', job.maxParallelism],
    ['Vertices', job.vertices.map((v) => `${v.name} (parallelism ${v.parallelism})`).join('; ')]])];
  if (conf) {
    const ec = conf['execution-config'] || {};
    const user = ec['user-config'] || {};
    parts.push(h('h2', {}, 'Execution configuration'),
      kvTable(Object.entries(ec).filter(([k]) => k !== 'user-config')),
      h('h2', {}, 'Job configuration'), kvTable(Object.entries(user), 'No job-level keys (SET statements, -D).'));
  } else {
    parts.push(h('p', { class: 'muted' }, 'This cluster has no /jobs/:id/config endpoint: the job configuration is not available.'));
  }
  if (cpConf) parts.push(h('h2', {}, 'Checkpointing'), kvTable(Object.entries(cpConf)));
  return h('div', { id: 'configuration' }, parts);
}
