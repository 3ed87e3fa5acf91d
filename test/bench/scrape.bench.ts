// Scrape latency of one service port, the designs side by side, with 1, 4 and 8 threads (or
// processes), idle and busy:
//   ours         ServicePool threads record into SharedArrayBuffer regions; the scrape reads them
//                and renders with kept text into a pooled Buffer (node:http: the callback_receiver,
//                dispatcher and websockets ports).
//   before       the same pool and regions, the text written by prom-client's registries at each
//                scrape and sent as a string: ours before the kept-text renderer.
//   web          ours served by the web port's fastify server (its Host/Origin hooks included).
//   aggregator   prom-client AggregatorRegistry over node:cluster worker processes (clusterMetrics()).
//   postMessage  worker threads with prom-client registries, asked for getMetricsAsJSON() at each
//                scrape and merged with AggregatorRegistry.aggregate().
// Every design serves the same families (the dispatcher's and callback receiver's catalog metrics),
// and every response is checked. Sequential keep-alive GETs from this process, by a client that
// allocates next to nothing (lib/lean-client.ts), so the GC pauses in the timed span are the
// server's; p50 and p99, and the heap bytes this process allocates per scrape. First, what rendering alone
// costs, ours against prom-client's, in time and bytes allocated.
// Run: node test/bench/scrape.bench.ts  (or npm run bench -- scrape)
import { availableParallelism } from 'node:os';
import { BENCH_FAMILIES, KNOWN_NAMES, SLICE_MS, STARTED_COUNTER, type Mode } from './lib/bench-metrics.ts';
import { startAggregator, startOurs, startOursPromText, startOursWeb, startPull, type Running } from './lib/designs.ts';
import { renderCosts } from './lib/render-cost.ts';
import { fmtBytes } from './lib/alloc.ts';
import { cpuBusy, fmtMs, fmtRatio, measureScrapes, withTimeout, type Plan, type Timings } from './lib/measure.ts';

const THREADS = [1, 4, 8] as const;
const MODES: readonly Mode[] = ['idle', 'busy'];
/** Per design and case: warm-up, then timed requests; both bounded in count and in time. */
const PLAN: Plan = { warmup: 200, warmupMaxMs: 2_000, count: 2_000, maxMs: 5_000 };
/** Once per design before the first case, unreported: JIT and heap sizing of this process settle. */
const PROCESS_WARMUP: Plan = { warmup: 1_500, warmupMaxMs: 3_000, count: 0, maxMs: 0 };
/** Stopping a design's threads or processes may take this long. */
const CLOSE_TIMEOUT_MS = 15_000;

const TARGET_IDLE_MS = 1;
const TARGET_BUSY8_MS = 2;
const TARGET_RATIO = 10;

const DESIGNS = [
  { name: 'ours', start: startOurs },
  { name: 'before', start: startOursPromText },
  { name: 'web', start: startOursWeb },
  { name: 'aggregator', start: startAggregator },
  { name: 'postMessage', start: startPull },
] as const;
type DesignName = (typeof DESIGNS)[number]['name'];

let current: Running | undefined;

async function stopCurrent(): Promise<void> {
  const running = current;
  current = undefined;
  if (running) await withTimeout('stopping a design', running.close(), CLOSE_TIMEOUT_MS);
}

async function runCase(design: (typeof DESIGNS)[number], n: number, mode: Mode, plan = PLAN): Promise<Timings> {
  current = await design.start(n, mode);
  try {
    return await measureScrapes(current.port, plan, {
      families: BENCH_FAMILIES,
      names: KNOWN_NAMES,
      counter: { name: STARTED_COUNTER, value: n },
    });
  } finally {
    await stopCurrent();
  }
}

const show = (t: Timings) => `p50=${fmtMs(t.p50)} p99=${fmtMs(t.p99)} ${fmtBytes(t.allocated)}${t.cut ? ` (n=${t.ms.length}, time-bound)` : ''}`;
/** Ours serves from this process, so its GC pauses land in its scrapes. */
const gcNote = (t: Timings) => ` [gc ${t.gc.count}× max ${fmtMs(t.gc.maxMs)}]`;

