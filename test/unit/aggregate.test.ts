// How the threads' numbers combine into what a scrape shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceMetrics } from '../../src/metrics/service-metrics.ts';
import { createRecorder } from '../../src/metrics/recorder.ts';
import { layoutFor } from '../../src/metrics/layout.ts';
import type { MetricSpec } from '../../src/metrics/metric-spec.ts';
import { OverseerError } from '../../src/errors.ts';

const specs: MetricSpec[] = (['sum', 'max', 'min', 'last'] as const).map((combine) => ({
  key: combine,
  service: 'dispatcher',
  name: `g_${combine}`,
  help: combine,
  type: 'gauge',
  labels: [],
  combine,
}));
const layout = layoutFor('dispatcher', specs);

const value = (sm: Pick<ServiceMetrics, 'families'>, name: string, series = name) =>
  sm.families().find((f) => f.name === name)?.samples.find((s) => (s.name ?? name) === series)?.value;

test('gauges combine over live threads by sum, max, min and last; a thread that never set one is left out', () => {
  const sm = new ServiceMetrics('dispatcher', layout);
  const threads = [1, 2, 3].map((id) => {
    const r = createRecorder('dispatcher', layout);
    sm.attach(id, r.buffer);
    return r.metrics as unknown as Record<string, { set(v: number): void }>;
  });
  const [a, b] = threads as [Record<string, { set(v: number): void }>, Record<string, { set(v: number): void }>];
  for (const k of ['sum', 'max', 'min', 'last']) a[k]!.set(5);
  for (const k of ['sum', 'max', 'min']) b[k]!.set(-2);
  assert.equal(value(sm, 'g_sum'), 3);
  assert.equal(value(sm, 'g_max'), 5);
  assert.equal(value(sm, 'g_min'), -2, 'thread 3 never set it: its 0 is not a minimum');
  assert.equal(value(sm, 'g_last'), 5);
  sm.detach(1);
  assert.equal(value(sm, 'g_sum'), -2, 'a gauge of a thread that ended is dropped');
  assert.equal(value(sm, 'g_last'), 0, 'no live thread set it: 0');
});

test('last: the most recently written thread wins', async () => {
  const sm = new ServiceMetrics('callback_receiver');
  const r1 = createRecorder('callback_receiver');
  const r2 = createRecorder('callback_receiver');
  sm.attach(1, r1.buffer);
  sm.attach(2, r2.buffer);
  r2.metrics.queueSize.set(20);
  const t = Date.now();
  while (Date.now() === t); // a later millisecond
  r1.metrics.queueSize.set(10);
  assert.equal(value(sm, 'callback_receiver_events_queue_size_redis'), 10);
});

test('histograms add up bucket by bucket across threads, cumulative, with +Inf, _sum and _count', () => {
  const sm = new ServiceMetrics('callback_receiver');
  const a = createRecorder('callback_receiver');
  const b = createRecorder('callback_receiver');
  sm.attach(1, a.buffer);
  sm.attach(2, b.buffer);
  for (const v of [5, 10, 11]) a.metrics.batchSize.observe(v); // 10 is in le=10
  for (const v of [600, 5000]) b.metrics.batchSize.observe(v);
  const fam = sm.families().find((f) => f.name === 'callback_receiver_batch_events_insert_db')!;
  const buckets = fam.samples.filter((s) => s.name?.endsWith('_bucket')).map((s) => [s.labels.le, s.value]);
  assert.deepEqual(buckets, [[10, 2], [50, 3], [150, 3], [350, 3], [650, 4], [2000, 4], ['+Inf', 5]]);
  assert.equal(fam.samples.find((s) => s.name?.endsWith('_sum'))?.value, 5626);
  assert.equal(fam.samples.find((s) => s.name?.endsWith('_count'))?.value, 5);
});

test('counters and histograms never go backwards when a thread ends', () => {
  const sm = new ServiceMetrics('callback_receiver');
  const seen: number[] = [];
  const popped = () => value(sm, 'callback_receiver_events_popped_redis_total') as number;
  for (let id = 1; id <= 3; id++) {
    const r = createRecorder('callback_receiver');
    sm.attach(id, r.buffer);
    r.metrics.eventsPopped.inc(1000);
    r.metrics.batchSize.observe(1);
    seen.push(popped());
    sm.detach(id);
    seen.push(popped());
  }
  assert.deepEqual(seen, [1000, 1000, 2000, 2000, 3000, 3000]);
  assert.equal(value(sm, 'callback_receiver_batch_events_insert_db', 'callback_receiver_batch_events_insert_db_count'), 3);
  assert.equal(sm.liveRegions, 0);
});

test('labelled series are kept apart', () => {
  const sm = new ServiceMetrics('web');
  const r = sm.localRecorder('supervisor');
  r.metrics.threadRestarts.labels('dispatcher').inc(2);
  r.metrics.threadRestarts.labels('websockets').inc();
  const fam = sm.families().find((f) => f.name === 'overseer_thread_restarts_total')!;
  assert.deepEqual(
    fam.samples.map((s) => [s.labels.service, s.value]),
    [['callback_receiver', 0], ['dispatcher', 2], ['websockets', 1]],
  );
});

test('a region of the wrong size is refused with a code', () => {
  const sm = new ServiceMetrics('callback_receiver');
  assert.throws(() => sm.attach(9, new SharedArrayBuffer(8)), (err: unknown) => err instanceof OverseerError && err.code === 'OVERSEER_METRIC_REGION');
});
