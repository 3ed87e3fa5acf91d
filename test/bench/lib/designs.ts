// The scrape designs, each started with n threads or processes in a mode and serving
// GET /metrics on a free loopback port. Each start either resolves with something to close, or
// stops whatever it had started and rejects.
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AggregatorRegistry } from 'prom-client';
import { ServiceMetrics } from '../../../src/metrics/service-metrics.ts';
import { ServiceExposition } from '../../../src/metrics/exposition.ts';
import { closeServer, createMetricsServer, listen } from '../../../src/web/metrics-server.ts';
import { ServicePool } from '../../../src/service-pool.ts';
import { createLogger } from '../../../src/logger.ts';
import { WebServer } from '../../../src/web/web-server.ts';
import { BENCH_LAYOUT, STARTED_COUNTER, type Mode } from './bench-metrics.ts';
import { waitFor, withTimeout } from './measure.ts';
import { START_TIMEOUT_MS, portOf, serveMetrics, type Running } from './serve.ts';

export { startAggregator } from './aggregator-cluster.ts';
export type { Running } from './serve.ts';

/** One registry's getMetricsAsJSON() result, as it crosses the thread boundary. */
type MetricJson = object;

const file = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const RECORDER_WORKER = file('../workers/recorder.ts');
const PULL_WORKER = file('../workers/pull-worker.ts');

/** How long a pull-on-scrape reply may take (prom-client's clusterMetrics waits 5 s too). */
const REPLY_TIMEOUT_MS = 5_000;

/** A port's HTTP side in our designs: what serves the exposition, and how it stops. */
interface Port {
  readonly server: Server;
  close(): Promise<void>;
}

/** (a) Ours: a ServicePool of n threads recording into shared regions; the metrics server (node:http, the three metrics-only ports) reads them at scrape time. */
export function startOurs(n: number, mode: Mode): Promise<Running> {
  return startOursOn(n, mode, 'ours', async (exposition) => {
    const server = await listen(createMetricsServer(exposition, createLogger('silent')), '127.0.0.1', 0);
    return { server, close: () => closeServer(server) };
  });
}

/**
 * (a'') Ours as it was before the kept-text renderer: the same pool and regions, the text written by
 * prom-client's registries at each scrape and sent as a string (what every metrics port did until then).
 */
export function startOursPromText(n: number, mode: Mode): Promise<Running> {
  return startOursOn(n, mode, 'prom-client text', async (exposition) => {
    const server = await serveMetrics(() => exposition.renderWithPromClient(undefined));
    return { server, close: () => closeServer(server) };
  });
}

/** (a') Ours on the web port: the same pool and exposition served by the fastify WebServer (security hooks and all). */
export function startOursWeb(n: number, mode: Mode): Promise<Running> {
  return startOursOn(n, mode, 'web', async (exposition) => {
    const web = new WebServer({ log: createLogger('silent'), exposition, nodeName: 'bench', version: '0', bind: '127.0.0.1', hostnames: [], tokens: [], allowAnonymousMetrics: false });
    await web.listen(0);
    return { server: web.server, close: () => web.close() };
  });
}

async function startOursOn(n: number, mode: Mode, name: string, serve: (exposition: ServiceExposition) => Promise<Port>): Promise<Running> {
  // Pool threads start with a copy of this environment.
  process.env.OVERSEER_BENCH_MODE = mode;
  const log = createLogger('silent');
  const metrics = new ServiceMetrics('dispatcher', BENCH_LAYOUT);
  const supervisor = new ServiceMetrics('web').localRecorder('bench').metrics;
  const pool = new ServicePool(
    { service: 'dispatcher', filename: RECORDER_WORKER, minThreads: n, maxThreads: n, loops: n, idleTimeoutMs: Infinity },
    metrics,
    supervisor,
    log,
  );
  let port: Port | undefined;
  const close = async () => {
    await port?.close();
    await pool.close(5_000);
  };
  try {
    await withTimeout(`${name}: pool start`, pool.start(), START_TIMEOUT_MS);
    port = await serve(new ServiceExposition(metrics.sources()));
    const started = metrics.layout.metrics.findIndex((m) => m.spec.name === STARTED_COUNTER);
    await waitFor(
      `${name}: ${n} threads reporting`,
      () => metrics.liveRegions === n && metrics.family(started).samples[0]?.value === n,
      START_TIMEOUT_MS,
    );
    return { port: portOf(port.server), pids: [], close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** (c) Pull on scrape: n worker threads with prom-client registries, asked over postMessage at each scrape. */
export async function startPull(n: number, mode: Mode): Promise<Running> {
  const workers: Worker[] = [];
  const pending: Map<number, (m: { metrics?: MetricJson[]; error?: string }) => void>[] = [];
  let ready = 0;
  let failure: Error | undefined;
  let server: Server | undefined;
  const close = async () => {
    if (server) await closeServer(server);
    await Promise.all(workers.map((w) => w.terminate()));
  };
  try {
    for (let i = 0; i < n; i++) {
      const w = new Worker(PULL_WORKER, { workerData: { mode } });
      const waiting = new Map<number, (m: { metrics?: MetricJson[]; error?: string }) => void>();
      w.on('message', (m: unknown) => {
        if (m === 'ready') ready++;
        else {
          const reply = m as { id: number; metrics?: MetricJson[]; error?: string };
          waiting.get(reply.id)?.(reply);
          waiting.delete(reply.id);
        }
      });
      w.on('error', (err) => (failure = err));
      workers.push(w);
      pending.push(waiting);
    }
    await waitFor(`pull: ${n} threads ready`, () => {
      if (failure) throw failure;
      return ready === n;
    }, START_TIMEOUT_MS);

    let seq = 0;
    const ask = (i: number, id: number) =>
      new Promise<MetricJson[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending[i]?.delete(id);
          reject(new Error(`thread ${i} did not answer within ${REPLY_TIMEOUT_MS} ms`));
        }, REPLY_TIMEOUT_MS);
        pending[i]?.set(id, (m) => {
          clearTimeout(timer);
          if (m.metrics) resolve(m.metrics);
          else reject(new Error(m.error ?? 'no metrics'));
        });
        workers[i]?.postMessage({ id });
      });
    server = await serveMetrics(async () => {
      const id = seq++;
      const replies = await Promise.all(workers.map((_, i) => ask(i, id)));
      const registry = AggregatorRegistry.aggregate(replies);
      return { contentType: registry.contentType, body: await registry.metrics() };
    });
    return { port: portOf(server), pids: [], close };
  } catch (err) {
    await close();
    throw err;
  }
}
