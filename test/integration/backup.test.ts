// npm run backup as an operator uses it: a copy of the SQLite database taken while the node
// ingests a steady stream, from which a node on a fresh data dir serves every event committed
// before the backup began; an existing file is never overwritten; PostgreSQL gets pg_dump advice.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startNode, tempDir, writeTestConfig } from '../helpers/node-process.ts';
import { pushEvents, syntheticEvents } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const BACKUP = fileURLToPath(new URL('../../src/cli/backup.ts', import.meta.url));
const QUEUE = 'callback_tasks';
const JOB = 7;
/** The steady stream: this many events every TICK_MS (about 5,000 events/s). */
const PER_TICK = 100;
const TICK_MS = 20;

/** Runs the backup command; resolves with its exit code and output (a failing exit is not an error here). */
async function backup(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BACKUP, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The uuids of the events committed in a node's SQLite database, read as another process would. */
function committedUuids(dataDir: string): Set<string> {
  const db = new DatabaseSync(join(dataDir, 'overseer.db'), { readOnly: true, timeout: 10_000 });
  try {
    return new Set((db.prepare('SELECT uuid FROM job_events WHERE job_id = ?').all(JOB) as { uuid: string }[]).map((r) => r.uuid));
  } finally {
    db.close();
  }
}

async function api<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
}

