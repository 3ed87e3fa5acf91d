// What `npm run load` pushes and how fast: a real ansible-runner run (293 events of a 3-host
// site.yml, copied from the test fixture so that src never reads test/) replayed as many times as
// each job needs, with fresh uuids and counters, the jobs interleaved as concurrent runs would be.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

const FIXTURE = new URL('./ansible-runner-site-yml.jsonl', import.meta.url);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** The fixture's lines, as text (uuids are rewritten in the text, so nested ones stay linked). */
function fixtureLines(): { lines: string[]; lastLine: number } {
  const lines = readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const last = JSON.parse(lines.at(-1) as string) as { end_line?: number };
  return { lines, lastLine: last.end_line ?? 0 };
}

/** How many events each of `jobs` jobs gets so that they add up to `events` (the first ones get the remainder). */
export function eventsPerJob(events: number, jobs: number): number[] {
  return Array.from({ length: jobs }, (_, i) => Math.floor(events / jobs) + (i < events % jobs ? 1 : 0));
}

/** One payload for the queue, and whether it is an event (an EOF is not counted as one). */
export interface Payload {
  readonly text: string;
  readonly event: boolean;
}

/**
 * The payloads of these jobs, round robin: job i gets counts[i] events numbered 1..counts[i], each
 * replay of the fixture with new uuids (parents and nested references follow), `created` the time
 * it is made, then AWX's EOF `{job_id, event: 'EOF', final_counter}` right after its last event.
 */
export function* loadPayloads(jobIds: readonly number[], counts: readonly number[], now: () => string = () => new Date().toISOString()): Generator<Payload> {
  const { lines, lastLine } = fixtureLines();
  const jobs = jobIds.map((id, i) => ({ id, total: counts[i] ?? 0, next: 0, uuids: new Map<string, string>() }));
  let live = jobs.filter((j) => j.total > 0);
  while (live.length > 0) {
    for (const job of live) {
      const i = job.next % lines.length;
      const replay = Math.floor(job.next / lines.length);
      if (i === 0) job.uuids = new Map();
      const text = (lines[i] as string).replace(UUID, (u) => {
        let fresh = job.uuids.get(u);
        if (fresh === undefined) job.uuids.set(u, (fresh = randomUUID()));
        return fresh;
      });
      const e = JSON.parse(text) as Record<string, unknown>;
      job.next += 1;
      e.job_id = job.id;
      e.counter = job.next;
      e.created = now();
      // Later replays continue the stdout where the previous one ended.
      if (typeof e.start_line === 'number') e.start_line += replay * lastLine;
      if (typeof e.end_line === 'number') e.end_line += replay * lastLine;
      yield { text: JSON.stringify(e), event: true };
      if (job.next === job.total) yield { text: JSON.stringify({ job_id: job.id, event: 'EOF', final_counter: job.total }), event: false };
    }
    live = live.filter((j) => j.next < j.total);
  }
}

/** A token bucket of `rate` tokens a second (0: no limit), holding at most a twentieth of a second's worth. */
export function tokenBucket(rate: number, clock: () => number = () => performance.now()): { take(max: number, signal?: AbortSignal): Promise<number> } {
  const burst = Math.max(1, rate / 20);
  let tokens = burst;
  let at = clock();
  return {
    async take(max, signal) {
      if (rate === 0) return max;
      for (;;) {
        const now = clock();
        tokens = Math.min(burst, tokens + ((now - at) / 1000) * rate);
        at = now;
        if (tokens >= 1) {
          const n = Math.min(max, Math.floor(tokens));
          tokens -= n;
          return n;
        }
        await delay(Math.max(1, ((1 - tokens) / rate) * 1000), undefined, signal ? { signal } : {});
      }
    },
  };
}
