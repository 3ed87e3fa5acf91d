// What a scraper receives, in both formats; promtool lints every service's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceMetrics } from '../../src/metrics/service-metrics.ts';
import { ServiceExposition, processMetricSources } from '../../src/metrics/exposition.ts';
import { SERVICES } from '../../src/services/names.ts';
import { promtoolCheck } from '../helpers/promtool.ts';

test('every service, with values recorded, passes promtool check metrics with nothing to say', async () => {
  for (const service of SERVICES) {
    const sm = new ServiceMetrics(service);
    const sources = service === 'web' ? [...sm.sources(), ...processMetricSources()] : sm.sources();
    const body = (await new ServiceExposition(sources).render(undefined)).body;
    assert.deepEqual(promtoolCheck(body), { code: 0, output: '' }, service);
  }
});

test('OpenMetrics when asked: counter families without _total, samples with it, # EOF; text otherwise, repeatedly', async () => {
  const sm = new ServiceMetrics('callback_receiver');
  sm.localRecorder('t').metrics.eventsPopped.inc(7);
  const ex = new ServiceExposition(sm.sources());
  for (let i = 0; i < 2; i++) {
    const om = await ex.render('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5');
    assert.match(om.contentType, /^application\/openmetrics-text; version=1\.0\.0/);
    assert.match(om.body, /# TYPE callback_receiver_events_popped_redis counter\ncallback_receiver_events_popped_redis_total 7\n/);
    assert.ok(om.body.endsWith('# EOF\n'));
    const text = await ex.render('text/plain');
    assert.match(text.contentType, /^text\/plain; version=0\.0\.4/);
    assert.match(text.body, /# TYPE callback_receiver_events_popped_redis_total counter\ncallback_receiver_events_popped_redis_total 7\n/);
  }
});

test('process metrics: prom-client defaults without the gauges it misnames _total', async () => {
  const names = processMetricSources().map((s) => s.name);
  assert.ok(names.includes('process_cpu_seconds_total'));
  assert.ok(names.includes('nodejs_eventloop_lag_p99_seconds'));
  assert.ok(!names.some((n) => n.startsWith('nodejs_active_') && n.endsWith('_total')));
});
