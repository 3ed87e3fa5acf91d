// Alternative (b): prom-client's AggregatorRegistry in this process as the node:cluster primary,
// over n worker processes (../workers/cluster-worker.ts); GET /metrics serves clusterMetrics().
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, type PrometheusContentType } from 'prom-client';
import { closeServer } from '../../../src/web/metrics-server.ts';
import { STARTED_COUNTER, type Mode } from './bench-metrics.ts';
import { sampleValue, waitFor } from './measure.ts';
import { START_TIMEOUT_MS, exitWithin, portOf, serveMetrics, type Running } from './serve.ts';

const CLUSTER_WORKER = fileURLToPath(new URL('../workers/cluster-worker.ts', import.meta.url));

let aggregator: AggregatorRegistry<PrometheusContentType> | undefined;

/** Stops cluster workers: SIGTERM, then SIGKILL for any still there after 5 s. */
export async function stopWorkers(workers: readonly ClusterWorker[]): Promise<void> {
  await Promise.all(
    workers.map(async (w) => {
      if (w.process.exitCode !== null || w.process.signalCode !== null) return;
      w.process.kill('SIGTERM');
      if (!(await exitWithin(w.process, 5_000))) {
        w.process.kill('SIGKILL');
        await exitWithin(w.process, 5_000);
      }
    }),
  );
}

export async function startAggregator(n: number, mode: Mode): Promise<Running> {
  if (!cluster.isPrimary) throw new Error('startAggregator runs in the cluster primary');
  await waitFor('cluster workers of an earlier run to be gone', () => Object.keys(cluster.workers ?? {}).length === 0, 5_000);
  aggregator ??= new AggregatorRegistry();
  const registry = aggregator;
  cluster.setupPrimary({ exec: CLUSTER_WORKER, args: [] });
  const workers: ClusterWorker[] = [];
  let ready = 0;
  let failure: Error | undefined;
  let server: Server | undefined;
  const close = async () => {
    if (server) await closeServer(server);
    await stopWorkers(workers);
  };
  try {
    for (let i = 0; i < n; i++) {
      const w = cluster.fork({ OVERSEER_BENCH_MODE: mode });
      w.on('message', (m: unknown) => {
        if (m === 'ready') ready++;
      });
      w.on('exit', (code, signal) => {
        if (ready < n) failure ??= new Error(`cluster worker ${w.process.pid} exited (${code ?? signal}) while starting`);
      });
      workers.push(w);
    }
    await waitFor(`aggregator: ${n} cluster workers ready`, () => {
      if (failure) throw failure;
      return ready === n;
    }, START_TIMEOUT_MS);
    server = await serveMetrics(async () => ({ contentType: registry.contentType, body: await registry.clusterMetrics() }));
    // Every worker answers and is counted.
    await waitFor(`aggregator: ${n} workers reporting`, async () => sampleValue(await registry.clusterMetrics().catch(() => ''), STARTED_COUNTER) === n, START_TIMEOUT_MS);
    return { port: portOf(server), pids: workers.map((w) => w.process.pid as number), close };
  } catch (err) {
    await close();
    throw err;
  }
}
