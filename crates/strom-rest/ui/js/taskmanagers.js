// TaskManagers (/taskmanagers) and one TaskManager (/taskmanagers/:id, and its metrics when the
// cluster serves /taskmanagers/:id/metrics).

import { get, getOptional } from './api.js';
import { logsTable } from './jobmanager.js';
import { h, fmtDuration, fmtBytes, fmtNum, table, kvTable, badge, card } from './format.js';

export async function taskManagersPage() {
  const tms = (await get('/taskmanagers')).taskmanagers;
  return h('div', {},
    h('h1', {}, 'TaskManagers'),
    table(['Id', 'Path', { label: 'Data port', num: true }, { label: 'Slots', num: true }, { label: 'Free slots', num: true },
      { label: 'Last heartbeat', num: true }, { label: 'CPU cores', num: true }, { label: 'Physical memory', num: true }, { label: 'Memory used', num: true }],
    tms.map((t) => ({
      href: `#/taskmanager/${encodeURIComponent(t.id)}`,
      cells: [h('a', { href: `#/taskmanager/${encodeURIComponent(t.id)}` }, t.id), t.path, t.dataPort, t.slotsNumber, t.freeSlots,
        `${fmtDuration(Date.now() - t.timeSinceLastHeartbeat)} ago`, t.hardware.cpuCores, fmtBytes(t.hardware.physicalMemory), fmtBytes(t['strom-process'].rssBytes)],
    })), 'No TaskManager is registered.'));
}

async function metrics(id) {
  const names = await getOptional(`/taskmanagers/${encodeURIComponent(id)}/metrics`);
  if (!Array.isArray(names)) return h('p', { class: 'muted' }, 'This cluster serves no /taskmanagers/:id/metrics.');
  if (!names.length) return h('p', { class: 'muted' }, 'No metrics.');
  const ids = names.map((m) => m.id);
  const values = await get(`/taskmanagers/${encodeURIComponent(id)}/metrics?get=${ids.map(encodeURIComponent).join(',')}`);
  return kvTable(values.map((m) => [m.id, fmtNum(Number.isNaN(Number(m.value)) ? m.value : Number(m.value))]));
}

export async function taskManagerPage(m) {
  const id = decodeURIComponent(m[1]);
  const t = await get(`/taskmanagers/${encodeURIComponent(id)}`);
  const tasks = t['strom-tasks'] || [];
  return h('div', {},
    h('h1', {}, `TaskManager ${t.id}`),
    h('div', { class: 'cards' }, card('Slots', t.slotsNumber), card('Free slots', t.freeSlots), card('Last heartbeat', `${fmtDuration(Date.now() - t.timeSinceLastHeartbeat)} ago`),
      card('CPU cores', t.hardware.cpuCores), card('Physical memory', fmtBytes(t.hardware.physicalMemory)),
      card('Memory used (RSS)', fmtBytes(t['strom-process'].rssBytes)), card('CPU time', fmtDuration(t['strom-process'].cpuTimeMs)),
      card('Threads', t['strom-process'].threads)),
    h('h2', {}, 'Details'),
    kvTable([['Path', t.path], ['Data port', t.dataPort], ['Allocated slots', t.allocatedSlots.length], ['Blocked', String(t.blocked)],
      ['Total resource', t.totalResource], ['Free resource', t.freeResource]]),
    h('h2', {}, 'Tasks'),
    table(['Job', 'Task', 'Subtask', 'Attempt', 'Status'], tasks.map((x) => ({
      href: `#/job/${x.jobId}/vertex/${x.vertexId}`,
      cells: [h('code', {}, x.jobId), x.taskName, x.subtaskIndex, x.attemptNumber, badge(x.status)],
    })), 'No tasks run here.'),
    h('h2', {}, 'Metrics'),
    await metrics(id),
    h('h2', {}, 'Logs'),
    await tmLogs(id));
}

async function tmLogs(id) {
  const base = `/taskmanagers/${encodeURIComponent(id)}`;
  try {
    const logs = await getOptional(`${base}/logs`);
    return logs ? logsTable(base, logs) : h('p', { class: 'muted' }, 'The TaskManager did not list its log files.');
  } catch (e) {
    // 503: the TaskManager did not answer
    return h('p', { class: 'muted' }, `The TaskManager's log files are not available: ${e.message}`);
  }
}
