// cluster.mode relay, as operators run it: real supervisors, each with its own private Redis,
// sending their snapshots to each other over the relay websocket.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { killAfterFile, startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { freePorts } from '../helpers/ports.ts';
import { promtoolCheck } from '../helpers/promtool.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { SERVICES } from '../../src/services/names.ts';
import { NODES_KEY, SNAPSHOT_CHANNEL, snapshotKey, snapshotTtlMs } from '../../src/cluster/snapshot.ts';

const INTERVAL_MS = 200;
const SECRET = 'relay-test-secret-0123456789';

interface Ports {
  readonly web: number;
  readonly callback_receiver: number;
  readonly dispatcher: number;
  readonly websockets: number;
}

interface RelayNode {
  readonly name: string;
  readonly file: string;
  readonly ports: Ports;
  readonly dataDir: string;
}

/** Four ports for each name, all chosen together so that no two nodes share one. */
async function portsFor(count: number): Promise<Ports[]> {
  const all = await freePorts(4 * count);
  return Array.from({ length: count }, (_, i) => {
    const [web, callback_receiver, dispatcher, websockets] = all.slice(4 * i, 4 * i + 4) as [number, number, number, number];
    return { web, callback_receiver, dispatcher, websockets };
  });
}

/** Writes the config of a relay node named `name` on `ports`, relaying to `peers`. */
async function relayConfig(name: string, ports: Ports, peers: readonly { name: string; port: number }[], secret = SECRET): Promise<RelayNode> {
  const { file, dataDir } = await writeTestConfig(tempDir(`overseer-relay-${name}-`), {
    node_name: name,
    snapshot_interval_ms: INTERVAL_MS,
    cluster: { mode: 'relay', peers: peers.map((p) => ({ name: p.name, url: `ws://127.0.0.1:${p.port}` })), secret },
    services: Object.fromEntries(Object.entries(ports).map(([service, port]) => [service, { port }])),
  });
  return { name, file, ports, dataDir };
}

/**
 * Starts a node; SIGKILL at the end of the file is the safety net when a test fails midway (and
 * then the private redis-server the killed node leaves behind is stopped too).
 */
async function start(n: RelayNode): Promise<NodeUnderTest> {
  const node = startNode(['--config', n.file]);
  killAfterFile(node);
  await node.waitForLog('ready');
  return node;
}

