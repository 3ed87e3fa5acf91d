// What a scraper receives is byte for byte what prom-client writes for the same values, in both
// formats, however the values move between scrapes and whichever series come and go: our renderer
// keeps text between scrapes, and prom-client stays the format's authority.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ServiceMetrics } from '../../src/metrics/service-metrics.ts';
import { ServiceExposition, type FamilySource } from '../../src/metrics/exposition.ts';
import { createRecorder } from '../../src/metrics/recorder.ts';
import { layoutFor } from '../../src/metrics/layout.ts';
import type { MetricSpec } from '../../src/metrics/metric-spec.ts';
import type { Family } from '../../src/metrics/aggregate.ts';
import { renderFamilies } from '../../src/metrics/text-format.ts';

const OM = 'application/openmetrics-text; version=1.0.0';
const ACCEPTS = [undefined, OM] as const;

const AWKWARD = ['a"quote', 'back\\slash', 'new\nline', 'plain'];
const KINDS = ['nan', 'pinf', 'ninf', 'int', 'frac', 'neg', 'big', 'tiny'];
const svc = 'dispatcher' as const;
const SPECS: MetricSpec[] = [
  { key: 'plain', service: svc, name: 't_plain_total', help: 'A plain counter.', type: 'counter', labels: [] },
  { key: 'lab', service: svc, name: 't_paths_total', help: 'Help with a \\ backslash,\na newline and "quotes".', type: 'counter', labels: [{ name: 'path', values: AWKWARD }] },
  { key: 'val', service: svc, name: 't_value', help: 'Every kind of number.', type: 'gauge', combine: 'last', labels: [{ name: 'kind', values: KINDS }] },
  { key: 'none', service: svc, name: 't_empty', help: 'A family without series.', type: 'gauge', combine: 'sum', labels: [{ name: 'x', values: [] }] },
  { key: 'hist', service: svc, name: 't_seconds', help: 'A labelled histogram.', type: 'histogram', buckets: [0.005, 0.1, 1, 2.5, 10], labels: [{ name: 'kind', values: ['a', 'b'] }] },
  { key: 'small', service: svc, name: 't_size', help: 'An unlabelled histogram.', type: 'histogram', buckets: [1, 5], labels: [] },
  { key: 'peer', service: svc, name: 't_peer_messages_total', help: 'One series per peer.', type: 'counter', labels: [{ name: 'peer', values: 'peers' }] },
];

type Any = { inc(n?: number): void; set(v: number): void; observe(v: number): void; labels(...v: string[]): Any };

/** prom-client's own metrics for SPECS, every declared series touched (ours has each from the start, at 0). */
function nativeTwin(registry: Registry, peers: readonly string[]): Map<string, Any> {
  const native = new Map<string, Any>();
  for (const s of SPECS) {
    const base = { name: s.name, help: s.help, labelNames: s.labels.map((l) => l.name), registers: [registry] };
    const m = s.type === 'counter' ? new Counter(base) : s.type === 'gauge' ? new Gauge(base) : new Histogram({ ...base, buckets: [...s.buckets] });
    native.set(s.key, m as unknown as Any);
    const label = s.labels[0];
    const values = label === undefined ? [] : label.values === 'peers' ? peers : label.values;
    for (const v of values) {
      if (m instanceof Histogram) m.zero({ [label?.name as string]: v });
      else if (m instanceof Counter) m.labels(v).inc(0);
      else m.labels(v).set(0);
    }
  }
  return native;
}

/**
 * Our service over SPECS and prom-client's own metrics of the same names, recorded alike: one set
 * per format, since rendering OpenMetrics renames prom-client's counters for good (it drops _total).
 */
function twins(peers: readonly string[]) {
  const sm = new ServiceMetrics(svc, layoutFor(svc, SPECS, peers));
  const registries = { text: new Registry(), openmetrics: new Registry() };
  registries.openmetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  const natives = [nativeTwin(registries.text, peers), nativeTwin(registries.openmetrics, peers)];
  let ours = new Map<string, Any>();
  const thread = (id: number) => {
    const r = createRecorder(svc, sm.layout);
    sm.attach(id, r.buffer);
    ours = new Map(Object.entries(r.metrics as unknown as Record<string, Any>));
  };
  thread(1);
  /** Records the same thing into ours and prom-client's. */
  const both = (key: string, labels: string[], op: (m: Any) => void) => {
    for (const m of [ours.get(key), ...natives.map((n) => n.get(key))]) op(labels.length === 0 ? (m as Any) : (m as Any).labels(...labels));
  };
  /** Does something to each of prom-client's metric `key`. */
  const native = (key: string, op: (m: Counter) => void) => natives.forEach((n) => op(n.get(key) as unknown as Counter));
  return { sm, registries, native, both, thread };
}

// prom-client's own Histogram writes `le` first in a labelled series; ours writes it last, as every
// release did (and as Prometheus' Go client does). Prometheus does not care; the values must agree.
const leLast = (text: string) => text.replace(/\{le="([^"]*)",([^}]*)\}/g, '{$2,le="$1"}');

