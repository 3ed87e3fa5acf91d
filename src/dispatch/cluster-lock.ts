// A lock shared by every node on one Redis, with a TTL: a holder that dies or hangs loses it when
// the TTL runs out (AWX's advisory lock has none and can wedge a manager). Released only by the
// holder that took it.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export const lockKey = (name: string) => `overseer:lock:${name}`;

/** Runs fn holding the lock `name`; resolves { ran: false } at once when someone else holds it. */
export async function withClusterLock<T>(redis: Redis, name: string, ttlMs: number, fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
  const token = randomUUID();
  const taken = await redis.set(lockKey(name), token, 'PX', Math.ceil(ttlMs), 'NX');
  if (taken !== 'OK') return { ran: false };
  try {
    return { ran: true, value: await fn() };
  } finally {
    await redis.eval(RELEASE, 1, lockKey(name), token).catch(() => undefined); // the TTL frees it otherwise
  }
}
