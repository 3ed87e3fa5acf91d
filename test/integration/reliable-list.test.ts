// The reliable list under both queues, against a real redis-server: what a taker holds, what goes
// back and in which order, "queued once" markers, and scripts that Redis forgot.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { MAX_TAKE, ReliableList, giveBackMatching, globEscape } from '../../src/redis/reliable-list.ts';
import { EventQueue, giveBackProcessing, processingKey, deadLetterKey } from '../../src/redis/event-queue.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.ts';

let server: TestRedis;
let client: Redis;
const connections: Redis[] = [];

/** A connection of its own (BLMOVE blocks it); closed after the file. */
function connect(): Redis {
  const c = new Redis(server.url);
  connections.push(c);
  return c;
}

/** Keys of one test: a random prefix, so that tests never see each other's lists. */
function keys(oncePrefix?: boolean) {
  const p = `rl:${randomUUID()}`;
  return { queue: `${p}:queue`, processing: `${p}:processing`, ...(oncePrefix ? { oncePrefix: `${p}:once:` } : {}) };
}

const items = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `item-${String(from + i).padStart(5, '0')}`);

before(async () => {
  server = await startTestRedis();
  client = connect();
});
after(async () => {
  for (const c of connections) c.disconnect();
  await server.stop();
});

test('take moves items from the head into the processing list, in order, and at most MAX_TAKE', async () => {
  const k = keys();
  const list = new ReliableList(client, k);
  await client.rpush(k.queue, ...items(10));

  assert.deepEqual(await list.take(4), items(4));
  assert.deepEqual(await client.lrange(k.queue, 0, -1), items(6, 4), 'the rest stays, in order');
  assert.deepEqual(await list.processingItems(), items(4));
  assert.deepEqual(await list.take(0), [], 'a take of nothing takes nothing (not the whole list)');
  assert.deepEqual(await list.take(100), items(6, 4), 'a take larger than the queue takes what there is');
  assert.deepEqual(await list.processingItems(), items(10), 'appended after what it held');
  assert.deepEqual(await list.take(5), [], 'an empty queue gives []');

  await client.rpush(k.queue, ...items(MAX_TAKE + 1));
  assert.equal((await list.take(MAX_TAKE * 2)).length, MAX_TAKE, 'bounded, for Lua unpack()');
  assert.equal(await list.length(), 1);
});

test('takers racing on their own connections: every item is taken exactly once, each in queue order', async () => {
  const k = keys();
  const all = items(3000);
  await client.rpush(k.queue, ...all);
  const takers = Array.from({ length: 6 }, (_, i) => new ReliableList(connect(), { queue: k.queue, processing: `${k.processing}:${i}` }));
  const held = await Promise.all(
    takers.map(async (t) => {
      const mine: string[] = [];
      for (let got = await t.take(37); got.length > 0; got = await t.take(37)) mine.push(...got);
      return mine;
    }),
  );
  assert.deepEqual(held.flat().sort(), all, 'none lost, none taken twice');
  for (const [i, mine] of held.entries()) {
    assert.deepEqual(mine, [...mine].sort(), `taker ${i} got its items in queue order`);
    assert.deepEqual(await takers[i]?.processingItems(), mine, `taker ${i}'s processing list holds what it took`);
  }
});

test('give back puts the processing list at the head of the queue in its order, and deletes it', async () => {
  const k = keys();
  const list = new ReliableList(client, k);
  await client.rpush(k.queue, ...items(5));
  await list.take(3);
  await client.rpush(k.queue, 'later');

  assert.equal(await list.giveBack(), 3);
  assert.deepEqual(await client.lrange(k.queue, 0, -1), [...items(5), 'later']);
  assert.equal(await client.exists(k.processing), 0);
  assert.equal(await list.giveBack(), 0, 'nothing to give back a second time');
});

test('waitForOne moves one item when it comes; remove and clear empty the processing list', async () => {
  const k = keys();
  const list = new ReliableList(connect(), k);
  assert.equal(await list.waitForOne(50), null, 'nothing came');
  const waiting = list.waitForOne(5000);
  await client.rpush(k.queue, 'a', 'b');
  assert.equal(await waiting, 'a');
  await list.take(1);
  assert.deepEqual(await list.processingItems(), ['a', 'b']);
  await list.remove('a');
  assert.deepEqual(await list.processingItems(), ['b']);
  await list.clear((tx) => tx.rpush(`${k.queue}:side`, 'written with the clear'));
  assert.equal(await client.exists(k.processing), 0);
  assert.deepEqual(await client.lrange(`${k.queue}:side`, 0, -1), ['written with the clear']);
});

