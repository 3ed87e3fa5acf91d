// Benchmark: /api/v2/metrics/ on one node with 1, 3 and 10 nodes' snapshots in Redis, next to the
// alternative of asking every node's four ports yourself and merging (a client fan-out), in one run.
// Also: what writing the snapshots costs the node per interval.
import { createServer, request, Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue } from '../helpers/node-process.ts';
import { startTestRedis } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { SERVICES } from '../../src/services/names.ts';
import { snapshotKey } from '../../src/cluster/snapshot.ts';

const WARMUP = 100;
const REQUESTS = 600;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function timeIt(fn: () => Promise<void>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const ms: number[] = [];
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < REQUESTS && Date.now() < deadline; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length * 0.5)] as number, p99: ms[Math.floor(ms.length * 0.99)] as number };
}

const redis = await startTestRedis();
const client = new Redis(redis.url);
const { file, ports } = await writeTestConfig(tempDir(), { node_name: 'n0', redis_url: redis.url, log_level: 'info' });
const node = startNode(['--config', file]);
const servers: Server[] = [];
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
  const seed = await Promise.all(SERVICES.map((s) => client.get(snapshotKey('n0', s))));

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
    const body = await get(ports.web, '/api/v2/metrics/');
    const seen = new Set([...body.matchAll(/node="(n\d+)"/g)].map((m) => m[1]));
    if (seen.size !== nodes) throw new Error(`expected ${nodes} nodes in the answer, saw ${seen.size}`);
    const ours = await timeIt(async () => void (await get(ports.web, '/api/v2/metrics/')));
    const fanned = servers.slice(0, nodes * SERVICES.length).map((s) => (s.address() as AddressInfo).port);
    const fanout = await timeIt(async () => void (await Promise.all(fanned.map((p) => get(p, '/metrics')))).join('\n'));
    const target = nodes === 3 ? (ours.p99 < 5 ? ' | target p99 < 5 ms: met' : ' | target p99 < 5 ms: MISSED') : '';
    console.log(
      `  nodes=${String(nodes).padStart(2)}  ours p50=${ours.p50.toFixed(2)}ms p99=${ours.p99.toFixed(2)}ms | fan-out p50=${fanout.p50.toFixed(2)}ms p99=${fanout.p99.toFixed(2)}ms | fan-out/ours p99 ×${(fanout.p99 / ours.p99).toFixed(1)}${target}`,
    );
  }

  const web = (await scrape(ports.web)).body;
  const seconds = sampleValue(web, 'overseer_cluster_snapshot_write_seconds_total') as number;
  const written = sampleValue(web, 'overseer_cluster_snapshots_written_total') as number;
  const perInterval = (seconds / (written / SERVICES.length)) * 1000;
  console.log(`  snapshot write: ${perInterval.toFixed(2)} ms per interval for ${SERVICES.length} services (${written} snapshots written), ${((perInterval / 2000) * 100).toFixed(3)}% of the default 2 s interval`);
} finally {
  await node.stop();
  for (const s of servers) s.close();
  agent.destroy();
  client.disconnect();
  await redis.stop();
}
