// The JobManager: its configuration (/jobmanager/config, else the dashboard's /config), its
// metrics (/jobmanager/metrics) and logs (/jobmanager/logs) when the cluster serves them.

import { get, getOptional } from './api.js';
import { h, kvTable, table, fmtBytes, fmtNum } from './format.js';

async function configSection() {
  const jm = await getOptional('/jobmanager/config');
  if (Array.isArray(jm)) {
    return [h('h2', {}, 'Configuration'), kvTable(jm.map((e) => [e.key, e.value]).sort((a, b) => a[0].localeCompare(b[0])), 'No configuration keys.')];
  }
  const c = await get('/config');
  return [h('h2', {}, 'Configuration'),
    h('p', { class: 'muted' }, 'This cluster has no /jobmanager/config; the dashboard configuration (/config):'),
    kvTable(Object.entries(c))];
}

async function metricsSection() {
  const names = await getOptional('/jobmanager/metrics');
  if (!Array.isArray(names) || !names.length) return [];
  const values = await get(`/jobmanager/metrics?get=${names.map((m) => encodeURIComponent(m.id)).join(',')}`);
  return [h('h2', {}, 'Metrics'), kvTable(values.map((m) => [m.id, fmtNum(Number.isNaN(Number(m.value)) ? m.value : Number(m.value))]))];
}

async function logsSection() {
  const logs = await getOptional('/jobmanager/logs');
  if (!logs) {
    return [h('h2', {}, 'Logs'), h('p', { class: 'muted', id: 'logs-unavailable' }, 'Logs are not available: this cluster serves no /jobmanager/logs (Strom logs to its standard error).')];
  }
  return [h('h2', {}, 'Logs'), logsTable('/jobmanager', logs)];
}

// The log files of a process (`${base}/logs`), each linked to its text.
export function logsTable(base, logs) {
  const list = logs.logs || [];
  return table(['Name', { label: 'Size', num: true }], list.map((l) => [h('a', { href: `${base}/logs/${encodeURIComponent(l.name)}`, target: '_blank' }, l.name), fmtBytes(l.size)]),
    'No log files (start the process with -D env.log.dir=DIR to keep its log).');
}

export async function jobManagerPage() {
  const [config, metrics, logs] = await Promise.all([configSection(), metricsSection(), logsSection()]);
  return h('div', {}, h('h1', {}, 'JobManager'), config, metrics, logs);
}
