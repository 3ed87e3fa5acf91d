// A callback receiver thread: moves job events from the Redis queue into the database.
import { threadId, workerData } from 'node:worker_threads';
import { threadMetrics } from './thread-metrics.ts';
import { Receiver } from './receiver/receiver.ts';
import { LiveOutput } from './receiver/live-output.ts';
import { stopSignal, type LoopTask } from '../src/task-messages.ts';
import type { ReceiverSettings } from '../src/services/callback-receiver.ts';
import { createRedis } from '../src/redis/connect.ts';
import { EventQueue } from '../src/redis/event-queue.ts';
import { openStorage } from '../src/storage/open.ts';
import { openWriteLock } from '../src/storage/write-lock.ts';
import { createLogger, followLevel } from '../src/logger.ts';

export const metrics = threadMetrics('callback_receiver');
const settings = workerData as ReceiverSettings;
const log = createLogger('info', { node: settings.nodeName, service: 'callback_receiver', thread: threadId });
followLevel(log, settings.logLevel);

/** The receiver loop (piscina task `loop`): runs until the supervisor stops it. */
export async function loop(task: LoopTask): Promise<void> {
  const signal = stopSignal(task.stop);
  const redis = createRedis(settings.redisUrl, `overseer:receiver:${task.slot}`, { maxRetriesPerRequest: null });
  const storage = openStorage(settings.databaseUrl, settings.dataDir, { writeLock: openWriteLock(settings.sqliteLock) });
  try {
    await redis.connect();
    const loopLog = log.child({ slot: task.slot });
    const receiver = new Receiver({
      queue: new EventQueue(redis, settings.queue, settings.nodeName, task.slot, {
        maxEventBytes: settings.maxEventBytes,
        deadLetterMax: settings.deadLetterMax,
      }),
      storage,
      metrics,
      log: loopLog,
      nodeName: settings.nodeName,
      batchSize: settings.batchSize,
      batchBytes: settings.batchBytes,
      bufferMs: settings.bufferMs,
      maxEventBytes: settings.maxEventBytes,
      live: new LiveOutput(redis, metrics, storage, loopLog),
    });
    await receiver.run(signal);
  } finally {
    metrics.eventsInMemory.set(0);
    redis.disconnect();
    await storage.close();
  }
}
