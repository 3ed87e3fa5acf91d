// What a receiver thread sends on to live followers (websocket clients on any node) after each batch:
// the events it saved, one Redis message per job followed, and a summary for each stream it
// completed. When nobody follows, a batch costs one PUBSUB NUMSUB round trip and nothing else: no
// event is serialised and PostgreSQL is not asked for the new ids.
import type { Redis } from 'ioredis';
import type { Logger } from '../../src/logger.ts';
import type { Handles } from '../../src/metrics/recorder.ts';
import type { EventRow, Storage } from '../../src/storage/storage.ts';
import { LIVE_JOBS_CHANNEL, encodeEvents, encodeSummary, eventJson, eventsChannel, type LiveEvent } from '../../src/live/live-messages.ts';

/** Who follows what, as Redis said just before the batch was saved. */
export interface Followed {
  /** Jobs whose events someone follows. */
  readonly jobs: ReadonlySet<number>;
  /** Someone follows status changes and summaries. */
  readonly summaries: boolean;
}

const NOBODY: Followed = { jobs: new Set(), summaries: false };
/** A failed publish is logged at most this often (the events are saved; only their live copy is lost). */
const WARN_EVERY_MS = 10_000;

export class LiveOutput {
  readonly #redis: Redis;
  readonly #metrics: Handles<'callback_receiver'>;
  readonly #storage: Storage;
  readonly #log: Logger;
  #warnedAt = -Infinity;

  constructor(redis: Redis, metrics: Handles<'callback_receiver'>, storage: Storage, log: Logger) {
    this.#redis = redis;
    this.#metrics = metrics;
    this.#storage = storage;
    this.#log = log;
  }

  /** Which of these jobs' events have a subscriber (a web hub or the relay), in one round trip. */
  async followed(jobIds: readonly number[]): Promise<Followed> {
    const channels = [LIVE_JOBS_CHANNEL, ...jobIds.map(eventsChannel)];
    let reply: unknown[];
    try {
      reply = (await this.#redis.pubsub('NUMSUB', ...channels)) as unknown[];
    } catch (err) {
      this.#warn(err, 'cannot ask Redis who follows the live output');
      return NOBODY;
    }
    const jobs = new Set<number>();
    for (let i = 1; i < channels.length; i++) if (Number(reply[2 * i + 1]) > 0) jobs.add(jobIds[i - 1] as number);
    return { jobs, summaries: Number(reply[1]) > 0 };
  }

  /**
   * Publishes the batch's saved events of followed jobs (ids: each event's new id, null when it was
   * stored before), then the summaries of the streams it completed. The receiver does not wait for
   * it: the events go out at once, in order on its connection; a failure loses only the live copy.
   */
  async publish(followed: Followed, events: readonly EventRow[], ids: readonly (number | null)[] | undefined, completed: readonly number[]): Promise<void> {
    if (ids !== undefined && followed.jobs.size > 0) {
      const byJob = new Map<number, LiveEvent[]>();
      let sent = 0;
      events.forEach((e, i) => {
        const id = ids[i];
        if (id === null || id === undefined || !followed.jobs.has(e.job_id)) return;
        let list = byJob.get(e.job_id);
        if (list === undefined) byJob.set(e.job_id, (list = []));
        list.push({ counter: e.counter, json: eventJson(id, e) });
        sent += 1;
      });
      if (byJob.size > 0) {
        const pipe = this.#redis.pipeline();
        for (const [jobId, list] of byJob) pipe.publish(eventsChannel(jobId), encodeEvents(jobId, list));
        this.#metrics.eventsBroadcast.inc(sent);
        void pipe.exec().catch((err: unknown) => this.#warn(err, 'cannot publish saved events to live followers'));
      }
    }
    if (!followed.summaries || completed.length === 0) return;
    for (const jobId of completed) {
      const state = await this.#storage.streamState(jobId).catch(() => undefined);
      if (state?.final_counter === null || state?.final_counter === undefined) continue;
      const summary = encodeSummary({ group_name: 'jobs', unified_job_id: jobId, final_counter: state.final_counter });
      await this.#redis.publish(LIVE_JOBS_CHANNEL, summary).catch((err: unknown) => this.#warn(err, 'cannot publish a job summary'));
    }
  }

  #warn(err: unknown, msg: string): void {
    const now = Date.now();
    if (now - this.#warnedAt < WARN_EVERY_MS) return;
    this.#warnedAt = now;
    this.#log.warn({ err }, msg);
  }
}
