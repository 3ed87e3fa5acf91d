// `npm run load -- --config FILE --events N --jobs J --rate R`: pushes realistic job events into
// a running node's callback queue, as the dispatcher's ansible-runner would, waits until the node
// has stored every one, and reports the rate reached and the lag read back from the database.
import { existsSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { privateRedisPaths } from '../redis/private-redis.ts';
import { checkRedis, createRedis } from '../redis/connect.ts';
import { redactUrl } from '../redact.ts';
import type { Storage } from '../storage/storage.ts';
import { eventsPerJob, loadPayloads, tokenBucket } from './load-events.ts';
import { CommandError, EXIT, UsageError, commandConfig, count, openExistingDatabase, parseCommandLine, progressBar, progressLine, runCommand, wholeNumber } from './command-line.ts';

const USAGE = `usage: npm run load -- [--config FILE] --events N [--jobs J] [--rate R] [--timeout S]
  --config FILE   the node's config file (or env OVERSEER_CONFIG), as for npm start
  --events N      events to push, 1 to 10,000,000
  --jobs J        spread over this many synthetic jobs, 1 to 1,000 (default 1)
  --rate R        events a second (token bucket); 0 pushes as fast as possible (default 0)
  --timeout S     seconds to wait for the node to store them all (default 300)`;

/** Synthetic job ids start here (far above what a node hands out) and continue above any a previous load used. */
export const LOAD_JOB_ID_BASE = 1_000_000_000;
const MAX_JOB_ID = 2 ** 31 - 1;
const CHUNK = 1000;
const POLL_MS = 200;

/** The Redis `npm start` would use with this config; says plainly when the node is not running. */
async function connectRedis(config: Config): Promise<{ redis: Redis; where: string }> {
  let url = config.redis_url;
  let where = redactUrl(url);
  if (url === '') {
    const { socket } = privateRedisPaths(config.data_dir);
    if (!existsSync(socket)) throw new CommandError(`the node is not running: no private Redis at ${socket} (start it with npm start -- --config FILE)`);
    url = `unix://${socket}`;
    where = socket;
  }
  const why = await checkRedis(url);
  if (why !== undefined) throw new CommandError(`cannot reach Redis at ${where} (${why}): is the node running?`);
  const redis = createRedis(url, 'overseer:load', { maxRetriesPerRequest: 1 });
  redis.on('error', () => {}); // a failing command rejects with the cause
  await redis.connect();
  return { redis, where };
}

/** The first of `jobs` consecutive ids above LOAD_JOB_ID_BASE that no stored event uses yet. */
async function firstJobId(storage: Storage, jobs: number): Promise<number> {
  const row = await storage.sql.get<{ m: number | string | null }>('SELECT max(job_id) AS m FROM job_events WHERE job_id >= ?', [LOAD_JOB_ID_BASE]);
  const first = Math.max(LOAD_JOB_ID_BASE, Number(row?.m ?? 0) + 1);
  if (first + jobs - 1 > MAX_JOB_ID) throw new CommandError(`no synthetic job ids left above ${LOAD_JOB_ID_BASE} (npm run cleanup removes old ones)`);
  return first;
}

/** Events stored and job streams complete among jobs first..last. */
async function stored(storage: Storage, first: number, last: number): Promise<{ events: number; complete: number }> {
  const [e, s] = await Promise.all([
    // The per-job counts: polling must not read every event stored so far while the node ingests.
    storage.sql.get<{ n: number | string | null }>('SELECT sum(events) AS n FROM job_event_counts WHERE job_id >= ? AND job_id <= ?', [first, last]),
    storage.sql.get<{ n: number | string }>('SELECT count(*) AS n FROM job_event_streams WHERE job_id >= ? AND job_id <= ? AND completed_at IS NOT NULL', [first, last]),
  ]);
  return { events: Number(e?.n ?? 0), complete: Number(s?.n ?? 0) };
}

const perSecond = (n: number, ms: number): string => count(Math.round(n / Math.max(ms / 1000, 0.001)));

async function main(): Promise<number> {
  const args = parseCommandLine(process.argv.slice(2), { config: { type: 'string' }, events: { type: 'string' }, jobs: { type: 'string' }, rate: { type: 'string' }, timeout: { type: 'string' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (args.events === undefined) throw new UsageError('--events N is required');
  const events = wholeNumber('events', args.events, 1, 10_000_000, 'an event count');
  const jobs = args.jobs === undefined ? 1 : wholeNumber('jobs', args.jobs, 1, 1000, 'a job count');
  const rate = args.rate === undefined ? 0 : wholeNumber('rate', args.rate, 0, 10_000_000, 'events a second');
  const timeoutS = args.timeout === undefined ? 300 : wholeNumber('timeout', args.timeout, 1, 86_400, 'seconds');
  if (jobs > events) throw new UsageError(`--jobs ${jobs} is more than --events ${events}; every job needs an event`);
  const config = commandConfig(args.config);
  const queue = config.services.callback_receiver.queue;

  const { redis, where } = await connectRedis(config);
  let storage: Storage | undefined;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const line = progressLine(process.stdout, { plainEveryMs: 3000 });
  try {
    storage = await openExistingDatabase(config);
    const first = await firstJobId(storage, jobs);
    const last = first + jobs - 1;
    const ids = Array.from({ length: jobs }, (_, i) => first + i);
    process.stdout.write(`load: ${count(events)} events for ${jobs} synthetic job${jobs === 1 ? '' : 's'} (ids ${first}${jobs > 1 ? `–${last}` : ''}) into ${queue} on ${where}, ${rate === 0 ? 'as fast as possible' : `${count(rate)} events/s`}\n`);

    const payloads = loadPayloads(ids, eventsPerJob(events, jobs));
    const bucket = tokenBucket(rate);
    const began = performance.now();
    let pushed = 0;
    for (let done = false; !done && !stop.signal.aborted; ) {
      let want = await bucket.take(CHUNK, stop.signal).catch(() => 0);
      const chunk: string[] = [];
      let inChunk = 0;
      while (want > 0) {
        const next = payloads.next();
        if (next.done) {
          done = true;
          break;
        }
        chunk.push(next.value.text);
        if (next.value.event) (want -= 1), (inChunk += 1);
      }
      if (chunk.length > 0) await redis.rpush(queue, ...chunk);
      pushed += inChunk;
      line.update(`load: pushing ${progressBar(pushed / events)} ${count(pushed)}/${count(events)} events, ${perSecond(pushed, performance.now() - began)} events/s`);
    }
    const pushMs = performance.now() - began;
    line.done();
    if (stop.signal.aborted) {
      process.stdout.write(`load: interrupted after pushing ${count(pushed)} of ${count(events)} events; their jobs' streams stay incomplete\n`);
      return EXIT.interrupted;
    }
    process.stdout.write(`load: pushed ${count(events)} events in ${(pushMs / 1000).toFixed(2)} s\n`);
    process.stdout.write(`load: events/s reached: ${perSecond(events, pushMs)} (asked: ${rate === 0 ? 'as fast as possible' : count(rate)})\n`);

    // Wait until the node has stored every event and completed every stream, or the deadline.
    const deadline = Date.now() + timeoutS * 1000;
    let now = await stored(storage, first, last);
    while ((now.events < events || now.complete < jobs) && Date.now() < deadline && !stop.signal.aborted) {
      line.update(`load: stored ${progressBar(now.events / events)} ${count(now.events)}/${count(events)} events, ${now.complete}/${jobs} job streams complete`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      now = await stored(storage, first, last);
    }
    const storedMs = performance.now() - began;
    line.done();
    const lag = await storage.eventLag(ids, [0.5, 0.99]);
    const complete = now.events === events && now.complete === jobs;
    if (complete) {
      process.stdout.write(`load: stored ${count(events)} events, ${jobs}/${jobs} job streams complete, ${(storedMs / 1000).toFixed(2)} s after the first push (${perSecond(events, storedMs)} events/s end to end)\n`);
    } else {
      const waiting = await redis.llen(queue);
      process.stdout.write(`load: ${stop.signal.aborted ? 'interrupted' : `timed out after ${timeoutS} s`}: ${count(now.events)} of ${count(events)} events stored, ${now.complete}/${jobs} job streams complete, ${count(waiting)} payloads still in ${queue} (is the node's callback receiver running?)\n`);
    }
    if (lag.count > 0) {
      const [p50, p99] = lag.seconds;
      process.stdout.write(`load: lag p50: ${(p50 ?? 0).toFixed(3)} s (created → saved, from the database, over ${count(lag.count)} events)\n`);
      process.stdout.write(`load: lag p99: ${(p99 ?? 0).toFixed(3)} s\n`);
    }
    return complete ? EXIT.ok : stop.signal.aborted ? EXIT.interrupted : EXIT.failed;
  } finally {
    line.done();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    redis.disconnect();
    await storage?.close();
  }
}

await runCommand('load', USAGE, main);
