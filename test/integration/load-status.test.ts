// npm run load and npm run status as an operator runs them against a real node: load's summary,
// every pushed event stored with each job's stream complete (seen through the API), status's
// table of the node and its advice for a node that went away; bad arguments and a node that is
// not there.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { NODES_KEY } from '../../src/cluster/snapshot.ts';
import { sampleValue, scrape, startNode, tempDir, writeTestConfig } from '../helpers/node-process.ts';
import { freePorts } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const LOAD = fileURLToPath(new URL('../../src/cli/load.ts', import.meta.url));
const STATUS = fileURLToPath(new URL('../../src/cli/status.ts', import.meta.url));

/** Runs a command; resolves with its exit code and output (a failing exit is not an error here). */
async function command(file: string, args: string[], env: Record<string, string | undefined> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [file, ...args], { env: { ...process.env, OVERSEER_CONFIG: undefined, ...env }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run load and npm run status', () => {
  test('bad arguments exit 2 with the usage line', async () => {
    const cases: [string, string[], RegExp][] = [
      [LOAD, ['--events', 'many'], /load: --events: "many" is not allowed; expected an event count from 1 to 10000000/],
      [LOAD, ['--jobs', '3'], /load: --events N is required/],
      [LOAD, ['--events', '2', '--jobs', '3'], /load: --jobs 3 is more than --events 2/],
      [LOAD, ['--events', '10', '--rate', '1.5'], /load: --rate: "1.5" is not allowed; expected events a second from 0 to 10000000/],
      [STATUS, ['--url', 'nonsense'], /status: --url: "nonsense" is not a URL/],
      [STATUS, ['--config', 'a.yaml', '--url', 'http://127.0.0.1:8013'], /status: give --config FILE or --url URL, not both/],
      [STATUS, ['--verbose'], /status: Unknown option '--verbose'/],
    ];
    for (const [file, args, message] of cases) {
      const r = await command(file, args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, file === LOAD ? /^usage: npm run load -- /m : /^usage: npm run status -- /m);
    }
  });

  test('a node that is not there: exit 1 with a clear message', async () => {
    const [port] = (await freePorts(1)) as [number];
    const status = await command(STATUS, ['--url', `http://127.0.0.1:${port}`]);
    assert.equal(status.code, 1);
    assert.match(status.stderr, new RegExp(`^status: cannot reach the node at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): is it running`));
    const { file, dataDir } = await writeTestConfig(tempDir());
    const load = await command(LOAD, ['--config', file, '--events', '10']);
    assert.equal(load.code, 1);
    assert.equal(load.stderr, `load: the node is not running: no private Redis at ${join(dataDir, 'redis.sock')} (start it with npm start -- --config FILE)\n`);
  });

  test('load stores every event of its jobs and reports the rate and the lag; status shows the node and advises on a lost one', async () => {
    const { file, ports, dataDir } = await writeTestConfig(tempDir(), { node_name: 'load-a' });
    const node = startNode(['--config', file]);
    after(() => node.stop());
    await node.waitForLog('ready');

    const load = await command(LOAD, ['--config', file, '--events', '3000', '--jobs', '3', '--rate', '0']);
    assert.equal(load.code, 0, load.stdout + load.stderr);
    assert.match(load.stdout, /^load: events\/s reached: [\d,]+ \(asked: as fast as possible\)$/m);
    assert.match(load.stdout, /^load: stored 3,000 events, 3\/3 job streams complete, /m);
    assert.match(load.stdout, /^load: lag p50: \d+\.\d{3} s \(created → saved, from the database, over 3,000 events\)$/m);
    assert.match(load.stdout, /^load: lag p99: \d+\.\d{3} s$/m);
    const ids = /synthetic jobs \(ids (\d+)–(\d+)\)/.exec(load.stdout);
    assert.ok(ids, load.stdout);
    const [first, last] = [Number(ids[1]), Number(ids[2])];
    assert.equal(last - first, 2);

    // Through the API: 1,000 events a job, counters 1 to 1,000 (the EOF's final_counter).
    const api = async (path: string) => (await (await fetch(`http://127.0.0.1:${ports.web}${path}`)).json()) as { count: number; results: { counter: number; event: string }[] };
    let total = 0;
    for (let id = first; id <= last; id++) {
      const page = await api(`/api/v2/jobs/${id}/job_events/?page_size=1&order_by=-counter`);
      assert.equal(page.count, 1000, `job ${id}`);
      assert.equal(page.results[0]?.counter, 1000);
      total += page.count;
    }
    assert.equal(total, 3000);

    // A node that went away stays in the node list: status must say so and advise.
    const redis = new Redis({ path: join(dataDir, 'redis.sock'), maxRetriesPerRequest: 1 });
    after(() => redis.disconnect());
    await redis.hset(NODES_KEY, 'gone-b', JSON.stringify({ version: '0.1.0', at: Date.now() - 600_000 }));

    // The receiver's port counts the events once it has committed them; status reads a snapshot taken after that.
    await waitFor('3,000 events counted', async () => sampleValue((await scrape(ports.callback_receiver)).body, 'callback_receiver_events_insert_db_total') === 3000);
    const status = await command(STATUS, ['--config', file]);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /^status: 2 nodes seen by http:\/\/127\.0\.0\.1:\d+; rates over \d+\.\d s between two snapshots$/m);
    assert.match(status.stdout, /^node load-a\n {2}status +healthy/m);
    assert.match(status.stdout, /^ {2}events inserted +3,000 /m);
    assert.match(status.stdout, /^ {2}threads +callback_receiver 2, /m);
    assert.match(status.stdout, /^node gone-b\n {2}status +lost/m);
    assert.match(status.stdout, /^ {2}- gone-b: check the node: \/api\/v2\/instances\/ says lost \(newest snapshot \d+\.\d s old; healthy is a snapshot within 2 snapshot intervals\)/m);
  });
});
