// What the commands (npm run cleanup, backup, load, status) share: their arguments, the
// configuration found as `npm start` finds it, the database they work on, and a progress line.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { OverseerError } from '../errors.ts';
import { MIGRATIONS } from '../storage/migrations.ts';
import { openStorage } from '../storage/open.ts';
import type { Storage } from '../storage/storage.ts';

/** Exit codes: 0 done, 1 failed (the database), 2 bad arguments or configuration, 130 interrupted. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** A problem the person at the terminal can fix: printed with the usage line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure that is not the arguments' fault: printed alone, exit code 1. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

type OptionSpecs = Record<string, { type: 'string' | 'boolean' }>;
type Values<O extends OptionSpecs> = { [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean };

/** Parses --name value / --flag arguments; anything unknown, repeated or misplaced is a UsageError. */
export function parseCommandLine<O extends OptionSpecs>(argv: readonly string[], options: O): Values<O> & { help: boolean } {
  try {
    const { values } = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    const given = values as Record<string, string | boolean | undefined>;
    for (const [name, value] of Object.entries(given)) {
      if (typeof value === 'string' && (value === '' || value.startsWith('--'))) throw new UsageError(`--${name}: no value given`);
    }
    return { ...(given as Values<O>), help: given.help === true };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // parseArgs names the option in its message ("Unknown option '--x'", "Option '--out <value>' argument missing").
    throw new UsageError((err as Error).message.replaceAll('\n', ' '));
  }
}

/** A whole number within [min, max] from an option's text. */
export function wholeNumber(option: string, text: string, min: number, max: number, unit: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${option}: ${JSON.stringify(text)} is not allowed; expected ${unit} from ${min} to ${max}`);
  }
  return n;
}

/** The configuration `npm start -- --config FILE` would run with (the same file, defaults and environment). */
export function commandConfig(configFile: string | undefined): Config {
  try {
    return loadConfig({ argv: configFile === undefined ? [] : ['--config', configFile], env: process.env, cwd: process.cwd() });
  } catch (err) {
    if (err instanceof OverseerError && err.problems.length > 0) throw new UsageError(err.problems.join('\n'));
    throw err;
  }
}

/** The SQLite file of a config whose database_url is "". */
export const sqliteFile = (config: Config): string => join(config.data_dir, 'overseer.db');

/**
 * Opens the node's existing database (never creates one: a wrong data_dir must not look like an
 * empty database) and checks that its schema is one this overseer knows.
 */
export async function openExistingDatabase(config: Config): Promise<Storage> {
  if (config.database_url === '' && !existsSync(sqliteFile(config))) {
    throw new CommandError(`no database at ${sqliteFile(config)}; is data_dir right? (a node creates it when it first starts)`);
  }
  const storage = openStorage(config.database_url, config.data_dir);
  try {
    let version: number;
    try {
      version = Number((await storage.sql.get<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations'))?.v ?? 0);
    } catch (err) {
      throw new CommandError(`cannot read ${storage.location}: ${(err as Error).message}`);
    }
    const known = MIGRATIONS.at(-1)?.version ?? 0;
    if (version < 3) throw new CommandError(`${storage.location} has no jobs yet (schema version ${version}); start the node once to set it up`);
    if (version > known) throw new CommandError(`${storage.location} is at schema version ${version}, newer than this overseer knows (${known}); use a newer overseer`);
    return storage;
  } catch (err) {
    await storage.close();
    throw err;
  }
}

/**
 * A status line rewritten in place on a terminal (stderr by default); when the stream is not a
 * terminal it is silent, or with plainEveryMs writes the line whole at most that often (for logs).
 */
export function progressLine(stream: NodeJS.WriteStream = process.stderr, options: { plainEveryMs?: number } = {}): { update(text: string): void; done(): void } {
  let shown = false;
  let last = 0;
  return {
    update(text) {
      const every = stream.isTTY ? 100 : options.plainEveryMs; // ten updates a second are plenty to read
      if (every === undefined) return;
      const now = performance.now();
      if (last !== 0 && now - last < every) return;
      last = now;
      if (!stream.isTTY) {
        stream.write(`${text}\n`);
        return;
      }
      stream.write(`\r\x1b[K${text}`);
      shown = true;
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** A progress bar of `width` cells: "[#########...........]  45%". */
export function progressBar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}

/** 1234567 → "1,234,567". */
export const count = (n: number): string => n.toLocaleString('en-US');

/**
 * Runs a command's main function: prints a UsageError with the usage line (exit 2), a
 * CommandError alone (exit 1), anything else with its stack (exit 1).
 */
export async function runCommand(name: string, usage: string, main: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await main();
  } catch (err) {
    if (err instanceof UsageError) {
      for (const line of err.message.split('\n')) process.stderr.write(`${name}: ${line}\n`);
      process.stderr.write(`${usage}\n`);
      code = EXIT.usage;
    } else if (err instanceof CommandError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      code = EXIT.failed;
    } else {
      process.stderr.write(`${name}: failed: ${(err as Error)?.stack ?? String(err)}\n`);
      code = EXIT.failed;
    }
  }
  process.exit(code);
}
