import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { findProgram } from '../../src/system/programs.ts';
import { freePorts } from './ports.ts';
import { waitFor } from './wait-for.ts';

const run = promisify(execFile);

/** A real PostgreSQL cluster on a free loopback port, for one test file. */
export interface TestPostgres {
  /** The default database (`postgres`), as superuser `postgres`, trusted without a password. */
  readonly url: string;
  /** Creates an empty database (a fresh name when none is given) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server, keeping its data: the database is down until restart(). */
  halt(): Promise<void>;
  /** Starts the halted server again and waits until it accepts connections. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const SETTINGS = {
  listen_addresses: "'127.0.0.1'",
  // Durability is worthless for a throwaway cluster, and skipping it keeps every commit cheap.
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: "'16MB'",
  max_connections: '40',
  logging_collector: 'off',
};

let databases = 0;

/** Starts a PostgreSQL cluster in a temp dir (initdb, pg_ctl); stop() stops it and removes the dir. */
export async function startTestPostgres(): Promise<TestPostgres> {
  const initdb = findProgram('initdb');
  if (initdb === undefined) throw new Error('initdb is not installed (apt-get install postgresql)');
  const pgCtl = join(dirname(initdb), 'pg_ctl');
  // initdb and pg_ctl refuse to run as root, so as root the cluster belongs to the postgres user.
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? postgresUser() : undefined;
  const as = (program: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', program, ...args]) : run(program, args);

  const dir = mkdtempSync(join(tmpdir(), 'overseer-pg-'));
  if (owner !== undefined) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const [port] = (await freePorts(1)) as [number];
  let started = false;
  const stop = async () => {
    if (started) {
      started = false;
      await as(pgCtl, ['stop', '-D', data, '-m', 'fast', '-w']).catch(() => {});
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await as(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
    const conf = Object.entries({ ...SETTINGS, port: String(port), unix_socket_directories: `'${dir}'` })
      .map(([k, v]) => `${k} = ${v}\n`)
      .join('');
    appendFileSync(join(data, 'postgresql.conf'), conf);
    // Set first: a pg_ctl that fails after forking may still leave a server to stop.
    started = true;
    // -W: return at once; readiness is checked below by connecting, with a deadline.
    await as(pgCtl, ['start', '-D', data, '-l', log, '-W']);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await waitFor(`PostgreSQL on 127.0.0.1:${port}`, () => query(url, 'SELECT 1').then(() => true));
    return {
      url,
      stop,
      halt: async () => {
        await as(pgCtl, ['stop', '-D', data, '-m', 'fast', '-w']);
      },
      restart: async () => {
        await as(pgCtl, ['start', '-D', data, '-l', log, '-W']);
        await waitFor(`PostgreSQL on 127.0.0.1:${port} again`, () => query(url, 'SELECT 1').then(() => true));
      },
      createDatabase: async (name = `overseer_test_${process.pid}_${++databases}`) => {
        await query(url, `CREATE DATABASE "${name.replaceAll('"', '""')}"`);
        return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`;
      },
    };
  } catch (err) {
    let tail = '';
    try {
      tail = readFileSync(log, 'utf8').trim().split('\n').slice(-10).join('\n');
    } catch {
      // No log: initdb failed, and its own message says why.
    }
    await stop();
    throw new Error(`PostgreSQL did not start: ${(err as Error).message}${tail ? `\nserver log:\n${tail}` : ''}`, { cause: err });
  }
}

function postgresUser(): { uid: number; gid: number } {
  // Node has no getpwnam; `id` answers from the same user database.
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

async function query(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query(sql);
  } finally {
    await client.end().catch(() => {});
  }
}
