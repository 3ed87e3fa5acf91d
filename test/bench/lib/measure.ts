// Sequential keep-alive scrapes from this process (lean-client.ts: one socket, next to no garbage
// of its own), timed with performance.now(), and the small helpers every benchmark file shares
// (waiting for a condition, a node:http keep-alive client, percentiles, formatting). Not undici:
// measured here, its client added ~0.1 ms at p50 and ~1 ms at p99 of its own to every in-process scrape.
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, get as httpGet } from 'node:http';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { countAllocation } from './alloc.ts';
import { LeanClient } from './lean-client.ts';

/**
 * Polls check until it returns something other than undefined/false; throws after timeoutMs naming
 * what it waited for. An error thrown by check ends the wait at once (a process that exited will
 * not become ready).
 */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(pause);
  }
}

/** Races a promise against a deadline. */
export async function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A response body: text, or the bytes as received (checked without decoding them). */
type Body = string | Buffer;

/** The value of an unlabelled sample in Prometheus text, or undefined. */
export function sampleValue(body: Body, name: string): number | undefined {
  const at = body.indexOf(`${name} `) === 0 ? 0 : body.indexOf(`\n${name} `);
  if (at < 0) return undefined;
  const from = at === 0 ? name.length + 1 : at + name.length + 2;
  const end = body.indexOf('\n', from);
  const to = end < 0 ? body.length : end;
  return Number(typeof body === 'string' ? body.slice(from, to) : body.toString('latin1', from, to));
}

/** What a valid response looks like. */
export interface Expect {
  readonly families: number;
  readonly names: readonly string[];
  /** A counter and the value it must have (every thread reported). */
  readonly counter?: { readonly name: string; readonly value: number };
}

/** Why a scrape response is not what every design must serve, or undefined when it is. */
export function problemWith(status: number, body: Body, expect: Expect): string | undefined {
  if (status !== 200) return `status ${status}`;
  let families = 0;
  for (let at = body.indexOf('# TYPE '); at >= 0; at = body.indexOf('# TYPE ', at + 7)) families++;
  if (families !== expect.families) return `${families} families, expected ${expect.families}`;
  for (const name of expect.names) if (!body.includes(`\n${name}`)) return `no ${name}`;
  if (expect.counter) {
    const v = sampleValue(body, expect.counter.name);
    if (v !== expect.counter.value) return `${expect.counter.name} is ${v}, expected ${expect.counter.value}`;
  }
  return undefined;
}

export interface Plan {
  readonly warmup: number;
  readonly warmupMaxMs: number;
  readonly count: number;
  readonly maxMs: number;
}

export interface Timings {
  /** Latencies in ms, sorted ascending. */
  readonly ms: number[];
  readonly p50: number;
  readonly p99: number;
  /** True when the time bound, not the count, ended the timed requests. */
  readonly cut: boolean;
  /** GC pauses of this (the scraping and, for ours, the serving) process during the timed requests. */
  readonly gc: { readonly count: number; readonly maxMs: number; readonly totalMs: number };
  /** Bytes this process's heap allocated per timed request (the client's share included). */
  readonly allocated: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/**
 * A keep-alive HTTP/1.1 client with one connection; get() resolves with status and body as text,
 * getBytes() with the body as received: one Buffer, no string, so that the client's own garbage
 * (it runs in the process it measures) stays small.
 */
export function keepAliveClient(port: number, timeoutMs = 10_000) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let fresh = 0;
  const getBytes = (path: string) =>
    new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = httpGet({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          length += chunk.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length) }));
        res.on('error', reject);
      });
      if (!req.reusedSocket) fresh++;
      req.on('timeout', () => req.destroy(new Error(`GET ${path} on port ${port}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
    });
  const get = async (path: string) => {
    const { status, body } = await getBytes(path);
    return { status, body: body.toString() };
  };
  return {
    get,
    getBytes,
    /** Requests that opened a connection rather than reusing the kept-alive one. */
    get connections() {
      return fresh;
    },
    close: () => agent.destroy(),
  };
}

/**
 * Scrapes http://127.0.0.1:port/metrics sequentially over one keep-alive connection (LeanClient):
 * plan.warmup requests (or warmupMaxMs), then plan.count timed requests (or maxMs). Every response
 * is checked (outside the timed span); the first bad one throws, and so does a closed connection.
 */
export async function measureScrapes(port: number, plan: Plan, expect: Expect): Promise<Timings> {
  const client = await LeanClient.connect(port);
  const request = LeanClient.request('/metrics');
  const one = async (): Promise<number> => {
    const t0 = performance.now();
    const { status, body } = await client.get(request);
    const ms = performance.now() - t0;
    const problem = problemWith(status, body, expect);
    if (problem !== undefined) throw new Error(`bad scrape response on port ${port}: ${problem}`);
    return ms;
  };
  try {
    const warmEnd = performance.now() + plan.warmupMaxMs;
    for (let i = 0; i < plan.warmup && performance.now() < warmEnd; i++) await one();
    const ms: number[] = [];
    const gcs: PerformanceEntry[] = [];
    const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
    observer.observe({ entryTypes: ['gc'] });
    const counting = countAllocation();
    let allocated = 0;
    const start = performance.now();
    const end = start + plan.maxMs;
    let cut = false;
    try {
      while (ms.length < plan.count) {
        if (performance.now() >= end) {
          cut = true;
          break;
        }
        ms.push(await one());
      }
    } finally {
      allocated = counting.stop().bytes / Math.max(1, ms.length);
      gcs.push(...observer.takeRecords());
      observer.disconnect();
    }
    const stop = performance.now();
    const pauses = gcs.filter((e) => e.startTime >= start && e.startTime <= stop).map((e) => e.duration);
    const gc = { count: pauses.length, maxMs: Math.max(0, ...pauses), totalMs: pauses.reduce((a, b) => a + b, 0) };
    ms.sort((a, b) => a - b);
    return { ms, p50: percentile(ms, 50), p99: percentile(ms, 99), cut, gc, allocated };
  } finally {
    client.close();
  }
}

/** 0.4567 → "0.46ms", 12.3 → "12.3ms". */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)}ms`;
}

/** 12.34 → "×12", 1.5 → "×1.5". */
export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '×—';
  return `×${r < 10 ? r.toFixed(1) : r.toFixed(0)}`;
}

/** kB → "123.4 MB". */
export function fmtKb(kb: number): string {
  return `${(kb / 1024).toFixed(1)} MB`;
}

/** Share of all CPUs busy over ms, from /proc/stat (undefined where there is no /proc). */
export async function cpuBusy(ms: number): Promise<number | undefined> {
  const read = () => {
    try {
      const fields = (/^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '').split(/\s+/).map(Number);
      const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
      return { idle, total: fields.reduce((a, b) => a + b, 0) };
    } catch {
      return undefined;
    }
  };
  const a = read();
  await delay(ms);
  const b = read();
  if (!a || !b || b.total === a.total) return undefined;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}
