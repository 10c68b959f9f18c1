// DOM and formatting helpers shared by the pages.

// h('div', {class: 'x', onclick: f}, child, 'text', [more children])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const badge = (state) => h('span', { class: `badge ${state}` }, state);

export function fmtDuration(ms) {
  if (ms === undefined || ms === null || ms < 0) return '-';
  if (ms < 1000) return `${ms} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hr = Math.floor(m / 60);
  if (hr < 24) return `${hr}h ${m % 60}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

export function fmtTime(ts) {
  if (!ts || ts <= 0) return '-';
  const d = new Date(ts);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function fmtNum(n) {
  if (n === undefined || n === null) return '-';
  if (typeof n !== 'number') return String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function fmtBytes(n) {
  if (n === undefined || n === null || n < 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export const pct = (x) => (x === undefined || x === null || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)} %`);

// Busy / backpressured / idle shares from a vertex's or subtask's accumulated times.
export function timeSplit(metrics) {
  const busy = Number(metrics['accumulated-busy-time'] || 0);
  const bp = Number(metrics['accumulated-backpressured-time'] || 0);
  const idle = Number(metrics['accumulated-idle-time'] || 0);
  const total = busy + bp + idle;
  if (total <= 0) return null;
  return { busy: busy / total, backpressured: bp / total, idle: idle / total };
}

export function splitBar(split) {
  if (!split) return h('span', { class: 'muted' }, '-');
  const seg = (k) => h('span', { class: k, style: `width:${(100 * split[k]).toFixed(2)}%` });
  return h('div', { class: 'split', title: `busy ${pct(split.busy)}, backpressured ${pct(split.backpressured)}, idle ${pct(split.idle)}` },
    seg('busy'), seg('backpressured'), seg('idle'));
}

export const splitText = (split) => (split ? `${pct(split.busy)} / ${pct(split.backpressured)} / ${pct(split.idle)}` : '-');

export function legend() {
  const item = (cls, label) => h('span', {}, h('i', { style: `background:var(--${cls})` }), label);
  return h('div', { class: 'legend' }, item('busy', 'busy'), item('backpressured', 'backpressured'), item('idle', 'idle'));
}

// table(['a', {label: 'b', num: true}], rows): a row is an array of cells, or {cells, href}.
export function table(headers, rows, empty = 'Nothing to show.') {
  const head = h('tr', {}, headers.map((c) => (typeof c === 'string' ? h('th', {}, c) : h('th', { class: c.num ? 'num' : null }, c.label))));
  const body = rows.map((r) => {
    const cells = Array.isArray(r) ? r : r.cells;
    const tr = h('tr', r.href ? { class: 'clickable', onclick: () => { location.hash = r.href; } } : {},
      cells.map((c, i) => h('td', { class: typeof headers[i] === 'object' && headers[i].num ? 'num' : null }, c)));
    return tr;
  });
  if (!rows.length) body.push(h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, empty)));
  return h('table', {}, h('thead', {}, head), h('tbody', {}, body));
}

// A value as text: objects as "key: value, ...", booleans and null spelt out.
export function valueText(v) {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(valueText).join(', ');
  if (typeof v === 'object') {
    const parts = Object.entries(v).filter(([, x]) => !(x && typeof x === 'object' && !Object.keys(x).length));
    return parts.length ? parts.map(([k, x]) => `${k}: ${valueText(x)}`).join(', ') : '-';
  }
  return String(v);
}

export function kvTable(entries, empty = 'Nothing to show.') {
  return h('table', { class: 'kv' }, h('tbody', {},
    entries.length ? entries.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, v instanceof Node ? v : valueText(v))))
      : h('tr', {}, h('td', { class: 'muted', colspan: 2 }, empty))));
}

export const card = (label, value, id) => h('div', { class: 'card', id }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));

export const isTerminal = (state) => ['FINISHED', 'FAILED', 'CANCELED', 'SUSPENDED'].includes(state);
