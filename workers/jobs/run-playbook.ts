// Runs one playbook job with ansible-runner, pushing its events to the callback queue as they come.
import { cpSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { EventPusher, Tail, cannotStart, runInGroup, type Exit } from './process.ts';

/** Everything one playbook run needs. */
export interface PlaybookRun {
  readonly jobId: number;
  /** Private data dir for this run (created if missing); ansible-runner's artifacts stay in it afterwards. */
  readonly privateDataDir: string;
  /** The project's directory; its content (without .git) is copied into <privateDataDir>/project. */
  readonly projectDir: string;
  /** Path of the playbook relative to the project dir. */
  readonly playbook: string;
  readonly inventory: { readonly format: 'ini' | 'yaml'; readonly content: string };
  readonly extraVars: Readonly<Record<string, unknown>>;
  /** ansible's --forks; 0 means ansible's default. */
  readonly forks: number;
  /** The ansible-runner program (name on PATH or absolute path). */
  readonly runner: string;
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

/** Lays out the private data dir as ansible-runner expects it; returns whether the playbook is in the project. */
function prepare(run: PlaybookRun): boolean {
  const project = join(run.privateDataDir, 'project');
  const inventory = join(run.privateDataDir, 'inventory');
  for (const dir of [project, inventory]) rmSync(dir, { recursive: true, force: true });
  cpSync(run.projectDir, project, { recursive: true, filter: (src) => basename(src) !== '.git' });
  mkdirSync(inventory, { recursive: true });
  writeFileSync(join(inventory, run.inventory.format === 'ini' ? 'hosts' : 'hosts.yml'), run.inventory.content);
  const env = join(run.privateDataDir, 'env');
  mkdirSync(env, { recursive: true });
  writeFileSync(join(env, 'extravars'), JSON.stringify(run.extraVars));
  // ansible-runner notices a SIGTERM only between pexpect waits (5 s by default), then kills ansible-playbook.
  writeFileSync(join(env, 'settings'), JSON.stringify({ pexpect_timeout: 1 }));
  const playbook = resolve(project, run.playbook);
  const inside = relative(project, playbook);
  if (inside.startsWith('..') || isAbsolute(inside)) return false;
  try {
    return statSync(playbook).isFile();
  } catch {
    return false;
  }
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
  try {
    if (!prepare(run)) return finish('failed', undefined, 0, `playbook "${run.playbook}" not found in the project`);
  } catch (err) {
    return finish('error', undefined, 0, `could not prepare ${run.privateDataDir}: ${(err as Error).message}`);
  }

  let highest = 0;
  let ignored = 0;
  const stderr = new Tail(4096);
  const ignoredTail = new Tail(2048);
  const args = ['run', run.privateDataDir, '-p', run.playbook, '-j', '--ident', String(run.jobId)];
  if (run.forks > 0) args.push('--forks', String(run.forks));
  const child = runInGroup(run.runner, args, {
    env: { ANSIBLE_FORCE_COLOR: 'False', PYTHONUNBUFFERED: '1' },
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
      if (typeof event.counter === 'number' && Number.isSafeInteger(event.counter) && event.counter > highest) highest = event.counter;
      pusher.push(JSON.stringify({ ...event, job_id: run.jobId }));
    },
  });
  const exit = await child.exit;

  if (exit.error) return finish('error', exit, highest, cannotStart('ansible-runner', run.runner, 'python3-ansible-runner ansible-core', exit.error));
  if (exit.canceled) return finish('canceled', exit, highest, 'canceled while running');
  if (exit.code === 0) return finish('successful', exit, highest, '');
  const lines = [exit.code === null ? `ansible-runner was killed by ${exit.signal}` : `ansible-runner exited with code ${exit.code}`];
  if (String(stderr) !== '') lines.push(String(stderr));
  if (highest === 0 && ignored > 0) lines.push(`it printed no events but ${ignored} other lines, ending:`, String(ignoredTail));
  return finish('failed', exit, highest, lines.join('\n'));
}
