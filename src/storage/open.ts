import { join } from 'node:path';
import { PostgresStorage } from './postgres.ts';
import { SqliteStorage } from './sqlite.ts';
import type { Storage } from './storage.ts';
import type { WriteLock } from './write-lock.ts';
import { OverseerError } from '../errors.ts';

/** Opens the configured storage: SQLite in the data dir when databaseUrl is '', else PostgreSQL. */
export function openStorage(databaseUrl: string, dataDir: string, options: { writeLock?: WriteLock } = {}): Storage {
  if (databaseUrl === '') {
    return new SqliteStorage(join(dataDir, 'overseer.db'), options.writeLock ? { writeLock: options.writeLock } : {});
  }
  if (/^postgres(ql)?:\/\//i.test(databaseUrl)) return new PostgresStorage(databaseUrl);
  // The config schema already refuses other schemes; this guards callers that bypass it.
  throw new OverseerError('OVERSEER_CONFIG', `database_url: expected postgres:// or postgresql://, or "" for SQLite in data_dir`);
}
