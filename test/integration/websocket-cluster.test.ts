// The live job output across a cluster: a client connected to node b follows a real Ansible job
// launched through node a and run there, through a shared Redis and through the relay (a Redis per
// node). Both nodes share one PostgreSQL, as a cluster does.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { WebSocket } from 'ws';
import { LIVE_JOBS_CHANNEL, encodeEvents, eventsChannel } from '../../src/live/live-messages.ts';
import { HELLO } from '../../src/live/relay-live.ts';
import { signLiveFrame } from '../../src/cluster/relay-protocol.ts';
import { fixtureEvents, pushEvents } from '../helpers/events.ts';
import { LiveSocket } from './websocket-client.ts';
import { SITE } from '../helpers/playbooks.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SECRET = 'relay-secret-for-the-live-tests';

type Ports = Awaited<ReturnType<typeof writeTestConfig>>['ports'];
interface Member {
  readonly node: NodeUnderTest;
  readonly ports: Ports;
  readonly dataDir: string;
}

async function api(port: number, method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as Json;
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function storedEvents(port: number, jobId: number): Promise<Json[]> {
  const all: Json[] = [];
  for (let page = 1; ; page++) {
    const body = await api(port, 'GET', `/api/v2/jobs/${jobId}/job_events/?page=${page}&page_size=200&order_by=counter`);
    all.push(...(body.results as Json[]));
    if (body.next === null) return all;
  }
}

/**
 * Two nodes on one database: a runs jobs, b has too little capacity to take one (a job needs 2), so
 * a job launched through a runs on a. `cluster` is the mode's config; `redisUrl` a shared Redis or none.
 */
async function startPair(databaseUrl: string, projectDir: string, mode: 'shared_redis' | 'relay', redisUrl?: string): Promise<{ a: Member; b: Member }> {
  const [da, db] = [tempDir('overseer-wsc-a-'), tempDir('overseer-wsc-b-')];
  const [ca, cb] = await Promise.all([writeTestConfig(da), writeTestConfig(db)]);
  const config = async (dir: string, name: string, own: Ports, other: { name: string; web: number }, capacity: number) =>
    writeTestConfig(dir, {
      node_name: name,
      log_level: 'info',
      database_url: databaseUrl,
      ...(redisUrl === undefined ? {} : { redis_url: redisUrl }),
      snapshot_interval_ms: 500,
      cluster: mode === 'relay' ? { mode, secret: SECRET, peers: [{ name: other.name, url: `ws://127.0.0.1:${other.web}` }] } : { mode },
      services: {
        web: { port: own.web },
        callback_receiver: { port: own.callback_receiver, workers: 2, batch_size: 20 },
        dispatcher: { port: own.dispatcher, min_workers: 1, max_workers: 2, capacity, schedule_interval_ms: 2000, project_roots: [dirname(projectDir)] },
        websockets: { port: own.websockets },
      },
    });
  const fa = await config(da, 'a', ca.ports, { name: 'b', web: cb.ports.web }, 20);
  const fb = await config(db, 'b', cb.ports, { name: 'a', web: ca.ports.web }, 1);
  // The ports are the first configs' (writeTestConfig returns fresh ones it did not use).
  const a = { node: startNode(['--config', fa.file]), ports: ca.ports, dataDir: fa.dataDir };
  const b = { node: startNode(['--config', fb.file]), ports: cb.ports, dataDir: fb.dataDir };
  await Promise.all([a.node.waitForLog('ready'), b.node.waitForLog('ready')]);
  return { a, b };
}

/** Launches site.yml through a, follows it from b; returns what b's client received and the job id. */
async function followFromB(a: Member, b: Member, projectDir: string, aRedis: Redis): Promise<{ id: number; socket: LiveSocket }> {
  const inventory = await api(a.ports.web, 'POST', '/api/v2/inventories/', { name: 'local', content: 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' });
  const project = await api(a.ports.web, 'POST', '/api/v2/projects/', { name: 'local', local_path: projectDir });
  const template = await api(a.ports.web, 'POST', '/api/v2/job_templates/', { name: 'site', project: project.id, inventory: inventory.id, playbook: 'site.yml' });

  const socket = await LiveSocket.open(b.ports.web);
  await socket.subscribe({ jobs: ['status_changed', 'summary'] });
  // Where a saves the job's events: b's hub (shared Redis) or a's relay thread for b follows them.
  await waitFor('b follows the status channel in the Redis a publishes to', async () => Number((await aRedis.pubsub('NUMSUB', LIVE_JOBS_CHANNEL))[1]) >= 1);
  const id = (await api(a.ports.web, 'POST', `/api/v2/job_templates/${template.id}/launch/`, {})).job as number;
  await socket.subscribe({ jobs: ['status_changed', 'summary'], job_events: [id] });
  await waitFor(`b follows job ${id}'s events`, async () => Number((await aRedis.pubsub('NUMSUB', eventsChannel(id)))[1]) >= 1, 5_000);
  return { id, socket };
}

/** What a user following the job on b must have seen: every stored event in counter order and once, running, successful, the summary last. */
async function assertFollowed(a: Member, b: Member, id: number, socket: LiveSocket): Promise<void> {
  const summary = await socket.next(`job ${id}'s summary`, (m) => m.unified_job_id === id && 'final_counter' in m, 0, 180_000);
  const job = await api(a.ports.web, 'GET', `/api/v2/jobs/${id}/`);
  assert.equal(job.status, 'successful', job.job_explanation);
  assert.equal(job.controller_node, 'a', 'the job ran on a');
  const stored = await storedEvents(a.ports.web, id);
  assert.ok(stored.length >= 12, `${stored.length} events stored`);
  assert.equal(summary.final_counter, stored.length);
  const events = socket.events('job_events', id);
  assert.deepEqual(events.map((e) => e.counter), stored.map((e) => e.counter), 'every stored event, in counter order, each once');
  assert.deepEqual(events.map(({ group_name, ...e }) => e), stored, 'each as the job_events API shows it');
  assert.ok(socket.received.indexOf(summary) > socket.received.indexOf(events.at(-1)!), 'the summary after the last event');
  await waitFor('the successful status message', () => socket.received.some((m) => m.unified_job_id === id && m.status === 'successful'));
  const statuses = socket.received.filter((m) => m.group_name === 'jobs' && m.unified_job_id === id && 'status' in m);
  for (const s of statuses) assert.equal(s.type, 'job');
  const seen = statuses.map((s) => s.status as string);
  assert.ok(seen.includes('running') && seen.includes('successful'), `statuses seen: ${seen.join(', ')}`);
  assert.ok(seen.indexOf('running') < seen.indexOf('successful'));
  // On a shared Redis both nodes' receivers take from the one callback queue.
  let broadcast = 0;
  for (const m of [a, b]) broadcast += sampleValue((await scrape(m.ports.callback_receiver)).body, 'callback_receiver_events_broadcast_total') ?? 0;
  assert.equal(broadcast, stored.length, 'the receivers sent each event on once');
  assert.ok((sampleValue((await scrape(b.ports.websockets)).body, 'overseer_websocket_messages_sent_total') ?? 0) >= stored.length + 3);
}

describe('a client on node b follows a job run on node a', () => {
  let postgres: TestPostgres;
  let projectDir: string;
  const nodes: NodeUnderTest[] = [];
  const cleanups: (() => unknown)[] = [];

  before(async () => {
    postgres = await startTestPostgres();
    projectDir = join(tempDir('overseer-wsc-project-'), 'project');
    mkdirSync(projectDir);
    writeFileSync(join(projectDir, 'site.yml'), SITE);
  });
  after(async () => {
    // A node still running here (a test failed midway) is killed, with the private redis-server it leaves behind.
    await Promise.all(
      nodes.map(async (n) => {
        if ((await n.stop('SIGKILL')) !== null) return;
        const pid = n.logs.find((l) => l.msg === 'private redis-server started')?.redis_pid;
        try {
          if (typeof pid === 'number') process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }),
    );
    for (const c of cleanups.reverse()) await c();
    await postgres?.stop();
  });

  test('through a shared Redis', { timeout: 300_000 }, async () => {
    const redis: TestRedis = await startTestRedis();
    cleanups.push(() => redis.stop());
    const { a, b } = await startPair(await postgres.createDatabase(), projectDir, 'shared_redis', redis.url);
    nodes.push(a.node, b.node);
    const client = new Redis(redis.url);
    cleanups.push(() => client.disconnect());
    const { id, socket } = await followFromB(a, b, projectDir, client);
    cleanups.push(() => socket.close());
    await assertFollowed(a, b, id, socket);
    client.disconnect();
    assert.deepEqual(await Promise.all([a.node.stop(), b.node.stop()]), [0, 0]);
  });

  test('through the relay, signed, each node with its own Redis', { timeout: 300_000 }, async () => {
    const { a, b } = await startPair(await postgres.createDatabase(), projectDir, 'relay');
    nodes.push(a.node, b.node);
    const aRedis = new Redis({ path: join(a.dataDir, 'redis.sock') });
    cleanups.push(() => aRedis.disconnect());
    const { id, socket } = await followFromB(a, b, projectDir, aRedis);
    cleanups.push(() => socket.close());
    await assertFollowed(a, b, id, socket);
    const sent = sampleValue((await scrape(a.ports.websockets)).body, 'overseer_relay_live_messages_total{peer="b"}') ?? 0;
    assert.ok(sent > 0, 'a relayed live messages to b');
    await waitFor(`b received the ${sent} live messages a relayed`, async () => sampleValue((await scrape(b.ports.websockets)).body, 'overseer_websocket_relayed_in_total') === sent);
    assert.equal(sampleValue((await scrape(a.ports.websockets)).body, 'overseer_relay_live_dropped_total{peer="b"}'), 0);

    // What a peer relays is for b's clients only: b never relays it on (no loops). A live message
    // signed by a third node c reaches b's client, and not a's, though a's client follows the job too.
    const onA = await LiveSocket.open(a.ports.web);
    const onB = await LiveSocket.open(b.ports.web);
    cleanups.push(() => onA.close(), () => onB.close());
    await Promise.all([onA.subscribe({ job_events: [9999] }), onB.subscribe({ job_events: [9999] })]);
    const bRedis = new Redis({ path: join(b.dataDir, 'redis.sock') });
    cleanups.push(() => bRedis.disconnect());
    await waitFor("b's relay thread follows job 9999 for a", async () => Number((await bRedis.pubsub('NUMSUB', eventsChannel(9999)))[1]) >= 2);
    const c = new WebSocket(`ws://127.0.0.1:${b.ports.web}/api/v2/relay/`);
    cleanups.push(() => c.terminate());
    await new Promise((resolve) => c.once('open', resolve));
    const answers: string[] = [];
    c.on('message', (d) => answers.push(d.toString()));
    c.send(signLiveFrame('not-the-cluster-secret-at-all', 'c', HELLO));
    await waitFor('the forged hello refused', () => answers.includes('{"rejected":"signature"}'));
    const event = (counter: number) => ({ ...fixtureEvents(9999)[counter - 1], counter, uuid: `live-${counter}` });
    c.send(signLiveFrame(SECRET, 'c', encodeEvents(9999, [{ counter: 1, json: JSON.stringify({ id: 1, job: 9999, counter: 1 }) }])));
    await onB.next("c's event on b", (m) => m.job === 9999 && m.counter === 1);
    await pushEvents(bRedis, 'callback_tasks', [event(2)]);
    await onA.next("b's own event of job 9999 on a", (m) => m.job === 9999 && m.counter === 2, 0, 15_000);
    assert.deepEqual(onA.events('job_events', 9999).map((e) => e.counter), [2], "a got b's own event, not what c relayed to b");
    aRedis.disconnect();
    bRedis.disconnect();
    assert.deepEqual(await Promise.all([a.node.stop(), b.node.stop()]), [0, 0]);
  });
});