/** Rendering alone, in this thread: ours against prom-client's, values still and moving. */
async function printRenderCosts(): Promise<void> {
  for (const regions of [1, 8]) {
    const { bodyBytes, costs } = await renderCosts(regions);
    const [ours, , prom] = costs;
    const line = costs.map((c) => `${c.name} ${fmtMs(c.still.ms)} ${fmtBytes(c.still.bytes)} / ${fmtMs(c.moving.ms)} ${fmtBytes(c.moving.bytes)}`).join(' | ');
    console.log(`scrape  render  ${regions} region(s), ${fmtBytes(bodyBytes)} of text, per render, values still / moving: ${line}`);
    if (ours && prom) {
      console.log(
        `scrape  render  ${regions} region(s): prom-client / ours: time ${fmtRatio(prom.still.ms / ours.still.ms)} still, ${fmtRatio(prom.moving.ms / ours.moving.ms)} moving; ` +
          `bytes allocated ${fmtRatio(prom.still.bytes / ours.still.bytes)} still, ${fmtRatio(prom.moving.bytes / ours.moving.bytes)} moving`,
      );
    }
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  console.log(
    `scrape: GET /metrics latency of one port serving ${BENCH_FAMILIES} families: the dispatcher's and callback_receiver's catalog metrics (histograms and labels included); ` +
      `node ${process.version}, ${availableParallelism()} CPUs`,
  );
  console.log(
    `scrape: per case ${PLAN.warmup} warm-up then ${PLAN.count} timed sequential keep-alive requests (at most ${PLAN.maxMs / 1000} s; client: one socket, answers read into a kept buffer); ` +
      `busy = every thread/process records in ${SLICE_MS} ms slices, yielding with setImmediate`,
  );
  console.log(
    `scrape: (×N) = that design's p99 / ours p99 in the same case; KB = heap allocated in this process per scrape (the server's, plus about 2 KB of the client's; the alternatives' other threads or processes not counted); ` +
      `[gc] = GC pauses of this process (client and ours' server) during ours' timed requests; ` +
      `before the first case each design serves ${PROCESS_WARMUP.warmup} unreported scrapes`,
  );
  const busyBefore = await cpuBusy(1_000);
  if (busyBefore !== undefined) {
    const warn = busyBefore > 0.1 ? ': the machine is not idle, other processes will widen every tail' : '';
    console.log(`scrape: CPUs ${(busyBefore * 100).toFixed(0)}% busy in the second before the first case${warn}`);
  }
  await printRenderCosts();
  for (const design of DESIGNS) await runCase(design, 1, 'idle', PROCESS_WARMUP);
  const results = new Map<string, Timings>();
  for (const n of THREADS) {
    for (const mode of MODES) {
      const row = new Map<DesignName, Timings>();
      for (const design of DESIGNS) {
        const t = await runCase(design, n, mode);
        row.set(design.name, t);
        results.set(`${design.name}/${n}/${mode}`, t);
      }
      const ours = row.get('ours') as Timings;
      const alt = (name: DesignName) => {
        const t = row.get(name) as Timings;
        return `${name} ${show(t)} (${fmtRatio(t.p99 / ours.p99)})`;
      };
      console.log(
        `scrape  threads=${n}  ${mode.padEnd(4)}  ours ${show(ours)}${gcNote(ours)} | ${alt('before')}${gcNote(row.get('before') as Timings)} | ${alt('web')} | ${alt('aggregator')} | ${alt('postMessage')}`,
      );
    }
  }

  const get = (d: DesignName, n: number, m: Mode) => results.get(`${d}/${n}/${m}`) as Timings;
  const idleWorst = Math.max(...THREADS.map((n) => get('ours', n, 'idle').p99));
  const busy8 = get('ours', 8, 'busy').p99;
  const ratios = THREADS.flatMap((n) => MODES.map((m) => get('aggregator', n, m).p99 / get('ours', n, m).p99));
  const minRatio = Math.min(...ratios);
  const p50Ratios = THREADS.flatMap((n) => MODES.map((m) => get('aggregator', n, m).p50 / get('ours', n, m).p50));
  const webRatios = THREADS.flatMap((n) => MODES.map((m) => get('web', n, m).p99 / get('ours', n, m).p99));
  const webP50 = THREADS.flatMap((n) => MODES.map((m) => get('web', n, m).p50 / get('ours', n, m).p50));
  const beforeP99 = THREADS.flatMap((n) => MODES.map((m) => get('before', n, m).p99 / get('ours', n, m).p99));
  const beforeP50 = THREADS.flatMap((n) => MODES.map((m) => get('before', n, m).p50 / get('ours', n, m).p50));
  const allocOurs = THREADS.flatMap((n) => MODES.map((m) => get('ours', n, m).allocated));
  const allocBefore = THREADS.flatMap((n) => MODES.map((m) => get('before', n, m).allocated));
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const range = (rs: number[]) => `${fmtRatio(Math.min(...rs))}–${fmtRatio(Math.max(...rs))}`;
  console.log(`scrape  target  ours p99 idle < ${TARGET_IDLE_MS}ms: worst ${fmtMs(idleWorst)} (${verdict(idleWorst < TARGET_IDLE_MS)})`);
  console.log(`scrape  target  ours p99 busy at 8 threads < ${TARGET_BUSY8_MS}ms: ${fmtMs(busy8)} (${verdict(busy8 < TARGET_BUSY8_MS)})`);
  console.log(`scrape  web     the web port (fastify) / node:http: p99 ${range(webRatios)}, p50 ${range(webP50)} over the cases`);
  const bytes = (xs: number[]) => `${fmtBytes(Math.min(...xs))}–${fmtBytes(Math.max(...xs))}`;
  console.log(
    `scrape  before  prom-client's text / ours: p99 ${range(beforeP99)}, p50 ${range(beforeP50)}; heap allocated per scrape ${bytes(allocBefore)} before, ${bytes(allocOurs)} ours`,
  );
  console.log(`scrape  target  aggregator p99 ≥ ${TARGET_RATIO}× ours: ${range(ratios)} over the cases (${verdict(minRatio >= TARGET_RATIO)}); at p50 ${range(p50Ratios)}`);
  const cpus = availableParallelism();
  if (cpus < Math.max(...THREADS) + 1) {
    console.log(
      `scrape  note    ${cpus} CPUs: busy with n ≥ ${cpus} threads, n CPU-bound threads and the scraping thread share ${cpus} CPUs, ` +
        `so every design's tail includes waiting for a CPU`,
    );
  }
  console.log(
    `scrape summary: ours p99 idle ≤ ${fmtMs(idleWorst)}, busy@8 ${fmtMs(busy8)}; aggregator/ours p99 ${range(ratios)}, p50 ${range(p50Ratios)}; ` +
      `before/ours p99 ${range(beforeP99)}; allocated per scrape ${bytes(allocOurs)} (before ${bytes(allocBefore)}); ` +
      `${DESIGNS.length * THREADS.length * MODES.length} runs in ${((performance.now() - began) / 1000).toFixed(0)} s`,
  );
}

let stopping = false;
const fail = (why: unknown) => {
  if (stopping) return;
  stopping = true;
  console.error(`scrape: failed: ${why instanceof Error ? (why.stack ?? why.message) : String(why)}`);
  stopCurrent().then(
    () => process.exit(1),
    () => process.exit(1),
  );
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => fail(`stopped by ${signal}`));

main().then(
  () => process.exit(0), // nothing of the runs is left; exit without waiting for handles to drain
  fail,
);
