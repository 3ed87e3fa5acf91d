// The node as an operator runs it: `node src/main.ts --config FILE`, scraped on its four ports.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue } from '../helpers/node-process.ts';
import { promtoolCheck } from '../helpers/promtool.ts';
import { startTestRedis } from '../helpers/redis-server.ts';
import { SERVICES } from '../../src/services/names.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('embedded defaults: four metrics ports pass promtool, SIGTERM exits 0 and stops the private redis-server', async () => {
  const dir = tempDir();
  const { file, ports, dataDir } = await writeTestConfig(dir);
  const node = startNode(['--config', file]);
  after(() => node.stop('SIGKILL'));
  await node.waitForLog('ready');

  const redisLine = node.logs.find((l) => l.msg === 'private redis-server started');
  assert.ok(redisLine, 'the private redis-server start is logged');
  const redisPid = redisLine.redis_pid as number;
  assert.ok(alive(redisPid), 'redis-server runs while the node runs');
  assert.ok(existsSync(join(dataDir, 'redis.sock')), 'Redis listens on <data_dir>/redis.sock');
  assert.ok(existsSync(join(dataDir, 'overseer.db')), 'SQLite lives in <data_dir>/overseer.db');

  for (const service of SERVICES) {
    const res = await scrape(ports[service]);
    assert.equal(res.status, 200, `${service} answers /metrics`);
    assert.match(res.contentType, /^text\/plain; version=0\.0\.4/);
    assert.deepEqual(promtoolCheck(res.body), { code: 0, output: '' }, `promtool has nothing to say about ${service}`);
  }

  const web = (await scrape(ports.web)).body;
  assert.equal(sampleValue(web, 'overseer_threads{service="callback_receiver"}'), 2, 'workers: 2 gives two receiver threads');
  const dispatcherThreads = sampleValue(web, 'overseer_threads{service="dispatcher"}') ?? 0;
  assert.ok(dispatcherThreads >= 1 && dispatcherThreads <= 2, 'the dispatcher runs between min_workers and max_workers threads');
  assert.equal(sampleValue(web, 'overseer_threads{service="websockets"}'), 1);
  assert.equal(sampleValue(web, 'overseer_thread_restarts_total{service="callback_receiver"}'), 0);
  assert.ok(sampleValue(web, 'process_resident_memory_bytes')! > 0, 'process metrics are on the web port');

  const cr = (await scrape(ports.callback_receiver)).body;
  assert.equal(sampleValue(cr, 'callback_receiver_events_popped_redis_total'), 0, 'the full AWX set is declared, at 0');
  assert.equal(sampleValue(cr, 'callback_receiver_batch_events_insert_db_bucket{le="+Inf"}'), 0);
  const disp = (await scrape(ports.dispatcher)).body;
  for (const name of ['task_manager__schedule_calls_total', 'dependency_manager__schedule_seconds', 'workflow_manager_spawn_workflow_graph_jobs_seconds', 'dispatcher_availability']) {
    assert.ok(Number.isFinite(sampleValue(disp, name)), `${name} is served by the dispatcher port`);
  }
  assert.ok(!disp.includes('callback_receiver_'), 'each port serves its own service only');

  const om = await scrape(ports.dispatcher, 'application/openmetrics-text; version=1.0.0');
  assert.match(om.contentType, /^application\/openmetrics-text/);
  assert.match(om.body, /# TYPE task_manager__schedule_calls counter\ntask_manager__schedule_calls_total \d+/);
  assert.ok(om.body.endsWith('# EOF\n'));

  assert.equal(await node.stop('SIGTERM'), 0, 'SIGTERM exits 0');
  assert.ok(!alive(redisPid), 'the private redis-server has exited');
  assert.ok(!existsSync(join(dataDir, 'redis.pid')), 'its pid file is removed');
  const msgs = node.logs.map((l) => l.msg);
  for (const step of ['starting', 'database ready', 'service started', 'ready', 'signal received', 'stopping', 'service stopped', 'stopped']) {
    assert.ok(msgs.includes(step), `lifecycle step "${step}" is logged`);
  }
  assert.equal(node.logs.find((l) => l.msg === 'stopped')?.drained, true);
});

