// One suite, run against SQLite and a real PostgreSQL: both backends must show users the same data.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { MIGRATIONS, type Migration } from '../../src/storage/migrations.ts';
import { EVENT_COLUMNS } from '../../src/storage/sql.ts';
import { cleanupJobs } from '../../src/control/retention.ts';
import { ControlStore } from '../../src/control/store.ts';
import { openStorage } from '../../src/storage/open.ts';
import { PostgresStorage } from '../../src/storage/postgres.ts';
import { SqliteStorage } from '../../src/storage/sqlite.ts';
import type { EventRow, HostSummaryRow, Storage, StoredEvent } from '../../src/storage/storage.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { fixtureEvents, fixtureRows } from '../helpers/events.ts';

const ALL = fixtureEvents(0).length;
/** The fixture's events as the receiver would store them for this job. */
const eventRows = (jobId: number, modified?: string): EventRow[] => fixtureRows(jobId, modified).rows;

/** What listJobEvents should return for these rows, without the ids the database assigns. */
const expected = (rows: readonly EventRow[]) => rows.map((r) => ({ ...r, event_data: JSON.parse(r.event_data) as unknown }));
const withoutIds = (results: readonly StoredEvent[]) => results.map(({ id: _id, ...rest }) => rest);

/** The fixture's playbook_on_stats as host summary rows. */
const statsSummaries = (jobId: number): HostSummaryRow[] => fixtureRows(jobId).summaries;

const batch = (events: readonly EventRow[], more: { hostSummaries?: HostSummaryRow[]; streamEnds?: { job_id: number; final_counter: number }[] } = {}) => ({
  events,
  hostSummaries: more.hostSummaries ?? [],
  streamEnds: more.streamEnds ?? [],
});

/** One INSERT of these events as SQL text both dialects run, for writing events outside overseer's code. */
function insertEvents(rows: readonly EventRow[]): string {
  const value = (v: string | number | boolean | null) =>
    v === null ? 'NULL' : typeof v === 'boolean' ? (v ? 'TRUE' : 'FALSE') : typeof v === 'number' ? String(v) : `'${v.replace(/'/g, "''")}'`;
  const tuples = rows.map((r) => `(${EVENT_COLUMNS.split(', ').map((c) => value(r[c as keyof EventRow])).join(', ')})`);
  return `INSERT INTO job_events (${EVENT_COLUMNS}) VALUES ${tuples.join(', ')}`;
}

/** A database a test gets to itself: what openStorage takes to reach it. */
interface Database {
  readonly url: string;
  readonly dataDir: string;
}

interface Backend {
  readonly name: 'sqlite' | 'postgres';
  setup(): Promise<void>;
  teardown(): Promise<void>;
  fresh(): Promise<Database>;
  /** The backend's storage over db with other migrations than overseer's. */
  withMigrations(db: Database, migrations: readonly Migration[]): Storage;
  /** Runs one statement outside overseer's code and returns its rows. */
  sql(db: Database, statement: string): Promise<Record<string, unknown>[]>;
  /** Batches this backend refuses, beyond the ones both refuse. */
  readonly refuses: readonly { readonly what: string; readonly spoil: (e: EventRow) => EventRow }[];
}

function sqliteBackend(): Backend {
  let root = '';
  let n = 0;
  return {
    name: 'sqlite',
    setup: async () => {
      root = mkdtempSync(join(tmpdir(), 'overseer-storage-'));
    },
    teardown: async () => rmSync(root, { recursive: true, force: true }),
    fresh: async () => ({ url: '', dataDir: mkdtempSync(join(root, `db${++n}-`)) }),
    withMigrations: (db, migrations) => new SqliteStorage(join(db.dataDir, 'overseer.db'), { migrations }),
    sql: async (db, statement) => {
      const raw = new DatabaseSync(join(db.dataDir, 'overseer.db'));
      try {
        return raw.prepare(statement).all().map((r) => ({ ...r }));
      } finally {
        raw.close();
      }
    },
    // SQLite's tables are not STRICT: it stores 1.5 in an INTEGER column, and NUL in TEXT.
    refuses: [],
  };
}

