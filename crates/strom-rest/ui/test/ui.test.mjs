// The Strom Web UI in headless Chromium: starts `target/debug/strom standalone` on a free port,
// loads the overview, submits an unbounded datagen -> blackhole job through the "Submit SQL" form,
// opens its DAG and subtasks, visits every page, cancels the job and sees it CANCELED, then stops a
// second run with a savepoint and sees it FINISHED, then runs a batch query and sees its stages
// (the HASH exchange between them) in the DAG. Each figure
// the UI shows is compared with the REST API's answer. Screenshots go to target/ui-screenshots/.
//
// Run: bash scripts/test.sh (or: cargo build -p strom && cd crates/strom-rest/ui/test && npm ci && node ui.test.mjs)
// Needs Debian's chromium (/usr/bin/chromium, or STROM_CHROMIUM); no browser download.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../../..');
const binary = process.env.STROM_BIN || path.join(root, 'target/debug/strom');
const shots = path.join(root, 'target/ui-screenshots');
const chromiumPath = process.env.STROM_CHROMIUM || '/usr/bin/chromium';
const T = 30_000;

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function rest(base, p, init) {
  const res = await fetch(base + p, init);
  const body = await res.json();
  if (!res.ok) throw new Error(`${p}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function until(what, f, ms = T) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await f();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

// the vendored layout library is exactly the npm release's file
function checkVendoredDagre() {
  const vendored = fs.readFileSync(path.join(root, 'crates/strom-rest/ui/vendor/dagre.min.js'));
  const released = fs.readFileSync(path.join(here, 'node_modules/@dagrejs/dagre/dist/dagre.min.js'));
  assert(vendored.equals(released), 'ui/vendor/dagre.min.js differs from @dagrejs/dagre/dist/dagre.min.js of package.json');
  console.log('ok: ui/vendor/dagre.min.js is @dagrejs/dagre\'s release file');
}

// batch mode: a scan-and-partial-aggregate stage, a HASH exchange, the final aggregate
const BATCH_SCRIPT = `SET 'execution.runtime-mode' = 'batch';
CREATE TABLE nums (k INT, v BIGINT) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '20000',
  'fields.k.min' = '1', 'fields.k.max' = '50'
);
CREATE TABLE counts (k INT, c BIGINT, s BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO counts SELECT k, COUNT(*), SUM(v) FROM nums GROUP BY k;
`;
const SCRIPT = `SET 'execution.checkpointing.interval' = '500ms';
CREATE TABLE gen (
  id BIGINT,
  name STRING
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '200'
);
CREATE TABLE sink (
  id BIGINT,
  name STRING
) WITH ('connector' = 'blackhole', 'sink.parallelism' = '1');
INSERT INTO sink SELECT id, name FROM gen WHERE id % 2 = 0;
`;

async function main() {
  checkVendoredDagre();
  assert(fs.existsSync(binary), `${binary} is missing: run cargo build -p strom first`);
  fs.mkdirSync(shots, { recursive: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // with a REST token: the page asks for it at the first mutating call (a dialog) and keeps it
  const token = 'ui-test-t0ken';
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strom-ui-logs-'));
  const strom = spawn(binary, ['standalone', '--taskmanagers', '1', '--slots', '4',
    '-D', `rest.port=${port}`, '-D', 'web.refresh-interval=1000', '-D', `rest.auth.token=${token}`,
    '-D', `env.log.dir=${logDir}`],
    { stdio: ['ignore', 'inherit', 'pipe'] });
  let stromLog = '';
  strom.stderr.on('data', (d) => { stromLog += d; });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strom-ui-chromium-'));
  const savepoints = fs.mkdtempSync(path.join(os.tmpdir(), 'strom-ui-savepoints-'));
  let context;
  try {
    await until('the REST API', async () => (await rest(base, '/overview')).taskmanagers === 1);
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(T);
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    let prompts = 0;
    page.on('dialog', async (d) => {
      prompts += 1;
      if (d.type() === 'prompt' && d.message().includes('rest.auth.token')) await d.accept(token);
      else { problems.push(`unexpected dialog: ${d.message()}`); await d.dismiss(); }
    });
    // 4xx answers of the API are expected (the bad SQL, endpoints this cluster may not serve) and
    // shown by the pages; a 5xx, a missing asset or a script error is a defect
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console error: ${m.text()}`); });
    page.on('response', (r) => {
      const p = new URL(r.url()).pathname;
      if (r.status() >= 500 || ((p === '/' || p.startsWith('/ui/')) && r.status() !== 200)) problems.push(`${r.status()} for ${r.url()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    const shot = async (name) => {
      await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
      console.log(`screenshot target/ui-screenshots/${name}.png`);
    };

    // 1. the overview shows the cluster as /overview says
    await page.goto(`${base}/`);
    await page.locator('#overview-cards').waitFor();
    const ov = await rest(base, '/overview');
    const cardValue = (id) => page.locator(`#${id} .value`).innerText();
    assert(await cardValue('taskmanagers') === String(ov.taskmanagers), 'TaskManagers card');
    assert(await cardValue('slots-total') === String(ov['slots-total']), 'slots total card');
    assert(await cardValue('slots-available') === String(ov['slots-available']), 'slots available card');
    assert(ov['slots-total'] === 4, `4 slots, got ${ov['slots-total']}`);
    await shot('01-overview');

    // 2. a SQL error in the form is shown with its position
    await page.click('#nav a[data-route=submit]');
    await page.locator('#sql').fill('CREATE TABLE t (id BIGINT) WITH (\'connector\' = \'datagen\');\nSELEKT id FROM t;');
    await page.click('#submit-sql');
    const err = await page.locator('#submit-error').innerText();
    assert(/SELEKT/.test(err) && /line 2, column 1/.test(err), `SQL error shown: ${err}`);
    await shot('02-submit-error');

    // 3. submit the unbounded job through the form
    await page.locator('#sql').fill(SCRIPT);
    await page.locator('#parallelism').fill('2');
    await page.click('#submit-sql');
    const link = page.locator('#submit-result a.submitted-job');
    await link.waitFor();
    const jid = (await link.innerText()).trim();
    assert(/^[0-9a-f]{32}$/.test(jid), `job id ${jid}`);
    const listed = await rest(base, '/jobs');
    assert(listed.jobs.some((j) => j.id === jid), 'the submitted job is in /jobs');
    await shot('03-submitted');

    // 4. its DAG: one box per vertex, edges labelled with the plan's ship strategies
    await link.click();
    await page.locator('#dag svg').waitFor();
    const job = await until('the job RUNNING', async () => {
      const j = await rest(base, `/jobs/${jid}`);
      return j.state === 'RUNNING' && j.vertices.every((v) => v.status === 'RUNNING') ? j : null;
    });
    const plan = (await rest(base, `/jobs/${jid}/plan`)).plan;
    assert(job.vertices.length === 2, `2 vertices (sink parallelism 1): ${job.vertices.map((v) => v.name)}`);
    await until('every vertex drawn', async () => (await page.locator('#dag g.node').count()) === job.vertices.length);
    for (const v of job.vertices) {
      const node = page.locator(`#dag g.node[data-vertex="${v.id}"]`);
      const text = await node.textContent();
      assert(text.includes(`Parallelism: ${v.parallelism}`), `vertex ${v.name} parallelism in ${text}`);
    }
    const strategies = plan.nodes.flatMap((n) => (n.inputs || []).map((i) => i.ship_strategy)).sort();
    assert(strategies.length === 1 && strategies[0] === 'REBALANCE', `plan edges: ${strategies}`);
    const labels = (await page.locator('#dag g.edge text.ship-strategy').allTextContents()).sort();
    assert(JSON.stringify(labels) === JSON.stringify(strategies), `edge labels ${labels} vs plan ${strategies}`);
    const sourceId = job.vertices.find((v) => v.parallelism === 2).id;
    const sinkId = job.vertices.find((v) => v.parallelism === 1).id;
    const count = async (id, what) => {
      const t = await page.locator(`#dag g.node[data-vertex="${id}"]`).textContent();
      return Number(t.match(new RegExp(`Records ${what}: ([0-9,]+)`))[1].replaceAll(',', ''));
    };
    await until('the DAG to show RUNNING and records flowing', async () => {
      const states = await page.locator('#dag .vertex-state').allTextContents();
      return states.every((s) => s === 'RUNNING') && await count(sourceId, 'out') > 0 && await count(sinkId, 'in') > 0;
    });
    await until('a busy/backpressured/idle share', async () => !(await page.locator('#dag').textContent()).includes('no time measured yet'));
    await shot('04-dag');

    // 5. the subtasks of the source vertex: as many rows as its parallelism, on the one TaskManager
    await page.click(`#dag g.node[data-vertex="${sourceId}"]`);
    await page.locator('#subtasks tbody tr').first().waitFor();
    const detail = await rest(base, `/jobs/${jid}/vertices/${sourceId}`);
    assert(await page.locator('#subtasks tbody tr').count() === detail.subtasks.length, 'one row per subtask');
    const tmId = detail.subtasks[0]['taskmanager-id'];
    assert((await page.locator('#subtasks').textContent()).includes(tmId), 'the TaskManager of the subtasks');
    await shot('05-subtasks');

    // 6. the other tabs
    await page.click('#tab-timeline');
    await page.locator('#timeline .bar.RUNNING').first().waitFor();
    await shot('06-timeline');
    await page.click('#tab-checkpoints');
    await page.locator('#checkpoints').waitFor();
    // checkpoints every 500 ms: the page shows completed ones in its history by itself
    await page.locator('#checkpoints tbody .badge.COMPLETED').first().waitFor();
    const cps = await rest(base, `/jobs/${jid}/checkpoints`);
    assert(cps.counts.completed >= 1 && cps.history.some((c) => c.status === 'COMPLETED'), 'REST has completed checkpoints');
    await shot('07-checkpoints');
    await page.click('#tab-exceptions');
    await page.locator('#exceptions').waitFor();
    assert((await page.locator('#exceptions').textContent()).includes('No exceptions.'), 'no exceptions yet');
    await page.click('#tab-configuration');
    await page.locator('#configuration').waitFor();
    await shot('08-configuration');

    // 7. TaskManagers, one TaskManager, the JobManager
    await page.click('#nav a[data-route=taskmanagers]');
    await page.locator('table tbody tr.clickable').first().waitFor();
    const tms = (await rest(base, '/taskmanagers')).taskmanagers;
    assert(await page.locator('table tbody tr.clickable').count() === tms.length, 'one row per TaskManager');
    await shot('09-taskmanagers');
    await page.locator('table tbody tr.clickable').first().click();
    await page.locator('h1', { hasText: `TaskManager ${tms[0].id}` }).waitFor();
    await until('the job\'s tasks on the TaskManager', async () => (await page.locator('table').nth(1).locator('tbody tr.clickable').count()) === 3);
    // the process's log file (env.log.dir), listed on the TaskManager's page and linked to its text
    await page.locator('a', { hasText: 'jobmanager.log' }).first().waitFor();
    await shot('10-taskmanager');
    await page.click('#nav a[data-route=jobmanager]');
    await page.locator('h1', { hasText: 'JobManager' }).waitFor();
    await page.locator('h2', { hasText: 'Logs' }).waitFor();
    await page.locator('a[href="/jobmanager/logs/jobmanager.log"]').waitFor();
    const logText = await (await fetch(`${base}/jobmanager/logs/jobmanager.log`)).text();
    assert(logText.includes('submitted'), 'the log file has the job submission');
    await shot('11-jobmanager');

    // 8. cancel from the job page: the page shows CANCELED by itself
    await page.click('#nav a[data-route="jobs/running"]');
    await page.locator(`a.job-link[href="#/job/${jid}"]`).click();
    await page.locator('#cancel-job').click();
    await page.locator('#job-state .badge', { hasText: /^CANCELED$/ }).waitFor();
    assert((await rest(base, `/jobs/${jid}/status`)).status === 'CANCELED', 'REST says CANCELED');
    assert(await page.locator('#cancel-job').count() === 0, 'no Cancel button on a canceled job');
    await shot('12-canceled');
    await page.click('#nav a[data-route="jobs/completed"]');
    await page.locator(`a.job-link[href="#/job/${jid}"]`).waitFor();
    await shot('13-completed');

    // 9. another run of the job, stopped with a savepoint into a directory typed on the page
    await page.click('#nav a[data-route=submit]');
    await page.click('#submit-sql');
    const link2 = page.locator('#submit-result a.submitted-job');
    await link2.waitFor();
    const jid2 = (await link2.innerText()).trim();
    assert(jid2 !== jid, 'a new job');
    await link2.click();
    await until('the second job RUNNING with a checkpoint', async () => {
      const j = await rest(base, `/jobs/${jid2}`);
      const c = await rest(base, `/jobs/${jid2}/checkpoints`);
      return j.state === 'RUNNING' && c.counts.completed >= 1;
    });
    await page.locator('#stop-dir').fill(savepoints);
    await page.click('#stop-job');
    await page.locator('#job-state .badge', { hasText: /^FINISHED$/ }).waitFor();
    await page.locator('#action-message', { hasText: 'Stopped with savepoint' }).waitFor();
    const made = fs.readdirSync(savepoints).filter((f) => f.startsWith('savepoint-'));
    assert(made.length === 1, `one savepoint in ${savepoints}: ${made}`);
    assert((await page.locator('#action-message').innerText()).includes(made[0]), 'the page names the savepoint');
    assert((await rest(base, `/jobs/${jid2}/status`)).status === 'FINISHED', 'REST says FINISHED');
    await shot('14-stopped');

    // 10. a batch query runs as stages of DataFusion's plan: its DAG shows every stage, the HASH
    // exchange between them, and all FINISHED
    await page.click('#nav a[data-route=submit]');
    await page.locator('#sql').fill(BATCH_SCRIPT);
    await page.locator('#parallelism').fill('2');
    await page.click('#submit-sql');
    const link3 = page.locator('#submit-result a.submitted-job');
    await link3.waitFor();
    const jid3 = (await link3.innerText()).trim();
    await link3.click();
    await page.locator('#dag svg').waitFor();
    const batch = await until('the batch job FINISHED', async () => {
      const j = await rest(base, `/jobs/${jid3}`);
      return j.state === 'FINISHED' ? j : null;
    });
    assert(batch.vertices.length >= 2, `stages: ${batch.vertices.map((v) => v.name)}`);
    await until('every stage drawn', async () => (await page.locator('#dag g.node').count()) === batch.vertices.length);
    const batchPlan = (await rest(base, `/jobs/${jid3}/plan`)).plan;
    const batchEdges = batchPlan.nodes.flatMap((n) => (n.inputs || []).map((i) => i.ship_strategy));
    assert(batchEdges.includes('HASH'), `a HASH exchange between the stages: ${batchEdges}`);
    const batchLabels = await page.locator('#dag g.edge text.ship-strategy').allTextContents();
    // a BLOCKING exchange is labelled as such: 'HASH (blocking)'
    assert(batchLabels.length === batchEdges.length && batchLabels.includes('HASH (blocking)'), `edge labels ${batchLabels}`);
    await until('the DAG to show every stage FINISHED', async () => {
      const states = await page.locator('#dag .vertex-state').allTextContents();
      return states.length === batch.vertices.length && states.every((st) => st === 'FINISHED');
    });
    await shot('15-batch-stages');

    assert(prompts === 1, `the page asked for the REST token once, not ${prompts} times`);
    assert(problems.length === 0, `the browser reported:\n${problems.join('\n')}`);
    console.log('ok: the Web UI test passed');
  } catch (e) {
    console.error(`strom's log (last lines):\n${stromLog.split('\n').slice(-30).join('\n')}`);
    throw e;
  } finally {
    if (context) await context.close();
    strom.kill('SIGTERM');
    await new Promise((r) => { if (strom.exitCode !== null) r(); else strom.once('exit', r); });
    fs.rmSync(userDataDir, { recursive: true, force: true });
    fs.rmSync(savepoints, { recursive: true, force: true });
  }
}

const watchdog = setTimeout(() => { console.error('the UI test took over 3 minutes'); process.exit(1); }, 180_000);
main().then(() => clearTimeout(watchdog), (e) => {
  console.error(`FAILED: ${e.stack || e}`);
  process.exitCode = 1;
  clearTimeout(watchdog);
});
