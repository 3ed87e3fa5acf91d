// The control plane's /api/v2 endpoints on a real node (real SQLite, real dispatcher): projects,
// inventories, job and workflow job templates, launching and canceling, and the jobs they make.
// The node's ansible-runner does not exist, so a launched job ends in error: what is tested here
// is the API, not playbook runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, tempDir, writeTestConfig, type NodeUnderTest } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';

const TOKEN = 'control-api-test-token-0123456789';
const CAPACITY = 7;
const nodes: NodeUnderTest[] = [];
let web = 0;
let playbooks = '';

// Answers are JSON of many shapes; the assertions check them.
type Json = any;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Json;
}

/** One request with the token (unless `headers` replace it); a body that is not a string is sent as JSON. */
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }): Promise<Answer> {
  const init: RequestInit = { method, headers: { 'content-type': 'application/json', ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`http://127.0.0.1:${web}${path}`, init);
  const text = await res.text();
  const json: Json = res.headers.get('content-type') === 'application/json' && text !== '' ? JSON.parse(text) : undefined;
  return { status: res.status, headers: res.headers, text, json };
}
const get = (path: string) => call('GET', path);
const post = (path: string, body?: unknown) => call('POST', path, body);

/** POSTs and expects 201; returns the object. */
async function create(path: string, body: Record<string, unknown>): Promise<Json> {
  const res = await post(path, body);
  assert.equal(res.status, 201, `${path}: ${res.text}`);
  return res.json;
}

let serial = 0;
const unique = (prefix: string) => `${prefix}-${++serial}`;
const localProject = () => create('/api/v2/projects/', { name: unique('local'), local_path: playbooks });
const inventory = (content = 'web1\nweb2\n') => create('/api/v2/inventories/', { name: unique('inv'), content });
async function jobTemplate(fields: Record<string, unknown> = {}): Promise<Json> {
  const project = await localProject();
  const inv = await inventory();
  return create('/api/v2/job_templates/', { name: unique('jt'), project: project.id, inventory: inv.id, playbook: 'site.yml', ...fields });
}

before(async () => {
  const dir = tempDir();
  playbooks = join(dir, 'playbooks');
  mkdirSync(join(playbooks, 'roles'), { recursive: true });
  writeFileSync(join(playbooks, 'site.yml'), '- hosts: all\n  gather_facts: false\n  tasks: []\n');
  const { file, ports } = await writeTestConfig(dir, {
    // A manager run that finds another holding its lock is skipped, and what woke it waits for the
    // next scheduled run: keep that short.
    services: { web: { tokens: [TOKEN] }, dispatcher: { ansible_runner: '/nonexistent/ansible-runner', capacity: CAPACITY, schedule_interval_ms: 2_000, project_roots: [dir] } },
  });
  const node = startNode(['--config', file]);
  nodes.push(node);
  await node.waitForLog('ready');
  web = ports.web;
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

test('projects: a local and a git project are created, listed and read back in AWX shape', async () => {
  const local = await create('/api/v2/projects/', { name: 'playbooks', description: 'on disk', local_path: playbooks });
  assert.equal(local.type, 'project');
  assert.equal(local.url, `/api/v2/projects/${local.id}/`);
  assert.deepEqual(local.related, { project_updates: `/api/v2/projects/${local.id}/project_updates/` });
  assert.equal(local.description, 'on disk');
  assert.equal(local.scm_type, '');
  assert.equal(local.local_path, playbooks);
  assert.equal(local.scm_update_on_launch, false);
  assert.equal(local.scm_update_cache_timeout, 0);
  assert.ok(Date.parse(local.created) > 0 && local.created === local.modified);

  const git = await create('/api/v2/projects/', { name: 'from-git', scm_type: 'git', scm_url: 'https://example.com/r.git', scm_branch: 'main', scm_update_on_launch: true, scm_update_cache_timeout: 60 });
  assert.deepEqual(
    [git.scm_type, git.scm_url, git.scm_branch, git.local_path, git.scm_update_on_launch, git.scm_update_cache_timeout],
    ['git', 'https://example.com/r.git', 'main', '', true, 60],
  );

  const list = (await get('/api/v2/projects/?page_size=1')).json;
  assert.ok(list.count >= 2);
  assert.equal(list.results.length, 1);
  assert.equal(list.next, '/api/v2/projects/?page=2&page_size=1');
  assert.equal(list.previous, null);
  const all = (await get('/api/v2/projects/?page_size=200')).json;
  assert.deepEqual(all.results.find((p: Json) => p.id === git.id), git);
  assert.deepEqual((await get(`/api/v2/projects/${local.id}/`)).json, local);
  assert.deepEqual((await get(`/api/v2/projects/${local.id}`)).json, local, 'the trailing slash is optional');
  assert.deepEqual((await get(`/api/v2/projects/${local.id}/project_updates/`)).json, { count: 0, next: null, previous: null, results: [] });
});

test('project validation: every field problem at once, then each rule', async () => {
  const many = await post('/api/v2/projects/', { name: '', scm_type: 'svn', scm_update_cache_timeout: -1, scm_update_on_launch: 'yes', colour: 'red' });
  assert.equal(many.status, 400);
  assert.deepEqual(Object.keys(many.json).sort(), ['colour', 'name', 'scm_type', 'scm_update_cache_timeout', 'scm_update_on_launch']);
  assert.deepEqual(many.json.name, ['This field may not be blank.']);
  assert.match(many.json.scm_type[0], /"svn" is not a valid choice/);
  assert.deepEqual(many.json.scm_update_cache_timeout, ['Ensure this value is greater than or equal to 0.']);
  assert.match(many.json.colour[0], /^Unknown field/);

  assert.deepEqual((await post('/api/v2/projects/', { local_path: playbooks })).json, { name: ['This field is required.'] });
  await create('/api/v2/projects/', { name: 'taken', local_path: playbooks });
  assert.deepEqual((await post('/api/v2/projects/', { name: 'taken', local_path: playbooks })).json, { name: ['project with this name already exists.'] });

  const missing = join(playbooks, 'nope');
  for (const [local_path, pattern] of [
    [undefined, /local_path is required/],
    ['relative/dir', /"relative\/dir" is not an absolute path/],
    [missing, new RegExp(`"${missing}" is not an existing directory`)],
    [join(playbooks, 'site.yml'), /is not an existing directory/],
  ] as const) {
    const res = await post('/api/v2/projects/', { name: unique('p'), ...(local_path === undefined ? {} : { local_path }) });
    assert.equal(res.status, 400, String(local_path));
    assert.deepEqual(Object.keys(res.json), ['local_path']);
    assert.match(res.json.local_path[0], pattern);
  }

  const git = await post('/api/v2/projects/', { name: unique('g'), scm_type: 'git', scm_url: '  ', local_path: playbooks });
  assert.equal(git.status, 400);
  assert.deepEqual(Object.keys(git.json).sort(), ['local_path', 'scm_url']);
  assert.equal((await post('/api/v2/projects/', { name: unique('g'), scm_type: 'git' })).json.scm_url.length, 1, 'a git project needs a URL');
});

test('inventories: INI and YAML, with their host count; content is checked', async () => {
  const ini = await create('/api/v2/inventories/', { name: 'ini', content: '[web]\nweb[01:03]\n[db]\ndb1 ansible_host=10.0.0.1\n[all:vars]\nx=1\n' });
  assert.deepEqual([ini.type, ini.url, ini.format, ini.host_count], ['inventory', `/api/v2/inventories/${ini.id}/`, 'ini', 4]);
  const yaml = await create('/api/v2/inventories/', { name: 'yaml', format: 'yaml', content: 'all:\n  hosts:\n    a: {}\n    b: {}\n' });
  assert.deepEqual([yaml.format, yaml.host_count], ['yaml', 2]);
  assert.deepEqual((await get(`/api/v2/inventories/${yaml.id}/`)).json, yaml);
  assert.ok((await get('/api/v2/inventories/')).json.results.some((i: Json) => i.id === ini.id));

  const many = await post('/api/v2/inventories/', { name: 'ini', format: 'toml', host_count: 3 });
  assert.equal(many.status, 400);
  assert.deepEqual(many.json.name, ['inventory with this name already exists.']);
  assert.deepEqual(many.json.content, ['This field is required.']);
  assert.match(many.json.format[0], /"toml" is not a valid choice/);
  assert.match(many.json.host_count[0], /^Unknown field/, 'host_count is read-only');

  assert.deepEqual((await post('/api/v2/inventories/', { name: unique('i'), content: '# nothing\n[web:vars]\nx=1\n' })).json, { content: ['the inventory has no hosts'] });
  const badYaml = await post('/api/v2/inventories/', { name: unique('i'), format: 'yaml', content: 'all: [unclosed' });
  assert.match(badYaml.json.content[0], /not valid YAML/);
  assert.deepEqual((await post('/api/v2/inventories/', { name: unique('i'), content: 42 })).json, { content: ['Not a valid string; got number.'] });
});

test('job templates: created with defaults, extra_vars as an object or JSON/YAML text, shown as JSON text', async () => {
  const project = await localProject();
  const inv = await inventory();
  const t = await create('/api/v2/job_templates/', { name: 'site', project: project.id, inventory: inv.id, playbook: 'site.yml' });
  assert.equal(t.type, 'job_template');
  assert.deepEqual(t.related, { launch: `/api/v2/job_templates/${t.id}/launch/` });
  assert.deepEqual([t.project, t.inventory, t.playbook, t.extra_vars, t.forks, t.allow_simultaneous], [project.id, inv.id, 'site.yml', '{}', 0, false]);
  assert.deepEqual((await get(`/api/v2/job_templates/${t.id}/`)).json, t);

  const base = { project: project.id, inventory: inv.id, playbook: 'site.yml' };
  const asObject = await create('/api/v2/job_templates/', { ...base, name: unique('jt'), extra_vars: { a: 1, b: [true] }, forks: 3, allow_simultaneous: true });
  assert.deepEqual([JSON.parse(asObject.extra_vars), asObject.forks, asObject.allow_simultaneous], [{ a: 1, b: [true] }, 3, true]);
  const asYaml = await create('/api/v2/job_templates/', { ...base, name: unique('jt'), extra_vars: 'a: 1\nb: two\n' });
  assert.equal(asYaml.extra_vars, '{"a":1,"b":"two"}');
  const asJson = await create('/api/v2/job_templates/', { ...base, name: unique('jt'), extra_vars: '{"x": {"y": null}}' });
  assert.equal(asJson.extra_vars, '{"x":{"y":null}}');
  assert.equal((await create('/api/v2/job_templates/', { ...base, name: unique('jt'), extra_vars: '' })).extra_vars, '{}');
  assert.ok((await get('/api/v2/job_templates/?page_size=200')).json.results.some((x: Json) => x.id === asYaml.id));
});

test('job template validation: every field problem at once, then each rule', async () => {
  const project = await localProject();
  const inv = await inventory();
  const many = await post('/api/v2/job_templates/', { name: 'x'.repeat(513), project: 9999, inventory: 'one', playbook: '/etc/site.yml', extra_vars: [1], forks: -1, allow_simultaneous: 1, limit: 'web' });
  assert.equal(many.status, 400);
  assert.deepEqual(many.json.name, ['Ensure this field has no more than 512 characters.']);
  assert.deepEqual(many.json.project, ['Invalid pk "9999" - object does not exist.']);
  assert.deepEqual(many.json.inventory, ['Incorrect type. Expected pk value, received string.']);
  assert.match(many.json.playbook[0], /must be a path inside the project/);
  assert.match(many.json.extra_vars[0], /Must be a mapping.*got array/);
  assert.deepEqual(many.json.forks, ['Ensure this value is greater than or equal to 0.']);
  assert.match(many.json.allow_simultaneous[0], /Must be a valid boolean/);
  assert.match(many.json.limit[0], /^Unknown field/);
  assert.equal(Object.keys(many.json).length, 8);

  const required = await post('/api/v2/job_templates/', {});
  assert.deepEqual(Object.keys(required.json).sort(), ['inventory', 'name', 'playbook', 'project']);

  const base = { name: unique('jt'), project: project.id, inventory: inv.id };
  assert.match((await post('/api/v2/job_templates/', { ...base, playbook: '../site.yml' })).json.playbook[0], /without "\.\."/);
  assert.match((await post('/api/v2/job_templates/', { ...base, playbook: 'missing.yml' })).json.playbook[0], new RegExp(`"missing.yml" is not a file in the project's directory ${playbooks}`));
  assert.match((await post('/api/v2/job_templates/', { ...base, playbook: 'roles' })).json.playbook[0], /is not a file/, 'a directory is not a playbook');
  assert.match((await post('/api/v2/job_templates/', { ...base, playbook: 'site.yml', extra_vars: 'a: [' })).json.extra_vars[0], /Not valid JSON or YAML/);
  assert.match((await post('/api/v2/job_templates/', { ...base, playbook: 'site.yml', extra_vars: '- 1\n- 2\n' })).json.extra_vars[0], /got array/);

  // A git project is not checked out yet: its playbook cannot be checked, only its form.
  const git = await create('/api/v2/projects/', { name: unique('git'), scm_type: 'git', scm_url: 'https://example.com/r.git' });
  await create('/api/v2/job_templates/', { ...base, project: git.id, playbook: 'deploy/site.yml' });
});

test('launch: 201 with the pending job and its id in `job`, which then errors for want of ansible-runner', async () => {
  const t = await jobTemplate({ extra_vars: { greeting: 'hi' }, forks: 2 });
  const launched = await post(`/api/v2/job_templates/${t.id}/launch/`, {});
  assert.equal(launched.status, 201, launched.text);
  const job = launched.json;
  assert.equal(job.job, job.id);
  assert.equal(Object.keys(job)[0], 'job');
  assert.equal(job.type, 'job');
  assert.equal(job.url, `/api/v2/jobs/${job.id}/`);
  assert.deepEqual(job.related, {
    stdout: `/api/v2/jobs/${job.id}/stdout/`,
    cancel: `/api/v2/jobs/${job.id}/cancel/`,
    job_events: `/api/v2/jobs/${job.id}/job_events/`,
    job_host_summaries: `/api/v2/jobs/${job.id}/job_host_summaries/`,
  });
  assert.deepEqual(
    [job.name, job.status, job.launch_type, job.job_template, job.project, job.inventory, job.playbook, job.forks, job.can_cancel, job.failed],
    [t.name, 'pending', 'manual', t.id, t.project, t.inventory, 'site.yml', 2, true, false],
  );
  assert.equal(JSON.parse(job.extra_vars).greeting, 'hi');
  assert.equal(job.task_impact, 3, 'two hosts, two forks, plus one');
  assert.deepEqual([job.dependency, job.workflow_job, job.started, job.finished], [null, null, null, null]);

  const done = await waitFor('the job to finish', async () => {
    const j = (await get(`/api/v2/jobs/${job.id}/`)).json;
    return ['pending', 'waiting', 'running'].includes(j.status) ? undefined : j;
  }, 30_000);
  assert.equal(done.status, 'error');
  assert.equal(done.failed, true);
  assert.equal(done.can_cancel, false);
  assert.match(done.job_explanation, /ansible-runner not found.*apt-get/);
  assert.equal(done.controller_node, done.execution_node);
  assert.ok(done.controller_node !== '');
  assert.ok(done.started !== null && done.finished !== null && done.elapsed >= 0);

  assert.ok((await get('/api/v2/jobs/?page_size=200')).json.results.some((j: Json) => j.id === job.id && j.status === 'error'));
  assert.equal((await get(`/api/v2/jobs/${job.id}/job_host_summaries/`)).json.count, 0);
  assert.deepEqual((await get(`/api/v2/jobs/${job.id}/cancel/`)).json, { can_cancel: false });
  const cancel = await post(`/api/v2/jobs/${job.id}/cancel/`);
  assert.equal(cancel.status, 405);
  assert.match(cancel.json.detail, /already finished \(error\)/);
  assert.equal(cancel.headers.get('allow'), 'GET, HEAD');

  const txt = await get(`/api/v2/jobs/${job.id}/stdout/`);
  assert.equal(txt.status, 200);
  assert.equal(txt.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(txt.text, '');
  assert.equal((await get(`/api/v2/jobs/${job.id}/stdout/?format=ansi`)).text, '');
  assert.deepEqual((await get(`/api/v2/jobs/${job.id}/stdout/?format=json`)).json, { range: { start: 0, end: 0, absolute_end: 0 }, content: '' });
  const badFormat = await get(`/api/v2/jobs/${job.id}/stdout/?format=html&start_line=1`);
  assert.equal(badFormat.status, 400);
  assert.deepEqual(Object.keys(badFormat.json).sort(), ['format', 'start_line']);
  assert.equal((await get('/api/v2/jobs/999999/stdout/')).status, 404);
  assert.equal((await get(`/api/v2/project_updates/${job.id}/`)).status, 404, 'a job is not a project update');
  assert.equal((await get(`/api/v2/project_updates/${job.id}/stdout/`)).status, 404);

  const extra = await post(`/api/v2/job_templates/${t.id}/launch/`, { extra_vars: { a: 1 } });
  assert.equal(extra.status, 400);
  assert.match(extra.json.extra_vars[0], /^Unknown field; expected none/);
  assert.equal((await post('/api/v2/job_templates/999999/launch/', {})).status, 404);
  assert.equal((await post(`/api/v2/job_templates/${t.id}/launch/`)).status, 201, 'an empty body launches too');
});

test('project updates: a git project\'s job waits for its update, listed under the project, with its output', async () => {
  const git = await create('/api/v2/projects/', { name: unique('git'), scm_type: 'git', scm_url: `file://${join(playbooks, 'no-such-repo')}` });
  const inv = await inventory();
  const t = await create('/api/v2/job_templates/', { name: unique('jt'), project: git.id, inventory: inv.id, playbook: 'site.yml' });
  const job = (await post(`/api/v2/job_templates/${t.id}/launch/`)).json;
  const done = await waitFor('the job to fail with its update', async () => {
    const j = (await get(`/api/v2/jobs/${job.id}/`)).json;
    return j.status === 'failed' ? j : undefined;
  }, 30_000);
  assert.match(done.job_explanation, /^Previous Task Failed: .*"job_type":"project_update"/);

  const updates = (await get(`/api/v2/projects/${git.id}/project_updates/`)).json;
  assert.equal(updates.count, 1);
  const update = updates.results[0];
  assert.equal(done.dependency, update.id);
  assert.deepEqual(
    [update.type, update.url, update.project, update.launch_type, update.status, update.failed],
    ['project_update', `/api/v2/project_updates/${update.id}/`, git.id, 'dependency', 'failed', true],
  );
  assert.deepEqual(update.related, { stdout: `/api/v2/project_updates/${update.id}/stdout/`, cancel: `/api/v2/project_updates/${update.id}/cancel/` });
  const detail = await waitFor('the update\'s events to be stored', async () => {
    const u = (await get(`/api/v2/project_updates/${update.id}/`)).json;
    return u.event_processing_finished ? u : undefined;
  });
  assert.equal(detail.id, update.id);
  const out = await get(`/api/v2/project_updates/${update.id}/stdout/?format=txt`);
  assert.equal(out.status, 200);
  assert.match(out.text, /no-such-repo/, 'git\'s complaint is in the output');
  assert.ok((await get('/api/v2/project_updates/')).json.results.some((u: Json) => u.id === update.id));
  assert.equal((await post(`/api/v2/project_updates/${update.id}/cancel/`)).status, 405);
  assert.equal((await get(`/api/v2/jobs/${update.id}/`)).status, 404, 'a project update is not a job');
});

test('cancel: a job that cannot start yet is canceled at once (202)', async () => {
  // 20 hosts at 10 forks take 11 forks: more than the node's 7, so the job stays pending.
  const project = await localProject();
  const inv = await inventory('web[01:20]\n');
  const t = await create('/api/v2/job_templates/', { name: unique('big'), project: project.id, inventory: inv.id, playbook: 'site.yml', forks: 10 });
  const job = (await post(`/api/v2/job_templates/${t.id}/launch/`)).json;
  assert.equal(job.task_impact, 11);
  await waitFor('the task manager to explain why it waits', async () => /not enough capacity/.test((await get(`/api/v2/jobs/${job.id}/`)).json.job_explanation), 30_000);
  assert.deepEqual((await get(`/api/v2/jobs/${job.id}/cancel/`)).json, { can_cancel: true });
  const canceled = await post(`/api/v2/jobs/${job.id}/cancel/`, {});
  assert.equal(canceled.status, 202);
  assert.deepEqual([canceled.json.id, canceled.json.status, canceled.json.cancel_flag, canceled.json.can_cancel], [job.id, 'canceled', true, false]);
  assert.equal((await get(`/api/v2/jobs/${job.id}/`)).json.status, 'canceled');
  assert.equal((await post(`/api/v2/jobs/${job.id}/cancel/`)).status, 405);
});

test('workflow templates: nodes are checked (identifiers, templates, edges, cycles)', async () => {
  const t = await jobTemplate();
  const node = (identifier: string, edges: Record<string, unknown> = {}) => ({ identifier, job_template: t.id, ...edges });
  const problems = async (nodes: unknown) => {
    const res = await post('/api/v2/workflow_job_templates/', { name: unique('wf'), nodes });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(Object.keys(res.json), ['nodes']);
    return res.json.nodes as string[];
  };
  assert.match((await problems([]))[0]!, /at least one node/);
  assert.match((await problems('a'))[0]!, /Expected a list/);
  assert.match((await problems([node('a', { success_nodes: ['b'] }), node('b', { failure_nodes: ['c'] }), node('c', { always_nodes: ['a'] })]))[0]!, /cycle \(a → b → c → a\)/);
  const many = await problems([
    node('a', { success_nodes: ['ghost'], failure_nodes: ['a'] }),
    node('a'),
    { identifier: '', job_template: 999999, colour: 'red' },
    { identifier: 'd', job_template: 999999, always_nodes: 'a' },
    'e',
  ]);
  assert.equal(many.length, 8, many.join('\n'));
  for (const pattern of [
    /"ghost" is not the identifier of a node/,
    /cannot follow itself/,
    /nodes\[1\]\.identifier: "a" is the identifier of an earlier node/,
    /nodes\[2\]\.identifier: this field may not be blank/,
    /nodes\[2\]\.colour: unknown field/,
    /nodes\[3\]\.always_nodes: expected a list/,
    /node "d": job_template: Invalid pk "999999"/,
    /nodes\[4\]: expected an object; got string/,
  ]) {
    assert.ok(many.some((m) => pattern.test(m)), `${pattern} in ${many.join('\n')}`);
  }
  const missing = await post('/api/v2/workflow_job_templates/', { name: '', allow_simultaneous: 'no' });
  assert.deepEqual(Object.keys(missing.json).sort(), ['allow_simultaneous', 'name', 'nodes']);
});

test('workflow launch: 201 with the workflow job and its nodes, which then runs them to a finish', async () => {
  const t = await jobTemplate();
  const wfjt = await create('/api/v2/workflow_job_templates/', {
    name: unique('wf'),
    nodes: [
      { identifier: 'first', job_template: t.id, success_nodes: ['on-success'], failure_nodes: ['on-failure'] },
      { identifier: 'on-success', job_template: t.id },
      { identifier: 'on-failure', job_template: t.id },
    ],
  });
  assert.equal(wfjt.type, 'workflow_job_template');
  assert.equal(wfjt.allow_simultaneous, false);
  assert.deepEqual(wfjt.nodes[0], { identifier: 'first', job_template: t.id, success_nodes: ['on-success'], failure_nodes: ['on-failure'], always_nodes: [] });
  assert.deepEqual((await get(`/api/v2/workflow_job_templates/${wfjt.id}/`)).json, wfjt);
  assert.ok((await get('/api/v2/workflow_job_templates/')).json.results.some((w: Json) => w.id === wfjt.id));

  const launched = await post(`/api/v2/workflow_job_templates/${wfjt.id}/launch/`, {});
  assert.equal(launched.status, 201, launched.text);
  const wj = launched.json;
  assert.equal(wj.workflow_job, wj.id);
  assert.deepEqual([wj.type, wj.url, wj.status, wj.workflow_job_template], ['workflow_job', `/api/v2/workflow_jobs/${wj.id}/`, 'pending', wfjt.id]);
  assert.deepEqual(wj.workflow_nodes.map((n: Json) => [n.identifier, n.job, n.do_not_run]), [['first', null, false], ['on-success', null, false], ['on-failure', null, false]]);

  const done = await waitFor('the workflow to finish', async () => {
    const w = (await get(`/api/v2/workflow_jobs/${wj.id}/`)).json;
    return ['pending', 'waiting', 'running'].includes(w.status) ? undefined : w;
  }, 60_000);
  // first errors (no ansible-runner), so on-failure runs (and errors too, unhandled), on-success never does.
  assert.equal(done.status, 'failed', JSON.stringify(done));
  const byName = new Map<string, Json>(done.workflow_nodes.map((n: Json) => [n.identifier, n]));
  assert.equal(byName.get('on-success').do_not_run, true);
  assert.equal(byName.get('on-success').job, null);
  const child = (await get(`/api/v2/jobs/${byName.get('first').job}/`)).json;
  assert.deepEqual([child.launch_type, child.workflow_job, child.status], ['workflow', wj.id, 'error']);
  assert.ok((await get('/api/v2/workflow_jobs/')).json.results.some((w: Json) => w.id === wj.id));
  assert.equal((await post(`/api/v2/workflow_jobs/${wj.id}/cancel/`)).status, 405);
  assert.equal((await get(`/api/v2/jobs/${wj.id}/`)).status, 404, 'a workflow job is not a job');
  assert.equal((await get(`/api/v2/workflow_jobs/${wj.id}/stdout/`)).status, 404);
  assert.equal((await post('/api/v2/workflow_job_templates/999999/launch/')).status, 404);
});

test('instances: this node with its capacity and what its jobs take', async () => {
  // Jobs launched by earlier tests may still be finishing.
  const res = await waitFor('no job running here', async () => {
    const r = await get('/api/v2/instances/');
    return r.json.results[0]?.jobs_running === 0 ? r : undefined;
  });
  assert.equal(res.status, 200);
  assert.equal(res.json.count, 1);
  const [self] = res.json.results;
  assert.equal(self.name, (await get('/api/v2/ping/')).json.node);
  assert.equal(self.capacity, CAPACITY);
  assert.deepEqual(
    [self.consumed_capacity, self.remaining_capacity, self.percent_capacity_remaining, self.jobs_running],
    [0, CAPACITY, 100, 0],
  );
  assert.equal((await get('/api/v2/instances/?colour=red')).status, 400);
});

test('not found: unknown ids, ids that are not positive integers, unknown paths', async () => {
  for (const path of [
    '/api/v2/projects/999999/',
    '/api/v2/projects/abc/',
    '/api/v2/projects/0/',
    '/api/v2/projects/999999/project_updates/',
    '/api/v2/inventories/999999/',
    '/api/v2/job_templates/1.5/',
    '/api/v2/workflow_job_templates/999999/',
    '/api/v2/jobs/999999/',
    '/api/v2/project_updates/999999/',
    '/api/v2/workflow_jobs/999999/',
    '/api/v2/jobs/999999/cancel/',
    '/api/v2/projects/1/nothing/',
  ]) {
    const res = await get(path);
    assert.equal(res.status, 404, path);
    assert.deepEqual(res.json, { detail: 'Not found.' });
  }
});

test('methods: 405 with Allow for lists, details and actions; HEAD answers like GET without a body', async () => {
  for (const [method, path, allow] of [
    ['DELETE', '/api/v2/projects/', 'GET, HEAD, POST'],
    ['PUT', '/api/v2/inventories/1/', 'GET, HEAD'],
    ['POST', '/api/v2/jobs/', 'GET, HEAD'],
    ['PATCH', '/api/v2/jobs/1/cancel/', 'GET, HEAD, POST'],
    ['GET', '/api/v2/job_templates/1/launch/', 'POST'],
    ['GET', '/api/v2/workflow_job_templates/1/launch/', 'POST'],
  ] as const) {
    const res = await call(method, path);
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
    assert.deepEqual(res.json, { detail: `Method "${method}" not allowed.` });
  }
  const head = await call('HEAD', '/api/v2/projects/');
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
  assert.ok(Number(head.headers.get('content-length')) > 0);
});

test('query parameters: an unknown one is a field error on lists, details and POSTs', async () => {
  const project = await localProject();
  for (const path of ['/api/v2/projects/?name=x', `/api/v2/projects/${project.id}/?fields=name`, '/api/v2/jobs/?status=failed', '/api/v2/workflow_jobs/?page=0&x=1']) {
    const res = await get(path);
    assert.equal(res.status, 400, path);
  }
  assert.deepEqual(Object.keys((await get('/api/v2/workflow_jobs/?page=0&x=1')).json).sort(), ['page', 'x']);
  const created = await post('/api/v2/projects/?dry_run=1', { name: unique('p'), local_path: playbooks });
  assert.equal(created.status, 400);
  assert.deepEqual(Object.keys(created.json), ['dry_run']);
});

test('bodies: the token is required; invalid JSON, a non-object and more than 1 MiB are refused', async () => {
  const anonymous = await call('POST', '/api/v2/projects/', { name: unique('p'), local_path: playbooks }, {});
  assert.equal(anonymous.status, 401);
  assert.deepEqual(anonymous.json, { detail: 'Authentication credentials were not provided.' });
  assert.equal((await call('POST', '/api/v2/projects/', {}, { authorization: 'Bearer wrong-token-0123456789' })).status, 401);
  assert.equal((await call('GET', '/api/v2/projects/', undefined, {})).status, 401);

  const invalid = await post('/api/v2/projects/', '{"name": ');
  assert.equal(invalid.status, 400);
  assert.match(invalid.json.detail, /^JSON parse error - /);
  const list = await post('/api/v2/projects/', '[1]');
  assert.deepEqual(list.json, { non_field_errors: ['Invalid data. Expected a dictionary, but got array.'] });

  const large = await post('/api/v2/inventories/', { name: unique('i'), content: `h1\n${'#'.repeat(1 << 20)}\n` });
  assert.equal(large.status, 413);
  assert.match(large.json.detail, /larger than 1048576 bytes/);
  const justFits = await post('/api/v2/inventories/', { name: unique('i'), content: `h1\n${'#'.repeat((1 << 20) - 100)}\n` });
  assert.equal(justFits.status, 201, 'a body under 1 MiB is fine');
  assert.equal(justFits.json.host_count, 1);
});
