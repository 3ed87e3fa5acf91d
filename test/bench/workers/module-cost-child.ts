// One measurement of module-cost.bench.ts, in a process of its own: starts N worker threads that
// each import the given modules (none: an empty thread), and prints the process's VmRSS (kB, the
// median of 5 samples 200 ms apart) as JSON twice: after an ordinary full GC in every thread
// (`regular`), then after a last-resort one (`lastResort`: V8 also gives back the pages it keeps
// for reuse and shrinks the young generation).
// Usage: node --expose-gc module-cost-child.ts <threads> [specifier ...]
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

// Plain JavaScript (eval), so that an empty thread loads nothing: TypeScript stripping is measured
// as a module of its own (a one-line .ts file).
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  for (const spec of workerData) await import(spec);
  globalThis.gc();
  parentPort.postMessage('ready');
  parentPort.once('message', () => {
    globalThis.gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    parentPort.postMessage('ready');
  });
})().catch((err) => parentPort.postMessage(String(err && err.stack || err)));
`;

const vmRssKb = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);

/** VmRSS once it has stopped moving: sampled every 200 ms until three in a row lie within 1 % (5 s at most); their median. */
async function settledRss(): Promise<number> {
  globalThis.gc?.();
  const samples: number[] = [];
  const deadline = Date.now() + 5000;
  for (;;) {
    samples.push(vmRssKb());
    const last = samples.slice(-3);
    const settled = last.length === 3 && Math.max(...last) - Math.min(...last) <= Math.max(...last) * 0.01;
    if (settled || Date.now() > deadline) return last.sort((a, b) => a - b)[Math.floor(last.length / 2)] as number;
    await delay(200);
  }
}

const [threads, ...specs] = process.argv.slice(2);
const workers = Array.from({ length: Number(threads) }, () => new Worker(THREAD, { eval: true, workerData: specs }));
/** Resolves when every thread has said ready (again). */
const ready = () => Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
  w.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
  w.once('error', reject);
})));
await ready();
const regular = await settledRss();
const again = ready();
for (const w of workers) w.postMessage('last-resort');
await again;
const lastResort = await settledRss();
console.log(JSON.stringify({ regular, lastResort }));
process.exit(0);
