// Resident memory of a node with 8 service threads, side by side with the floor and with the
// AggregatorRegistry cluster design at the same parallelism:
//   ours         the real supervisor (`node src/main.ts`): callback_receiver 5 threads, dispatcher
//                min 2 max 2, websockets 1 = 8 threads in one process; VmRSS of that process; then
//                the same with MALLOC_ARENA_MAX=2 (glibc's malloc arenas shared by the threads).
//   floor        a Node process (plain JavaScript) with 8 worker threads that load nothing.
//   aggregator   a cluster primary serving clusterMetrics() + 8 idle worker processes, each with
//                prom-client metrics built from the catalog; the sum of their VmRSS.
// Each is sampled a few times after it is up and has been scraped once; the max is reported.
// Run: node test/bench/rss.bench.ts  (or npm run bench -- rss)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BENCH_FAMILIES, KNOWN_NAMES, STARTED_COUNTER } from './lib/bench-metrics.ts';
import { fmtKb, fmtRatio, keepAliveClient, problemWith, waitFor } from './lib/measure.ts';
import { exitWithin } from './lib/serve.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const CLUSTER_PRIMARY = fileURLToPath(new URL('./workers/cluster-primary.ts', import.meta.url));

const THREADS = { callback_receiver: 5, dispatcher: 2, websockets: 1 } as const;
const N = THREADS.callback_receiver + THREADS.dispatcher + THREADS.websockets;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const SAMPLES = 5;
const SAMPLE_GAP_MS = 300;

/** VmRSS of a process in kB (0 when it is gone). */
function vmRssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Direct child processes of pid (from every thread's children list). */
function childrenOf(pid: number): number[] {
  const out = new Set<number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const c of list.split(/\s+/)) if (c) out.add(Number(c));
    }
  } catch {
    // gone
  }
  return [...out];
}

/** Threads of a process, as /proc counts them. */
function threadCount(pid: number): number {
  const m = /^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Samples the summed VmRSS of pids() SAMPLES times, SAMPLE_GAP_MS apart; returns every sample. */
async function sampleRss(pids: () => readonly number[]): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await delay(SAMPLE_GAP_MS);
    samples.push(pids().reduce((sum, pid) => sum + vmRssKb(pid), 0));
  }
  return samples;
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A child whose stdout is read as lines. */
function started(child: ChildProcess) {
  const lines: string[] = [];
  let stderr = '';
  let pending = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.trim() !== ''));
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.once('exit', (code, signal) => (exit = { code, signal }));
  return {
    child,
    lines,
    stderr: () => stderr,
    exit: () => exit,
    /** Waits for a line matching; fails at once if the process exits first. */
    waitForLine: (what: string, match: (line: string) => boolean, timeoutMs: number) =>
      waitFor(
        what,
        () => {
          const found = lines.find(match);
          if (found !== undefined) return found;
          if (exit) throw new Error(`exited (${exit.code ?? exit.signal}) first; stderr: ${stderr.trim().slice(-2000)}`);
          return undefined;
        },
        timeoutMs,
      ),
  };
}

/** Stops a child: the signal, then SIGKILL after STOP_TIMEOUT_MS; resolves with how it ended. */
async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null; forced: boolean }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode, forced: false };
  child.kill(signal);
  let forced = false;
  if (!(await exitWithin(child, STOP_TIMEOUT_MS))) {
    forced = true;
    child.kill('SIGKILL');
    await exitWithin(child, 5_000);
  }
  return { code: child.exitCode, signal: child.signalCode, forced };
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

