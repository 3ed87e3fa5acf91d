// `npm run status -- --follow JOB` as an operator runs it against a real node running real Ansible
// jobs: the output printed while the job runs, then all of it, each line once and in order (the
// same text as the API's stdout), the exit code of the job's status; a job already finished; a
// node with tokens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startJobNode, websocketMetric, type JobNode } from '../helpers/status-page.ts';
import { waitFor } from '../helpers/wait-for.ts';

const STATUS = fileURLToPath(new URL('../../src/cli/status.ts', import.meta.url));
const TOKEN = 'follow-test-token-0123456789';

/** `npm run status -- ARGS` running: what it printed so far, and its exit code when it ends. */
function follow(args: string[], env: Record<string, string | undefined> = {}) {
  const child = spawn(process.execPath, [STATUS, ...args], { env: { ...process.env, OVERSEER_CONFIG: undefined, OVERSEER_API_TOKEN: undefined, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, stdout: '', stderr: '', exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout.setEncoding('utf8').on('data', (s: string) => (run.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (run.stderr += s));
  after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return run;
}

describe('npm run status -- --follow', () => {
  let n: JobNode;
  let url: string;
  before(async () => {
    n = await startJobNode('follow-a');
    url = `http://127.0.0.1:${n.web}`;
  });
  after(async () => {
    await n?.node.stop();
  });

  test("prints a running job's output as it runs, then the rest, each line once and in order; exit 0 when it succeeds", async () => {
    const job = await n.launch('hold.yml');
    const f = follow(['--url', url, '--follow', String(job.id)]);
    await waitFor('the lines before the hold, printed while the job runs', () => f.stdout.includes('TASK [hold]'), 90_000);
    assert.equal((await n.api('GET', `/api/v2/jobs/${job.id}/`)).json.status, 'running');
    await waitFor('the follower connected to /websocket/', async () => (await websocketMetric(n, 'overseer_websocket_connections')) === 1);
    assert.match(f.stdout, /^ok: \[localhost\] => \(item=3\)/m);
    assert.doesNotMatch(f.stdout, /PLAY RECAP/);
    job.release();
    assert.equal(await f.exited, 0, f.stderr);
    assert.equal(f.stdout, await n.stdout(job.id), 'the printed output is the API stdout, line for line');
    assert.match(f.stdout, /^TASK \[after\]/m);
    assert.match(f.stderr, new RegExp(`^status: job ${job.id} \\(t\\d+\\) successful in \\d+\\.\\d s$`, 'm'));
    assert.doesNotMatch(f.stderr, /lost|reconnect/, 'followed on one connection');
  });

  test('a follower that stops reading is dropped by the node as slow; it reconnects, reads what it missed from the API, and prints it all once', async () => {
    const job = await n.launch('heavy.yml');
    const f = follow(['--url', url, '--follow', String(job.id)]);
    await waitFor('the follower printing and connected', async () => f.stdout.includes('TASK [hold]') && (await websocketMetric(n, 'overseer_websocket_connections')) === 1, 90_000);
    const dropsBefore = await websocketMetric(n, 'overseer_websocket_drops_total{reason="slow"}');
    // Stopped (as Ctrl-Z stops it), the follower reads nothing from its websocket while 16 MB of events come.
    f.child.kill('SIGSTOP');
    after(() => f.child.kill('SIGCONT'));
    job.release();
    await waitFor('the node to drop the stopped follower', async () => (await websocketMetric(n, 'overseer_websocket_drops_total{reason="slow"}')) > dropsBefore, 120_000);
    f.child.kill('SIGCONT');
    assert.equal(await f.exited, 0, f.stderr.slice(0, 2000));
    const stdout = await n.stdout(job.id);
    assert.match(stdout, /^ok: \[localhost\] => \(item=199\)$/m);
    assert.equal(f.stdout, stdout, 'the printed output is the API stdout');
    assert.match(f.stderr, /^status: the live connection to ws:\/\/127\.0\.0\.1:\d+\/websocket\/ was lost \(code \d+.*\); reconnecting$/m);
    assert.match(f.stderr, /^status: reconnected to ws:\/\/127\.0\.0\.1:\d+\/websocket\/; reading what was stored meanwhile from the API \(after counter \d+\)$/m);
  });

  test('a follower whose output is not read lets go of the live connection instead of piling the output up, and catches up once it is read', async () => {
    const job = await n.launch('loud.yml');
    const f = follow(['--url', url, '--follow', String(job.id)]);
    await waitFor('the follower printing and connected', async () => f.stdout.includes('TASK [hold]') && (await websocketMetric(n, 'overseer_websocket_connections')) === 1, 90_000);
    const dropsBefore = await websocketMetric(n, 'overseer_websocket_drops_total{reason="slow"}');
    f.child.stdout.pause();
    job.release();
    await waitFor('the follower to let go of its connection', async () => /live events stop until it is/.test(f.stderr) && (await websocketMetric(n, 'overseer_websocket_connections')) === 0, 120_000);
    await n.until(job.id, ['successful']);
    f.child.stdout.resume();
    assert.equal(await f.exited, 0, f.stderr.slice(0, 2000));
    const stdout = await n.stdout(job.id);
    assert.ok(stdout.length > 16_000_000, `${stdout.length} characters of output`);
    assert.ok(f.stdout === stdout, `the printed output is the API stdout (${f.stdout.length} and ${stdout.length} characters)`);
    assert.match(f.stderr, /^status: the output is not read as fast as the job writes it: live events stop until it is, then what was stored meanwhile is read from the API$/m);
    assert.equal(await websocketMetric(n, 'overseer_websocket_drops_total{reason="slow"}'), dropsBefore, 'never dropped by the node');
  });

  test('a failed job exits 3, a job already finished prints its whole output and exits', async () => {
    const job = await n.launch('fail.yml');
    const live = follow(['--url', url, '--follow', String(job.id)]);
    assert.equal(await live.exited, 3, live.stderr);
    const stdout = await n.stdout(job.id);
    assert.equal(live.stdout, stdout);
    assert.match(stdout, /^fatal: \[localhost\]: FAILED!/m);
    assert.match(live.stderr, new RegExp(`^status: job ${job.id} \\(t\\d+\\) failed in `, 'm'));

    const again = follow(['--url', url, '--follow', String(job.id)]);
    assert.equal(await again.exited, 3, again.stderr);
    assert.equal(again.stdout, stdout);
    assert.equal(again.stderr, live.stderr.split('\n').filter((l) => / failed in /.test(l)).join('\n') + '\n', 'nothing but the final status on stderr');
  });

  test("a workflow job: its jobs' status changes, then its own status; the exit code is its status's", async () => {
    const wf = await n.workflow('hold.yml');
    const f = follow(['--url', url, '--follow', String(wf.id)]);
    await waitFor('the follower connected', async () => /^status: workflow job \d+ \(w\d+\) is (pending|waiting|running)/m.test(f.stderr) && (await websocketMetric(n, 'overseer_websocket_connections')) === 1, 60_000);
    const spawned = await waitFor('its job running', async () => {
      const nodes = (await n.api('GET', `/api/v2/workflow_jobs/${wf.id}/`)).json.workflow_nodes as { job: number | null }[];
      const job = nodes[0]?.job;
      return typeof job === 'number' && (await n.api('GET', `/api/v2/jobs/${job}/`)).json.status === 'running' ? job : undefined;
    }, 90_000);
    wf.release();
    assert.equal(await f.exited, 0, f.stderr);
    assert.match(f.stdout, new RegExp(`^job ${spawned} successful$`, 'm'));
    assert.match(f.stderr, new RegExp(`^status: workflow job ${wf.id} \\(w\\d+\\) successful in \\d+\\.\\d s$`, 'm'));
  });

  test('no such job: exit 1; a bad id: exit 2', async () => {
    const none = follow(['--url', url, '--follow', '999999']);
    assert.equal(await none.exited, 1);
    assert.equal(none.stderr, `status: the node at ${url} has no job 999999 (no job, project update or workflow job has that id)\n`);
    const bad = follow(['--url', url, '--follow', 'x']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.stderr, /^status: --follow: "x" is not allowed; expected a job id from 1 to 2147483647$/m);
    const help = follow(['--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.stdout, /^exit codes: 0 done \(with --follow: the job was successful\)/m);
  });
});

describe('npm run status -- --follow with tokens', () => {
  let n: JobNode;
  before(async () => {
    n = await startJobNode('follow-t', { services: { web: { tokens: [TOKEN] } } });
  });
  after(async () => {
    await n?.node.stop();
  });

  test('follows with the token from the config, or --token; without one it says so and exits 1', async () => {
    const job = await n.launch('hold.yml');
    const byConfig = follow(['--config', n.file, '--follow', String(job.id)]);
    const byOption = follow(['--url', `http://127.0.0.1:${n.web}`, '--token', TOKEN, '--follow', String(job.id)]);
    await waitFor('both printing while the job runs', () => byConfig.stdout.includes('TASK [hold]') && byOption.stdout.includes('TASK [hold]'), 90_000);
    job.release();
    assert.equal(await byConfig.exited, 0, byConfig.stderr);
    assert.equal(await byOption.exited, 0, byOption.stderr);
    const stdout = await n.stdout(job.id);
    assert.equal(byConfig.stdout, stdout);
    assert.equal(byOption.stdout, stdout);

    const without = follow(['--url', `http://127.0.0.1:${n.web}`, '--follow', String(job.id)]);
    assert.equal(await without.exited, 1);
    assert.equal(without.stderr, `status: the node at http://127.0.0.1:${n.web} wants a token (401): give --token T or OVERSEER_API_TOKEN\n`);
  });
});
