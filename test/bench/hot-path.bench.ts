// Benchmark 1: the recording hot path in one thread, ours next to prom-client's own metrics.
// ns per call, median of several rounds; the ratio is prom-client / ours.
import { Counter as PromCounter, Histogram as PromHistogram, Registry } from 'prom-client';
import { createRecorder } from '../../src/metrics/recorder.ts';

const ROUNDS = 9;
const CALLS = 5_000_000;

function nsPerCall(body: (i: number) => void): number {
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) body(i);
    samples.push(Number(process.hrtime.bigint() - start) / CALLS);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(ROUNDS / 2)] as number;
}

const ours = createRecorder('callback_receiver').metrics;
const oursWeb = createRecorder('web').metrics;
const registry = new Registry();
const promCounter = new PromCounter({ name: 'c_total', help: 'c', registers: [registry] });
const promLabelled = new PromCounter({ name: 'l_total', help: 'l', labelNames: ['service'], registers: [registry] });
const promHistogram = new PromHistogram({ name: 'h', help: 'h', buckets: [10, 50, 150, 350, 650, 2000], registers: [registry] });
const restarts = oursWeb.threadRestarts;
const cached = restarts.labels('dispatcher');
const promCached = promLabelled.labels('dispatcher');

const cases: [string, (i: number) => void, (i: number) => void, number][] = [
  ['counter inc, unlabelled', () => ours.eventsPopped.inc(), () => promCounter.inc(), 20],
  ['counter inc, labels(v).inc() each call', () => restarts.labels('dispatcher').inc(), () => promLabelled.labels('dispatcher').inc(), 20],
  ['counter inc, labelled child kept', () => cached.inc(), () => promCached.inc(), 20],
  ['counter inc, labels as an object', () => restarts.labels('dispatcher').inc(), () => promLabelled.inc({ service: 'dispatcher' }), 20],
  ['histogram observe', (i) => ours.batchSize.observe(i & 4095), (i) => promHistogram.observe(i & 4095), 60],
];

console.log(`hot path: ${CALLS.toLocaleString()} calls × ${ROUNDS} rounds each, median ns per call (Node ${process.version})`);
for (const [name, mine, theirs, target] of cases) {
  const a = nsPerCall(mine);
  const b = nsPerCall(theirs);
  const verdict = a <= target ? `within the ${target} ns target` : `OVER the ${target} ns target`;
  console.log(`  ${name.padEnd(40)} ours ${a.toFixed(1).padStart(6)} ns | prom-client ${b.toFixed(1).padStart(6)} ns | prom-client/ours ×${(b / a).toFixed(1)} | ${verdict}`);
}
