// The relay endpoint against the probes of an attacker who can reach the web port: a connection
// flood with 8 MiB frames, a sender with the wrong secret, a replayed signed frame, a relay node
// without a secret. A real node on loopback; /api/v2/ping/ is timed throughout from another thread.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { WebSocket } from 'ws';
import { killAfterFile, startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { RELAY_PATH, signFrame } from '../../src/cluster/relay-protocol.ts';
import { MAX_PER_ADDRESS, MAX_REFUSED_IN_A_ROW, MAX_RELAY_CONNECTIONS } from '../../src/cluster/relay-endpoint.ts';

const SECRET = 'relay-hardening-secret-0123456789';

async function startRelayNode(): Promise<{ node: NodeUnderTest; web: number }> {
  const { file, ports } = await writeTestConfig(tempDir('overseer-relay-hard-'), { node_name: 'b', cluster: { mode: 'relay', peers: [], secret: SECRET } });
  const node = startNode(['--config', file]);
  killAfterFile(node);
  await node.waitForLog('ready');
  return { node, web: ports.web };
}

/** A snapshot of node `node` as a peer would send it: one counter at `value`. */
const snapshotOf = (node: string, at: number, value: number) =>
  JSON.stringify({
    format: 1,
    node,
    version: '0.0.0-test',
    service: 'web',
    at,
    interval_ms: 60_000,
    families: [{ name: 'overseer_config_reloads_total', help: 'h', type: 'counter', samples: [{ labels: { result: 'applied' }, value }] }],
  });

interface Client {
  readonly ws: WebSocket;
  /** 'open', or the HTTP status that refused the upgrade. */
  readonly outcome: Promise<'open' | number>;
  readonly answers: string[];
  readonly closed: Promise<number>;
}

function client(port: number, localAddress = '127.0.0.1'): Client {
  // A zero mask: an 8 MiB frame is sent without the client copying it.
  const ws = new WebSocket(`ws://127.0.0.1:${port}${RELAY_PATH}`, { localAddress, generateMask: (mask: Buffer) => void mask.fill(0) });
  const answers: string[] = [];
  ws.on('message', (d) => answers.push(String(d)));
  const outcome = new Promise<'open' | number>((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', () => resolve(0));
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  after(() => ws.terminate());
  return { ws, outcome, answers, closed };
}

/** Times GET /api/v2/ping/ from a thread of its own (the flood in this thread must not skew it) until stopped. */
function pingTimer(port: number): { ready: Promise<void>; stop(): Promise<number[]> } {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     let stop = false;
     parentPort.once('message', () => (stop = true));
     (async () => {
       const lat = [];
       // Warm up first (the first fetch of a thread loads the HTTP client): timing starts after.
       for (let i = 0; i < 5; i++) await (await fetch(workerData.url)).arrayBuffer();
       parentPort.postMessage('ready');
       while (!stop) {
         const t0 = performance.now();
         try {
           const r = await fetch(workerData.url, { signal: AbortSignal.timeout(5000) });
           await r.arrayBuffer();
           lat.push(r.status === 200 ? performance.now() - t0 : Infinity);
         } catch {
           lat.push(Infinity);
         }
         await new Promise((r) => setTimeout(r, 20));
       }
       parentPort.postMessage(lat);
       parentPort.close();
     })();`,
    { eval: true, workerData: { url: `http://127.0.0.1:${port}/api/v2/ping/` } },
  );
  after(() => worker.terminate());
  return {
    ready: new Promise((resolve) => worker.once('message', () => resolve())),
    stop: () =>
      new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage('stop');
      }),
  };
}

const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.99) - 1] ?? Infinity;
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
const rejected = (body: string, reason: string) => sampleValue(body, `overseer_cluster_snapshots_rejected_total{reason="${reason}"}`) ?? 0;

