// The Prometheus files operators get (config/prometheus/), checked as an operator would check them
// with promtool: the config and the rule files it names, the rules, and their unit tests. Then what
// promtool cannot know: that the unit tests feed the metric names and labels a node really serves
// (so an alert that passes them cannot be waiting for a series that never comes, AWX's bug), that
// every alert is tested firing and quiet, and that each names config keys that exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { runPromtool } from '../helpers/promtool.ts';
import { CATALOG } from '../../src/metrics/catalog.ts';
import type { MetricSpec } from '../../src/metrics/metric-spec.ts';
import { SERVICES } from '../../src/services/names.ts';

const DIR = fileURLToPath(new URL('../../config/prometheus/', import.meta.url));
const RULE_FILES = ['alerts.yml', 'awx-compat.rules.yml'];
const TEST_FILES = ['alerts.test.yml', 'awx-compat.test.yml'];

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const load = (file: string): Yaml => parse(readFileSync(`${DIR}${file}`, 'utf8')) as Yaml;

/** Fails with promtool's own words when it fails. */
function promtoolPasses(...args: string[]): void {
  const { code, output } = runPromtool(args, DIR);
  assert.equal(code, 0, `promtool ${args.join(' ')} failed:\n${output}`);
}

test('promtool check config: prometheus.yml and the rule files it names', () => {
  promtoolPasses('check', 'config', 'prometheus.yml');
  assert.deepEqual(load('prometheus.yml').rule_files, RULE_FILES);
});

test('promtool check rules: the alerts and the AWX rules', () => {
  promtoolPasses('check', 'rules', ...RULE_FILES);
});

test('promtool test rules: every unit test of the alerts and the AWX rules passes', () => {
  promtoolPasses('test', 'rules', ...TEST_FILES);
});

/** The labels a target of prometheus.yml adds to what a port serves. */
const TARGET_LABELS = new Set(['instance', 'job', 'service', 'node']);

/** What is wrong with one input series of a unit test, as a node would serve it; undefined when nothing. */
function problemOf(series: string): string | undefined {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$/.exec(series);
  if (m === null) return 'not name{labels}';
  const [, name, text] = m as unknown as [string, string, string];
  const labels = Object.fromEntries([...text.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]])) as Record<string, string>;
  if (name === 'up') return (SERVICES as readonly string[]).includes(labels.service ?? '') ? undefined : `service="${labels.service}" is no service`;
  const part = /_(bucket|sum|count)$/.exec(name);
  const spec = (CATALOG as readonly MetricSpec[]).find((s) => s.name === name || (part !== null && s.type === 'histogram' && `${s.name}_${part[1]}` === name));
  if (spec === undefined) return `${name} is no metric of the catalog`;
  for (const [label, value] of Object.entries(labels)) {
    const own = spec.labels.find((l) => l.name === label);
    if (own !== undefined) {
      if (Array.isArray(own.values) && own.values.length > 0 && !own.values.includes(value)) return `${label}="${value}" is not one of ${own.values.join(', ')}`;
    } else if (label === 'le' && spec.type === 'histogram' && name.endsWith('_bucket')) {
      if (value !== '+Inf' && !spec.buckets.includes(Number(value))) return `le="${value}" is no bucket of ${spec.name}`;
    } else if (label === 'service') {
      if (value !== spec.service) return `${name} is served on the ${spec.service} port, not ${value}`;
    } else if (!TARGET_LABELS.has(label)) {
      return `${name} has no label ${label}`;
    }
  }
  return undefined;
}

test('the unit tests feed only series a node serves: catalog names, label names and values, buckets, the port of each', () => {
  const problems: string[] = [];
  for (const file of TEST_FILES) {
    for (const group of load(file).tests as Yaml[]) {
      for (const { series } of group.input_series as { series: string }[]) {
        const problem = problemOf(series);
        if (problem !== undefined) problems.push(`${file}: ${series}: ${problem}`);
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.match(problemOf('dispatcher_jobs_finished_total{type="job", status="sucessful"}') ?? '', /not one of/, 'the check itself catches a typo');
});

test('every alert has a severity, a summary and a description naming config keys that exist, and is tested firing and quiet', () => {
  const config = parse(readFileSync(new URL('../../config/default.yaml', import.meta.url), 'utf8')) as Yaml;
  const exists = (key: string) => key.split('.').reduce<unknown>((at, k) => (at as Yaml | undefined)?.[k], config) !== undefined;
  const alerts = (load('alerts.yml').groups as Yaml[]).flatMap((g) => g.rules as Yaml[]);
  const cases = (load('alerts.test.yml').tests as Yaml[]).flatMap((t) => t.alert_rule_test as Yaml[]);
  for (const alert of alerts) {
    const name = alert.alert as string;
    assert.ok(['critical', 'warning'].includes(alert.labels?.severity), `${name}: severity`);
    assert.ok(alert.annotations?.summary, `${name}: summary`);
    const description = alert.annotations?.description as string;
    const dotted = [...description.matchAll(/\b(?:services|cluster)\.[a-z_]+(?:\.[a-z_]+)?/g)].map((k) => k[0]);
    const topLevel = Object.keys(config).filter((k) => new RegExp(`\\b${k}\\b`).test(description));
    assert.ok(dotted.length + topLevel.length > 0 || /add a node/.test(description), `${name}: its description names no config key`);
    for (const key of dotted) assert.ok(exists(key), `${name}: ${key} is no key of config/default.yaml`);
    const mine = cases.filter((c) => c.alertname === name);
    assert.ok(mine.some((c) => (c.exp_alerts as unknown[]).length > 0), `${name}: no test where it fires`);
    assert.ok(mine.some((c) => (c.exp_alerts as unknown[]).length === 0), `${name}: no test where it stays quiet`);
  }
});
