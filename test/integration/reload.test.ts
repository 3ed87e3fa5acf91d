// SIGHUP as an operator uses it: edit the config file, send the signal, and the node changes what
// can change live, without a restart and without losing or repeating an event.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRedis } from '../../src/redis/connect.ts';
import { killAfterFile, startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { pushEvents, syntheticEvents } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** Rewrites the node's config file with `change` applied to its JSON, then sends SIGHUP. */
function edit(node: NodeUnderTest, file: string, change: (c: Record<string, any>) => void): void {
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  change(config);
  writeFileSync(file, JSON.stringify(config, null, 2));
  node.child.kill('SIGHUP');
}

const threads = async (port: number, service: string) => sampleValue((await scrape(port)).body, `overseer_threads{service="${service}"}`);
const reloads = async (port: number, result: string) => sampleValue((await scrape(port)).body, `overseer_config_reloads_total{result="${result}"}`) ?? 0;

test('SIGHUP resizes the receivers 2 → 4 → 1 and the dispatcher pool under a steady stream: every event stored once, same process', async () => {
  const dir = tempDir();
  const { file, ports, dataDir } = await writeTestConfig(dir, {
    services: { callback_receiver: { workers: 2, batch_size: 50, buffer_ms: 20 }, dispatcher: { min_workers: 1, max_workers: 2, idle_timeout_ms: 500 } },
  });
  const node = startNode(['--config', file]);
  killAfterFile(node);
  await node.waitForLog('ready');
  const pid = node.child.pid;

  const redis = createRedis(`unix://${join(dataDir, 'redis.sock')}`, 'test');
  await redis.connect();
  after(() => redis.disconnect());
  const JOB = 4242;
  const events = syntheticEvents(JOB, 40_000);
  // A steady stream, 100 events every 20 ms, for as long as the pools change under it (bounded).
  let pushed = 0;
  let resizing = true;
  const stream = (async () => {
    for (; resizing && pushed < events.length; pushed += 100) {
      await pushEvents(redis, 'callback_tasks', events.slice(pushed, pushed + 100));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  const resize = async (workers: number) => {
    edit(node, file, (c) => (c.services.callback_receiver.workers = workers));
    await waitFor(`${workers} receiver threads`, async () => (await threads(ports.web, 'callback_receiver')) === workers, 15_000);
  };
  await waitFor('events flowing', () => pushed >= 600);
  await resize(4);
  await resize(1);
  edit(node, file, (c) => Object.assign(c.services.dispatcher, { min_workers: 2, max_workers: 3 }));
  await waitFor('the dispatcher grown to its new minimum', async () => (await threads(ports.web, 'dispatcher')) === 2, 15_000);
  edit(node, file, (c) => Object.assign(c.services.dispatcher, { min_workers: 1 }));
  await waitFor('the dispatcher back to one idle thread', async () => (await threads(ports.web, 'dispatcher')) === 1, 15_000);
  resizing = false;
  await stream;
  assert.ok(pushed < events.length, 'the stream ran through every resize');

  const stored = async () => ((await (await fetch(`http://127.0.0.1:${ports.web}/api/v2/jobs/${JOB}/job_events/?page_size=1`)).json()) as { count: number }).count;
  await waitFor(`all ${pushed} events stored`, async () => (await stored()) === pushed, 60_000);
  const cr = (await scrape(ports.callback_receiver)).body;
  assert.equal(sampleValue(cr, 'callback_receiver_events_insert_db_total'), pushed, 'each event inserted once: counters of retired threads are kept');
  assert.equal(sampleValue(cr, 'callback_receiver_events_duplicate_total'), 0, 'no event was handled twice');
  assert.equal(await redis.llen('callback_tasks'), 0);
  assert.equal(node.child.pid, pid);
  assert.equal(node.logs.filter((l) => l.msg === 'ready').length, 1, 'the node never restarted');
  assert.equal(await reloads(ports.web, 'applied'), 4);
  const reloaded = node.logs.filter((l) => l.msg === 'config reloaded');
  assert.deepEqual((reloaded[0]?.applied as { key: string }[]).map((a) => a.key), ['services.callback_receiver.workers']);
  assert.equal(await node.stop(), 0);
});

test('SIGHUP with a broken file or a changed port: the node keeps running on its config and says why', async () => {
  const dir = tempDir();
  const { file, ports } = await writeTestConfig(dir);
  const node = startNode(['--config', file]);
  killAfterFile(node);
  await node.waitForLog('ready');
  const good = readFileSync(file, 'utf8');

  writeFileSync(file, good.replace('"data_dir"', '"log_levle": "debug",\n  "data_dir"').replace(/"workers": 2/, '"workers": 0'));
  node.child.kill('SIGHUP');
  const refused = await node.waitForLog('config reload refused; the node goes on with its current config');
  const problems = refused.problems as string[];
  assert.ok(problems.some((p) => p.startsWith('log_levle') && p.includes('unknown key')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('services.callback_receiver.workers') && p.includes('0 is too small')), problems.join('\n'));
  assert.equal(await reloads(ports.web, 'invalid'), 1);
  assert.equal(await threads(ports.web, 'callback_receiver'), 2, 'nothing changed');

  const moved = JSON.parse(good) as Record<string, any>;
  moved.services.web.port = ports.web + 1;
  moved.log_level = 'info';
  writeFileSync(file, JSON.stringify(moved, null, 2));
  node.child.kill('SIGHUP');
  const restart = await node.waitForLog('config reload: services.web.port changed; it takes effect at the next restart');
  assert.equal(restart.key, 'services.web.port');
  const done = await node.waitForLog('config reloaded');
  assert.deepEqual(done.needs_restart, ['services.web.port']);
  assert.deepEqual((done.applied as { key: string }[]).map((a) => a.key), ['log_level']);
  assert.equal(await reloads(ports.web, 'partial'), 1, 'a reload with a key left for a restart is partial');
  assert.equal((await scrape(ports.web)).status, 200, 'the web port stays where it was');
  assert.equal(await node.stop(), 0);
});

test('POST /api/v2/config/reload/ (token required) answers what changed; new tokens and anonymous metrics apply at once', async () => {
  const OLD = 'reload-test-token-old-0123456789';
  const NEW = 'reload-test-token-new-0123456789';
  const dir = tempDir();
  const { file, ports } = await writeTestConfig(dir, { services: { web: { tokens: [OLD] } } });
  const node = startNode(['--config', file]);
  killAfterFile(node);
  await node.waitForLog('ready');
  const call = (method: string, path: string, token?: string) =>
    fetch(`http://127.0.0.1:${ports.web}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

  assert.equal((await call('POST', '/api/v2/config/reload/')).status, 401, 'a reload needs a token');
  assert.equal((await call('GET', '/api/v2/metrics/')).status, 401);

  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  Object.assign(config.services.web, { tokens: [NEW], allow_anonymous_metrics: true });
  config.services.dispatcher.capacity = 33;
  writeFileSync(file, JSON.stringify(config, null, 2));
  const res = await call('POST', '/api/v2/config/reload/', OLD);
  assert.equal(res.status, 200);
  const outcome = (await res.json()) as { result: string; applied: { key: string; from: unknown; to: unknown }[]; needs_restart: unknown[] };
  assert.equal(outcome.result, 'applied');
  assert.deepEqual(outcome.applied.map((a) => a.key).sort(), ['services.dispatcher.capacity', 'services.web.allow_anonymous_metrics', 'services.web.tokens']);
  assert.ok(!JSON.stringify(outcome).includes(NEW) && !JSON.stringify(outcome).includes(OLD), 'tokens are never shown');

  assert.equal((await call('GET', '/api/v2/jobs/', OLD)).status, 401, 'the old token is refused');
  assert.equal((await call('GET', '/api/v2/jobs/', NEW)).status, 200, 'the new one is taken');
  assert.equal((await call('GET', '/api/v2/metrics/')).status, 200, 'cluster metrics are open now');
  const me = ((await (await call('GET', '/api/v2/instances/', NEW)).json()) as { results: { capacity: number | null }[] }).results.find((i) => i.capacity !== null);
  assert.equal(me?.capacity, 33, 'the new capacity is the node\'s');

  writeFileSync(file, '{ not yaml: [');
  const bad = await call('POST', '/api/v2/config/reload/', NEW);
  assert.equal(bad.status, 400);
  const refused = (await bad.json()) as { result: string; problems: string[] };
  assert.equal(refused.result, 'invalid');
  assert.match(refused.problems[0] ?? '', /is not valid YAML/);
  assert.equal((await call('GET', '/api/v2/jobs/', NEW)).status, 200, 'a broken file changed nothing');
  assert.equal(await node.stop(), 0);
});

test('SIGHUP with a new cluster.peers: the relay starts sending to the new peer, and its series appear', async () => {
  const SECRET = 'reload-relay-secret-0123456789';
  const relay = { mode: 'relay', peers: [], secret: SECRET };
  const b = await writeTestConfig(tempDir(), { node_name: 'node-b', snapshot_interval_ms: 200, cluster: relay });
  const a = await writeTestConfig(tempDir(), { node_name: 'node-a', snapshot_interval_ms: 200, cluster: relay });
  const nodeB = startNode(['--config', b.file]);
  const nodeA = startNode(['--config', a.file]);
  killAfterFile(nodeA);
  killAfterFile(nodeB);
  await Promise.all([nodeA.waitForLog('ready'), nodeB.waitForLog('ready')]);
  const instancesOnB = async () => ((await (await fetch(`http://127.0.0.1:${b.ports.web}/api/v2/instances/`)).json()) as { results: { name: string }[] }).results.map((i) => i.name);
  assert.deepEqual(await instancesOnB(), ['node-b'], 'before the reload, B knows only itself');

  edit(nodeA, a.file, (c) => (c.cluster.peers = [{ name: 'node-b', url: `ws://127.0.0.1:${b.ports.web}` }]));
  await waitFor("A's snapshots relayed to B", async () => (await instancesOnB()).includes('node-a'), 15_000);
  const ws = (await scrape(a.ports.websockets)).body;
  assert.equal(sampleValue(ws, 'overseer_relay_connected{peer="node-b"}'), 1);
  assert.ok((sampleValue(ws, 'overseer_relay_messages_total{peer="node-b"}') ?? 0) > 0);
  assert.equal(await threads(a.ports.web, 'websockets'), 1, 'one relay thread, the new one');

  edit(nodeA, a.file, (c) => (c.cluster.peers = []));
  await waitFor('the peer series gone', async () => !(await scrape(a.ports.websockets)).body.includes('peer="node-b"'), 15_000);
  assert.equal(await nodeA.stop(), 0);
  assert.equal(await nodeB.stop(), 0);
});