test('relay flood: connections capped per address and in all, 8 MiB frames refused unread, a wrong-secret sender closed; ping stays fast, RSS flat', { timeout: 180_000 }, async () => {
  const { node, web } = await startRelayNode();
  const pid = node.child.pid as number;
  const timer = pingTimer(web);
  await timer.ready;
  const warm = client(web);
  assert.equal(await warm.outcome, 'open');
  warm.ws.close();
  await warm.closed;
  const rssBefore = rssMb(pid);
  let rssMax = rssBefore;
  const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, rssMb(pid))), 100);
  after(() => clearInterval(rssTimer));
  const floodStarted = Date.now();

  // One address: MAX_PER_ADDRESS connections, the next refused with 429.
  const one = Array.from({ length: MAX_PER_ADDRESS + 1 }, () => client(web));
  const oneOutcomes = await Promise.all(one.map((c) => c.outcome));
  assert.equal(oneOutcomes.filter((o) => o === 'open').length, MAX_PER_ADDRESS, oneOutcomes.join(' '));
  assert.deepEqual(oneOutcomes.filter((o) => o !== 'open'), [429]);
  for (const c of one) c.ws.close();
  await Promise.all(one.map((c) => c.closed));

  // Rounds of 200 connections from 50 loopback addresses: at most MAX_RELAY_CONNECTIONS open, the
  // rest 503; each open one sends an 8 MiB frame and is closed with 1009 from the frame's length, unread.
  const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
  let refused503 = 0;
  let bigFrames = 0;
  const ROUNDS = 10;
  for (let round = 0; round < ROUNDS; round++) {
    const flood = Array.from({ length: 200 }, (_, i) => client(web, `127.0.0.${10 + Math.floor(i / 4)}`));
    const outcomes = await Promise.all(flood.map((c) => c.outcome));
    const opened = flood.filter((_, i) => outcomes[i] === 'open');
    refused503 += outcomes.filter((o) => o === 503).length;
    assert.ok(opened.length <= MAX_RELAY_CONNECTIONS && opened.length >= MAX_RELAY_CONNECTIONS / 2, `round ${round}: at most ${MAX_RELAY_CONNECTIONS} open (${opened.length})`);
    assert.equal(outcomes.filter((o) => o !== 'open' && o !== 503).length, 0, `round ${round}: every other one refused with 503 (${outcomes.join(' ')})`);
    const codes: number[] = [];
    for (let i = 0; i < opened.length; i += 16) {
      const batch = opened.slice(i, i + 16);
      for (const c of batch) c.ws.send(big, { binary: false }, () => {});
      codes.push(...(await Promise.all(batch.map((c) => c.closed))));
    }
    bigFrames += opened.length;
    // 1009 (message too big) when the close frame arrives before the socket ends, else 1006.
    assert.deepEqual(codes.filter((c) => c !== 1009 && c !== 1006), [], 'every 8 MiB frame closes its connection');
  }
  const floodMs = Date.now() - floodStarted;

  // A sender with the wrong secret: refused, and closed after MAX_REFUSED_IN_A_ROW refusals.
  const forger = client(web);
  assert.equal(await forger.outcome, 'open');
  for (let i = 0; i < MAX_REFUSED_IN_A_ROW + 5 && forger.ws.readyState === WebSocket.OPEN; i++) {
    forger.ws.send(signFrame('not-the-cluster-secret-at-all', 'forged', snapshotOf('forged', Date.now(), 1)));
  }
  assert.equal(await forger.closed, 1008, 'the forger is closed (policy violation)');
  assert.equal(forger.answers.length, MAX_REFUSED_IN_A_ROW, forger.answers.join(' '));
  assert.ok(forger.answers.every((a) => a === '{"rejected":"signature"}'));

  const latencies = await timer.stop();
  clearInterval(rssTimer);
  const ping99 = p99(latencies);
  const instances = await (await fetch(`http://127.0.0.1:${web}/api/v2/instances/`)).json() as { results: { name: string }[] };
  assert.deepEqual(instances.results.map((i) => i.name), ['b'], 'the forged node never appears in /api/v2/instances/');

  const body = (await scrape(web)).body;
  assert.equal(rejected(body, 'oversized'), bigFrames, 'oversized frames counted');
  assert.ok(rejected(body, 'signature') >= MAX_REFUSED_IN_A_ROW);
  assert.equal(sampleValue(body, 'overseer_connections_refused_total{service="web",reason="relay_total"}'), refused503);
  assert.equal(sampleValue(body, 'overseer_connections_refused_total{service="web",reason="relay_address"}'), 1);
  const warned = node.logs.filter((l) => l.level === 40 && (l.msg === 'relayed snapshot refused' || l.msg === 'connection refused'));
  assert.ok(warned.length <= 6, `refusals logged once per reason, not per frame or connection (${warned.length})`);

  console.log(`# relay flood: ${ROUNDS} rounds of 200 connections, ${bigFrames} frames of 8 MiB, ${refused503} upgrades refused 503 in ${floodMs} ms; ${latencies.length} pings, p99 ${ping99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; RSS ${rssBefore.toFixed(0)} → max ${rssMax.toFixed(0)} MB`);
  assert.ok(latencies.length >= 20, `pinged throughout (${latencies.length})`);
  assert.ok(ping99 < 100, `ping p99 ${ping99.toFixed(1)} ms < 100 ms during the flood`);
  assert.ok(rssMax - rssBefore < 150, `RSS grew ${(rssMax - rssBefore).toFixed(0)} MB (< 150 MB)`);
  assert.equal(await node.stop('SIGTERM'), 0);
});

