// The /api/v2 endpoints on a real listening port, over a real SQLite database holding the 293 events
// of a real ansible-runner run: what an AWX client sees.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { SqliteStorage } from '../../src/storage/sqlite.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { ServiceExposition } from '../../src/metrics/exposition.ts';
import { WebServer } from '../../src/web/web-server.ts';
import { ControlStore } from '../../src/control/store.ts';
import { tempDir } from '../helpers/node-process.ts';
import { fixtureEvents, fixtureRows } from '../helpers/events.ts';
import { depsOver } from '../helpers/web-port.ts';

const JOB = 7;
const EVENTS = `/api/v2/jobs/${JOB}/job_events/`;
const runnerEvents = fixtureEvents(JOB);

const exposition = new ServiceExposition([
  {
    name: 'overseer_api_test_gauge',
    help: 'A gauge only this test serves.',
    type: 'gauge',
    collect: () => ({ name: 'overseer_api_test_gauge', help: 'A gauge only this test serves.', type: 'gauge', samples: [{ labels: {}, value: 42 }] }),
  },
]);

interface LogLine {
  msg: string;
  [key: string]: unknown;
}

const servers: WebServer[] = [];

/** Serves the web port over `storage` on a free loopback port; returns its base URL and what it logged. */
async function serve(storage: Storage, redisOk: () => Promise<boolean> = async () => true) {
  const logs: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const web = new WebServer({ log, exposition, nodeName: 'node-a', version: '0.1.0', bind: '127.0.0.1', hostnames: [], tokens: [], allowAnonymousMetrics: false });
  servers.push(web);
  await web.listen(0);
  const control = { store: new ControlStore(storage.sql), submit: async () => true, publish: async () => 0, capacity: 1, projectRoots: { roots: ['/'], dataDir: '/nonexistent' } };
  web.ready({ ...depsOver(storage), control, redisOk });
  return { base: `http://127.0.0.1:${(web.server.address() as AddressInfo).port}`, logs };
}

let base = '';
let storage: SqliteStorage;

async function get(path: string, init: RequestInit = {}) {
  const res = await fetch(base + path, init);
  const raw = await res.text();
  const json = res.headers.get('content-type') === 'application/json' && raw !== '' ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
  return { status: res.status, headers: res.headers, raw, json };
}

type EventPage = { count: number; next: string | null; previous: string | null; results: Record<string, unknown>[] };

before(async () => {
  storage = new SqliteStorage(join(tempDir(), 'api.db'));
  await storage.migrate();
  const modified = new Date().toISOString();
  const saved = await storage.saveBatch({
    events: fixtureRows(JOB, modified).rows,
    hostSummaries: fixtureRows(JOB, modified).summaries,
    streamEnds: [],
  });
  assert.equal(saved.inserted, 293);
  base = (await serve(storage)).base;
});

after(async () => {
  await Promise.all(servers.map((web) => web.close()));
  await storage.close();
});

test('following next pages through all 293 events, each counter once and in order', async () => {
  const counters: number[] = [];
  const links: (string | null)[] = [];
  let url: string | null = `${EVENTS}?page_size=50&order_by=counter`;
  while (url !== null) {
    const { status, json } = await get(url);
    assert.equal(status, 200, url);
    const page = json as EventPage;
    assert.equal(page.count, 293);
    counters.push(...page.results.map((r) => r.counter as number));
    links.push(page.previous);
    url = page.next;
    assert.ok(links.length <= 6, 'six pages of 50 hold 293 events');
  }
  assert.deepEqual(counters, Array.from({ length: 293 }, (_, i) => i + 1));
  assert.deepEqual(links, [
    null,
    `${EVENTS}?page=1&page_size=50&order_by=counter`,
    `${EVENTS}?page=2&page_size=50&order_by=counter`,
    `${EVENTS}?page=3&page_size=50&order_by=counter`,
    `${EVENTS}?page=4&page_size=50&order_by=counter`,
    `${EVENTS}?page=5&page_size=50&order_by=counter`,
  ]);
});

test('an event reads as AWX shows it: id and job, no job_id, event_data an object', async () => {
  const { status, headers, json } = await get(`${EVENTS}?page_size=2`);
  assert.equal(status, 200);
  assert.equal(headers.get('content-type'), 'application/json');
  const [first, second] = (json as EventPage).results;
  assert.ok(first && second);
  assert.equal(typeof first.id, 'number');
  assert.equal(first.job, JOB);
  assert.equal('job_id' in first, false);
  assert.deepEqual(Object.keys(first).slice(0, 2), ['id', 'job']);
  assert.equal(first.event, 'playbook_on_start');
  assert.equal(first.uuid, '458b661b-53bb-4d8b-8c72-841ef57f2e91');
  assert.equal(first.created, '2026-11-24T18:50:12.345Z', 'a naive time is UTC, kept to the millisecond');
  assert.deepEqual(first.event_data, runnerEvents[0]?.event_data);
  assert.equal(first.parent_uuid, null);
  assert.equal(first.changed, false);
  assert.equal(second.play, 'runner check play');
  assert.equal(second.parent_uuid, first.uuid);
});

