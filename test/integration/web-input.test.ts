// Input that a database, a serializer or a parser could fail on, sent to a real web port over
// each backend: every case is a 400 with AWX's field errors naming the field, never a 500.
// PostgreSQL cannot store a NUL and its INTEGER ids end at 2^31-1; SQLite takes both, and both
// answer alike.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStorage } from '../../src/storage/sqlite.ts';
import { PostgresStorage } from '../../src/storage/postgres.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { tempDir } from '../helpers/node-process.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { curl, send, serveWeb } from '../helpers/web-port.ts';

const dir = tempDir();
const playbooks = join(dir, 'playbooks');
mkdirSync(playbooks);
writeFileSync(join(playbooks, 'site.yml'), '- hosts: all\n  tasks: []\n');

const projectBody = (name: string) => ({ name, local_path: playbooks });

let postgres: TestPostgres | undefined;
const opened: Storage[] = [];
after(async () => {
  for (const storage of opened) await storage.close();
  await postgres?.stop();
});

const backends: [string, () => Storage | Promise<Storage>][] = [
  ['SQLite', () => new SqliteStorage(join(dir, 'web-input.db'))],
  [
    'PostgreSQL',
    async () => {
      postgres = await startTestPostgres();
      return new PostgresStorage(await postgres.createDatabase());
    },
  ],
];

for (const [name, open] of backends) {
  test(`${name}: bad input is a 400 with field errors, never a 500`, async () => {
    const storage = await open();
    opened.push(storage);
    await storage.migrate();
    await badInput(storage);
  });
}

/** Input that a backend, a serializer or a parser could fail on: each a 400 naming the field. */
async function badInput(storage: Storage): Promise<void> {
  const { port, logs } = await serveWeb(storage);
  const post = (path: string, body: unknown) => curl(port, 'POST', path, body);
  const project = await post('/api/v2/projects/', projectBody('bad-input'));
  assert.equal(project.status, 201, project.text);
  const inventory = (await post('/api/v2/inventories/', { name: 'bad-input', content: 'h1\n' })).json;
  const template = { name: 'bad-input', project: project.json.id, inventory: inventory.id, playbook: 'site.yml' };
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

  const cases: [string, string, string | object, Record<string, RegExp>][] = [
    ['100,000 nested arrays in extra_vars', '/api/v2/job_templates/', `${JSON.stringify(template).slice(0, -1)},"extra_vars":{"a":${deep(100_000)}}}`, { extra_vars: /Nested deeper than 100 levels/ }],
    ['deep nesting in an unknown field', '/api/v2/projects/', `{"name":"x","local_path":"/tmp","x":${deep(100_000)}}`, { x: /Nested deeper than 100 levels/ }],
    ['extra_vars as deeply nested YAML text', '/api/v2/job_templates/', { ...template, extra_vars: `a: ${deep(50_000)}` }, { extra_vars: /Not valid JSON or YAML: nested too deeply/ }],
    ['extra_vars as YAML text nested 150 deep', '/api/v2/job_templates/', { ...template, extra_vars: `a: ${deep(150)}` }, { extra_vars: /Nested deeper than 100 levels/ }],
    ['a deeply nested YAML inventory', '/api/v2/inventories/', { name: 'deep', format: 'yaml', content: `all: ${'{children: {g: '.repeat(20_000)}{}${'}}'.repeat(20_000)}` }, { content: /not valid YAML: nested too deeply/ }],
    ['a NUL in a name', '/api/v2/projects/', projectBody('a\u0000b'), { name: /^Null characters are not allowed\.$/ }],
    ['a NUL in a description and in extra_vars', '/api/v2/job_templates/', { ...template, description: '\u0000', extra_vars: { 'k\u0000': 'v' } }, { description: /Null/, extra_vars: /Null/ }],
    ['a NUL in inventory content', '/api/v2/inventories/', { name: 'nul', content: 'h1\u0000\n' }, { content: /Null/ }],
    ['a NUL in a workflow node identifier', '/api/v2/workflow_job_templates/', { name: 'nul', nodes: [{ identifier: 'a\u0000', job_template: 1 }] }, { nodes: /Null/ }],
    ['more hosts than an INTEGER holds', '/api/v2/inventories/', { name: 'huge', content: 'web[1:99999]\ndb[1:99999][1:99999]\n' }, { content: /more than 2147483647 hosts/ }],
    ['a pk beyond INTEGER', '/api/v2/job_templates/', { ...template, name: 'big-pk', project: 99_999_999_999, inventory: 2 ** 53 + 2 }, { project: /^Invalid pk "99999999999" - object does not exist\.$/, inventory: /^Invalid pk/ }],
    ['a workflow node pk beyond INTEGER', '/api/v2/workflow_job_templates/', { name: 'big-pk', nodes: [{ identifier: 'a', job_template: 99_999_999_999 }] }, { nodes: /Invalid pk "99999999999"/ }],
    ['integers beyond INTEGER', '/api/v2/job_templates/', { ...template, name: 'big-int', forks: 99_999_999_999 }, { forks: /^Ensure this value is less than or equal to 2147483647\.$/ }],
    ['a number too large for JSON', '/api/v2/projects/', '{"name":"big","local_path":"/tmp","scm_update_cache_timeout":1e400}', { scm_update_cache_timeout: /A valid integer is required/ }],
  ];
  for (const [what, path, body, expected] of cases) {
    const res = await send(port, 'POST', path, { 'content-type': 'application/json' }, typeof body === 'string' ? body : JSON.stringify(body));
    assert.equal(res.status, 400, `${what}: ${res.text.slice(0, 300)}`);
    assert.deepEqual(Object.keys(res.json).sort(), Object.keys(expected).sort(), what);
    for (const [field, pattern] of Object.entries(expected)) assert.ok(res.json[field].some((m: string) => pattern.test(m)), `${what}: ${field}: ${res.json[field]}`);
  }
  for (const path of ['/api/v2/jobs/99999999999/', '/api/v2/projects/2147483648/', '/api/v2/jobs/99999999999/job_events/', '/api/v2/job_templates/99999999999/launch/']) {
    const res = path.endsWith('launch/') ? await post(path, {}) : await curl(port, 'GET', path);
    assert.equal(res.status, 404, path);
  }
  assert.equal((await curl(port, 'GET', '/api/v2/projects/?page=99999999999999999999')).status, 404, 'a page far past the end');
  assert.deepEqual(logs.filter((l) => l.level >= 50), [], 'nothing failed');
}
