// The real supervisor with fixture workers: what a crashed thread leaves behind, and how stopping treats a stuck one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/logger.ts';
import { Supervisor } from '../../src/supervisor.ts';
import { OverseerError } from '../../src/errors.ts';
import { writeTestConfig, tempDir, scrape, sampleValue } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

async function supervisorWith(workerFiles: Record<string, string>, extra: Record<string, unknown> = {}) {
  const { file, ports } = await writeTestConfig(tempDir(), extra);
  const config = loadConfig({ argv: ['--config', file], env: {}, cwd: process.cwd() });
  const supervisor = new Supervisor({ config, log: createLogger('silent'), workerFiles });
  after(() => supervisor.close());
  return { supervisor, ports };
}

test('a thread that crashed: its counts and histogram stay, its gauge goes, it is replaced and counted', async () => {
  const { supervisor, ports } = await supervisorWith({ callback_receiver: fixture('crash-after-recording.ts') });
  await supervisor.start();

  const web = await waitFor('the restart to be counted', async () => {
    const body = (await scrape(ports.web)).body;
    return sampleValue(body, 'overseer_thread_restarts_total{service="callback_receiver"}') === 1 &&
      sampleValue(body, 'overseer_threads{service="callback_receiver"}') === 2
      ? body
      : undefined;
  });
  assert.ok(web);
  const cr = (await scrape(ports.callback_receiver)).body;
  assert.equal(sampleValue(cr, 'callback_receiver_events_popped_redis_total'), 1000, 'the dead thread\'s 1000 are kept');
  assert.equal(sampleValue(cr, 'callback_receiver_batch_events_insert_db_count'), 1);
  assert.equal(sampleValue(cr, 'callback_receiver_batch_events_insert_db_bucket{le="150"}'), 1);
  assert.equal(sampleValue(cr, 'callback_receiver_batch_events_insert_db_sum'), 100);
  assert.equal(sampleValue(cr, 'callback_receiver_events_in_memory'), 0, 'events a dead thread held are not in memory any more');
  assert.equal(await supervisor.close(), true);
});

test('a loop that ignores stop is stopped after shutdown_timeout_ms, and close says it did not drain', async () => {
  const { supervisor, ports } = await supervisorWith({ websockets: fixture('ignores-stop.ts') }, { shutdown_timeout_ms: 300 });
  await supervisor.start();
  assert.equal(sampleValue((await scrape(ports.web)).body, 'overseer_threads{service="websockets"}'), 1);
  const began = Date.now();
  assert.equal(await supervisor.close(), false);
  assert.ok(Date.now() - began < 5000, 'it did not wait for the stuck loop');
});

test('a worker module that cannot load is a start error, not a restart loop', async () => {
  const { supervisor } = await supervisorWith({ websockets: fixture('fails-to-load.ts') });
  await assert.rejects(supervisor.start(), (err: unknown) => {
    assert.ok(err instanceof OverseerError);
    assert.equal(err.code, 'OVERSEER_START');
    assert.match(err.message, /websockets: .*this worker module is broken/);
    return true;
  });
});

test('a manager that overruns its timeout and grace is abandoned, counted, and its thread replaced', async () => {
  const { supervisor, ports } = await supervisorWith(
    { dispatcher: fixture('stuck-managers.ts') },
    { services: { dispatcher: { min_workers: 1, max_workers: 4, manager_timeout_ms: 200, manager_grace_ms: 100 } } },
  );
  await supervisor.start();
  const series = (m: string) => `dispatcher_manager_timeouts_total{manager="${m}",outcome="abandoned"}`;
  const body = await waitFor('every manager to be abandoned', async () => {
    const b = (await scrape(ports.dispatcher)).body;
    return ['task_manager', 'dependency_manager', 'workflow_manager'].every((m) => (sampleValue(b, series(m)) ?? 0) >= 1) ? b : undefined;
  });
  assert.equal(sampleValue(body, 'dispatcher_tasks_failed_total{task="task_manager"}'), sampleValue(body, series('task_manager')));
  await waitFor('the pool to be back to its minimum', async () => (sampleValue((await scrape(ports.web)).body, 'overseer_threads{service="dispatcher"}') ?? 0) >= 1);
  assert.equal(await supervisor.close(), true);
});
