// Jobs as a user runs them: real supervisors (`node src/main.ts`), real ansible-runner playbooks on
// localhost, real git, the callback receiver storing what the jobs emit, and the API on top.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, tempDir, writeTestConfig, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { createRedis } from '../../src/redis/connect.ts';
import { TaskQueue } from '../../src/dispatch/task-queue.ts';
import { lockKey } from '../../src/dispatch/cluster-lock.ts';
import { SITE } from '../helpers/playbooks.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Runs until the file the extra var `release` names in the project exists: a job the test ends when it wants. */
const HOLD = `- hosts: all
  gather_facts: false
  tasks:
    - name: hold
      wait_for: path="{{ playbook_dir }}/{{ release }}" timeout=120
`;
const FAIL = `- hosts: all
  gather_facts: false
  tasks:
    - name: fail
      command: /bin/false
`;

/** A node with a local project holding the playbooks above, and a client for its API. */
async function startCluster(dispatcher: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const dir = tempDir('overseer-jobs-');
  const projectDir = join(dir, 'project');
  mkdirSync(projectDir);
  writeFileSync(join(projectDir, 'site.yml'), SITE);
  writeFileSync(join(projectDir, 'hold.yml'), HOLD);
  writeFileSync(join(projectDir, 'fail.yml'), FAIL);
  const { file, ports, dataDir } = await writeTestConfig(dir, {
    log_level: 'info',
    node_name: 'test-node',
    ...extra,
    services: { dispatcher: { min_workers: 1, max_workers: 5, schedule_interval_ms: 5000, project_roots: [dir], ...dispatcher }, callback_receiver: { workers: 1 } },
  });
  let node = startNode(['--config', file]);
  await node.waitForLog('ready');
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${ports.web}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, json: (res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : {}) as Json };
  };
  const create = async (path: string, body: Json) => {
    const res = await api('POST', path, body);
    assert.equal(res.status, 201, `POST ${path}: ${res.text}`);
    return res.json;
  };
  const inventory = await create('/api/v2/inventories/', { name: 'local', content: 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' });
  const project = await create('/api/v2/projects/', { name: 'local', local_path: projectDir });
  let templates = 0;
  const cluster = {
    dir,
    dataDir,
    ports,
    api,
    create,
    get node() {
      return node;
    },
    /** Stops the node with SIGKILL, runs `meanwhile`, and starts the node again on the same data dir. */
    async killAndRestart(meanwhile: () => Promise<void> = async () => {}) {
      node.child.kill('SIGKILL');
      await node.exited;
      await meanwhile();
      node = startNode(['--config', file]);
      await node.waitForLog('ready');
    },
    template: (playbook: string, more: Json = {}) =>
      create('/api/v2/job_templates/', { name: `t${++templates}`, project: project.id, inventory: inventory.id, playbook, ...more }),
    /** A release file for a HOLD job (in the project: what the sandboxed job sees), and a function that releases it. */
    hold() {
      const name = `release-${++templates}`;
      return { extra_vars: { release: name }, release: () => writeFileSync(join(projectDir, name), '') };
    },
    launch: async (template: Json) => {
      const res = await api('POST', `/api/v2/job_templates/${template.id}/launch/`, {});
      assert.equal(res.status, 201, res.text);
      return res.json.job as number;
    },
    job: async (id: number) => (await api('GET', `/api/v2/jobs/${id}/`)).json,
    /** Waits until the job's status is one of these, and returns it. */
    until: (id: number, statuses: string[], timeoutMs = 60_000) =>
      waitFor(`job ${id} ${statuses.join('|')}`, async () => {
        const job = (await api('GET', `/api/v2/jobs/${id}/`)).json;
        return statuses.includes(job.status) ? job : undefined;
      }, timeoutMs),
    /** The processes still running out of the job's private data dir. */
    processesOf: (id: number) => {
      const mark = join(dataDir, 'jobs', String(id));
      return readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8');
            return cmdline.includes(`${mark}/`) || cmdline.includes(`${mark}\0`);
          } catch {
            return false;
          }
        });
    },
    stop: () => node.stop(),
  };
  return cluster;
}

type Cluster = Awaited<ReturnType<typeof startCluster>>;

