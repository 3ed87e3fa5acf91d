import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { findProgram } from '../../src/system/programs.ts';
import { freePorts } from './ports.ts';
import { StopWaiting, waitFor } from './wait-for.ts';

const SHIPPED = new URL('../../config/prometheus/prometheus.yml', import.meta.url);

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The four metrics ports of one node, by service. */
export interface NodePorts {
  readonly web: number;
  readonly callback_receiver: number;
  readonly dispatcher: number;
  readonly websockets: number;
}

/**
 * config/prometheus/prometheus.yml as an operator adapts it for one node: its targets and `node`
 * label, the relabelling of each service's port; scraped every second, without the rule files.
 */
export function scrapeConfigFor(node: string, ports: NodePorts): string {
  const shipped = parse(readFileSync(SHIPPED, 'utf8')) as Yaml;
  const job = structuredClone(shipped.scrape_configs[0]) as Yaml;
  job.static_configs = [{ targets: Object.values(ports).map((p) => `127.0.0.1:${p}`), labels: { node } }];
  for (const relabel of job.relabel_configs as Yaml[]) {
    const port = ports[relabel.replacement as keyof NodePorts];
    if (port === undefined) throw new Error(`prometheus.yml relabels to ${relabel.replacement}, no service of a node`);
    relabel.regex = `.+:${port}`;
  }
  return stringify({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, scrape_configs: [job] });
}

/** The answer of Prometheus' HTTP API to an instant query. */
export interface QueryAnswer {
  readonly status: string;
  readonly error?: string;
  readonly data?: { readonly resultType: string; readonly result: readonly { metric: Record<string, string>; value: [number, string] }[] };
}

/** A real Prometheus server on loopback, its TSDB in a directory of its own. */
export class PrometheusServer {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #output = '';
  #code: number | null | undefined;

  private constructor(url: string, child: ChildProcess) {
    this.url = url;
    this.#child = child;
    child.stdout?.on('data', (c: Buffer) => (this.#output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (this.#output += c.toString()));
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve((this.#code = code))));
  }

  /** Starts `prometheus` with this config text in `dir`; resolves once it answers /-/ready. */
  static async start(dir: string, config: string): Promise<PrometheusServer> {
    const program = findProgram('prometheus');
    if (program === undefined) throw new Error('the prometheus server is not installed (npm test installs it)');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'prometheus.yml'), config);
    const [port] = (await freePorts(1)) as [number];
    const child = spawn(program, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child);
    try {
      await waitFor('prometheus ready', async () => {
        if (server.#code !== undefined) throw new StopWaiting(`prometheus exited with ${server.#code}: ${server.#output}`);
        return (await fetch(`${server.url}/-/ready`)).status === 200;
      }, 30_000);
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  /** Everything the server printed (its logs), for failure messages. */
  output(): string {
    return this.#output;
  }

  /** An instant query through the HTTP API, as Grafana sends one. */
  async query(expr: string): Promise<QueryAnswer> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as QueryAnswer;
  }

  /** Stops the server (SIGTERM, then SIGKILL if it has not ended within 10 s); resolves once it has exited. */
  async close(): Promise<void> {
    if (this.#code !== undefined) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
