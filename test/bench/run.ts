// `npm run bench [-- NAME...]`: runs every test/bench/*.bench.ts in name order, each in its own
// child process of this Node, with its output streamed. NAME filters by file name (substring;
// several names run the union). Exits non-zero if any file fails, or if nothing matched.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** A bench file that runs longer than this is stopped (SIGTERM, then SIGKILL) and counts as failed. */
const FILE_TIMEOUT_MS = 10 * 60_000;
const KILL_GRACE_MS = 15_000;

const filters = process.argv.slice(2).filter((a) => a !== '--');
const all = readdirSync(HERE)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const files = filters.length === 0 ? all : all.filter((f) => filters.some((name) => f.includes(name)));

if (files.length === 0) {
  console.error(`bench: no test/bench/*.bench.ts matches ${filters.map((f) => JSON.stringify(f)).join(', ')}; there are: ${all.join(', ') || 'none'}`);
  process.exit(1);
}

let child: ReturnType<typeof spawn> | undefined;
let interrupted: NodeJS.Signals | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = signal;
    child?.kill(signal); // the bench file stops what it started, then exits
  });
}

/** Runs one bench file; resolves with a failure description, or undefined when it passed. */
function runFile(file: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [join(HERE, file)], { stdio: 'inherit', cwd: join(HERE, '..', '..') });
    child = c;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`bench: ${file} still running after ${FILE_TIMEOUT_MS / 1000} s; stopping it`);
      c.kill('SIGTERM');
      killTimer = setTimeout(() => c.kill('SIGKILL'), KILL_GRACE_MS);
    }, FILE_TIMEOUT_MS);
    c.once('error', (err) => {
      clearTimeout(timer);
      resolve(`could not start: ${err.message}`);
    });
    c.once('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      child = undefined;
      if (timedOut) resolve(`timed out after ${FILE_TIMEOUT_MS / 1000} s`);
      else if (code === 0) resolve(undefined);
      else resolve(code === null ? `killed by ${signal}` : `exit code ${code}`);
    });
  });
}

const began = performance.now();
const failed: string[] = [];
let ran = 0;
for (const file of files) {
  if (interrupted) break;
  console.log(`\n== ${basename(file)} ==`);
  const t0 = performance.now();
  const failure = await runFile(file);
  ran++;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (failure === undefined) console.log(`== ${file}: ok in ${secs} s ==`);
  else {
    failed.push(file);
    console.log(`== ${file}: FAILED (${failure}) after ${secs} s ==`);
  }
}

const total = ((performance.now() - began) / 1000).toFixed(1);
const skipped = files.length - ran;
console.log(
  `\nbench: ${ran} of ${files.length} file(s) run in ${total} s, ${ran - failed.length} ok, ${failed.length} failed` +
    `${failed.length ? ` (${failed.join(', ')})` : ''}${skipped ? `, ${skipped} not run (${interrupted})` : ''}`,
);
process.exit(failed.length > 0 || interrupted ? 1 : 0);
