// A node started as `npm start` does gets SIGTERM at each step of its start: every time it exits 0,
// logs "stopped" and leaves no process behind. Until it is ready its web port says it is starting;
// once ready, the probes answer 200. The signal goes from the stdout handler the moment the step's
// line is read (after one GET on the web port where the step asks for it).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, writeTestConfig, tempDir, type LogLine } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** From start to the step (or to "ready", when the step never comes). */
const START_DEADLINE_MS = 20_000;
/** From the signal to exit: shutdown_timeout_ms below, plus stopping Redis. */
const EXIT_DEADLINE_MS = 12_000;
const SHUTDOWN_TIMEOUT_MS = 5_000;

/** One moment of the start, identified by a log line. */
interface Moment {
  readonly name: string;
  readonly msg: string;
  /** Which line with this msg: 1 is the first. */
  readonly nth?: number;
  /** GET on the web port before the signal: what it should say at this moment. */
  readonly probe?: 'starting' | 'ready';
}

const MOMENTS: readonly Moment[] = [
  { name: 'the first port answers, no service started yet', msg: 'metrics listening', probe: 'starting' },
  { name: 'the database migrates', msg: 'migrating database' },
  { name: 'the first service starts its threads', msg: 'starting service', probe: 'starting' },
  { name: 'the second service starts its threads', msg: 'starting service', nth: 2 },
  { name: 'ready (after the probes)', msg: 'ready', probe: 'ready' },
  { name: 'ready (at once)', msg: 'ready' },
];

/** One process, by pid and start time: a pid used again by another process is not it. */
interface Proc {
  readonly pid: number;
  readonly start: string;
  readonly comm: string;
}

/** pid, comm, state, ppid and start time from /proc/<pid>/stat; undefined when there is no such process. */
function stat(pid: number): { comm: string; state: string; ppid: number; start: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const rest = text.slice(close + 2).split(' ');
    return { comm: text.slice(text.indexOf('(') + 1, close), state: rest[0] ?? '', ppid: Number(rest[1]), start: rest[19] ?? '' };
  } catch {
    return undefined;
  }
}

function procOf(pid: number): Proc | undefined {
  const s = stat(pid);
  return s === undefined ? undefined : { pid, start: s.start, comm: s.comm };
}

function alive(p: Proc): boolean {
  const s = stat(p.pid);
  return s !== undefined && s.start === p.start && s.state !== 'Z';
}

/** The processes whose parent is pid. */
function childrenOf(pid: number): Proc[] {
  const found: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s?.ppid === pid) found.push({ pid: Number(entry), start: s.start, comm: s.comm });
  }
  return found;
}

type Answer = { readonly path: string; readonly status: number; readonly body: unknown } | { readonly path: string; readonly refused: true };

/** GET on the web port; a refused connection is an answer of its own (the port may not listen yet). */
async function get(port: number, path: string): Promise<Answer> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { path, status: res.status, body };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'ECONNREFUSED') return { path, refused: true };
    return { path, status: 0, body: `no answer: ${cause?.message ?? (err as Error).message}` };
  }
}

/** What is wrong with the answers at this moment; [] when nothing. */
function judge(probe: 'starting' | 'ready', answers: readonly Answer[]): string[] {
  const problems: string[] = [];
  for (const a of answers) {
    if ('refused' in a) {
      if (probe === 'ready') problems.push(`GET ${a.path} after ready: connection refused`);
      continue;
    }
    const status = (a.body as { status?: unknown } | null)?.status;
    if (probe === 'starting' && (a.status !== 503 || status !== 'starting')) {
      problems.push(`GET ${a.path} while starting answered ${a.status} ${JSON.stringify(a.body)}; expected 503 {"status":"starting",…}`);
    }
    if (probe === 'ready' && a.status !== 200) problems.push(`GET ${a.path} after ready answered ${a.status} ${JSON.stringify(a.body)}; expected 200`);
  }
  return problems;
}

/** The last log lines, with their error's message where they carry one. */
function lastLines(logs: readonly LogLine[], n = 3): string {
  return logs
    .slice(-n)
    .map((l) => {
      const err = (l.err as { message?: string } | undefined)?.message;
      return err === undefined ? l.msg : `${l.msg} (${err})`;
    })
    .join(' | ');
}

