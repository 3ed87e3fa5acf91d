// What the supervisor checks before it starts anything; each check returns problems, one line
// each, naming the key, the value and what would be right.
import { chmodSync, mkdirSync } from 'node:fs';
import type { Config } from './config/schema.ts';
import { claimDataDir, dataDirOwner } from './data-dir-lock.ts';
import { checkRedis } from './redis/connect.ts';
import { MAX_SOCKET_PATH, privateRedisPaths } from './redis/private-redis.ts';
import { openStorage } from './storage/open.ts';
import { ensurePrograms } from './system/programs.ts';

import { redactUrl } from './redact.ts';

/** Creates the data directory and claims it for this process; `release` gives it back. */
export function checkDataDir(dir: string): { problems: string[]; release: () => void } {
  const none = () => {};
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700); // the database, the Redis socket and the jobs' dirs are the node's alone
  } catch (err) {
    return { problems: [`data_dir: cannot create "${dir}" (${(err as NodeJS.ErrnoException).code}); expected a writable directory`], release: none };
  }
  const owner = dataDirOwner(dir);
  if (owner !== undefined) return { problems: [`data_dir: "${dir}" is in use by another overseer (pid ${owner}); expected a data_dir of its own`], release: none };
  return { problems: [], release: claimDataDir(dir) };
}

/** An existing Redis must answer; a private one needs redis-server (installed here when allowed). */
export async function checkRedisConfig(config: Config, say: (line: string) => void): Promise<string[]> {
  const url = config.redis_url;
  if (url !== '') {
    const why = await checkRedis(url);
    return why === undefined
      ? []
      : [`redis_url: "${redactUrl(url)}" is unreachable (${why}); expected a running Redis at that address, or "" for a private redis-server`];
  }
  const { socket } = privateRedisPaths(config.data_dir);
  if (socket.length > MAX_SOCKET_PATH) {
    return [`data_dir: "${config.data_dir}" is too long for the private Redis socket (${socket.length} > ${MAX_SOCKET_PATH} characters); expected a shorter path, or set redis_url`];
  }
  return ensurePrograms(['redis-server'], say).map((p) => `redis_url: "" starts a private redis-server, but ${p}; or set redis_url to an existing Redis`);
}

/** A PostgreSQL database_url must answer (SQLite needs only the data directory). */
export async function checkDatabase(config: Config): Promise<string[]> {
  const url = config.database_url;
  if (url === '') return [];
  const storage = openStorage(url, config.data_dir);
  try {
    await storage.ping();
    return [];
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return [`database_url: "${redactUrl(url)}" does not answer (${e.code ?? e.message}); expected a running PostgreSQL at that address, or "" for SQLite in data_dir`];
  } finally {
    await storage.close();
  }
}
