// Sequential keep-alive scrapes from this process, timed with performance.now(), and the small
// helpers every benchmark file shares (waiting for a condition, percentiles, formatting).
import { setTimeout as delay } from 'node:timers/promises';
import { Client } from 'undici';

/** Polls check until it returns something other than undefined/false; throws after timeoutMs naming what it waited for. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
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

/** The value of an unlabelled sample in Prometheus text, or undefined. */
export function sampleValue(body: string, name: string): number | undefined {
  const at = body.startsWith(`${name} `) ? 0 : body.indexOf(`\n${name} `);
  if (at < 0) return undefined;
  const from = at === 0 ? name.length + 1 : at + name.length + 2;
  const end = body.indexOf('\n', from);
  return Number(body.slice(from, end < 0 ? undefined : end));
}

/** What a valid response looks like. */
export interface Expect {
  readonly families: number;
  readonly names: readonly string[];
  /** A counter and the value it must have (every thread reported). */
  readonly counter?: { readonly name: string; readonly value: number };
}

/** Why a scrape response is not what every design must serve, or undefined when it is. */
export function problemWith(status: number, body: string, expect: Expect): string | undefined {
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
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/**
 * Scrapes http://127.0.0.1:port/metrics sequentially over one keep-alive connection: plan.warmup
 * requests (or warmupMaxMs), then plan.count timed requests (or maxMs). Every response is checked
 * (outside the timed span); the first bad one throws.
 */
export async function measureScrapes(port: number, plan: Plan, expect: Expect): Promise<Timings> {
  const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000, keepAliveTimeout: 60_000 });
  const one = async (): Promise<number> => {
    const t0 = performance.now();
    const res = await client.request({ path: '/metrics', method: 'GET' });
    const body = await res.body.text();
    const ms = performance.now() - t0;
    const problem = problemWith(res.statusCode, body, expect);
    if (problem !== undefined) throw new Error(`bad scrape response on port ${port}: ${problem}`);
    return ms;
  };
  try {
    const warmEnd = performance.now() + plan.warmupMaxMs;
    for (let i = 0; i < plan.warmup && performance.now() < warmEnd; i++) await one();
    const ms: number[] = [];
    const end = performance.now() + plan.maxMs;
    let cut = false;
    while (ms.length < plan.count) {
      if (performance.now() >= end) {
        cut = true;
        break;
      }
      ms.push(await one());
    }
    ms.sort((a, b) => a - b);
    return { ms, p50: percentile(ms, 50), p99: percentile(ms, 99), cut };
  } finally {
    await client.close().catch(() => client.destroy());
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