describe('npm run backup', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = tempDir('overseer-backup-');
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('a copy taken during steady ingest holds every event committed before it began, and a node on a fresh data dir serves them', async (t) => {
    const a = await writeTestConfig(dir(), { node_name: 'backup-a', services: { callback_receiver: { workers: 2, batch_size: 500, buffer_ms: 50 } } });
    const nodeA = startNode(['--config', a.file]);
    after(() => nodeA.stop('SIGKILL'));
    await nodeA.waitForLog('ready');
    const redis = new Redis({ path: join(a.dataDir, 'redis.sock'), maxRetriesPerRequest: 1 });
    redis.on('error', () => {}); // the node's Redis goes when the node stops; the producer has stopped by then
    after(() => redis.disconnect());

    // The producer: a steady stream until told to stop, whatever the backup does meanwhile.
    const events = syntheticEvents(JOB, 100_000);
    let pushed = 0;
    let producing = true;
    const producer = (async () => {
      while (producing && pushed < events.length) {
        const began = Date.now();
        await pushEvents(redis, QUEUE, events.slice(pushed, pushed + PER_TICK));
        pushed += PER_TICK;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - (Date.now() - began))));
      }
    })();
    try {
      await waitFor('5,000 events committed', () => committedUuids(a.dataDir).size >= 5000, 60_000);
      const before = committedUuids(a.dataDir);
      const out = join(dir(), 'overseer-copy.db');
      // A small rate makes the copy take many steps while the node keeps committing.
      const copy = await backup(['--config', a.file, '--out', out, '--rate', '2']);
      const afterCopy = committedUuids(a.dataDir).size;
      assert.equal(copy.code, 0, copy.stderr);
      const snapshot = Number(/\(([\d,]+) events committed\)/.exec(copy.stdout)?.[1]?.replaceAll(',', ''));
      assert.ok(snapshot >= before.size, `the copy's snapshot (${snapshot}) holds at least the ${before.size} events committed before it began`);
      assert.ok(afterCopy > snapshot, `the node committed events during the backup (${snapshot} at its start, ${afterCopy} at its end)`);
      assert.match(copy.stdout, new RegExp(`backup: done: [\\d,]+ pages \\([\\d,]+ bytes\\), ${copy.stdout.match(/\(([\d,]+) events committed\)/)?.[1]} events, in [\\d.]+ s: ${out}`));
      for (const suffix of ['-wal', '-shm', '-journal']) assert.ok(!existsSync(`${out}${suffix}`), `no ${suffix} beside the copy`);

      producing = false;
      await producer;
      redis.disconnect();
      assert.equal(await nodeA.stop(), 0);
      t.diagnostic(`${before.size} events committed before the backup, ${snapshot} in its snapshot, ${afterCopy} when it ended; ${copy.stdout.trim().split('\n').at(-1)}`);

      // Restore: the copy becomes <data_dir>/overseer.db of a fresh node.
      const b = await writeTestConfig(dir(), { node_name: 'backup-b' });
      mkdirSync(b.dataDir, { recursive: true });
      copyFileSync(out, join(b.dataDir, 'overseer.db'));
      const nodeB = startNode(['--config', b.file]);
      after(() => nodeB.stop('SIGKILL'));
      await nodeB.waitForLog('ready');
      const served = new Set<string>();
      let count = 0;
      for (let page = 1; ; page++) {
        const body = await api<{ count: number; next: string | null; results: { uuid: string }[] }>(b.ports.web, `/api/v2/jobs/${JOB}/job_events/?page=${page}&page_size=200&order_by=id`);
        count = body.count;
        for (const e of body.results) served.add(e.uuid);
        if (body.next === null) break;
      }
      assert.equal(count, snapshot, 'the restored node serves exactly the snapshot');
      const missing = [...before].filter((uuid) => !served.has(uuid));
      assert.deepEqual(missing, [], 'every event committed before the backup began is served');
      assert.equal(await nodeB.stop(), 0);
    } finally {
      producing = false;
      await producer;
    }
  });

  test('an existing --out is never overwritten: exit 2, says so, the file is untouched', async () => {
    const d = dir();
    const c = await writeTestConfig(d);
    mkdirSync(c.dataDir, { recursive: true });
    const db = new DatabaseSync(join(c.dataDir, 'overseer.db'));
    db.close();
    const out = join(d, 'precious.db');
    writeFileSync(out, 'not a backup');
    const r = await backup(['--config', c.file, '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`backup: --out: ${out} already exists; a backup never overwrites a file`));
    assert.match(r.stderr, /usage: npm run backup -- \[--config FILE\] --out FILE \[--rate PAGES\]/);
    assert.equal(readFileSync(out, 'utf8'), 'not a backup');
  });

  test('bad arguments: exit 2 with the usage line; no database: exit 1, and no copy is left', async () => {
    const d = dir();
    const c = await writeTestConfig(d);
    for (const [args, message] of [
      [['--config', c.file], /backup: --out FILE is required/],
      [['--config', c.file, '--out', join(d, 'x.db'), '--rate', '0'], /backup: --rate: "0" is not allowed; expected pages from 1 to 1000000/],
      [['--out', join(d, 'x.db'), '--verbose'], /backup: Unknown option '--verbose'/],
    ] as const) {
      const r = await backup([...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
      assert.match(r.stderr, /usage: npm run backup/);
    }
    const r = await backup(['--config', c.file, '--out', join(d, 'x.db')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /backup: no database at .*overseer.db; is data_dir right\?/);
    assert.ok(!existsSync(join(d, 'x.db')));
  });

  test('PostgreSQL: prints the pg_dump command, without the password, and does nothing else', async () => {
    const d = dir();
    const c = await writeTestConfig(d, { database_url: 'postgres://overseer:s3cret-pw@db.example:5432/overseer' });
    const out = join(d, 'overseer.dump');
    const r = await backup(['--config', c.file, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`pg_dump --format=custom --file=${out} --dbname=postgres://overseer@db.example:5432/overseer`));
    assert.match(r.stdout, /give it in PGPASSWORD or ~\/.pgpass/);
    assert.ok(!r.stdout.includes('s3cret-pw') && !r.stderr.includes('s3cret-pw'), 'the password is never printed');
    assert.ok(!existsSync(out), 'nothing is written');
    // From the environment too, as npm start reads it.
    const env = await backup(['--config', c.file, '--out', out], { DATABASE_URL: 'postgresql://app@10.0.0.5/prod?password=hunter22' });
    assert.match(env.stdout, /--dbname=postgresql:\/\/app@10\.0\.0\.5\/prod$/m);
    assert.ok(!env.stdout.includes('hunter22'));
  });
});