/** The real supervisor with 8 threads: its VmRSS, its private redis-server's, and how SIGTERM ended it. */
async function measureOurs(extraEnv: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ovs-rss-'));
  tempDirs.push(dir);
  const [web, callback_receiver, dispatcher, websockets] = (await freePorts(4)) as [number, number, number, number];
  const config = {
    data_dir: join(dir, 'data'),
    log_level: 'info',
    services: {
      web: { bind: '127.0.0.1', port: web },
      callback_receiver: { bind: '127.0.0.1', port: callback_receiver, workers: THREADS.callback_receiver },
      dispatcher: { bind: '127.0.0.1', port: dispatcher, min_workers: THREADS.dispatcher, max_workers: THREADS.dispatcher },
      websockets: { bind: '127.0.0.1', port: websockets },
    },
  };
  const file = join(dir, 'overseer.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
  const env: NodeJS.ProcessEnv = { ...process.env, OVERSEER_NO_INSTALL: '1', ...extraEnv };
  for (const key of ['OVERSEER_CONFIG', 'REDIS_URL', 'DATABASE_URL', 'OVERSEER_NODE_NAME', 'OVERSEER_DATA_DIR']) delete env[key];
  const node = started(spawn(process.execPath, [MAIN, '--config', file], { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: dir }));
  children.add(node.child);
  const pid = node.child.pid as number;
  const t0 = performance.now();
  await node.waitForLine('the supervisor\'s "ready" log line', (l) => l.includes('"msg":"ready"'), READY_TIMEOUT_MS);
  const readyMs = performance.now() - t0;

  // Every port answers; the web port counts 8 live threads.
  const threads: Record<string, number> = {};
  for (const [service, port] of Object.entries({ web, callback_receiver, dispatcher, websockets })) {
    const client = keepAliveClient(port);
    try {
      const { status, body } = await client.get('/metrics');
      if (status !== 200) throw new Error(`supervisor: ${service} port answered ${status}`);
      if (service === 'web') {
        for (const s of Object.keys(THREADS)) {
          const m = new RegExp(`^overseer_threads\\{service="${s}"\\} (\\S+)$`, 'm').exec(body);
          threads[s] = Number(m?.[1]);
        }
      }
    } finally {
      client.close();
    }
  }
  for (const [s, n] of Object.entries(THREADS)) {
    if (threads[s] !== n) throw new Error(`supervisor: overseer_threads{service="${s}"} is ${threads[s]}, expected ${n}`);
  }

  const samples = await sampleRss(() => [pid]);
  const redisPids = childrenOf(pid);
  const redisKb = redisPids.reduce((sum, p) => sum + vmRssKb(p), 0);
  const osThreads = threadCount(pid);
  const stop = await stopChild(node.child);
  children.delete(node.child);
  if (stop.forced || stop.code !== 0) {
    throw new Error(`supervisor: SIGTERM ended it with ${stop.forced ? 'SIGKILL after the timeout' : (stop.code ?? stop.signal)}, expected exit 0; stderr: ${node.stderr().trim().slice(-2000)}`);
  }
  return { samples, max: Math.max(...samples), redisKb, redisPids, osThreads, readyMs, exitCode: stop.code };
}

/** The floor: 8 worker threads that load nothing, in a process that loads nothing else. */
async function measureFloor() {
  const code = `
const { Worker } = require('node:worker_threads');
let ready = 0;
for (let i = 0; i < ${N}; i++) {
  new Worker("require('node:worker_threads').parentPort.postMessage(1); setInterval(() => {}, 1 << 30);", { eval: true })
    .once('message', () => { if (++ready === ${N}) console.log('ready'); });
}`;
  const floor = started(spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] }));
  children.add(floor.child);
  await floor.waitForLine('the empty threads to start', (l) => l === 'ready', READY_TIMEOUT_MS);
  const samples = await sampleRss(() => [floor.child.pid as number]);
  await stopChild(floor.child);
  children.delete(floor.child);
  return { samples, max: Math.max(...samples) };
}

/** The AggregatorRegistry cluster with 8 idle workers: primary + workers VmRSS summed. */
async function measureAggregator() {
  const primary = started(spawn(process.execPath, [CLUSTER_PRIMARY, String(N), 'idle'], { stdio: ['pipe', 'pipe', 'pipe'] }));
  children.add(primary.child);
  const line = await primary.waitForLine('the cluster primary to report its port', (l) => l.startsWith('{'), READY_TIMEOUT_MS);
  const { port, pids } = JSON.parse(line) as { port: number; pids: number[] };
  if (pids.length !== N) throw new Error(`aggregator: ${pids.length} workers, expected ${N}`);
  const client = keepAliveClient(port);
  try {
    const { status, body } = await client.get('/metrics');
    const problem = problemWith(status, body, { families: BENCH_FAMILIES, names: KNOWN_NAMES, counter: { name: STARTED_COUNTER, value: N } });
    if (problem) throw new Error(`aggregator: bad scrape: ${problem}`);
  } finally {
    client.close();
  }
  const primaryPid = primary.child.pid as number;
  const all = () => [primaryPid, ...pids];
  const samples = await sampleRss(all);
  const primaryKb = vmRssKb(primaryPid);
  const stop = await stopChild(primary.child);
  children.delete(primary.child);
  if (stop.forced || stop.code !== 0) throw new Error(`aggregator: the primary ended with ${stop.forced ? 'SIGKILL' : (stop.code ?? stop.signal)}`);
  const left = pids.filter((p) => vmRssKb(p) > 0);
  if (left.length > 0) throw new Error(`aggregator: workers ${left.join(', ')} still alive after the primary stopped`);
  return { samples, max: Math.max(...samples), primaryKb, workers: pids.length };
}