/** Starts a node, sends SIGTERM at the moment; everything that went wrong, one line each. */
async function stopAt(t: TestContext, moment: Moment): Promise<{ problems: string[]; answers: Answer[] }> {
  const dir = tempDir('overseer-lifecycle-');
  const { file, ports, dataDir } = await writeTestConfig(dir, { shutdown_timeout_ms: SHUTDOWN_TIMEOUT_MS });
  const node = startNode(['--config', file]);
  const pid = node.child.pid as number;
  const procs = new Map<number, Proc>();
  const track = (p: Proc | undefined) => p !== undefined && !procs.has(p.pid) && procs.set(p.pid, p);
  const trackRedisPidfile = () => {
    try {
      track(procOf(Number(readFileSync(join(dataDir, 'redis.pid'), 'utf8').trim())));
    } catch {
      // no pid file (yet, or any more)
    }
  };
  // Anything the node started counts, whether its start was logged or not.
  const watch = setInterval(() => childrenOf(pid).forEach(track), 20);
  t.after(() => {
    clearInterval(watch);
    node.child.kill('SIGKILL');
    for (const p of procs.values()) {
      try {
        if (alive(p)) process.kill(p.pid, 'SIGKILL');
      } catch {
        // ended in between
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  let exit: { code: number | null } | undefined;
  void node.exited.then((code) => (exit = { code }));
  node.onLog('private redis-server started', (line) => track(procOf(line.redis_pid as number)));

  const problems: string[] = [];
  const answers: Answer[] = [];
  let seen = 0;
  let reached = false;
  let signalled = false;
  const signal = () => {
    childrenOf(pid).forEach(track);
    trackRedisPidfile();
    signalled = true;
    node.child.kill('SIGTERM');
  };
  node.onLog(moment.msg, () => {
    if (++seen !== (moment.nth ?? 1)) return;
    reached = true;
    if (moment.probe === undefined) return signal();
    const paths = moment.probe === 'starting' ? ['/api/v2/ping/'] : ['/api/v2/ping/', '/healthz', '/readyz'];
    void Promise.all(paths.map((p) => get(ports.web, p))).then((got) => {
      answers.push(...got);
      signal();
    });
  });
  if (moment.msg !== 'ready') {
    node.onLog('ready', () => {
      if (reached) return;
      problems.push(`no "${moment.msg}" line${moment.nth ? ` #${moment.nth}` : ''} before "ready": the moment never came; stopped at ready instead`);
      signal();
    });
  }

  const until = await waitFor('the moment, or the node to exit', () => signalled || exit !== undefined, START_DEADLINE_MS).catch(() => false);
  if (!until) problems.push(`neither "${moment.msg}" nor "ready" within ${START_DEADLINE_MS} ms; logged: ${node.logs.map((l) => l.msg).join(' | ')}`);
  else if (!signalled) problems.push(`exited with ${exit?.code} before the moment; last lines: ${lastLines(node.logs)}; stderr: ${node.stderr().trim().split('\n').slice(-3).join(' / ')}`);
  if (signalled) {
    const exited = await waitFor('the node to exit after SIGTERM', () => exit, EXIT_DEADLINE_MS).catch(() => undefined);
    if (exited === undefined) problems.push(`still running ${EXIT_DEADLINE_MS} ms after SIGTERM; last lines: ${lastLines(node.logs)}`);
    else if (exited.code !== 0) problems.push(`exit code ${exited.code}, expected 0; last lines: ${lastLines(node.logs)}`);
  }
  clearInterval(watch);
  trackRedisPidfile();
  if (signalled && exit !== undefined && !node.logs.some((l) => l.msg === 'stopped')) problems.push(`no "stopped" line; last lines: ${lastLines(node.logs)}`);
  const left = await waitFor('every process the node started to end', () => ([...procs.values()].some(alive) ? undefined : true), 5_000).catch(() =>
    [...procs.values()].filter(alive),
  );
  if (left !== true) problems.push(`left behind: ${left.map((p) => `${p.comm} ${p.pid}`).join(', ')}`);
  if (moment.probe !== undefined) problems.push(...judge(moment.probe, answers));
  return { problems, answers };
}

for (const moment of MOMENTS) {
  test(`SIGTERM when ${moment.name} ("${moment.msg}"${moment.nth ? ` #${moment.nth}` : ''}): exit 0, "stopped", no process left`, async (t) => {
    const { problems, answers } = await stopAt(t, moment);
    if (answers.length > 0) t.diagnostic(answers.map((a) => ('refused' in a ? `${a.path}: refused` : `${a.path}: ${a.status}`)).join(', '));
    assert.deepEqual(problems, []);
  });
}
