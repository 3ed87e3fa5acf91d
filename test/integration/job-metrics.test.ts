// How jobs end, as Prometheus sees it on the dispatcher port of a real node (`node src/main.ts`,
// real ansible-runner on localhost): a successful, a failing and a canceled playbook, a job
// canceled through the API before it ran, and a job failed when its node came back from a kill.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, tempDir, writeTestConfig, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { promtoolCheck } from '../helpers/promtool.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PLAYBOOKS = {
  'site.yml': '- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo hi\n',
  'fail.yml': '- hosts: all\n  gather_facts: false\n  tasks:\n    - command: /bin/false\n',
  // Runs until the file named by the extra var `release` exists.
  'hold.yml': '- hosts: all\n  gather_facts: false\n  tasks:\n    - wait_for: path="{{ playbook_dir }}/{{ release }}" timeout=120\n',
};

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('job metrics on the dispatcher port', () => {
  const dir = tempDir('overseer-job-metrics-');
  let file: string;
  let ports: Awaited<ReturnType<typeof writeTestConfig>>['ports'];
  let node: NodeUnderTest;
  let templates: Record<keyof typeof PLAYBOOKS, number>;

  const api = async (method: string, path: string, body: unknown = undefined) => {
    const res = await fetch(`http://127.0.0.1:${ports.web}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, json: (text.startsWith('{') ? JSON.parse(text) : {}) as Json };
  };
  const create = async (path: string, body: Json) => {
    const res = await api('POST', path, body);
    assert.equal(res.status, 201, `POST ${path}: ${res.text}`);
    return res.json.id as number;
  };
  const launch = async (template: number) => {
    const res = await api('POST', `/api/v2/job_templates/${template}/launch/`, {});
    assert.equal(res.status, 201, res.text);
    return res.json.job as number;
  };
  const until = (id: number, statuses: string[]) =>
    waitFor(`job ${id} ${statuses.join('|')}`, async () => {
      const job = (await api('GET', `/api/v2/jobs/${id}/`)).json;
      return statuses.includes(job.status) ? job : undefined;
    }, 60_000);
  /** Waits until the dispatcher port shows these sample values, and returns what it served. */
  const dispatcherShows = (want: Record<string, number>) =>
    waitFor(`dispatcher port showing ${JSON.stringify(want)}`, async () => {
      const body = (await scrape(ports.dispatcher)).body;
      return Object.entries(want).every(([series, value]) => sampleValue(body, series) === value) ? body : undefined;
    }, 15_000);

  before(async () => {
    const project = join(dir, 'project');
    mkdirSync(project);
    for (const [name, text] of Object.entries(PLAYBOOKS)) writeFileSync(join(project, name), text);
    ({ file, ports } = await writeTestConfig(dir, {
      log_level: 'info',
      node_name: 'metrics-node',
      services: { dispatcher: { min_workers: 1, max_workers: 4, schedule_interval_ms: 5000, project_roots: [dir] }, callback_receiver: { workers: 1 } },
    }));
    node = startNode(['--config', file]);
    await node.waitForLog('ready');
    const inventory = await create('/api/v2/inventories/', { name: 'local', content: 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' });
    const projectId = await create('/api/v2/projects/', { name: 'local', local_path: project });
    const template = (playbook: string, extra_vars: Json = {}) =>
      create('/api/v2/job_templates/', { name: playbook, project: projectId, inventory, playbook, extra_vars });
    templates = {
      'site.yml': await template('site.yml'),
      'fail.yml': await template('fail.yml'),
      'hold.yml': await template('hold.yml', { release: 'release' }),
    };
  });
  after(async () => {
    writeFileSync(join(dir, 'project', 'release'), ''); // in the project: what the sandboxed job sees
    await node?.stop();
  });

  test('a successful, a failed, a canceled running and a canceled pending job: counted once each, with run times and waits', async () => {
    assert.equal((await until(await launch(templates['site.yml']), ['successful', 'failed', 'error'])).status, 'successful');
    assert.equal((await until(await launch(templates['fail.yml']), ['successful', 'failed', 'error'])).status, 'failed');
    const running = await launch(templates['hold.yml']);
    await until(running, ['running']);
    // The template runs one job at a time: the second launch waits, and is canceled by the API before it runs.
    const waiting = await launch(templates['hold.yml']);
    await waitFor('second launch blocked', async () => /^waiting for job-/.test((await api('GET', `/api/v2/jobs/${waiting}/`)).json.job_explanation));
    assert.equal((await api('POST', `/api/v2/jobs/${waiting}/cancel/`)).status, 202);
    assert.equal((await until(waiting, ['canceled'])).job_explanation, 'Canceled before it started.');
    assert.equal((await api('POST', `/api/v2/jobs/${running}/cancel/`)).status, 202);
    await until(running, ['canceled']);

    const body = await dispatcherShows({
      'dispatcher_jobs_finished_total{type="job",status="successful"}': 1,
      'dispatcher_jobs_finished_total{type="job",status="failed"}': 1,
      'dispatcher_jobs_finished_total{type="job",status="canceled"}': 2,
      'dispatcher_jobs{status="canceled"}': 2,
    });
    assert.equal(sampleValue(body, 'dispatcher_jobs_finished_total{type="job",status="error"}'), 0);
    assert.equal(sampleValue(body, 'dispatcher_jobs_finished_total{type="project_update",status="successful"}'), 0);
    assert.equal(sampleValue(body, 'dispatcher_job_duration_seconds_count{type="job"}'), 3, 'the job canceled before it ran has no run time');
    assert.equal(sampleValue(body, 'dispatcher_job_start_delay_seconds_count{type="job"}'), 3, 'three jobs started');
    assert.ok((sampleValue(body, 'dispatcher_job_duration_seconds_sum{type="job"}') as number) > 0);
    assert.equal(sampleValue(body, 'dispatcher_jobs{status="successful"}'), 1);
    assert.equal(sampleValue(body, 'dispatcher_jobs{status="failed"}'), 1);
    assert.equal(sampleValue(body, 'dispatcher_jobs{status="pending"}'), 0);
    assert.equal(sampleValue(body, 'dispatcher_oldest_pending_job_age_seconds'), 0);
    assert.equal(sampleValue(body, 'dispatcher_pool_workers_limit'), 4);
    assert.deepEqual(promtoolCheck(body), { code: 0, output: '' });

    const web = (await scrape(ports.web)).body;
    assert.equal(sampleValue(web, `overseer_info{version="${VERSION}",node="metrics-node"}`), 1);
    assert.equal(sampleValue(web, 'overseer_cluster_snapshot_interval_seconds'), 2);
    assert.deepEqual(promtoolCheck(web), { code: 0, output: '' });
  });

  test('a job running when its node was killed is failed and counted when the node starts again', async () => {
    const id = await launch(templates['hold.yml']);
    await until(id, ['running']);
    node.child.kill('SIGKILL');
    await node.exited;
    node = startNode(['--config', file]);
    await node.waitForLog('ready');
    assert.match((await until(id, ['failed'])).job_explanation, /^Node metrics-node stopped while this job was running/);
    await dispatcherShows({ 'dispatcher_jobs_finished_total{type="job",status="failed"}': 1, 'dispatcher_jobs{status="failed"}': 2 });
  });
});
