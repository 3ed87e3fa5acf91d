// Each storage backend is loaded only when it is opened: a SQLite node never loads pg (a thread
// would pay for it in memory), and a PostgreSQL node never loads node:sqlite's backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPEN = new URL('../../src/storage/open.ts', import.meta.url).href;

const SCRIPT = `
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from ${JSON.stringify(OPEN)};
const loaded = () => {
  const files = Object.keys(createRequire(import.meta.url).cache);
  return { pg: files.some((f) => f.includes('/node_modules/pg/')), copy: files.some((f) => f.includes('/node_modules/pg-copy-streams/')) };
};
const steps = { before: loaded() };
const sqlite = openStorage('', mkdtempSync(join(tmpdir(), 'overseer-open-')));
await sqlite.migrate();
await sqlite.close();
steps.sqlite = loaded();
await openStorage('postgres://overseer@127.0.0.1:1/overseer', '').close();
steps.postgres = loaded();
console.log(JSON.stringify(steps));
`;

test('a SQLite storage loads no PostgreSQL driver; a PostgreSQL one loads it when opened', async () => {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', SCRIPT], { timeout: 60_000 });
  assert.deepEqual(JSON.parse(stdout), {
    before: { pg: false, copy: false },
    sqlite: { pg: false, copy: false },
    postgres: { pg: true, copy: true },
  });
});
