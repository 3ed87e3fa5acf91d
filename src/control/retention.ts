// Retention (AWX's cleanup_jobs): deletes finished jobs that finished before a cutoff, with their
// events, host summaries, event stream rows and private data dirs. Events go in small batches, one
// short transaction each, with a pause after each, so that the callback receivers' writes (which
// take turns with these on SQLite) keep flowing. Kept whatever their age: jobs of a workflow that
// has not finished (its manager reads their states), project updates a job still waits for, and
// each project's latest successful update (without it the next launch would update the project
// again). The daily dispatcher task and `npm run cleanup` both run cleanupJobs, then
// removeOrphanDirs.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { SqlValue, Storage } from '../storage/storage.ts';
import { ACTIVE_STATUSES, FINISHED_STATUSES } from './model.ts';

/** What a cleanup deletes (or, in a dry run, would delete). */
export interface CleanupCounts {
  readonly jobs: number;
  readonly events: number;
  readonly hostSummaries: number;
  /** Private data dirs (<data_dir>/jobs/<id>) removed from this node. */
  readonly dirs: number;
}

/** Told after each batch: what it deleted and the totals so far. */
export interface CleanupProgress {
  readonly batch: CleanupCounts;
  readonly total: CleanupCounts;
  readonly batches: number;
}

/** What to clean up, and how gently. */
export interface CleanupOptions {
  /** Jobs that finished more than this many days ago go; 0 keeps everything. */
  readonly days: number;
  /** The node's data_dir, where private data dirs live. */
  readonly dataDir: string;
  /** Counts what would go, deleting nothing. */
  readonly dryRun?: boolean;
  /** Unix ms the cutoff is counted back from (now by default). */
  readonly now?: number;
  /** Events per delete statement (and transaction). */
  readonly eventsPerBatch?: number;
  /** Jobs looked at, and their rows deleted, per step. */
  readonly jobsPerBatch?: number;
  /**
   * After each batch, waits this many times as long as it kept other writers out (on SQLite, the
   * write lock held, not the wait for it): with 1, writers have the database at least half the time.
   */
  readonly pauseRatio?: number;
  readonly onProgress?: (progress: CleanupProgress) => void;
  /** Stops between batches (the node is stopping); what was deleted stays deleted. */
  readonly signal?: AbortSignal;
}

/** What a run deleted (or, dry, would delete), and what it kept. */
export interface CleanupReport extends CleanupCounts {
  /** ISO time: jobs that finished before it were candidates. */
  readonly cutoff: string;
  readonly dryRun: boolean;
  readonly batches: number;
  /** Old finished jobs kept because something unfinished refers to them, or their dir could not be removed. */
  readonly kept: number;
  /** Why jobs were kept when it was a failure (a dir that would not go), at most 10. */
  readonly problems: readonly string[];
  readonly seconds: number;
  /** Stopped by the signal before the end. */
  readonly stopped: boolean;
}

const DEFAULTS = { eventsPerBatch: 2000, jobsPerBatch: 200, pauseRatio: 1 } as const;
const DAY_MS = 86_400_000;
const MAX_PROBLEMS = 10;
const ZERO: CleanupCounts = { jobs: 0, events: 0, hostSummaries: 0, dirs: 0 };

const list = (values: readonly unknown[]) => values.map(() => '?').join(', ');
const add = (a: CleanupCounts, b: CleanupCounts): CleanupCounts => ({
  jobs: a.jobs + b.jobs,
  events: a.events + b.events,
  hostSummaries: a.hostSummaries + b.hostSummaries,
  dirs: a.dirs + b.dirs,
});

/** The cutoff for `days` days of retention, counted back from now. */
export function retentionCutoff(days: number, now = Date.now()): string {
  return new Date(now - days * DAY_MS).toISOString();
}

/**
 * Ids that must stay however old they are. Read once per run: a job that starts later never
 * refers to an old finished job (a workflow spawns new jobs, a dependency is a new or running update).
 */
async function protectedIds(storage: Storage): Promise<Set<number>> {
  const active = list(ACTIVE_STATUSES);
  const rows = await Promise.all([
    storage.sql.all<{ id: number }>(`SELECT id FROM jobs WHERE workflow_job_id IN (SELECT id FROM jobs WHERE status IN (${active}))`, ACTIVE_STATUSES),
    storage.sql.all<{ id: number }>(`SELECT dependency_id AS id FROM jobs WHERE status IN (${active}) AND dependency_id IS NOT NULL`, ACTIVE_STATUSES),
    storage.sql.all<{ id: number }>("SELECT max(id) AS id FROM jobs WHERE type = 'project_update' AND status = 'successful' GROUP BY project_id"),
  ]);
  return new Set(rows.flat().map((r) => Number(r.id)));
}

/** Up to `limit` finished jobs with ids above `after` that finished before the cutoff. */
async function expiredAfter(storage: Storage, cutoff: string, after: number, limit: number): Promise<number[]> {
  // A finished job always has `finished`; modified stands in should one not.
  const rows = await storage.sql.all<{ id: number }>(
    `SELECT id FROM jobs WHERE status IN (${list(FINISHED_STATUSES)}) AND COALESCE(finished, modified) < ? AND id > ? ORDER BY id LIMIT ?`,
    [...FINISHED_STATUSES, cutoff, after, limit] as SqlValue[],
  );
  return rows.map((r) => Number(r.id));
}