/**
 * Our answer is byte for byte prom-client's Registry rendering the same families (the format), and
 * prom-client's own metrics recorded alike give the same samples and values (the semantics).
 */
async function assertSame(ex: ServiceExposition, registries: Record<'text' | 'openmetrics', Registry>, what: string): Promise<void> {
  for (const accept of ACCEPTS) {
    const label = `${what}, ${accept ?? 'text'}`;
    const reference = await ex.renderWithPromClient(accept);
    const got = await ex.render(accept);
    assert.equal(got.contentType, reference.contentType, label);
    assert.equal(got.body, reference.body, label);
    const bytes = await ex.renderBytes(accept);
    assert.equal(bytes.body.toString(), reference.body, `${label}, as bytes`);
    bytes.release();
    const registry = accept === undefined ? registries.text : registries.openmetrics;
    assert.equal(got.body, leLast(await registry.metrics()), `${label}: against prom-client's own metrics`);
  }
}

test("counters, gauges, histograms, awkward labels and every kind of number: prom-client's own metrics' text, byte for byte, as values move", async () => {
  const { sm, registries, both } = twins(['p1', 'p2']);
  const ex = new ServiceExposition(sm.sources());
  await assertSame(ex, registries, 'nothing recorded');

  both('plain', [], (m) => m.inc(3));
  for (const [i, path] of AWKWARD.entries()) both('lab', [path], (m) => m.inc(0.1 * (i + 1)));
  const numbers: Record<string, number> = { nan: NaN, pinf: Infinity, ninf: -Infinity, int: 42, frac: 0.1 + 0.2, neg: -7.25, big: 1e21, tiny: 1e-7 };
  for (const kind of KINDS) both('val', [kind], (m) => m.set(numbers[kind] as number));
  for (const v of [0.001, 0.05, 0.05, 3, 11]) both('hist', ['a'], (m) => m.observe(v));
  both('small', [], (m) => m.observe(7)); // above every bucket: +Inf only
  both('peer', ['p2'], (m) => m.inc());
  await assertSame(ex, registries, 'first values');
  await assertSame(ex, registries, 'the same values again (kept text)');

  // Some values change, most stay: the kept text of the changed ones must not be served.
  both('plain', [], (m) => m.inc());
  both('val', ['int'], (m) => m.set(43));
  both('val', ['nan'], (m) => m.set(1.5));
  both('val', ['frac'], (m) => m.set(NaN));
  both('hist', ['b'], (m) => m.observe(0.1));
  both('small', [], (m) => m.observe(2));
  await assertSame(ex, registries, 'after changes');
  both('val', ['int'], (m) => m.set(42)); // back to a value spelled before
  await assertSame(ex, registries, 'a value back to an earlier one');
});

test('series that appear and disappear (cluster.peers changed) are never served stale', async () => {
  const { sm, registries, native, both, thread } = twins(['p1', 'p2']);
  const ex = new ServiceExposition(sm.sources());
  both('peer', ['p1'], (m) => m.inc(5));
  both('peer', ['p2'], (m) => m.inc(2));
  both('hist', ['a'], (m) => m.observe(0.5));
  await assertSame(ex, registries, 'peers p1, p2');

  sm.detach(1);
  sm.relayout(layoutFor(svc, SPECS, ['p2', 'p3']));
  native('peer', (m) => m.remove('p1'));
  native('peer', (m) => m.labels('p3').inc(0));
  thread(2);
  both('peer', ['p3'], (m) => m.inc(4));
  both('hist', ['a'], (m) => m.observe(0.5));
  await assertSame(ex, registries, 'peers p2, p3 after a relayout');

  sm.detach(2);
  sm.relayout(layoutFor(svc, SPECS, []));
  native('peer', (m) => m.reset());
  await assertSame(ex, registries, 'no peers: an empty family');
});

/** A source whose family we change at will, formatted by collect() alone (no fixed series). */
function changing(name: string, type: Family['type'], help: string) {
  let family: Family = { name, help, type, samples: [] };
  const source: FamilySource = { name, help, type, collect: () => family };
  return { source, set: (f: Partial<Family>) => (family = { ...family, ...f }) };
}