test('defaults: page 1 of 50 in counter order, with or without the trailing slash', async () => {
  for (const path of [EVENTS, EVENTS.slice(0, -1)]) {
    const page = (await get(path)).json as EventPage;
    assert.equal(page.count, 293);
    assert.equal(page.results.length, 50);
    assert.equal(page.results[0]?.counter, 1);
    assert.equal(page.next, `${path}?page=2`);
    assert.equal(page.previous, null);
  }
});

test('order_by=-counter starts from the last event', async () => {
  const page = (await get(`${EVENTS}?order_by=-counter&page_size=10&page=2`)).json as EventPage;
  assert.deepEqual(page.results.map((r) => r.counter), Array.from({ length: 10 }, (_, i) => 283 - i));
  assert.equal(page.previous, `${EVENTS}?page=1&order_by=-counter&page_size=10`);
  assert.equal(page.next, `${EVENTS}?page=3&order_by=-counter&page_size=10`);
});

test('page_size: up to 200; beyond it a field error', async () => {
  const max = (await get(`${EVENTS}?page_size=200`)).json as EventPage;
  assert.equal(max.results.length, 200);
  assert.equal(max.next, `${EVENTS}?page=2&page_size=200`);

  const over = await get(`${EVENTS}?page_size=201`);
  assert.equal(over.status, 400);
  assert.deepEqual(over.json, { page_size: ['page_size must be a whole number from 1 to 200; got "201"'] });
});

test('a page that is not a whole number ≥ 1, or an unknown order, is a field error', async () => {
  const zero = await get(`${EVENTS}?page=0`);
  assert.equal(zero.status, 400);
  assert.deepEqual(zero.json, { page: ['page must be a whole number ≥ 1; got "0"'] });

  const both = await get(`${EVENTS}?page=x&order_by=host`);
  assert.equal(both.status, 400);
  assert.deepEqual(both.json, {
    page: ['page must be a whole number ≥ 1; got "x"'],
    order_by: ['order_by must be one of counter, -counter, id, -id, created, -created; got "host"'],
  });

  const filter = await get(`${EVENTS}?event=runner_on_ok`);
  assert.equal(filter.status, 400, 'a filter is refused rather than ignored');
  assert.deepEqual(Object.keys(filter.json ?? {}), ['event']);
});

test('a page past the end is 404 Invalid page.', async () => {
  for (const page of ['7', '99999999999999999999999']) {
    const res = await get(`${EVENTS}?page=${page}`);
    assert.equal(res.status, 404, page);
    assert.deepEqual(res.json, { detail: 'Invalid page.' });
  }
  assert.equal((await get(`${EVENTS}?page=6`)).status, 200, 'the last page (43 events) is there');
});

test('a job with no events has an empty first page; an id that is not a positive integer is not found', async () => {
  const empty = await get('/api/v2/jobs/8/job_events/');
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.json, { count: 0, next: null, previous: null, results: [] });
  for (const id of ['0', '-1', 'abc', '7.5']) {
    const res = await get(`/api/v2/jobs/${id}/job_events/`);
    assert.equal(res.status, 404, id);
    assert.deepEqual(res.json, { detail: 'Not found.' });
  }
});

test('host summaries: one per host from playbook_on_stats, paged the same way', async () => {
  const { status, json } = await get(`/api/v2/jobs/${JOB}/job_host_summaries/`);
  assert.equal(status, 200);
  const page = json as EventPage;
  assert.equal(page.count, 3);
  assert.ok(page.results.every((r) => typeof r.id === 'number'));
  assert.deepEqual(
    page.results.map(({ id: _id, ...rest }) => rest),
    ['h1', 'h2', 'h3'].map((host_name) => ({
      job: JOB, host_name, ok: 19, changed: 5, failures: 0, dark: 0, skipped: 1, rescued: 0, ignored: 1, processed: 1, failed: false,
    })),
  );

  const paged = (await get(`/api/v2/jobs/${JOB}/job_host_summaries?page_size=2`)).json as EventPage;
  assert.deepEqual(paged.results.map((r) => r.host_name), ['h1', 'h2']);
  assert.equal(paged.next, `/api/v2/jobs/${JOB}/job_host_summaries?page=2&page_size=2`);
  assert.equal((await get(`/api/v2/jobs/${JOB}/job_host_summaries/?order_by=counter`)).status, 400);
  assert.equal((await get('/api/v2/jobs/8/job_host_summaries/')).json?.count, 0);
});

