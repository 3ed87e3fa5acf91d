import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { parseEvent } from '../../workers/receiver/parse.ts';
import type { EventRow, HostSummaryRow } from '../../src/storage/storage.ts';

// 293 events of a real ansible-runner run of a 3-host site.yml (a copy of the shared fixture).
const FIXTURE = new URL('../fixtures/ansible-runner-site-yml.jsonl', import.meta.url);

/** The 293 real ansible-runner events of the shared fixture, each with job_id added. */
export function fixtureEvents(jobId: number): Record<string, unknown>[] {
  return readFileSync(FIXTURE, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => ({ ...(JSON.parse(l) as Record<string, unknown>), job_id: jobId }));
}

/** n events shaped like the fixture's (about 1 KB each), fresh uuids, counters 1..n. */
export function syntheticEvents(jobId: number, n: number): string[] {
  const base = fixtureEvents(jobId);
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({ ...base[i % base.length], uuid: randomUUID(), counter: i + 1, created: new Date().toISOString() }),
  );
}

/** RPUSHes payloads (objects are JSON-encoded) in pipelined chunks, as producers do. */
export async function pushEvents(redis: Redis, queue: string, events: readonly (string | object)[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    const chunk = events.slice(i, i + 1000).map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
    await redis.rpush(queue, ...chunk);
  }
}

/** The fixture's events as the receiver stores them for this job (through its own parser), and its host summaries. */
export function fixtureRows(jobId: number, modified = new Date().toISOString()): { rows: EventRow[]; summaries: HostSummaryRow[] } {
  const rows: EventRow[] = [];
  const summaries: HostSummaryRow[] = [];
  for (const e of fixtureEvents(jobId)) {
    const p = parseEvent(JSON.stringify(e), Infinity, modified);
    if (p.kind !== 'event') throw new Error(`fixture event ${String(e.counter)} does not parse: ${JSON.stringify(p)}`);
    rows.push(p.row);
    summaries.push(...p.summaries);
  }
  return { rows, summaries };
}
