import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dashboard, dashboardFile, GRAFANA_FILE } from '../../src/metrics/grafana.ts';
import { PROCESS_METRICS } from '../../src/metrics/grafana-panels.ts';
import { CATALOG } from '../../src/metrics/catalog.ts';
import type { MetricSpec } from '../../src/metrics/metric-spec.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const panels = () => (dashboard().panels as Json[]).filter((p) => p.type !== 'row');

/** The metric names a PromQL expression reads: what is left once strings, matchers, ranges, grouping and functions are gone. */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)]
    .filter((m) => m[2] === undefined && !keywords.has((m[1] as string).toLowerCase()))
    .map((m) => m[1] as string);
}

/** The names a catalog metric is served under (a histogram's three series). */
const SERVED = new Set<string>([
  ...(CATALOG as readonly MetricSpec[]).flatMap((s) => (s.type === 'histogram' ? ['_bucket', '_sum', '_count'].map((x) => `${s.name}${x}`) : [s.name])),
  ...PROCESS_METRICS,
]);

test(`${GRAFANA_FILE} is the dashboard the code makes (npm run docs rewrites it)`, () => {
  const onDisk = readFileSync(new URL(`../../${GRAFANA_FILE}`, import.meta.url), 'utf8');
  assert.equal(onDisk, dashboardFile(), `${GRAFANA_FILE} is out of date: run npm run docs`);
});

test('metricNamesIn strips functions, matchers, ranges and grouping', () => {
  assert.deepEqual(
    metricNamesIn('histogram_quantile(0.99, sum by (node, le) (rate(a_bucket{node=~"$node", x="rate(b)"}[$__rate_interval]))) / ignoring(le) c'),
    ['a_bucket', 'c'],
  );
  assert.deepEqual(metricNamesIn('120 * sum(rate(x_total[5m])) > bool 2'), ['x_total']);
});

test('every metric a panel reads is one a node serves: the catalog (histogram series included) or the process metrics', () => {
  let names = 0;
  for (const panel of panels()) {
    for (const target of panel.targets as Json[]) {
      const found = metricNamesIn(target.expr);
      assert.ok(found.length > 0, `${panel.title}: ${target.expr} reads no metric`);
      for (const name of found) assert.ok(SERVED.has(name), `${panel.title}: ${name} is no metric a node serves`);
      names += found.length;
    }
  }
  assert.ok(names > 50);
});

test('every panel: a unit, the datasource variable, every target kept to the picked nodes', () => {
  const units = new Set(['s', 'ops', 'opm', 'reqps', 'short', 'percentunit', 'bytes', 'Bps']);
  for (const panel of panels()) {
    assert.ok(units.has(panel.fieldConfig.defaults.unit), `${panel.title}: unit ${panel.fieldConfig.defaults.unit}`);
    assert.deepEqual(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, panel.title);
    for (const target of panel.targets as Json[]) {
      assert.deepEqual(target.datasource, panel.datasource, panel.title);
      const selectors = [...(target.expr as string).matchAll(/\{([^}]*)\}/g)].map((m) => m[1]);
      assert.ok(selectors.length > 0 && selectors.every((s) => s?.includes('node=~"$node"')), `${panel.title}: ${target.expr}`);
    }
  }
});

test('importable into Grafana 10+: schema, the datasource input, the variables, rows in order, ids unique, no overlap', () => {
  const d = dashboard() as Json;
  assert.ok(d.schemaVersion >= 38);
  assert.deepEqual(d.__inputs.map((i: Json) => [i.name, i.type, i.pluginId]), [['DS_PROMETHEUS', 'datasource', 'prometheus']]);
  const vars = d.templating.list as Json[];
  assert.deepEqual(vars.map((v) => [v.name, v.type]), [['datasource', 'datasource'], ['node', 'query']]);
  assert.equal(vars[0]?.query, 'prometheus');
  assert.equal(vars[0]?.current.value, '${DS_PROMETHEUS}', 'import fills the datasource variable from the input');
  assert.equal(vars[1]?.query.query, 'label_values(overseer_threads, node)');
  assert.deepEqual(
    (d.panels as Json[]).filter((p) => p.type === 'row').map((p) => p.title),
    ['Callback receiver', 'Dispatcher', 'Jobs', 'Managers', 'Cluster'],
  );
  const ids = (d.panels as Json[]).map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  const cells = new Set<string>();
  for (const p of d.panels as Json[]) {
    const { x, y, w, h } = p.gridPos;
    assert.ok(x + w <= 24, p.title);
    for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
      assert.ok(!cells.has(`${i},${j}`), `${p.title} overlaps another panel`);
      cells.add(`${i},${j}`);
    }
  }
});
