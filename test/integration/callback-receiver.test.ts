// The callback receiver as a user sees it: events RPUSHed to Redis show up in the API, counted on
// the metrics port, once each; garbage goes to the dead-letter list; a killed node loses nothing.
// The same tests run against SQLite and PostgreSQL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { fixtureEvents, pushEvents, syntheticEvents } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait-for.ts';

const QUEUE = 'callback_tasks';

interface Running {
  node: NodeUnderTest;
  ports: { web: number; callback_receiver: number };
  file: string;
}

async function api<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  assert.equal(res.status, 200, `${path} answers 200`);
  return (await res.json()) as T;
}

const eventCount = async (port: number, job: number) =>
  (await api<{ count: number }>(port, `/api/v2/jobs/${job}/job_events/?page_size=1`)).count;

async function metric(port: number, series: string): Promise<number> {
  return sampleValue((await scrape(port)).body, series) ?? NaN;
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`callback receiver on ${backend}`, () => {
    let redis: TestRedis;
    let client: Redis;
    let databaseUrl = '';
    let stopPostgres: () => Promise<void> = async () => {};
    let postgres: Awaited<ReturnType<typeof startTestPostgres>> | undefined;

    before(async () => {
      redis = await startTestRedis();
      client = new Redis(redis.url);
      if (backend === 'postgres') {
        const pg = await startTestPostgres();
        postgres = pg;
        stopPostgres = pg.stop;
        databaseUrl = await pg.createDatabase();
      }
    });
    after(async () => {
      client.disconnect();
      await redis.stop();
      await stopPostgres();
    });

    async function start(again?: Running): Promise<Running> {
      const config = again
        ? again
        : await writeTestConfig(tempDir(), {
            redis_url: redis.url,
            database_url: databaseUrl,
            services: { callback_receiver: { workers: 2, batch_size: 500, buffer_ms: 50 } },
          });
      const node = startNode(['--config', config.file]);
      after(() => node.stop('SIGKILL'));
      await node.waitForLog('ready');
      return { node, ports: config.ports, file: config.file };
    }

    test('293 real events: all stored in counter order, host summaries right, stream complete, metrics match', async () => {
      await client.flushall();
      const { node, ports } = await start();
      const job = 101;
      await pushEvents(client, QUEUE, [...fixtureEvents(job), { job_id: job, event: 'EOF', final_counter: 293 }]);

      await waitFor('293 events in the API', async () => (await eventCount(ports.web, job)) === 293);
      const counters: number[] = [];
      for (let page = 1; page <= 2; page++) {
        const body = await api<{ results: { counter: number; job: number }[] }>(ports.web, `/api/v2/jobs/${job}/job_events/?page=${page}&page_size=200&order_by=counter`);
        counters.push(...body.results.map((r) => r.counter));
      }
      assert.deepEqual(counters, Array.from({ length: 293 }, (_, i) => i + 1));

      const summaries = await api<{ count: number; results: Record<string, unknown>[] }>(ports.web, `/api/v2/jobs/${job}/job_host_summaries/`);
      assert.equal(summaries.count, 3);
      assert.deepEqual(
        summaries.results.map(({ host_name, ok, changed, ignored, skipped, failures, dark, processed, failed }) => ({ host_name, ok, changed, ignored, skipped, failures, dark, processed, failed })),
        ['h1', 'h2', 'h3'].map((h) => ({ host_name: h, ok: 19, changed: 5, ignored: 1, skipped: 1, failures: 0, dark: 0, processed: 1, failed: false })),
      );

      await waitFor('the stream to be marked complete', async () => (await metric(ports.callback_receiver, 'callback_receiver_job_streams_completed_total')) === 1);
      // Other threads may still be finishing a flush of their own: wait for them to let go.
      await waitFor('nothing held in memory', async () => (await metric(ports.callback_receiver, 'callback_receiver_events_in_memory')) === 0);
      const m = (await scrape(ports.callback_receiver)).body;
      assert.equal(sampleValue(m, 'callback_receiver_events_insert_db_total'), 293, 'inserted matches the database');
      assert.equal(sampleValue(m, 'callback_receiver_events_popped_redis_total'), 294, '293 events and the EOF');
      assert.equal(sampleValue(m, 'callback_receiver_events_in_memory'), 0, 'nothing held once the queue is drained');
      assert.equal(sampleValue(m, 'callback_receiver_events_duplicate_total'), 0);
      assert.equal(sampleValue(m, 'callback_receiver_event_processing_lag_seconds_count'), 293);
      assert.ok((sampleValue(m, 'callback_receiver_batch_events_insert_db_count') as number) >= 1);
      assert.ok((sampleValue(m, 'callback_receiver_events_insert_db_seconds_total') as number) > 0);
      await waitFor('the sampled queue size to reach 0', async () => (await metric(ports.callback_receiver, 'callback_receiver_events_queue_size_redis')) === 0);
      assert.equal(await node.stop(), 0);
    });

    test('the same events pushed twice are stored once, and the second copies are counted as duplicates', async () => {
      await client.flushall();
      const { node, ports } = await start();
      const job = 202;
      await pushEvents(client, QUEUE, fixtureEvents(job));
      await waitFor('first copy stored', async () => (await eventCount(ports.web, job)) === 293);
      await pushEvents(client, QUEUE, fixtureEvents(job));
      await waitFor('duplicates counted', async () => (await metric(ports.callback_receiver, 'callback_receiver_events_duplicate_total')) === 293);
      assert.equal(await eventCount(ports.web, job), 293);
      assert.equal(await metric(ports.callback_receiver, 'callback_receiver_events_insert_db_total'), 293);
      assert.equal(await node.stop(), 0);
    });

    test('garbage is dead-lettered with its reason; the good events around it are stored, NULs stripped', async () => {
      await client.flushall();
      const { node, ports } = await start();
      const job = 303;
      const good = fixtureEvents(job).slice(0, 10);
      const withNul: Record<string, unknown> = { ...good[3], stdout: 'before\u0000after', event_data: { ...(good[3]?.event_data as object), note: 'x\u0000y' } };
      const big = { ...good[4], uuid: 'big', stdout: 'x'.repeat(10 * 1024 * 1024) };
      const noUuid = { ...good[5], uuid: undefined };
      const stringJob = { ...good[6], job_id: String(job) };
      // Nesting deep enough to overflow the stack while reading it: it must not crash the loop over and over.
      const deep = `{"job_id": ${job}, "uuid": "deep", "counter": 99, "event": "x", "stdout": "\\u0000", "event_data": {"d": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
      const payloads = [good[0], good[1], '{"job_id": 303, "uuid": ', good[2], withNul, big, noUuid, stringJob, '[1,2]', deep, ...good.slice(7)];
      await pushEvents(client, QUEUE, payloads as (string | object)[]);

      await waitFor('the seven good events stored', async () => (await eventCount(ports.web, job)) === 7);
      const dead = await waitFor('six dead letters', async () => {
        const list = await client.lrange(`${QUEUE}:dead`, 0, -1);
        return list.length === 6 ? list.map((d) => JSON.parse(d) as { reason: string; detail: string; payload: string }) : undefined;
      });
      assert.deepEqual(dead.map((d) => d.reason).sort(), ['invalid_event', 'invalid_event', 'invalid_event', 'invalid_json', 'missing_uuid', 'oversized']);
      assert.match(dead.find((d) => d.payload === deep)?.detail ?? '', /^cannot be read: Maximum call stack size exceeded/);
      assert.equal(dead.find((d) => d.reason === 'invalid_json')?.payload, '{"job_id": 303, "uuid": ', 'the original payload is kept');
      assert.match(dead.find((d) => d.payload.includes('"job_id":"303"'))?.detail ?? '', /job_id must be a positive integer, got "303"/);

      const events = (await api<{ results: { uuid: string; stdout: string; event_data: { note?: string } }[] }>(ports.web, `/api/v2/jobs/${job}/job_events/?page_size=50`)).results;
      const stripped = events.find((e) => e.uuid === withNul.uuid);
      assert.equal(stripped?.stdout, 'beforeafter');
      assert.equal(stripped?.event_data.note, 'xy');

      const m = (await scrape(ports.callback_receiver)).body;
      assert.equal(sampleValue(m, 'callback_receiver_events_dead_lettered_total{reason="invalid_event"}'), 3);
      assert.equal(sampleValue(m, 'callback_receiver_events_dead_lettered_total{reason="oversized"}'), 1);
      assert.equal(sampleValue(m, 'callback_receiver_events_dead_lettered_total{reason="missing_uuid"}'), 1);
      assert.equal(sampleValue(m, 'callback_receiver_events_dead_lettered_total{reason="invalid_json"}'), 1);
      assert.equal(sampleValue(m, 'callback_receiver_events_insert_db_total'), 7);
      assert.equal(await metric(ports.web, 'overseer_thread_restarts_total{service="callback_receiver"}'), 0, 'nothing crashed a thread');
      assert.equal(await node.stop(), 0);
    });

    test('the database down for a while: no event is dead-lettered, all are saved once it is back', { skip: backend !== 'postgres' }, async () => {
      await client.flushall();
      const { node, ports } = await start();
      const job = 505;
      const events = syntheticEvents(job, 5000);
      await pushEvents(client, QUEUE, events.slice(0, 1000));
      await waitFor('the first events stored', async () => (await eventCount(ports.web, job)) === 1000);
      await postgres!.halt();
      await pushEvents(client, QUEUE, events.slice(1000));
      await waitFor('the receivers to notice and restart', async () => (await metric(ports.web, 'overseer_thread_restarts_total{service="callback_receiver"}')) >= 1);
      await postgres!.restart();
      await waitFor('all 5000 stored', async () => (await eventCount(ports.web, job)) === 5000, 60_000);
      assert.equal(await client.llen(`${QUEUE}:dead`), 0, 'an outage is not a reason to dead-letter');
      assert.equal(await metric(ports.callback_receiver, 'callback_receiver_events_dead_lettered_total{reason="insert_failed"}'), 0);
      assert.equal(await node.stop(), 0);
    });

    test('kill -9 of the whole node while 100,000 events are ingested: after restart exactly 100,000 are stored', async () => {
      await client.flushall();
      const first = await start();
      const job = 404;
      const events = syntheticEvents(job, 100_000);
      const pushing = pushEvents(client, QUEUE, events);
      await waitFor('ingestion under way', async () => (await metric(first.ports.callback_receiver, 'callback_receiver_events_insert_db_total')) >= 5000, 60_000);
      first.node.child.kill('SIGKILL');
      await first.node.exited;
      await pushing;
      const second = await start(first);
      await waitFor('all 100,000 stored', async () => (await eventCount(second.ports.web, job)) === 100_000, 120_000);
      assert.equal(await client.llen(QUEUE), 0, 'the queue is drained');
      // The last batch's list is deleted just after its commit: wait for it rather than race it.
      await waitFor('no processing list left', async () => (await client.keys(`${QUEUE}:processing:*`)).length === 0);
      assert.equal(await client.llen(`${QUEUE}:dead`), 0);
      assert.equal(await eventCount(second.ports.web, job), 100_000, 'still exactly 100,000');
      assert.equal(await second.node.stop(), 0);
    });
  });
}
