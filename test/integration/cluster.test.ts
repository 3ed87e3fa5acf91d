// Cluster metrics as an operator sees them: any node answers /api/v2/metrics/ for every node.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.ts';
import { promtoolCheck } from '../helpers/promtool.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { snapshotKey } from '../../src/cluster/snapshot.ts';

const INTERVAL = 200;
const TOKEN = 'token-for-the-tests-0123456789';

interface Member {
  readonly name: string;
  readonly node: NodeUnderTest;
  readonly ports: { web: number; callback_receiver: number; dispatcher: number; websockets: number };
}

async function get(port: number, path: string, token?: string) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

describe('cluster metrics over a shared Redis', () => {
  let redis: TestRedis;
  let client: Redis;
  const members = new Map<string, Member>();
  const started: NodeUnderTest[] = [];

  async function join(name: string, workers: number, extra: Record<string, unknown> = {}): Promise<Member> {
    const { file, ports } = await writeTestConfig(tempDir(), {
      node_name: name,
      redis_url: redis.url,
      snapshot_interval_ms: INTERVAL,
      ...extra,
      services: { callback_receiver: { workers }, ...(extra.services as object | undefined) },
    });
    const node = startNode(['--config', file]);
    started.push(node);
    await node.waitForLog('ready');
    const m = { name, node, ports };
    members.set(name, m);
    return m;
  }

  before(async () => {
    redis = await startTestRedis();
    client = new Redis(redis.url);
    await Promise.all([join('a', 1), join('b', 2), join('c', 3)]);
  });
  after(async () => {
    await Promise.all(started.map((n) => n.stop('SIGKILL')));
    client.disconnect();
    await redis.stop();
  });

  test("node a answers for b and c with a node label, matching what b and c serve themselves", async () => {
    const a = members.get('a')!;
    const body = await waitFor('all three nodes in a\'s answer', async () => {
      const r = await get(a.ports.web, '/api/v2/metrics/');
      return ['a', 'b', 'c'].every((n) => r.body.includes(`node="${n}"`)) ? r : undefined;
    });
    assert.equal(body.status, 200);
    assert.match(body.type, /^text\/plain; version=0\.0\.4/);
    for (const name of ['b', 'c']) {
      const own = (await scrape(members.get(name)!.ports.web)).body;
      const mine = sampleValue(own, 'overseer_threads{service="callback_receiver"}');
      assert.equal(mine, name === 'b' ? 2 : 3);
      assert.equal(sampleValue(body.body, `overseer_threads{service="callback_receiver",node="${name}"}`), mine, `${name}'s value as ${name} serves it`);
    }
    assert.equal(body.body.match(/^# TYPE overseer_threads gauge$/gm)?.length, 1, 'one family per metric, not one per node');
    assert.match(body.body, /^callback_receiver_batch_events_insert_db_bucket\{le="\+Inf",node="c"\} 0$/m, 'histograms keep their buckets');
    assert.deepEqual(promtoolCheck(body.body), { code: 0, output: '' });
  });

  test('filters: node and metric repeat, service narrows, format=json, bad parameters answer 400', async () => {
    const a = members.get('a')!;
    const some = await get(a.ports.web, '/api/v2/metrics/?node=b&node=c&metric=overseer_threads&metric=dispatcher_availability');
    assert.equal(some.status, 200);
    assert.ok(!some.body.includes('node="a"'));
    assert.deepEqual([...new Set([...some.body.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]))].sort(), ['dispatcher_availability', 'overseer_threads']);
    const dispatcherOnly = await get(a.ports.web, '/api/v2/metrics/?service=dispatcher');
    assert.match(dispatcherOnly.body, /^task_manager__schedule_calls_total\{node="b"\} \d+$/m);
    assert.ok(!dispatcherOnly.body.includes('overseer_threads'));
    const json = await get(a.ports.web, '/api/v2/metrics/?format=json&metric=overseer_threads&node=b');
    const parsed = JSON.parse(json.body) as { families: { name: string; samples: { labels: Record<string, string>; value: number }[] }[]; nodes: { node: string }[] };
    assert.equal(parsed.families.length, 1);
    assert.ok(parsed.families[0]!.samples.every((s) => s.labels.node === 'b'));
    const bad = await get(a.ports.web, '/api/v2/metrics/?service=nope&colour=red');
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys(JSON.parse(bad.body) as object).sort(), ['colour', 'service']);
  });

  test('a malformed and an older-format snapshot are left out and counted; the answer stays 200', async () => {
    const a = members.get('a')!;
    await client.set(snapshotKey('broken', 'web'), '{"format": 1, "node": "broken"', 'PX', 60_000);
    await client.set(snapshotKey('old', 'web'), JSON.stringify({ format: 0, node: 'old', metrics: {} }), 'PX', 60_000);
    const r = await get(a.ports.web, '/api/v2/metrics/');
    assert.equal(r.status, 200);
    assert.ok(!r.body.includes('node="broken"') && !r.body.includes('node="old"'));
    assert.ok(r.body.includes('node="b"'), 'the good nodes are still there');
    const json = JSON.parse((await get(a.ports.web, '/api/v2/metrics/?format=json')).body) as { rejected: { key: string; reason: string }[] };
    assert.deepEqual(json.rejected.map((x) => x.reason).sort(), ['format', 'malformed']);
    const web = (await scrape(a.ports.web)).body;
    assert.equal(sampleValue(web, 'overseer_cluster_snapshots_rejected_total{reason="malformed"}'), 1, 'counted once, however often read');
    assert.equal(sampleValue(web, 'overseer_cluster_snapshots_rejected_total{reason="format"}'), 1);
    await client.del(snapshotKey('broken', 'web'), snapshotKey('old', 'web'));
  });

  test('a stopped node is reported stale, then lost and gone from the answer, which stays 200', async () => {
    const a = members.get('a')!;
    const c = members.get('c')!;
    const status = async () => {
      const r = await get(a.ports.web, '/api/v2/instances/');
      assert.equal(r.status, 200);
      return (JSON.parse(r.body) as { results: { name: string; status: string; version: string }[] }).results;
    };
    assert.deepEqual((await status()).map((i) => [i.name, i.status]), [['a', 'healthy'], ['b', 'healthy'], ['c', 'healthy']]);
    // A stopping node stops writing snapshots first, while its threads still drain: watch from the
    // signal on. Stale lasts one interval (from 2 to 3 intervals old): look often.
    const stopped = c.node.stop();
    await waitFor('c reported stale', async () => (await status()).find((i) => i.name === 'c')?.status === 'stale', 5_000, 20);
    await waitFor('c reported lost', async () => (await status()).find((i) => i.name === 'c')?.status === 'lost', 5_000);
    assert.equal(await stopped, 0);
    const r = await get(a.ports.web, '/api/v2/metrics/');
    assert.equal(r.status, 200);
    assert.ok(!r.body.includes('node="c"'), 'its values are gone');
    const web = (await scrape(a.ports.web)).body;
    assert.equal(sampleValue(web, 'overseer_cluster_snapshot_age_seconds{node="c"}'), undefined);
    assert.ok((sampleValue(web, 'overseer_cluster_snapshot_age_seconds{node="b"}') as number) < 3 * (INTERVAL / 1000));
  });

  test('tokens: required for the API when configured, except ping; anonymous metrics when allowed', async () => {
    const locked = await join('locked', 1, { services: { web: { tokens: [TOKEN] } } });
    const open = await join('open', 1, { services: { web: { tokens: [TOKEN], allow_anonymous_metrics: true } } });
    const none = await get(locked.ports.web, '/api/v2/metrics/');
    assert.equal(none.status, 401);
    assert.deepEqual(JSON.parse(none.body), { detail: 'Authentication credentials were not provided.' });
    assert.equal((await get(locked.ports.web, '/api/v2/metrics/', 'wrong-token-0123456789')).status, 401);
    assert.equal((await get(locked.ports.web, '/api/v2/metrics/', TOKEN)).status, 200);
    assert.equal((await get(locked.ports.web, '/api/v2/jobs/1/job_events/')).status, 401, 'the rest of the API too');
    assert.equal((await get(locked.ports.web, '/api/v2/jobs/1/job_events/', TOKEN)).status, 200);
    assert.equal((await get(locked.ports.web, '/api/v2/ping/')).status, 200, 'ping stays open for probes');
    assert.equal((await get(open.ports.web, '/api/v2/metrics/')).status, 200);
    assert.equal((await get(open.ports.web, '/api/v2/instances/')).status, 401);
    assert.equal((await scrape(locked.ports.web)).status, 200, 'the /metrics ports stay open for Prometheus');
  });
});

