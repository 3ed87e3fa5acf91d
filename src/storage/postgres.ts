import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { MIGRATIONS, type Migration } from './migrations.ts';
import type {
  Batch,
  DeletedEvents,
  DeletedJobs,
  EventLag,
  EventRow,
  EventOrder,
  HostSummaryRow,
  Page,
  SaveResult,
  Sql,
  SqlValue,
  Storage,
  StoredEvent,
  StoredHostSummary,
  StreamEnd,
  StreamState,
} from './storage.ts';
import { rankOffset } from './storage.ts';
import { EVENT_COLUMNS, FINISHED_SQL, ORDER_SQL } from './sql.ts';
import { redactUrl } from '../redact.ts';
import { OverseerError } from '../errors.ts';


// Events go in by COPY into a per-connection temp table, then one INSERT ... SELECT that skips the
// ones already stored. Against one INSERT over unnest() of typed arrays (one array per column),
// COPY took 15-25% less time per 1000-event batch: encoding and parsing array literals cost more.
// `n` keeps the batch's order, so ids follow arrival order.
const STAGE_EVENTS = `CREATE TEMP TABLE IF NOT EXISTS overseer_events_in (n integer, job_id bigint, uuid text, counter integer,
  event text, event_data json, stdout text, start_line integer, end_line integer, created timestamptz, modified timestamptz,
  host_name text, task text, play text, role text, changed boolean, failed boolean, parent_uuid text) ON COMMIT DELETE ROWS`;
const COPY_EVENTS = `COPY overseer_events_in (n, ${EVENT_COLUMNS}) FROM STDIN`;
const INSERT_EVENTS = `INSERT INTO job_events (${EVENT_COLUMNS})
  SELECT ${EVENT_COLUMNS} FROM overseer_events_in ORDER BY n
  ON CONFLICT (job_id, uuid) DO NOTHING`;
/** The same, saying which events it stored (for the live output). */
const INSERT_EVENTS_RETURNING = `${INSERT_EVENTS} RETURNING id, job_id, uuid`;

const UPSERT_SUMMARIES = `INSERT INTO job_host_summaries (job_id, host_name, ok, changed, failures, dark, skipped, rescued, ignored, processed, failed)
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::integer[], $5::integer[], $6::integer[], $7::integer[],
    $8::integer[], $9::integer[], $10::integer[], $11::boolean[])
  ON CONFLICT (job_id, host_name) DO UPDATE SET ok = excluded.ok, changed = excluded.changed, failures = excluded.failures,
    dark = excluded.dark, skipped = excluded.skipped, rescued = excluded.rescued, ignored = excluded.ignored,
    processed = excluded.processed, failed = excluded.failed`;

const UPSERT_ENDS = `INSERT INTO job_event_streams (job_id, final_counter)
  SELECT * FROM unnest($1::bigint[], $2::integer[])
  ON CONFLICT (job_id) DO UPDATE SET final_counter = excluded.final_counter`;

// Every node migrating at start takes this session lock, so that one applies and the others wait.
const MIGRATION_LOCK = '7293857413921001';

const OID_INT8 = 20;
const OID_TIMESTAMPTZ = 1184;

// Per pool rather than pg's global registry, so that other pg users in the process are unaffected.
// BIGINT ids and counts stay far below 2^53; timestamps read as ISO 8601 with a Z, like SQLite's rows.
const types = new pg.TypeOverrides();
types.setTypeParser(OID_INT8, 'text', Number);
const parseTimestamptz = pg.types.getTypeParser(OID_TIMESTAMPTZ, 'text');
types.setTypeParser(OID_TIMESTAMPTZ, 'text', (v: string) => (parseTimestamptz(v) as Date).toISOString());


const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const SPECIAL = /[\\\n\r\t]/;

/** One text field in COPY's text format: \N for null, and the four characters it treats specially escaped. */
function copyField(v: string | null): string {
  if (v === null) return '\\N';
  // Most fields have nothing to escape: test first, replace only when needed.
  return SPECIAL.test(v) ? v.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c] as string) : v;
}

