// The live job output's cost to ingest: how fast the callback receiver saves N events with nobody
// following them, with a websocket client that follows the job and reads nothing (it is dropped
// once 8 MiB are unread; the receivers stop publishing then), and with a client that follows the
// job and reads every event (every batch serialised and published: the worst case). The real node
// (`node src/main.ts`, SQLite, its private Redis, 2 receiver threads, batch_size 1000, buffer_ms
// 100); the N events appear in the queue at once (RENAME of a filled staging list) and the time is
// taken until callback_receiver_events_insert_db_total has grown by N (polled every 20 ms). The
// cases run in turn, ROUNDS times, each with a fresh job id; the median and the best run of each are
// compared with no client's. Also: what PUBSUB NUMSUB (one per batch when nobody follows) costs.
// Run: npm run bench -- websocket-ingest; WS_BENCH_N=… sets N (100,000 by default).
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { syntheticEvents } from '../helpers/events.ts';
import { eventsChannel } from '../../src/live/live-messages.ts';

const N = Number(process.env.WS_BENCH_N ?? 100_000);
const ROUNDS = 5;
const POLL_MS = 20;
const DRAIN_TIMEOUT_MS = 180_000;
const QUEUE = 'callback_tasks';
const STAGING = 'bench:staging';
const CASES = ['no client', 'stalled client', 'reading client'] as const;
type Case = (typeof CASES)[number];

