// Clones or updates a project's git checkout, pushing git's output as verbose events to the callback queue.
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { EventPusher, Tail, cannotStart, runInGroup, type GroupProcess } from './process.ts';
import { JOB_GID, JOB_UID, asRoot, giveToJob, type Sandbox } from './sandbox.ts';
import type { RunOutcome } from './run-playbook.ts';
import { redactUrls } from '../redact.ts';

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
  /** The bubblewrap program git is isolated with. */
  readonly bwrap: string;
  /** The update's own private dir (git's HOME and temp dirs), created 0700 for the job user. */
  readonly privateDir: string;
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

/**
 * A local repository belongs to another user than the job's: git may read it. In the update's own
 * HOME, since git drops GIT_CONFIG_* from the environment of a local upload-pack.
 */
const GITCONFIG = '[safe]\n\tdirectory = *\n';

/** The directory of a local repository URL (file://… or a path), which the sandbox shows read-only. */
function localRepository(url: string): string | undefined {
  try {
    const path = url.startsWith('file://') ? fileURLToPath(url) : isAbsolute(url) ? url : undefined;
    return path !== undefined && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

/** Gives a checkout made before updates ran as the job user to that user, so that git may update it. */
function giveTreeToJob(dir: string): void {
  if (!asRoot() || lstatSync(dir).uid === JOB_UID) return;
  lchownSync(dir, JOB_UID, JOB_GID);
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) lchownSync(join(dir, entry), JOB_UID, JOB_GID);
}

/** Hides the user info (a password or token) of URLs in text. */

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
        stdout: redactUrls(line),
        start_line: counter - 1,
        end_line: counter,
        created: new Date().toISOString(),
        event_data: {},
      }),
    );
  };

  const repository = localRepository(url);
  /** Runs one git command in the sandbox, `work` writable, its output shown (or given to onLine); a Problem unless it succeeded. */
  const git = async (work: string, args: readonly string[], onLine: (line: string) => void = say): Promise<Problem | undefined> => {
    const tail = new Tail(2048);
    const sandbox: Sandbox = {
      bwrap: update.bwrap,
      privateDir: update.privateDir,
      binds: [...(repository ? [{ path: repository, writable: false }] : []), { path: work, writable: true }],
      env: GIT_ENV,
    };
    current = runInGroup(update.git, args, {
      sandbox,
      signal: update.signal,
      onLine: (line) => {
        tail.add(line);
        onLine(line);
      },
    });
    const exit = await current.exit;
    if (exit.error && exit.error.path === update.bwrap) return { status: 'error', rc: null, explanation: cannotStart('bubblewrap', update.bwrap, 'bubblewrap', exit.error) };
    if (exit.error) return { status: 'error', rc: null, explanation: cannotStart('git', update.git, 'git', exit.error) };
    if (exit.canceled) return { status: 'canceled', rc: exit.code, explanation: 'canceled while updating' };
    if (exit.code === 0) return undefined;
    const how = exit.code === null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    return { status: 'failed', rc: exit.code, explanation: redactUrls(`git ${args.join(' ')} ${how}\n${tail}`.trimEnd()) };
  };

  say(`Updating project from ${url} (${branch === '' ? 'default branch' : `branch ${branch}`})`);
  for (const path of [update.privateDir, join(update.privateDir, 'home'), join(update.privateDir, 'tmp')]) {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    chmodSync(path, 0o700);
    giveToJob(path);
  }
  const gitconfig = join(update.privateDir, 'home', '.gitconfig');
  writeFileSync(gitconfig, GITCONFIG, { mode: 0o600 });
  giveToJob(gitconfig);
  let problem: Problem | undefined;
  if (existsSync(join(dir, '.git'))) {
    giveTreeToJob(dir);
    problem =
      (await git(dir, ['-C', dir, 'fetch', '--depth', '1', '--', url, branch || 'HEAD'])) ??
      (await git(dir, ['-C', dir, 'checkout', '--force', '--detach', 'FETCH_HEAD'])) ??
      (await git(dir, ['-C', dir, 'clean', '-ffdx']));
  } else {
    // git clones into an empty directory of the job user's, the only place it may write.
    const tmp = `${dir}.tmp-${jobId}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true, mode: 0o700 });
    giveToJob(tmp);
    problem = await git(tmp, ['clone', '--depth', '1', ...(branch ? ['--branch', branch] : []), '--', url, tmp]);
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
  problem ??= await git(dir, ['-C', dir, 'rev-parse', 'HEAD'], (line) => (revision ||= line.trim()));
  if (problem === undefined) say(`Revision ${revision}`);
  await pusher.end(counter);
  return { ...(problem ?? { status: 'successful', rc: 0, explanation: '' }), events: counter, revision: problem ? '' : revision };
}
