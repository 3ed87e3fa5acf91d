import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Storage } from './storage.ts';
import type { WriteLock } from './write-lock.ts';
import { OverseerError } from '../errors.ts';

// Each backend is loaded only when it is opened: a thread of a SQLite node never loads pg, and one
// of a PostgreSQL node never loads node:sqlite (npm run bench -- module-cost: pg costs a thread
// about 3 MB). require() loads these ES modules synchronously, so opening stays synchronous.
const load = createRequire(import.meta.url);

/** The modules openStorage loads when asked, for what warms the compile cache (src/service-pool.ts). */
export const STORAGE_MODULES: readonly string[] = ['./sqlite.ts', './postgres.ts'].map((m) => new URL(m, import.meta.url).href);

/** Opens the configured storage: SQLite in the data dir when databaseUrl is '', else PostgreSQL. */
export function openStorage(databaseUrl: string, dataDir: string, options: { writeLock?: WriteLock } = {}): Storage {
  if (databaseUrl === '') {
    const { SqliteStorage } = load('./sqlite.ts') as typeof import('./sqlite.ts');
    return new SqliteStorage(join(dataDir, 'overseer.db'), options.writeLock ? { writeLock: options.writeLock } : {});
  }
  if (/^postgres(ql)?:\/\//i.test(databaseUrl)) {
    const { PostgresStorage } = load('./postgres.ts') as typeof import('./postgres.ts');
    return new PostgresStorage(databaseUrl);
  }
  // The config schema already refuses other schemes; this guards callers that bypass it.
  throw new OverseerError('OVERSEER_CONFIG', `database_url: expected postgres:// or postgresql://, or "" for SQLite in data_dir`);
}
