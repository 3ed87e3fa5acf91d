// A metrics port sends pooled bytes: each answer is prom-client's text of the values at its scrape,
// over GET and HEAD, in both formats, and an answer still being sent to a slow reader is never
// overwritten by the scrapes that come after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { ServiceMetrics } from '../../src/metrics/service-metrics.ts';
import { ServiceExposition, type FamilySource } from '../../src/metrics/exposition.ts';
import type { Family } from '../../src/metrics/aggregate.ts';
import { closeServer, createMetricsServer, listen } from '../../src/web/metrics-server.ts';
import { createLogger } from '../../src/logger.ts';
import { waitFor } from '../helpers/wait-for.ts';

const OM = 'application/openmetrics-text; version=1.0.0';

async function start(sources: readonly FamilySource[]) {
  const exposition = new ServiceExposition(sources);
  const server = await listen(createMetricsServer(exposition, createLogger('silent')), '127.0.0.1', 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  return { exposition, server, url };
}

test("GET and HEAD /metrics answer prom-client's text of the values of the moment, in both formats, scrape after scrape", async () => {
  const sm = new ServiceMetrics('callback_receiver');
  const rec = sm.localRecorder('t').metrics;
  const { exposition, server, url } = await start(sm.sources());
  try {
    for (let i = 0; i < 20; i++) {
      rec.eventsPopped.inc(i * 1000 + 1);
      rec.queueSize.set(i % 3 === 0 ? NaN : i / 7);
      rec.batchSize.observe(i * 37);
      for (const accept of [undefined, OM]) {
        const res = await fetch(url, accept === undefined ? {} : { headers: { accept } });
        const expected = await exposition.renderWithPromClient(accept);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), expected.contentType);
        assert.equal(await res.text(), expected.body, `scrape ${i}, ${accept ?? 'text'}`);
      }
    }
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), Buffer.byteLength((await exposition.renderWithPromClient(undefined)).body));
    assert.equal(await head.text(), '');
  } finally {
    await closeServer(server);
  }
});

test('an answer a slow client has not read yet stays whole while other clients scrape changed values', async () => {
  // Megabytes, so that the kernel's socket buffers fill and the answer waits in the process until read.
  let generation = 0;
  let collected = 0;
  const big: FamilySource = {
    name: 'big_series',
    help: 'Many series.',
    type: 'gauge',
    collect: (): Family => {
      collected++;
      const g = generation;
      return { name: 'big_series', help: 'Many series.', type: 'gauge', samples: Array.from({ length: 100_000 }, (_, i) => ({ labels: { series: `series-number-${i}` }, value: g * 1e6 + i })) };
    },
  };
  const sm = new ServiceMetrics('callback_receiver');
  const rec = sm.localRecorder('t').metrics;
  rec.eventsPopped.inc(1);
  const { exposition, server, url } = await start([...sm.sources(), big]);
  const slow = connect((server.address() as AddressInfo).port, '127.0.0.1');
  try {
    slow.pause();
    slow.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor('the slow client to be answered', () => collected === 1);
    await new Promise((resolve) => setImmediate(resolve)); // the answer is handed to the socket in the same turn
    const expected = (await exposition.renderWithPromClient(undefined)).body;
    assert.ok(expected.length > 4_000_000, `${expected.length} bytes`);

    for (let i = 0; i < 3; i++) {
      generation++;
      rec.eventsPopped.inc(1000);
      const body = await (await fetch(url)).text();
      assert.equal(body, (await exposition.renderWithPromClient(undefined)).body, `fast scrape ${i}`);
    }

    const chunks: Buffer[] = [];
    slow.on('data', (chunk: Buffer) => chunks.push(chunk));
    slow.resume();
    const whole = await waitFor('the slow answer', () => {
      const text = Buffer.concat(chunks).toString();
      const at = text.indexOf('\r\n\r\n');
      return at >= 0 && text.length - at - 4 >= expected.length ? text.slice(at + 4) : undefined;
    });
    assert.equal(whole, expected, 'the slow client got the values of its own scrape, whole');
  } finally {
    slow.destroy();
    await closeServer(server);
  }
});