test('ping: 200 when the database and Redis answer', async () => {
  const { status, json } = await get('/api/v2/ping/');
  assert.equal(status, 200);
  assert.deepEqual(json, { node: 'node-a', version: '0.1.0', redis: true, database: true });
  assert.equal((await get('/api/v2/ping')).status, 200);
});

test('ping: 503 when Redis does not answer, or the database hangs or is gone', async () => {
  const noRedis = await serve(storage, async () => false);
  const res = await fetch(`${noRedis.base}/api/v2/ping/`);
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), { node: 'node-a', version: '0.1.0', redis: false, database: true });

  const hanging = await serve({ ping: () => new Promise<void>(() => {}) } as unknown as Storage);
  const slow = await fetch(`${hanging.base}/api/v2/ping/`);
  assert.equal(slow.status, 503);
  assert.deepEqual(await slow.json(), { node: 'node-a', version: '0.1.0', redis: true, database: false });
});

test('a database error is 500 with a detail, and the server logs the cause with its code', async () => {
  const gone = new SqliteStorage(join(tempDir(), 'gone.db'));
  await gone.migrate();
  await gone.close();
  const { base: goneBase, logs } = await serve(gone);

  const res = await fetch(`${goneBase}${EVENTS}`);
  assert.equal(res.status, 500);
  assert.match(((await res.json()) as { detail: string }).detail, /OVERSEER_API_STORAGE/);
  const line = logs.find((l) => l.msg === 'api request failed');
  assert.ok(line, 'logged');
  assert.equal((line.err as { code?: string }).code, 'OVERSEER_API_STORAGE');
  assert.match((line.err as { message: string }).message, new RegExp(`GET ${EVENTS} failed: `));

  const ping = await fetch(`${goneBase}/api/v2/ping/`);
  assert.equal(ping.status, 503);
  assert.equal(((await ping.json()) as { database: boolean }).database, false);
});

test('the same port still serves /metrics, and its 404 for paths outside /api/v2', async () => {
  const metrics = await get('/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.raw, /^overseer_api_test_gauge 42$/m);
  const elsewhere = await get('/api/v1/ping/');
  assert.equal(elsewhere.status, 404);
  assert.match(elsewhere.raw, /metrics are at \/metrics/);
});

test('only GET and HEAD; an unknown /api/v2 path is not found', async () => {
  const post = await get('/api/v2/ping/', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.deepEqual(post.json, { detail: 'Method "POST" not allowed.' });
  assert.equal((await get(EVENTS, { method: 'DELETE' })).status, 405);

  const head = await get(EVENTS, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.raw, '');
  assert.ok(Number(head.headers.get('content-length')) > 0);

  for (const path of ['/api/v2/nope/', '/api/v2/jobs/7/', `/api/v2/jobs/${JOB}/job_events/1/`]) {
    const res = await get(path);
    assert.equal(res.status, 404, path);
    assert.deepEqual(res.json, { detail: 'Not found.' });
  }
  const index = await get('/api/v2/');
  assert.equal(index.status, 200, 'AWX\'s index of the API');
  assert.equal(index.json?.job_templates, '/api/v2/job_templates/');
});

test('stdout: the output of every event (over 200: read page by page) in counter order; txt strips ANSI codes, ansi and json keep them', async () => {
  const job = await new ControlStore(storage.sql).createJob({ type: 'job', name: 'stdout', launch_type: 'manual' });
  const green = (text: string) => `\x1b[0;32m${text}\x1b[0m`;
  const rows = fixtureRows(job.id).rows.map((r) => (r.event === 'runner_on_ok' ? { ...r, stdout: green(r.stdout) } : r));
  await storage.saveBatch({ events: [...rows].reverse(), hostSummaries: [], streamEnds: [] });
  const lines = rows.filter((r) => r.stdout !== '').map((r) => `${r.stdout}\n`);
  assert.ok(rows.length > 200 && lines.some((l) => l.includes('\x1b[')));

  const txt = await get(`/api/v2/jobs/${job.id}/stdout/`);
  assert.equal(txt.status, 200);
  assert.equal(txt.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(txt.raw, lines.join('').replace(/\x1b\[[0-9;]*m/g, ''));
  assert.ok(!txt.raw.includes('\x1b'));
  assert.equal((await get(`/api/v2/jobs/${job.id}/stdout/?format=ansi`)).raw, lines.join(''));
  const json = (await get(`/api/v2/jobs/${job.id}/stdout/?format=json`)).json as { range: { end: number }; content: string };
  assert.equal(json.content, lines.join(''));
  assert.equal(json.range.end, json.content.split('\n').length - 1);
});
