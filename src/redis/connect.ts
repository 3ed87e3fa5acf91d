import { Redis, type RedisOptions } from 'ioredis';

/** A named connection (BullMQ's habit: blocking or subscribing work gets its own). unix:///path is a socket. */
export function createRedis(url: string, connectionName: string, extra: RedisOptions = {}): Redis {
  const options: RedisOptions = { connectionName, lazyConnect: true, ...extra };
  return url.startsWith('unix:')
    ? new Redis({ ...options, path: new URL(url).pathname } as never)
    : new Redis(url, options as never);
}

/** Connects once and PINGs; undefined when Redis answers, else why not. */
export async function checkRedis(url: string, timeoutMs = 3000): Promise<string | undefined> {
  const redis = createRedis(url, 'overseer:check', {
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // connect() rejects with a generic "Connection is closed"; the cause arrives as an 'error' event.
  let cause: NodeJS.ErrnoException | undefined;
  redis.on('error', (err: NodeJS.ErrnoException) => (cause ??= err));
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (err) {
    const e = cause ?? (err as NodeJS.ErrnoException);
    return e.code ?? e.message;
  } finally {
    redis.disconnect();
  }
}

/** True when Redis at url answers PING. */
export async function pingRedis(url: string): Promise<boolean> {
  return (await checkRedis(url, 1000)) === undefined;
}
