// A worker thread's log lines are pino's: the same calls through pino (main thread) and through
// the thread logger (a worker thread) give the same JSON, field for field and in the same order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LOGGER = new URL('../../src/logger.ts', import.meta.url).href;

// Runs in the main thread (pino) and in a worker thread (the thread logger) of one child process.
const CALLS = `
import { createLogger } from ${JSON.stringify(LOGGER)};
import { isMainThread, Worker } from 'node:worker_threads';
const fixed = (e, stack) => Object.assign(e, { stack });
const side = isMainThread ? 'main' : 'thread';
const log = createLogger('info', { node: 'n1', service: 'callback_receiver', side });
log.info('started');
log.info({ batch: 1000, rate: 1.5, ok: true, none: null }, 'saved');
log.info('with "quotes", a \\\\ backslash and a\\nnewline');
log.warn({ err: fixed(Object.assign(new Error('boom'), { code: 'ECONNRESET', errno: -104 }), 'Error: boom\\n    at here') }, 'redis connection error');
log.error(fixed(new TypeError('bad type'), 'TypeError: bad type\\n    at there'), 'failed');
log.error(fixed(new Error('outer', { cause: fixed(new Error('inner'), 'Error: inner\\n    at deep') }), 'Error: outer\\n    at top'));
log.fatal({ err: fixed(new Error('only the error'), 'Error: only the error\\n    at x') });
log.info({ nan: NaN, inf: Infinity, skipped: undefined, fn() {}, nested: { a: [1, 'two', { three: 3 }] } }, 'odd values');
const circular = { name: 'loop' }; circular.self = circular;
log.info({ circular }, 'circular');
log.debug('not shown at info');
const child = log.child({ slot: 3 });
child.warn({ events: 12 }, 'child line');
child.child({ peer: 'b' }).info('grandchild line');
log.level = 'debug';
log.debug({ n: 1 }, 'debug once the level is debug');
child.debug('a child follows its parent\\'s level');
log.level = 'silent';
log.fatal('not shown when silent');
log.level = 'info';
log.info('count %d of %s', 3, 'jobs');
`;
/** The calls in the main thread, then the same module in a worker thread. */
const SCRIPT = `${CALLS}
if (isMainThread) new Worker(new URL('data:text/javascript,' + encodeURIComponent(${JSON.stringify(CALLS)})));
`;

test('a worker thread logs the same JSON lines as pino in the main thread', async () => {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', SCRIPT], { timeout: 60_000 });
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const of = (side: string) => lines.filter((l) => l.side === side).map(({ time, side: _s, ...rest }) => ({ rest, keys: Object.keys(rest), time }));
  const main = of('main');
  const thread = of('thread');
  assert.equal(main.length, 14);
  assert.deepEqual(thread.map((l) => l.rest), main.map((l) => l.rest));
  assert.deepEqual(thread.map((l) => l.keys), main.map((l) => l.keys), 'fields in the same order');
  for (const l of thread) assert.match(String(l.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  // What the lines say, once: the serialized error with its code, the cause chained in.
  const failed = thread.find((l) => l.rest.msg === 'redis connection error')?.rest.err;
  assert.deepEqual(failed, { type: 'Error', message: 'boom', stack: 'Error: boom\n    at here', code: 'ECONNRESET', errno: -104 });
  assert.equal(thread.find((l) => l.rest.msg === 'outer')?.rest.err && (thread.find((l) => l.rest.msg === 'outer')?.rest.err as { message: string }).message, 'outer: inner');
  assert.equal(thread.at(-1)?.rest.msg, 'count 3 of jobs');
});
