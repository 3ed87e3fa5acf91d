// The order `status --follow` and the status page print a job's output in: the API's stored events
// and the live ones overlap and arrive in any order; each counter is printed once, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterOrder } from '../../src/cli/follow-order.ts';

const e = (counter: number) => ({ counter, stdout: `line ${counter}` });
const counters = (events: readonly { counter: number }[]) => events.map((x) => x.counter);

test('the API backlog and live events overlap: each counter once, in order', () => {
  const order = new CounterOrder();
  // Live events held while the backlog is read.
  for (const c of [5, 6, 4]) order.add(e(c));
  assert.deepEqual(order.take(), []);
  for (const c of [1, 2, 3, 4, 5]) order.add(e(c));
  assert.deepEqual(counters(order.take()), [1, 2, 3, 4, 5, 6]);
  for (const c of [2, 6, 7]) order.add(e(c));
  assert.deepEqual(counters(order.take()), [7]);
  assert.equal(order.taken, 7);
  assert.equal(order.next, 8);
});

test('a gap holds back what follows it; skipped, it is printed late if it comes, and only once', () => {
  const order = new CounterOrder();
  order.add(e(1));
  order.add(e(3));
  assert.deepEqual(counters(order.take(1000)), [1]);
  assert.equal(order.gapSince, 1000);
  assert.equal(order.skipGap(), 1);
  assert.deepEqual(counters(order.take(2000)), [3]);
  assert.equal(order.gapSince, undefined);
  order.add(e(2));
  order.add(e(2));
  assert.deepEqual(counters(order.take()), [2], 'late, once');
  assert.deepEqual(order.take(), []);
});

test('at the end, whatever is held comes out in order, gaps skipped', () => {
  const order = new CounterOrder();
  for (const c of [9, 4, 2, 7]) order.add(e(c));
  assert.deepEqual(counters(order.drain()), [2, 4, 7, 9]);
  assert.equal(order.next, 10);
});
