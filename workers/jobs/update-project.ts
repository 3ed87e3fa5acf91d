// Clones or updates a project's git checkout, pushing git's output as verbose events to the callback queue.
import { randomUUID } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { EventPusher, Tail, cannotStart, runInGroup, type GroupProcess } from './process.ts';
import type { RunOutcome } from './run-playbook.ts';

/** Everything one project update needs. */
export interface ProjectUpdate {
  readonly jobId: number;
  /** The git URL (file://, a path, https, ...). */
  readonly url: string;
  /** '' = the remote's default branch. */
  readonly branch: string;
  /** Where the checkout lives (created on first update, replacing anything there that is not a checkout; updated in place afterwards). */
  readonly dir: string;
  /** The git program, normally 'git'. */
  readonly git: string;
  readonly redis: Redis;
  /** The callback queue (Redis list) events are RPUSHed to. */
  readonly queue: string;
  /** Aborting it cancels the update. */
  readonly signal: AbortSignal;
}

/** How an update ended, with the checked out commit ('' unless successful). */
export interface UpdateOutcome extends RunOutcome {
  readonly revision: string;
}

type Problem = Pick<RunOutcome, 'status' | 'rc' | 'explanation'>;

/** Git never asks for credentials: a URL that needs them fails instead of hanging. */
const GIT_ENV = { GIT_TERMINAL_PROMPT: '0' };

/** Hides the user info (a password or token) of URLs in text. */
const redact = (text: string) => text.replace(/\/\/[^/@\s]*@/g, '//***@');

/**
 * Shallow-clones the project into dir (via a temporary sibling, so a half-done clone never looks like a
 * checkout) or fetches and force-checks-out the branch in place, then reports the revision. Each output
 * line becomes a verbose event, followed by the EOF. Rejects only when a push fails (git is killed first).
 */
export async function updateProject(update: ProjectUpdate): Promise<UpdateOutcome> {
  const { jobId, url, branch, dir } = update;
  let current: GroupProcess | undefined;
  const pusher = new EventPusher(update.redis, update.queue, jobId, () => current?.stop());
  let counter = 0;
  const say = (line: string) => {
    counter++;
    pusher.push(
      JSON.stringify({
        event: 'verbose',
        job_id: jobId,
        uuid: randomUUID(),
        counter,
        stdout: redact(line),
        start_line: counter - 1,
        end_line: counter,
        created: new Date().toISOString(),
        event_data: {},
      }),
    );
  };

  /** Runs one git command, its output shown (or given to onLine); a Problem unless it succeeded. */
  const git = async (args: readonly string[], onLine: (line: string) => void = say): Promise<Problem | undefined> => {
    const tail = new Tail(2048);
    current = runInGroup(update.git, args, {
      env: GIT_ENV,
      signal: update.signal,
      onLine: (line) => {
        tail.add(line);
        onLine(line);
      },
    });
    const exit = await current.exit;
    if (exit.error) return { status: 'error', rc: null, explanation: cannotStart('git', update.git, 'git', exit.error) };
    if (exit.canceled) return { status: 'canceled', rc: exit.code, explanation: 'canceled while updating' };
    if (exit.code === 0) return undefined;
    const how = exit.code === null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    return { status: 'failed', rc: exit.code, explanation: redact(`git ${args.join(' ')} ${how}\n${tail}`.trimEnd()) };
  };

  say(`Updating project from ${url} (${branch === '' ? 'default branch' : `branch ${branch}`})`);
  let problem: Problem | undefined;
  if (existsSync(join(dir, '.git'))) {
    problem =
      (await git(['-C', dir, 'fetch', '--depth', '1', '--', url, branch || 'HEAD'])) ??
      (await git(['-C', dir, 'checkout', '--force', '--detach', 'FETCH_HEAD'])) ??
      (await git(['-C', dir, 'clean', '-ffdx']));
  } else {
    const tmp = `${dir}.tmp-${jobId}`;
    rmSync(tmp, { recursive: true, force: true });
    problem = await git(['clone', '--depth', '1', ...(branch ? ['--branch', branch] : []), '--', url, tmp]);
    try {
      if (problem) rmSync(tmp, { recursive: true, force: true });
      else {
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir);
      }
    } catch (err) {
      problem ??= { status: 'error', rc: null, explanation: `could not move the clone to ${dir}: ${(err as Error).message}` };
    }
  }
  let revision = '';
  problem ??= await git(['-C', dir, 'rev-parse', 'HEAD'], (line) => (revision ||= line.trim()));
  if (problem === undefined) say(`Revision ${revision}`);
  await pusher.end(counter);
  return { ...(problem ?? { status: 'successful', rc: 0, explanation: '' }), events: counter, revision: problem ? '' : revision };
}
