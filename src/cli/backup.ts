// `npm run backup -- [--config FILE] --out FILE`: an online copy of the node's SQLite database,
// consistent as of the moment it starts, taken while the node runs and ingests. SQLite's backup
// API copies the pages in steps; a read transaction held on the source for the whole copy pins
// one snapshot (WAL readers do not block writers), so the node's commits during the copy neither
// get in nor make the copy start over, as they otherwise would at every step. For PostgreSQL it
// prints the pg_dump command to run and does nothing else.
import { closeSync, existsSync, openSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { backup, DatabaseSync } from 'node:sqlite';
import type { Config } from '../config/schema.ts';
import { CommandError, EXIT, UsageError, commandConfig, count, openExistingDatabase, parseCommandLine, progressLine, runCommand, sqliteFile, wholeNumber } from './command-line.ts';

const USAGE = `usage: npm run backup -- [--config FILE] --out FILE [--rate PAGES]
  --config FILE   the node's config file (or env OVERSEER_CONFIG), as for npm start
  --out FILE      where the copy goes; an existing file is never overwritten
  --rate PAGES    database pages copied per step (default 1000)`;

const DEFAULT_RATE = 1000;
const EXISTS = 'already exists; a backup never overwrites a file: remove it or choose another name';

/** A value quoted for a POSIX shell. */
const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** What to run for a PostgreSQL database: pg_dump with the URL's password left out. */
export function pgDumpAdvice(databaseUrl: string, out: string): string {
  const url = new URL(databaseUrl);
  const secret = url.password !== '' || url.searchParams.has('password');
  url.password = '';
  url.searchParams.delete('password');
  const lines = [
    'backup: database_url is PostgreSQL, which overseer does not copy itself; back it up with pg_dump (safe while the node runs):',
    `  pg_dump --format=custom --file=${shellQuote(out)} --dbname=${shellQuote(url.toString())}`,
    `  restore: pg_restore --clean --if-exists --dbname=<database URL> ${shellQuote(out)} (with the node stopped)`,
  ];
  if (secret) lines.push("  the password in database_url is not shown: give it in PGPASSWORD or ~/.pgpass");
  return `${lines.join('\n')}\n`;
}

/** Reserves `out` (created empty, failing if it exists), so that nothing is ever overwritten. */
function reserve(out: string): void {
  try {
    closeSync(openSync(out, 'wx'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`--out: ${out} ${EXISTS}`);
    throw new CommandError(`cannot create ${out}: ${(err as Error).message}`);
  }
}

const removeCopy = (out: string) => {
  for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(`${out}${suffix}`, { force: true });
};

async function copySqlite(config: Config, out: string, rate: number): Promise<void> {
  const source = sqliteFile(config);
  // Checks that it exists and that its schema is one this overseer knows; the copy uses a connection of its own.
  await (await openExistingDatabase(config)).close();
  reserve(out);
  // Interrupted, the copy would be incomplete: it goes, and so does the process, at once.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      removeCopy(out);
      process.stderr.write(`\nbackup: stopped by ${signal}; ${out} removed\n`);
      process.exit(EXIT.interrupted);
    });
  }
  const db = new DatabaseSync(source, { readOnly: true, timeout: 10_000 });
  const line = progressLine();
  let done = false;
  try {
    const began = performance.now();
    // The snapshot: everything committed before this read is in the copy, nothing committed after.
    db.exec('BEGIN');
    const { n: events } = db.prepare('SELECT count(*) AS n FROM job_events').get() as { n: number };
    process.stdout.write(`backup: copying ${source} (${count(events)} events committed) to ${out}\n`);
    const pages = await backup(db, out, {
      rate,
      progress: ({ totalPages, remainingPages }) => {
        const copied = totalPages - remainingPages;
        line.update(`backup: ${Math.floor((100 * copied) / Math.max(1, totalPages))}% (${count(copied)} of ${count(totalPages)} pages)`);
      },
    });
    db.exec('COMMIT');
    line.done();
    // One self-contained file: restored into a data_dir, the node turns WAL on again when it opens it.
    const copy = new DatabaseSync(out);
    try {
      copy.exec('PRAGMA journal_mode = DELETE');
      const check = (copy.prepare('PRAGMA quick_check').get() as { quick_check: string }).quick_check;
      if (check !== 'ok') throw new CommandError(`the copy failed its check: ${check}`);
    } finally {
      copy.close();
    }
    const seconds = (performance.now() - began) / 1000;
    process.stdout.write(`backup: done: ${count(pages)} pages (${count(statSync(out).size)} bytes), ${count(events)} events, in ${seconds.toFixed(1)} s: ${out}\n`);
    done = true;
  } finally {
    line.done();
    if (db.isOpen) db.close();
    if (!done) removeCopy(out);
  }
}

async function main(): Promise<number> {
  const args = parseCommandLine(process.argv.slice(2), { config: { type: 'string' }, out: { type: 'string' }, rate: { type: 'string' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (args.out === undefined) throw new UsageError('--out FILE is required: where the copy goes');
  const rate = args.rate === undefined ? DEFAULT_RATE : wholeNumber('rate', args.rate, 1, 1_000_000, 'pages');
  const config = commandConfig(args.config);
  const out = resolve(args.out);
  if (existsSync(out)) throw new UsageError(`--out: ${out} ${EXISTS}`);
  if (config.database_url !== '') {
    process.stdout.write(pgDumpAdvice(config.database_url, out));
    return EXIT.ok;
  }
  await copySqlite(config, out, rate);
  return EXIT.ok;
}

await runCommand('backup', USAGE, main);