describe('jobs on one node', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ capacity: 20, idle_timeout_ms: 3000 });
  });
  after(async () => {
    await c?.stop();
  });

  test('a playbook runs to success; its events, host summary and stdout are what ansible-runner produced', async () => {
    const id = await c.launch(await c.template('site.yml'));
    const job = await c.until(id, ['successful', 'failed', 'error']);
    assert.equal(job.status, 'successful', job.job_explanation);
    assert.ok(job.started && job.finished && job.elapsed > 0);
    await waitFor('events stored', async () => (await c.job(id)).event_processing_finished === true);

    // The private dir (and ansible-runner's artifacts in it) is gone with the job: every counter is stored.
    assert.ok(!existsSync(join(c.dataDir, 'jobs', String(id))), 'the private data dir is removed');
    const events = (await c.api('GET', `/api/v2/jobs/${id}/job_events/?page_size=200`)).json;
    assert.deepEqual(events.results.map((e: Json) => e.counter), events.results.map((_: Json, i: number) => i + 1), 'the receiver stored every event ansible-runner emitted');
    assert.ok(events.count >= 12);

    const summaries = (await c.api('GET', `/api/v2/jobs/${id}/job_host_summaries/`)).json;
    assert.deepEqual(
      summaries.results.map((h: Json) => [h.host_name, h.ok, h.changed, h.failures, h.failed]),
      [['localhost', 2, 1, 0, false]],
    );
    const stdout = await c.api('GET', `/api/v2/jobs/${id}/stdout/?format=txt`);
    assert.equal(stdout.status, 200);
    assert.match(stdout.text, /PLAY RECAP \*+/);
    assert.match(stdout.text, /localhost\s+: ok=2\s+changed=1\s+unreachable=0\s+failed=0/);
    assert.doesNotMatch(stdout.text, /\u001b\[/, 'format=txt has no colour codes');
  });

  test('a failing playbook fails the job', async () => {
    const id = await c.launch(await c.template('fail.yml'));
    const job = await c.until(id, ['successful', 'failed', 'error']);
    assert.equal(job.status, 'failed');
    assert.equal(job.failed, true);
  });

  test('a job whose project directory has gone fails and says so', async () => {
    const gone = join(c.dir, 'gone');
    mkdirSync(gone);
    writeFileSync(join(gone, 'site.yml'), SITE);
    const project = await c.create('/api/v2/projects/', { name: 'gone', local_path: gone });
    const inventory = (await c.api('GET', '/api/v2/inventories/')).json.results[0];
    const template = await c.create('/api/v2/job_templates/', { name: 'gone', project: project.id, inventory: inventory.id, playbook: 'site.yml' });
    rmSync(gone, { recursive: true });
    const job = await c.until(await c.launch(template), ['successful', 'failed', 'error']);
    assert.equal(job.status, 'failed');
    assert.equal(job.job_explanation, `the project directory ${gone} does not exist on test-node`);
  });

  test('a git project is updated before the job, and only once within the cache timeout', async () => {
    const repo = join(c.dir, 'repo');
    mkdirSync(repo);
    writeFileSync(join(repo, 'site.yml'), SITE);
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { stdio: 'pipe' });
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'site');
    const head = git('rev-parse', 'HEAD').toString().trim();
    const project = await c.create('/api/v2/projects/', {
      name: 'from git',
      scm_type: 'git',
      scm_url: `file://${repo}`,
      scm_update_on_launch: true,
      scm_update_cache_timeout: 3600,
    });
    const inventory = (await c.api('GET', '/api/v2/inventories/')).json.results[0];
    const template = await c.create('/api/v2/job_templates/', { name: 'git site', project: project.id, inventory: inventory.id, playbook: 'site.yml' });

    const first = await c.launch(template);
    const done = await c.until(first, ['successful', 'failed', 'error']);
    assert.equal(done.status, 'successful', done.job_explanation);
    const updates = (await c.api('GET', `/api/v2/projects/${project.id}/project_updates/`)).json;
    assert.equal(updates.count, 1);
    const update = updates.results[0];
    assert.deepEqual([update.status, update.scm_revision, done.dependency], ['successful', head, update.id]);
    assert.ok(Date.parse(update.finished) <= Date.parse(done.started), 'the update ran first');

    const second = await c.launch(template);
    assert.equal((await c.until(second, ['successful', 'failed', 'error'])).status, 'successful');
    assert.equal((await c.api('GET', `/api/v2/projects/${project.id}/project_updates/`)).json.count, 1, 'the checkout was fresh enough');
  });

  test('without allow_simultaneous a second launch waits for the first', async () => {
    const hold = c.hold();
    const template = await c.template('hold.yml', { extra_vars: hold.extra_vars });
    const first = await c.launch(template);
    await c.until(first, ['running']);
    const second = await c.launch(template);
    const waiting = await waitFor('the second to be held', async () => {
      const j = await c.job(second);
      return j.job_explanation === `waiting for job-${first} to finish` ? j : undefined;
    });
    assert.equal(waiting.status, 'pending');
    hold.release();
    assert.equal((await c.until(first, ['successful', 'failed'])).status, 'successful');
    // The first job's end wakes the task manager: no wait for the next periodic run.
    assert.equal((await c.until(second, ['successful', 'failed'], 20_000)).status, 'successful');
  });

  test('a workflow takes its success and failure edges and succeeds when every failure is handled', async () => {
    const ok = await c.template('site.yml', { allow_simultaneous: true });
    const bad = await c.template('fail.yml');
    const wfjt = await c.create('/api/v2/workflow_job_templates/', {
      name: 'paths',
      nodes: [
        { identifier: 'first', job_template: ok.id, success_nodes: ['breaks'], failure_nodes: ['never'] },
        { identifier: 'breaks', job_template: bad.id, failure_nodes: ['mend'] },
        { identifier: 'never', job_template: ok.id },
        { identifier: 'mend', job_template: ok.id },
      ],
    });
    const launched = await c.api('POST', `/api/v2/workflow_job_templates/${wfjt.id}/launch/`, {});
    assert.equal(launched.status, 201, launched.text);
    const id = launched.json.workflow_job as number;
    const wf = await waitFor('the workflow to finish', async () => {
      const j = (await c.api('GET', `/api/v2/workflow_jobs/${id}/`)).json;
      return ['successful', 'failed', 'error', 'canceled'].includes(j.status) ? j : undefined;
    }, 90_000);
    assert.equal(wf.status, 'successful', wf.job_explanation);
    const nodes = Object.fromEntries(wf.workflow_nodes.map((n: Json) => [n.identifier, n]));
    assert.equal(nodes.never.do_not_run, true);
    assert.equal(nodes.never.job, null);
    const status = async (n: Json) => (await c.job(n.job)).status;
    assert.deepEqual([await status(nodes.first), await status(nodes.breaks), await status(nodes.mend)], ['successful', 'failed', 'successful']);
  });

  test('cancel stops a running job and its processes', async () => {
    const hold = c.hold();
    const id = await c.launch(await c.template('hold.yml', { extra_vars: hold.extra_vars }));
    await c.until(id, ['running']);
    await waitFor('ansible to be running', () => c.processesOf(id).length > 0);
    const res = await c.api('POST', `/api/v2/jobs/${id}/cancel/`, {});
    assert.equal(res.status, 202, res.text);
    const job = await c.until(id, ['canceled', 'failed', 'successful'], 20_000);
    assert.equal(job.status, 'canceled');
    assert.deepEqual(c.processesOf(id), [], 'no process of the job is left');
    assert.equal((await c.api('POST', `/api/v2/jobs/${id}/cancel/`, {})).status, 405, 'a finished job cannot be canceled');
  });

  test('the dispatcher metrics move: threads grow under load and shrink when idle, scale-ups and manager runs are counted', async () => {
    const before = (await scrape(c.ports.dispatcher)).body;
    const hold = c.hold();
    const template = await c.template('hold.yml', { extra_vars: hold.extra_vars, allow_simultaneous: true });
    const ids = [await c.launch(template), await c.launch(template), await c.launch(template)];
    for (const id of ids) await c.until(id, ['running']);
    const busy = await waitFor('the pool to grow', async () => {
      const body = (await scrape(c.ports.dispatcher)).body;
      return (sampleValue(body, 'dispatcher_pool_workers') ?? 0) >= 3 && (sampleValue(body, 'instance_running_jobs') ?? 0) >= 3 ? body : undefined;
    });
    assert.ok((sampleValue(busy, 'dispatcher_pool_scale_up_events_total') ?? 0) >= 2, 'from 1 thread to 3 or more');
    assert.ok((sampleValue(busy, 'dispatcher_pool_active_tasks') ?? 0) >= 3);
    assert.ok((sampleValue(busy, 'instance_consumed_capacity') ?? 0) >= 6, 'three jobs of impact 2');
    assert.ok((sampleValue(busy, 'dispatcher_availability') ?? 1) < 1);
    hold.release();
    for (const id of ids) assert.equal((await c.until(id, ['successful', 'failed'])).status, 'successful');
    const afterwards = await waitFor('the runs to be counted', async () => {
      const body = (await scrape(c.ports.dispatcher)).body;
      return (sampleValue(body, 'dispatcher_tasks_processed_total{task="run_job"}') ?? 0) >= (sampleValue(before, 'dispatcher_tasks_processed_total{task="run_job"}') ?? 0) + 3 ? body : undefined;
    });
    for (const manager of ['task_manager', 'dependency_manager', 'workflow_manager']) {
      assert.ok((sampleValue(afterwards, `${manager}__schedule_calls_total`) ?? 0) > (sampleValue(before, `${manager}__schedule_calls_total`) ?? 0) - 1);
      assert.ok((sampleValue(afterwards, `${manager}__schedule_calls_total`) ?? 0) > 0, `${manager} ran`);
    }
    assert.ok((sampleValue(afterwards, 'task_manager_tasks_started') ?? -1) >= 0);
    await waitFor('idle threads to stop, back to min_workers', async () => sampleValue((await scrape(c.ports.dispatcher)).body, 'dispatcher_pool_workers') === 1, 30_000);
    assert.ok((sampleValue(afterwards, 'task_manager__schedule_seconds') ?? 0) > 0);
  });
});

