import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const FIXTURE = new URL('../../../shared/fixtures/ansible-runner-site-yml.jsonl', import.meta.url);

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
