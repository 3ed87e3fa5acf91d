// Retention on SQLite and PostgreSQL: old finished jobs go with their events, host summaries,
// stream rows and private dirs, in bounded batches; recent, unfinished and still-needed jobs stay;
// a dry run deletes nothing; `npm run cleanup` does the same from the command line.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openStorage } from '../../src/storage/open.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { ControlStore } from '../../src/control/store.ts';
import type { JobStatus, JobType } from '../../src/control/model.ts';
import { cleanupJobs, removeOrphanDirs, type CleanupProgress } from '../../src/control/retention.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { fixtureRows } from '../helpers/events.ts';
import { sampleValue, scrape, startNode, tempDir, writeTestConfig } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { createRedis } from '../../src/redis/connect.ts';
import { TaskQueue } from '../../src/dispatch/task-queue.ts';

const run = promisify(execFile);
const CLEANUP = fileURLToPath(new URL('../../src/cli/cleanup.ts', import.meta.url));
const EVENTS_PER_JOB = fixtureRows(1).rows.length; // 293
const HOSTS_PER_JOB = 3;
const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

interface Seeded {
  readonly gone: Record<string, number>;
  readonly stay: Record<string, number>;
}

/** A job as the managers would have left it; with events, summaries, a stream row and a private dir when `withData`. */
async function job(
  storage: Storage,
  dataDir: string,
  spec: { type?: JobType; status: JobStatus; finishedDaysAgo?: number; workflow?: number; project?: number; dependency?: number; withData?: boolean },
): Promise<number> {
  const store = new ControlStore(storage.sql);
  const created = await store.createJob({
    type: spec.type ?? 'job',
    name: 'retention',
    launch_type: spec.workflow === undefined ? 'manual' : 'workflow',
    status: spec.status,
    ...(spec.workflow === undefined ? {} : { workflow_job_id: spec.workflow }),
    ...(spec.project === undefined ? {} : { project_id: spec.project }),
  });
  const finished = spec.finishedDaysAgo === undefined ? null : ago(spec.finishedDaysAgo);
  await storage.sql.run('UPDATE jobs SET created = ?, finished = ?, dependency_id = ? WHERE id = ?', [ago(200), finished, spec.dependency ?? null, created.id]);
  if (spec.withData !== false) {
    const { rows, summaries } = fixtureRows(created.id);
    await storage.saveBatch({ events: rows, hostSummaries: summaries, streamEnds: [{ job_id: created.id, final_counter: rows.length }] });
    mkdirSync(join(dataDir, 'jobs', String(created.id), 'artifacts'), { recursive: true });
    writeFileSync(join(dataDir, 'jobs', String(created.id), 'artifacts', 'stdout'), 'PLAY RECAP');
  }
  return created.id;
}

/** Jobs of every kind that must go, and of every kind that must stay, with 30 days of retention. */
async function seed(storage: Storage, dataDir: string): Promise<Seeded> {
  const j = (spec: Parameters<typeof job>[2]) => job(storage, dataDir, spec);
  const runningWorkflow = await j({ type: 'workflow_job', status: 'running', withData: false });
  const finishedWorkflow = await j({ type: 'workflow_job', status: 'successful', finishedDaysAgo: 90, withData: false });
  const failedUpdate = await j({ type: 'project_update', status: 'failed', finishedDaysAgo: 95, project: 2 });
  const gone = {
    successful: await j({ status: 'successful', finishedDaysAgo: 100 }),
    failed: await j({ status: 'failed', finishedDaysAgo: 31 }),
    error: await j({ status: 'error', finishedDaysAgo: 45 }),
    canceled: await j({ status: 'canceled', finishedDaysAgo: 60 }),
    finishedWorkflow,
    nodeOfFinishedWorkflow: await j({ status: 'successful', finishedDaysAgo: 91, workflow: finishedWorkflow }),
    olderUpdate: await j({ type: 'project_update', status: 'successful', finishedDaysAgo: 80, project: 1 }),
  };
  const stay = {
    recent: await j({ status: 'successful', finishedDaysAgo: 29 }),
    running: await j({ status: 'running' }),
    pending: await j({ status: 'pending' }),
    runningWorkflow,
    nodeOfRunningWorkflow: await j({ status: 'failed', finishedDaysAgo: 50, workflow: runningWorkflow }),
    dependencyOfPendingJob: failedUpdate,
    pendingWithDependency: await j({ status: 'pending', dependency: failedUpdate }),
    latestUpdateOfProject: await j({ type: 'project_update', status: 'successful', finishedDaysAgo: 70, project: 1 }),
  };
  return { gone, stay };
}

