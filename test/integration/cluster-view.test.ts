// The in-memory cluster view answers what a fresh read of Redis would, byte for byte, as snapshots
// change, disappear, expire, arrive without their announcement, or are malformed.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { nodeSnapshots, snapshotText, writeSnapshots } from '../helpers/cluster-snapshots.ts';
import { FreshReader, freshAnswer } from '../helpers/cluster-fresh-read.ts';
import { createLogger } from '../../src/logger.ts';
import { LiveClusterView, rereadEvery } from '../../src/cluster/live-cluster-view.ts';
import { renderView } from '../../src/cluster/cluster-answer.ts';
import type { Filter } from '../../src/cluster/cluster-view.ts';
import type { AnswerFormat } from '../../src/cluster/snapshot-pieces.ts';
import { NODES_KEY, snapshotKey, type Snapshot } from '../../src/cluster/snapshot.ts';

const INTERVAL = 200;
const FORMATS: AnswerFormat[] = ['text', 'openmetrics', 'json'];
const all: Filter = { nodes: new Set(), metrics: new Set(), service: undefined };
const FILTERS: Filter[] = [
  all,
  { ...all, metrics: new Set(['overseer_threads']) },
  { ...all, metrics: new Set(['odd_values', 'web_events_total', 'no_such_metric']) },
  { ...all, nodes: new Set(['n2', 'n0']), service: 'dispatcher' },
  { ...all, nodes: new Set(['nobody']) },
];

