// The callback receiver: `workers` threads move job events from the Redis queue into the database,
// each in a loop of its own. At start, what a stopped run was saving goes back to the queue; the
// supervisor samples the queue's length (AWX has whichever thread popped last report it).
import type { ThreadSettings } from '../task-messages.ts';
import type { ServiceMetrics } from '../metrics/service-metrics.ts';
import { giveBackProcessing } from '../redis/event-queue.ts';
import type { Service } from './service.ts';

/** What a callback receiver thread needs to know (piscina workerData of its pool). */
export interface ReceiverSettings extends ThreadSettings {
  readonly databaseUrl: string;
  readonly dataDir: string;
  readonly queue: string;
  readonly batchSize: number;
  readonly batchBytes: number;
  readonly bufferMs: number;
  readonly maxEventBytes: number;
  readonly deadLetterMax: number;
  /** The process-wide SQLite write lock (see src/storage/write-lock.ts). */
  readonly sqliteLock: SharedArrayBuffer;
}

export const callbackReceiver: Service = {
  name: 'callback_receiver',
  async start(node) {
    const { config: c, redis, log } = node;
    const r = c.services.callback_receiver;
    const given = await giveBackProcessing(redis, r.queue, c.node_name);
    if (given > 0) log.warn({ events: given, queue: r.queue }, 'events a stopped run was saving are back in the queue');

    const queueSize = (node.metrics.callback_receiver as ServiceMetrics<'callback_receiver'>).localRecorder('supervisor').metrics.queueSize;
    const sample = () =>
      redis.llen(r.queue).then(
        (n) => queueSize.set(n),
        (err: unknown) => log.warn({ err }, 'cannot sample the queue length'),
      );
    void sample();
    let sampler = setInterval(sample, c.snapshot_interval_ms);
    node.defer('queue sampler', () => clearInterval(sampler));

    const settings: ReceiverSettings = {
      nodeName: c.node_name,
      logLevel: node.logLevel,
      redisUrl: node.redisUrl,
      databaseUrl: c.database_url,
      dataDir: c.data_dir,
      queue: r.queue,
      batchSize: r.batch_size,
      batchBytes: r.batch_bytes,
      bufferMs: r.buffer_ms,
      maxEventBytes: r.max_event_bytes,
      deadLetterMax: r.dead_letter_max,
      sqliteLock: node.sqliteLock,
    };
    const size = (workers: number) => ({ minThreads: workers, maxThreads: workers, loops: workers, idleTimeoutMs: Infinity });
    const pool = await node.startPool({ service: 'callback_receiver', ...size(r.workers), workerData: settings });
    node.onReload((changed) => {
      const next = node.config;
      // Retired loops commit their batch and empty their processing list before their threads end.
      if (changed.has('services.callback_receiver.workers')) pool.resize(size(next.services.callback_receiver.workers));
      if (changed.has('snapshot_interval_ms')) {
        clearInterval(sampler);
        sampler = setInterval(sample, next.snapshot_interval_ms);
      }
    });
  },
};