const countRows = async (storage: Storage, sql: string, ids: readonly number[]) =>
  Number((await storage.sql.get<{ n: number }>(`${sql} IN (${ids.map(() => '?').join(', ')})`, ids))?.n ?? 0);

/** What is left of these jobs: rows, events, summaries, stream rows, dirs. */
async function remains(storage: Storage, dataDir: string, ids: readonly number[]) {
  return {
    jobs: await countRows(storage, 'SELECT count(*) AS n FROM jobs WHERE id', ids),
    events: await countRows(storage, 'SELECT count(*) AS n FROM job_events WHERE job_id', ids),
    hostSummaries: await countRows(storage, 'SELECT count(*) AS n FROM job_host_summaries WHERE job_id', ids),
    streams: await countRows(storage, 'SELECT count(*) AS n FROM job_event_streams WHERE job_id', ids),
    dirs: ids.filter((id) => existsSync(join(dataDir, 'jobs', String(id)))).length,
  };
}

/** What seeding gives n jobs that have data. */
const full = (jobs: number, withData: number) => ({
  jobs,
  events: withData * EVENTS_PER_JOB,
  hostSummaries: withData * HOSTS_PER_JOB,
  streams: withData,
  dirs: withData,
});
const none = { jobs: 0, events: 0, hostSummaries: 0, streams: 0, dirs: 0 };

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`retention on ${backend}`, () => {
    let server: TestPostgres | undefined;
    const opened: Storage[] = [];
    const dirs: string[] = [];

    /** A fresh, migrated database and data dir; the config file a node (or npm run cleanup) would use. */
    async function fresh() {
      const dir = tempDir('overseer-retention-');
      dirs.push(dir);
      const dataDir = join(dir, 'data');
      mkdirSync(dataDir);
      const databaseUrl = server === undefined ? '' : await server.createDatabase();
      const storage = openStorage(databaseUrl, dataDir);
      opened.push(storage);
      await storage.migrate();
      const config = join(dir, 'overseer.yaml');
      writeFileSync(config, JSON.stringify({ data_dir: dataDir, database_url: databaseUrl }));
      return { storage, dataDir, config };
    }

    before(async () => {
      if (backend === 'postgres') server = await startTestPostgres();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    after(async () => {
      await server?.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    test('old finished jobs go with their events, summaries, stream rows and dirs; recent, unfinished and still-needed ones stay', async () => {
      const { storage, dataDir } = await fresh();
      const { gone, stay } = await seed(storage, dataDir);
      const goneIds = Object.values(gone);
      const stayIds = Object.values(stay);
      const stayBefore = await remains(storage, dataDir, stayIds);

      const batches: CleanupProgress[] = [];
      const report = await cleanupJobs(storage, { days: 30, dataDir, eventsPerBatch: 100, jobsPerBatch: 3, onProgress: (p) => batches.push(p) });

      assert.deepEqual(await remains(storage, dataDir, goneIds), none, 'nothing left of the old finished jobs');
      assert.deepEqual(await remains(storage, dataDir, stayIds), stayBefore, 'the others untouched');
      // Seven jobs go; five of them have data (the workflow job has none, the older update has some).
      const withData = goneIds.length - 1;
      assert.deepEqual(
        { jobs: report.jobs, events: report.events, hostSummaries: report.hostSummaries, dirs: report.dirs, kept: report.kept, stopped: report.stopped },
        { jobs: goneIds.length, events: withData * EVENTS_PER_JOB, hostSummaries: withData * HOSTS_PER_JOB, dirs: withData, kept: 3, stopped: false },
      );
      // Bounded batches: no statement deleted more than 100 events, so 293 events took 3 of them.
      const eventBatches = batches.filter((b) => b.batch.events > 0);
      assert.ok(eventBatches.every((b) => b.batch.events <= 100), 'at most eventsPerBatch events per statement');
      assert.ok(eventBatches.length >= Math.ceil(report.events / 100), `${eventBatches.length} event batches for ${report.events} events`);
      assert.equal(batches.at(-1)?.total.events, report.events);

      // A second run finds nothing more.
      const again = await cleanupJobs(storage, { days: 30, dataDir });
      assert.deepEqual([again.jobs, again.events, again.batches], [0, 0, 0]);
    });

    test('a dry run counts what a run deletes, and deletes nothing; days 0 keeps everything', async () => {
      const { storage, dataDir } = await fresh();
      const { gone, stay } = await seed(storage, dataDir);
      const all = [...Object.values(gone), ...Object.values(stay)];
      const before = await remains(storage, dataDir, all);

      const dry = await cleanupJobs(storage, { days: 30, dataDir, dryRun: true });
      assert.equal(dry.dryRun, true);
      assert.deepEqual(await remains(storage, dataDir, all), before, 'a dry run changes nothing');
      const off = await cleanupJobs(storage, { days: 0, dataDir });
      assert.deepEqual([off.jobs, off.events, off.batches], [0, 0, 0]);
      assert.deepEqual(await remains(storage, dataDir, all), before, 'days 0 changes nothing');

      const real = await cleanupJobs(storage, { days: 30, dataDir });
      assert.deepEqual(
        [dry.jobs, dry.events, dry.hostSummaries, dry.dirs, dry.kept],
        [real.jobs, real.events, real.hostSummaries, real.dirs, real.kept],
        'the dry run said what the run did',
      );
    });

    test('many events go in many small batches; a stopped run keeps what it did and the next one finishes', async () => {
      const { storage, dataDir } = await fresh();
      const ids: number[] = [];
      for (let i = 0; i < 6; i++) ids.push(await job(storage, dataDir, { status: 'successful', finishedDaysAgo: 40 }));
      const stop = new AbortController();
      const first = await cleanupJobs(storage, {
        days: 30,
        dataDir,
        eventsPerBatch: 50,
        signal: stop.signal,
        onProgress: (p) => {
          if (p.batches === 4) stop.abort();
        },
      });
      assert.equal(first.stopped, true);
      assert.equal(first.events, 200, 'four batches of 50 events, then it stopped');
      assert.deepEqual(await remains(storage, dataDir, ids), { ...full(6, 6), events: 6 * EVENTS_PER_JOB - 200 });

      const batches: number[] = [];
      const second = await cleanupJobs(storage, { days: 30, dataDir, eventsPerBatch: 50, onProgress: (p) => batches.push(p.batch.events) });
      assert.equal(second.events, 6 * EVENTS_PER_JOB - 200);
      assert.equal(second.jobs, 6);
      assert.ok(batches.filter((n) => n > 0).length >= Math.ceil(second.events / 50), 'every batch at most 50 events');
      assert.ok(batches.every((n) => n <= 50));
      assert.deepEqual(await remains(storage, dataDir, ids), none);
    });

    test('dirs of jobs that no longer exist are removed (deleted by another node of the cluster)', async () => {
      const { storage, dataDir } = await fresh();
      const kept = await job(storage, dataDir, { status: 'running' });
      for (const orphan of [9001, 9002]) mkdirSync(join(dataDir, 'jobs', String(orphan)), { recursive: true });
      assert.equal(await removeOrphanDirs(storage, dataDir, true), 2, 'a dry run counts them');
      assert.ok(existsSync(join(dataDir, 'jobs', '9001')));
      assert.equal(await removeOrphanDirs(storage, dataDir), 2);
      assert.ok(!existsSync(join(dataDir, 'jobs', '9001')) && !existsSync(join(dataDir, 'jobs', '9002')));
      assert.ok(existsSync(join(dataDir, 'jobs', String(kept))), "a job's own dir stays");
    });

    test('npm run cleanup: --dry-run says what would go and deletes nothing; then a run deletes it and says so', async () => {
      const { storage, dataDir, config } = await fresh();
      const { gone, stay } = await seed(storage, dataDir);
      const goneIds = Object.values(gone);
      const withData = goneIds.length - 1;
      const expected = `${goneIds.length} jobs, ${(withData * EVENTS_PER_JOB).toLocaleString('en-US')} events, ${withData * HOSTS_PER_JOB} host summaries, ${withData} private data dirs`;

      const dry = await run(process.execPath, [CLEANUP, '--config', config, '--days', '30', '--dry-run']);
      assert.match(dry.stdout, /\(dry run: nothing is deleted\)/);
      assert.match(dry.stdout, new RegExp(`cleanup: would delete ${expected} \\(jobs finished before `));
      assert.deepEqual(await remains(storage, dataDir, goneIds), full(goneIds.length, withData));

      const real = await run(process.execPath, [CLEANUP, '--config', config, '--days', '30']);
      assert.match(real.stdout, new RegExp(`cleanup: deleted ${expected} \\(jobs finished before `));
      assert.match(real.stdout, /kept 3 old finished jobs/);
      assert.deepEqual(await remains(storage, dataDir, goneIds), none);
      assert.equal(await countRows(storage, 'SELECT count(*) AS n FROM jobs WHERE id', Object.values(stay)), Object.values(stay).length);
    });
  });
}

describe('npm run cleanup: bad arguments', () => {
  const cases: [string[], RegExp][] = [
    [['--days', 'ten'], /cleanup: --days: "ten" is not allowed; expected days from 0 to 36500/],
    [['--days', '-1'], /cleanup: .*--days/],
    [['--days'], /cleanup: .*--days/],
    [['--bogus'], /cleanup: Unknown option '--bogus'/],
    [['--config', '/nonexistent/overseer.yaml'], /cleanup: config file: cannot read \/nonexistent\/overseer.yaml \(no such file\)/],
  ];
  for (const [args, message] of cases) {
    test(`${args.join(' ')}: exit 2, what is wrong and the usage line`, async () => {
      const err = (await run(process.execPath, [CLEANUP, ...args]).then(
        () => assert.fail('exit 0'),
        (e: unknown) => e,
      )) as { code: number; stderr: string };
      assert.equal(err.code, 2);
      assert.match(err.stderr, message);
      assert.match(err.stderr, /usage: npm run cleanup -- \[--config FILE\] \[--days N\] \[--dry-run\]/);
    });
  }

  test('a data_dir without a database: exit 1, says so, creates nothing', async () => {
    const dir = tempDir('overseer-retention-');
    try {
      writeFileSync(join(dir, 'c.yaml'), JSON.stringify({ data_dir: join(dir, 'nothing') }));
      const err = (await run(process.execPath, [CLEANUP, '--config', join(dir, 'c.yaml'), '--days', '5']).catch((e: unknown) => e)) as { code: number; stderr: string };
      assert.equal(err.code, 1);
      assert.match(err.stderr, /cleanup: no database at .*nothing\/overseer.db; is data_dir right\?/);
      assert.ok(!existsSync(join(dir, 'nothing')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the cleanup_jobs task in a running node (SQLite)', () => {
  test('the dispatcher runs it: old jobs go, recent ones stay, counted on the dispatcher port', async () => {
    const dir = tempDir('overseer-retention-');
    const c = await writeTestConfig(dir, { node_name: 'retention-node', retention: { days: 30 } });
    mkdirSync(c.dataDir, { recursive: true });
    const seeding = openStorage('', c.dataDir);
    await seeding.migrate();
    const old = [];
    for (let i = 0; i < 3; i++) old.push(await job(seeding, c.dataDir, { status: 'successful', finishedDaysAgo: 31 + i }));
    const recent = await job(seeding, c.dataDir, { status: 'failed', finishedDaysAgo: 2 });
    await seeding.close();

    const node = startNode(['--config', c.file]);
    after(() => node.stop('SIGKILL'));
    const redis = createRedis(`unix://${join(c.dataDir, 'redis.sock')}`, 'test');
    redis.on('error', () => {}); // the node's private Redis stops with the node
    after(() => redis.disconnect());
    try {
      await node.waitForLog('ready');
      await new TaskQueue(redis, 'retention-node').submit('cleanup_jobs', {}, { once: true });
      const finished = await node.waitForLog('cleanup finished');
      assert.deepEqual(
        [finished.jobs, finished.events, finished.host_summaries, finished.private_dirs],
        [3, 3 * EVENTS_PER_JOB, 3 * HOSTS_PER_JOB, 3],
      );
      const series = (kind: string) => `dispatcher_cleanup_deleted_total{kind="${kind}"}`;
      await waitFor('the cleanup counted on the dispatcher port', async () => sampleValue((await scrape(c.ports.dispatcher)).body, series('events')) === 3 * EVENTS_PER_JOB);
      const body = (await scrape(c.ports.dispatcher)).body;
      assert.equal(sampleValue(body, series('jobs')), 3);
      assert.equal(sampleValue(body, series('host_summaries')), 3 * HOSTS_PER_JOB);
      assert.equal(sampleValue(body, series('private_dirs')), 3);
      assert.ok((sampleValue(body, 'dispatcher_cleanup_last_run_timestamp_seconds') as number) > Date.now() / 1000 - 60);
      assert.equal(sampleValue(body, 'dispatcher_tasks_processed_total{task="cleanup_jobs"}'), 1);

      const res = await fetch(`http://127.0.0.1:${c.ports.web}/api/v2/jobs/${old[0]}/`);
      assert.equal(res.status, 404, 'an old job is gone from the API');
      const kept = (await (await fetch(`http://127.0.0.1:${c.ports.web}/api/v2/jobs/${recent}/job_events/?page_size=1`)).json()) as { count: number };
      assert.equal(kept.count, EVENTS_PER_JOB, 'a recent job keeps its events');
      redis.disconnect();
      assert.equal(await node.stop(), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