/** The events as COPY text: one line per event, `n` first. */
function copyText(events: readonly EventRow[]): string {
  // Numbers and booleans never need escaping; only the text fields go through copyField.
  let out = '';
  events.forEach((e, n) => {
    out += `${n}\t${e.job_id}\t${copyField(e.uuid)}\t${e.counter}\t${copyField(e.event)}\t${copyField(e.event_data)}\t${copyField(e.stdout)}\t${e.start_line}\t${e.end_line}\t${copyField(e.created)}\t${copyField(e.modified)}\t${copyField(e.host_name)}\t${copyField(e.task)}\t${copyField(e.play)}\t${copyField(e.role)}\t${e.changed}\t${e.failed}\t${copyField(e.parent_uuid)}\n`;
  });
  return out;
}

/** The new id of each event of a batch, from what INSERT ... RETURNING gave; null for one already stored (or a later copy in the batch). */
function idsByIndex(events: readonly EventRow[], rows: readonly { id: number; job_id: number; uuid: string }[]): (number | null)[] {
  const byKey = new Map(rows.map((r) => [`${r.job_id}\0${r.uuid}`, r.id]));
  return events.map((e) => {
    const key = `${e.job_id}\0${e.uuid}`;
    const id = byKey.get(key);
    byKey.delete(key); // the first copy in the batch is the one stored
    return id ?? null;
  });
}

/** Keeps the last row per key: a multi-row upsert may not touch one row twice. */
function lastPerKey<T>(rows: readonly T[], key: (row: T) => string): T[] {
  return [...new Map(rows.map((r) => [key(r), r])).values()];
}

/**
 * PostgreSQL through a small node-postgres pool: the storage of a cluster. Each receiver thread
 * and the web API open their own; PostgreSQL serialises the writers.
 */
