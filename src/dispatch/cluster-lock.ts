// A lock shared by every node on one Redis, with a TTL: a holder that dies or hangs loses it when
// the TTL runs out (AWX's advisory lock has none and can wedge a manager). Released only by the
// holder that took it. A caller that finds it taken leaves a mark, and the holder, once it has let
// go, reports the mark so that the work asked for meanwhile is not lost. A lock's value names the
// node that holds it: a node that restarts after a crash frees what its previous run held at once,
// rather than waiting out the TTL (up to manager_timeout_ms + manager_grace_ms) with nothing scheduled.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export const lockKey = (name: string) => `overseer:lock:${name}`;
const againKey = (name: string) => `overseer:lock:${name}:again`;

export type LockOutcome<T> = { ran: true; value: T; askedAgain: boolean } | { ran: false };

/**
 * Runs fn holding the lock `name`, or resolves { ran: false } at once when someone else holds it.
 * askedAgain: someone found the lock taken while fn ran, and their request still needs a run.
 */
export async function withClusterLock<T>(redis: Redis, name: string, owner: string, ttlMs: number, fn: () => Promise<T>): Promise<LockOutcome<T>> {
  const token = `${owner} ${randomUUID()}`;
  const take = async () => (await redis.set(lockKey(name), token, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK';
  if (!(await take())) {
    // Mark, then look again: either the holder is still there and will see the mark after letting
    // go, or it has gone and this caller runs.
    await redis.set(againKey(name), '1', 'PX', Math.ceil(ttlMs));
    if (!(await take())) return { ran: false };
  }
  await redis.del(againKey(name)); // this run does what was asked so far
  let value: T;
  try {
    value = await fn();
  } finally {
    await redis.eval(RELEASE, 1, lockKey(name), token).catch(() => undefined); // the TTL frees it otherwise
  }
  const askedAgain = (await redis.getdel(againKey(name))) !== null;
  return { ran: true, value, askedAgain };
}

const RELEASE_OWNED = `local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Frees the locks among `names` that a previous run of node `owner` held; resolves the names freed. */
export async function releaseLocksOf(redis: Redis, owner: string, names: readonly string[]): Promise<string[]> {
  const freed: string[] = [];
  for (const name of names) {
    if (Number(await redis.eval(RELEASE_OWNED, 1, lockKey(name), `${owner} `)) === 1) freed.push(name);
  }
  return freed;
}