test('a replayed signed frame is refused (counted as replay), and the peer\'s counters do not roll back', { timeout: 60_000 }, async () => {
  const { node, web } = await startRelayNode();
  const at = Date.now();
  const first = signFrame(SECRET, 'peer', snapshotOf('peer', at, 5));
  const second = signFrame(SECRET, 'peer', snapshotOf('peer', at + 1000, 7));
  const received = async () => sampleValue((await scrape(web)).body, 'overseer_cluster_snapshots_received_total') ?? 0;
  const peerValue = async () => {
    const text = await (await fetch(`http://127.0.0.1:${web}/api/v2/metrics/?node=peer&metric=overseer_config_reloads_total`)).text();
    const line = text.split('\n').find((l) => l.startsWith('overseer_config_reloads_total{') && l.includes('node="peer"'));
    return line === undefined ? undefined : Number(line.split(' ').at(-1));
  };

  const a = client(web);
  assert.equal(await a.outcome, 'open');
  a.ws.send(first);
  await waitFor('the first snapshot to be stored', async () => (await received()) >= 1);
  a.ws.send(second);
  await waitFor('the second snapshot to be stored', async () => (await received()) >= 2);
  assert.equal(await peerValue(), 7);

  a.ws.send(first);
  await waitFor('the replay to be refused', () => a.answers.length >= 1);
  assert.deepEqual(a.answers, ['{"rejected":"replay"}']);
  // On a new connection too: what was accepted is remembered per node, not per connection.
  a.ws.close();
  const b = client(web);
  assert.equal(await b.outcome, 'open');
  b.ws.send(second);
  await waitFor('the second replay to be refused', () => b.answers.length >= 1);
  assert.deepEqual(b.answers, ['{"rejected":"replay"}']);

  const body = (await scrape(web)).body;
  assert.equal(rejected(body, 'replay'), 2);
  assert.equal(sampleValue(body, 'overseer_cluster_snapshots_received_total'), 2);
  assert.equal(await peerValue(), 7, 'the peer\'s counter is still 7, not rolled back to 5');
  b.ws.close();
  assert.equal(await node.stop('SIGTERM'), 0);
});

test('relay mode with peers: [] and an empty secret is refused at start, naming cluster.secret', async () => {
  const dir = tempDir('overseer-relay-nosecret-');
  const { file } = await writeTestConfig(dir, { cluster: { mode: 'relay', peers: [], secret: '' } });
  const node = startNode(['--config', file]);
  assert.equal(await node.exited, 2);
  assert.match(node.stderr(), /^overseer: cluster\.secret in .*: "" is shorter than 16 characters; expected a shared secret of at least 16 non-blank characters whenever cluster\.mode is relay/m);
  assert.equal(node.logs.some((l) => l.msg === 'ready'), false);
});
