// The embedded default: a redis-server of our own on a unix socket in the data directory, with
// an append-only file so that queued work survives a restart, stopped when the node stops.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pingRedis } from './connect.ts';
import { OverseerError } from '../errors.ts';
import type { Logger } from '../logger.ts';

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
/** Unix socket paths longer than this do not fit in sockaddr_un. */
export const MAX_SOCKET_PATH = 100;

/** Paths the private redis-server uses inside a data directory. */
export function privateRedisPaths(dataDir: string) {
  return { socket: join(dataDir, 'redis.sock'), pidfile: join(dataDir, 'redis.pid'), dir: join(dataDir, 'redis') };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 10; Date.now() < deadline; pause = Math.min(pause * 2, 200)) {
    if (await check()) return true;
    await delay(pause);
  }
  return check();
}

/** A redis-server child process owned by this node. */
export class PrivateRedis {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #pidfile: string;
  readonly #log: Logger;
  #exited: Promise<void>;
  #stopping: Promise<void> | undefined;

  private constructor(child: ChildProcess, url: string, pidfile: string, log: Logger, onLost: (why: string) => void) {
    this.#child = child;
    this.url = url;
    this.#pidfile = pidfile;
    this.#log = log;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => {
      if (this.#stopping === undefined) onLost(`the private redis-server exited unexpectedly (${signal ?? `code ${code}`})`);
    });
  }

  /**
   * Starts redis-server on <dataDir>/redis.sock, after stopping one a crashed run left behind.
   * onLost is called if it exits without being asked to.
   */
  static async start(program: string, dataDir: string, log: Logger, onLost: (why: string) => void): Promise<PrivateRedis> {
    const paths = privateRedisPaths(dataDir);
    mkdirSync(paths.dir, { recursive: true });
    await stopLeftover(paths.pidfile, paths.socket, log);
    rmSync(paths.socket, { force: true });
    const args = [
      '--port', '0',
      '--unixsocket', paths.socket,
      '--unixsocketperm', '700',
      '--dir', paths.dir,
      '--pidfile', paths.pidfile,
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      '--daemonize', 'no',
      '--loglevel', 'warning',
    ];
    // Its own process group: a terminal's Ctrl-C reaches the supervisor, which stops Redis last.
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const output: string[] = [];
    const keep = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean).slice(-20));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exitCode: number | null | undefined;
    child.once('exit', (code) => (exitCode = code));
    child.once('error', (err) => (output.push(err.message), (exitCode = -1)));

    const url = `unix://${paths.socket}`;
    const ready = await waitUntil(async () => exitCode !== undefined || (await pingRedis(url)), READY_TIMEOUT_MS);
    if (!ready || exitCode !== undefined) {
      if (exitCode === undefined) child.kill('SIGKILL');
      throw new OverseerError(
        'OVERSEER_REDIS_START',
        `the private redis-server did not start (${exitCode === undefined ? `no answer on ${paths.socket} within ${READY_TIMEOUT_MS} ms` : `exit code ${exitCode}`}): ${output.slice(-5).join(' | ') || 'no output'}`,
      );
    }
    log.info({ socket: paths.socket, redis_pid: child.pid }, 'private redis-server started');
    return new PrivateRedis(child, url, paths.pidfile, log, onLost);
  }

  /** Stops redis-server (it writes its append-only file first); idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#child.exitCode === null && this.#child.signalCode === null) {
        this.#child.kill('SIGTERM');
        const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await this.#exited;
        clearTimeout(timer);
      }
      rmSync(this.#pidfile, { force: true });
      this.#log.info({ redis_pid: this.#child.pid }, 'private redis-server stopped');
    })();
    return this.#stopping;
  }
}

/** A supervisor killed with SIGKILL leaves its redis-server running: stop it before starting anew. */
async function stopLeftover(pidfile: string, socket: string, log: Logger): Promise<void> {
  if (!existsSync(pidfile)) return;
  const pid = Number(readFileSync(pidfile, 'utf8').trim());
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    // not running any more
  }
  if (Number.isInteger(pid) && pid > 0 && cmdline.includes('redis-server') && isAlive(pid)) {
    log.warn({ redis_pid: pid, socket }, 'stopping the redis-server a previous run left behind');
    process.kill(pid, 'SIGTERM');
    if (!(await waitUntil(() => !isAlive(pid), STOP_TIMEOUT_MS))) process.kill(pid, 'SIGKILL');
  }
  rmSync(pidfile, { force: true });
}
