// Job execution as the dispatcher sees it: real ansible-runner and git runs whose events land in a real Redis
// queue with job_id, counters 1..n and a closing EOF; failures explained, cancels kill the process group.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Redis } from 'ioredis';
import { createRedis } from '../../src/redis/connect.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.ts';
import { tempDir } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { runPlaybook, type PlaybookRun } from '../../src/jobs/run-playbook.ts';
import { updateProject, type ProjectUpdate } from '../../src/jobs/update-project.ts';

type Pushed = Record<string, unknown>;

const LOCAL_INI = 'localhost ansible_connection=local\n';

const SITE = `- hosts: all
  gather_facts: false
  tasks:
    - name: loop
      debug:
        msg: "{{ greeting }} {{ item }}"
      loop: [1, 2, 3]
    - name: echo
      command: echo hi
`;

const oneTask = (task: string) => `- hosts: all
  gather_facts: false
  tasks:
    - ${task}
`;

function writeFiles(files: Record<string, string>, dir = tempDir('overseer-project-')): string {
  chmodSync(dir, 0o755); // jobs run as nobody
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

const alreadyGone = (pid: number) => {
  assert.throws(() => process.kill(-pid, 0), { code: 'ESRCH' }, `process group ${pid} is gone`);
};

describe('job execution', () => {
  let server: TestRedis;
  let redis: Redis;
  let jobs = 0;

  before(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'job-execution-test');
    await redis.connect();
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  const pushed = async (queue: string): Promise<Pushed[]> => (await redis.lrange(queue, 0, -1)).map((s) => JSON.parse(s) as Pushed);

  /** Checks the queue holds events with job_id and counters 1..n then the EOF; returns the events. */
  async function stream(queue: string, jobId: number): Promise<Pushed[]> {
    const items = await pushed(queue);
    const events = items.slice(0, -1);
    assert.deepEqual(items.at(-1), { event: 'EOF', job_id: jobId, final_counter: events.length });
    assert.deepEqual(events.map((e) => e.counter), events.map((_, i) => i + 1));
    for (const e of events) assert.equal(e.job_id, jobId);
    return events;
  }

  function playbookRun(overrides: Partial<PlaybookRun> & Pick<PlaybookRun, 'projectDir'>): PlaybookRun {
    const jobId = ++jobs;
    return {
      jobId,
      privateDataDir: join(tempDir('overseer-pd-'), 'pd'),
      playbook: 'site.yml',
      inventory: { format: 'ini', content: LOCAL_INI },
      extraVars: {},
      forks: 0,
      runner: 'ansible-runner',
      bwrap: 'bwrap',
      redis,
      queue: `jobs-test-${jobId}`,
      signal: new AbortController().signal,
      ...overrides,
    };
  }

  it('runs a playbook and pushes exactly the events ansible-runner recorded, then the EOF', async () => {
    const projectDir = writeFiles({ 'site.yml': SITE, '.git/HEAD': 'ref: refs/heads/main\n' });
    const run = playbookRun({ projectDir, extraVars: { greeting: 'hello' } });
    const outcome = await runPlaybook(run);
    assert.deepEqual({ ...outcome, events: undefined }, { status: 'successful', rc: 0, events: undefined, explanation: '' });
    const events = await stream(run.queue, run.jobId);
    const recorded = readdirSync(join(run.privateDataDir, 'artifacts', String(run.jobId), 'job_events')).filter((f) => f.endsWith('.json'));
    assert.equal(events.length, recorded.length);
    assert.equal(outcome.events, events.length);
    assert.ok(events.some((e) => e.event === 'playbook_on_stats'), 'has the playbook_on_stats event');
    assert.ok(events.some((e) => String(e.stdout).includes('hello 3')), 'extra vars reached the playbook');
    assert.equal(events.filter((e) => e.event === 'runner_item_on_ok').length, 3);
    assert.ok(!existsSync(join(run.privateDataDir, 'project', '.git')), '.git is not copied');
  });

  it('takes a YAML inventory and --forks', async () => {
    const projectDir = writeFiles({ 'site.yml': oneTask('command: echo hi') });
    const inventory = { format: 'yaml', content: 'all:\n  hosts:\n    localhost:\n      ansible_connection: local\n' } as const;
    const run = playbookRun({ projectDir, inventory, forks: 2 });
    const outcome = await runPlaybook(run);
    assert.equal(outcome.status, 'successful', outcome.explanation);
    assert.ok(existsSync(join(run.privateDataDir, 'inventory', 'hosts.yml')));
    const events = await stream(run.queue, run.jobId);
    assert.ok(events.some((e) => e.event === 'runner_on_ok' && (e.event_data as Pushed).host === 'localhost'));
  });

  it('reports a failing playbook as failed with rc 2, its events still pushed', async () => {
    const run = playbookRun({ projectDir: writeFiles({ 'site.yml': oneTask('command: /bin/false') }) });
    const outcome = await runPlaybook(run);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.rc, 2);
    assert.match(outcome.explanation, /ansible-runner exited with code 2/);
    const events = await stream(run.queue, run.jobId);
    assert.equal(outcome.events, events.length);
    assert.ok(events.some((e) => e.event === 'runner_on_failed'));
  });

  it('explains a missing ansible-runner and still ends the stream', async () => {
    const run = playbookRun({ projectDir: writeFiles({ 'site.yml': SITE }), runner: '/nonexistent/ansible-runner' });
    const outcome = await runPlaybook(run);
    assert.equal(outcome.status, 'error');
    assert.equal(outcome.rc, null);
    assert.match(outcome.explanation, /"\/nonexistent\/ansible-runner".*apt-get install python3-ansible-runner ansible-core/);
    assert.deepEqual(await stream(run.queue, run.jobId), []);
  });

  it('fails a run whose playbook is not in the project', async () => {
    const run = playbookRun({ projectDir: writeFiles({ 'site.yml': SITE }), playbook: 'nope.yml' });
    const outcome = await runPlaybook(run);
    assert.deepEqual(outcome, { status: 'failed', rc: null, events: 0, explanation: 'playbook "nope.yml" not found in the project' });
    assert.deepEqual(await stream(run.queue, run.jobId), []);
  });

  it('cancels a running playbook: the process group is gone and the stream ends', async () => {
    const controller = new AbortController();
    let pid = 0;
    const run = playbookRun({
      projectDir: writeFiles({ 'site.yml': oneTask('command: sleep 60') }),
      signal: controller.signal,
      onSpawn: (p) => (pid = p),
    });
    const running = runPlaybook(run);
    await waitFor('the task to start', async () => (await pushed(run.queue)).some((e) => e.event === 'runner_on_start'));
    const canceledAt = Date.now();
    controller.abort();
    const outcome = await running;
    assert.equal(outcome.status, 'canceled');
    assert.ok(Date.now() - canceledAt < 4000, `canceled in ${Date.now() - canceledAt} ms`);
    assert.ok(pid > 0);
    alreadyGone(pid);
    // ansible-runner handled the SIGTERM itself: it stopped ansible-playbook (in its own session) and recorded it.
    assert.equal(readFileSync(join(run.privateDataDir, 'artifacts', String(run.jobId), 'status'), 'utf8'), 'canceled');
    const events = await stream(run.queue, run.jobId);
    assert.equal(outcome.events, events.length);
  });

  it('does not start a run canceled beforehand', async () => {
    let spawned = false;
    const run = playbookRun({ projectDir: writeFiles({ 'site.yml': SITE }), signal: AbortSignal.abort(), onSpawn: () => (spawned = true) });
    const outcome = await runPlaybook(run);
    assert.equal(outcome.status, 'canceled');
    assert.equal(spawned, false);
    assert.deepEqual(await stream(run.queue, run.jobId), []);
  });

  it('rejects when Redis is gone, after killing the process group', async () => {
    const lost = createRedis(server.url, 'job-execution-lost');
    await lost.connect();
    lost.disconnect();
    let pid = 0;
    const run = playbookRun({ projectDir: writeFiles({ 'site.yml': oneTask('command: sleep 60') }), redis: lost, onSpawn: (p) => (pid = p) });
    await assert.rejects(runPlaybook(run), /Connection is closed/);
    assert.ok(pid > 0);
    alreadyGone(pid);
  });

  describe('project updates', () => {
    const git = (cwd: string, ...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], { cwd, encoding: 'utf8' }).trim();

    function update(overrides: Partial<ProjectUpdate> & Pick<ProjectUpdate, 'url' | 'dir'>): ProjectUpdate {
      const jobId = ++jobs;
      return { jobId, branch: '', git: 'git', bwrap: 'bwrap', privateDir: join(tempDir('overseer-update-'), 'pd'), redis, queue: `jobs-test-${jobId}`, signal: new AbortController().signal, ...overrides };
    }

    it('clones, then updates in place to the new revision', async () => {
      const repo = writeFiles({ 'site.yml': SITE });
      git(repo, 'init', '-q', '-b', 'main');
      git(repo, 'add', '.');
      git(repo, 'commit', '-q', '-m', 'first');
      const dir = join(tempDir('overseer-checkout-'), 'project');

      const first = update({ url: `file://${repo}`, dir });
      const cloned = await updateProject(first);
      assert.equal(cloned.status, 'successful', cloned.explanation);
      assert.equal(cloned.revision, git(repo, 'rev-parse', 'HEAD'));
      assert.ok(existsSync(join(dir, 'site.yml')));
      assert.deepEqual(readdirSync(dirname(dir)), ['project'], 'no temporary clone is left');
      const events = await stream(first.queue, first.jobId);
      assert.equal(cloned.events, events.length);
      assert.ok(events.every((e) => e.event === 'verbose' && typeof e.uuid === 'string'));
      assert.match(String(events[0]?.stdout), /^Updating project from file:\/\/.* \(default branch\)$/);
      assert.equal(events.at(-1)?.stdout, `Revision ${cloned.revision}`);

      writeFiles({ 'second.yml': SITE }, repo);
      git(repo, 'add', '.');
      git(repo, 'commit', '-q', '-m', 'second');
      writeFileSync(join(dir, 'stray.txt'), 'left over');
      const again = update({ url: `file://${repo}`, dir, branch: 'main' });
      const updated = await updateProject(again);
      assert.equal(updated.status, 'successful', updated.explanation);
      assert.notEqual(updated.revision, cloned.revision);
      assert.equal(updated.revision, git(repo, 'rev-parse', 'HEAD'));
      assert.ok(existsSync(join(dir, 'second.yml')));
      assert.ok(!existsSync(join(dir, 'stray.txt')), 'untracked files are cleaned');
      assert.equal((await stream(again.queue, again.jobId)).at(-1)?.stdout, `Revision ${updated.revision}`);
    });

    it('fails on a bad URL with git\'s own words', async () => {
      const dir = join(tempDir('overseer-checkout-'), 'project');
      const bad = update({ url: `file://${dir}-no-such-repo`, dir });
      const outcome = await updateProject(bad);
      assert.equal(outcome.status, 'failed');
      assert.equal(outcome.rc, 128);
      assert.equal(outcome.revision, '');
      assert.match(outcome.explanation, /^git clone .* exited with code 128\n.*fatal/s);
      assert.deepEqual(readdirSync(dirname(dir)), [], 'nothing is left behind');
      const events = await stream(bad.queue, bad.jobId);
      assert.ok(events.some((e) => String(e.stdout).startsWith('fatal:')));
    });

    it('explains a missing git', async () => {
      const missing = update({ url: 'file:///nowhere', dir: join(tempDir('overseer-checkout-'), 'project'), git: '/nonexistent/git' });
      const outcome = await updateProject(missing);
      assert.equal(outcome.status, 'error');
      assert.match(outcome.explanation, /apt-get install git/);
      assert.equal((await stream(missing.queue, missing.jobId)).length, 1);
    });
  });
});
