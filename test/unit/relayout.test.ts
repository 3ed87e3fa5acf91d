// cluster.peers changed by a config reload: the websockets service is laid out for the new peers,
// keeping what its ended threads counted for the peers that stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRecorder } from '../../src/metrics/recorder.ts';
import { layoutOf } from '../../src/metrics/layout.ts';
import { ServiceMetrics } from '../../src/metrics/service-metrics.ts';

const sent = (m: ServiceMetrics<'websockets'>) => {
  const index = m.layout.metrics.findIndex((x) => x.spec.name === 'overseer_relay_messages_total');
  return Object.fromEntries(m.family(index).samples.map((s) => [s.labels.peer, s.value]));
};

test('relayout keeps the counts of the peers that stay, drops the others, starts the new ones at 0', () => {
  const before = layoutOf('websockets', ['a', 'b']);
  const metrics = new ServiceMetrics('websockets', before);
  const thread = createRecorder('websockets', before);
  metrics.attach(7, thread.buffer);
  thread.metrics.relayMessages.labels('a').inc(5);
  thread.metrics.relayMessages.labels('b').inc(2);
  assert.throws(() => metrics.relayout(layoutOf('websockets', ['a', 'c'])), /still reporting/, 'not while a thread reports');
  metrics.detach(7);

  metrics.relayout(layoutOf('websockets', ['a', 'c']));
  assert.deepEqual(sent(metrics), { a: 5, c: 0 });
  const next = createRecorder('websockets', metrics.layout);
  metrics.attach(8, next.buffer);
  next.metrics.relayMessages.labels('a').inc();
  assert.deepEqual(sent(metrics), { a: 6, c: 0 }, 'the new thread adds to what the old one counted');
});
