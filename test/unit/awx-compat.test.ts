import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AWX_COMPAT_FILE, compatRules, compatRulesFile } from '../../src/metrics/awx-compat.ts';
import { CATALOG } from '../../src/metrics/catalog.ts';
import type { MetricSpec } from '../../src/metrics/metric-spec.ts';

test(`${AWX_COMPAT_FILE} holds the rules the catalog makes (npm run docs rewrites it)`, () => {
  const onDisk = readFileSync(new URL(`../../${AWX_COMPAT_FILE}`, import.meta.url), 'utf8');
  assert.equal(onDisk, compatRulesFile(), `${AWX_COMPAT_FILE} is out of date: run npm run docs`);
});

test('every AWX name the catalog gives is served: by a rule, or by a metric of that very name and shape', () => {
  const recorded = new Set(compatRules().map((r) => r.record));
  for (const spec of CATALOG as readonly MetricSpec[]) {
    if (spec.awx === undefined) continue;
    assert.ok(recorded.has(spec.awx) || (spec.awx === spec.name && spec.awxCompat === undefined), spec.awx);
  }
  assert.equal(recorded.size, compatRules().length, 'each AWX name recorded once');
  assert.ok(!compatRules().some((r) => (CATALOG as readonly MetricSpec[]).some((m) => m.name === r.record)), 'no rule records over one of our names');
});

test('AWX cluster-wide numbers drop the node labels; per-node ones copy node into hostname', () => {
  const expr = (record: string) => compatRules().find((r) => r.record === record)?.expr;
  assert.equal(expr('awx_status_total'), 'max without (instance, node) (dispatcher_jobs)');
  assert.equal(expr('awx_running_jobs_total'), 'sum without (instance, node) (instance_running_jobs)');
  assert.equal(expr('awx_instance_capacity'), 'label_replace(instance_capacity, "hostname", "$1", "node", "(.*)")');
  assert.equal(expr('callback_receiver_events_insert_db'), 'callback_receiver_events_insert_db_total');
});
