// Runs one playbook job with ansible-runner, pushing its events to the callback queue as they come.
import { chmodSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { EventPusher, Tail, cannotStart, runInGroup, type Exit } from './process.ts';
import { JOB_UID, asRoot, giveToJob, type Sandbox } from './sandbox.ts';

/** Everything one playbook run needs. */
export interface PlaybookRun {
  readonly jobId: number;
  /** Private data dir for this run (created if missing, 0700, the job user's); ansible-runner's artifacts stay in it afterwards. */
  readonly privateDataDir: string;
  /** The project's directory: the run sees it read-only as <privateDataDir>/project, never a copy. */
  readonly projectDir: string;
  /** Path of the playbook relative to the project dir. */
  readonly playbook: string;
  readonly inventory: { readonly format: 'ini' | 'yaml'; readonly content: string };
  readonly extraVars: Readonly<Record<string, unknown>>;
  /** ansible's --forks; 0 means ansible's default. */
  readonly forks: number;
  /** The ansible-runner program (name on PATH or absolute path). */
  readonly runner: string;
  /** The bubblewrap program the run is isolated with. */
  readonly bwrap: string;
  readonly redis: Redis;
  /** The callback queue (Redis list) events are RPUSHed to, normally "callback_tasks". */
  readonly queue: string;
  /** Aborting it cancels the run. */
  readonly signal: AbortSignal;
  /** Called once the process is started, with its pid (= its process group id). */
  readonly onSpawn?: (pid: number) => void;
}

/** How a job ended. */
export interface RunOutcome {
  readonly status: 'successful' | 'failed' | 'canceled' | 'error';
  /** Exit code, null when it never ran or was killed by a signal. */
  readonly rc: number | null;
  /** Events pushed (the EOF's final_counter). */
  readonly events: number;
  /** A human explanation for anything but success ('' on success). */
  readonly explanation: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A directory of the private data dir: 0700, the job user's. */
function privateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
  giveToJob(path);
}

/** A file of the private data dir (inventory, extra vars: they may hold passwords): 0600, the job user's. */
function privateFile(path: string, content: string): void {
  rmSync(path, { force: true });
  writeFileSync(path, content, { mode: 0o600 });
  giveToJob(path);
}

/** Lays out the private data dir as ansible-runner expects it; returns whether the playbook is in the project. */
function prepare(run: PlaybookRun): boolean {
  const pd = run.privateDataDir;
  privateDir(pd);
  // The project is bound here read-only: an empty mount point, whatever a former run left.
  rmSync(join(pd, 'project'), { recursive: true, force: true });
  rmSync(join(pd, 'inventory'), { recursive: true, force: true });
  for (const dir of ['project', 'inventory', 'env', 'home', 'tmp']) privateDir(join(pd, dir));
  privateFile(join(pd, 'inventory', run.inventory.format === 'ini' ? 'hosts' : 'hosts.yml'), run.inventory.content);
  privateFile(join(pd, 'env', 'extravars'), JSON.stringify(run.extraVars));
  // ansible-runner notices a SIGTERM only between pexpect waits (5 s by default), then kills ansible-playbook.
  privateFile(join(pd, 'env', 'settings'), JSON.stringify({ pexpect_timeout: 1 }));
  try {
    // A symlink out of the project would be invisible in the sandbox anyway; say so now.
    const project = realpathSync(run.projectDir);
    const playbook = realpathSync(resolve(project, run.playbook));
    const inside = relative(project, playbook);
    if (inside.startsWith('..') || isAbsolute(inside)) return false;
    return statSync(playbook).isFile();
  } catch {
    return false;
  }
}

/** Why the job user cannot read the project directory (a root node runs jobs as nobody), or ''. */
function unreadableByJob(dir: string): string {
  if (!asRoot()) return '';
  try {
    const { mode, uid } = statSync(dir);
    if (uid === JOB_UID || (mode & 0o005) === 0o005) return '';
  } catch {
    return '';
  }
  return `the project directory ${dir} is not readable by the job user (nobody, uid ${JOB_UID}): make it so with chmod o+rx, or chown it to that user`;
}

/** The sandbox of a run: its private dir, the project read-only inside it, nothing else of the node. */
export function playbookSandbox(run: Pick<PlaybookRun, 'privateDataDir' | 'projectDir' | 'bwrap'>): Sandbox {
  return {
    bwrap: run.bwrap,
    privateDir: run.privateDataDir,
    binds: [{ path: run.projectDir, at: join(run.privateDataDir, 'project'), writable: false }],
    env: { ANSIBLE_FORCE_COLOR: 'False', PYTHONUNBUFFERED: '1' },
  };
}

/**
 * Pushes the events ansible-runner wrote to its artifacts (`artifacts/<ident>/job_events/<counter>-<uuid>.json`)
 * but did not print: with -j it prints a `verbose` event (what a lookup's command wrote to stderr,
 * say) as its raw text instead of JSON, and without the event the stream would never be complete.
 * Returns the highest counter among them (0 when none).
 */
function pushUnprinted(run: PlaybookRun, printed: ReadonlySet<number>, pusher: EventPusher): number {
  let files: string[];
  try {
    files = readdirSync(join(run.privateDataDir, 'artifacts', String(run.jobId), 'job_events'));
  } catch {
    return 0; // no artifacts: the runner did not get that far
  }
  const missing = files
    .map((name) => ({ name, counter: Number(/^(\d+)-/.exec(name)?.[1]) }))
    .filter((f) => Number.isSafeInteger(f.counter) && !printed.has(f.counter))
    .sort((a, b) => a.counter - b.counter);
  let highest = 0;
  for (const { name, counter } of missing) {
    const event = parseObject(readFileSync(join(run.privateDataDir, 'artifacts', String(run.jobId), 'job_events', name), 'utf8').trim());
    if (event === undefined) continue;
    pusher.push(JSON.stringify({ ...event, job_id: run.jobId }));
    highest = Math.max(highest, counter);
  }
  return highest;
}

/**
 * Runs a playbook with `ansible-runner run -j`, pushing each event (with job_id added) to the queue and then
 * the EOF. Rejects only when a push fails (the process group is killed first).
 */
export async function runPlaybook(run: PlaybookRun): Promise<RunOutcome> {
  const pusher = new EventPusher(run.redis, run.queue, run.jobId, () => child.stop());
  const finish = async (status: RunOutcome['status'], exit: Exit | undefined, events: number, explanation: string) => {
    await pusher.end(events);
    return { status, rc: exit?.code ?? null, events, explanation };
  };
  if (run.signal.aborted) return finish('canceled', undefined, 0, 'canceled before it started');
  const unreadable = unreadableByJob(run.projectDir);
  if (unreadable) return finish('failed', undefined, 0, unreadable);
  try {
    if (!prepare(run)) return finish('failed', undefined, 0, `playbook "${run.playbook}" not found in the project`);
  } catch (err) {
    return finish('error', undefined, 0, `could not prepare ${run.privateDataDir}: ${(err as Error).message}`);
  }

  let highest = 0;
  /** Counters of the events ansible-runner printed; what it wrote to its artifacts only is pushed from there. */
  const printed = new Set<number>();
  let ignored = 0;
  const stderr = new Tail(4096);
  const ignoredTail = new Tail(2048);
  const args = ['run', run.privateDataDir, '-p', run.playbook, '-j', '--ident', String(run.jobId)];
  if (run.forks > 0) args.push('--forks', String(run.forks));
  const child = runInGroup(run.runner, args, {
    sandbox: playbookSandbox(run),
    signal: run.signal,
    ...(run.onSpawn ? { onSpawn: run.onSpawn } : {}),
    onLine: (line, stream) => {
      if (stream === 'stderr') return stderr.add(line);
      const event = parseObject(line);
      if (event === undefined) {
        if (line.trim() !== '') {
          ignored++;
          ignoredTail.add(line);
        }
        return;
      }
      if (typeof event.counter === 'number' && Number.isSafeInteger(event.counter)) {
        printed.add(event.counter);
        if (event.counter > highest) highest = event.counter;
      }
      pusher.push(JSON.stringify({ ...event, job_id: run.jobId }));
    },
  });
  const exit = await child.exit;
  highest = Math.max(highest, pushUnprinted(run, printed, pusher));

  if (exit.error && exit.error.path === run.bwrap) return finish('error', exit, highest, cannotStart('bubblewrap', run.bwrap, 'bubblewrap', exit.error));
  if (exit.error) return finish('error', exit, highest, cannotStart('ansible-runner', run.runner, 'python3-ansible-runner ansible-core', exit.error));
  if (exit.canceled) return finish('canceled', exit, highest, 'canceled while running');
  if (exit.code === 0) return finish('successful', exit, highest, '');
  const lines = [exit.code === null ? `ansible-runner was killed by ${exit.signal}` : `ansible-runner exited with code ${exit.code}`];
  if (String(stderr) !== '') lines.push(String(stderr));
  if (highest === 0 && ignored > 0) lines.push(`it printed no events but ${ignored} other lines, ending:`, String(ignoredTail));
  return finish('failed', exit, highest, lines.join('\n'));
}
