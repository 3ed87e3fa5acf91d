// Alternative (b): a node:cluster worker process in the shape prom-client documents for
// AggregatorRegistry: its metrics live in prom-client's global registry, and constructing an
// AggregatorRegistry installs the listener that answers the primary's metrics requests.
// OVERSEER_BENCH_MODE=idle|busy says whether it records once or in 1 ms slices until stopped.
import cluster from 'node:cluster';
import { AggregatorRegistry, register } from 'prom-client';
import { BENCH_SPECS, busyOps, isMode, promMetrics, recordOnce, runBusy } from '../lib/bench-metrics.ts';

if (!cluster.isWorker) throw new Error('cluster-worker.ts runs as a node:cluster worker (cluster.setupPrimary({ exec }))');
const mode = process.env.OVERSEER_BENCH_MODE;
if (!isMode(mode)) throw new Error(`OVERSEER_BENCH_MODE is ${JSON.stringify(mode)}; expected idle or busy`);

new AggregatorRegistry(); // answers prom-client:getMetricsReq from the primary
const metrics = promMetrics(register, BENCH_SPECS);
const byKey = (key: string) => metrics.get(key);

const stop = new AbortController();
// The primary going away, or asking, ends the process (and with it any busy loop).
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
process.on('message', (m) => {
  if (m === 'stop') stop.abort();
});

recordOnce(byKey);
if (mode === 'busy') void runBusy(busyOps(byKey), stop.signal);
process.send?.('ready'); // the listener is installed: metrics requests get answers from now on
