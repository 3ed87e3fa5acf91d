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
} as const;

type ScriptName = keyof typeof SCRIPTS;

/** What each script takes and answers, as the typed methods a connection gets. */
interface ListCommands {
  overseerListTake(queue: string, processing: string, n: number, oncePrefix: string): Promise<string[]>;
  overseerListGiveBack(queue: string, processing: string): Promise<number>;
  overseerListSubmit(queue: string, marker: string, item: string, ttlMs: number): Promise<number>;
}

// Read once, when the module loads: a missing file fails at start, not at the first take.
const LUA = Object.fromEntries(
  Object.entries(SCRIPTS).map(([name, s]) => [name, readFileSync(new URL(`./lua/${s.file}`, import.meta.url), 'utf8')]),
) as Record<ScriptName, string>;

/** Connections the commands are defined on; defineCommand is per connection, and once is enough. */
const defined = new WeakSet<Redis>();

/** The connection, with the list commands defined on it (the first time only). */
function withListCommands(redis: Redis): Redis & ListCommands {
  if (!defined.has(redis)) {
    for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
      redis.defineCommand(name, { numberOfKeys: SCRIPTS[name].numberOfKeys, lua: LUA[name] });
    }
    defined.add(redis);
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

  /** Everything in the processing list is dealt with: empties it, in one transaction with what `alongside` adds. */
  async clear(alongside?: (tx: ChainableCommander) => void): Promise<void> {
    const tx = this.#redis.multi();
    alongside?.(tx);
    tx.del(this.#keys.processing);
    const results = await tx.exec();
    const failed = results?.find(([err]) => err !== null)?.[0];
    if (failed) throw failed;
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
