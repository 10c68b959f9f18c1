// The job graph drawn as SVG, laid out by dagre (vendored in /ui/vendor/dagre.min.js): one box per
// vertex (name, parallelism, state, records in/out, busy/backpressured/idle share), edges labelled
// with their ship strategy (from /jobs/:id/plan).

import { fmtNum, timeSplit } from './format.js';

const pc = (x) => `${(100 * x).toFixed(1)}%`;

const NS = 'http://www.w3.org/2000/svg';
const W = 280;
const H = 104;

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const STATE_COLOR = {
  RUNNING: 'var(--running)', FINISHED: 'var(--finished)', FAILED: 'var(--failed)',
  CANCELED: 'var(--canceled)', CANCELING: 'var(--canceled)',
};

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

// vertices: /jobs/:id's "vertices"; plan: /jobs/:id/plan's "plan"; onClick(vertexId)
export function drawDag(vertices, plan, selected, onClick) {
  if (typeof dagre === 'undefined') throw new Error('the layout library dagre did not load (/ui/vendor/dagre.min.js)');
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 80, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const byId = new Map(vertices.map((v) => [v.id, v]));
  for (const n of plan.nodes) g.setNode(n.id, { width: W, height: H });
  let e = 0;
  for (const n of plan.nodes) {
    for (const input of n.inputs || []) {
      const label = input.ship_strategy + (input.exchange === 'blocking' ? ' (blocking)' : '');
      g.setEdge(input.id, n.id, { label, width: label.length * 6.4 + 10, height: 16, labelpos: 'c' }, `e${e++}`);
    }
  }
  dagre.layout(g);
  const gw = Math.ceil(g.graph().width || W);
  const gh = Math.ceil(g.graph().height || H);
  const svg = s('svg', { width: gw, height: gh, viewBox: `0 0 ${gw} ${gh}`, id: 'dag-svg' });
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8a99a8' }))));
  for (const id of g.edges()) {
    const ed = g.edge(id);
    const d = ed.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    const grp = s('g', { class: 'edge', 'data-source': id.v, 'data-target': id.w });
    grp.append(s('path', { d, 'marker-end': 'url(#arrow)' }));
    if (ed.x !== undefined) {
      grp.append(s('rect', { x: ed.x - ed.width / 2, y: ed.y - 9, width: ed.width, height: 16, rx: 3 }));
      grp.append(s('text', { x: ed.x, y: ed.y + 3, 'text-anchor': 'middle', class: 'ship-strategy' }, ed.label));
    }
    svg.append(grp);
  }
  for (const n of plan.nodes) {
    const pos = g.node(n.id);
    const v = byId.get(n.id) || { name: n.description, parallelism: n.parallelism, status: '?', metrics: {} };
    const m = v.metrics || {};
    const x = pos.x - W / 2;
    const y = pos.y - H / 2;
    const grp = s('g', { class: `node${n.id === selected ? ' selected' : ''}`, 'data-vertex': n.id, transform: `translate(${x},${y})` });
    grp.addEventListener('click', () => onClick(n.id));
    const title = s('title', {}, `${v.name}\n${(n.description || '').replaceAll('<br/>', '\n')}`);
    grp.append(title);
    grp.append(s('rect', { class: 'box', width: W, height: H }));
    grp.append(s('rect', { x: 0, y: 0, width: 5, height: H, fill: STATE_COLOR[v.status] || 'var(--pending)' }));
    grp.append(s('text', { x: 12, y: 18, class: 'title' }, clip(v.name, 38)));
    grp.append(s('text', { x: 12, y: 36, class: 'small' }, `Parallelism: ${v.parallelism}`));
    grp.append(s('text', { x: W - 10, y: 36, 'text-anchor': 'end', class: 'small vertex-state' }, v.status));
    grp.append(s('text', { x: 12, y: 54 }, `Records in: ${fmtNum(m['read-records'])}`));
    grp.append(s('text', { x: 12, y: 70 }, `Records out: ${fmtNum(m['write-records'])}`));
    const split = timeSplit(m);
    const bw = W - 24;
    let off = 12;
    for (const k of ['busy', 'backpressured', 'idle']) {
      const w = split ? bw * split[k] : 0;
      grp.append(s('rect', { x: off, y: 80, width: w, height: 7, fill: `var(--${k})` }));
      off += w;
    }
    if (!split) grp.append(s('rect', { x: 12, y: 80, width: bw, height: 7, fill: '#e7ebef' }));
    grp.append(s('text', { x: 12, y: 99, class: 'small' },
      split ? `busy ${pc(split.busy)} · backpressured ${pc(split.backpressured)} · idle ${pc(split.idle)}` : 'no time measured yet'));
    svg.append(grp);
  }
  return svg;
}
