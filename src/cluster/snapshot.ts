// A node's metrics, one service at a time, as written to Redis every snapshot interval and read
// back by /api/v2/metrics on any node. Versioned: a reader refuses a format it does not know.
import type { Family } from '../metrics/aggregate.ts';
import { SERVICES, type ServiceName } from '../services/names.ts';
import type { RejectReason } from './reject-reasons.ts';
import type { FamilySource } from '../metrics/exposition.ts';

export const SNAPSHOT_FORMAT = 1;


/** One service's metrics on one node at one time (JSON in Redis). */
export interface Snapshot {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly node: string;
  readonly version: string;
  readonly service: ServiceName;
  /** Unix time in ms when it was taken. */
  readonly at: number;
  /** The writer's snapshot interval: a snapshot older than 3 intervals is expired. */
  readonly interval_ms: number;
  readonly families: readonly Family[];
}

/** A snapshot without its families: who, when, and how often it is written. */
export type SnapshotHead = Omit<Snapshot, 'families'>;

/** The head of a decoded snapshot (only the known fields: a stored snapshot may carry more). */
export function snapshotHead(s: Snapshot): SnapshotHead {
  return { format: s.format, node: s.node, version: s.version, service: s.service, at: s.at, interval_ms: s.interval_ms };
}


const PREFIX = 'overseer:metrics:';
/** Every node seen, with its version and last snapshot time (a hash without TTL: lost nodes stay listed). */
export const NODES_KEY = 'overseer:nodes';
/** Where a node announces each snapshot it writes (the relay thread forwards these to peers). */
export const SNAPSHOT_CHANNEL = 'overseer:metrics:snapshots';

/** The Redis key of one node's snapshot of one service. */
export function snapshotKey(node: string, service: ServiceName): string {
  return `${PREFIX}${service}:${node}`;
}

/** The SCAN pattern matching every snapshot key. */
export const SNAPSHOT_PATTERN = `${PREFIX}*`;

/** How long a snapshot lives in Redis: three intervals. */
export const snapshotTtlMs = (intervalMs: number) => 3 * intervalMs;

/** Takes a snapshot from the same sources the service's port serves. */
export async function takeSnapshot(
  service: ServiceName,
  sources: readonly FamilySource[],
  node: string,
  version: string,
  intervalMs: number,
): Promise<Snapshot> {
  const families = await Promise.all(sources.map((s) => s.collect()));
  return { format: SNAPSHOT_FORMAT, node, version, service, at: Date.now(), interval_ms: intervalMs, families: families.map(encodeValues) };
}

// JSON has no NaN or infinities, which Prometheus values may be (prom-client's event-loop lag gauges
// are NaN until measured): they travel as the strings Prometheus' text format uses.
const SPECIAL: Record<string, number> = { NaN: Number.NaN, '+Inf': Number.POSITIVE_INFINITY, '-Inf': Number.NEGATIVE_INFINITY };
const encodeValue = (v: number): number | string => (Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf');

function encodeValues(f: Family): Family {
  if (f.samples.every((s) => Number.isFinite(s.value))) return f;
  return { ...f, samples: f.samples.map((s) => ({ ...s, value: encodeValue(s.value) as number })) };
}

const isValue = (v: unknown): boolean => typeof v === 'number' || (typeof v === 'string' && v in SPECIAL);

function decodeValues(f: Family): Family {
  if (f.samples.every((s) => typeof s.value === 'number')) return f;
  return { ...f, samples: f.samples.map((s) => ({ ...s, value: typeof s.value === 'number' ? s.value : (SPECIAL[s.value as string] as number) })) };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const TYPES = new Set(['counter', 'gauge', 'histogram']);

function validFamily(f: unknown): boolean {
  if (!isObject(f) || typeof f.name !== 'string' || typeof f.help !== 'string' || !TYPES.has(f.type as string)) return false;
  if (!Array.isArray(f.samples)) return false;
  // Plain loops: every node's snapshots are checked each time they change.
  for (const s of f.samples as unknown[]) {
    if (!isObject(s) || !isValue(s.value) || !isObject(s.labels) || (s.name !== undefined && typeof s.name !== 'string')) return false;
    for (const k in s.labels) {
      const v = s.labels[k];
      if (typeof v !== 'string' && typeof v !== 'number') return false;
    }
  }
  return true;
}

/** Parses and checks the shape of a stored snapshot (not its age: see isExpired). */
export function decodeSnapshot(text: string): { snapshot: Snapshot } | { rejected: 'malformed' | 'format'; detail: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { rejected: 'malformed', detail: 'not JSON' };
  }
  if (!isObject(v)) return { rejected: 'malformed', detail: 'not an object' };
  if (v.format !== SNAPSHOT_FORMAT) return { rejected: 'format', detail: `format ${JSON.stringify(v.format)}, this node reads ${SNAPSHOT_FORMAT}` };
  if (
    typeof v.node !== 'string' ||
    typeof v.version !== 'string' ||
    !SERVICES.includes(v.service as ServiceName) ||
    typeof v.at !== 'number' ||
    typeof v.interval_ms !== 'number' ||
    !Array.isArray(v.families) ||
    !v.families.every(validFamily)
  ) {
    return { rejected: 'malformed', detail: 'fields missing or of the wrong type' };
  }
  const stored = v as unknown as Snapshot;
  return { snapshot: { ...stored, families: stored.families.map(decodeValues) } };
}

// What a writer's JSON.stringify puts first: format, node, version, service.
const HEAD = /^\{"format":\d+,"node":("(?:[^"\\]|\\.)*"),"version":"(?:[^"\\]|\\.)*","service":"([a-z_]+)"/;

/** The key a snapshot text belongs under, read from its first bytes without parsing it all; undefined if they are not a writer's. */
export function keyOfText(text: string): string | undefined {
  const m = HEAD.exec(text.slice(0, 512));
  if (m === null) return undefined;
  try {
    return snapshotKey(JSON.parse(m[1] as string) as string, m[2] as ServiceName);
  } catch {
    return undefined;
  }
}

/** A snapshot older than three of its writer's intervals no longer speaks for its node. */
export function isExpired(snapshot: Pick<SnapshotHead, 'at' | 'interval_ms'>, now: number): boolean {
  return now - snapshot.at > snapshotTtlMs(snapshot.interval_ms);
}

/** Parses and checks a stored snapshot; `now` decides expiry. */
export function parseSnapshot(text: string, now: number): { snapshot: Snapshot } | { rejected: RejectReason; detail: string } {
  const decoded = decodeSnapshot(text);
  if ('snapshot' in decoded && isExpired(decoded.snapshot, now)) {
    return { rejected: 'expired', detail: `taken ${Math.round((now - decoded.snapshot.at) / 1000)} s ago` };
  }
  return decoded;
}