describe('the in-memory cluster view', () => {
  let redis: TestRedis;
  let client: Redis;
  let view: LiveClusterView;
  let fresh: FreshReader;
  const connections: Redis[] = [];

  before(async () => {
    redis = await startTestRedis();
    connections.push(new Redis(redis.url), new Redis(redis.url), new Redis(redis.url));
    [client] = connections as [Redis];
    view = new LiveClusterView({ redis: connections[1] as Redis, intervalMs: INTERVAL, log: createLogger('silent') });
    view.start();
    fresh = new FreshReader(connections[2] as Redis);
  });
  after(async () => {
    await view.close();
    for (const c of connections) c.disconnect();
    await redis.stop();
  });

  /** Differences between the view's answers and a fresh read's, for every filter and format, at one `now`. */
  async function differences(now = Date.now()): Promise<string[]> {
    const ours = await view.read(now);
    const theirs = await fresh.read(now);
    const found: string[] = [];
    assert.deepEqual(ours.rejected, theirs.rejected, 'the same snapshots left out, for the same reasons');
    for (const filter of FILTERS) {
      for (const format of FORMATS) {
        const a = renderView(ours, filter, format);
        const b = await freshAnswer(theirs, filter, format);
        if (a.contentType !== b.contentType || a.body.toString() !== b.body) {
          const x = a.body.toString();
          let i = 0;
          while (i < x.length && x[i] === b.body[i]) i++;
          found.push(`${format} ${JSON.stringify({ nodes: [...filter.nodes], metrics: [...filter.metrics], service: filter.service })} at ${i}: ${JSON.stringify(x.slice(i - 60, i + 40))} vs ${JSON.stringify(b.body.slice(i - 60, i + 40))}`);
        }
      }
    }
    return found;
  }

  const nodes = (at: number, seed: number, count = 4) => Array.from({ length: count }, (_, n) => nodeSnapshots(`n${n}`, at, seed + n, INTERVAL));

  test('answers as a fresh read does, in every format and filter, while the snapshots change', async () => {
    const at = Date.now();
    for (const snaps of nodes(at, 1)) await writeSnapshots(client, snaps);
    // Another version where overseer_threads is a counter (left out of that family, as before), and
    // a name prom-client's registry orders first (an array index).
    const odd = { name: '42', help: 'A name that is an array index.', type: 'gauge' as const, samples: [{ labels: {}, value: 42 }] };
    const other = nodeSnapshots('n9', at, 9, INTERVAL).map((s) => ({
      ...s,
      families: [...s.families.map((f) => (f.name === 'overseer_threads' ? { ...f, type: 'counter' as const } : f)), odd],
    }));
    await writeSnapshots(client, other);
    assert.deepEqual(await differences(), []);
    for (let round = 2; round < 5; round++) {
      for (const snaps of nodes(Date.now(), round * 10)) await writeSnapshots(client, snaps);
      assert.deepEqual(await differences(), [], `after the snapshots changed (round ${round})`);
    }
    const body = renderView(await view.read(), all, 'text').body.toString();
    assert.match(body, /^overseer_threads\{service="web",node="n0"\} \d+$/m);
    assert.match(body, /^odd_values\{kind="nan",node="n1"\} Nan$/m);
    assert.ok(body.startsWith('# HELP 42 '), 'a name that is an array index comes first, as in a prom-client registry');
  });

  test('a snapshot announced on the channel is taken in before any read asks for it', async () => {
    renderView(await view.read(), all, 'text'); // answers asked for: the view listens
    const before = view.held().snapshots;
    await writeSnapshots(client, nodeSnapshots('n-new', Date.now(), 5, INTERVAL));
    await waitFor('the new node held', () => view.held().snapshots === before + 4);
    assert.deepEqual(await differences(), []);
  });

  test('a deleted snapshot is gone from the next answer; one past its age is reported expired at the time asked', async () => {
    await client.del(snapshotKey('n-new', 'web'), snapshotKey('n1', 'dispatcher'));
    assert.deepEqual(await differences(), []);
    const text = renderView(await view.read(), all, 'text').body.toString();
    assert.ok(!text.includes('node="n-new",') || !/web_events_total\{node="n-new"\}/.test(text));
    assert.doesNotMatch(text, /dispatcher_events_total\{node="n1"\}/);
    // Nothing new arrives: expiry is judged when asked.
    const later = Date.now() + 3 * INTERVAL + 1000;
    assert.deepEqual(await differences(later), []);
    const expired = (await view.read(later)).rejected.filter((r) => r.reason === 'expired');
    assert.ok(expired.length >= 4 * 4, `every node's snapshots expired then (${expired.length})`);
    assert.deepEqual((await view.read(later)).snapshots, []);
  });

  test('a snapshot stored without its announcement: seen at the next read when the node list moved, else by the re-read within its period', async () => {
    renderView(await view.read(), all, 'json');
    const at = Date.now();
    await writeSnapshots(client, nodeSnapshots('n0', at, 100, INTERVAL), { publish: false });
    assert.deepEqual(await differences(), [], 'the node list named a newer snapshot: fetched by that read');
    // By hand, neither announced nor recorded: only the full re-read can see it.
    const changed = nodeSnapshots('n0', at, 200, INTERVAL);
    await writeSnapshots(client, changed, { publish: false, record: false });
    const started = Date.now();
    await waitFor('the re-read to take in the hand-written snapshots', async () => (await differences()).length === 0, 10 * rereadEvery(INTERVAL));
    assert.ok(Date.now() - started <= 10 * rereadEvery(INTERVAL));
  });

  test('malformed and other-format snapshots are left out with their reason; the rest still answers', async () => {
    await client.set(snapshotKey('broken', 'web'), '{"format": 1, "node": "broken"', 'PX', 60_000);
    await client.set(snapshotKey('old', 'web'), JSON.stringify({ format: 0, node: 'old', metrics: {} }), 'PX', 60_000);
    const bad: Snapshot = { ...(nodeSnapshots('typo', Date.now(), 1, INTERVAL)[0] as Snapshot), interval_ms: 'soon' as unknown as number };
    await client.set(snapshotKey('typo', 'web'), snapshotText(bad), 'PX', 60_000);
    for (const snaps of nodes(Date.now(), 300)) await writeSnapshots(client, snaps);
    const read = await view.read();
    assert.deepEqual(read.rejected.map((r) => [r.key, r.reason]), [
      [snapshotKey('broken', 'web'), 'malformed'],
      [snapshotKey('old', 'web'), 'format'],
      [snapshotKey('typo', 'web'), 'malformed'],
    ]);
    assert.deepEqual(await differences(), []);
    await client.del(snapshotKey('broken', 'web'), snapshotKey('old', 'web'), snapshotKey('typo', 'web'));
  });
});

