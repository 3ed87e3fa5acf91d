// The Grafana dashboard against the real thing: a node under load (events pushed into its queue, a
// job that ends in error, a relay peer that never answers), a real Prometheus server scraping its
// four ports with the shipped scrape config, and every query of every panel sent through
// Prometheus' HTTP API as Grafana would send it. Each must succeed and return series: a panel that
// names a series no node serves, or a label it does not carry, stays empty (AWX's demo dashboard
// has such panels).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startNode, tempDir, writeTestConfig, type NodeUnderTest } from '../helpers/node-process.ts';
import { pushEvents, syntheticEvents } from '../helpers/events.ts';
import { freePorts } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { PrometheusServer, scrapeConfigFor, type QueryAnswer } from '../helpers/prometheus-server.ts';
import { dashboard } from '../../src/metrics/grafana.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NODE = 'grafana-node';
const QUEUE = 'callback_tasks';

/** A query as Grafana sends it once it has filled in the dashboard's variables. */
const filled = (expr: string) => expr.replaceAll('$__rate_interval', '30s').replaceAll('$__interval', '30s').replaceAll('$node', NODE);

let node: NodeUnderTest | undefined;
let prometheus: PrometheusServer | undefined;
let redis: Redis | undefined;
let producer: NodeJS.Timeout | undefined;
let ports: Awaited<ReturnType<typeof writeTestConfig>>['ports'];

before(async () => {
  const dir = tempDir('overseer-grafana-');
  const project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'site.yml'), '- hosts: all\n  tasks: []\n');
  const [absentPeer] = (await freePorts(1)) as [number];
  const config = await writeTestConfig(dir, {
    log_level: 'info',
    node_name: NODE,
    snapshot_interval_ms: 200,
    // A peer that never answers: the relay's series exist, and count reconnects and drops.
    cluster: { mode: 'relay', peers: [{ name: 'absent-peer', url: `ws://127.0.0.1:${absentPeer}` }], secret: 'grafana-test-secret-0123456789' },
    services: {
      callback_receiver: { workers: 2, batch_size: 200, buffer_ms: 20 },
      // A program that does not exist: a launched job ends in error at once, and is counted.
      dispatcher: { min_workers: 1, max_workers: 3, schedule_interval_ms: 1000, ansible_runner: 'overseer-test-no-such-ansible-runner', project_roots: [dir] },
    },
  });
  ports = config.ports;
  node = startNode(['--config', config.file]);
  await node.waitForLog('ready');
  prometheus = await PrometheusServer.start(join(dir, 'prometheus'), scrapeConfigFor(NODE, ports));

  // Load: a steady stream of events, now and then a duplicate and a payload that is no JSON.
  redis = new Redis({ path: join(config.dataDir, 'redis.sock'), maxRetriesPerRequest: 1 });
  const client = redis;
  let counter = 0;
  const push = async () => {
    const events = syntheticEvents(7001 + (counter++ % 5), 200);
    await pushEvents(client, QUEUE, [...events, events[0] as string, '{not json']);
  };
  await push();
  producer = setInterval(() => void push().catch(() => {}), 250);

  // A job, through the API as a user launches one.
  const api = async (path: string, body?: Json) => {
    const res = await fetch(`http://127.0.0.1:${ports.web}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as Json;
    assert.ok(res.ok, `${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const inventory = await api('/api/v2/inventories/', { name: 'here', content: 'localhost ansible_connection=local\n' });
  const proj = await api('/api/v2/projects/', { name: 'here', local_path: project });
  const template = await api('/api/v2/job_templates/', { name: 'site', project: proj.id, inventory: inventory.id, playbook: 'site.yml' });
  const launched = await api(`/api/v2/job_templates/${template.id}/launch/`, {});
  await waitFor('the job to end', async () => {
    const job = await api(`/api/v2/jobs/${launched.job}/`);
    return ['successful', 'failed', 'error', 'canceled'].includes(job.status);
  }, 30_000);
});

after(async () => {
  if (producer !== undefined) clearInterval(producer);
  redis?.disconnect();
  await prometheus?.close();
  await node?.stop();
});

test('Prometheus scrapes all four ports of the node with the shipped config', async () => {
  const p = prometheus as PrometheusServer;
  await waitFor('every port up', async () => {
    const answer = await p.query(`up{node="${NODE}"} == 1`);
    return answer.data?.result.length === 4;
  }, 20_000);
  const services = (await p.query(`up{node="${NODE}"}`)).data?.result.map((r) => r.metric.service).sort();
  assert.deepEqual(services, ['callback_receiver', 'dispatcher', 'web', 'websockets']);
});

test('every query of every panel succeeds and returns series', async () => {
  const p = prometheus as PrometheusServer;
  const targets = (dashboard().panels as Json[])
    .filter((panel) => panel.type !== 'row')
    .flatMap((panel) => (panel.targets as Json[]).map((t) => ({ panel: panel.title as string, expr: filled(t.expr as string) })));
  assert.ok(targets.length > 40);
  const last = new Map<string, QueryAnswer>();
  const waiting = new Set(targets.map((t) => t.expr));
  // rate() needs two samples in its window, a histogram's quantile a batch inside it: wait for each.
  await waitFor('every panel query to return series', async () => {
    await Promise.all([...waiting].map(async (expr) => {
      const answer = await p.query(expr);
      last.set(expr, answer);
      if (answer.status === 'success' && (answer.data?.result.length ?? 0) > 0) waiting.delete(expr);
    }));
    return waiting.size === 0;
  }, 45_000, 1000).catch((err: Error) => {
    const empty = targets.filter((t) => waiting.has(t.expr)).map((t) => `${t.panel}: ${t.expr} → ${JSON.stringify(last.get(t.expr))}`);
    throw new Error(`${err.message}\n${empty.join('\n')}`);
  });
  for (const { panel, expr } of targets) {
    const answer = last.get(expr) as QueryAnswer;
    assert.equal(answer.status, 'success', `${panel}: ${expr}: ${answer.error}`);
    assert.equal(answer.data?.resultType, 'vector', `${panel}: ${expr}`);
  }
});

test('the panels show the load: events saved, the job finished, dead letters and duplicates counted', async () => {
  const p = prometheus as PrometheusServer;
  const value = async (expr: string) => Number((await p.query(filled(expr))).data?.result[0]?.value[1] ?? NaN);
  await waitFor('the load in Prometheus', async () =>
    (await value('sum(rate(callback_receiver_events_insert_db_total{node=~"$node"}[$__rate_interval]))')) > 0 &&
    (await value('sum(dispatcher_jobs_finished_total{node=~"$node"})')) >= 1 &&
    (await value('sum(callback_receiver_events_dead_lettered_total{node=~"$node", reason="invalid_json"})')) > 0 &&
    (await value('sum(callback_receiver_events_duplicate_total{node=~"$node"})')) > 0 &&
    (await value('max(overseer_cluster_snapshot_age_seconds{node=~"$node"})')) < 5,
  20_000);
});
