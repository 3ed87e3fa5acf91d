// The one storage interface; SQLite (embedded default) and PostgreSQL implement it, and one test
// suite runs against both.

/** One job event as stored (AWX's job_events columns). */
export interface EventRow {
  readonly job_id: number;
  readonly uuid: string;
  readonly counter: number;
  readonly event: string;
  /** JSON text of the event_data object. */
  readonly event_data: string;
  readonly stdout: string;
  readonly start_line: number;
  readonly end_line: number;
  /** ISO 8601 UTC, from the producer (naive times are taken as UTC, like AWX). */
  readonly created: string;
  /** ISO 8601 UTC, when the receiver saved it. */
  readonly modified: string;
  readonly host_name: string;
  readonly task: string;
  readonly play: string;
  readonly role: string;
  readonly changed: boolean;
  readonly failed: boolean;
  readonly parent_uuid: string | null;
}

/** A stored event as the API returns it. */
export interface StoredEvent extends Omit<EventRow, 'event_data'> {
  readonly id: number;
  readonly event_data: Record<string, unknown>;
}

/** Per-host outcome of a job, from its playbook_on_stats event. */
export interface HostSummaryRow {
  readonly job_id: number;
  readonly host_name: string;
  readonly ok: number;
  readonly changed: number;
  readonly failures: number;
  readonly dark: number;
  readonly skipped: number;
  readonly rescued: number;
  readonly ignored: number;
  readonly processed: number;
  /** True when the host had failures or was unreachable. */
  readonly failed: boolean;
}

export interface StoredHostSummary extends HostSummaryRow {
  readonly id: number;
}

/** A job's EOF: its stream holds final_counter events. */
export interface StreamEnd {
  readonly job_id: number;
  readonly final_counter: number;
}

/** What one flush writes, in one transaction. */
export interface Batch {
  readonly events: readonly EventRow[];
  readonly hostSummaries: readonly HostSummaryRow[];
  readonly streamEnds: readonly StreamEnd[];
  /** Also return the ids of the events stored now (the live output needs them; costs a RETURNING on PostgreSQL). */
  readonly withIds?: boolean;
}

export interface SaveResult {
  /** Events newly stored. */
  readonly inserted: number;
  /** Events already stored (same job_id and uuid), ignored. */
  readonly duplicates: number;
  /** Asked for with withIds: each event's new id, by its index in the batch; null for one already stored. */
  readonly ids?: readonly (number | null)[];
}

/** The state of one job's event stream. */
export interface StreamState {
  readonly job_id: number;
  readonly stored: number;
  readonly final_counter: number | null;
  readonly completed_at: string | null;
}

export interface Page {
  readonly limit: number;
  readonly offset: number;
}

export const EVENT_ORDERS = ['counter', '-counter', 'id', '-id', 'created', '-created'] as const;
export type EventOrder = (typeof EVENT_ORDERS)[number];

/** What eventLag found. */
export interface EventLag {
  readonly count: number;
  /** One per quantile asked for, in seconds. */
  readonly seconds: readonly number[];
}

/** The nearest-rank offset of quantile q among n sorted values. */
export const rankOffset = (q: number, n: number): number => Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));

/** What one deleteJobEvents did. */
export interface DeletedEvents {
  readonly events: number;
  /** How long it kept other writers out: SQLite's write lock held (not the wait for it), a PostgreSQL statement's time. */
  readonly writeMs: number;
}

/** What deleteJobs removed. */
export interface DeletedJobs {
  readonly jobs: number;
  readonly hostSummaries: number;
  readonly streams: number;
}

/** A value bound to a `?` placeholder (booleans become 0/1 in SQLite). */
export type SqlValue = string | number | boolean | null;

/**
 * Plain SQL for modules that keep their own tables (src/control/), written once for both
 * dialects: `?` placeholders, and only SQL both understand. Each write is its own transaction.
 */
export interface Sql {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** A write; resolves with the rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** A write with RETURNING; resolves with the rows returned. */
  returning<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
}

/** What every storage backend offers the supervisor and the services. */
export interface Storage {
  readonly kind: 'sqlite' | 'postgres';
  readonly sql: Sql;
  /** Where the data lives, for logs (never contains a password). */
  readonly location: string;
  /** Applies pending migrations; returns the versions applied now and the schema version after. */
  migrate(): Promise<{ readonly applied: readonly number[]; readonly version: number }>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  /**
   * Saves events (ignoring ones already stored), host summaries (replacing a host's earlier row
   * for the job) and stream ends, in one transaction; throws and saves nothing if any part fails.
   */
  saveBatch(batch: Batch): Promise<SaveResult>;
  /**
   * Marks complete the streams of these jobs that have their EOF and every event up to it stored.
   * Runs after saveBatch has committed (so that two writers cannot both miss the last piece).
   * Returns the jobs completed now.
   */
  completeStreams(jobIds: readonly number[]): Promise<number[]>;
  listJobEvents(jobId: number, page: Page, order: EventOrder): Promise<{ count: number; results: StoredEvent[] }>;
  listHostSummaries(jobId: number, page: Page): Promise<{ count: number; results: StoredHostSummary[] }>;
  streamState(jobId: number): Promise<StreamState>;
  /** Events stored for this job, read from its count row: the same cost for 10 events or 100,000. */
  countJobEvents(jobId: number): Promise<number>;
  /** Total events stored (all jobs), the sum of the per-job counts. */
  countEvents(): Promise<number>;
  /**
   * How long these jobs' events took from `created` to being saved (`modified`): how many there
   * are, and the lag in seconds at each quantile (0 to 1, nearest rank; empty when count is 0).
   */
  eventLag(jobIds: readonly number[], quantiles: readonly number[]): Promise<EventLag>;
  /**
   * Retention (src/control/retention.ts): deletes at most `limit` events of these jobs, in one
   * short transaction, so that writers wait at most one such batch.
   */
  deleteJobEvents(jobIds: readonly number[], limit: number): Promise<DeletedEvents>;
  /**
   * Retention: deletes these jobs, if finished, with their host summaries and event stream rows,
   * in one transaction (their events go first, with deleteJobEvents).
   */
  deleteJobs(jobIds: readonly number[]): Promise<DeletedJobs>;
  close(): Promise<void>;
}
