// The task, dependency and workflow managers over a real SQLite and a real PostgreSQL, queuing into
// a real Redis: the job states and explanations a user sees after each run. Jobs are moved to
// their finished states here by hand, as a dispatcher thread would.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createRedis } from '../../src/redis/connect.ts';
import { openStorage } from '../../src/storage/open.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { ControlStore } from '../../src/control/store.ts';
import type { Job, JobStatus, JobTemplate, Project, WorkflowNodeSpec } from '../../src/control/model.ts';
import { launchJob, launchWorkflow } from '../../src/control/launch.ts';
import { cancelJob } from '../../src/control/cancel.ts';
import type { ManagerEnv } from '../../src/control/manager-env.ts';
import { runTaskManager } from '../../src/control/task-manager.ts';
import { runDependencyManager } from '../../src/control/dependency-manager.ts';
import { runWorkflowManager } from '../../src/control/workflow-manager.ts';
import { TaskQueue, parseTask, queueKeys, type Task } from '../../src/dispatch/task-queue.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { lockKey, withClusterLock } from '../../src/dispatch/cluster-lock.ts';

const NODE = 'node-a';

interface World {
  readonly store: ControlStore;
  readonly queue: TaskQueue;
  readonly env: (over?: Partial<ManagerEnv>) => ManagerEnv;
  /** Tasks queued so far, oldest first. */
  readonly queued: () => Promise<Task[]>;
  readonly job: (id: number) => Promise<Job>;
  readonly project: (over?: Partial<Project>) => Promise<Project>;
  readonly template: (over?: Partial<JobTemplate> & { hosts?: number }) => Promise<JobTemplate>;
  /** What a dispatcher thread does: the job runs, then ends with this status. */
  readonly finish: (id: number, status: JobStatus) => Promise<void>;
}

