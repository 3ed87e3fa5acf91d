// Jobs run isolated: a real node runs real playbooks that try to read what the node keeps (its
// config, database, Redis socket, data dir, environment); project roots; no project copy; modes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, tempDir, writeTestConfig, type NodeUnderTest } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const API_TOKEN = 'env-token-7f3a9c1e5b2d4f60';
const FILE_TOKEN = 'file-token-0c9e8d7f6a5b4c3d';
const SECRET_MARKER = 'secret-marker-41d8cd98f00b204e';
const DB_SECRET = 'db-secret-9800998ecf8427e';

/** Each task tries to read something of the node's and must fail (ignore_errors keeps the play going). */
const PROBE = `- hosts: all
  gather_facts: false
  tasks:
    - name: whoami
      command: id -u
    - name: config file
      command: cat {{ config_file }}
      ignore_errors: true
    - name: database
      command: cat {{ data_dir }}/overseer.db
      ignore_errors: true
    - name: redis socket
      command: python3 -c "import socket; socket.socket(socket.AF_UNIX).connect('{{ data_dir }}/redis.sock')"
      ignore_errors: true
    - name: data dir
      shell: ls -A {{ data_dir }} | grep -q overseer
      ignore_errors: true
    - name: environment
      shell: env | grep -E 'SECRET_MARKER|OVERSEER|TOKEN|DATABASE_URL|REDIS_URL'
      ignore_errors: true
    - name: the node's environment through /proc
      shell: cat /proc/*/environ | tr '\\0' '\\n' | grep -E 'SECRET_MARKER|OVERSEER'
      ignore_errors: true
    - name: shadow
      command: cat /etc/shadow
      ignore_errors: true
    # What the lookup's command writes to stderr becomes a verbose event that ansible-runner -j
    # does not print as JSON: the node pushes it from the artifacts, or the stream never completes.
    - name: pipe lookup
      debug:
        msg: "{{ lookup('pipe', 'cat /etc/shadow') }}"
      ignore_errors: true
`;
const ATTEMPTS = 8;
const HOLD = `- hosts: all
  gather_facts: false
  tasks:
    - name: hold
      wait_for: path="{{ playbook_dir }}/{{ release }}" timeout=120
`;

const mode = (path: string) => statSync(path).mode & 0o777;

