// Running and completed job lists (from /jobs/overview).

import { get } from './api.js';
import { h, badge, fmtDuration, fmtTime, table } from './format.js';

const TERMINAL = ['FINISHED', 'FAILED', 'CANCELED'];

export function jobsTable(jobs, empty) {
  return table(['Name', 'Job id', 'Start', 'End', 'Duration', 'Tasks', 'Status'],
    jobs.map((j) => ({
      href: `#/job/${j.jid}`,
      cells: [
        h('a', { href: `#/job/${j.jid}`, class: 'job-link' }, j.name),
        h('code', {}, j.jid), fmtTime(j['start-time']), fmtTime(j['end-time']), fmtDuration(j.duration),
        j.tasks ? `${j.tasks.running} running / ${j.tasks.total}` : '-', badge(j.state),
      ],
    })), empty);
}

export async function jobsPage(m) {
  const which = m[1];
  const all = (await get('/jobs/overview')).jobs.slice().sort((a, b) => b['start-time'] - a['start-time']);
  const jobs = all.filter((j) => (which === 'completed') === TERMINAL.includes(j.state));
  return h('div', {},
    h('h1', {}, which === 'completed' ? 'Completed jobs' : 'Running jobs'),
    jobsTable(jobs, which === 'completed' ? 'No completed jobs.' : 'No running jobs.'));
}
