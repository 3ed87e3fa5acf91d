// Events too large or too many for the receiver: a take bounded by bytes, oversized events moved to
// the dead list inside Redis (cut short, never reaching a thread), and a capped dead list whose
// counters match what it holds. First the event queue against a real redis-server, then a real node.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { EventQueue, OVERSIZED_KEEP_BYTES, deadLetterKey, processingKey, type DeadLetter } from '../../src/redis/event-queue.ts';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue } from '../helpers/node-process.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.ts';
import { syntheticEvents } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait-for.ts';

let redis: TestRedis;
let client: Redis;

before(async () => {
  redis = await startTestRedis();
  client = new Redis(redis.url);
});
after(async () => {
  client.disconnect();
  await redis.stop();
});

const QUEUE = 'callback_tasks';
const MiB = 1024 * 1024;
const deadLetters = async (queue: string) => (await client.lrange(deadLetterKey(queue), 0, -1)).map((d) => JSON.parse(d) as DeadLetter);

/** A job event of about `bytes` bytes (its stdout makes up the size). */
const eventOf = (job: number, counter: number, bytes: number) =>
  JSON.stringify({ job_id: job, uuid: randomUUID(), counter, event: 'runner_on_ok', event_data: {}, stdout: 'x'.repeat(bytes), created: new Date().toISOString() });

describe('the bounded take, against redis', () => {
  test('a take stops at the byte budget, takes one event however large when the batch is empty, and says why it stopped', async () => {
    const queue = `el:${randomUUID()}`;
    const q = new EventQueue(client, queue, 'node-a', 0, { maxEventBytes: 10_000, deadLetterMax: 100 });
    const sizes = [300, 300, 300, 5000, 200, 200];
    await client.rpush(queue, ...sizes.map((n, i) => String(i).padEnd(n, '.')));

    const first = await q.takeBounded(100, 1000, true);
    assert.deepEqual(first.items.map((i) => i.length), [300, 300, 300], 'the fourth would pass 1000 bytes');
    assert.equal(first.bytes, 900);
    assert.equal(first.stop, 'full');
    assert.deepEqual(await q.takeBounded(100, 100, false), { items: [], bytes: 0, oversized: 0, dropped: 0, stop: 'full' }, 'a batch that holds something takes nothing too large');
    const big = await q.takeBounded(100, 1000, true);
    assert.deepEqual(big.items.map((i) => i.length), [5000], 'an empty batch takes one event larger than the budget');
    assert.equal(big.stop, 'more', 'and stops there: the budget is spent');
    const rest = await q.takeBounded(1, 1000, true);
    assert.deepEqual([rest.items.length, rest.stop], [1, 'more'], 'stops at the count');
    assert.deepEqual((await q.takeBounded(10, 1000, true)).stop, 'empty');
    assert.equal(await client.llen(processingKey(queue, 'node-a', 0)), 6, 'all six in the processing list, none lost');
    assert.equal(await client.llen(deadLetterKey(queue)), 0);
  });

  test('oversized events go to the dead list cut to 4 KiB at a character boundary, in the same step, and never come back', async () => {
    const queue = `el:${randomUUID()}`;
    const q = new EventQueue(client, queue, 'node-a', 0, { maxEventBytes: 10_000, deadLetterMax: 100 });
    // 4095 ASCII bytes then 2-byte characters: byte 4096 is the first half of one.
    const wide = `${'a'.repeat(4095)}${'é'.repeat(5000)}`;
    await client.rpush(queue, 'small-1', 'x'.repeat(20_000), wide, 'small-2');

    const t = await q.takeBounded(100, MiB, true);
    assert.deepEqual(t.items, ['small-1', 'small-2']);
    assert.deepEqual([t.oversized, t.dropped, t.stop], [2, 0, 'empty']);
    assert.equal(await client.llen(queue), 0);
    const dead = await deadLetters(queue);
    assert.deepEqual(dead.map((d) => [d.reason, d.node, d.detail]), [
      ['oversized', 'node-a', '20000 bytes, the limit is 10000'],
      ['oversized', 'node-a', `${Buffer.byteLength(wide)} bytes, the limit is 10000`],
    ]);
    assert.equal(dead[0]?.payload, `${'x'.repeat(OVERSIZED_KEEP_BYTES)}…`);
    assert.equal(dead[1]?.payload, `${'a'.repeat(4095)}…`, 'no half character');
    assert.ok(!Number.isNaN(Date.parse(dead[0]?.at ?? '')));
  });

  test('the dead list keeps its newest dead_letter_max entries, and both the take and done report what the cap dropped', async () => {
    const queue = `el:${randomUUID()}`;
    const q = new EventQueue(client, queue, 'node-a', 0, { maxEventBytes: 2000, deadLetterMax: 50 });
    await client.rpush(queue, ...Array.from({ length: 60 }, (_, i) => `${i}:`.padEnd(3000, '.')));
    const t = await q.takeBounded(100, MiB, true);
    assert.deepEqual([t.items.length, t.oversized, t.dropped], [0, 60, 10]);
    const letter = (i: number): DeadLetter => ({ reason: 'invalid_json', detail: 'x', node: 'node-a', at: new Date(0).toISOString(), payload: `bad-${i}` });
    assert.deepEqual(await q.done(Array.from({ length: 60 }, (_, i) => letter(i))), { dropped: 60 });
    assert.deepEqual(await q.done([]), { dropped: 0 });
    const dead = await deadLetters(queue);
    assert.equal(dead.length, 50);
    assert.deepEqual([dead[0]?.payload, dead[49]?.payload], ['bad-10', 'bad-59'], 'the newest are kept');
  });

  test('an oversized event that arrives while a receiver waits goes back, unread, for the take to dead-letter', async () => {
    const queue = `el:${randomUUID()}`;
    const blocking = new Redis(redis.url);
    try {
      const q = new EventQueue(blocking, queue, 'node-a', 0, { maxEventBytes: 2000, deadLetterMax: 50 });
      const waiting = q.waitForOne(5000);
      await client.rpush(queue, 'y'.repeat(3000));
      assert.equal(await waiting, null);
      assert.equal(await client.llen(processingKey(queue, 'node-a', 0)), 0);
      assert.equal(await client.llen(queue), 1, 'back at the head of the queue');
      assert.equal((await q.takeBounded(10, MiB, true)).oversized, 1);
      await client.rpush(queue, 'fits');
      assert.equal(await q.waitForOne(1000), 'fits');
    } finally {
      blocking.disconnect();
    }
  });
});