test('"queued once": a second push waits behind the marker; a take, blocking or not, clears it', async () => {
  const k = keys(true);
  const list = new ReliableList(client, k);
  const task = (name: string, once: boolean) => JSON.stringify({ id: randomUUID(), name, ...(once ? { once: true } : {}) });
  const once = (name: string) => ({ name, ttlMs: 60_000 });

  assert.equal(await list.push(task('m1', true), once('m1')), true);
  assert.equal(await list.push(task('m1', true), once('m1')), false, 'folded into the one waiting');
  assert.equal(await list.push(task('m2', true), once('m2')), true);
  assert.equal(await list.push(task('plain', false)), true);
  assert.equal(await list.length(), 3);
  assert.ok((await client.pttl(list.onceKey('m1'))) > 0, 'the marker expires, should its item be lost');

  assert.equal((await list.take(1)).length, 1);
  assert.equal(await client.exists(list.onceKey('m1')), 0, 'taken: cleared');
  assert.equal(await client.exists(list.onceKey('m2')), 1, 'still waiting: kept');
  assert.equal(await list.push(task('m1', true), once('m1')), true, 'another request queues another run');

  await list.take(2); // m2 and plain
  const blocking = new ReliableList(connect(), k);
  assert.ok(JSON.parse((await blocking.waitForOne(1000)) ?? 'null').name === 'm1');
  assert.equal(await client.exists(list.onceKey('m1')), 0, 'a blocking take clears it too');
  await assert.rejects(new ReliableList(client, keys()).push('x', once('m1')), /oncePrefix/, 'no list without a prefix may set a marker nobody clears');
});

test('scripts survive SCRIPT FLUSH: EVALSHA answers NOSCRIPT, ioredis sends EVAL, which loads it again', async () => {
  const k = keys();
  const c = connect();
  const list = new ReliableList(c, k);
  const sha = createHash('sha1').update(readFileSync(new URL('../../src/redis/lua/take.lua', import.meta.url), 'utf8')).digest('hex');
  await client.rpush(k.queue, ...items(6));
  assert.deepEqual(await list.take(2), items(2));
  assert.deepEqual(await client.script('EXISTS', sha), [1], 'loaded by the first take');

  await client.script('FLUSH');
  assert.deepEqual(await client.script('EXISTS', sha), [0]);
  await client.config('RESETSTAT');
  assert.deepEqual(await list.take(2), items(2, 2), 'the take after the flush works');
  assert.deepEqual(await client.script('EXISTS', sha), [1], 'and loaded the script again');
  const stats = String(await client.info('commandstats'));
  assert.match(stats, /cmdstat_evalsha:calls=\d+,.*failed_calls=1/, 'one EVALSHA failed with NOSCRIPT');
  assert.match(stats, /cmdstat_eval:calls=1,/, 'then one EVAL');
  assert.equal(await list.giveBack(), 4, 'the other scripts too');
  assert.deepEqual(await client.lrange(k.queue, 0, -1), items(6));
});

test('commands are defined once per connection, however many lists share it', async () => {
  const c = connect();
  let defined = 0;
  const define = c.defineCommand.bind(c);
  c.defineCommand = (...args: Parameters<Redis['defineCommand']>) => {
    defined++;
    define(...args);
  };
  const k = keys();
  for (let i = 0; i < 5; i++) await new ReliableList(c, k).take(1);
  await giveBackMatching(c, k.queue, `${k.processing}*`);
  assert.equal(defined, 3, 'take, give-back and submit, once each');
});

test('give back every processing list a pattern matches, and only those', async () => {
  const queue = `rl:${randomUUID()}:[cb]`;
  const mine = Array.from({ length: 250 }, (_, slot) => processingKey(queue, 'node-a', slot));
  for (const [slot, key] of mine.entries()) await client.rpush(key, `a${slot}-1`, `a${slot}-2`);
  const other = processingKey(queue, 'node-b', 0);
  await client.rpush(other, 'b0');
  await client.rpush(queue, 'waiting');

  assert.equal(await giveBackProcessing(client, queue, 'node-a'), 500, 'a queue name with glob characters matches only itself');
  const back = await client.lrange(queue, 0, -1);
  assert.equal(back.length, 501);
  assert.equal(back.at(-1), 'waiting', 'what was given back stands before what waited');
  for (let slot = 0; slot < 250; slot++) assert.equal(back.indexOf(`a${slot}-1`) + 1, back.indexOf(`a${slot}-2`), `list ${slot} kept its order`);
  assert.equal(await client.exists(...mine), 0, 'the lists are gone');
  assert.deepEqual(await client.lrange(other, 0, -1), ['b0'], "another node's list is left alone");
  assert.equal(await giveBackMatching(client, queue, `${globEscape(queue)}:processing:*`), 1);
});

test("EventQueue.done dead-letters and empties the receiver's processing list in one step", async () => {
  const queue = `rl:${randomUUID()}`;
  const q = new EventQueue(client, queue, 'node-a', 0);
  await client.rpush(queue, 'e1', 'e2');
  assert.deepEqual(await q.take(10), ['e1', 'e2']);
  assert.deepEqual(await q.leftover(), ['e1', 'e2']);
  await q.done([{ reason: 'invalid_json', detail: 'x', node: 'node-a', at: new Date(0).toISOString(), payload: 'e2' }]);
  assert.deepEqual(await q.leftover(), []);
  assert.equal(JSON.parse((await client.lindex(deadLetterKey(queue), 0)) ?? '{}').payload, 'e2');
});
