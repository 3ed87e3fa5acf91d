// The status page at / in a real headless Chromium, against a real two-node cluster on one Redis:
// it loads cleanly, shows both nodes, follows load as it runs, says when a node is lost, and asks
// for a token when the API needs one; and on a node running real Ansible jobs, it lists them and
// follows a running job's output live through /websocket/.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import type { Browser } from 'puppeteer-core';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.ts';
import { tempDir } from '../helpers/node-process.ts';
import { pushEvents, syntheticEvents } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { cardText, clusterText, displayed, textOf, launchBrowser, startClusterNode, startJobNode, watchPage, websocketMetric, type ClusterNode } from '../helpers/status-page.ts';

const TOKEN = 'status-page-token-0123456789';

describe('the status page in a browser', () => {
  let redis: TestRedis;
  let client: Redis;
  let browser: Browser;
  const nodes: ClusterNode[] = [];

  before(async () => {
    redis = await startTestRedis();
    client = new Redis(redis.url);
    nodes.push(...(await Promise.all([startClusterNode('alpha', redis.url), startClusterNode('beta', redis.url)])));
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await Promise.all(nodes.map((n) => n.node.stop('SIGKILL')));
    client?.disconnect();
    await redis?.stop();
  });

  test('shows both nodes, its numbers follow the load, a stopped node is shown lost; no console error', async () => {
    const [alpha, beta] = nodes as [ClusterNode, ClusterNode];
    const page = await browser.newPage();
    const watch = await watchPage(page);
    const answer = await page.goto(`http://127.0.0.1:${alpha.web}/`);
    assert.equal(answer?.status(), 200);
    const headers = answer!.headers();
    assert.match(headers['content-security-policy'] ?? '', /script-src 'self'/);
    assert.equal(headers['x-content-type-options'], 'nosniff');

    for (const name of ['alpha', 'beta']) {
      await waitFor(`${name}'s card with its numbers`, async () => !Number.isNaN(displayed(await cardText(page, name, 'inserted'))));
      assert.equal(await cardText(page, name, 'status'), 'healthy');
    }
    assert.deepEqual(await page.$$eval('article.node h2', (hs) => hs.map((h) => h.textContent)), ['alpha', 'beta']);
    assert.equal(await page.$$eval('article.node .uplot', (charts) => charts.length), 8, 'four charts per node');
    assert.equal(await (await page.$('#token-form'))!.isVisible(), false, 'no token asked for when none is configured');
    const before = displayed(await clusterText(page, 'cluster-inserted'));

    await pushEvents(client, 'callback_tasks', syntheticEvents(1, 4000));
    const during = await waitFor(
      'the saved events and the rate to move on the page',
      async () => {
        const inserted = displayed(await clusterText(page, 'cluster-inserted'));
        const rate = await clusterText(page, 'cluster-events-rate');
        return inserted > before && /^[\d,.]+\/s$/.test(rate) && Number(rate.replace(/[,/s]/g, '')) > 0 ? { inserted, rate } : undefined;
      },
      30_000,
    );
    assert.ok(during.inserted > before);
    const shot = join(tempDir('overseer-status-page-'), 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000);
    await waitFor('all 4000 events on the page', async () => displayed(await clusterText(page, 'cluster-inserted')) >= before + 4000, 30_000);

    assert.equal(await beta.node.stop(), 0);
    await waitFor('beta shown lost', async () => (await cardText(page, 'beta', 'status')) === 'lost', 15_000);
    assert.equal(await (await page.$('article.node[data-node="beta"] .alert'))!.isVisible(), true);
    assert.match(await textOf(page, 'article.node[data-node="beta"] .alert'), /^Lost: no snapshot/);
    assert.equal(await cardText(page, 'alpha', 'status'), 'healthy');
    assert.match(await clusterText(page, 'cluster-nodes'), /^2 \(1 lost\)$/);

    assert.deepEqual(watch.errors, []);
    assert.deepEqual(watch.failed, []);
    // Chromium's own headers on the page's API reads pass the port's checks: same-origin, no Origin on a GET.
    const sent = watch.sent();
    assert.ok(sent.length >= 4, 'the API requests were seen');
    for (const { url, headers: h } of sent) {
      assert.equal(h['sec-fetch-site'], 'same-origin', url);
      assert.equal(h.origin, undefined, url);
    }
    assert.deepEqual(alpha.node.logs.filter((l) => l.msg === 'request refused'), []);
    await page.close();
  });

  test('with tokens configured it asks for one, asks again after a wrong one, and shows the cluster with the right one', async () => {
    const gamma = await startClusterNode('gamma', redis.url, { services: { web: { tokens: [TOKEN] } } });
    nodes.push(gamma);
    const page = await browser.newPage();
    const watch = await watchPage(page);
    await page.goto(`http://127.0.0.1:${gamma.web}/`);
    await page.waitForSelector('#token-form', { visible: true, timeout: 15_000 });
    assert.equal(await page.$$eval('article.node', (a) => a.length), 0, 'nothing shown without a token');

    await page.type('#token', 'not-the-token-0123456789');
    await page.click('#token-form button');
    await page.waitForSelector('#token-problem', { visible: true, timeout: 15_000 });
    assert.match(await textOf(page, '#token-problem'), /refused/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('overseer.api-token')), null, 'a refused token is not kept');

    await page.type('#token', TOKEN);
    await page.click('#token-form button');
    await waitFor("gamma's numbers", async () => !Number.isNaN(displayed(await cardText(page, 'gamma', 'inserted'))), 15_000);
    await page.waitForSelector('#token-form', { hidden: true, timeout: 5_000 });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('overseer.api-token')), TOKEN, 'kept for this tab');
    await page.reload();
    await waitFor('the numbers again after a reload, without asking', async () => !Number.isNaN(displayed(await cardText(page, 'gamma', 'inserted'))), 15_000);

    // The browser logs each 401 it was answered; nothing else may be an error.
    assert.deepEqual(watch.errors.filter((e) => !/status of 401/.test(e)), []);
    assert.ok(watch.failed.length > 0 && watch.failed.every((f) => f.startsWith('401 ')), watch.failed.join('\n'));
    const sent = watch.sent();
    assert.ok(sent.some((r) => r.url.includes('/api/v2/metrics/') && r.headers.authorization === `Bearer ${TOKEN}`), 'the token is sent as a bearer token');
    assert.ok(sent.every((r) => r.headers['sec-fetch-site'] === 'same-origin'));
    // The live connection (for the job list) passes the token in its first message: the node keeps it.
    await waitFor('the page live on /websocket/', async () => (await textOf(page, '#live-state')) === 'live' && (await websocketMetric(gamma, 'overseer_websocket_connections')) === 1, 15_000);
    assert.equal(await websocketMetric(gamma, 'overseer_websocket_drops_total{reason="unauthenticated"}'), 0);
    await page.close();
  });

  test("lists the jobs and follows a running job's output live, each line once and in order, then its final status; no console error", async () => {
    const n = await startJobNode('jobs-page');
    after(() => n.node.stop());
    const job = await n.launch('hold.yml');
    await n.until(job.id, ['running']);
    const page = await browser.newPage();
    const watch = await watchPage(page);
    await page.goto(`http://127.0.0.1:${n.web}/`);
    const row = `#jobs tr[data-job="${job.id}"]`;
    await page.waitForSelector(row, { visible: true, timeout: 20_000 });
    assert.equal(await textOf(page, `${row} [data-field="status"]`), 'running');
    assert.equal(await textOf(page, `${row} [data-field="name"]`), 't1');

    await page.click(`${row} button`);
    assert.ok(page.url().endsWith(`/#job-${job.id}`), page.url());
    const pane = '#job-output';
    const output = () => textOf(page, `${pane} pre`);
    await waitFor('the lines before the hold, shown while the job runs', async () => (await output()).includes('TASK [hold]'), 60_000);
    assert.match(await output(), /^ok: \[localhost\] => \(item=3\)/m);
    assert.doesNotMatch(await output(), /PLAY RECAP/);
    assert.equal(await textOf(page, `${pane} .badge`), 'running');
    await waitFor('the page live on /websocket/', async () => (await textOf(page, '#live-state')) === 'live' && (await websocketMetric(n, 'overseer_websocket_connections')) === 1);

    job.release();
    await waitFor('the rest of the output, and the final status', async () => /^successful in \d+\.\d s$/.test(await textOf(page, `${pane} .job-note`)), 60_000);
    assert.equal(await output(), await n.stdout(job.id), "the page shows the API's stdout, line for line");
    assert.match(await output(), /^TASK \[after\]/m);
    assert.equal(await textOf(page, `${pane} .badge`), 'successful');
    assert.equal(await textOf(page, `${row} [data-field="status"]`), 'successful');
    await page.screenshot({ path: join(tempDir('overseer-status-page-'), 'job-output.png'), fullPage: true });

    // A job launched while the page is open is listed, its status kept current; opening it after its end shows all its output.
    const failed = await n.launch('fail.yml');
    const failedRow = `#jobs tr[data-job="${failed.id}"]`;
    await waitFor('the new job listed as failed', async () => (await textOf(page, `${failedRow} [data-field="status"]`)) === 'failed', 60_000);
    await page.click(`${failedRow} button`);
    await waitFor('its output and status', async () => (await textOf(page, `${pane} .job-note`)).startsWith('failed'), 30_000);
    assert.equal(await output(), await n.stdout(failed.id));
    assert.deepEqual(await page.$$eval('#jobs tr.open', (rows) => rows.map((r) => r.getAttribute('data-job'))), [String(failed.id)], 'the open job marked in the list');
    await page.click('#job-close');
    assert.equal(await (await page.$(pane))!.isVisible(), false);
    assert.ok(page.url().endsWith('/'), page.url());

    assert.deepEqual(watch.errors, []);
    assert.deepEqual(watch.failed, []);
    assert.ok(watch.sent().every((r) => r.headers['sec-fetch-site'] === 'same-origin'));
    await page.close();
  });

  test('a live connection cut while a job runs: the page says so, reconnects, subscribes again and shows the rest once', { skip: process.getuid?.() === 0 ? false : 'cutting connections (ss -K) needs root' }, async () => {
    const n = await startJobNode('jobs-cut');
    after(() => n.node.stop());
    const job = await n.launch('hold.yml');
    await n.until(job.id, ['running']);
    const page = await browser.newPage();
    const watch = await watchPage(page);
    await page.goto(`http://127.0.0.1:${n.web}/#job-${job.id}`);
    const output = () => textOf(page, '#job-output pre');
    await waitFor('the running job shown, live', async () => (await output()).includes('TASK [hold]') && (await textOf(page, '#live-state')) === 'live', 60_000);
    // Every text the live state shows from now on, kept in the page.
    await page.$eval('#live-state', (state) => {
      const seen: string[] = [];
      const g = globalThis as unknown as { liveStates: string[]; MutationObserver: new (f: () => void) => { observe(n: unknown, o: object): void } };
      g.liveStates = seen;
      new g.MutationObserver(() => seen.push(state.textContent ?? '')).observe(state, { childList: true, characterData: true, subtree: true });
    });
    // Every established connection to the web port, the page's websocket among them, reset.
    execFileSync('ss', ['-K', '-t', 'state', 'established', `( sport = :${n.web} )`]);
    await waitFor('the page live again', async () => {
      const states = await page.evaluate(() => (globalThis as unknown as { liveStates: string[] }).liveStates);
      return states.some((t) => t.startsWith('reconnecting')) && states.at(-1) === 'live';
    }, 20_000);
    assert.equal(await websocketMetric(n, 'overseer_websocket_connections'), 1);
    job.release();
    await waitFor('the rest of the output, and the final status', async () => /^successful in /.test(await textOf(page, '#job-output .job-note')), 60_000);
    assert.equal(await output(), await n.stdout(job.id), 'each line once, in order, across the reconnect');
    // Requests cut mid-way may show as failed loads; nothing else may be an error.
    assert.deepEqual(watch.errors.filter((e) => !/net::ERR_(CONNECTION_RESET|EMPTY_RESPONSE|CONNECTION_CLOSED)/.test(e)), []);
    await page.close();
  });
});
