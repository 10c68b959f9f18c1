// The Strom Web UI: hash routes (as Flink's UI), each page a function that builds its DOM from
// the REST API; the current page is rebuilt every `web.refresh-interval` ms (from /config).

import { get } from './api.js';
import { h } from './format.js';
import { overviewPage } from './overview.js';
import { jobsPage } from './jobs.js';
import { jobPage } from './job.js';
import { taskManagersPage, taskManagerPage } from './taskmanagers.js';
import { jobManagerPage } from './jobmanager.js';
import { submitPage } from './submit.js';

// [pattern, page, refreshes by itself]
const routes = [
  [/^overview$/, overviewPage, true],
  [/^jobs\/(running|completed)$/, jobsPage, true],
  [/^job\/([0-9a-f]{32})(?:\/(overview|timeline|checkpoints|exceptions|configuration))?$/, jobPage, true],
  [/^job\/([0-9a-f]{32})\/vertex\/([0-9a-f]{32})$/, (m) => jobPage([m[0], m[1], 'overview', m[2]]), true],
  [/^taskmanagers$/, taskManagersPage, true],
  [/^taskmanager\/(.+)$/, taskManagerPage, true],
  [/^jobmanager$/, jobManagerPage, true],
  [/^submit$/, submitPage, false],
];

const view = document.getElementById('view');
const status = document.getElementById('status');
let refreshMs = 3000;
let generation = 0;
let timer = null;

function currentRoute() {
  const path = location.hash.replace(/^#\/?/, '') || 'overview';
  for (const [re, page, live] of routes) {
    const m = path.match(re);
    if (m) return { path, page, live, match: m };
  }
  return { path, page: null, live: false, match: null };
}

function highlightNav(path) {
  for (const a of document.querySelectorAll('#nav a')) {
    const r = a.dataset.route;
    const on = path === r || path.startsWith(`${r}/`) || (r === 'jobs/running' && path.startsWith('job/'));
    a.classList.toggle('active', on);
  }
}

async function render(first) {
  const gen = ++generation;
  const route = currentRoute();
  highlightNav(route.path);
  if (!route.page) {
    view.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, `No page at #/${route.path}. `, h('a', { href: '#/overview' }, 'Go to the overview.')));
    return;
  }
  if (!first && !route.live) return;
  try {
    const node = await route.page(route.match);
    if (gen !== generation) return; // the user navigated meanwhile
    // keep the scroll position of the page across refreshes
    const y = window.scrollY;
    view.replaceChildren(node);
    if (!first) window.scrollTo(0, y);
    status.textContent = `updated ${new Date().toLocaleTimeString()} · refresh every ${refreshMs / 1000} s`;
    status.classList.remove('error');
  } catch (e) {
    if (gen !== generation) return;
    status.textContent = `refresh failed: ${e.message}`;
    status.classList.add('error');
    if (first) view.replaceChildren(h('div', { class: 'error-box' }, e.message));
  }
}

function schedule() {
  clearInterval(timer);
  timer = setInterval(() => render(false), refreshMs);
}

// lets a page ask for an immediate refresh (after Cancel, Stop, Submit)
window.stromRefresh = () => render(false);

async function start() {
  try {
    const conf = await get('/config');
    const r = Number(conf['refresh-interval']);
    if (Number.isFinite(r) && r >= 100) refreshMs = r;
  } catch (e) {
    status.textContent = `cannot read /config: ${e.message}`;
  }
  window.addEventListener('hashchange', () => { render(true); schedule(); });
  await render(true);
  schedule();
}

start();
