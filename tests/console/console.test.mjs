// End-to-end tests of the web console that `pipewright serve` serves, in headless Chromium.
//
//   bash tests/console/install.sh && node --test tests/console/
//
// The binary is $PIPEWRIGHT_BIN, else ${CARGO_TARGET_DIR:-<repo>/target}/debug/pipewright.
// One server and one browser are shared by the tests below, which run in order and walk one
// pipeline through a whole release: Release change, live progress, a manual approval, a
// failing stage fixed and retried, the history and an execution's timeline and logs, the
// keyboard, and an execution started through the API then stopped from the page.
// A test that needs the state a failed one should have left is skipped. On a failure the message carries the page's
// statuses and the server's stderr tail, and tests/console/screenshots/ gets the page.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BIN =
  process.env.PIPEWRIGHT_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(REPO, 'target'), 'debug', 'pipewright');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const DOCS_SCREENSHOT = path.join(REPO, 'docs', 'console.png');
const FAILURE_SCREENSHOTS = path.join(HERE, 'screenshots');

const PIPELINE = 'console-demo';
const GATED = 'console-gated'; // the pipeline of the Override test
const TIMEOUT = 30_000; // for any one thing to appear on the page
const TEST_TIMEOUT = 120_000;

// ---------------------------------------------------------------------------------------
// The server

let tmp; // the temporary working directory
let server; // the child process
let base; // http://127.0.0.1:PORT (no trailing slash)
const serverLog = []; // the tail of the server's stderr (and stdout after its first line)

function remember(line) {
  serverLog.push(line);
  if (serverLog.length > 60) serverLog.shift();
}

function serverTail() {
  return serverLog.length
    ? `\n--- pipewright serve, last output ---\n${serverLog.join('\n')}\n---`
    : '\n(pipewright serve printed nothing after its address)';
}

async function startServer() {
  if (!existsSync(BIN)) {
    throw new Error(
      `no pipewright binary at ${BIN}: build it (cargo build) or set PIPEWRIGHT_BIN`,
    );
  }
  tmp = await mkdtemp(path.join(tmpdir(), 'pipewright-console-'));
  await mkdir(path.join(tmp, 'src'));
  await writeFile(path.join(tmp, 'src', 'index.html'), '<p>hello from the console test</p>\n');

  server = spawn(
    BIN,
    ['--state-dir', path.join(tmp, 'state'), 'serve', '--port', '0', '--source', `Src=${path.join(tmp, 'src')}`],
    { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  readline.createInterface({ input: server.stderr }).on('line', remember);
  const stdout = readline.createInterface({ input: server.stdout });

  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`pipewright serve printed no address within ${TIMEOUT} ms${serverTail()}`)),
      TIMEOUT,
    );
    server.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BIN}: ${error.message}`));
    });
    server.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`pipewright serve exited (${signal || code}) before printing its address${serverTail()}`));
    });
    stdout.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
  });
  stdout.on('line', remember); // keep draining stdout
  server.on('exit', (code, signal) => remember(`[pipewright serve exited: ${signal || code}]`));

  const match = /http:\/\/127\.0\.0\.1:\d+\/?/.exec(first);
  assert.ok(match, `the first line of pipewright serve has no http://127.0.0.1:PORT/ address: ${JSON.stringify(first)}`);
  base = match[0].replace(/\/$/, '');
}

