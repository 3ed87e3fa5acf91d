import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { withMetricTable } from '../../src/metrics/docs.ts';
import { CATALOG } from '../../src/metrics/catalog.ts';

test('README.md carries the metric table of the catalog (npm run docs rewrites it)', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.equal(readme, withMetricTable(readme), 'README.md is out of date: run npm run docs');
  for (const m of CATALOG) assert.ok(readme.includes(`\`${m.name}\``), m.name);
});

test('names follow Prometheus conventions: counters end in _total, nothing else does, no gauge ends in _count', () => {
  for (const m of CATALOG) {
    assert.equal(m.name.endsWith('_total'), m.type === 'counter', m.name);
    assert.ok(!/_(count|sum|bucket)$/.test(m.name) || m.type === 'histogram', m.name);
    assert.match(m.name, /^[a-z][a-z0-9_]*$/);
  }
  assert.equal(new Set(CATALOG.map((m) => m.name)).size, CATALOG.length, 'each name once');
  assert.equal(new Set(CATALOG.map((m) => `${m.service}.${m.key}`)).size, CATALOG.length, 'each handle key once per service');
});
