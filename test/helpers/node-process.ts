import { after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from './ports.ts';
import { StopWaiting, waitFor } from './wait-for.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface LogLine {
  readonly msg: string;
  readonly level: number;
  readonly [key: string]: unknown;
}

/** A supervisor started as `node src/main.ts`, as `npm start` does. */
export interface NodeUnderTest {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  stderr(): string;
  /** Waits for a log line with this msg; fails early if the process exits. */
  waitForLog(msg: string, timeoutMs?: number): Promise<LogLine>;
  /**
   * Calls fn with every later log line with this msg, in the stdout data handler, as soon as the
   * line is read: the moment to send a signal at a precise step. fn must not throw.
   */
  onLog(msg: string, fn: (line: LogLine) => void): void;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A temporary directory for one test. */
export function tempDir(prefix = 'overseer-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a config file (JSON is YAML) with a data dir in `dir` and four free ports; returns it and the ports. */
export async function writeTestConfig(dir: string, extra: Record<string, unknown> = {}) {
  const [web, callback_receiver, dispatcher, websockets] = (await freePorts(4)) as [number, number, number, number];
  const ports = { web, callback_receiver, dispatcher, websockets };
  const base: Record<string, Record<string, unknown>> = {
    web: { port: web },
    callback_receiver: { port: callback_receiver, workers: 2 },
    dispatcher: { port: dispatcher, min_workers: 1, max_workers: 2 },
    websockets: { port: websockets },
  };
  const overrides = (extra.services ?? {}) as Record<string, Record<string, unknown>>;
  const services = Object.fromEntries(Object.entries(base).map(([name, s]) => [name, { ...s, ...overrides[name] }]));
  const config = { data_dir: join(dir, 'data'), log_level: 'debug', ...extra, services };
  const file = join(dir, 'overseer.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, ports, dataDir: config.data_dir };
}

/** Starts the real entry point with the given arguments and environment. */
export function startNode(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): NodeUnderTest {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, OVERSEER_CONFIG: undefined, REDIS_URL: undefined, DATABASE_URL: undefined, OVERSEER_NODE_NAME: undefined, OVERSEER_DATA_DIR: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
  const logs: LogLine[] = [];
  const listeners: { msg: string; fn: (line: LogLine) => void }[] = [];
  let errText = '';
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { msg: `(not JSON) ${line}`, level: 0 };
      }
      logs.push(parsed);
      for (const l of listeners) if (l.msg === parsed.msg) l.fn(parsed);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => (errText += chunk.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve((code = c))));
  return {
    child,
    logs,
    stderr: () => errText,
    exited,
    onLog: (msg, fn) => {
      listeners.push({ msg, fn });
    },
    waitForLog: (msg, timeoutMs = 30_000) =>
      waitFor(`log "${msg}"`, () => {
        const found = logs.find((l) => l.msg === msg);
        if (found) return found;
        if (code !== undefined) throw new StopWaiting(`exited with ${code} before logging "${msg}": ${errText}${logs.map((l) => l.msg).join(' | ')}`);
        return undefined;
      }, timeoutMs),
    stop: async (signal = 'SIGTERM') => {
      if (code === undefined) child.kill(signal);
      return exited;
    },
  };
}

/**
 * The safety net of a test that fails midway: after the file, SIGKILL the node if it still runs,
 * and stop the private redis-server that a killed node leaves behind.
 */
export function killAfterFile(node: NodeUnderTest): void {
  after(async () => {
    if ((await node.stop('SIGKILL')) !== null) return; // it had exited by itself
    const pid = node.logs.find((l) => l.msg === 'private redis-server started')?.redis_pid;
    if (typeof pid !== 'number') return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  });
}

/** GET a metrics port; returns status, content type and body. */
export async function scrape(port: number, accept?: string) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, accept ? { headers: { accept } } : {});
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** The value of one sample in Prometheus text (name plus exact label text, e.g. `x{service="a"}`). */
export function sampleValue(body: string, series: string): number | undefined {
  for (const line of body.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