function postgresBackend(): Backend {
  let server: TestPostgres | undefined;
  return {
    name: 'postgres',
    setup: async () => {
      server = await startTestPostgres();
    },
    teardown: async () => server?.stop(),
    fresh: async () => {
      if (server === undefined) throw new Error('PostgreSQL did not start');
      return { url: await server.createDatabase(), dataDir: '' };
    },
    withMigrations: (db, migrations) => new PostgresStorage(db.url, { migrations }),
    sql: async (db, statement) => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        return (await client.query(statement)).rows as Record<string, unknown>[];
      } finally {
        await client.end();
      }
    },
    refuses: [
      { what: 'a counter that is not an integer', spoil: (e) => ({ ...e, counter: 1.5 }) },
      { what: 'a NUL byte in stdout', spoil: (e) => ({ ...e, stdout: 'before\0after' }) },
      { what: 'event_data that is not JSON', spoil: (e) => ({ ...e, event_data: '{"no": ' }) },
    ],
  };
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`storage: ${backend.name}`, () => {
    const opened: Storage[] = [];
    /** A storage over db (a fresh, migrated database when none is given), closed after the test. */
    const open = (db: Database): Storage => {
      const storage = openStorage(db.url, db.dataDir);
      opened.push(storage);
      return storage;
    };
    const migrated = async (): Promise<Storage> => {
      const storage = open(await backend.fresh());
      await storage.migrate();
      return storage;
    };

    before(() => backend.setup());
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    // Runs when a test or setup failed too, so that no PostgreSQL outlives the run.
    after(() => backend.teardown());

    test('migrations are applied once and recorded; a newer database is refused', async () => {
      const db = await backend.fresh();
      const first = open(db);
      assert.equal(first.kind, backend.name);
      assert.deepEqual(await first.migrate(), { applied: [1, 2, 3, 4], version: 4 });
      assert.deepEqual(await open(db).migrate(), { applied: [], version: 4 });
      assert.deepEqual(await backend.sql(db, 'SELECT version, name FROM schema_migrations ORDER BY version'), [
        { version: 1, name: 'baseline' },
        { version: 2, name: 'job events, host summaries, event streams' },
        { version: 3, name: 'projects, inventories, templates, jobs, workflows' },
        { version: 4, name: 'per-job event counts' },
      ]);
      await backend.sql(db, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', CURRENT_TIMESTAMP)");
      await assert.rejects(open(db).migrate(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'OVERSEER_MIGRATION');
        assert.match(err.message, /is at schema version 99, newer than this overseer knows \(4\)/);
        return true;
      });
    });

    test('a failing migration rolls back, names itself, and can be applied once fixed', async () => {
      const db = await backend.fresh();
      const baseline = { version: 1, name: 'baseline', sqlite: [], postgres: [] };
      const broken = ['CREATE TABLE t (a integer)', 'NOT SQL'];
      const storage = backend.withMigrations(db, [baseline, { version: 2, name: 'broken', sqlite: broken, postgres: broken }]);
      opened.push(storage);
      await assert.rejects(storage.migrate(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'OVERSEER_MIGRATION');
        assert.match(err.message, /^migration 2 \(broken\) failed: /);
        return true;
      });
      await assert.rejects(backend.sql(db, 'SELECT a FROM t'), /no such table|does not exist/, 'rolled back');
      const fixed = ['CREATE TABLE t (a integer)'];
      const again = backend.withMigrations(db, [baseline, { version: 2, name: 'fixed', sqlite: fixed, postgres: fixed }]);
      opened.push(again);
      assert.deepEqual(await again.migrate(), { applied: [2], version: 2 });
    });

    test('nodes that migrate at the same time apply each migration once', async () => {
      const db = await backend.fresh();
      const results = await Promise.all([open(db).migrate(), open(db).migrate(), open(db).migrate()]);
      assert.deepEqual(results.map((r) => r.applied).sort((a, b) => b.length - a.length), [[1, 2, 3, 4], [], []]);
      assert.equal((await backend.sql(db, 'SELECT version FROM schema_migrations')).length, 4);
    });

    test('saved events come back ordered by counter with every field as saved', async () => {
      const storage = await migrated();
      // The fixture's failed tasks all ignore their errors: mark one failed so that true round-trips too.
      const rows = eventRows(7).map((r) => (r.event === 'runner_on_failed' ? { ...r, failed: true } : r));
      // Saved newest first, so that counter order is not the order of insertion.
      const saved = await storage.saveBatch(batch([...rows].reverse()));
      assert.deepEqual(saved, { inserted: ALL, duplicates: 0 });
      const page = await storage.listJobEvents(7, { limit: 1000, offset: 0 }, 'counter');
      assert.equal(page.count, ALL);
      assert.deepEqual(withoutIds(page.results), expected(rows));
      assert.ok(page.results.every((e) => Number.isSafeInteger(e.id)), 'ids are numbers');
      assert.equal(page.results[0]?.parent_uuid, null, 'playbook_on_start has no parent');
      assert.equal(typeof page.results[0]?.event_data, 'object');
      assert.ok(page.results.some((e) => e.changed) && page.results.some((e) => e.failed), 'true booleans too');
      // ids follow the order of saving: the newest-first batch.
      const byId = await storage.listJobEvents(7, { limit: 3, offset: 0 }, 'id');
      assert.deepEqual(byId.results.map((e) => e.counter), [ALL, ALL - 1, ALL - 2]);
    });

    test('an event saved again is a duplicate, within a batch too', async () => {
      const storage = await migrated();
      const rows = eventRows(8);
      await storage.saveBatch(batch(rows));
      assert.deepEqual(await storage.saveBatch(batch(rows)), { inserted: 0, duplicates: ALL });
      const [a, b] = eventRows(9) as [EventRow, EventRow];
      assert.deepEqual(await storage.saveBatch(batch([a, b, { ...a, stdout: 'a second copy' }])), { inserted: 2, duplicates: 1 });
      const page = await storage.listJobEvents(9, { limit: 10, offset: 0 }, 'counter');
      assert.equal(page.count, 2);
      assert.equal(page.results[0]?.stdout, a.stdout, 'the first copy is kept');
      assert.equal(await storage.countEvents(), ALL + 2);
    });

    test("eventLag: the lag from created to saved of these jobs' events, by nearest rank", async () => {
      const storage = await migrated();
      const t0 = Date.parse('2026-11-25T10:00:00.000Z');
      // Job 21: 100 events created at t0 and saved 10 ms, 20 ms, … 1000 ms later; job 22 an hour later, not asked for.
      const rows = eventRows(21).slice(0, 100).map((r, i) => ({ ...r, created: new Date(t0).toISOString(), modified: new Date(t0 + (i + 1) * 10).toISOString() }));
      const other = eventRows(22).slice(0, 5).map((r) => ({ ...r, created: new Date(t0).toISOString(), modified: new Date(t0 + 3_600_000).toISOString() }));
      await storage.saveBatch(batch([...rows, ...other]));
      const lag = await storage.eventLag([21], [0.5, 0.99, 1]);
      assert.equal(lag.count, 100);
      assert.deepEqual(lag.seconds.map((s) => Math.round(s * 1000)), [500, 990, 1000]);
      assert.deepEqual(await storage.eventLag([23], [0.5]), { count: 0, seconds: [] });
    });

    test("a host's summary replaces its earlier one", async () => {
      const storage = await migrated();
      const [h1, h2, h3] = statsSummaries(10) as [HostSummaryRow, HostSummaryRow, HostSummaryRow];
      await storage.saveBatch(batch([], { hostSummaries: [h1, h2, h3] }));
      const rerun = { ...h1, ok: 1, failures: 2, failed: true };
      // Twice for one host in one batch: the last one wins.
      await storage.saveBatch(batch([], { hostSummaries: [{ ...rerun, ok: 99 }, rerun] }));
      const page = await storage.listHostSummaries(10, { limit: 10, offset: 0 });
      assert.equal(page.count, 3);
      assert.deepEqual(page.results.map(({ id: _id, ...rest }) => rest), [rerun, h2, h3]);
      assert.ok(page.results.every((h) => Number.isSafeInteger(h.id)));
      const second = await storage.listHostSummaries(10, { limit: 1, offset: 1 });
      assert.deepEqual({ count: second.count, hosts: second.results.map((h) => h.host_name) }, { count: 3, hosts: ['h2'] });
      assert.deepEqual(await storage.listHostSummaries(11, { limit: 10, offset: 0 }), { count: 0, results: [] });
    });

    test('a stream is complete once every event up to its final counter is stored', async () => {
      const storage = await migrated();
      const rows = eventRows(12);
      const last = rows.pop() as EventRow;
      assert.deepEqual(await storage.streamState(12), { job_id: 12, stored: 0, final_counter: null, completed_at: null });
      await storage.saveBatch(batch(rows, { streamEnds: [{ job_id: 12, final_counter: ALL }] }));
      assert.deepEqual(await storage.completeStreams([12]), []);
      assert.deepEqual(await storage.streamState(12), { job_id: 12, stored: ALL - 1, final_counter: ALL, completed_at: null });
      await storage.saveBatch(batch([last]));
      assert.deepEqual(await storage.completeStreams([12, 12, 13]), [12]);
      const state = await storage.streamState(12);
      assert.deepEqual({ ...state, completed_at: null }, { job_id: 12, stored: ALL, final_counter: ALL, completed_at: null });
      assert.match(state.completed_at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(Math.abs(Date.parse(state.completed_at ?? '') - Date.now()) < 60_000);
      assert.deepEqual(await storage.completeStreams([12]), [], 'completed once');
      assert.deepEqual(await storage.completeStreams([]), []);
    });

    test('events page by limit and offset, in counter order either way', async () => {
      const storage = await migrated();
      await storage.saveBatch(batch([...eventRows(14), ...eventRows(15).slice(0, 5)]));
      const middle = await storage.listJobEvents(14, { limit: 50, offset: 100 }, 'counter');
      assert.equal(middle.count, ALL);
      assert.deepEqual(middle.results.map((e) => e.counter), Array.from({ length: 50 }, (_, i) => 101 + i));
      const newest = await storage.listJobEvents(14, { limit: 3, offset: 0 }, '-counter');
      assert.deepEqual(newest.results.map((e) => e.counter), [ALL, ALL - 1, ALL - 2]);
      const tail = await storage.listJobEvents(14, { limit: 50, offset: ALL - 2 }, 'counter');
      assert.deepEqual(tail.results.map((e) => e.counter), [ALL - 1, ALL]);
      assert.deepEqual(await storage.listJobEvents(14, { limit: 10, offset: ALL }, 'counter'), { count: ALL, results: [] });
      const latest = await storage.listJobEvents(14, { limit: 1, offset: 0 }, '-created');
      assert.equal(latest.results[0]?.event, 'playbook_on_stats');
      assert.equal((await storage.listJobEvents(15, { limit: 10, offset: 0 }, 'counter')).count, 5);
      assert.equal(await storage.countEvents(), ALL + 5);
    });

    const refused = [
      { what: 'an event without an event type', spoil: (e: EventRow) => ({ ...e, event: null as unknown as string }) },
      ...backend.refuses,
    ];
    for (const { what, spoil } of refused) {
      test(`a batch with ${what} saves nothing, and the next batch saves`, async () => {
        const storage = await migrated();
        const rows = eventRows(16);
        rows[100] = spoil(rows[100] as EventRow);
        const [summary] = statsSummaries(16);
        await assert.rejects(storage.saveBatch(batch(rows, { hostSummaries: [summary as HostSummaryRow], streamEnds: [{ job_id: 16, final_counter: ALL }] })));
        assert.equal(await storage.countEvents(), 0);
        assert.deepEqual(await storage.streamState(16), { job_id: 16, stored: 0, final_counter: null, completed_at: null });
        assert.equal((await storage.listHostSummaries(16, { limit: 10, offset: 0 })).count, 0);
        assert.deepEqual(await storage.saveBatch(batch(eventRows(16))), { inserted: ALL, duplicates: 0 });
      });
    }

    /** A fresh migrated database and a storage over it. */
    const migratedDb = async (): Promise<{ db: Database; storage: Storage }> => {
      const db = await backend.fresh();
      const storage = open(db);
      await storage.migrate();
      return { db, storage };
    };
    /** What a user sees of a job's event count (the listing's count, the stream state, the count itself), and what count(*) says. */
    const counts = async (storage: Storage, db: Database, jobId: number) => {
      const [listed, state, own, rows] = await Promise.all([
        storage.listJobEvents(jobId, { limit: 1, offset: 0 }, 'counter'),
        storage.streamState(jobId),
        storage.countJobEvents(jobId),
        backend.sql(db, `SELECT count(*) AS n FROM job_events WHERE job_id = ${jobId}`),
      ]);
      return { listed: listed.count, stored: state.stored, count: own, rows: Number(rows[0]?.n) };
    };
    const all = (n: number) => ({ listed: n, stored: n, count: n, rows: n });

    test("a job's event count counts the events stored, not their duplicates", async () => {
      const { db, storage } = await migratedDb();
      const [a, b] = [eventRows(31), eventRows(32)];
      assert.deepEqual(await counts(storage, db, 31), all(0));
      // Interleaved jobs, a duplicate within the batch, then the same events again with new ones.
      await storage.saveBatch(batch([...a.slice(0, 100), ...b.slice(0, 50), a[0] as EventRow]));
      assert.deepEqual([await counts(storage, db, 31), await counts(storage, db, 32)], [all(100), all(50)]);
      assert.deepEqual(await storage.saveBatch(batch([...a.slice(50, 150), ...b.slice(0, 50)])), { inserted: 50, duplicates: 100 });
      assert.deepEqual([await counts(storage, db, 31), await counts(storage, db, 32)], [all(150), all(50)]);
      // A failed batch counts nothing.
      await assert.rejects(storage.saveBatch(batch([...a.slice(150), { ...(b[60] as EventRow), event: null as unknown as string }])));
      assert.deepEqual(await counts(storage, db, 31), all(150));
      await storage.saveBatch(batch([...a, ...b]));
      assert.deepEqual([await counts(storage, db, 31), await counts(storage, db, 32)], [all(ALL), all(ALL)]);
      assert.equal(await storage.countEvents(), 2 * ALL);
      assert.equal((await storage.eventLag([31, 32, 33], [0.5])).count, 2 * ALL);
    });

    test('writers saving the same jobs at once count each event once', async () => {
      const { db, storage } = await migratedDb();
      const rows = [...eventRows(41), ...eventRows(42), ...eventRows(43)];
      // Three writers (threads or nodes), each saving every event (as after a redelivery) in batches of its own size.
      const writers = [open(db), open(db), open(db)];
      await Promise.all(writers.map(async (w, i) => {
        for (let at = 0; at < rows.length; at += 40 + i * 17) await w.saveBatch(batch(rows.slice(at, at + 40 + i * 17)));
      }));
      for (const id of [41, 42, 43]) assert.deepEqual(await counts(storage, db, id), all(ALL));
    });

    test('counts stay right while the cleanup deletes events, and go with the jobs', async () => {
      const { db, storage } = await migratedDb();
      const store = new ControlStore(storage.sql);
      const finished = async () => {
        const job = await store.createJob({ type: 'job', name: 'counted', launch_type: 'manual', status: 'successful' });
        await storage.sql.run('UPDATE jobs SET finished = ? WHERE id = ?', ['2026-01-01T00:00:00.000Z', job.id]);
        await storage.saveBatch(batch(eventRows(job.id)));
        return job.id;
      };
      const [x, y, z] = [await finished(), await finished(), await finished()];
      // A batch of deletes over two jobs takes from each what it deleted.
      assert.equal((await storage.deleteJobEvents([x, y], 400)).events, 400);
      const left = [await counts(storage, db, x), await counts(storage, db, y)];
      assert.equal(left.reduce((n, c) => n + c.count, 0), 2 * ALL - 400);
      for (const c of left) assert.deepEqual(c, all(c.rows));
      // The cleanup deletes the rest, in batches of 100.
      const dataDir = mkdtempSync(join(tmpdir(), 'overseer-counts-'));
      try {
        const report = await cleanupJobs(storage, { days: 30, dataDir, eventsPerBatch: 100, pauseRatio: 0 });
        assert.deepEqual({ jobs: report.jobs, events: report.events }, { jobs: 3, events: 3 * ALL - 400 });
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
      for (const id of [x, y, z]) assert.deepEqual(await counts(storage, db, id), all(0));
      assert.deepEqual(await backend.sql(db, 'SELECT job_id FROM job_event_counts'), [], 'no count left for deleted jobs');
      assert.equal(await storage.countEvents(), 0);
      // An event saved for a job after it was deleted is counted still.
      await storage.saveBatch(batch(eventRows(x).slice(0, 3)));
      assert.deepEqual(await counts(storage, db, x), all(3));
    });

    test('a database that had events before the counts gets them when it migrates', async () => {
      const db = await backend.fresh();
      const before = backend.withMigrations(db, MIGRATIONS.slice(0, 3));
      opened.push(before);
      assert.deepEqual(await before.migrate(), { applied: [1, 2, 3], version: 3 });
      await backend.sql(db, insertEvents([...eventRows(51), ...eventRows(52).slice(0, 7)]));
      assert.deepEqual(await open(db).migrate(), { applied: [4], version: 4 });
      const storage = open(db);
      assert.deepEqual([await counts(storage, db, 51), await counts(storage, db, 52), await counts(storage, db, 53)], [all(ALL), all(7), all(0)]);
      assert.equal(await storage.countEvents(), ALL + 7);
      await storage.saveBatch(batch(eventRows(52)));
      assert.deepEqual(await counts(storage, db, 52), all(ALL));
    });

    if (backend.name === 'postgres') {
      test('events written or deleted outside overseer (another node, psql) are counted too', async () => {
        const { db, storage } = await migratedDb();
        await backend.sql(db, insertEvents(eventRows(61).slice(0, 20)));
        await backend.sql(db, `${insertEvents(eventRows(61).slice(10, 30))} ON CONFLICT (job_id, uuid) DO NOTHING`);
        assert.deepEqual(await counts(storage, db, 61), all(30));
        await backend.sql(db, 'DELETE FROM job_events WHERE job_id = 61 AND counter <= 5');
        assert.deepEqual(await counts(storage, db, 61), all(25));
        await backend.sql(db, 'TRUNCATE job_events');
        assert.deepEqual(await counts(storage, db, 61), all(0));
      });
    }

    test('ping answers while open; close is idempotent', async () => {
      const storage = await migrated();
      await storage.ping();
      assert.equal(await storage.countEvents(), 0);
      await storage.close();
      await storage.close();
      await assert.rejects(storage.ping());
    });
  });
}

test('openStorage: SQLite in the data dir for "", PostgreSQL for postgres URLs, never showing the password', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'overseer-open-'));
  try {
    const sqlite = openStorage('', dir);
    assert.deepEqual({ kind: sqlite.kind, location: sqlite.location }, { kind: 'sqlite', location: join(dir, 'overseer.db') });
    await sqlite.close();
    for (const url of ['postgres://overseer:s3cret@db.example:5432/overseer', 'postgresql://overseer@db.example/overseer?password=s3cret']) {
      const postgres = openStorage(url, dir);
      assert.equal(postgres.kind, 'postgres');
      assert.doesNotMatch(postgres.location, /s3cret/);
      assert.match(postgres.location, /db\.example/);
      await postgres.close();
    }
    assert.throws(() => openStorage('mysql://db/overseer', dir), /postgres:\/\/ or postgresql:\/\//);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
