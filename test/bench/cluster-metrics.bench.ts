// Benchmark: /api/v2/metrics/ on one node.
// 1. With 1, 3 and 10 nodes' snapshots in Redis (copies that do not change), next to the
//    alternative of asking every node's four ports yourself and merging (a client fan-out).
// 2. With 100 and 300 simulated nodes rewriting their snapshots every 2 s during the measurement, as
//    live nodes do: the node (its in-memory view) next to the previous design, a fresh read of every
//    snapshot per request, served by a process of its own over the same Redis; the whole answer and
//    one metric, p50/p99, the ratio, both processes' RSS and what Redis sends out meanwhile.
// Also: what writing the snapshots costs the node per interval.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, request, Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue } from '../helpers/node-process.ts';
import { startTestRedis } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { SERVICES } from '../../src/services/names.ts';
import { NODES_KEY, snapshotKey } from '../../src/cluster/snapshot.ts';
import { LiveClusterView } from '../../src/cluster/live-cluster-view.ts';
import { renderView } from '../../src/cluster/cluster-answer.ts';
import { createLogger } from '../../src/logger.ts';

const WARMUP = 100;
const REQUESTS = 600;
const INTERVAL = 2000;
const LARGE = [100, 300];
const ONE_METRIC = 'overseer_threads';
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function get(port: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Timing {
  readonly p50: number;
  readonly p99: number;
  readonly n: number;
}

/** Sequential requests after a warm-up: up to `count` of them, or as many as fit in `budgetMs`. */
async function timeIt(fn: () => Promise<unknown>, count = REQUESTS, budgetMs = 30_000, warmup = WARMUP): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  const deadline = Date.now() + budgetMs;
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length * 0.5)] as number, p99: ms[Math.floor(ms.length * 0.99)] as number, n: ms.length };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const ms = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));
const status = (pid: number, field: 'VmRSS' | 'VmHWM') => 1024 * Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
/** CPU seconds a process has used (user + system, /proc/<pid>/stat, 100 ticks a second). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const pct = (share: number) => `${(share * 100).toFixed(1)}%`;
const redisOut = async (client: Redis) => Number(/total_net_output_bytes:(\d+)/.exec(await client.info('stats'))?.[1]);

const redis = await startTestRedis();
const client = new Redis(redis.url);
const { file, ports } = await writeTestConfig(tempDir(), { node_name: 'n0', redis_url: redis.url, log_level: 'info' });
const node = startNode(['--config', file]);
const servers: Server[] = [];
let fresh: ChildProcess | undefined;
try {
  await node.waitForLog('ready');
  await waitFor('n0 snapshots', async () => (await client.exists(...SERVICES.map((s) => snapshotKey('n0', s)))) === SERVICES.length);
  const texts = await Promise.all(SERVICES.map((s) => scrape(ports[s]).then((r) => r.body)));
  // The fan-out alternative: every node's four ports served as they are (n0's text stands for each).
  for (let i = 0; i < 10 * SERVICES.length; i++) {
    const body = texts[i % SERVICES.length] as string;
    const server = createServer((_, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
  }
  const seed = (await Promise.all(SERVICES.map((s) => client.get(snapshotKey('n0', s))))) as string[];

  console.log(`cluster metrics: GET /api/v2/metrics/ on one node vs fetching every node's ${SERVICES.length} ports and merging; ${REQUESTS} requests each, keep-alive`);
  for (const nodes of [1, 3, 10]) {
    // Copies of n0's snapshots under other names, with a long interval so they stay valid.
    const tx = client.multi();
    for (let n = 1; n < 10; n++) {
      for (const [i, s] of SERVICES.entries()) {
        const key = snapshotKey(`n${n}`, s);
        if (n < nodes) {
          const snap = JSON.parse(seed[i] as string) as Record<string, unknown>;
          tx.set(key, JSON.stringify({ ...snap, node: `n${n}`, at: Date.now(), interval_ms: 600_000 }), 'PX', 600_000);
        } else tx.del(key);
      }
    }
    await tx.exec();
    const body = (await get(ports.web, '/api/v2/metrics/')).toString();
    const seen = new Set([...body.matchAll(/node="(n\d+)"/g)].map((m) => m[1]));
    if (seen.size !== nodes) throw new Error(`expected ${nodes} nodes in the answer, saw ${seen.size}`);
    const ours = await timeIt(() => get(ports.web, '/api/v2/metrics/'));
    const fanned = servers.slice(0, nodes * SERVICES.length).map((s) => (s.address() as AddressInfo).port);
    const fanout = await timeIt(async () => void (await Promise.all(fanned.map((p) => get(p, '/metrics')))).join('\n'));
    const target = nodes === 3 ? (ours.p99 < 5 ? ' | target p99 < 5 ms: met' : ' | target p99 < 5 ms: MISSED') : '';
    console.log(
      `  nodes=${String(nodes).padStart(2)}  ours p50=${ours.p50.toFixed(2)}ms p99=${ours.p99.toFixed(2)}ms | fan-out p50=${fanout.p50.toFixed(2)}ms p99=${fanout.p99.toFixed(2)}ms | fan-out/ours p99 ×${(fanout.p99 / ours.p99).toFixed(1)}${target}`,
    );
  }
  await client.del(...Array.from({ length: 9 }, (_, n) => SERVICES.map((s) => snapshotKey(`n${n + 1}`, s))).flat());

  const web = (await scrape(ports.web)).body;
  const seconds = sampleValue(web, 'overseer_cluster_snapshot_write_seconds_total') as number;
  const written = sampleValue(web, 'overseer_cluster_snapshots_written_total') as number;
  const perInterval = (seconds / (written / SERVICES.length)) * 1000;
  console.log(`  snapshot write: ${perInterval.toFixed(2)} ms per interval for ${SERVICES.length} services (${written} snapshots written), ${((perInterval / 2000) * 100).toFixed(3)}% of the default 2 s interval`);

  await node.stop();
  await client.del(...SERVICES.map((s) => snapshotKey('n0', s)));
  await client.hdel(NODES_KEY, 'n0');

  const perNodeBytes = seed.reduce((n, t) => n + t.length, 0);
  console.log(
    `cluster view under change: N simulated nodes each rewriting its ${SERVICES.length} snapshots (${kb(perNodeBytes)} a node, copies of n0's) every ${INTERVAL / 1000} s, spread over the interval, during the whole measurement; ` +
      `ours = a fresh node's in-memory view, fresh read = the previous design (every snapshot read and parsed per request) in a process of its own; sequential keep-alive requests`,
  );
  for (const nodes of LARGE) await underChange(nodes, seed);
} finally {
  await node.stop();
  fresh?.kill('SIGTERM');
  for (const s of servers) s.close();
  agent.destroy();
  client.disconnect();
  await redis.stop();
}

/** One size: a new node and a new fresh-read process, `nodes` simulated nodes writing all along. */
async function underChange(nodes: number, seed: readonly string[]): Promise<void> {
  const config = await writeTestConfig(tempDir(), { node_name: 'n0', redis_url: redis.url, log_level: 'info' });
  const ours = startNode(['--config', config.file]);
  const web = config.ports.web;
  fresh = spawn(process.execPath, [new URL('./workers/cluster-fresh-server.ts', import.meta.url).pathname, redis.url], { stdio: ['ignore', 'pipe', 'inherit'] });
  const freshPort = await new Promise<number>((resolve, reject) => {
    fresh?.stdout?.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { port: number }).port));
    fresh?.once('exit', (code) => reject(new Error(`the fresh-read server exited with ${code}`)));
  });
  let writers: Worker | undefined;
  const rates: { writes: number; bytes: number }[] = [];
  try {
    await ours.waitForLog('ready');
    const nodePid = ours.child.pid as number;
    const freshPid = fresh.pid as number;
    await get(web, '/api/v2/metrics/'); // the view listens from the first answer on
    const baseline = status(nodePid, 'VmRSS');
    // The node's own CPU alone, over two of its snapshot intervals (counted by what it writes).
    const written = async () => sampleValue((await scrape(web)).body, 'overseer_cluster_snapshots_written_total') ?? 0;
    let cpu = cpuSeconds(nodePid);
    let t = performance.now();
    const start = await written();
    await waitFor('two snapshot intervals', async () => (await written()) >= start + 2 * SERVICES.length, 30_000);
    const idleCpu = (cpuSeconds(nodePid) - cpu) / ((performance.now() - t) / 1000);

    writers = new Worker(new URL('./workers/snapshot-writers.ts', import.meta.url), {
      workerData: { redisUrl: redis.url, templates: seed, prefix: 'sim', nodes, intervalMs: INTERVAL },
    });
    writers.on('message', (m: { writes: number; bytes: number }) => rates.push(m));
    const whole = `/api/v2/metrics/`;
    const one = `/api/v2/metrics/?metric=${ONE_METRIC}`;
    const nodesIn = async (port: number) => new Set([...(await get(port, one)).toString().matchAll(/node="([^"]+)"/g)].map((m) => m[1])).size;
    await waitFor(`${nodes + 1} nodes in both answers`, async () => (await nodesIn(web)) === nodes + 1 && (await nodesIn(freshPort)) === nodes + 1, 30_000);
    // Keeping the view current with no request: over five of the writers' one-second reports.
    cpu = cpuSeconds(nodePid);
    t = performance.now();
    const reports = rates.length;
    await waitFor('five writer reports', () => rates.length >= reports + 5, 30_000);
    const ingestCpu = (cpuSeconds(nodePid) - cpu) / ((performance.now() - t) / 1000);
    const loadedRss = status(nodePid, 'VmRSS'); // the view holds every node; no whole answer asked yet
    const sizes = { whole: (await get(web, whole)).length, one: (await get(web, one)).length };

    let out = await redisOut(client);
    t = performance.now();
    const oursWhole = await timeIt(() => get(web, whole), 400, 20_000, 20);
    const oursOne = await timeIt(() => get(web, one), 1500, 15_000);
    const oursOut = ((await redisOut(client)) - out) / ((performance.now() - t) / 1000);
    const nodeRss = status(nodePid, 'VmRSS');
    const nodePeak = status(nodePid, 'VmHWM');
    out = await redisOut(client);
    t = performance.now();
    const freshWhole = await timeIt(() => get(freshPort, whole), 150, 25_000, 5);
    const freshOne = await timeIt(() => get(freshPort, one), 400, 20_000, 20);
    const freshOut = ((await redisOut(client)) - out) / ((performance.now() - t) / 1000);
    const freshRss = status(freshPid, 'VmRSS');
    const freshPeak = status(freshPid, 'VmHWM');

    // What the view holds per node: an in-memory view in this process over the same snapshots.
    const probeRedis = client.duplicate();
    const probe = new LiveClusterView({ redis: probeRedis, intervalMs: INTERVAL, log: createLogger('silent') });
    renderView(await probe.read(), { nodes: new Set<string>(), metrics: new Set<string>(), service: undefined }, 'text');
    const held = probe.held();
    await probe.close();
    probeRedis.disconnect();

    const rate = rates.slice(-10);
    const writesPerS = rate.reduce((n, r) => n + r.writes, 0) / Math.max(1, rate.length);
    const bytesPerS = rate.reduce((n, r) => n + r.bytes, 0) / Math.max(1, rate.length);
    const line = (what: string, size: number, a: Timing, b: Timing, target: number) =>
      `    ${what} (${size > 1024 * 1024 ? mb(size) : kb(size)}): ours p50=${ms(a.p50)}ms p99=${ms(a.p99)}ms (${a.n} req) | fresh read p50=${ms(b.p50)}ms p99=${ms(b.p99)}ms (${b.n} req) | ` +
      `fresh/ours p50 ×${(b.p50 / a.p50).toFixed(1)} p99 ×${(b.p99 / a.p99).toFixed(1)} | target p99 < ${target} ms: ${a.p99 < target ? 'met' : 'MISSED'}`;
    console.log(`  nodes=${nodes} (+ n0): ${writesPerS.toFixed(0)} snapshot transactions/s, ${mb(bytesPerS)}/s of snapshots into Redis`);
    console.log(line('whole answer', sizes.whole, oursWhole, freshWhole, 25));
    console.log(line(`one metric, ${ONE_METRIC}`, sizes.one, oursOne, freshOne, 5));
    console.log(
      `    RSS: node ${mb(baseline)} alone, ${mb(loadedRss)} holding them (+${mb(loadedRss - baseline)}, ${kb((loadedRss - baseline) / nodes)} per node), ` +
        `${mb(nodeRss)} after answering (peak ${mb(nodePeak)}) | fresh-read process ${mb(freshRss)} after answering (peak ${mb(freshPeak)})`,
    );
    console.log(`    node CPU: ${pct(idleCpu)} of a core alone, ${pct(ingestCpu)} holding the ${nodes} nodes' view current with no request (+${pct(ingestCpu - idleCpu)})`);
    console.log(`    held by the view: ${held.snapshots} snapshots, ${mb(held.bytes)} (${kb(held.bytes / (nodes + 1))} per node: stored texts + text pieces) | Redis sends ${mb(oursOut)}/s while ours answers, ${mb(freshOut)}/s while the fresh read does`);
  } finally {
    if (writers !== undefined) {
      const stopped = once(writers, 'exit');
      writers.postMessage('stop');
      await stopped;
    }
    await ours.stop();
    const f = fresh;
    fresh = undefined;
    if (f.exitCode === null && f.signalCode === null) {
      const exited = once(f, 'exit');
      f.kill('SIGTERM');
      await exited;
    }
    const tx = client.multi();
    for (let i = 0; i < nodes; i++) tx.del(...SERVICES.map((s) => snapshotKey(`sim${i}`, s))).hdel(NODES_KEY, `sim${i}`);
    await tx.exec();
  }
}