async function main(): Promise<void> {
  const began = performance.now();
  console.log(`rss: VmRSS from /proc, ${SAMPLES} samples ${SAMPLE_GAP_MS} ms apart after start and one scrape, max reported; node ${process.version}, ${availableParallelism()} CPUs`);
  const ours = await measureOurs();
  console.log(
    `rss  ours        supervisor, ${N} threads (callback_receiver ${THREADS.callback_receiver}, dispatcher ${THREADS.dispatcher}, websockets ${THREADS.websockets}; ${ours.osThreads} OS threads)  ` +
      `VmRSS max=${fmtKb(ours.max)}  samples ${ours.samples.map((s) => (s / 1024).toFixed(1)).join('/')} MB  ` +
      `(ready in ${(ours.readyMs / 1000).toFixed(1)} s; SIGTERM → exit ${ours.exitCode})`,
  );
  console.log(`rss  ours        + its private redis-server (pid ${ours.redisPids.join(',') || 'none'}): ${fmtKb(ours.redisKb)}, not counted above (the cluster design has no Redis)`);
  // glibc gives each thread a malloc arena of its own, and keeps what was freed in it.
  const arenas = await measureOurs({ MALLOC_ARENA_MAX: '2' });
  console.log(`rss  ours        the same with MALLOC_ARENA_MAX=2 in its environment  VmRSS max=${fmtKb(arenas.max)}  samples ${arenas.samples.map((s) => (s / 1024).toFixed(1)).join('/')} MB`);
  const floor = await measureFloor();
  console.log(`rss  floor       a Node process with ${N} worker threads that load nothing  VmRSS max=${fmtKb(floor.max)}  samples ${floor.samples.map((s) => (s / 1024).toFixed(1)).join('/')} MB`);
  const agg = await measureAggregator();
  console.log(
    `rss  aggregator  primary + ${agg.workers} idle cluster workers  total max=${fmtKb(agg.max)}  samples ${agg.samples.map((s) => (s / 1024).toFixed(1)).join('/')} MB  ` +
      `(primary ${fmtKb(agg.primaryKb)}, workers ≈${fmtKb((agg.max - agg.primaryKb) / agg.workers)} each)`,
  );
  const ratio = agg.max / ours.max;
  console.log(`rss  8 threads: ours ${fmtKb(ours.max)} | floor ${fmtKb(floor.max)} (ours ${fmtRatio(ours.max / floor.max)} the floor, ${fmtKb(ours.max - floor.max)} above it) | prom-client cluster ${fmtKb(agg.max)} (${fmtRatio(ratio)} ours)`);
  console.log('');
  console.log('| 8 threads | VmRSS | / ours |');
  console.log('|---|---|---|');
  console.log(`| ours (the supervisor) | ${fmtKb(ours.max)} | ×1.00 |`);
  console.log(`| ours, MALLOC_ARENA_MAX=2 | ${fmtKb(arenas.max)} | ×${(arenas.max / ours.max).toFixed(2)} |`);
  console.log(`| floor (8 threads that load nothing) | ${fmtKb(floor.max)} | ×${(floor.max / ours.max).toFixed(2)} |`);
  console.log(`| prom-client cluster (AggregatorRegistry) | ${fmtKb(agg.max)} | ×${ratio.toFixed(2)} |`);
  console.log('');
  console.log(
    `rss summary: aggregator cluster uses ${fmtRatio(ratio)} the memory of the supervisor at ${N}-way parallelism ` +
      `(${fmtRatio(agg.max / (ours.max + ours.redisKb))} counting the supervisor's redis-server); ${((performance.now() - began) / 1000).toFixed(0)} s`,
  );
}

async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, 'SIGTERM')));
  children.clear();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

let stopping = false;
const finish = (code: number, why?: unknown) => {
  if (stopping) return;
  stopping = true;
  if (why !== undefined) console.error(`rss: failed: ${why instanceof Error ? (why.stack ?? why.message) : String(why)}`);
  cleanup().then(
    () => process.exit(code),
    () => process.exit(1),
  );
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => finish(1, `stopped by ${signal}`));
main().then(() => finish(0), (err: unknown) => finish(1, err));