/**
 * Pings the node one request after another, at most 2,000 times, from a process of its own (this
 * one is busy pushing 5 MB strings); stop() resolves to each answer's time in ms.
 */
function startPinger(port: number): { stop(): Promise<number[]> } {
  const code = `
    const pings = [];
    let on = true;
    process.stdin.on('data', () => { on = false; });
    while (on && pings.length < 2000) {
      const t0 = performance.now();
      const res = await fetch('http://127.0.0.1:${port}/api/v2/ping/');
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error('ping answered ' + res.status);
      pings.push(performance.now() - t0);
    }
    process.stdout.write(JSON.stringify(pings));
    process.stdin.destroy();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    async stop() {
      child.stdin.end('stop');
      assert.equal(await exited, 0, 'the pinger got 200 each time');
      return JSON.parse(out) as number[];
    },
  };
}

describe('a node flooded with 5 MB events', () => {
  async function start(receiver: Record<string, unknown>) {
    const config = await writeTestConfig(tempDir(), {
      redis_url: redis.url,
      services: { callback_receiver: { workers: 2, batch_size: 1000, buffer_ms: 50, ...receiver } },
    });
    // The heap the probe crash-looped a thread with.
    const node = startNode(['--config', config.file], { NODE_OPTIONS: '--max-old-space-size=256' });
    after(() => node.stop('SIGKILL'));
    await node.waitForLog('ready');
    return { node, ports: config.ports };
  }
  const metric = async (port: number, series: string) => sampleValue((await scrape(port)).body, series) ?? NaN;
  const eventCount = async (port: number, job: number) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v2/jobs/${job}/job_events/?page_size=1`);
    return ((await res.json()) as { count: number }).count;
  };

  test('100 events of 5 MB among 3,000 good ones: the good are stored, the large dead-lettered cut short, no thread restarts, ping stays fast', async () => {
    await client.flushall();
    const batchBytes = 256 * 1024;
    const { node, ports } = await start({ batch_bytes: batchBytes });
    const job = 1;
    const good = syntheticEvents(job, 3000);
    const huge = Array.from({ length: 100 }, (_, i) => eventOf(job, 10_000 + i, 5 * MiB));

    const pinger = startPinger(ports.web);
    for (let i = 0; i < 100; i++) {
      await client.rpush(QUEUE, huge[i] as string, ...good.slice(i * 30, i * 30 + 30));
    }
    await waitFor('the 3,000 good events stored', async () => (await eventCount(ports.web, job)) === 3000, 120_000);
    await waitFor('100 dead letters', async () => (await client.llen(`${QUEUE}:dead`)) === 100, 60_000);
    const pings = await pinger.stop();

    const dead = await deadLetters(QUEUE);
    assert.ok(dead.every((d) => d.reason === 'oversized'));
    const longest = Math.max(...(await client.lrange(`${QUEUE}:dead`, 0, -1)).map((d) => Buffer.byteLength(d)));
    assert.ok(longest <= 5 * 1024, `each dead letter is cut short (the longest: ${longest} bytes)`);

    await waitFor('nothing held in memory', async () => (await metric(ports.callback_receiver, 'callback_receiver_events_in_memory')) === 0);
    const m = (await scrape(ports.callback_receiver)).body;
    assert.equal(sampleValue(m, 'callback_receiver_events_dead_lettered_total{reason="oversized"}'), 100, 'the counter matches the list');
    assert.equal(sampleValue(m, 'callback_receiver_dead_letters_dropped_total'), 0);
    assert.equal(sampleValue(m, 'callback_receiver_events_insert_db_total'), 3000);
    const batches = sampleValue(m, 'callback_receiver_batch_bytes_count') ?? 0;
    assert.ok(batches > 3000 * 1000 / batchBytes, `batches bounded by bytes: ${batches}`);
    assert.equal(sampleValue(m, `callback_receiver_batch_bytes_bucket{le="${batchBytes}"}`), batches, `every batch at most ${batchBytes} bytes`);
    assert.equal(await metric(ports.web, 'overseer_thread_restarts_total{service="callback_receiver"}'), 0, 'no receiver thread restarted');

    pings.sort((a, b) => a - b);
    const p99 = pings[Math.ceil(pings.length * 0.99) - 1] ?? Infinity;
    assert.ok(pings.length >= 20, `enough pings to measure (${pings.length})`);
    assert.ok(p99 < 100, `ping p99 ${p99.toFixed(1)} ms over ${pings.length} requests`);
    console.log(`# ping during the flood: ${pings.length} requests, p50 ${pings[Math.floor(pings.length / 2)]?.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; ${batches} batches`);
    assert.equal(await node.stop(), 0);
  });

  test('dead_letter_max 50: of 120 bad events (60 oversized, 60 invalid JSON), 50 stay and 70 are counted dropped', async () => {
    await client.flushall();
    const { node, ports } = await start({ dead_letter_max: 50, max_event_bytes: 64 * 1024 });
    const bad = Array.from({ length: 60 }, (_, i) => [eventOf(2, i + 1, 100 * 1024), `{"job_id": 2, "uuid": "broken-${i}"`]).flat();
    await client.rpush(QUEUE, ...bad);
    const counted = async () => {
      const m = (await scrape(ports.callback_receiver)).body;
      const dl = ['oversized', 'invalid_json'].map((r) => sampleValue(m, `callback_receiver_events_dead_lettered_total{reason="${r}"}`) ?? 0);
      return { oversized: dl[0], invalidJson: dl[1], dropped: sampleValue(m, 'callback_receiver_dead_letters_dropped_total') };
    };
    await waitFor('120 dead letters counted', async () => {
      const c = await counted();
      return (c.oversized ?? 0) + (c.invalidJson ?? 0) === 120;
    });
    assert.equal(await client.llen(`${QUEUE}:dead`), 50);
    assert.deepEqual(await counted(), { oversized: 60, invalidJson: 60, dropped: 70 });
    assert.equal(await metric(ports.web, 'overseer_thread_restarts_total{service="callback_receiver"}'), 0);
    assert.equal(await node.stop(), 0);
  });
});
