import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStorage } from '../../src/storage/sqlite.ts';
import { OverseerError } from '../../src/errors.ts';
import { tempDir } from '../helpers/node-process.ts';

test('migrations run once and are recorded in the database', async () => {
  const file = join(tempDir(), 'o.db');
  const first = new SqliteStorage(file);
  assert.deepEqual(await first.migrate(), { applied: [1, 2, 3, 4], version: 4 });
  await first.close();
  const second = new SqliteStorage(file);
  assert.deepEqual(await second.migrate(), { applied: [], version: 4 });
  await second.close();
  const db = new DatabaseSync(file);
  assert.deepEqual(db.prepare('SELECT version, name FROM schema_migrations').all().map((r) => ({ ...r })), [{ version: 1, name: 'baseline' }, { version: 2, name: 'job events, host summaries, event streams' }, { version: 3, name: 'projects, inventories, templates, jobs, workflows' }, { version: 4, name: 'per-job event counts' }]);
  assert.equal((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
  db.close();
});

test('a failing migration rolls back and names itself; a newer database is refused', async () => {
  const file = join(tempDir(), 'o.db');
  const broken = new SqliteStorage(file, { migrations: [
    { version: 1, name: 'baseline', sqlite: [], postgres: [] },
    { version: 2, name: 'broken', sqlite: ['CREATE TABLE t (a)', 'NOT SQL'], postgres: [] },
  ] });
  await assert.rejects(broken.migrate(), (e: unknown) => e instanceof OverseerError && e.code === 'OVERSEER_MIGRATION' && /migration 2 \(broken\) failed/.test(e.message));
  await broken.close();
  const db = new DatabaseSync(file);
  assert.equal(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get()?.n, 0, 'rolled back');
  db.exec("INSERT INTO schema_migrations VALUES (99, 'future', 'now')");
  db.close();
  const old = new SqliteStorage(file);
  await assert.rejects(old.migrate(), /is at schema version 99, newer than this overseer knows \(4\)/);
  await old.close();
});