let names = 0;
const unique = (what: string) => `${what} ${++names}`;

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`managers: ${backend}`, () => {
    let redis: TestRedis;
    let client: Redis;
    let postgres: TestPostgres | undefined;
    const opened: Storage[] = [];

    before(async () => {
      redis = await startTestRedis();
      client = createRedis(redis.url, 'managers-test');
      await client.connect();
      if (backend === 'postgres') postgres = await startTestPostgres();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    after(async () => {
      client?.disconnect();
      await redis?.stop();
      await postgres?.stop();
    });

    /** A fresh database and queue, and shorthands over them. */
    async function world(): Promise<World> {
      const storage = openStorage(postgres ? await postgres.createDatabase() : '', tempDir());
      opened.push(storage);
      await storage.migrate();
      const store = new ControlStore(storage.sql);
      const node = `${NODE}-${++names}`;
      const queue = new TaskQueue(client, node);
      const submit: ManagerEnv['submit'] = (name, args, options) => queue.submit(name, args, options);
      const inventories = new Map<number, number>();
      const env = (over: Partial<ManagerEnv> = {}): ManagerEnv => ({
        store,
        node,
        capacity: 100,
        submit,
        cancel: (job) => cancelJob({ store, submit, publish: (c, m) => client.publish(c, m) }, job),
        deadline: Date.now() + 60_000,
        ...over,
      });
      const project = (over: Partial<Project> = {}) =>
        store.createProject({
          name: unique('project'),
          description: '',
          scm_type: '',
          scm_url: '',
          scm_branch: '',
          local_path: tempDir(),
          scm_update_on_launch: false,
          scm_update_cache_timeout: 0,
          ...over,
        });
      const inventory = async (hosts: number) => {
        if (!inventories.has(hosts)) {
          const content = Array.from({ length: hosts }, (_, i) => `host${i} ansible_connection=local`).join('\n');
          inventories.set(hosts, (await store.createInventory({ name: unique('inventory'), description: '', format: 'ini', content, host_count: hosts })).id);
        }
        return inventories.get(hosts) as number;
      };
      return {
        store,
        queue,
        env,
        queued: async () => (await client.lrange(queueKeys(node).queue, 0, -1)).map((raw) => parseTask(raw) as Task),
        job: async (id) => (await store.job(id)) as Job,
        project,
        template: async ({ hosts = 1, ...over } = {}) =>
          store.createJobTemplate({
            name: unique('template'),
            description: '',
            project_id: over.project_id ?? (await project()).id,
            inventory_id: await inventory(hosts),
            playbook: 'site.yml',
            extra_vars: '{}',
            forks: 0,
            allow_simultaneous: false,
            ...over,
          }),
        finish: async (id, status) => {
          assert.ok(await store.changeJob(id, ['waiting'], { status: 'running', started: new Date().toISOString() }), `job ${id} was waiting`);
          assert.ok(await store.changeJob(id, ['running'], { status, finished: new Date().toISOString() }));
        },
      };
    }

    /** Launches a job of the template and lets the dependency manager look at it, as a launch does. */
    async function launched(w: World, template: JobTemplate): Promise<Job> {
      const job = await launchJob(w.store, template, { launch_type: 'manual' });
      await runDependencyManager(w.env());
      return job;
    }

    test('a job starts on this node, with a run_job task only it can run', async () => {
      const w = await world();
      const job = await launched(w, await w.template({ hosts: 3, forks: 2 }));
      const run = await runTaskManager(w.env());
      assert.equal(run.tasksStarted, 1);
      const started = await w.job(job.id);
      assert.equal(started.status, 'waiting');
      assert.equal(started.task_impact, 3, 'min(hosts, forks) + 1');
      const tasks = (await w.queued()).filter((t) => t.name === 'run_job');
      assert.deepEqual(tasks.map((t) => [t.args.job_id, t.id]), [[job.id, started.task_id]]);
    });

    test('without allow_simultaneous the second launch of a template waits for the first', async () => {
      const w = await world();
      const template = await w.template();
      const first = await launched(w, template);
      const second = await launched(w, template);
      const run = await runTaskManager(w.env());
      assert.deepEqual([run.tasksStarted, run.tasksBlocked], [1, 1]);
      assert.equal((await w.job(first.id)).status, 'waiting');
      const waiting = await w.job(second.id);
      assert.equal(waiting.status, 'pending');
      assert.equal(waiting.job_explanation, `waiting for job-${first.id} to finish`);

      await w.finish(first.id, 'successful');
      await runTaskManager(w.env());
      assert.equal((await w.job(second.id)).status, 'waiting');
    });

    test('with allow_simultaneous both launches start', async () => {
      const w = await world();
      const template = await w.template({ allow_simultaneous: true });
      const jobs = [await launched(w, template), await launched(w, template)];
      assert.equal((await runTaskManager(w.env())).tasksStarted, 2);
      for (const j of jobs) assert.equal((await w.job(j.id)).status, 'waiting');
    });

    test('a job that does not fit the remaining capacity stays pending until there is room', async () => {
      const w = await world();
      const env = w.env({ capacity: 3 });
      const big = await launched(w, await w.template({ hosts: 2 })); // impact 3
      const small = await launched(w, await w.template({ hosts: 1 })); // impact 2
      await runTaskManager(env);
      assert.equal((await w.job(big.id)).status, 'waiting');
      const held = await w.job(small.id);
      assert.equal(held.status, 'pending');
      assert.equal(held.job_explanation, `not enough capacity on ${env.node}: needs 2, 0 of 3 remaining`);

      await w.finish(big.id, 'failed');
      await runTaskManager(env);
      const now = await w.job(small.id);
      assert.deepEqual([now.status, now.job_explanation], ['waiting', '']);
    });

    test('capacity alone bounds how many jobs start: 24 jobs of impact 2 all start within 48 forks', async () => {
      const w = await world();
      const template = await w.template({ allow_simultaneous: true });
      const jobs = [];
      for (let i = 0; i < 25; i++) jobs.push(await launched(w, template));
      await runTaskManager(w.env({ capacity: 48 }));
      const statuses = await Promise.all(jobs.map(async (j) => (await w.job(j.id)).status));
      assert.equal(statuses.filter((s) => s === 'waiting').length, 24);
      assert.match((await w.job(jobs[24]!.id)).job_explanation, /not enough capacity .*: needs 2, 0 of 48 remaining/);
    });

    test('a git project is updated before its job, once within the cache timeout', async () => {
      const w = await world();
      const project = await w.project({ scm_type: 'git', scm_url: 'file:///nowhere', local_path: '', scm_update_on_launch: true, scm_update_cache_timeout: 3600 });
      const template = await w.template({ project_id: project.id, allow_simultaneous: true });
      const first = await launched(w, template);
      const update = (await w.job(first.id)).dependency_id;
      assert.ok(update !== null, 'the job depends on a project update');
      assert.equal((await w.job(update)).type, 'project_update');
      // A second launch while the update is in flight shares it.
      const second = await launched(w, template);
      assert.equal((await w.job(second.id)).dependency_id, update);

      await runTaskManager(w.env());
      assert.equal((await w.job(update)).status, 'waiting');
      assert.equal((await w.job(first.id)).job_explanation, `waiting for project_update-${update} to finish`);
      await w.finish(update, 'successful');
      await runTaskManager(w.env());
      assert.equal((await w.job(first.id)).status, 'waiting');
      assert.equal((await w.job(second.id)).status, 'waiting');

      // Within the cache timeout no new update is made.
      const third = await launched(w, template);
      assert.equal((await w.job(third.id)).dependency_id, null);
      assert.equal((await w.store.listJobs({ type: 'project_update', project_id: project.id }, { limit: 10, offset: 0 })).count, 1);
    });

    test('a cache timeout of 0 updates at every launch; a project without update on launch only once', async () => {
      const w = await world();
      const always = await w.project({ scm_type: 'git', scm_url: 'file:///a', local_path: '', scm_update_on_launch: true, scm_update_cache_timeout: 0 });
      const once = await w.project({ scm_type: 'git', scm_url: 'file:///b', local_path: '', scm_update_on_launch: false });
      for (const project of [always, once]) {
        const template = await w.template({ project_id: project.id });
        for (let i = 0; i < 2; i++) {
          const job = await launched(w, template);
          const dep = (await w.job(job.id)).dependency_id;
          if (dep !== null) {
            await runTaskManager(w.env());
            await w.finish(dep, 'successful');
          }
          await runTaskManager(w.env());
          await w.finish(job.id, 'successful');
        }
      }
      const updates = async (p: Project) => (await w.store.listJobs({ type: 'project_update', project_id: p.id }, { limit: 10, offset: 0 })).count;
      assert.equal(await updates(always), 2);
      assert.equal(await updates(once), 1, 'the first launch still needs a checkout');
    });

    test('a failed project update fails the jobs that wait for it, naming it', async () => {
      const w = await world();
      const project = await w.project({ scm_type: 'git', scm_url: 'file:///x', local_path: '', scm_update_on_launch: true });
      const job = await launched(w, await w.template({ project_id: project.id }));
      const update = (await w.job(job.id)).dependency_id as number;
      await runTaskManager(w.env());
      await w.finish(update, 'failed');
      await runTaskManager(w.env());
      const failed = await w.job(job.id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.job_explanation, `Previous Task Failed: {"job_type":"project_update","job_name":"${project.name}","job_id":${update}}`);
    });

    test('canceling a pending job cancels it at once; the manager never starts it', async () => {
      const w = await world();
      const job = await launched(w, await w.template());
      assert.equal(await cancelJob({ store: w.store, submit: async () => true, publish: async () => 0 }, job), 'canceled');
      await runTaskManager(w.env());
      assert.equal((await w.job(job.id)).status, 'canceled');
    });

    test('a run past its deadline stops early and starts nothing more', async () => {
      const w = await world();
      const job = await launched(w, await w.template());
      const run = await runTaskManager(w.env({ deadline: Date.now() - 1 }));
      assert.deepEqual([run.timedOut, run.tasksStarted], [true, 0]);
      assert.equal((await w.job(job.id)).status, 'pending');
    });

    describe('workflows', () => {
      /** A workflow template over fresh job templates; `edges` as [from, kind, to]. */
      async function workflow(w: World, ids: string[], edges: [string, 'success' | 'failure' | 'always', string][]) {
        const nodes: WorkflowNodeSpec[] = [];
        for (const identifier of ids) {
          const out = (kind: string) => edges.filter(([f, k]) => f === identifier && k === kind).map(([, , t]) => t);
          nodes.push({ identifier, job_template: (await w.template({ allow_simultaneous: true })).id, success_nodes: out('success'), failure_nodes: out('failure'), always_nodes: out('always') });
        }
        const template = await w.store.createWorkflowTemplate({ name: unique('workflow'), description: '', allow_simultaneous: false, nodes });
        const job = await launchWorkflow(w.store, template);
        await runTaskManager(w.env());
        assert.equal((await w.job(job.id)).status, 'running', 'the task manager starts a workflow without capacity');
        return job.id;
      }

      /** Runs the workflow manager and returns each node's job, by identifier. */
      async function step(w: World, wf: number) {
        await runWorkflowManager(w.env());
        const nodes = (await w.job(wf)).workflow_nodes;
        return Object.fromEntries(nodes.map((n) => [n.identifier, n]));
      }

      /** The node's job runs (through the dependency and task managers) and ends with status. */
      async function run(w: World, job: number | null, status: JobStatus) {
        assert.ok(job !== null, 'the node has a job');
        await runDependencyManager(w.env());
        await runTaskManager(w.env());
        await w.finish(job, status);
      }

      test('success path: the success child runs, the failure child is never run, the workflow succeeds', async () => {
        const w = await world();
        const wf = await workflow(w, ['a', 'ok', 'bad'], [['a', 'success', 'ok'], ['a', 'failure', 'bad']]);
        let nodes = await step(w, wf);
        assert.ok(nodes.a?.job !== null && nodes.ok?.job === null);
        await run(w, nodes.a?.job ?? null, 'successful');
        nodes = await step(w, wf);
        assert.equal(nodes.bad?.do_not_run, true);
        await run(w, nodes.ok?.job ?? null, 'successful');
        await step(w, wf);
        assert.deepEqual([(await w.job(wf)).status, (await w.job(wf)).job_explanation], ['successful', '']);
      });

      test('failure path: a handled failure runs its failure child and the workflow succeeds', async () => {
        const w = await world();
        const wf = await workflow(w, ['a', 'ok', 'recover', 'finally'], [['a', 'success', 'ok'], ['a', 'failure', 'recover'], ['recover', 'always', 'finally']]);
        let nodes = await step(w, wf);
        await run(w, nodes.a?.job ?? null, 'failed');
        nodes = await step(w, wf);
        assert.equal(nodes.ok?.do_not_run, true);
        await run(w, nodes.recover?.job ?? null, 'failed');
        nodes = await step(w, wf);
        await run(w, nodes.finally?.job ?? null, 'successful');
        await step(w, wf);
        assert.equal((await w.job(wf)).status, 'successful', 'every failure had a path');
      });

      test('an unhandled failure fails the workflow, naming the node', async () => {
        const w = await world();
        const wf = await workflow(w, ['a', 'b'], [['a', 'success', 'b']]);
        const nodes = await step(w, wf);
        await run(w, nodes.a?.job ?? null, 'failed');
        await step(w, wf);
        const done = await w.job(wf);
        assert.equal(done.status, 'failed');
        assert.equal(done.job_explanation, 'No error handling paths found, marking workflow as failed: (a,failed)');
      });

      test('canceling a workflow cancels its running node and then the workflow', async () => {
        const w = await world();
        const wf = await workflow(w, ['a', 'b'], [['a', 'always', 'b']]);
        const nodes = await step(w, wf);
        await runDependencyManager(w.env());
        await runTaskManager(w.env());
        assert.equal(await w.env().cancel(await w.job(wf)), 'requested');
        await runWorkflowManager(w.env());
        const a = await w.job(nodes.a?.job as number);
        assert.equal(a.status, 'canceled', 'its job had not started running yet');
        await runWorkflowManager(w.env());
        const done = await w.job(wf);
        assert.equal(done.status, 'canceled');
        assert.equal(done.workflow_nodes.find((n) => n.identifier === 'b')?.do_not_run, true);
      });
    });

    test('a run that finds the lock taken is not lost: the holder learns it was asked again', async () => {
      let release = () => {};
      const held = withClusterLock(client, `lock-${backend}`, 'node-a', 10_000, () => new Promise<void>((r) => (release = r)));
      await waitFor('the lock to be taken', async () => (await client.exists(lockKey(`lock-${backend}`))) === 1);
      assert.deepEqual(await withClusterLock(client, `lock-${backend}`, 'node-a', 10_000, async () => 'second'), { ran: false });
      release();
      assert.deepEqual(await held, { ran: true, value: undefined, askedAgain: true });
      assert.deepEqual(await withClusterLock(client, `lock-${backend}`, 'node-a', 10_000, async () => 'third'), { ran: true, value: 'third', askedAgain: false });
    });

    test('a manager queued twice before it runs is queued once', async () => {
      const w = await world();
      assert.equal(await w.queue.submit('task_manager', {}, { once: true }), true);
      assert.equal(await w.queue.submit('task_manager', {}, { once: true }), false);
      assert.equal((await w.queued()).filter((t) => t.name === 'task_manager').length, 1);
    });
  });
}