describe('jobs on a node with little capacity', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ capacity: 3 });
  });
  after(async () => {
    await c?.stop();
  });

  test('a job that does not fit stays pending until capacity frees up', async () => {
    const hold = c.hold();
    const first = await c.launch(await c.template('hold.yml', { extra_vars: hold.extra_vars }));
    await c.until(first, ['running']);
    const second = await c.launch(await c.template('site.yml'));
    const held = await waitFor('the second to be held for capacity', async () => {
      const j = await c.job(second);
      return j.job_explanation.startsWith('not enough capacity') ? j : undefined;
    });
    assert.equal(held.status, 'pending');
    assert.match(held.job_explanation, /needs 2, 1 of 3 remaining/);
    const instances = (await c.api('GET', '/api/v2/instances/')).json.results as Json[];
    const me = instances.find((i) => i.capacity === 3);
    assert.ok(me, JSON.stringify(instances));
    assert.deepEqual([me.consumed_capacity, me.remaining_capacity], [2, 1]);
    hold.release();
    assert.equal((await c.until(second, ['successful', 'failed'])).status, 'successful');
  });
});

describe('a node killed during a job', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ capacity: 20 });
  });
  after(async () => {
    await c?.stop();
  });

  test('after a restart the job is failed with an explanation, and what was queued still runs', async () => {
    const hold = c.hold();
    const template = await c.template('hold.yml', { extra_vars: hold.extra_vars });
    const running = await c.launch(template);
    await c.until(running, ['running']);
    await waitFor('ansible to be running', () => c.processesOf(running).length > 0);
    const queued = await c.launch(template); // held behind the first: same template
    await waitFor('the second to be held', async () => (await c.job(queued)).job_explanation === `waiting for job-${running} to finish`);

    // Its private Redis outlives it (the next start stops it): queue a task there while the node is
    // down, and leave the task manager's cluster lock as a run killed with the node leaves it.
    await c.killAndRestart(async () => {
      const redis = createRedis(`unix://${join(c.dataDir, 'redis.sock')}`, 'test');
      await redis.connect();
      await new TaskQueue(redis, 'test-node').submit('noop');
      await redis.set(lockKey('task_manager'), 'test-node killed-run', 'PX', 3_600_000);
      redis.disconnect();
    });
    const failed = await c.job(running);
    assert.equal(failed.status, 'failed');
    assert.match(failed.job_explanation, /stopped while this job was running/);
    assert.deepEqual(c.processesOf(running), [], 'the leftover ansible-runner was stopped');
    hold.release();
    assert.equal((await c.until(queued, ['successful', 'failed'])).status, 'successful');
    // A task is counted once its thread has returned, just after its job's final status is written.
    const body = await waitFor('the queued task and the one given back to run', async () => {
      const b = (await scrape(c.ports.dispatcher)).body;
      return sampleValue(b, 'dispatcher_tasks_processed_total{task="noop"}') === 1 &&
        (sampleValue(b, 'dispatcher_tasks_processed_total{task="run_job"}') ?? 0) >= 2
        ? b
        : undefined;
    });
    // The killed job's own task was given back too, and ran without running the job again.
    assert.equal(sampleValue(body, 'dispatcher_tasks_failed_total{task="run_job"}'), 0);
    assert.equal((await c.job(running)).status, 'failed');
  });
});

