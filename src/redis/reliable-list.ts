// A Redis list with processing lists: a taker moves items atomically from the head of the queue
// into a processing list of its own and removes them only once they are dealt with, so an item
// survives the crash of whoever took it: the processing list goes back to the head of the queue,
// in order, when its owner starts again. Both the callback queue and the dispatcher's task queue
// are one of these. The scripts are .lua files beside this one, defined once per connection
// with ioredis defineCommand (EVALSHA, falling back to EVAL when Redis has lost the script).
import { readFileSync } from 'node:fs';
import type { ChainableCommander, Redis } from 'ioredis';

/** Lua unpack() has a limit on arguments (8000); a take stays well under it. */
export const MAX_TAKE = 5000;

/** The scripts, by the command name each is defined as on a connection. */
const SCRIPTS = {
  overseerListTake: { file: 'take.lua', numberOfKeys: 2 },
  overseerListGiveBack: { file: 'give-back.lua', numberOfKeys: 2 },
  overseerListSubmit: { file: 'submit.lua', numberOfKeys: 2 },
  overseerListTakeBounded: { file: 'take-bounded.lua', numberOfKeys: 3 },
} as const;

type ScriptName = keyof typeof SCRIPTS;

/** What each script takes and answers, as the typed methods a connection gets. */
interface ListCommands {
  overseerListTake(queue: string, processing: string, n: number, oncePrefix: string): Promise<string[]>;
  overseerListGiveBack(queue: string, processing: string): Promise<number>;
  overseerListSubmit(queue: string, marker: string, item: string, ttlMs: number): Promise<number>;
  overseerListTakeBounded(
    queue: string, processing: string, dead: string,
    n: number, budget: number, firstAnyway: '0' | '1', maxItemBytes: number, deadMax: number, node: string, at: string, keepBytes: number,
  ): Promise<[string[], number, number, number, number]>;
}

// Read once, when the module loads: a missing file fails at start, not at the first take.
const LUA = Object.fromEntries(
  Object.entries(SCRIPTS).map(([name, s]) => [name, readFileSync(new URL(`./lua/${s.file}`, import.meta.url), 'utf8')]),
) as Record<ScriptName, string>;

/** What every list uses; the bounded take is defined on a connection only once a list there needs it. */
const COMMON: readonly ScriptName[] = ['overseerListTake', 'overseerListGiveBack', 'overseerListSubmit'];

/** The commands defined on each connection; defineCommand is per connection, and once is enough. */
const defined = new WeakMap<Redis, Set<ScriptName>>();

/** The connection, with these list commands defined on it (each the first time only). */
function withListCommands(redis: Redis, names: readonly ScriptName[] = COMMON): Redis & ListCommands {
  let done = defined.get(redis);
  if (done === undefined) defined.set(redis, (done = new Set()));
  for (const name of names) {
    if (done.has(name)) continue;
    redis.defineCommand(name, { numberOfKeys: SCRIPTS[name].numberOfKeys, lua: LUA[name] });
    done.add(name);
  }
  return redis as Redis & ListCommands;
}

/** The keys of one reliable list, as one taker sees it. */
export interface ReliableListKeys {
  /** The list producers append to; takers take from its head. */
  readonly queue: string;
  /** This taker's processing list. */
  readonly processing: string;
  /**
   * Set when items are JSON that may be queued "once" (`once: true` and a `name`): the marker
   * `oncePrefix + name` stands for such an item while it waits, and is cleared when it is taken.
   */
  readonly oncePrefix?: string;
}

/** A "queued once" submission: skipped while an item of this name waits already. */
export interface OnceOptions {
  readonly name: string;
  /** How long the marker lives at most, should its item be lost with its Redis. */
  readonly ttlMs: number;
}

/** The limits of a bounded take (see take-bounded.lua). */
export interface TakeLimits {
  /** Items at most (and at most MAX_TAKE). */
  readonly count: number;
  /** Bytes at most, over the items taken. */
  readonly bytes: number;
  /** Take the first item even when it alone passes `bytes` (a batch that is empty needs one). */
  readonly firstAnyway: boolean;
  /** Items longer than this go to the dead list instead, cut to their first `keepBytes`. */
  readonly maxItemBytes: number;
  readonly dead: string;
  /** The dead list keeps its newest `deadMax` entries. */
  readonly deadMax: number;
  /** What each such dead letter says: the node that wrote it, and when. */
  readonly node: string;
  readonly at: string;
  readonly keepBytes: number;
}

/** Why a bounded take stopped: the queue is empty, items may still wait, or the next one would pass the byte budget. */
export const TAKE_STOPS = ['empty', 'more', 'full'] as const;

/** What a bounded take moved, and what it dead-lettered and dropped on the way (already committed by Redis). */
export interface BoundedTake {
  readonly items: string[];
  readonly bytes: number;
  readonly oversized: number;
  readonly dropped: number;
  readonly stop: (typeof TAKE_STOPS)[number];
}

/** One taker's side of a reliable list, on one connection. */
export class ReliableList {
  readonly #redis: Redis & ListCommands;
  readonly #keys: ReliableListKeys;

  constructor(redis: Redis, keys: ReliableListKeys) {
    this.#redis = withListCommands(redis);
    this.#keys = keys;
  }

  /** The marker key of a "queued once" item of this name. */
  onceKey(name: string): string {
    return `${this.#keys.oncePrefix ?? ''}${name}`;
  }

