// The live job output on one node, as a client of /websocket/ sees it: AWX's groups protocol,
// every saved event in counter order and once, resubscription, bad messages, tokens, other sites.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { pushEvents, syntheticEvents } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { LiveSocket, type Refused } from './websocket-client.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const TOKEN = 'a-token-for-the-live-output-tests';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Every stored event of a job as the API pages them, in counter order. */
async function storedEvents(port: number, jobId: number): Promise<Json[]> {
  const all: Json[] = [];
  for (let page = 1; ; page++) {
    const res = await fetch(`http://127.0.0.1:${port}/api/v2/jobs/${jobId}/job_events/?page=${page}&page_size=200&order_by=counter`, { headers: AUTH });
    const body = (await res.json()) as { results: Json[]; next: string | null };
    all.push(...body.results);
    if (body.next === null) return all;
  }
}

const refusal = (p: Promise<unknown>) => p.then(() => assert.fail('the upgrade was accepted'), (err: Refused) => err);

describe('the live job output on one node', () => {
  let node: NodeUnderTest;
  let ports: Awaited<ReturnType<typeof writeTestConfig>>['ports'];
  let redis: Redis;
  const sockets: LiveSocket[] = [];
  const open = async (headers: Record<string, string> = AUTH) => {
    const s = await LiveSocket.open(ports.web, headers);
    sockets.push(s);
    return s;
  };
  const live = async () => (await scrape(ports.websockets)).body;

  before(async () => {
    const dir = tempDir('overseer-ws-');
    // Two receiver threads and small batches: a job's batches commit out of order.
    const cfg = await writeTestConfig(dir, {
      log_level: 'info',
      services: { web: { tokens: [TOKEN] }, callback_receiver: { workers: 2, batch_size: 100 } },
    });
    ports = cfg.ports;
    node = startNode(['--config', cfg.file]);
    await node.waitForLog('ready');
    redis = new Redis({ path: join(cfg.dataDir, 'redis.sock') });
  });
  after(async () => {
    for (const s of sockets) s.close();
    redis?.disconnect();
    assert.equal(await node.stop(), 0);
  });

  test('a subscriber gets every saved event in counter order, once, as the API shows it, then the summary', async () => {
    const s = await open();
    assert.deepEqual(await s.next('the accept', () => true), { accept: true });
    const answer = await s.subscribe({ jobs: ['status_changed', 'summary'], job_events: [101] });
    assert.deepEqual(answer, { groups_current: ['jobs-status_changed', 'jobs-summary', 'job_events-101'], groups_left: [], groups_joined: ['jobs-status_changed', 'jobs-summary', 'job_events-101'] });
    const N = 3000;
    await pushEvents(redis, 'callback_tasks', [...syntheticEvents(101, N), { job_id: 101, event: 'EOF', final_counter: N }]);
    const summary = await s.next('the summary', (m) => m.group_name === 'jobs' && m.unified_job_id === 101 && 'final_counter' in m, 0, 60_000);
    assert.deepEqual(summary, { group_name: 'jobs', unified_job_id: 101, final_counter: N });
    const events = s.events('job_events', 101);
    assert.equal(events.length, N, 'every event once');
    assert.deepEqual(events.map((e) => e.counter), Array.from({ length: N }, (_, i) => i + 1), 'in counter order');
    assert.ok(s.received.indexOf(summary) > s.received.indexOf(events.at(-1)!), 'the summary comes after the last event');
    const stored = await storedEvents(ports.web, 101);
    assert.deepEqual(events.map(({ group_name, ...e }) => e), stored, 'each event as GET /api/v2/jobs/101/job_events/ shows it');
    assert.ok(events.every((e) => e.group_name === 'job_events'));
    const body = await live();
    assert.ok((sampleValue(body, 'overseer_websocket_messages_sent_total') ?? 0) >= N + 2);
    const broadcast = sampleValue((await scrape(ports.callback_receiver)).body, 'callback_receiver_events_broadcast_total');
    assert.equal(broadcast, N, 'callback_receiver_events_broadcast_total counts the events sent on');
  });

  test('a gap in the counters holds the events after it for a moment, then they come; the missing one, late, comes once', async () => {
    const s = await open();
    await s.subscribe({ job_events: [151] });
    const events = syntheticEvents(151, 30);
    await pushEvents(redis, 'callback_tasks', [...events.slice(0, 9), ...events.slice(10)]); // counter 10 missing
    await waitFor('1 to 9', () => s.events('job_events', 151).length === 9);
    await waitFor('11 to 30, after the gap wait', () => s.events('job_events', 151).length === 29, 15_000);
    await pushEvents(redis, 'callback_tasks', [events[9] as string, events[3] as string]); // 10 at last, and 4 again (already stored)
    await waitFor('10, late', () => s.events('job_events', 151).length === 30);
    const counters = s.events('job_events', 151).map((e) => e.counter as number);
    assert.deepEqual(counters, [1, 2, 3, 4, 5, 6, 7, 8, 9, ...Array.from({ length: 20 }, (_, i) => i + 11), 10]);
  });

  test('a new groups message replaces the previous subscription', async () => {
    const s = await open();
    const base = sampleValue(await live(), 'overseer_websocket_subscriptions') ?? 0;
    await s.subscribe({ job_events: [201], project_update_events: [202] });
    assert.equal(sampleValue(await live(), 'overseer_websocket_subscriptions'), base + 2);
    const answer = await s.subscribe({ job_events: [203] });
    assert.deepEqual(answer, { groups_current: ['job_events-203'], groups_left: ['job_events-201', 'project_update_events-202'], groups_joined: ['job_events-203'] });
    assert.equal(sampleValue(await live(), 'overseer_websocket_subscriptions'), base + 1);
    await pushEvents(redis, 'callback_tasks', [...syntheticEvents(201, 20), ...syntheticEvents(202, 20), ...syntheticEvents(203, 20)]);
    await waitFor('job 203 events', () => s.events('job_events', 203).length === 20);
    // 201 and 202 were saved with 203 (same batches): nothing of theirs came.
    await waitFor('every event stored', async () => (await storedEvents(ports.web, 202)).length === 20);
    assert.equal(s.received.filter((m) => m.job === 201 || m.job === 202).length, 0);
    const none = await s.subscribe({});
    assert.deepEqual(none, { groups_current: [], groups_left: ['job_events-203'], groups_joined: [] });
  });

  test('project update events come under their own group_name', async () => {
    const s = await open();
    await s.subscribe({ project_update_events: ['301'] });
    await pushEvents(redis, 'callback_tasks', syntheticEvents(301, 5));
    await waitFor('5 events', () => s.events('project_update_events', 301).length === 5);
    assert.equal(s.events('job_events').length, 0);
  });

  test('bad messages get a clear error and change nothing; ten in a row close the connection, counted', async () => {
    const s = await open();
    await s.subscribe({ job_events: [401] });
    const cases: [unknown, RegExp][] = [
      ['not json', /^messages must be JSON objects/],
      [[1, 2], /^messages must be JSON objects/],
      [{ hello: 1 }, /^expected \{"groups"/],
      [{ groups: { job_events: 401 } }, /^groups\.job_events must be a list, got 401$/],
      [{ groups: { jobs: ['everything'] } }, /^groups\.jobs takes "status_changed" and "summary", not "everything"$/],
      [{ groups: { job_events: [-3] } }, /^groups\.job_events takes job ids \(positive integers\), not -3$/],
      [{ groups: { jobz: [1] } }, /^unknown group "jobz"; expected one of jobs, job_events, project_update_events, workflow_events/],
    ];
    for (const [message, error] of cases) {
      const from = s.received.length;
      s.send(message);
      const answer = await s.next(`the error for ${JSON.stringify(message)}`, (m) => 'error' in m, from);
      assert.match(answer.error as string, error);
    }
    const from = s.received.length;
    s.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.match((await s.next('the binary error', (m) => 'error' in m, from)).error as string, /text frames/);
    // The subscription is what it was: 401's events still come.
    await pushEvents(redis, 'callback_tasks', syntheticEvents(401, 3));
    await waitFor('401 events', () => s.events('job_events', 401).length === 3);
    const dropsBefore = sampleValue(await live(), 'overseer_websocket_drops_total{reason="bad_messages"}') ?? 0;
    for (let i = 0; i < 10; i++) s.send('nope');
    const closed = await s.waitClosed();
    assert.equal(closed.code, 1008);
    const last = s.received.at(-1)!;
    assert.equal(last.close, true);
    assert.match(last.error as string, /^10 unusable messages in a row/);
    assert.equal(sampleValue(await live(), 'overseer_websocket_drops_total{reason="bad_messages"}'), dropsBefore + 1);
  });

  test('tokens: a wrong Authorization header is refused at the upgrade; without one the first message carries the token', async () => {
    const wrong = await refusal(open({ authorization: 'Bearer not-the-token-0123456789' }));
    assert.equal(wrong.status, 401);
    assert.deepEqual(JSON.parse(wrong.body), { detail: 'Invalid token.' });

    const browser = await open({});
    assert.deepEqual(browser.received, [], 'nothing before the token');
    browser.send({ token: TOKEN, groups: { job_events: [501] } });
    await browser.next('the groups answer', (m) => 'groups_current' in m);
    assert.deepEqual(browser.received.slice(0, 2), [{ accept: true }, { groups_current: ['job_events-501'], groups_left: [], groups_joined: ['job_events-501'] }]);

    const badToken = await open({});
    badToken.send({ token: 'not-the-token-0123456789' });
    await badToken.waitClosed();
    assert.deepEqual(badToken.received, [{ error: 'Invalid token.', close: true }]);

    const noToken = await open({});
    noToken.send({ groups: { job_events: [501] } });
    await noToken.waitClosed();
    assert.match(noToken.received[0]?.error as string, /^Authentication credentials were not provided/);
    assert.equal(noToken.received.length, 1);

    const silent = await open({});
    const closed = await silent.waitClosed(20_000);
    assert.equal(closed.code, 1008);
    assert.match(silent.received[0]?.error as string, /^Authentication credentials were not provided within 10 s/);
    assert.ok((sampleValue(await live(), 'overseer_websocket_drops_total{reason="unauthenticated"}') ?? 0) >= 3);
  });

  test('another site, or a name that is not this node, is refused as the API refuses it', async () => {
    const origin = await refusal(open({ ...AUTH, origin: 'http://evil.example' }));
    assert.equal(origin.status, 403);
    assert.match(origin.body, /Origin http:\/\/evil\.example is not this node/);
    const site = await refusal(open({ ...AUTH, 'sec-fetch-site': 'cross-site' }));
    assert.equal(site.status, 403);
    const host = await refusal(open({ ...AUTH, host: 'rebound.example:80' }));
    assert.equal(host.status, 421);
    const own = await open({ ...AUTH, origin: `http://127.0.0.1:${ports.web}`, 'sec-fetch-site': 'same-origin' });
    assert.deepEqual(await own.next('accept', () => true), { accept: true });
    const other = await refusal(LiveSocket.open(ports.web, AUTH, '/websocket/nope/'));
    assert.equal(other.status, 404);
    const awx = await LiveSocket.open(ports.web, AUTH, '/api/websocket/');
    sockets.push(awx);
    assert.deepEqual(await awx.next('accept', () => true), { accept: true });
  });

  test('the connections gauge follows the open clients', async () => {
    const before = sampleValue(await live(), 'overseer_websocket_connections') ?? 0;
    const s = await open();
    await waitFor('one more connection', async () => sampleValue(await live(), 'overseer_websocket_connections') === before + 1);
    s.close();
    await waitFor('back again', async () => sampleValue(await live(), 'overseer_websocket_connections') === before);
  });
});
