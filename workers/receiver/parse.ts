// Turns one queued payload into what the receiver saves: an event row (with host summaries for a
// playbook_on_stats), the end of a job's stream (EOF), or a reason to dead-letter it.
import type { EventRow, HostSummaryRow, StreamEnd } from '../../src/storage/storage.ts';
import type { DeadReason } from '../../src/redis/event-queue.ts';

export type Parsed =
  | { readonly kind: 'event'; readonly row: EventRow; readonly summaries: readonly HostSummaryRow[]; readonly createdMs: number }
  | { readonly kind: 'eof'; readonly end: StreamEnd }
  | { readonly kind: 'dead'; readonly reason: DeadReason; readonly detail: string };

/** AWX truncates these event_data fields to 1024 characters before storing them. */
const MAX_NAME = 1024;
const FAILED_EVENTS = new Set(['runner_on_failed', 'runner_item_on_failed', 'runner_on_unreachable', 'runner_on_async_failed']);
const SUMMARY_FIELDS = ['ok', 'changed', 'failures', 'dark', 'skipped', 'rescued', 'ignored', 'processed'] as const;

const dead = (reason: DeadReason, detail: string): Parsed => ({ kind: 'dead', reason, detail });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Counters and line numbers are 32-bit integer columns in PostgreSQL. */
const INT32_MAX = 2 ** 31 - 1;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= INT32_MAX;

/** Removes NUL characters from every string in a parsed JSON value (PostgreSQL text rejects them). */
export function stripNul<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\0', '') as T;
  if (Array.isArray(value)) return value.map(stripNul) as T;
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[stripNul(k)] = stripNul(v);
    return out as T;
  }
  return value;
}

/** ansible-runner writes local times without a zone; like AWX, a time without one is UTC. */
function parseCreated(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const hasZone = /(Z|[+-]\d\d:?\d\d)$/.test(v);
  const ms = Date.parse(hasZone ? v : `${v}Z`);
  return Number.isFinite(ms) ? ms : undefined;
}

const text = (v: unknown, max = Infinity): string => (typeof v === 'string' ? (v.length > max ? v.slice(0, max) : v) : '');

function hostSummaries(jobId: number, data: Record<string, unknown>): HostSummaryRow[] {
  const hosts = new Set<string>();
  for (const f of SUMMARY_FIELDS) if (isObject(data[f])) for (const h of Object.keys(data[f])) hosts.add(h);
  return [...hosts].map((host) => {
    const n = (f: (typeof SUMMARY_FIELDS)[number]) => {
      const v = isObject(data[f]) ? data[f][host] : undefined;
      return isCount(v) ? v : 0;
    };
    return {
      job_id: jobId,
      host_name: host,
      ok: n('ok'),
      changed: n('changed'),
      failures: n('failures'),
      dark: n('dark'),
      skipped: n('skipped'),
      rescued: n('rescued'),
      ignored: n('ignored'),
      processed: n('processed'),
      failed: n('failures') > 0 || n('dark') > 0,
    };
  });
}

/** Parses one payload from the queue; `now` is the save time written as `modified`. */
export function parseEvent(raw: string, maxBytes: number, now: string): Parsed {
  // A UTF-16 unit is 1 to 3 UTF-8 bytes: count the bytes only when the length cannot decide.
  if (raw.length * 3 > maxBytes && Buffer.byteLength(raw) > maxBytes) {
    return dead('oversized', `${Buffer.byteLength(raw)} bytes, the limit is ${maxBytes}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    return dead('invalid_json', (err as Error).message);
  }
  if (!isObject(value)) return dead('invalid_event', `expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  // NUL is rare: only walk the event when the payload has one.
  const e = raw.includes('\\u0000') ? stripNul(value) : value;
  const jobId = e.job_id;
  if (typeof jobId !== 'number' || !Number.isSafeInteger(jobId) || jobId <= 0) {
    return dead('invalid_event', `job_id must be a positive integer, got ${JSON.stringify(jobId) ?? 'nothing'}`);
  }
  if (e.event === 'EOF') {
    return isCount(e.final_counter)
      ? { kind: 'eof', end: { job_id: jobId, final_counter: e.final_counter } }
      : dead('invalid_event', `EOF needs final_counter, a whole number, got ${JSON.stringify(e.final_counter) ?? 'nothing'}`);
  }
  if (typeof e.uuid !== 'string' || e.uuid === '') return dead('missing_uuid', 'the event has no uuid');
  if (!isCount(e.counter)) {
    return dead('invalid_event', `counter must be a whole number below 2^31, got ${JSON.stringify(e.counter) ?? 'nothing'}`);
  }
  if (typeof e.event !== 'string' || e.event === '') return dead('invalid_event', 'the event has no event type');
  const data = isObject(e.event_data) ? e.event_data : {};
  const createdMs = parseCreated(e.created) ?? Date.parse(now);
  const res = isObject(data.res) ? data.res : undefined;
  const row: EventRow = {
    job_id: jobId,
    uuid: e.uuid,
    counter: e.counter,
    event: e.event,
    event_data: JSON.stringify(data),
    stdout: text(e.stdout),
    start_line: isCount(e.start_line) ? e.start_line : 0,
    end_line: isCount(e.end_line) ? e.end_line : 0,
    created: new Date(createdMs).toISOString(),
    modified: now,
    host_name: text(e.host_name) || text(data.host).trim(),
    task: text(data.task, MAX_NAME),
    play: text(data.play, MAX_NAME),
    role: text(data.role, MAX_NAME),
    changed: res?.changed === true,
    failed: FAILED_EVENTS.has(e.event) && data.ignore_errors !== true,
    parent_uuid: typeof e.parent_uuid === 'string' ? e.parent_uuid : typeof data.parent_uuid === 'string' ? data.parent_uuid : null,
  };
  const summaries = e.event === 'playbook_on_stats' ? hostSummaries(jobId, data) : [];
  return { kind: 'event', row, summaries, createdMs };
}