  /** Appends an item to the queue; with `once`, only when no item of that name waits (resolves false otherwise). */
  async push(item: string, once?: OnceOptions): Promise<boolean> {
    if (once === undefined) {
      await this.#redis.rpush(this.#keys.queue, item);
      return true;
    }
    // Without a prefix, no take would ever clear the marker.
    if (this.#keys.oncePrefix === undefined) throw new TypeError('a "queued once" push needs a list with oncePrefix');
    return (await this.#redis.overseerListSubmit(this.#keys.queue, this.onceKey(once.name), item, once.ttlMs)) === 1;
  }

  /** Moves up to n items (at most MAX_TAKE) into the processing list and returns them; [] when the queue is empty. */
  async take(n: number): Promise<string[]> {
    const k = this.#keys;
    if (n < 1) return [];
    return this.#redis.overseerListTake(k.queue, k.processing, Math.min(n, MAX_TAKE), k.oncePrefix ?? '');
  }

  /** take, bounded by bytes too, with items over a size limit moved to a dead list instead (see TakeLimits). */
  async takeBounded(l: TakeLimits): Promise<BoundedTake> {
    const k = this.#keys;
    if (l.count < 1) return { items: [], bytes: 0, oversized: 0, dropped: 0, stop: 'more' };
    const redis = withListCommands(this.#redis, ['overseerListTakeBounded']);
    const [items, bytes, oversized, dropped, stop] = await redis.overseerListTakeBounded(
      k.queue, k.processing, l.dead,
      Math.min(l.count, MAX_TAKE), Math.max(l.bytes, 0), l.firstAnyway ? '1' : '0', l.maxItemBytes, l.deadMax, l.node, l.at, l.keepBytes,
    );
    return { items, bytes, oversized, dropped, stop: TAKE_STOPS[stop] ?? 'more' };
  }

  /**
   * Waits up to timeoutMs for one item and moves it into the processing list, as bytes (BLMOVE:
   * give it a connection of its own). The bytes stay outside the JavaScript heap until the caller
   * has looked at their length.
   */
  async waitForOneBytes(timeoutMs: number): Promise<Buffer | null> {
    const k = this.#keys;
    return this.#redis.blmoveBuffer(k.queue, k.processing, 'LEFT', 'RIGHT', Math.max(timeoutMs, 1) / 1000);
  }

  /** Puts the item last moved into the processing list back at the head of the queue. */
  async returnLast(): Promise<void> {
    await this.#redis.lmove(this.#keys.processing, this.#keys.queue, 'RIGHT', 'LEFT');
  }

  /** Waits up to timeoutMs for one item and moves it into the processing list (BLMOVE: give it a connection of its own). */
  async waitForOne(timeoutMs: number): Promise<string | null> {
    const k = this.#keys;
    const item = await this.#redis.blmove(k.queue, k.processing, 'LEFT', 'RIGHT', Math.max(timeoutMs, 1) / 1000);
    // Not in the same step as the move (a script cannot block), but before anyone sees the item.
    if (item !== null && k.oncePrefix !== undefined) {
      const name = onceName(item);
      if (name !== undefined) await this.#redis.del(this.onceKey(name));
    }
    return item;
  }

  /** What the processing list holds, in order. */
  async processingItems(): Promise<string[]> {
    return this.#redis.lrange(this.#keys.processing, 0, -1);
  }

  /** One item is dealt with: it leaves the processing list. */
  async remove(item: string): Promise<void> {
    await this.#redis.lrem(this.#keys.processing, 1, item);
  }

  /**
   * Everything in the processing list is dealt with: empties it, in one transaction with what
   * `alongside` adds; resolves to the replies of alongside's commands, once committed.
   */
  async clear(alongside?: (tx: ChainableCommander) => void): Promise<unknown[]> {
    const tx = this.#redis.multi();
    alongside?.(tx);
    tx.del(this.#keys.processing);
    const results = await tx.exec();
    const failed = results?.find(([err]) => err !== null)?.[0];
    if (failed) throw failed;
    return (results ?? []).slice(0, -1).map(([, reply]) => reply);
  }

  /** Items waiting in the queue. */
  async length(): Promise<number> {
    return this.#redis.llen(this.#keys.queue);
  }

  /** Puts the processing list back at the head of the queue, in order, and deletes it; how many items went back. */
  async giveBack(): Promise<number> {
    return giveBackList(this.#redis, this.#keys.queue, this.#keys.processing);
  }
}

/** The name of a "queued once" item, as take.lua reads it; undefined for any other item. */
function onceName(item: string): string | undefined {
  try {
    const v = JSON.parse(item) as { once?: unknown; name?: unknown } | null;
    return v !== null && typeof v === 'object' && v.once === true && typeof v.name === 'string' ? v.name : undefined;
  } catch {
    return undefined;
  }
}

/** Puts one processing list back at the head of its queue, in order, and deletes it; how many items went back. */
export async function giveBackList(redis: Redis, queue: string, processing: string): Promise<number> {
  return withListCommands(redis).overseerListGiveBack(queue, processing);
}

/** Gives back every processing list whose key matches the SCAN pattern; how many items went back in all. */
export async function giveBackMatching(redis: Redis, queue: string, pattern: string): Promise<number> {
  let given = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 100);
    cursor = next;
    // SCAN may name a key twice; the second give-back finds it gone and returns 0.
    for (const key of keys) given += await giveBackList(redis, queue, key);
  } while (cursor !== '0');
  return given;
}

/** Escapes SCAN/KEYS glob characters, so that a name matches only itself inside a pattern. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