test("collected families (computed metrics, process metrics, the cluster view's) match prom-client's rendering of the same values", async () => {
  const a = changing('c_requests_total', 'counter', 'Requests.');
  const b = changing('g_lag_seconds', 'gauge', 'Lag, with a \\ and a\nnewline.');
  const h = changing('h_bytes', 'histogram', 'Bytes.');
  const e = changing('g_none', 'gauge', 'Nothing yet.');
  const ex = new ServiceExposition([a.source, b.source, h.source, e.source]);
  const reference = async (accept: string | undefined) => (await ex.renderWithPromClient(accept)).body;
  const check = async (what: string) => {
    for (const accept of ACCEPTS) {
      assert.equal((await ex.render(accept)).body, await reference(accept), `${what}, ${accept ?? 'text'}`);
      const bytes = await ex.renderBytes(accept);
      assert.equal(bytes.body.toString(), await reference(accept), `${what}, ${accept ?? 'text'}, as bytes`);
      bytes.release();
    }
  };
  await check('every family empty');
  a.set({ samples: [{ labels: { code: '200', path: 'x"y\\z\nw' }, value: 12 }, { labels: {}, value: 0.5 }, { name: 'c_requests_created', labels: {}, value: 1e21 }] });
  b.set({ samples: [{ labels: { node: 'a' }, value: NaN }, { labels: { node: 'b' }, value: -Infinity }, { labels: { node: 'c' }, value: Infinity }, { labels: { node: 'd' }, value: -0 }] });
  h.set({
    samples: [
      { name: 'h_bytes_bucket', labels: { le: 1024 }, value: 1 },
      { name: 'h_bytes_bucket', labels: { le: '+Inf' }, value: 2 },
      { name: 'h_bytes_sum', labels: {}, value: 5000.125 },
      { name: 'h_bytes_count', labels: {}, value: 2 },
    ],
  });
  await check('samples of every kind');
  a.set({ samples: [{ labels: { code: '500', path: '/' }, value: 1 }] });
  b.set({ samples: [], help: 'Help that changed.' });
  e.set({ samples: [{ labels: { x: 'new' }, value: 1e-7 }] });
  await check('samples gone, come and changed, and a new help');
  const none = new ServiceExposition([]);
  for (const accept of ACCEPTS) assert.equal((await none.render(accept)).body, (await none.renderWithPromClient(accept)).body, 'no family at all');
  assert.equal(renderFamilies([], 'text'), (await none.renderWithPromClient(undefined)).body);
  assert.equal(renderFamilies([], 'openmetrics'), (await none.renderWithPromClient(OM)).body);
  const families = [await a.source.collect(), await b.source.collect(), await h.source.collect(), await e.source.collect()];
  assert.equal(renderFamilies(families, 'text'), await reference(undefined), 'renderFamilies, text');
  assert.equal(renderFamilies(families, 'openmetrics'), await reference(OM), 'renderFamilies, OpenMetrics');
});

test('computed catalog metrics (web: overseer_info, snapshot ages) match prom-client as their samples change', async () => {
  const sm = new ServiceMetrics('web');
  let ages: { node: string; age: number }[] = [];
  sm.provide('info', async () => [{ labels: { version: '1.2.3', node: 'n"1' }, value: 1 }]);
  sm.provide('snapshotAge', async () => ages.map(({ node, age }) => ({ labels: { node }, value: age })));
  sm.localRecorder('t').metrics.threadRestarts.labels('dispatcher').inc(2);
  const ex = new ServiceExposition(sm.sources());
  for (const next of [[], [{ node: 'a', age: 0.25 }], [{ node: 'b', age: 3 }, { node: 'c', age: NaN }], []]) {
    ages = next;
    for (const accept of ACCEPTS) assert.equal((await ex.render(accept)).body, (await ex.renderWithPromClient(accept)).body);
  }
});

test('two scrapes at once, their collected families arriving in either order, each get their own whole answer', async () => {
  const sm = new ServiceMetrics('callback_receiver');
  const rec = sm.localRecorder('t').metrics;
  const gates: (() => void)[] = [];
  const slow: FamilySource = {
    name: 'slow_total',
    help: 'Collected after a wait.',
    type: 'counter',
    collect: () => new Promise<Family>((resolve) => gates.push(() => resolve({ name: 'slow_total', help: 'Collected after a wait.', type: 'counter', samples: [{ labels: {}, value: gates.length }] }))),
  };
  const ex = new ServiceExposition([...sm.sources(), slow]);
  rec.eventsPopped.inc(5);
  const text = ex.render(undefined);
  const om = ex.render(OM);
  (gates[1] as () => void)();
  (gates[0] as () => void)();
  const [t, o] = await Promise.all([text, om]);
  assert.match(t.body, /^callback_receiver_events_popped_redis_total 5$/m);
  assert.match(o.body, /^callback_receiver_events_popped_redis_total 5$/m);
  assert.ok(t.body.endsWith('\nslow_total 2\n') && !t.body.includes('# EOF'), t.body.slice(-80));
  assert.ok(o.body.endsWith('\nslow_total 2\n# EOF\n'), o.body.slice(-80));
});

test('an answer lent as bytes stays intact until released, while later scrapes render other values', async () => {
  const sm = new ServiceMetrics('callback_receiver');
  const rec = sm.localRecorder('t').metrics;
  const ex = new ServiceExposition(sm.sources());
  rec.eventsPopped.inc(1);
  const first = await ex.renderBytes(undefined);
  const before = first.body.toString();
  for (let i = 0; i < 10; i++) {
    rec.eventsPopped.inc(1000);
    const next = await ex.renderBytes(undefined);
    assert.equal(next.body.toString(), (await ex.renderWithPromClient(undefined)).body);
    next.release();
  }
  assert.equal(first.body.toString(), before, 'the held answer was not overwritten');
  assert.match(before, /^callback_receiver_events_popped_redis_total 1$/m);
  first.release();
  first.release(); // idempotent
  const again = await ex.renderBytes(undefined);
  assert.match(again.body.toString(), /^callback_receiver_events_popped_redis_total 10001$/m);
  again.release();
});