describe('job isolation', () => {
  let node: NodeUnderTest;
  let dir: string;
  let dataDir: string;
  let file: string;
  let web: number;
  let inventory: number;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${web}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_TOKEN}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, json: (res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : {}) as Json };
  };
  const create = async (path: string, body: Json) => {
    const res = await call('POST', path, body);
    assert.equal(res.status, 201, `POST ${path}: ${res.text}`);
    return res.json.id as number;
  };
  const launch = async (project: number, playbook: string, extra_vars: Json = {}) => {
    const template = await create('/api/v2/job_templates/', { name: `t-${project}-${playbook}-${Date.now()}`, project, inventory, playbook, extra_vars });
    const res = await call('POST', `/api/v2/job_templates/${template}/launch/`, {});
    assert.equal(res.status, 201, res.text);
    return res.json.job as number;
  };
  const until = (id: number, statuses: string[], timeoutMs = 60_000) =>
    waitFor(`job ${id} ${statuses.join('|')}`, async () => {
      const job = (await call('GET', `/api/v2/jobs/${id}/`)).json;
      return statuses.includes(job.status) ? job : undefined;
    }, timeoutMs, 50);

  before(async () => {
    dir = tempDir('overseer-isolation-');
    const project = join(dir, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'probe.yml'), PROBE);
    writeFileSync(join(project, 'hold.yml'), HOLD);
    const written = await writeTestConfig(dir, {
      log_level: 'info',
      services: { web: { tokens: [FILE_TOKEN] }, dispatcher: { min_workers: 1, max_workers: 4, schedule_interval_ms: 5000, project_roots: [dir] }, callback_receiver: { workers: 1 } },
    });
    ({ file, dataDir } = written);
    web = written.ports.web;
    node = startNode(['--config', file], { OVERSEER_API_TOKENS: API_TOKEN, SECRET_MARKER });
    await node.waitForLog('ready');
    inventory = await create('/api/v2/inventories/', { name: 'local', content: 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' });
    await create('/api/v2/inventories/', { name: 'secret', content: `db1 ansible_password=${DB_SECRET}\n` });
  });
  after(async () => {
    await node?.stop();
  });

  test('a playbook cannot read the config, database, Redis socket, data dir or secrets, and runs as nobody', async () => {
    const project = await create('/api/v2/projects/', { name: 'probe', local_path: join(dir, 'project') });
    const id = await launch(project, 'probe.yml', { config_file: file, data_dir: dataDir });
    const job = await until(id, ['successful', 'failed', 'error']);
    assert.equal(job.status, 'successful', job.job_explanation);
    await waitFor('events stored', async () => (await call('GET', `/api/v2/jobs/${id}/`)).json.event_processing_finished === true);

    const stdout = (await call('GET', `/api/v2/jobs/${id}/stdout/?format=txt`)).text;
    assert.match(stdout, new RegExp(`ok=\\d+\\s+changed=\\d+\\s+unreachable=0\\s+failed=0\\s+skipped=0\\s+rescued=0\\s+ignored=${ATTEMPTS}`), 'every attempt failed');
    for (const secret of [API_TOKEN, FILE_TOKEN, SECRET_MARKER, DB_SECRET]) assert.ok(!stdout.includes(secret), `stdout holds ${secret}:\n${stdout}`);

    const events = (await call('GET', `/api/v2/jobs/${id}/job_events/?page_size=200`)).json.results as Json[];
    const whoami = events.find((e) => e.event === 'runner_on_ok' && e.event_data?.task === 'whoami');
    if (process.getuid?.() === 0) assert.equal(whoami?.event_data?.res?.stdout, '65534', 'a root node runs jobs as nobody');
    assert.ok(!existsSync(join(dataDir, 'jobs', String(id))), 'the private data dir is removed when the job ends');
  });

  test('a local project must lie inside a project root; .. and symlinks out are refused, naming the roots', async () => {
    const outside = tempDir('overseer-outside-');
    chmodSync(outside, 0o755);
    symlinkSync(outside, join(dir, 'link-out'));
    for (const local_path of [outside, '/etc', dataDir, `${dir}/project/../..`, join(dir, 'link-out'), dir]) {
      const res = await call('POST', '/api/v2/projects/', { name: `out-${Math.random()}`, local_path });
      assert.equal(res.status, 400, `${local_path}: ${res.text}`);
      assert.match(res.json.local_path?.[0] ?? '', new RegExp(`is not inside a project root; expected a directory inside "${dir}" \\(services.dispatcher.project_roots\\)`));
    }
  });

  test('a 200 MB project launches without a copy, and a cancel takes effect at once', async () => {
    const big = join(dir, 'big');
    mkdirSync(big);
    writeFileSync(join(big, 'hold.yml'), HOLD);
    const chunk = Buffer.alloc(20 * 1024 * 1024, 'x');
    for (let i = 0; i < 10; i++) writeFileSync(join(big, `blob-${i}`), chunk);
    const project = await create('/api/v2/projects/', { name: 'big', local_path: big });
    const id = await launch(project, 'hold.yml', { release: 'release' });
    await waitFor('the hold task to start', async () => {
      const events = (await call('GET', `/api/v2/jobs/${id}/job_events/?page_size=200`)).json.results as Json[];
      return events.some((e) => e.event === 'runner_on_start');
    }, 60_000);

    const pd = join(dataDir, 'jobs', String(id));
    const kib = Number(execFileSync('du', ['-sk', pd], { encoding: 'utf8' }).split('\t')[0]);
    assert.ok(kib < 2048, `the private dir holds ${kib} KiB: no copy of the project`);
    assert.deepEqual(readdirSync(join(pd, 'project')), [], 'the project is bound, not copied (empty outside the sandbox)');

    // Modes: the node's data is its own; what a job's dir holds is the job user's alone.
    assert.equal(mode(dataDir), 0o700);
    assert.equal(mode(join(dataDir, 'jobs')), 0o700);
    assert.equal(mode(join(dataDir, 'projects')), 0o700);
    assert.equal(mode(join(dataDir, 'overseer.db')), 0o600);
    assert.equal(mode(pd), 0o700);
    for (const f of ['inventory/hosts', 'env/extravars', 'env/settings']) assert.equal(mode(join(pd, f)), 0o600, f);

    const asked = Date.now();
    assert.equal((await call('POST', `/api/v2/jobs/${id}/cancel/`, {})).status, 202);
    const job = await until(id, ['canceled', 'successful', 'failed', 'error'], 5_000);
    assert.equal(job.status, 'canceled');
    assert.ok(Date.now() - asked < 5_000, `canceled ${Date.now() - asked} ms after the request`);
    await waitFor('the private dir removed', () => !existsSync(pd), 5_000);
  });
});
