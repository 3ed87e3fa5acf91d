import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS, type Migration } from './migrations.ts';
import type { Storage } from './storage.ts';
import { OverseerError } from '../errors.ts';

/** SQLite through node:sqlite, in WAL mode: the embedded default for one node. */
export class SqliteStorage implements Storage {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #migrations: readonly Migration[];
  #closed = false;

  constructor(file: string, migrations: readonly Migration[] = MIGRATIONS) {
    this.location = file;
    this.#migrations = migrations;
    this.#db = new DatabaseSync(file);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;');
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
  }

  async migrate(): Promise<{ applied: number[]; version: number }> {
    const row = this.#db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null };
    const current = row.v ?? 0;
    const known = this.#migrations.at(-1)?.version ?? 0;
    if (current > known) {
      throw new OverseerError(
        'OVERSEER_MIGRATION',
        `${this.location} is at schema version ${current}, newer than this overseer knows (${known}); run a newer overseer or another data_dir`,
      );
    }
    const applied: number[] = [];
    const record = this.#db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of this.#migrations.filter((m) => m.version > current)) {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        for (const statement of m.sqlite) this.#db.exec(statement);
        record.run(m.version, m.name, new Date().toISOString());
        this.#db.exec('COMMIT');
      } catch (err) {
        this.#db.exec('ROLLBACK');
        throw new OverseerError('OVERSEER_MIGRATION', `migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
      applied.push(m.version);
    }
    return { applied, version: Math.max(current, ...applied) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
