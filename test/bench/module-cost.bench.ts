// What each module costs a worker thread. For every module below, fresh processes start 1 and then
// THREADS worker threads that each import it (and nothing else) and read the process's VmRSS; a
// thread's cost is the difference over the extra THREADS - 1 threads (what the process pays once,
// such as the node binary's pages, drops out), less the same for an empty thread. An empty thread
// is plain JavaScript that loads nothing. Two readings: after an ordinary full GC in each thread,
// and after a last-resort one (V8 then also gives back the heap pages it keeps for reuse: what
// remains is what the module keeps). Our .ts modules are read through Node's compile cache, warmed
// first (as the supervisor's threads read them), except on the first line, which shows what
// TypeScript stripping costs a thread without it. The last lines import everything each service's
// thread entry imports, as that entry does.
// Run: npm run bench -- module-cost (about 3 minutes on 2 cores). RSS is noisy to ±1 MB per thread.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const THREADS = 8;
const CHILD = fileURLToPath(new URL('./workers/module-cost-child.ts', import.meta.url));
const ROOT = new URL('../../', import.meta.url);
const ours = (path: string) => new URL(path, ROOT).href;

/** The modules an entry imports (its static imports, not `import type`), resolved as it resolves them. */
function importsOf(entry: string): string[] {
  const text = readFileSync(new URL(entry, ROOT), 'utf8');
  const specs = [...text.matchAll(/^import (?!type )[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1] as string);
  return specs.map((s) => (s.startsWith('.') ? new URL(s, new URL(entry, ROOT)).href : s));
}

interface Candidate {
  readonly name: string;
  readonly specs: readonly string[];
  /** false: without the compile cache. */
  readonly cache?: boolean;
}

const CANDIDATES: readonly Candidate[] = [
  { name: 'a one-line .ts file, no compile cache (TypeScript stripping)', specs: [ours('test/bench/workers/one-line.ts')], cache: false },
  { name: 'a one-line .ts file, compile cache', specs: [ours('test/bench/workers/one-line.ts')] },
  { name: 'node:sqlite', specs: ['node:sqlite'] },
  { name: 'ioredis', specs: ['ioredis'] },
  { name: 'pg', specs: ['pg'] },
  { name: 'pg + pg-copy-streams', specs: ['pg', 'pg-copy-streams'] },
  { name: 'pino', specs: ['pino'] },
  { name: 'prom-client', specs: ['prom-client'] },
  { name: 'fastify', specs: ['fastify'] },
  { name: 'undici', specs: ['undici'] },
  { name: 'ws', specs: ['ws'] },
  { name: 'yaml', specs: ['yaml'] },
  { name: 'ajv', specs: ['ajv'] },
  { name: 'piscina', specs: ['piscina'] },
  { name: 'src/metrics/recorder.ts + layout.ts (the catalog)', specs: [ours('src/metrics/recorder.ts'), ours('src/metrics/layout.ts')] },
  { name: 'workers/thread-metrics.ts', specs: [ours('workers/thread-metrics.ts')] },
  { name: 'src/logger.ts (a thread: no pino)', specs: [ours('src/logger.ts')] },
  { name: 'src/redis/connect.ts (ioredis)', specs: [ours('src/redis/connect.ts')] },
  { name: 'src/storage/sqlite.ts', specs: [ours('src/storage/sqlite.ts')] },
  { name: 'src/storage/postgres.ts (pg)', specs: [ours('src/storage/postgres.ts')] },
  { name: 'src/storage/open.ts (loads a backend when opened)', specs: [ours('src/storage/open.ts')] },
  { name: 'src/control/store.ts', specs: [ours('src/control/store.ts')] },
  ...['callback-receiver', 'dispatcher', 'websockets'].map((s) => ({
    name: `all that workers/${s}-thread.ts imports`,
    specs: importsOf(`workers/${s}-thread.ts`),
  })),
];

interface Reading {
  readonly regular: number;
  readonly lastResort: number;
}

async function rssKb(threads: number, specs: readonly string[], env: NodeJS.ProcessEnv): Promise<Reading> {
  const { stdout } = await run(process.execPath, ['--expose-gc', CHILD, String(threads), ...specs], { cwd: fileURLToPath(ROOT), env, timeout: 120_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Reading;
}

/** kB per thread beyond the first, for each reading. */
async function perThread(specs: readonly string[], env: NodeJS.ProcessEnv): Promise<Reading> {
  const one = await rssKb(1, specs, env);
  const many = await rssKb(THREADS, specs, env);
  return { regular: (many.regular - one.regular) / (THREADS - 1), lastResort: (many.lastResort - one.lastResort) / (THREADS - 1) };
}

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
const plus = (kb: number) => `${kb >= 0 ? '+' : ''}${mb(kb)}`;

async function main(): Promise<void> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'overseer-module-cost-'));
  try {
    const cold = { ...process.env, NODE_COMPILE_CACHE: undefined };
    const warm = { ...process.env, NODE_COMPILE_CACHE: cacheDir };
    console.log(`module cost per worker thread: 1 and ${THREADS} threads per process, VmRSS; node ${process.version}`);
    const empty = await perThread([], cold);
    console.log('');
    console.log('| module | per thread, after a full GC | after a last-resort GC |');
    console.log('|---|---|---|');
    console.log(`| an empty thread | ${mb(empty.regular)} | ${mb(empty.lastResort)} |`);
    for (const c of CANDIDATES) {
      const env = c.cache === false ? cold : warm;
      if (c.cache !== false) await rssKb(1, c.specs, env); // fills the compile cache
      const r = await perThread(c.specs, env);
      console.log(`| ${c.name} | ${plus(r.regular - empty.regular)} | ${plus(r.lastResort - empty.lastResort)} |`);
    }
    console.log('');
    console.log('(each module line: what it adds to an empty thread)');
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

await main();
