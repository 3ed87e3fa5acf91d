// A web port on a real loopback port for the web tests, and requests to it over a socket with
// exactly the headers a test gives (a browser's, curl's).
import { after } from 'node:test';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Storage } from '../../src/storage/storage.ts';
import { ServiceExposition } from '../../src/metrics/exposition.ts';
import { ControlStore } from '../../src/control/store.ts';
import { WebServer, type ApiDeps, type WebServerOptions } from '../../src/web/web-server.ts';

// Answers are JSON of many shapes; the assertions check them.
export type Json = any;

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface Served {
  readonly web: WebServer;
  readonly port: number;
  readonly logs: LogLine[];
  readonly deps: ApiDeps;
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Json;
}

/** What the API reads, over a real storage; Redis and the cluster stand in (the tests here are about the port). */
export const depsOver = (storage: Storage): ApiDeps => ({
  control: { store: new ControlStore(storage.sql), submit: async () => true, publish: async () => 0, capacity: 4, projectRoots: { roots: ['/'], dataDir: '/nonexistent' } },
  storage,
  redisOk: async () => true,
  cluster: async () => ({ snapshots: [], rejected: [], signature: '' }),
  instances: async () => [],
  // A port served on its own has no config file behind it: what the supervisor answers then.
  reload: async () => ({ result: 'invalid', applied: [], needs_restart: [], problems: ['this node was not started from a config file'] }),
});

/** A web port on a free loopback port over `storage`, ready unless told otherwise; closed after the test file. */
export async function serveWeb(storage: Storage, options: Partial<WebServerOptions> = {}, ready = true): Promise<Served> {
  const logs: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const web = new WebServer({
    log,
    exposition: new ServiceExposition([]),
    nodeName: 'node-s',
    version: '0.1.0',
    bind: '127.0.0.1',
    hostnames: [],
    tokens: [],
    allowAnonymousMetrics: false,
    ...options,
  });
  after(() => web.close());
  await web.listen(0);
  const deps = depsOver(storage);
  if (ready) web.ready(deps);
  return { web, port: (web.server.address() as AddressInfo).port, logs, deps };
}

/** One request over a socket with exactly these headers (Host included: node:http adds none given one). */
export function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // A connection of its own: the next request must see a closed port as closed.
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const json = res.headers['content-type'] === 'application/json' && text !== '' ? JSON.parse(text) : undefined;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** curl -X <method> -H 'Content-Type: application/json' -d <body> (the token when given). */
export const curl = (port: number, method: string, path: string, body?: unknown, token?: string): Promise<Answer> =>
  send(
    port,
    method,
    path,
    {
      'user-agent': 'curl/8.5.0',
      accept: '*/*',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body === undefined ? undefined : JSON.stringify(body),
  );
