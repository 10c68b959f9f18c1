// Cluster overview: TaskManagers, slots, jobs by state, utilisation (when /overview has it),
// and the running and recent jobs.

import { get } from './api.js';
import { h, card, pct, fmtNum } from './format.js';
import { jobsTable } from './jobs.js';

// The utilisation field(s) of /overview, whatever their exact name (any key naming utilisation).
function utilisationCards(ov) {
  const cards = [];
  for (const [k, v] of Object.entries(ov)) {
    if (!/utili[sz]ation/i.test(k)) continue;
    if (typeof v === 'number') cards.push(card('Utilisation', v <= 1 ? pct(v) : fmtNum(v), 'utilisation'));
    else if (v && typeof v === 'object') {
      // shares (0..1) such as "last-minute" and "since-start"; not the ms totals or timestamps
      for (const [k2, v2] of Object.entries(v)) {
        if (typeof v2 === 'number' && !/ms$|started/.test(k2) && v2 >= 0 && v2 <= 1) {
          cards.push(card(`Utilisation ${k2.replaceAll('-', ' ')}`, pct(v2), `utilisation-${k2}`));
        }
      }
    }
  }
  return cards;
}

export async function overviewPage() {
  const [ov, jobs] = await Promise.all([get('/overview'), get('/jobs/overview')]);
  const list = jobs.jobs.slice().sort((a, b) => b['start-time'] - a['start-time']);
  const running = list.filter((j) => !['FINISHED', 'FAILED', 'CANCELED'].includes(j.state));
  const done = list.filter((j) => ['FINISHED', 'FAILED', 'CANCELED'].includes(j.state));
  const util = utilisationCards(ov);
  return h('div', {},
    h('h1', {}, 'Cluster overview'),
    h('div', { class: 'cards', id: 'overview-cards' },
      card('TaskManagers', ov.taskmanagers, 'taskmanagers'),
      card('Slots total', ov['slots-total'], 'slots-total'),
      card('Slots available', ov['slots-available'], 'slots-available'),
      card('Running jobs', ov['jobs-running'], 'jobs-running'),
      card('Finished jobs', ov['jobs-finished'], 'jobs-finished'),
      card('Canceled jobs', ov['jobs-cancelled'], 'jobs-cancelled'),
      card('Failed jobs', ov['jobs-failed'], 'jobs-failed'),
      util),
    util.length ? null : h('p', { class: 'muted' }, 'Utilisation: this cluster\'s /overview has no utilisation field.'),
    h('p', { class: 'muted' }, `Version ${ov['flink-version']} (commit ${ov['flink-commit']})`),
    ov['strom-leader'] ? h('p', { class: 'muted', id: 'leader' },
      `High availability: this JobManager (${ov['strom-leader'].name}) leads, fencing token ${ov['strom-leader']['fencing-token']}; RPC ${ov['strom-leader'].rpc}`) : null,
    h('h2', {}, 'Running jobs'), jobsTable(running, 'No running jobs.'),
    h('h2', {}, 'Completed jobs'), jobsTable(done.slice(0, 10), 'No completed jobs.'));
}