/** A client of a node's private Redis (on its unix socket). */
async function redisOf(n: RelayNode): Promise<Redis> {
  // No reconnection: the node's Redis stops with the node, before this client is disconnected.
  const client = new Redis({ path: join(n.dataDir, 'redis.sock'), lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  after(() => client.disconnect());
  await client.connect();
  return client;
}

/** The value of a series on a port, or undefined. */
async function sample(port: number, series: string): Promise<number | undefined> {
  return sampleValue((await scrape(port)).body, series);
}

/** Waits until a series on a port satisfies `ok`; returns its value. */
function waitForSample(port: number, series: string, ok: (v: number) => boolean, timeoutMs = 20_000): Promise<number> {
  return waitFor(
    `${series} on port ${port}`,
    async () => {
      const v = await sample(port, series);
      return v !== undefined && ok(v) ? v : undefined;
    },
    timeoutMs,
  );
}

/** Asks for a websocket upgrade on a path; resolves with 101 when upgraded, else the HTTP status. */
function upgradeStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.once('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.once('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
}

const warnings = (node: NodeUnderTest, msg: string) => node.logs.filter((l) => l.msg === msg && l.level === 40);

test('two nodes relay to each other: each Redis holds the other node\'s snapshots', async () => {
  const [pa, pb] = (await portsFor(2)) as [Ports, Ports];
  const a = await relayConfig('a', pa, [{ name: 'b', port: pb.web }]);
  const b = await relayConfig('b', pb, [{ name: 'a', port: pa.web }]);
  const [nodeA, nodeB] = await Promise.all([start(a), start(b)]);
  const [redisA, redisB] = await Promise.all([redisOf(a), redisOf(b)]);

  for (const service of SERVICES) {
    const text = await waitFor(`B's Redis to hold a's ${service} snapshot`, async () => (await redisB.get(snapshotKey('a', service))) ?? undefined);
    const snapshot = JSON.parse(text) as { node: string; service: string; interval_ms: number };
    assert.equal(snapshot.node, 'a', 'the stored JSON is a\'s own snapshot');
    assert.equal(snapshot.service, service);
    assert.equal(snapshot.interval_ms, INTERVAL_MS);
    const ttl = await redisB.pttl(snapshotKey('a', service));
    assert.ok(ttl > 0 && ttl <= snapshotTtlMs(INTERVAL_MS), `a's ${service} snapshot in B expires within 3 intervals (PTTL ${ttl})`);
  }
  const listed = JSON.parse((await redisB.hget(NODES_KEY, 'a')) ?? 'null') as { version: string; at: number } | null;
  assert.ok(listed !== null && typeof listed.version === 'string' && listed.at > 0, 'B lists node a in the node hash');
  await waitFor('A\'s Redis to hold b\'s web snapshot', async () => (await redisA.get(snapshotKey('b', 'web'))) ?? undefined);

  await waitForSample(pb.web, 'overseer_cluster_snapshots_received_total', (v) => v > 0);
  await waitForSample(pa.websockets, 'overseer_relay_connected{peer="b"}', (v) => v === 1);
  await waitForSample(pa.websockets, 'overseer_relay_messages_total{peer="b"}', (v) => v > 0);
  const ws = (await scrape(pa.websockets)).body;
  assert.ok(sampleValue(ws, 'overseer_relay_bytes_total{peer="b"}')! > 0, 'bytes sent are counted');
  assert.deepEqual(promtoolCheck(ws), { code: 0, output: '' }, 'promtool has nothing to say about A\'s websockets port');
  const web = (await scrape(pb.web)).body;
  for (const reason of ['malformed', 'format', 'signature', 'expired']) {
    assert.equal(sampleValue(web, `overseer_cluster_snapshots_rejected_total{reason="${reason}"}`), 0, `B refused nothing as ${reason}`);
  }

  assert.equal(await upgradeStatus(pb.web, '/api/v2/relay'), 101, 'the relay path works without its trailing slash');
  assert.equal(await upgradeStatus(pb.web, '/api/v2/relay/?x=1'), 101, 'and with a query string');
  assert.equal(await upgradeStatus(pb.web, '/api/v2/other/'), 404, 'an upgrade on any other path is answered 404');

  // A relays only its own snapshots: a burst of another node's on A's channel is not sent on.
  const own = (await redisA.get(snapshotKey('a', 'dispatcher'))) as string;
  const foreign = JSON.stringify({ ...(JSON.parse(own) as object), node: 'c', at: Date.now() });
  const before = (await sample(pa.websockets, 'overseer_relay_messages_total{peer="b"}')) as number;
  for (let i = 0; i < 200; i++) await redisA.publish(SNAPSHOT_CHANNEL, foreign);
  // The channel delivers in order: once B holds a snapshot A took after the burst, the relay has seen the burst.
  const burstEnd = Date.now();
  await waitFor('B to hold a snapshot a took after the burst', async () => {
    const text = await redisB.get(snapshotKey('a', 'dispatcher'));
    return text !== null && (JSON.parse(text) as { at: number }).at > burstEnd;
  });
  const sent = ((await sample(pa.websockets, 'overseer_relay_messages_total{peer="b"}')) as number) - before;
  assert.ok(sent < 100, `200 snapshots of node c on A's channel are not relayed (${sent} sent meanwhile, A's own)`);
  assert.equal(await redisB.get(snapshotKey('c', 'dispatcher')), null);

  assert.equal(await nodeA.stop('SIGTERM'), 0, 'A exits 0 on SIGTERM');
  assert.equal(await nodeB.stop('SIGTERM'), 0, 'B exits 0 on SIGTERM');
});

test('a wrong secret: the peer refuses every snapshot, both sides count it, nothing is stored', async () => {
  const [pa, pb] = (await portsFor(2)) as [Ports, Ports];
  const a = await relayConfig('a', pa, [{ name: 'b', port: pb.web }], 'not-the-cluster-secret-at-all');
  const b = await relayConfig('b', pb, []);
  const nodeB = await start(b);
  const nodeA = await start(a);
  const redisB = await redisOf(b);

  await waitForSample(pb.web, 'overseer_cluster_snapshots_rejected_total{reason="signature"}', (v) => v >= 8);
  await waitForSample(pa.websockets, 'overseer_relay_rejected_total{peer="b"}', (v) => v >= 8);
  assert.equal(await sample(pb.web, 'overseer_cluster_snapshots_received_total'), 0, 'B stored nothing');
  for (const service of SERVICES) assert.equal(await redisB.get(snapshotKey('a', service)), null, `B's Redis holds no ${service} snapshot of a`);
  assert.equal(await redisB.hget(NODES_KEY, 'a'), null, 'B does not list node a');

  assert.equal(warnings(nodeA, 'relay peer refused a snapshot').length, 1, 'A warns once, not once per refused snapshot');
  const connections = nodeB.logs.filter((l) => l.msg === 'relay connection opened').length;
  const refusals = warnings(nodeB, 'relayed snapshot refused').length;
  assert.ok(refusals >= 1 && refusals <= connections, `B warns once per connection, not once per frame (${refusals} warnings, ${connections} connections)`);

  assert.equal(await nodeA.stop('SIGTERM'), 0);
  assert.equal(await nodeB.stop('SIGTERM'), 0);
});

test('a peer that restarts: the relay reconnects and the peer gets fresh snapshots again', async () => {
  const [pa, pb] = (await portsFor(2)) as [Ports, Ports];
  const a = await relayConfig('a', pa, [{ name: 'b', port: pb.web }]);
  const b = await relayConfig('b', pb, [{ name: 'a', port: pa.web }]);
  const nodeA = await start(a);
  const nodeB = await start(b);
  await waitForSample(pa.websockets, 'overseer_relay_connected{peer="b"}', (v) => v === 1);
  await waitForSample(pb.web, 'overseer_cluster_snapshots_received_total', (v) => v > 0);
  const reconnectsBefore = (await sample(pa.websockets, 'overseer_relay_reconnects_total{peer="b"}')) ?? NaN;

  assert.equal(await nodeB.stop('SIGTERM'), 0, 'B exits 0 on SIGTERM');
  await waitForSample(pa.websockets, 'overseer_relay_connected{peer="b"}', (v) => v === 0);
  const droppedWhileDown = await waitForSample(pa.websockets, 'overseer_relay_dropped_total{peer="b"}', (v) => v > 0);
  assert.ok(droppedWhileDown > 0, 'snapshots while B is down are dropped, not queued');

  const restartedAt = Date.now();
  const nodeB2 = await start(b);
  const redisB = await redisOf(b);
  await waitForSample(pa.websockets, 'overseer_relay_connected{peer="b"}', (v) => v === 1, 45_000);
  const reconnects = (await sample(pa.websockets, 'overseer_relay_reconnects_total{peer="b"}')) ?? NaN;
  assert.ok(reconnects >= 1 && reconnects > reconnectsBefore, `A counts its reconnection attempts (${reconnectsBefore} → ${reconnects})`);
  const fresh = await waitFor('a fresh snapshot of a in the restarted B', async () => {
    const text = await redisB.get(snapshotKey('a', 'dispatcher'));
    const s = text === null ? undefined : (JSON.parse(text) as { node: string; at: number });
    return s !== undefined && s.at > restartedAt ? s : undefined;
  });
  assert.equal(fresh.node, 'a');
  assert.ok((await sample(pb.web, 'overseer_cluster_snapshots_received_total'))! > 0, 'the restarted B counts what it receives');

  assert.equal(await nodeB2.stop('SIGTERM'), 0);
  assert.equal(await nodeA.stop('SIGTERM'), 0);
});

test('a peer down from the start: the node starts, serves its ports and counts dropped snapshots', async () => {
  const [pa] = (await portsFor(1)) as [Ports];
  const [nobody] = (await freePorts(1)) as [number];
  const a = await relayConfig('a', pa, [{ name: 'b', port: nobody }]);
  const nodeA = await start(a);

  for (const service of SERVICES) {
    assert.equal((await scrape(pa[service])).status, 200, `${service} answers /metrics`);
  }
  const res = await fetch(`http://127.0.0.1:${pa.web}/api/v2/ping/`);
  await res.body?.cancel();
  assert.equal(res.status, 200, 'the API answers');

  await waitForSample(pa.websockets, 'overseer_relay_dropped_total{peer="b"}', (v) => v >= 3);
  await waitForSample(pa.websockets, 'overseer_relay_reconnects_total{peer="b"}', (v) => v >= 1);
  const ws = (await scrape(pa.websockets)).body;
  assert.equal(sampleValue(ws, 'overseer_relay_connected{peer="b"}'), 0);
  assert.equal(sampleValue(ws, 'overseer_relay_messages_total{peer="b"}'), 0);
  assert.deepEqual(promtoolCheck(ws), { code: 0, output: '' });
  assert.equal(warnings(nodeA, 'cannot connect to relay peer').length, 1, 'a peer that stays down is warned about once, not at every retry');

  assert.equal(await nodeA.stop('SIGTERM'), 0, 'A stops cleanly with its peer down');
});
