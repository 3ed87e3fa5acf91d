// Job metrics where jobs start and finish, over a real SQLite and a real PostgreSQL: the guarded
// UPDATE that finishes a job tells the dispatcher's metrics once, whichever path finishes it (a
// thread, the task and workflow managers, a cancel), and a writer that loses the race tells nothing.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStorage } from '../../src/storage/open.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { ControlStore } from '../../src/control/store.ts';
import type { Job, JobStatus } from '../../src/control/model.ts';
import { launchWorkflow } from '../../src/control/launch.ts';
import { cancelJob } from '../../src/control/cancel.ts';
import type { ManagerEnv } from '../../src/control/manager-env.ts';
import { runTaskManager } from '../../src/control/task-manager.ts';
import { runWorkflowManager } from '../../src/control/workflow-manager.ts';
import { ServiceMetrics } from '../../src/metrics/service-metrics.ts';
import { jobMetrics } from '../../src/dispatch/job-metrics.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/node-process.ts';

/** A sample's value from the dispatcher's families: name as exposed, labels in any order. */
function valueOf(metrics: ServiceMetrics<'dispatcher'>, name: string, labels: Record<string, string>): number | undefined {
  for (const family of metrics.families()) {
    for (const s of family.samples) {
      if ((s.name ?? family.name) !== name) continue;
      if (Object.entries(labels).every(([k, v]) => String(s.labels[k]) === v)) return s.value;
    }
  }
  return undefined;
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`job metrics from the store: ${backend}`, () => {
    let postgres: TestPostgres | undefined;
    const opened: Storage[] = [];

    before(async () => {
      if (backend === 'postgres') postgres = await startTestPostgres();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    after(async () => {
      await postgres?.stop();
    });

    /** A fresh database, a store that records into fresh dispatcher metrics, and a manager env over it. */
    async function world() {
      const storage = openStorage(postgres ? await postgres.createDatabase() : '', tempDir());
      opened.push(storage);
      await storage.migrate();
      const metrics = new ServiceMetrics('dispatcher');
      const store = new ControlStore(storage.sql, jobMetrics(metrics.localRecorder('test').metrics));
      const submit: ManagerEnv['submit'] = async () => true;
      const env: ManagerEnv = {
        store,
        node: 'node-a',
        capacity: 100,
        submit,
        cancel: (job) => cancelJob({ store, submit, publish: async () => 0 }, job),
        deadline: Date.now() + 60_000,
      };
      const finished = (type: string, status: JobStatus) => valueOf(metrics, 'dispatcher_jobs_finished_total', { type, status });
      const job = async (id: number) => (await store.job(id)) as Job;
      return { store, metrics, env, finished, job };
    }

    test('a job is counted once when it finishes, however many writers try; its run and wait are observed', async () => {
      const w = await world();
      const created = await w.store.createJob({ type: 'job', name: 'once', launch_type: 'manual' });
      assert.ok(await w.store.changeJob(created.id, ['pending'], { status: 'waiting', task_id: 't1' }));
      const started = new Date(Date.parse(created.created) + 3_000).toISOString();
      assert.ok(await w.store.changeJob(created.id, ['waiting'], { status: 'running', started }, 't1'));
      assert.equal(await w.store.changeJob(created.id, ['waiting'], { status: 'running', started }, 't1'), false, 'a task given back cannot start it again');
      const finished = new Date(Date.parse(started) + 42_000).toISOString();
      assert.ok(await w.store.changeJob(created.id, ['running'], { status: 'successful', finished }));
      assert.equal(await w.store.changeJob(created.id, ['waiting', 'running'], { status: 'error', finished }), false, 'a late crash report');
      assert.equal(await w.store.changeJob(created.id, [], { status: 'canceled', finished }), false, 'an unguarded finish');

      assert.equal((await w.job(created.id)).status, 'successful');
      assert.equal(w.finished('job', 'successful'), 1);
      assert.equal(w.finished('job', 'error'), 0);
      assert.equal(w.finished('job', 'canceled'), 0);
      assert.equal(valueOf(w.metrics, 'dispatcher_job_start_delay_seconds_count', { type: 'job' }), 1);
      assert.equal(valueOf(w.metrics, 'dispatcher_job_start_delay_seconds_sum', { type: 'job' }), 3);
      assert.equal(valueOf(w.metrics, 'dispatcher_job_start_delay_seconds_bucket', { type: 'job', le: '2.5' }), 0);
      assert.equal(valueOf(w.metrics, 'dispatcher_job_start_delay_seconds_bucket', { type: 'job', le: '5' }), 1);
      assert.equal(valueOf(w.metrics, 'dispatcher_job_duration_seconds_count', { type: 'job' }), 1);
      assert.equal(valueOf(w.metrics, 'dispatcher_job_duration_seconds_sum', { type: 'job' }), 42);
    });

    test('a cancel before the start and the task manager count what they finish; a job that never ran has no run time', async () => {
      const w = await world();
      const early = await w.store.createJob({ type: 'job', name: 'early', launch_type: 'manual' });
      assert.equal(await cancelJob({ store: w.store, submit: w.env.submit, publish: async () => 0 }, early), 'canceled');
      // A second request that read the job before the first canceled it loses the race: it counts nothing.
      await cancelJob({ store: w.store, submit: w.env.submit, publish: async () => 0 }, early);
      assert.equal(w.finished('job', 'canceled'), 1);

      const update = await w.store.createJob({ type: 'project_update', name: 'checkout', launch_type: 'dependency', dependencies_processed: true });
      assert.ok(await w.store.changeJob(update.id, ['pending'], { status: 'failed', finished: new Date().toISOString(), job_explanation: 'git failed' }));
      const dependent = await w.store.createJob({ type: 'job', name: 'dependent', launch_type: 'manual', dependencies_processed: true });
      assert.ok(await w.store.changeJob(dependent.id, ['pending'], { dependency_id: update.id }));
      const flagged = await w.store.createJob({ type: 'job', name: 'flagged', launch_type: 'manual', dependencies_processed: true });
      assert.ok(await w.store.changeJob(flagged.id, [], { cancel_flag: true }));
      await runTaskManager(w.env);

      assert.match((await w.job(dependent.id)).job_explanation, /^Previous Task Failed: /);
      assert.equal((await w.job(flagged.id)).status, 'canceled');
      assert.equal(w.finished('project_update', 'failed'), 1);
      assert.equal(w.finished('job', 'failed'), 1, 'failed by the task manager');
      assert.equal(w.finished('job', 'canceled'), 2);
      assert.equal(valueOf(w.metrics, 'dispatcher_job_duration_seconds_count', { type: 'job' }), 0, 'none of them ran');
      assert.equal(valueOf(w.metrics, 'dispatcher_job_start_delay_seconds_count', { type: 'job' }), 0);
    });

    test('a workflow is counted when it starts and when the workflow manager finishes it', async () => {
      const w = await world();
      const template = await w.store.createWorkflowTemplate({ name: 'flow', description: '', allow_simultaneous: false, nodes: [] });
      const wf = await launchWorkflow(w.store, template);
      await runTaskManager(w.env);
      assert.equal((await w.job(wf.id)).status, 'running');
      assert.equal(valueOf(w.metrics, 'dispatcher_job_start_delay_seconds_count', { type: 'workflow_job' }), 1);
      await runWorkflowManager(w.env);
      assert.equal((await w.job(wf.id)).status, 'successful', 'a workflow without nodes is done at once');
      assert.equal(w.finished('workflow_job', 'successful'), 1);
      assert.equal(valueOf(w.metrics, 'dispatcher_job_duration_seconds_count', { type: 'workflow_job' }), 1);
    });

    test('active jobs are counted by status with the oldest pending launch; finished ones apart', async () => {
      const w = await world();
      assert.deepEqual(await w.store.activeJobCounts(), { byStatus: {}, oldestPending: null });
      const first = await w.store.createJob({ type: 'job', name: 'first', launch_type: 'manual' });
      await w.store.createJob({ type: 'job', name: 'second', launch_type: 'manual' });
      const third = await w.store.createJob({ type: 'project_update', name: 'third', launch_type: 'manual' });
      assert.ok(await w.store.changeJob(third.id, ['pending'], { status: 'successful', finished: new Date().toISOString() }));
      const counts = await w.store.activeJobCounts();
      assert.deepEqual(counts.byStatus, { pending: 2 });
      assert.equal(counts.oldestPending, first.created);
      assert.deepEqual(await w.store.finishedJobCounts(), { successful: 1 });
    });
  });
}
