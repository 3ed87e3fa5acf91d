// Alternative (c): a worker thread holding a prom-client Registry. It answers each
// { id } request from the main thread with registry.getMetricsAsJSON(); workerData.mode says
// whether it records once or in 1 ms slices until it is told 'stop' (or terminated).
import { parentPort, workerData } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { BENCH_SPECS, busyOps, isMode, promMetrics, recordOnce, runBusy } from '../lib/bench-metrics.ts';

const port = parentPort;
if (port === null) throw new Error('pull-worker.ts runs in a worker thread');
const mode = (workerData as { mode?: unknown } | null)?.mode;
if (!isMode(mode)) throw new Error(`workerData.mode is ${JSON.stringify(mode)}; expected idle or busy`);

const registry = new Registry();
const metrics = promMetrics(registry, BENCH_SPECS);
const byKey = (key: string) => metrics.get(key);
const stop = new AbortController();

port.on('message', (m: unknown) => {
  if (m === 'stop') {
    stop.abort();
    port.close();
    return;
  }
  const id = (m as { id: number }).id;
  registry.getMetricsAsJSON().then(
    (metrics) => port.postMessage({ id, metrics }),
    (err: unknown) => port.postMessage({ id, error: String(err) }),
  );
});

recordOnce(byKey);
if (mode === 'busy') void runBusy(busyOps(byKey), stop.signal);
port.postMessage('ready');