describe('cluster metrics over the relay (a Redis per node)', () => {
  test("node a answers for b with b's values; b answers for a", async () => {
    const secret = 'relay-secret-for-the-tests';
    const [ca, cb] = await Promise.all([writeTestConfig(tempDir()), writeTestConfig(tempDir())]);
    // Each config names the other's web port, so write them once both ports are known.
    const write = async (dir: string, name: string, workers: number, ports: Member['ports'], other: { name: string; web: number }) =>
      writeTestConfig(dir, {
        node_name: name,
        snapshot_interval_ms: INTERVAL,
        cluster: { mode: 'relay', secret, peers: [{ name: other.name, url: `ws://127.0.0.1:${other.web}` }] },
        services: {
          web: { port: ports.web },
          callback_receiver: { port: ports.callback_receiver, workers },
          dispatcher: { port: ports.dispatcher },
          websockets: { port: ports.websockets },
        },
      });
    const fa = await write(tempDir(), 'a', 1, ca.ports, { name: 'b', web: cb.ports.web });
    const fb = await write(tempDir(), 'b', 2, cb.ports, { name: 'a', web: ca.ports.web });
    const a = startNode(['--config', fa.file]);
    const b = startNode(['--config', fb.file]);
    after(() => Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]));
    await Promise.all([a.waitForLog('ready'), b.waitForLog('ready')]);

    for (const [self, other, otherPorts, threads] of [[ca.ports, 'b', cb.ports, 2], [cb.ports, 'a', ca.ports, 1]] as const) {
      const body = await waitFor(`${other} in the answer`, async () => {
        const r = await get(self.web, `/api/v2/metrics/?node=${other}&metric=overseer_threads`);
        return r.body.includes(`node="${other}"`) ? r.body : undefined;
      });
      const own = sampleValue((await scrape(otherPorts.web)).body, 'overseer_threads{service="callback_receiver"}');
      assert.equal(own, threads);
      assert.equal(sampleValue(body, `overseer_threads{service="callback_receiver",node="${other}"}`), own);
    }
    const instances = JSON.parse((await get(ca.ports.web, '/api/v2/instances/')).body) as { results: { name: string; status: string }[] };
    assert.deepEqual(instances.results.map((i) => [i.name, i.status]), [['a', 'healthy'], ['b', 'healthy']]);
    assert.deepEqual(await Promise.all([a.stop(), b.stop()]), [0, 0]);
  });
});