/** Rows of these jobs in table; events from the per-job counts, without reading them. */
async function countOf(storage: Storage, table: 'job_events' | 'job_host_summaries', ids: readonly number[]): Promise<number> {
  const sql = table === 'job_events'
    ? `SELECT coalesce(sum(events), 0) AS n FROM job_event_counts WHERE job_id IN (${list(ids)})`
    : `SELECT count(*) AS n FROM ${table} WHERE job_id IN (${list(ids)})`;
  const row = await storage.sql.get<{ n: number | string }>(sql, ids);
  return Number(row?.n ?? 0);
}

/** Deletes (or counts, in a dry run) finished jobs older than `days` days, with everything that is theirs. */
export async function cleanupJobs(storage: Storage, options: CleanupOptions): Promise<CleanupReport> {
  const o = { ...DEFAULTS, ...options };
  const began = performance.now();
  const cutoff = retentionCutoff(o.days, o.now);
  const dryRun = o.dryRun === true;
  let total = ZERO;
  let batches = 0;
  let kept = 0;
  const problems: string[] = [];
  const report = (stopped: boolean): CleanupReport => ({ ...total, cutoff, dryRun, batches, kept, problems, seconds: (performance.now() - began) / 1000, stopped });
  if (o.days <= 0) return report(false);

  const progress = (batch: Partial<CleanupCounts>) => {
    const b = { ...ZERO, ...batch };
    total = add(total, b);
    batches += 1;
    o.onProgress?.({ batch: b, total, batches });
  };
  /** Waits after a write in proportion to how long it kept writers out; true when the run should stop. */
  const rest = async (writeMs: number) => {
    if (o.pauseRatio > 0) await delay(Math.max(1, writeMs * o.pauseRatio));
    return o.signal?.aborted === true;
  };

  const keep = await protectedIds(storage);
  const jobsDir = join(o.dataDir, 'jobs');
  for (let after = 0; ; ) {
    if (o.signal?.aborted) return report(true);
    const candidates = await expiredAfter(storage, cutoff, after, o.jobsPerBatch);
    if (candidates.length === 0) break;
    after = candidates.at(-1) as number;
    const ids = candidates.filter((id) => !keep.has(id));
    kept += candidates.length - ids.length;
    if (ids.length === 0) continue;
    const dirs = ids.filter((id) => existsSync(join(jobsDir, String(id))));

    if (dryRun) {
      const [events, hostSummaries] = await Promise.all([countOf(storage, 'job_events', ids), countOf(storage, 'job_host_summaries', ids)]);
      progress({ jobs: ids.length, events, hostSummaries, dirs: dirs.length });
      continue;
    }

    // Events first, then the dir, then the rows: a run stopped half-way leaves jobs that the next run finds again.
    for (;;) {
      const { events, writeMs } = await storage.deleteJobEvents(ids, o.eventsPerBatch);
      if (events > 0) progress({ events });
      if (await rest(writeMs)) return report(true);
      if (events < o.eventsPerBatch) break;
    }
    const stuck = new Set<number>();
    for (const id of dirs) {
      try {
        rmSync(join(jobsDir, String(id)), { recursive: true, force: true });
      } catch (err) {
        // Its rows stay, so that a later run tries again rather than leave a dir nobody knows of.
        stuck.add(id);
        if (problems.length < MAX_PROBLEMS) problems.push(`job ${id}: cannot remove ${join(jobsDir, String(id))}: ${(err as Error).message}`);
      }
    }
    kept += stuck.size;
    const t = performance.now();
    const deleted = await storage.deleteJobs(ids.filter((id) => !stuck.has(id)));
    progress({ jobs: deleted.jobs, hostSummaries: deleted.hostSummaries, dirs: dirs.length - stuck.size });
    if (await rest(performance.now() - t)) return report(true);
  }
  return report(false);
}

/**
 * Removes the private data dirs on this node whose job no longer exists: in a cluster on one
 * database, another node's cleanup deleted the job. Returns how many it removed (or would remove).
 */
export async function removeOrphanDirs(storage: Storage, dataDir: string, dryRun = false): Promise<number> {
  const jobsDir = join(dataDir, 'jobs');
  let names: string[];
  try {
    names = readdirSync(jobsDir).filter((n) => /^[1-9]\d*$/.test(n));
  } catch {
    return 0; // no jobs ran on this node
  }
  let removed = 0;
  for (let i = 0; i < names.length; i += 500) {
    const ids = names.slice(i, i + 500).map(Number);
    const rows = await storage.sql.all<{ id: number }>(`SELECT id FROM jobs WHERE id IN (${list(ids)})`, ids);
    const known = new Set(rows.map((r) => Number(r.id)));
    for (const id of ids.filter((id) => !known.has(id))) {
      if (dryRun) {
        removed += 1;
        continue;
      }
      try {
        rmSync(join(jobsDir, String(id)), { recursive: true, force: true });
        removed += 1;
      } catch {
        // tried again at the next run
      }
    }
  }
  return removed;
}