export class PostgresStorage implements Storage {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly #pool: pg.Pool;
  readonly #migrations: readonly Migration[];
  /** Pooled connections that have created their temp staging table (it lives as long as the session). */
  readonly #staged = new WeakSet<pg.PoolClient>();
  #closed = false;
  readonly sql: Sql = {
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => (await this.#query(sql, params)).rows as T[],
    get: async <T>(sql: string, params: readonly SqlValue[] = []) => (await this.#query(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => (await this.#query(sql, params)).rowCount ?? 0,
    returning: async <T>(sql: string, params: readonly SqlValue[] = []) => (await this.#query(sql, params)).rows as T[],
  };
  readonly #numbered = new Map<string, string>();

  constructor(
    url: string,
    options: { migrations?: readonly Migration[]; max?: number; onIdleError?: (err: Error) => void } = {},
  ) {
    this.location = redactUrl(url);
    this.#migrations = options.migrations ?? MIGRATIONS;
    this.#pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 4,
      types,
      application_name: 'overseer',
      connectionTimeoutMillis: 10_000,
    });
    // An idle connection that dies (server restart) is dropped by the pool; the next query opens a
    // new one or fails where it is awaited. Without a listener the error would kill the process.
    this.#pool.on('error', options.onIdleError ?? (() => {}));
  }

  /** Runs fn in one transaction on a pooled connection that has the staging table. */
  async #transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      // Created outside the transaction, so that a batch rolled back does not take the table along.
      if (!this.#staged.has(client)) {
        await client.query(STAGE_EVENTS);
        this.#staged.add(client);
      }
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      // A connection that cannot even roll back is discarded rather than handed to the next caller.
      client.release(broken);
    }
  }

  async migrate(): Promise<{ applied: number[]; version: number }> {
    const client = await this.#pool.connect();
    let failed = true;
    try {
      // The lock comes before the ledger: concurrent CREATE TABLE IF NOT EXISTS can still collide.
      await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)',
      );
      const row = (await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations')).rows[0];
      const current = row?.v ?? 0;
      const known = this.#migrations.at(-1)?.version ?? 0;
      if (current > known) {
        throw new OverseerError(
          'OVERSEER_MIGRATION',
          `${this.location} is at schema version ${current}, newer than this overseer knows (${known}); run a newer overseer or another database_url`,
        );
      }
      const applied: number[] = [];
      for (const m of this.#migrations.filter((m) => m.version > current)) {
        try {
          await client.query('BEGIN');
          for (const statement of m.postgres) await client.query(statement);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())', [m.version, m.name]);
          await client.query('COMMIT');
        } catch (err) {
          throw new OverseerError('OVERSEER_MIGRATION', `migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
        }
        applied.push(m.version);
      }
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK]);
      failed = false;
      return { applied, version: Math.max(current, ...applied) };
    } finally {
      // On failure the session is closed instead: that rolls back and frees the lock in one step.
      client.release(failed);
    }
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async saveBatch(batch: Batch): Promise<SaveResult> {
    const { events } = batch;
    const summaries = lastPerKey(batch.hostSummaries, (h: HostSummaryRow) => `${h.job_id}\0${h.host_name}`);
    const ends = lastPerKey(batch.streamEnds, (s: StreamEnd) => String(s.job_id));
    if (events.length + summaries.length + ends.length === 0) return { inserted: 0, duplicates: 0 };
    return this.#transaction(async (client) => {
      let inserted = 0;
      let ids: (number | null)[] | undefined;
      if (events.length > 0) {
        // The insert trigger adds the events stored (not the duplicates) to job_event_counts.
        await pipeline(Readable.from([copyText(events)]), client.query(copyFrom(COPY_EVENTS)));
        // Named: each connection parses and plans the statement once.
        if (batch.withIds) {
          const r = await client.query<{ id: number; job_id: number; uuid: string }>({ name: 'overseer_insert_events_ids', text: INSERT_EVENTS_RETURNING });
          inserted = r.rowCount ?? 0;
          ids = idsByIndex(events, r.rows);
        } else inserted = (await client.query({ name: 'overseer_insert_events', text: INSERT_EVENTS })).rowCount ?? 0;
      }
      if (summaries.length > 0) {
        const columns = [
          summaries.map((h) => h.job_id), summaries.map((h) => h.host_name), summaries.map((h) => h.ok),
          summaries.map((h) => h.changed), summaries.map((h) => h.failures), summaries.map((h) => h.dark),
          summaries.map((h) => h.skipped), summaries.map((h) => h.rescued), summaries.map((h) => h.ignored),
          summaries.map((h) => h.processed), summaries.map((h) => h.failed),
        ];
        await client.query({ name: 'overseer_upsert_summaries', text: UPSERT_SUMMARIES, values: columns });
      }
      if (ends.length > 0) {
        const columns = [ends.map((s) => s.job_id), ends.map((s) => s.final_counter)];
        await client.query({ name: 'overseer_upsert_ends', text: UPSERT_ENDS, values: columns });
      }
      return { inserted, duplicates: events.length - inserted, ...(batch.withIds ? { ids: ids ?? [] } : {}) };
    });
  }

  async completeStreams(jobIds: readonly number[]): Promise<number[]> {
    const ids = [...new Set(jobIds)];
    if (ids.length === 0) return [];
    // Two nodes racing here both wait on the row lock; the second re-checks completed_at and skips.
    const { rows } = await this.#pool.query<{ job_id: number }>(
      `UPDATE job_event_streams s SET completed_at = now()
       WHERE s.job_id = ANY($1::bigint[]) AND s.completed_at IS NULL
         -- Fewer events stored than final_counter: not complete, known from the count without reading the events.
         AND CASE WHEN coalesce((SELECT c.events FROM job_event_counts c WHERE c.job_id = s.job_id), 0) < s.final_counter THEN false
           ELSE s.final_counter <= (SELECT count(DISTINCT e.counter) FROM job_events e WHERE e.job_id = s.job_id AND e.counter BETWEEN 1 AND s.final_counter) END
       RETURNING s.job_id`,
      [ids],
    );
    const done = new Set(rows.map((r) => r.job_id));
    return ids.filter((id) => done.has(id));
  }

  async listJobEvents(jobId: number, page: Page, order: EventOrder): Promise<{ count: number; results: StoredEvent[] }> {
    const [count, rows] = await Promise.all([
      this.countJobEvents(jobId),
      this.#pool.query<StoredEvent>(
        `SELECT id, ${EVENT_COLUMNS} FROM job_events WHERE job_id = $1 ORDER BY ${ORDER_SQL[order]} LIMIT $2 OFFSET $3`,
        [jobId, page.limit, page.offset],
      ),
    ]);
    return { count, results: rows.rows };
  }

  async listHostSummaries(jobId: number, page: Page): Promise<{ count: number; results: StoredHostSummary[] }> {
    const [count, rows] = await Promise.all([
      this.#count('SELECT count(*) AS n FROM job_host_summaries WHERE job_id = $1', [jobId]),
      // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
      this.#pool.query<StoredHostSummary>(
        'SELECT * FROM job_host_summaries WHERE job_id = $1 ORDER BY host_name COLLATE "C" ASC LIMIT $2 OFFSET $3',
        [jobId, page.limit, page.offset],
      ),
    ]);
    return { count, results: rows.rows };
  }

  async streamState(jobId: number): Promise<StreamState> {
    const [stored, s] = await Promise.all([
      this.countJobEvents(jobId),
      this.#pool.query<{ final_counter: number; completed_at: string | null }>(
        'SELECT final_counter, completed_at FROM job_event_streams WHERE job_id = $1',
        [jobId],
      ),
    ]);
    const row = s.rows[0];
    return { job_id: jobId, stored, final_counter: row?.final_counter ?? null, completed_at: row?.completed_at ?? null };
  }

  async countJobEvents(jobId: number): Promise<number> {
    return this.#count('SELECT events AS n FROM job_event_counts WHERE job_id = $1', [jobId]);
  }

  async countEvents(): Promise<number> {
    return this.#count('SELECT coalesce(sum(events), 0)::bigint AS n FROM job_event_counts', []);
  }

  async eventLag(jobIds: readonly number[], quantiles: readonly number[]): Promise<EventLag> {
    const ids = [...jobIds];
    const count = Number(await this.#count('SELECT coalesce(sum(events), 0)::bigint AS n FROM job_event_counts WHERE job_id = ANY($1::bigint[])', [ids]));
    if (count === 0) return { count, seconds: [] };
    const seconds = await Promise.all(
      quantiles.map(async (q) => {
        const { rows } = await this.#pool.query<{ lag: number | string }>(
          'SELECT EXTRACT(EPOCH FROM modified - created)::float8 AS lag FROM job_events WHERE job_id = ANY($1::bigint[]) ORDER BY lag LIMIT 1 OFFSET $2',
          [ids, rankOffset(q, count)],
        );
        return Math.max(0, Number(rows[0]?.lag ?? 0));
      }),
    );
    return { count, seconds };
  }

  async deleteJobEvents(jobIds: readonly number[], limit: number): Promise<DeletedEvents> {
    if (jobIds.length === 0 || limit < 1) return { events: 0, writeMs: 0 };
    const began = performance.now();
    // The delete trigger takes the deleted events off job_event_counts in the same statement.
    const { rowCount } = await this.#pool.query(
      'DELETE FROM job_events WHERE id IN (SELECT id FROM job_events WHERE job_id = ANY($1::bigint[]) LIMIT $2)',
      [jobIds, limit],
    );
    return { events: rowCount ?? 0, writeMs: performance.now() - began };
  }

  async deleteJobs(jobIds: readonly number[]): Promise<DeletedJobs> {
    if (jobIds.length === 0) return { jobs: 0, hostSummaries: 0, streams: 0 };
    // Only what belongs to finished jobs goes, whatever the caller passed.
    const finished = `(SELECT id FROM jobs WHERE id = ANY($1::bigint[]) AND status IN (${FINISHED_SQL}))`;
    return this.#transaction(async (client) => {
      // A count stays while events are left (one saved after deleteJobEvents): it still counts them.
      await client.query(`DELETE FROM job_event_counts WHERE events = 0 AND job_id IN ${finished}`, [jobIds]);
      const hostSummaries = (await client.query(`DELETE FROM job_host_summaries WHERE job_id IN ${finished}`, [jobIds])).rowCount ?? 0;
      const streams = (await client.query(`DELETE FROM job_event_streams WHERE job_id IN ${finished}`, [jobIds])).rowCount ?? 0;
      const jobs = (await client.query(`DELETE FROM jobs WHERE id = ANY($1::bigint[]) AND status IN (${FINISHED_SQL})`, [jobIds])).rowCount ?? 0;
      return { jobs, hostSummaries, streams };
    });
  }

  /** Runs SQL written with `?` placeholders (see Sql), as PostgreSQL's $1, $2, ... */
  #query(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
    let text = this.#numbered.get(sql);
    if (text === undefined) {
      let n = 0;
      text = sql.replace(/\?/g, () => `$${++n}`);
      this.#numbered.set(sql, text);
    }
    return this.#pool.query(text, params as SqlValue[]);
  }

  async #count(sql: string, values: unknown[]): Promise<number> {
    return (await this.#pool.query<{ n: number }>(sql, values)).rows[0]?.n ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