test('redis_url: an existing Redis on loopback is used, no private redis-server starts', async () => {
  const redis = await startTestRedis();
  after(() => redis.stop());
  const dir = tempDir();
  const { file, ports, dataDir } = await writeTestConfig(dir, { redis_url: redis.url });
  const node = startNode(['--config', file]);
  after(() => node.stop('SIGKILL'));
  await node.waitForLog('ready');
  assert.ok(node.logs.some((l) => l.msg === 'redis reachable'));
  assert.ok(!node.logs.some((l) => l.msg === 'private redis-server started'));
  assert.ok(!existsSync(join(dataDir, 'redis.sock')));
  assert.equal((await scrape(ports.web)).status, 200);
  assert.equal(await node.stop('SIGINT'), 0, 'Ctrl-C (SIGINT) exits 0');
  assert.ok(alive(redis.pid), 'a Redis the node did not start is left running');
});

test('a redis-server left by a killed node is stopped at the next start', async () => {
  const dir = tempDir();
  const { file, dataDir } = await writeTestConfig(dir);
  const first = startNode(['--config', file]);
  after(() => first.stop('SIGKILL'));
  await first.waitForLog('ready');
  const orphan = Number(readFileSync(join(dataDir, 'redis.pid'), 'utf8'));
  assert.equal(await first.stop('SIGKILL'), null, 'killed');
  assert.ok(alive(orphan), 'SIGKILL leaves the private redis-server behind');

  const second = startNode(['--config', file]);
  after(() => second.stop('SIGKILL'));
  await second.waitForLog('ready');
  assert.ok(second.logs.some((l) => l.msg === 'stopping the redis-server a previous run left behind' && l.redis_pid === orphan));
  assert.ok(!alive(orphan), 'the leftover is gone');
  assert.equal(await second.stop(), 0);
});

test('a second node on the same data_dir is refused and leaves the first one alone', async () => {
  const dir = tempDir();
  const { file, dataDir } = await writeTestConfig(dir);
  const first = startNode(['--config', file]);
  after(() => first.stop('SIGKILL'));
  const ready = await first.waitForLog('ready');
  const redisPid = first.logs.find((l) => l.msg === 'private redis-server started')?.redis_pid as number;

  const other = await writeTestConfig(tempDir(), { data_dir: dataDir }); // other ports, same data_dir
  const second = startNode(['--config', other.file]);
  assert.equal(await second.exited, 2);
  assert.match(second.stderr(), new RegExp(`data_dir: ".*" is in use by another overseer \\(pid ${ready.pid}\\); expected a data_dir of its own`));
  assert.ok(alive(redisPid), "the first node's Redis is untouched");
  assert.equal(await first.stop(), 0);
});

test('the private redis-server dying under a running node stops the node with exit 1', async () => {
  // Threads blocked on the lost Redis cannot finish: they are stopped after shutdown_timeout_ms.
  const { file } = await writeTestConfig(tempDir(), { shutdown_timeout_ms: 1000 });
  const node = startNode(['--config', file]);
  after(() => node.stop('SIGKILL'));
  await node.waitForLog('ready');
  const redisPid = node.logs.find((l) => l.msg === 'private redis-server started')?.redis_pid as number;
  process.kill(redisPid, 'SIGKILL');
  assert.equal(await node.exited, 1);
  const fatal = node.logs.find((l) => l.msg === 'cannot go on; stopping');
  assert.match(String(fatal?.fatal), /the private redis-server exited unexpectedly \(SIGKILL\)/);
  assert.ok(node.logs.some((l) => l.msg === 'stopped'), 'it still stops its threads in order');
});