function signalServer(signal) {
  try {
    process.kill(-server.pid, signal); // its process group: the commands it runs too
  } catch {
    try {
      server.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  signalServer('SIGTERM');
  const timer = setTimeout(() => signalServer('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

// Whatever happens (an uncaught error, Ctrl-C), the server does not outlive the tests.
process.on('exit', () => {
  if (server && server.exitCode === null && server.signalCode === null) signalServer('SIGKILL');
});

/** One CodePipeline operation over the wire protocol: the parsed JSON answer. */
async function api(operation, body) {
  const response = await fetch(`${base}/`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `CodePipeline_20150709.${operation}`,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${operation} answered HTTP ${response.status}: ${text}${serverTail()}`);
  return text ? JSON.parse(text) : {};
}

function declaration() {
  const commands = (name, runOrder, lines) => ({
    name,
    runOrder,
    actionTypeId: { category: 'Compute', owner: 'AWS', provider: 'Commands', version: '1' },
    commands: lines,
    inputArtifacts: [{ name: 'Code' }],
  });
  return {
    name: PIPELINE,
    pipelineType: 'V2',
    executionMode: 'SUPERSEDED',
    roleArn: 'arn:aws:iam::111122223333:role/x',
    artifactStore: { type: 'S3', location: 'bucket' },
    stages: [
      {
        name: 'Source',
        actions: [
          {
            name: 'Src',
            actionTypeId: { category: 'Source', owner: 'AWS', provider: 'S3', version: '1' },
            configuration: { S3Bucket: 'uploads', S3ObjectKey: 'src.zip' },
            outputArtifacts: [{ name: 'Code' }],
          },
        ],
      },
      {
        name: 'Build',
        actions: [commands('Slow', 1, ['sleep 3', 'echo built']), commands('Lint', 1, ['true'])],
      },
      {
        name: 'Approve',
        actions: [
          {
            name: 'Gate',
            actionTypeId: { category: 'Approval', owner: 'AWS', provider: 'Manual', version: '1' },
            configuration: { CustomData: 'Ship it?', ExternalEntityLink: 'https://example.test/diff' },
          },
        ],
      },
      {
        name: 'Test',
        actions: [commands('Check', 1, [`test -f ${path.join(tmp, 'fixed')}`])],
      },
    ],
  };
}

/** A pipeline whose Deploy stage waits for a deployment window that opens only in 2099. */
function gatedDeclaration() {
  const base = declaration();
  return {
    ...base,
    name: GATED,
    stages: [
      base.stages[0],
      {
        name: 'Deploy',
        beforeEntry: {
          conditions: [
            {
              result: 'FAIL',
              rules: [
                {
                  name: 'Window',
                  ruleTypeId: { category: 'Rule', owner: 'AWS', provider: 'DeploymentWindow', version: '1' },
                  configuration: { Cron: '0 0 0 1 1 ? 2099' },
                },
              ],
            },
          ],
        },
        actions: [
          {
            name: 'Ship',
            actionTypeId: { category: 'Compute', owner: 'AWS', provider: 'Commands', version: '1' },
            commands: ['echo shipped'],
            inputArtifacts: [{ name: 'Code' }],
          },
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------
// The browser

let browser;
let page;
const pageErrors = []; // uncaught exceptions in the page's own JS

const STAGES = ['Source', 'Build', 'Approve', 'Test'];
const ACTIONS = [
  ['Source/Src', 'S3'],
  ['Build/Slow', 'Commands'],
  ['Build/Lint', 'Commands'],
  ['Approve/Gate', 'Manual'],
  ['Test/Check', 'Commands'],
];
const action = (id) => `main#pipeline article.action[data-action="${id}"]`;
const executionStatus = 'main#pipeline p.execution-status';

/** What the page shows now, for failure messages. */
async function pageSummary() {
  try {
    const state = await page.evaluate(() => {
      const attrs = (el, names) => names.map((n) => `${n}=${el.getAttribute(n)}`).join(' ');
      const lines = [`url: ${location.href}`];
      for (const el of document.querySelectorAll('.execution-status'))
        lines.push(`execution-status ${attrs(el, ['data-execution', 'data-status'])}`);
      for (const el of document.querySelectorAll('article.action'))
        lines.push(`action ${attrs(el, ['data-action', 'data-status'])}`);
      for (const el of document.querySelectorAll('form'))
        lines.push(`form.${el.className}${el.dataset.stage ? ` [data-stage=${el.dataset.stage}]` : ''}`);
      for (const el of document.querySelectorAll('p.error')) lines.push(`error: ${el.textContent.trim()}`);
      return lines.join('\n');
    });
    return `\n--- the page ---\n${state}\n---`;
  } catch (error) {
    return `\n(cannot read the page: ${error.message})`;
  }
}

/** Waits for `selector` on the page, failing with what the page and the server show. */
async function waitFor(selector, what, options = {}) {
  try {
    return await page.waitForSelector(selector, { timeout: TIMEOUT, ...options });
  } catch (error) {
    throw new Error(
      `timed out after ${options.timeout ?? TIMEOUT} ms waiting for ${what} (${selector})` +
        `${await pageSummary()}${serverTail()}`,
      { cause: error },
    );
  }
}

/**
 * Clicks a button that submits a form, then waits until the page has settled on the answer:
 * the new document loaded (a form post and its redirect) or, should the page's JS post it
 * itself, the answer received. Returns the POST request.
 */
async function submit(button, what, pipeline = PIPELINE) {
  await page.evaluate(() => {
    window.__beforeSubmit = true;
  });
  const posted = page.waitForRequest((request) => request.method() === 'POST', { timeout: TIMEOUT });
  await page.locator(button).click({ timeout: TIMEOUT });
  let request;
  try {
    request = await posted;
  } catch (error) {
    throw new Error(`clicking ${what} (${button}) posted nothing${await pageSummary()}`, { cause: error });
  }
  if (request.isNavigationRequest()) {
    await page.waitForFunction(
      () => window.__beforeSubmit === undefined && document.readyState === 'complete',
      null,
      { timeout: TIMEOUT, polling: 100 },
    );
  } else {
    await request.response();
  }
  await waitFor(`main#pipeline[data-pipeline="${pipeline}"]`, `the pipeline view after ${what}`);
  assert.equal(new URL(page.url()).pathname, `/pipelines/${pipeline}`, `${what} came back to the pipeline view`);
  return request;
}

async function attr(selector, name) {
  return page.locator(selector).first().getAttribute(name, { timeout: TIMEOUT });
}

async function texts(selector) {
  return (await page.locator(selector).allTextContents()).map((t) => t.trim());
}

// ---------------------------------------------------------------------------------------
// The tests: one release, step by step

let failed = null; // the first test that failed: the ones after it are skipped
let executionId; // the execution started with "Release change"
let createdId; // the execution CreatePipeline started, stopped at once

/**
 * Runs one step; a failure keeps a screenshot and, unless the step only checks (`blocking:
 * false`), skips the steps after it. An `independent` step runs whatever failed before.
 */
function step(name, body, { independent = false, blocking = true } = {}) {
  test(name, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!independent && failed) {
      t.skip(`needs "${failed}", which failed`);
      return;
    }
    try {
      await body(t);
      assert.deepEqual(pageErrors, [], "the page's own JS threw no error");
    } catch (error) {
      if (blocking) failed ??= name;
      if (page) {
        await mkdir(FAILURE_SCREENSHOTS, { recursive: true });
        const file = name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 60);
        await page.screenshot({ path: path.join(FAILURE_SCREENSHOTS, `${file}.png`), fullPage: true }).catch(() => {});
      }
      if (!String(error.message).includes('pipewright serve')) error.message += serverTail();
      if (pageErrors.length) error.message += `\n--- errors in the page's JS ---\n${pageErrors.splice(0).join('\n')}`;
      throw error;
    }
  });
}

describe('the pipeline console of pipewright serve', () => {
  before(
    async () => {
      await startServer();
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless=new',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      // Loopback only: anything else the page asks for is refused (the external link is
      // checked, never followed).
      await context.route(
        (url) => url.hostname !== '127.0.0.1',
        (route) => route.abort('blockedbyclient'),
      );
      page = await context.newPage();
      page.on('pageerror', (error) => pageErrors.push(String(error)));
      await api('CreatePipeline', { pipeline: declaration() });
      // CreatePipeline starts an execution, as CodePipeline does; the tests release their own.
      const created = await api('ListPipelineExecutions', { pipelineName: PIPELINE });
      createdId = created.pipelineExecutionSummaries[0].pipelineExecutionId;
      await api('StopPipelineExecution', {
        pipelineName: PIPELINE,
        pipelineExecutionId: createdId,
        abandon: true,
        reason: 'the browser tests release their own change',
      });
    },
    { timeout: 2 * TIMEOUT },
  );

  after(
    async () => {
      await browser?.close().catch(() => {});
      await stopServer();
      if (tmp && !process.env.PIPEWRIGHT_CONSOLE_KEEP) await rm(tmp, { recursive: true, force: true });
    },
    { timeout: 2 * TIMEOUT },
  );

  step('a. the pipeline view shows every stage and action', async () => {
    await page.goto(`${base}/`);
    const link = `a.pipeline-link[href="/pipelines/${PIPELINE}"]`;
    await waitFor(link, 'the pipeline in the list of pipelines');
    await Promise.all([page.waitForURL(`${base}/pipelines/${PIPELINE}`), page.locator(link).click()]);
    await waitFor(`main#pipeline[data-pipeline="${PIPELINE}"]`, 'the pipeline view');

    assert.deepEqual(
      await page.locator('main#pipeline section.stage').evaluateAll((els) => els.map((el) => el.dataset.stage)),
      STAGES,
      'the stages, in order',
    );
    for (const stage of STAGES) {
      const section = `main#pipeline section.stage[data-stage="${stage}"]`;
      assert.deepEqual(await texts(`${section} h2`), [stage], `the heading of stage ${stage}`);
      assert.ok(
        (await page.locator(`${section} span.status[data-status]`).count()) >= 1,
        `stage ${stage} has a span.status[data-status]`,
      );
    }
    assert.deepEqual(
      await page.locator('main#pipeline article.action').evaluateAll((els) => els.map((el) => el.dataset.action)),
      ACTIONS.map(([id]) => id),
      'the actions, in order',
    );
    for (const [id, provider] of ACTIONS) {
      const [stage, name] = id.split('/');
      const card = `main#pipeline section.stage[data-stage="${stage}"] article.action[data-action="${id}"]`;
      assert.equal(await page.locator(card).count(), 1, `${id} is a card inside the section of stage ${stage}`);
      assert.deepEqual(await texts(`${card} h3`), [name], `the heading of ${id}`);
      const shown = await texts(`${card} span.provider`);
      assert.equal(shown.length, 1, `${id} shows its provider`);
      assert.ok(shown[0].includes(provider), `${id} shows provider ${provider}: ${JSON.stringify(shown[0])}`);
      assert.ok(await attr(card, 'data-status'), `${id} has a data-status`);
    }
    await waitFor(
      `${executionStatus}[data-execution="${createdId}"][data-status="Stopped"]`,
      'the execution CreatePipeline started, stopped',
    );
    assert.deepEqual(await texts('main#pipeline form.release button'), ['Release change']);
    assert.equal(await page.locator('main#pipeline form.stop').count(), 0, 'no Stop while nothing runs');
  });

  step('b. "Release change" starts an execution, and the page follows it live', async () => {
    await page.goto(`${base}/pipelines/${PIPELINE}`);
    await waitFor('main#pipeline form.release button', 'the Release change button');
    const request = await submit('main#pipeline form.release button:has-text("Release change")', 'Release change');
    await page.evaluate(() => {
      window.__marker = 1;
    });

    await waitFor(`${executionStatus}[data-execution]:not([data-execution="${createdId}"])`, 'the status of the new execution');
    executionId = await attr(executionStatus, 'data-execution');
    assert.ok(executionId, 'the execution status names its execution');
    const listed = await api('ListPipelineExecutions', { pipelineName: PIPELINE });
    assert.deepEqual(
      listed.pipelineExecutionSummaries.map((s) => s.pipelineExecutionId),
      [executionId, createdId],
      `the page shows the one execution that Release change started (posted to ${request.url()})`,
    );

    await waitFor(`${action('Build/Slow')}[data-status="InProgress"]`, 'Build/Slow to be InProgress');
    await mkdir(path.dirname(DOCS_SCREENSHOT), { recursive: true });
    await page.screenshot({ path: DOCS_SCREENSHOT, fullPage: true });
    assert.equal(await attr(executionStatus, 'data-status'), 'InProgress', 'the execution is InProgress');
    assert.equal(await page.locator('main#pipeline form.stop').count(), 1, 'Stop is offered while it runs');
    assert.equal(await page.locator('main#pipeline form.stop button[name="abandon"][value="false"]').count(), 1);
    assert.equal(await page.locator('main#pipeline form.stop button[name="abandon"][value="true"]').count(), 1);

    await waitFor(`${action('Build/Slow')}[data-status="Succeeded"]`, 'Build/Slow to succeed');
    await waitFor(`${action('Build/Lint')}[data-status="Succeeded"]`, 'Build/Lint to succeed');
    assert.equal(await page.evaluate(() => window.__marker), 1, 'the page updated in place, without reloading');
  });

  step('c. the approval form approves, then the Test stage fails', async () => {
    const gate = action('Approve/Gate');
    await waitFor(`${gate} form.approval`, 'the approval form of Approve/Gate');
    assert.equal(await attr(gate, 'data-status'), 'InProgress', 'the approval waits');
    assert.deepEqual(await texts(`${gate} p.custom-data`), ['Ship it?'], 'the custom data');
    assert.equal(await attr(`${gate} a.external-link`, 'href'), 'https://example.test/diff', 'the external link');
    assert.equal(await page.locator(`${gate} form.approval button[name="status"][value="Rejected"]`).count(), 1);
    assert.equal(await attr(`${gate} form.approval`, 'method').then((m) => m?.toLowerCase()), 'post');

    const summary = `${gate} form.approval textarea[name="summary"]`;
    await page.locator(summary).fill('Looks good');
    // A person types for longer than a refresh: what they typed survives the live updates.
    await page.waitForTimeout(2_500);
    assert.equal(await page.locator(summary).inputValue(), 'Looks good', 'the typed summary survives the live refresh');
    await submit(`${gate} form.approval button[name="status"][value="Approved"]`, 'Approve');

    await waitFor(`${action('Test/Check')}[data-status="Failed"]`, 'Test/Check to fail');
    await waitFor(`${executionStatus}[data-status="Failed"]`, 'the execution to fail');
    assert.equal(await attr(executionStatus, 'data-execution'), executionId, 'the same execution');
    assert.equal(await attr(gate, 'data-status'), 'Succeeded', 'the approval succeeded');
    assert.equal(await page.locator(`${gate} form.approval`).count(), 0, 'no approval form once approved');
    assert.equal(await page.locator(`${action('Test/Check')} p.error`).count(), 1, 'the failed action shows its error');

    const state = await api('GetPipelineState', { name: PIPELINE });
    const gateState = state.stageStates
      .find((s) => s.stageName === 'Approve')
      .actionStates.find((a) => a.actionName === 'Gate');
    assert.equal(gateState.latestExecution?.summary, 'Looks good', 'the summary typed on the page was sent');
  });

  step('d. "Retry stage" reruns the fixed Test stage to success', async () => {
    await writeFile(path.join(tmp, 'fixed'), 'fixed\n');
    const retry = 'main#pipeline form.retry[data-stage="Test"]';
    await waitFor(retry, 'the retry form of the failed Test stage');
    assert.deepEqual(
      await page.locator(`${retry} select[name="retryMode"] option`).evaluateAll((els) => els.map((el) => el.value)).then((v) => v.sort()),
      ['ALL_ACTIONS', 'FAILED_ACTIONS'],
      'the retry modes',
    );
    await page.locator(`${retry} select[name="retryMode"]`).selectOption('FAILED_ACTIONS');
    await submit(`${retry} button:has-text("Retry stage")`, 'Retry stage');

    await waitFor(`${executionStatus}[data-status="Succeeded"]`, 'the execution to succeed');
    assert.equal(await attr(executionStatus, 'data-execution'), executionId, 'the same execution');
    await waitFor(`${action('Test/Check')}[data-status="Succeeded"]`, 'Test/Check to succeed');
    for (const [id] of ACTIONS) assert.equal(await attr(action(id), 'data-status'), 'Succeeded', `${id} succeeded`);
    assert.equal(await page.locator('main#pipeline form.retry').count(), 0, 'nothing to retry any more');
    assert.equal(await page.locator('main#pipeline form.stop').count(), 0, 'nothing to stop any more');
  });

  step('e. the history and the execution timeline, with the logs', async () => {
    await page.goto(`${base}/pipelines/${PIPELINE}/executions`);
    const row = `table.history tr.execution[data-execution="${executionId}"]`;
    await waitFor(row, 'the execution in the history');
    assert.equal(await attr(row, 'data-status'), 'Succeeded', 'the execution succeeded');
    assert.equal(await page.locator('table.history tr.execution').count(), 2, 'and the one CreatePipeline started');

    await page.goto(`${base}/pipelines/${PIPELINE}/executions/${executionId}`);
    await waitFor('table.timeline tr.action-execution', 'the timeline of the execution');
    const rows = await page
      .locator('table.timeline tr.action-execution')
      .evaluateAll((els) => els.map((el) => [el.dataset.action, el.dataset.status]));
    const statuses = (id) => rows.filter(([a]) => a === id).map(([, s]) => s).sort();
    const all = JSON.stringify(rows);
    for (const id of ['Source/Src', 'Build/Slow', 'Build/Lint', 'Approve/Gate'])
      assert.deepEqual(statuses(id), ['Succeeded'], `one Succeeded row for ${id}: ${all}`);
    assert.deepEqual(statuses('Test/Check'), ['Failed', 'Succeeded'], `a failed and a succeeded attempt of Test/Check: ${all}`);

    for (const id of ['Build/Slow', 'Build/Lint', 'Test/Check']) {
      const links = await page.locator(`table.timeline tr.action-execution[data-action="${id}"] a.log-link`).count();
      assert.equal(links, statuses(id).length, `every run of the Commands action ${id} links its log`);
    }
    const href = await attr('table.timeline tr.action-execution[data-action="Build/Slow"] a.log-link', 'href');
    assert.ok(href, 'the log link of Build/Slow has an href');
    const log = await page.goto(new URL(href, page.url()).href);
    assert.ok(log.ok(), `the log answers HTTP ${log.status()}`);
    const type = log.headers()['content-type'] ?? '';
    assert.match(type, /^text\/plain[^\n]*$/, `the log is served with one Content-Type, text/plain: ${JSON.stringify(type)}`);
    const text = await log.text();
    assert.match(text, /built/, `the log of Build/Slow shows its output: ${JSON.stringify(text.slice(-500))}`);
  }, { blocking: false });

  step(
    'f. the Release change button can be reached with the keyboard',
    async () => {
      await page.goto(`${base}/pipelines/${PIPELINE}`);
      await waitFor('main#pipeline form.release button', 'the Release change button');
      const isReleaseFocused = () =>
        page.evaluate(() => {
          const el = document.activeElement;
          return !!el && el.matches('main#pipeline form.release button') && el.textContent.trim() === 'Release change';
        });
      let presses = 0;
      while (!(await isReleaseFocused())) {
        assert.ok(presses < 50, `Release change not focused after 50 presses of Tab${await pageSummary()}`);
        await page.keyboard.press('Tab');
        presses += 1;
      }
      // A keyboard user's place on the page survives the live updates.
      await page.waitForTimeout(2_500);
      assert.ok(await isReleaseFocused(), 'the focus stays on Release change across the live refresh');
    },
    { independent: true, blocking: false },
  );

  step('g. an execution started through the API shows up live and can be stopped', async () => {
    await page.goto(`${base}/pipelines/${PIPELINE}`);
    await waitFor(`${executionStatus}[data-execution="${executionId}"]`, 'the first execution');
    await page.evaluate(() => {
      window.__marker = 2;
    });
    const started = await api('StartPipelineExecution', { name: PIPELINE });
    const second = started.pipelineExecutionId;
    assert.ok(second && second !== executionId, `a new execution id: ${JSON.stringify(started)}`);

    await waitFor(`${executionStatus}[data-execution="${second}"]`, 'the new execution on the page');
    await waitFor(`${action('Approve/Gate')} form.approval`, 'the new execution to wait for approval');
    assert.equal(await page.evaluate(() => window.__marker), 2, 'the page updated in place, without reloading');

    await submit('main#pipeline form.stop button[name="abandon"][value="true"]', 'Stop and abandon');
    await waitFor(`${executionStatus}[data-execution="${second}"][data-status="Stopped"]`, 'the execution to stop');
    await waitFor('main#pipeline form.retry[data-stage="Approve"]', 'the retry form of the stopped Approve stage');
    assert.equal(await page.locator('main#pipeline form.stop').count(), 0, 'nothing to stop any more');
    assert.equal(await attr(action('Approve/Gate'), 'data-status'), 'Abandoned', 'the approval was abandoned');

    await page.goto(`${base}/pipelines/${PIPELINE}/executions`);
    await waitFor(`table.history tr.execution[data-execution="${second}"]`, 'the new execution in the history');
    assert.equal(await attr(`table.history tr.execution[data-execution="${second}"]`, 'data-status'), 'Stopped');
    assert.equal(await attr(`table.history tr.execution[data-execution="${executionId}"]`, 'data-status'), 'Succeeded');
  });
  step(
    'h. a held entry condition shows its rule, and "Override" releases it',
    async () => {
      await api('CreatePipeline', { pipeline: gatedDeclaration() });
      await page.goto(`${base}/pipelines/${GATED}`);
      const deploy = 'main#pipeline section.stage[data-stage="Deploy"]';
      const condition = `${deploy} div.condition[data-condition="BEFORE_ENTRY"]`;
      await waitFor(`${condition}[data-status="InProgress"]`, 'the entry condition of Deploy to hold the stage');
      const rule = `${condition} li.rule[data-rule="Window"]`;
      assert.equal(await attr(rule, 'data-status'), 'InProgress', 'the window rule waits');
      assert.match((await texts(rule))[0], /Waiting for the deployment window to open/, 'the rule says why');
      assert.equal(await attr(`${deploy} article.action[data-action="Deploy/Ship"]`, 'data-status'), 'Idle', 'held');

      await submit(`${condition} form.override button:has-text("Override")`, 'Override', GATED);
      await waitFor(`${condition}[data-status="Overridden"]`, 'the entry condition to be Overridden');
      await waitFor(`${deploy} article.action[data-action="Deploy/Ship"][data-status="Succeeded"]`, 'Deploy/Ship to run');
      await waitFor(`${executionStatus}[data-status="Succeeded"]`, 'the execution to succeed');
      assert.equal(await page.locator(`${condition} form.override`).count(), 0, 'nothing left to override');
    },
    { independent: true, blocking: false },
  );
});
