// The HTTP side and lifecycle pieces shared by the designs. Kept apart from designs.ts so that a
// process running only the AggregatorRegistry primary loads nothing of ours but this.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen } from '../../../src/web/metrics-server.ts';

/** A design serving metrics; close() stops every thread or process it started. */
export interface Running {
  readonly port: number;
  /** Processes it started besides this one (cluster workers). */
  readonly pids: readonly number[];
  close(): Promise<void>;
}

/** How long a design may take to have every thread or process up and reporting. */
export const START_TIMEOUT_MS = 30_000;

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** A plain GET /metrics server on a free loopback port around a render function (the alternatives' HTTP side). */
export async function serveMetrics(render: () => Promise<{ contentType: string; body: string }>): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`);
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  return listen(server, '127.0.0.1', 0);
}

/** Resolves true when emitter emits 'exit', false after ms. */
export async function exitWithin(emitter: NodeJS.EventEmitter, ms: number): Promise<boolean> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    await once(emitter, 'exit', { signal: ac.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
