// A job: header with Cancel and Stop, tabs (overview with the DAG and a vertex's subtasks,
// timeline, checkpoints, exceptions, configuration).

import { get, post, patch } from './api.js';
import { h, badge, fmtDuration, fmtTime, fmtNum, fmtBytes, table, timeSplit, splitBar, splitText, legend, isTerminal } from './format.js';
import { drawDag } from './dag.js';
import { timelineTab, checkpointsTab, exceptionsTab, configurationTab } from './job_tabs.js';

// messages of the last Cancel / Stop per job, kept across refreshes
const actionMessages = new Map();
// what was typed as the savepoint directory of Stop, kept across refreshes
const stopDirs = new Map();

function actionBox(jid) {
  const m = actionMessages.get(jid);
  if (!m) return null;
  return h('div', { class: m.error ? 'error-box' : 'ok-box', id: 'action-message' }, m.text);
}

async function cancel(jid) {
  try {
    await patch(`/jobs/${jid}?mode=cancel`);
    actionMessages.set(jid, { text: 'Cancel requested.' });
  } catch (e) {
    actionMessages.set(jid, { error: true, text: `Cancel failed: ${e.message}` });
  }
  window.stromRefresh();
}

async function stop(jid, dir) {
  const body = dir ? { targetDirectory: dir, drain: false } : { drain: false };
  try {
    const r = await post(`/jobs/${jid}/stop`, body);
    actionMessages.set(jid, { text: `Stop with savepoint requested (trigger ${r['request-id']}).` });
    window.stromRefresh();
    for (let i = 0; i < 120; i++) {
      await new Promise((res) => setTimeout(res, 500));
      const st = await get(`/jobs/${jid}/savepoints/${r['request-id']}`);
      if (st.status.id !== 'COMPLETED') continue;
      const op = st.operation || {};
      actionMessages.set(jid, op['failure-cause']
        ? { error: true, text: `Stop failed: ${op['failure-cause']['stack-trace']}` }
        : { text: `Stopped with savepoint ${op.location}` });
      break;
    }
  } catch (e) {
    actionMessages.set(jid, { error: true, text: `Stop failed: ${e.message}` });
  }
  window.stromRefresh();
}

function header(job) {
  const running = !isTerminal(job.state);
  const dir = h('input', { type: 'text', id: 'stop-dir', placeholder: 'savepoint dir (default state.savepoints.dir)', size: 32, oninput: () => { stopDirs.set(job.jid, dir.value); } });
  dir.value = stopDirs.get(job.jid) || '';
  return h('div', { class: 'jobhead' },
    h('h1', { id: 'job-name' }, job.name), h('span', { id: 'job-state' }, badge(job.state)),
    h('span', { class: 'meta' }, h('code', {}, job.jid), ` · ${job['job-type']} · started ${fmtTime(job['start-time'])} · duration ${fmtDuration(job.duration)}`,
      job['strom-records'] ? ` · read ${fmtNum(job['strom-records'].in)} rows, wrote ${fmtNum(job['strom-records'].out)} rows` : ''),
    running ? h('div', { class: 'actions' },
      job['job-type'] === 'STREAMING' ? [dir, h('button', { class: 'secondary', id: 'stop-job', onclick: () => stop(job.jid, dir.value.trim()) }, 'Stop')] : null,
      h('button', { class: 'danger', id: 'cancel-job', onclick: () => cancel(job.jid) }, 'Cancel')) : null);
}

function tabs(jid, active) {
  const names = [['overview', 'Overview'], ['timeline', 'Timeline'], ['checkpoints', 'Checkpoints'], ['exceptions', 'Exceptions'], ['configuration', 'Configuration']];
  return h('div', { class: 'tabs' }, names.map(([k, label]) => h('a', { href: `#/job/${jid}/${k}`, class: k === active ? 'active' : null, id: `tab-${k}` }, label)));
}

function verticesTable(job) {
  return table(['Name', { label: 'Parallelism', num: true }, 'Status', { label: 'Records in', num: true }, { label: 'Records out', num: true },
    { label: 'Bytes in', num: true }, { label: 'Bytes out', num: true }, 'Busy / backpressured / idle', '', 'Duration'],
  job.vertices.map((v) => {
    const split = timeSplit(v.metrics);
    return {
      href: `#/job/${job.jid}/vertex/${v.id}`,
      cells: [v.name, v.parallelism, badge(v.status), fmtNum(v.metrics['read-records']), fmtNum(v.metrics['write-records']),
        fmtBytes(v.metrics['read-bytes']), fmtBytes(v.metrics['write-bytes']), splitText(split), splitBar(split), fmtDuration(v.duration)],
    };
  }));
}

async function subtasksPanel(jid, vid) {
  const v = await get(`/jobs/${jid}/vertices/${vid}`);
  const rows = v.subtasks.map((t) => {
    const split = timeSplit(t.metrics);
    const tm = t['taskmanager-id'];
    return [t.subtask, t.attempt, tm ? h('a', { href: `#/taskmanager/${encodeURIComponent(tm)}` }, tm) : '-', t.endpoint || '-', badge(t.status),
      fmtTime(t['start-time']), fmtDuration(t.duration), fmtNum(t.metrics['read-records']), fmtNum(t.metrics['write-records']), splitText(split), splitBar(split)];
  });
  const prior = v.subtasks.flatMap((t) => (t['strom-prior-attempts'] || []).map((p) => [t.subtask, p.attempt, p['taskmanager-id'] || '-', badge(p.status), p.failure || '']));
  return h('div', { class: 'panel', id: 'subtasks' },
    h('h2', {}, `Subtasks of ${v.name}`),
    table(['Subtask', 'Attempt', 'TaskManager', 'Endpoint', 'Status', 'Start', 'Duration', { label: 'Records in', num: true }, { label: 'Records out', num: true }, 'Busy / backpressured / idle', ''], rows),
    prior.length ? [h('h3', {}, 'Earlier attempts'), table(['Subtask', 'Attempt', 'TaskManager', 'Status', 'Failure'], prior)] : null);
}

async function overviewTab(job, plan, vid) {
  const dag = h('div', { class: 'dag', id: 'dag' });
  dag.append(drawDag(job.vertices, plan.plan, vid, (id) => { location.hash = `#/job/${job.jid}/vertex/${id}`; }));
  return h('div', {},
    job['strom-waiting-for-slots'] ? h('div', { class: 'error-box' }, job['strom-waiting-for-slots']) : null,
    legend(), dag,
    vid ? await subtasksPanel(job.jid, vid) : h('p', { class: 'muted' }, 'Click a vertex to see its subtasks.'),
    h('h2', {}, 'Vertices'), verticesTable(job));
}

export async function jobPage(m) {
  const jid = m[1];
  const tab = m[2] || 'overview';
  const vid = m[3];
  const [job, plan] = await Promise.all([get(`/jobs/${jid}`), get(`/jobs/${jid}/plan`)]);
  let body;
  if (tab === 'overview') body = await overviewTab(job, plan, vid);
  else if (tab === 'timeline') body = timelineTab(job);
  else if (tab === 'checkpoints') body = await checkpointsTab(job);
  else if (tab === 'exceptions') body = await exceptionsTab(job);
  else body = await configurationTab(job);
  return h('div', {}, header(job), actionBox(jid), tabs(jid, tab), body);
}
