// A websocket client that reads nothing never slows the callback receiver: while 100,000 events
// flow it is told why, dropped and counted, every event is stored, and a client that reads keeps
// getting every event in order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { pushEvents, syntheticEvents } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { LiveSocket } from './websocket-client.ts';

const N = 100_000;
const JOB = 777;

describe('a websocket client that reads nothing', () => {
  let node: NodeUnderTest;
  let ports: Awaited<ReturnType<typeof writeTestConfig>>['ports'];
  let redis: Redis;

  before(async () => {
    const cfg = await writeTestConfig(tempDir('overseer-ws-slow-'), { log_level: 'info' });
    ports = cfg.ports;
    node = startNode(['--config', cfg.file]);
    await node.waitForLog('ready');
    redis = new Redis({ path: join(cfg.dataDir, 'redis.sock') });
  });
  after(async () => {
    redis?.disconnect();
    assert.equal(await node?.stop(), 0);
  });

  test('is dropped and counted while 100,000 events are all stored, and a reading client gets them all in order', { timeout: 600_000 }, async () => {
    const stalled = await LiveSocket.open(ports.web);
    const reader = await LiveSocket.open(ports.web);
    await stalled.subscribe({ jobs: ['summary'], job_events: [JOB] });
    await reader.subscribe({ jobs: ['summary'], job_events: [JOB] });
    stalled.ws.pause(); // reads nothing from now on: its messages pile up in the kernel, then in the node

    await pushEvents(redis, 'callback_tasks', [...syntheticEvents(JOB, N), { job_id: JOB, event: 'EOF', final_counter: N }]);

    const live = async () => (await scrape(ports.websockets)).body;
    await waitFor('the stalled client dropped', async () => sampleValue(await live(), 'overseer_websocket_drops_total{reason="slow"}') === 1, 300_000);
    // Reading again (within seconds: one that reads nothing at all is cut off), the dropped client
    // finds why at the end of what it had been sent.
    stalled.ws.resume();
    const closed = await stalled.waitClosed(60_000);
    assert.equal(closed.code, 1008);
    const last = stalled.received.at(-1)!;
    assert.equal(last.close, true);
    assert.match(last.error as string, /^This client fell behind: \d+ bytes of messages were waiting to be read \(the limit is 8388608\)/);
    const got = stalled.events('job_events', JOB).map((e) => e.counter as number);
    assert.ok(got.length > 0 && got.length < N, `it had been sent ${got.length} events before it was dropped`);
    assert.ok(got.every((c, i) => c === i + 1), 'what it got was in order');
    const stored = async () => {
      const res = await fetch(`http://127.0.0.1:${ports.web}/api/v2/jobs/${JOB}/job_events/?page_size=1`);
      return ((await res.json()) as { count: number }).count;
    };
    await waitFor(`all ${N} events stored`, async () => (await stored()) === N, 300_000, 1000);
    const summary = await reader.next('the summary', (m) => m.unified_job_id === JOB && m.final_counter === N, 0, 120_000);
    const counters = reader.events('job_events', JOB).map((e) => e.counter as number);
    assert.equal(counters.length, N, 'the reading client got every event');
    assert.ok(counters.every((c, i) => c === i + 1), 'in counter order');
    assert.equal(reader.received.at(-1), summary);
    assert.equal(reader.closed, undefined, 'the reading client is still connected');

    const body = await live();
    assert.equal(sampleValue(body, 'overseer_websocket_connections'), 1, 'only the reader is left');
    assert.equal(sampleValue((await scrape(ports.callback_receiver)).body, 'callback_receiver_events_insert_db_total'), N);
    reader.close();
  });
});
