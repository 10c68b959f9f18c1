// "Submit SQL": a script (SET, CREATE TABLE, INSERT INTO) sent to POST /v1/sql. This page does not
// refresh by itself, so what is typed stays.

import { post } from './api.js';
import { h } from './format.js';

const EXAMPLE = `-- an unbounded job: generated rows into a blackhole sink
CREATE TABLE gen (
  id BIGINT,
  name STRING
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '1000'
);
CREATE TABLE sink (
  id BIGINT,
  name STRING
) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT id, name FROM gen WHERE id % 2 = 0;
`;

let draft = EXAMPLE;

// Puts the textarea's caret at a 1-based line and column.
function selectPosition(area, line, column) {
  const lines = area.value.split('\n');
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
  area.focus();
  area.setSelectionRange(offset, offset + 1);
}

export async function submitPage() {
  const area = h('textarea', { id: 'sql', spellcheck: 'false', oninput: () => { draft = area.value; } });
  area.value = draft;
  const parallelism = h('input', { type: 'number', id: 'parallelism', min: 1, placeholder: 'parallelism.default', style: 'width:12em' });
  const result = h('div', { id: 'submit-result' });
  const button = h('button', { id: 'submit-sql', type: 'submit' }, 'Submit');
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      result.replaceChildren(h('p', { class: 'muted' }, 'Submitting…'));
      const body = { sql: area.value };
      if (parallelism.value) body.parallelism = Number(parallelism.value);
      try {
        const r = await post('/v1/sql', body);
        result.replaceChildren(h('div', { class: 'ok-box' }, `Submitted ${r.jobids.length} job${r.jobids.length === 1 ? '' : 's'}: `,
          r.jobids.map((id, i) => [i ? ', ' : '', h('a', { href: `#/job/${id}`, class: 'submitted-job' }, id)])));
      } catch (e) {
        result.replaceChildren(h('div', { class: 'error-box', id: 'submit-error' }, e.message));
        const p = e.body && e.body['strom-position'];
        if (p) selectPosition(area, p.line, p.column);
      } finally {
        button.disabled = false;
      }
    },
  }, area, h('div', { class: 'form-row' }, h('label', {}, 'Parallelism ', parallelism), button));
  return h('div', {},
    h('h1', {}, 'Submit SQL'),
    h('p', { class: 'muted' }, 'A Flink SQL script: SET \'key\' = \'value\', CREATE TABLE ... WITH (...), INSERT INTO ... SELECT. Each INSERT or SELECT becomes a job on this cluster.'),
    form, result);
}