let node: NodeUnderTest | undefined;
let redis: Redis | undefined;
const sockets: WebSocket[] = [];
async function cleanup(): Promise<void> {
  for (const s of sockets) s.terminate();
  redis?.disconnect();
  if (node !== undefined && node.child.exitCode === null) {
    node.child.kill('SIGTERM');
    await node.exited;
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(1)));

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** A client of /websocket/ following one job; `stall` pauses it once subscribed. */
async function follow(port: number, jobId: number, stall: boolean): Promise<{ ws: WebSocket; received: () => number; inOrder: () => boolean }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/websocket/`);
  sockets.push(ws);
  let received = 0;
  let last = 0;
  let ordered = true;
  let answered: () => void = () => {};
  const subscribed = new Promise<void>((resolve) => (answered = resolve));
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('{"groups_current"')) answered();
    else if (text.includes('"group_name":"job_events"')) {
      const counter = Number(/"counter":(\d+)/.exec(text)?.[1]);
      if (counter !== last + 1) ordered = false;
      last = counter;
      received += 1;
    }
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ groups: { job_events: [jobId] } }));
  await subscribed;
  if (stall) ws.pause();
  return { ws, received: () => received, inOrder: () => ordered };
}

async function inserted(port: number): Promise<number> {
  return sampleValue((await scrape(port)).body, 'callback_receiver_events_insert_db_total') ?? 0;
}

/** One run: N events of a fresh job into the queue at once, timed until all are saved. */
async function run(ports: { web: number; callback_receiver: number; websockets: number }, c: Case, jobId: number): Promise<{ eventsPerSec: number; note: string }> {
  const r = redis as Redis;
  const events = syntheticEvents(jobId, N);
  for (let i = 0; i < events.length; i += 5000) await r.rpush(STAGING, ...events.slice(i, i + 5000));
  const client = c === 'no client' ? undefined : await follow(ports.web, jobId, c === 'stalled client');
  if (client !== undefined) {
    // The hub has subscribed in Redis: the receivers will publish this job's events.
    for (let i = 0; Number((await r.pubsub('NUMSUB', eventsChannel(jobId)))[1]) < 1; i++) {
      if (i > 500) throw new Error('the hub did not subscribe');
      await delay(POLL_MS);
    }
  }
  const dropsBefore = sampleValue((await scrape(ports.websockets)).body, 'overseer_websocket_drops_total{reason="slow"}') ?? 0;
  const before = await inserted(ports.callback_receiver);
  const t0 = performance.now();
  await r.rename(STAGING, QUEUE);
  for (;;) {
    if ((await inserted(ports.callback_receiver)) >= before + N) break;
    if (performance.now() - t0 > DRAIN_TIMEOUT_MS) throw new Error(`${c}: not all ${N} events saved within ${DRAIN_TIMEOUT_MS} ms`);
    await delay(POLL_MS);
  }
  const ms = performance.now() - t0;
  let note = '';
  if (c === 'stalled client') {
    const drops = (sampleValue((await scrape(ports.websockets)).body, 'overseer_websocket_drops_total{reason="slow"}') ?? 0) - dropsBefore;
    note = `dropped: ${drops}`;
  } else if (client !== undefined) {
    const deadline = performance.now() + DRAIN_TIMEOUT_MS;
    while (client.received() < N && performance.now() < deadline) await delay(POLL_MS);
    note = `received ${fmt(client.received())}${client.inOrder() ? ', in order' : ', OUT OF ORDER'}`;
  }
  client?.ws.terminate();
  return { eventsPerSec: N / (ms / 1000), note };
}

/** Microseconds per PUBSUB NUMSUB round trip (what a batch costs when nobody follows). */
async function numsubMicros(r: Redis): Promise<number> {
  const channels = [eventsChannel(1), 'overseer:live:jobs'];
  for (let i = 0; i < 200; i++) await r.pubsub('NUMSUB', ...channels);
  const t0 = performance.now();
  const n = 5000;
  for (let i = 0; i < n; i++) await r.pubsub('NUMSUB', ...channels);
  return ((performance.now() - t0) * 1000) / n;
}

async function main(): Promise<void> {
  const cfg = await writeTestConfig(tempDir('overseer-ws-bench-'), {
    log_level: 'info',
    services: { callback_receiver: { workers: 2, batch_size: 1000, buffer_ms: 100 } },
  });
  node = startNode(['--config', cfg.file]);
  await node.waitForLog('ready', 60_000);
  redis = new Redis({ path: join(cfg.dataDir, 'redis.sock') });
  console.log(`websocket ingest: ${fmt(N)} events per run, ${ROUNDS} rounds of ${CASES.join(' / ')}; SQLite, 2 receiver threads, batch_size 1000`);
  const results = new Map<Case, number[]>(CASES.map((c) => [c, []]));
  let job = 1_500_000_000;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of CASES) {
      const r = await run(cfg.ports, c, ++job);
      results.get(c)?.push(r.eventsPerSec);
      console.log(`  round ${round}  ${c.padEnd(15)} ${fmt(r.eventsPerSec).padStart(8)} events/s  ${r.note}`);
    }
  }
  // On a shared machine the best run of each case is the one least disturbed; the median is shown too.
  const base = median(results.get('no client') ?? []);
  const best = Math.max(...(results.get('no client') ?? []));
  console.log(`\n| case | events/s: median of ${ROUNDS} (against no client) | best (against no client) | range |`);
  console.log('|---|---|---|---|');
  for (const c of CASES) {
    const xs = results.get(c) ?? [];
    const [m, b] = [median(xs), Math.max(...xs)];
    console.log(`| ${c} | ${fmt(m)} (×${(m / base).toFixed(2)}) | ${fmt(b)} (×${(b / best).toFixed(2)}) | ${fmt(Math.min(...xs))}–${fmt(b)} |`);
  }
  const us = await numsubMicros(redis);
  const perSecondMs = (us / 1000) * (base / 1000); // batches of 1000 per second at the no-client rate
  console.log(`\nPUBSUB NUMSUB (one per batch while nobody follows): ${us.toFixed(0)} µs a round trip; at the no-client rate that is ${perSecondMs.toFixed(1)} ms of waiting per second of ingest, spread over the threads (${(perSecondMs / 10).toFixed(2)} % of one thread)`);
}

try {
  await main();
} finally {
  await cleanup();
}