describe('many jobs on a node with two dispatcher threads', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ capacity: 220, min_workers: 1, max_workers: 2 });
  });
  after(async () => {
    await c?.stop();
  });

  test('24 jobs run at once; canceled ones stop, released ones succeed, and a kill -9 fails the rest with nothing left running', { timeout: 600_000 }, async () => {
    const first = c.hold();
    const second = c.hold();
    const a = await c.template('hold.yml', { extra_vars: first.extra_vars, allow_simultaneous: true });
    const b = await c.template('hold.yml', { extra_vars: second.extra_vars, allow_simultaneous: true });
    const ofA: number[] = [];
    const ofB: number[] = [];
    for (let i = 0; i < 10; i++) ofA.push(await c.launch(a));
    for (let i = 0; i < 14; i++) ofB.push(await c.launch(b));
    const all = [...ofA, ...ofB];
    // Every one is running, each with its ansible-runner, though the pool has two threads.
    await waitFor('all 24 jobs running with their processes', async () => {
      for (const id of all) if ((await c.job(id)).status !== 'running' || c.processesOf(id).length === 0) return false;
      return true;
    }, 240_000);
    const instance = ((await c.api('GET', '/api/v2/instances/')).json.results as Json[])[0] as Json;
    assert.equal(instance.consumed_capacity, 48, 'impact 2 each');

    const canceled = ofB.splice(0, 4);
    for (const id of canceled) assert.equal((await c.api('POST', `/api/v2/jobs/${id}/cancel/`, {})).status, 202);
    for (const id of canceled) assert.equal((await c.until(id, ['canceled', 'failed', 'successful'])).status, 'canceled');
    await waitFor('the canceled jobs\' processes gone', () => canceled.every((id) => c.processesOf(id).length === 0));

    first.release();
    for (const id of ofA) assert.equal((await c.until(id, ['successful', 'failed'], 120_000)).status, 'successful');
    for (const id of ofB) assert.equal((await c.job(id)).status, 'running');

    await c.killAndRestart();
    for (const id of ofB) {
      const job = await c.job(id);
      assert.equal(job.status, 'failed');
      assert.match(job.job_explanation, /stopped while this job was running/);
      assert.deepEqual(c.processesOf(id), [], `job ${id}'s processes were stopped`);
    }
    // Their events up to the kill were kept, and stdout serves them.
    assert.match((await c.api('GET', `/api/v2/jobs/${ofA[0]}/stdout/?format=txt`)).text, /PLAY RECAP/);
  });
});

describe('jobs with PostgreSQL', () => {
  let c: Cluster;
  let postgres: TestPostgres;
  before(async () => {
    postgres = await startTestPostgres();
    c = await startCluster({ capacity: 20 }, { database_url: await postgres.createDatabase() });
  });
  after(async () => {
    await c?.stop();
    await postgres?.stop();
  });

  test('a playbook runs to success and its events are stored', async () => {
    const id = await c.launch(await c.template('site.yml'));
    const job = await c.until(id, ['successful', 'failed', 'error']);
    assert.equal(job.status, 'successful', job.job_explanation);
    await waitFor('events stored', async () => (await c.job(id)).event_processing_finished === true);
    const events = (await c.api('GET', `/api/v2/jobs/${id}/job_events/?page_size=200`)).json;
    assert.deepEqual(events.results.map((e: Json) => e.counter), events.results.map((_: Json, i: number) => i + 1));
    assert.match((await c.api('GET', `/api/v2/jobs/${id}/stdout/?format=txt`)).text, /PLAY RECAP/);
  });
});