describe("a node's /api/v2/metrics/ from its in-memory view", () => {
  const LONG = 60_000; // the node's own snapshots stay put while the answers are compared
  let redis: TestRedis;
  let client: Redis;
  let fresh: FreshReader;
  let node: NodeUnderTest;
  let web: number;
  const connections: Redis[] = [];

  before(async () => {
    redis = await startTestRedis();
    connections.push(new Redis(redis.url), new Redis(redis.url));
    [client] = connections as [Redis];
    fresh = new FreshReader(connections[1] as Redis);
    const { file, ports } = await writeTestConfig(tempDir(), { node_name: 'a', redis_url: redis.url, snapshot_interval_ms: LONG });
    node = startNode(['--config', file]);
    web = ports.web;
    await node.waitForLog('ready');
    await waitFor("a's own snapshots", async () => (await client.exists(snapshotKey('a', 'websockets'))) === 1);
  });
  after(async () => {
    assert.equal(await node.stop(), 0, 'the node stops cleanly');
    for (const c of connections) c.disconnect();
    await redis.stop();
  });

  const PATHS: [string, AnswerFormat, Filter][] = [
    ['/api/v2/metrics/', 'text', all],
    ['/api/v2/metrics/?format=json', 'json', all],
    ['/api/v2/metrics/?metric=overseer_threads', 'text', { ...all, metrics: new Set(['overseer_threads']) }],
    ['/api/v2/metrics/?node=n1&node=a&service=web', 'text', { ...all, nodes: new Set(['n1', 'a']), service: 'web' }],
  ];

  /** Each path's answer from the node, next to a fresh read's; also OpenMetrics for the whole answer. */
  async function mismatches(): Promise<string[]> {
    const found: string[] = [];
    const view = await fresh.read();
    const cases: [string, AnswerFormat, Filter, string | undefined][] = [...PATHS.map(([p, f, q]) => [p, f, q, undefined] as [string, AnswerFormat, Filter, undefined]), ['/api/v2/metrics/', 'openmetrics', all, 'application/openmetrics-text']];
    for (const [path, format, filter, accept] of cases) {
      const res = await fetch(`http://127.0.0.1:${web}${path}`, accept ? { headers: { accept } } : {});
      const expected = await freshAnswer(view, filter, format);
      const body = await res.text();
      // The web port answers JSON without a charset, as AWX does.
      const type = format === 'json' ? 'application/json' : expected.contentType;
      if (res.status !== 200 || res.headers.get('content-type') !== type || body !== expected.body) {
        let i = 0;
        while (i < body.length && body[i] === expected.body[i]) i++;
        found.push(`${path} ${format}: ${res.status} ${res.headers.get('content-type')} at ${i}: ${JSON.stringify(body.slice(i - 60, i + 60))} vs ${JSON.stringify(expected.body.slice(i - 60, i + 60))}`);
      }
    }
    return found;
  }

  test('the answers are the bytes a fresh read gives, as simulated nodes come and change', async () => {
    for (let n = 0; n < 3; n++) await writeSnapshots(client, nodeSnapshots(`n${n}`, Date.now(), n, LONG));
    assert.deepEqual(await mismatches(), []);
    for (let n = 0; n < 3; n++) await writeSnapshots(client, nodeSnapshots(`n${n}`, Date.now(), 10 + n, LONG));
    // Announced changes reach the view between requests; the next answer holds them either way.
    assert.deepEqual(await mismatches(), []);
    await client.del(snapshotKey('n2', 'web'));
    assert.deepEqual(await mismatches(), []);
  });

  test('a malformed snapshot is left out and counted once however often read, and again when its writer replaces it', async () => {
    const rejected = async () => sampleValue((await scrape(web)).body, 'overseer_cluster_snapshots_rejected_total{reason="malformed"}');
    const start = (await rejected()) ?? 0;
    await client.set(snapshotKey('broken', 'web'), '{"format": 1, "node": "broken"', 'PX', LONG);
    for (let i = 0; i < 5; i++) assert.deepEqual(await mismatches(), []);
    assert.equal(await rejected(), start + 1);
    // A writer of another version: its snapshot in place of the old one, and its entry in the node list.
    await client.multi().set(snapshotKey('broken', 'web'), '{"format": 1, "node": "broken", "at": 1', 'PX', LONG).hset(NODES_KEY, 'broken', JSON.stringify({ version: '9', at: Date.now() })).exec();
    for (let i = 0; i < 5; i++) assert.deepEqual(await mismatches(), []);
    assert.equal(await rejected(), start + 2, 'the new text is counted once more');
    await client.multi().del(snapshotKey('broken', 'web')).hdel(NODES_KEY, 'broken').exec();
  });
});
