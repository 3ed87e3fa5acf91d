// The advice of npm run status, from crafted figures: each rule fires on its numbers, names the
// metric and threshold it read and the key to change, and stays quiet on a node that keeps up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketQuantile, nodeStatuses, type Reading } from '../../src/cli/cluster-status.ts';
import { statusAdvice } from '../../src/cli/status-advice.ts';
import type { NodeStatus } from '../../src/cli/cluster-status.ts';

const calm: NodeStatus = {
  name: 'a', version: '0.1.0', status: 'healthy', ageSeconds: 0.5, threads: { callback_receiver: 4, dispatcher: 2, websockets: 1 },
  windowSeconds: 2, inserted: 10_000, insertedPerSecond: 5000, queue: 0, queueGrowthPerSecond: 0, lagAvgSeconds: 0.05, lagP99Seconds: 0.2,
  lagInWindow: true, cpuCores: 0.5, dispatcherThreads: 2, dispatcherMaxThreads: 8, dispatcherAvailability: 0.9, jobsRunning: 1, jobsPending: 0,
  capacity: 100, consumedCapacity: 10,
};

test('a node that keeps up gets no advice', () => {
  assert.deepEqual(statusAdvice([calm], 8), []);
});

test('a growing queue with lag p99 over 2 s and idle CPU: raise the receiver workers', () => {
  const [advice, ...rest] = statusAdvice([{ ...calm, queue: 40_000, queueGrowthPerSecond: 1500, lagP99Seconds: 4 }], 8);
  assert.equal(rest.length, 0);
  assert.match(advice ?? '', /callback_receiver_events_queue_size_redis grows 1,500\/s \(now 40,000\)/);
  assert.match(advice ?? '', /callback_receiver_event_processing_lag_seconds p99 is 4\.0 s \(> 2 s\)/);
  assert.match(advice ?? '', /while CPU is idle \(process_cpu_seconds_total rate 0\.50 cores of 8 CPUs, < 50%\)/);
  assert.match(advice ?? '', /raise services\.callback_receiver\.workers \(now 4\)/);
});

test('a draining queue or a low lag gives no receiver advice', () => {
  assert.deepEqual(statusAdvice([{ ...calm, queue: 40_000, queueGrowthPerSecond: -500, lagP99Seconds: 4 }], 8), []);
  assert.deepEqual(statusAdvice([{ ...calm, queue: 40_000, queueGrowthPerSecond: 500, lagP99Seconds: 1.5 }], 8), []);
});

test('saturated CPU: add a node, not threads', () => {
  const advice = statusAdvice([{ ...calm, cpuCores: 7.5, queue: 40_000, queueGrowthPerSecond: 1500, lagP99Seconds: 4 }], 8);
  assert.equal(advice.length, 1);
  assert.match(advice[0] ?? '', /CPU is saturated \(process_cpu_seconds_total rate 7\.50 cores of 8 CPUs, ≥ 85%\).*add a node/);
});

test('dispatcher availability under 0.1: raise max_workers', () => {
  const advice = statusAdvice([{ ...calm, dispatcherAvailability: 0.05 }], 8);
  assert.deepEqual(advice, ['a: the dispatcher has no idle thread: dispatcher_availability 0.05 (< 0.1) at both readings: raise services.dispatcher.max_workers (now 8).']);
});

test('pending jobs with capacity used up: raise capacity or add a node', () => {
  const advice = statusAdvice([{ ...calm, jobsPending: 3, consumedCapacity: 100 }], 8);
  assert.equal(advice.length, 1);
  assert.match(advice[0] ?? '', /dispatcher_jobs\{status="pending"\} 3 with instance_consumed_capacity 100 ≥ instance_capacity 100: raise services\.dispatcher\.capacity/);
});

test('a stale or lost node: check it', () => {
  const advice = statusAdvice([{ ...calm, name: 'b', status: 'lost', ageSeconds: 120 }], 8);
  assert.match(advice[0] ?? '', /^b: check the node: \/api\/v2\/instances\/ says lost \(newest snapshot 120\.0 s old/);
});

test('rates and the lag p99 come from the difference of two readings', () => {
  const reading = (at: string, inserted: number, queue: number, buckets: [number, number][], cpu: number): Reading => ({
    nodes: [{ node: 'a', service: 'web', at }],
    families: [
      { name: 'callback_receiver_events_insert_db_total', type: 'counter', samples: [{ labels: { node: 'a' }, value: inserted }] },
      { name: 'callback_receiver_events_queue_size_redis', type: 'gauge', samples: [{ labels: { node: 'a' }, value: queue }] },
      { name: 'process_cpu_seconds_total', type: 'counter', samples: [{ labels: { node: 'a' }, value: cpu }] },
      {
        name: 'callback_receiver_event_processing_lag_seconds',
        type: 'histogram',
        samples: [
          ...buckets.map(([le, n]) => ({ name: 'callback_receiver_event_processing_lag_seconds_bucket', labels: { le, node: 'a' }, value: n })),
          { name: 'callback_receiver_event_processing_lag_seconds_sum', labels: { node: 'a' }, value: buckets.at(-1)?.[1] ?? 0 },
          { name: 'callback_receiver_event_processing_lag_seconds_count', labels: { node: 'a' }, value: buckets.at(-1)?.[1] ?? 0 },
        ],
      },
    ],
  });
  const before = reading('2026-01-01T00:00:00.000Z', 1000, 100, [[1, 1000], [5, 1000], [Infinity, 1000]], 10);
  // 2,000 events saved in the window, all between 1 s and 5 s: the old fast ones no longer count.
  const after = reading('2026-01-01T00:00:02.000Z', 3000, 4100, [[1, 1000], [5, 3000], [Infinity, 3000]], 11);
  const [n] = nodeStatuses(before, after, [{ name: 'a', version: '1', status: 'healthy', age_seconds: 0 }]);
  assert.equal(n?.insertedPerSecond, 1000);
  assert.equal(n?.queueGrowthPerSecond, 2000);
  assert.equal(n?.cpuCores, 0.5);
  assert.ok(n?.lagP99Seconds !== null && Math.abs((n?.lagP99Seconds ?? 0) - 4.96) < 1e-9, `p99 ${n?.lagP99Seconds}`);
  assert.equal(bucketQuantile(0.5, new Map([[1, 0], [Infinity, 0]])), null);
});
