import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRecorder } from '../../src/metrics/recorder.ts';
import { OverseerError } from '../../src/errors.ts';

test('handles write the shared region, typed by the catalog', () => {
  const r = createRecorder('callback_receiver');
  r.metrics.eventsInserted.inc(3);
  r.metrics.eventsInserted.inc();
  assert.ok(new Float64Array(r.buffer).includes(4));
});

test('a counter refuses a negative increment; an undeclared label value is refused', () => {
  const r = createRecorder('web');
  assert.throws(() => r.metrics.threadRestarts.labels('dispatcher').inc(-1), (e: unknown) => e instanceof OverseerError && e.code === 'OVERSEER_METRIC_NEGATIVE');
  // @ts-expect-error: the catalog declares the label values, so a wrong one does not type-check
  assert.throws(() => r.metrics.threads.labels('nope'), (e: unknown) => e instanceof OverseerError && e.code === 'OVERSEER_METRIC_LABEL' && /overseer_threads has no series for labels \["nope"\]/.test(e.message));
  // @ts-expect-error: a labelled metric has no inc() of its own
  assert.equal(typeof r.metrics.threadRestarts.inc, 'undefined');
});
