import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSnapshot, takeSnapshot } from '../../src/cluster/snapshot.ts';
import { mergeFamilies } from '../../src/cluster/cluster-view.ts';
import { signFrame, verifyFrame } from '../../src/cluster/relay-protocol.ts';
import type { Family } from '../../src/metrics/aggregate.ts';

const family = (value: number): Family => ({ name: 'g', help: 'h', type: 'gauge', samples: [{ labels: {}, value }] });
const source = (value: number) => ({ name: 'g', help: 'h', type: 'gauge' as const, collect: () => family(value) });

test('a snapshot survives JSON with NaN and infinities, which Prometheus values may be', async () => {
  for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5]) {
    const snap = await takeSnapshot('web', [source(v)], 'a', '1.0.0', 2000);
    const back = parseSnapshot(JSON.stringify(snap), snap.at);
    assert.ok('snapshot' in back, JSON.stringify(back));
    assert.ok(Object.is(back.snapshot.families[0]?.samples[0]?.value, v));
  }
});

test('malformed, other-format and expired snapshots are refused with their reason', async () => {
  const snap = await takeSnapshot('web', [source(1)], 'a', '1.0.0', 1000);
  const reason = (text: string, now = snap.at) => {
    const r = parseSnapshot(text, now);
    return 'rejected' in r ? r.rejected : 'ok';
  };
  assert.equal(reason(JSON.stringify(snap)), 'ok');
  assert.equal(reason('{'), 'malformed');
  assert.equal(reason(JSON.stringify({ ...snap, families: [{ name: 'x' }] })), 'malformed');
  assert.equal(reason(JSON.stringify({ ...snap, format: 2 })), 'format');
  assert.equal(reason(JSON.stringify(snap), snap.at + 3001), 'expired');
});

test('families merge across nodes: one per name, a node label on each sample, a type conflict left out', async () => {
  const a = await takeSnapshot('web', [source(1)], 'a', '1', 1000);
  const b = await takeSnapshot('web', [source(2)], 'b', '1', 1000);
  const c = { ...(await takeSnapshot('web', [source(3)], 'c', '1', 1000)), families: [{ ...family(3), type: 'counter' as const }] };
  const merged = mergeFamilies([b, c, a], { nodes: new Set(), metrics: new Set(), service: undefined });
  assert.equal(merged.length, 1);
  assert.deepEqual(merged[0]?.samples.map((s) => [s.labels.node, s.value]), [['a', 1], ['b', 2]]);
});

test('relay messages: a signature made with another secret, or too old, is refused', () => {
  const m = Buffer.from(signFrame('secret-one-0123456789', 'a b', '{"x":1}'));
  const ok = verifyFrame('secret-one-0123456789', m);
  assert.ok('message' in ok && ok.message.node === 'a b' && ok.message.snapshot === '{"x":1}', JSON.stringify(ok));
  assert.deepEqual(Object.keys(verifyFrame('secret-two-0123456789', m)), ['rejected', 'detail']);
  const old = Buffer.from(signFrame('secret-one-0123456789', 'a', '{"x":1}', Date.now() - 600_000));
  assert.equal((verifyFrame('secret-one-0123456789', old) as { rejected: string }).rejected, 'signature');
  assert.equal((verifyFrame('secret-one-0123456789', Buffer.from('{"node":"a"}')) as { rejected: string }).rejected, 'malformed');
});
