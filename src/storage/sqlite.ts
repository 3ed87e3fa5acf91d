import { chmodSync, existsSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { MIGRATIONS, type Migration } from './migrations.ts';
import type {
  Batch,
  DeletedEvents,
  DeletedJobs,
  EventLag,
  EventOrder,
  Page,
  SaveResult,
  Sql,
  SqlValue,
  Storage,
  StoredEvent,
  StoredHostSummary,
  StreamState,
} from './storage.ts';
import { rankOffset } from './storage.ts';
import type { WriteLock } from './write-lock.ts';
import { EVENT_COLUMNS, FINISHED_SQL, ORDER_SQL } from './sql.ts';
import { OverseerError } from '../errors.ts';


/** A list of ids bound as one JSON array parameter. */
const JSON_IDS = '(SELECT value FROM json_each(?))';

const noLock: WriteLock = { acquire: () => {}, release: () => {} };
/** With a shared write lock, each connection checkpoints the WAL itself after this many commits, outside the lock. */
const CHECKPOINT_EVERY = 4;

type Row = Record<string, unknown>;

/** node:sqlite binds no booleans: SQLite keeps them as 0 and 1. */
const bindable = (v: SqlValue): string | number | null => (typeof v === 'boolean' ? Number(v) : v);

/**
 * SQLite through node:sqlite, in WAL mode: the embedded default for one node. Several threads of
 * one process may each open one; they pass `writeLock` so that writers take turns instead of
 * sleeping in SQLite's busy handler.
 */
export class SqliteStorage implements Storage {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #migrations: readonly Migration[];
  readonly #lock: WriteLock;
  readonly #stmts = new Map<string, StatementSync>();
  readonly #locked: boolean;
  #commits = 0;
  #closed = false;
  readonly sql: Sql = {
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => this.#stmt(sql).all(...params.map(bindable)) as T[],
    get: async <T>(sql: string, params: readonly SqlValue[] = []) => this.#stmt(sql).get(...params.map(bindable)) as T | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => this.#write(() => Number(this.#stmt(sql).run(...params.map(bindable)).changes)),
    returning: async <T>(sql: string, params: readonly SqlValue[] = []) => this.#write(() => this.#stmt(sql).all(...params.map(bindable)) as T[]),
  };

  constructor(file: string, options: { migrations?: readonly Migration[]; writeLock?: WriteLock } = {}) {
    this.location = file;
    this.#migrations = options.migrations ?? MIGRATIONS;
    this.#lock = options.writeLock ?? noLock;
    this.#locked = options.writeLock !== undefined;
    this.#db = new DatabaseSync(file);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;');
    // The database holds inventories and extra vars (passwords): the node's alone.
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (file !== ':memory:' && existsSync(f)) chmodSync(f, 0o600);
    // SQLite checkpoints the WAL inside COMMIT; under the shared lock that would make every other
    // writer wait for it. Writers sharing the lock checkpoint after releasing it instead.
    if (this.#locked) this.#db.exec('PRAGMA wal_autocheckpoint = 0');
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (s === undefined) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  /** Runs fn in one IMMEDIATE transaction, holding the process-wide write lock. */
  #write<T>(fn: () => T): T {
    let result: T;
    this.#lock.acquire();
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        result = fn();
        this.#db.exec('COMMIT');
      } catch (err) {
        this.#db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      this.#lock.release();
    }
    // PASSIVE never blocks writers; one that cannot finish now is finished by a later one.
    if (this.#locked && ++this.#commits % CHECKPOINT_EVERY === 0) this.#db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    return result;
  }

  async migrate(): Promise<{ applied: number[]; version: number }> {
    const current = this.#currentVersion();
    const known = this.#migrations.at(-1)?.version ?? 0;
    if (current > known) {
      throw new OverseerError(
        'OVERSEER_MIGRATION',
        `${this.location} is at schema version ${current}, newer than this overseer knows (${known}); run a newer overseer or another data_dir`,
      );
    }
    const applied: number[] = [];
    for (const m of this.#migrations.filter((m) => m.version > current)) {
      let ran = false;
      try {
        ran = this.#write(() => {
          // Another thread or process may have applied it since we looked.
          if (this.#currentVersion() >= m.version) return false;
          for (const statement of m.sqlite) this.#db.exec(statement);
          this.#stmt('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
            m.version,
            m.name,
            new Date().toISOString(),
          );
          return true;
        });
      } catch (err) {
        throw new OverseerError('OVERSEER_MIGRATION', `migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
      if (ran) applied.push(m.version);
    }
    return { applied, version: Math.max(current, ...applied) };
  }

  #currentVersion(): number {
    return (this.#stmt('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  }

  async ping(): Promise<void> {
    this.#stmt('SELECT 1').get();
  }

  async saveBatch(batch: Batch): Promise<SaveResult> {
    return this.#write(() => {
      const insert = this.#stmt(
        `INSERT INTO job_events (${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, uuid) DO NOTHING`,
      );
      let inserted = 0;
      const counted = new Map<number, number>(); // events stored now, by job
      const ids: (number | null)[] = [];
      for (const e of batch.events) {
        const r = insert.run(e.job_id, e.uuid, e.counter, e.event, e.event_data, e.stdout, e.start_line, e.end_line, e.created, e.modified, e.host_name, e.task, e.play, e.role, e.changed ? 1 : 0, e.failed ? 1 : 0, e.parent_uuid);
        const added = Number(r.changes);
        inserted += added;
        if (added > 0) counted.set(e.job_id, (counted.get(e.job_id) ?? 0) + 1);
        if (batch.withIds) ids.push(added > 0 ? Number(r.lastInsertRowid) : null);
      }
      const summary = this.#stmt(
        `INSERT INTO job_host_summaries (job_id, host_name, ok, changed, failures, dark, skipped, rescued, ignored, processed, failed)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (job_id, host_name) DO UPDATE SET ok = excluded.ok, changed = excluded.changed, failures = excluded.failures,
           dark = excluded.dark, skipped = excluded.skipped, rescued = excluded.rescued, ignored = excluded.ignored,
           processed = excluded.processed, failed = excluded.failed`,
      );
      for (const h of batch.hostSummaries) {
        summary.run(h.job_id, h.host_name, h.ok, h.changed, h.failures, h.dark, h.skipped, h.rescued, h.ignored, h.processed, h.failed ? 1 : 0);
      }
      const end = this.#stmt(
        'INSERT INTO job_event_streams (job_id, final_counter) VALUES (?, ?) ON CONFLICT (job_id) DO UPDATE SET final_counter = excluded.final_counter',
      );
      for (const s of batch.streamEnds) end.run(s.job_id, s.final_counter);
      this.#addToCounts(counted);
      return { inserted, duplicates: batch.events.length - inserted, ...(batch.withIds ? { ids } : {}) };
    });
  }

  /** Adds the events stored now, by job, to job_event_counts, inside the caller's write. */
  #addToCounts(changes: ReadonlyMap<number, number>): void {
    const add = this.#stmt(
      'INSERT INTO job_event_counts (job_id, events) VALUES (?, ?) ON CONFLICT (job_id) DO UPDATE SET events = events + excluded.events',
    );
    for (const [jobId, n] of changes) add.run(jobId, n);
  }

  async completeStreams(jobIds: readonly number[]): Promise<number[]> {
    if (jobIds.length === 0) return [];
    // Most flushes end no stream: find out without taking the write lock.
    const open = this.#stmt(
      'SELECT job_id FROM job_event_streams WHERE completed_at IS NULL AND job_id IN (SELECT value FROM json_each(?))',
    ).all(JSON.stringify(jobIds)) as { job_id: number }[];
    if (open.length === 0) return [];
    const candidates = open.map((r) => r.job_id);
    // Fewer events stored than final_counter: not complete, known from the count without reading the events.
    const complete = this.#stmt(
      `UPDATE job_event_streams SET completed_at = ?
       WHERE job_id = ? AND completed_at IS NULL
         AND CASE WHEN (SELECT coalesce(sum(events), 0) FROM job_event_counts c WHERE c.job_id = job_event_streams.job_id) < final_counter THEN false
           ELSE final_counter <= (SELECT count(DISTINCT counter) FROM job_events
             WHERE job_events.job_id = job_event_streams.job_id AND counter BETWEEN 1 AND job_event_streams.final_counter) END`,
    );
    return this.#write(() => {
      const now = new Date().toISOString();
      return candidates.filter((id) => Number(complete.run(now, id).changes) > 0);
    });
  }

  async listJobEvents(jobId: number, page: Page, order: EventOrder): Promise<{ count: number; results: StoredEvent[] }> {
    const count = this.#jobEvents(jobId);
    const rows = this.#stmt(
      `SELECT id, ${EVENT_COLUMNS} FROM job_events WHERE job_id = ? ORDER BY ${ORDER_SQL[order]} LIMIT ? OFFSET ?`,
    ).all(jobId, page.limit, page.offset) as Row[];
    const results = rows.map((r) => ({
      ...(r as unknown as StoredEvent),
      event_data: JSON.parse(r.event_data as string) as Record<string, unknown>,
      changed: r.changed === 1,
      failed: r.failed === 1,
    }));
    return { count, results };
  }

  async listHostSummaries(jobId: number, page: Page): Promise<{ count: number; results: StoredHostSummary[] }> {
    const count = (this.#stmt('SELECT count(*) AS n FROM job_host_summaries WHERE job_id = ?').get(jobId) as { n: number }).n;
    const rows = this.#stmt(
      'SELECT * FROM job_host_summaries WHERE job_id = ? ORDER BY host_name ASC LIMIT ? OFFSET ?',
    ).all(jobId, page.limit, page.offset) as Row[];
    return { count, results: rows.map((r) => ({ ...(r as unknown as StoredHostSummary), failed: r.failed === 1 })) };
  }

  async streamState(jobId: number): Promise<StreamState> {
    const stored = this.#jobEvents(jobId);
    const s = this.#stmt('SELECT final_counter, completed_at FROM job_event_streams WHERE job_id = ?').get(jobId) as
      | { final_counter: number; completed_at: string | null }
      | undefined;
    return { job_id: jobId, stored, final_counter: s?.final_counter ?? null, completed_at: s?.completed_at ?? null };
  }

  #jobEvents(jobId: number): number {
    return (this.#stmt('SELECT events FROM job_event_counts WHERE job_id = ?').get(jobId) as { events: number } | undefined)?.events ?? 0;
  }

  async countJobEvents(jobId: number): Promise<number> {
    return this.#jobEvents(jobId);
  }

  async countEvents(): Promise<number> {
    return (this.#stmt('SELECT coalesce(sum(events), 0) AS n FROM job_event_counts').get() as { n: number }).n;
  }

  async eventLag(jobIds: readonly number[], quantiles: readonly number[]): Promise<EventLag> {
    const ids = JSON.stringify(jobIds);
    const count = (this.#stmt(`SELECT coalesce(sum(events), 0) AS n FROM job_event_counts WHERE job_id IN ${JSON_IDS}`).get(ids) as { n: number }).n;
    if (count === 0) return { count, seconds: [] };
    const at = this.#stmt(
      `SELECT (julianday(modified) - julianday(created)) * 86400.0 AS lag FROM job_events WHERE job_id IN ${JSON_IDS} ORDER BY lag LIMIT 1 OFFSET ?`,
    );
    return { count, seconds: quantiles.map((q) => Math.max(0, (at.get(ids, rankOffset(q, count)) as { lag: number }).lag)) };
  }

  async deleteJobEvents(jobIds: readonly number[], limit: number): Promise<DeletedEvents> {
    if (jobIds.length === 0 || limit < 1) return { events: 0, writeMs: 0 };
    // SQLite has no DELETE ... LIMIT (without a compile option): the ids come from the job_id index.
    const del = this.#stmt(`DELETE FROM job_events WHERE id IN (SELECT id FROM job_events WHERE job_id IN ${JSON_IDS} LIMIT ?) RETURNING job_id`);
    let began = 0;
    const events = this.#write(() => {
      began = performance.now(); // the lock is held from here: the time spent waiting for it is other writers' turn
      const gone = del.all(JSON.stringify(jobIds), limit) as { job_id: number }[];
      const counted = new Map<number, number>();
      for (const { job_id } of gone) counted.set(job_id, (counted.get(job_id) ?? 0) + 1);
      const take = this.#stmt('UPDATE job_event_counts SET events = events - ? WHERE job_id = ?');
      for (const [jobId, n] of counted) take.run(n, jobId);
      return gone.length;
    });
    return { events, writeMs: performance.now() - began };
  }

  async deleteJobs(jobIds: readonly number[]): Promise<DeletedJobs> {
    if (jobIds.length === 0) return { jobs: 0, hostSummaries: 0, streams: 0 };
    const ids = JSON.stringify(jobIds);
    // Only what belongs to finished jobs goes, whatever the caller passed.
    const finished = `(SELECT id FROM jobs WHERE id IN ${JSON_IDS} AND status IN (${FINISHED_SQL}))`;
    return this.#write(() => {
      // A count stays while events are left (one saved after deleteJobEvents): it still counts them.
      this.#stmt(`DELETE FROM job_event_counts WHERE events = 0 AND job_id IN ${finished}`).run(ids);
      return {
        hostSummaries: Number(this.#stmt(`DELETE FROM job_host_summaries WHERE job_id IN ${finished}`).run(ids).changes),
        streams: Number(this.#stmt(`DELETE FROM job_event_streams WHERE job_id IN ${finished}`).run(ids).changes),
        jobs: Number(this.#stmt(`DELETE FROM jobs WHERE id IN ${JSON_IDS} AND status IN (${FINISHED_SQL})`).run(ids).changes),
      };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
