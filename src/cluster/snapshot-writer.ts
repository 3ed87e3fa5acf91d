import type { Redis } from 'ioredis';
import type { ServiceName } from '../services/names.ts';
import type { FamilySource } from '../metrics/exposition.ts';
import type { Handles } from '../metrics/recorder.ts';
import type { Logger } from '../logger.ts';
import { NODES_KEY, SNAPSHOT_CHANNEL, snapshotKey, snapshotTtlMs, takeSnapshot } from './snapshot.ts';

export interface SnapshotWriterOptions {
  readonly redis: Redis;
  readonly node: string;
  readonly version: string;
  readonly intervalMs: number;
  readonly sources: ReadonlyMap<ServiceName, readonly FamilySource[]>;
  readonly metrics: Handles<'web'>;
  readonly log: Logger;
}

/**
 * Every interval, writes each service's snapshot under its own key with a TTL of three intervals,
 * records the node in the node list and announces each snapshot on the snapshot channel (which
 * the relay thread forwards to peers).
 */
export class SnapshotWriter {
  readonly #o: SnapshotWriterOptions;
  #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #closed = false;

  constructor(options: SnapshotWriterOptions) {
    this.#o = options;
    this.#intervalMs = options.intervalMs;
  }

  /** Writes now, then every interval; a write still running when the next is due makes that one skip. */
  start(): void {
    const tick = () => {
      if (this.#inFlight === undefined && !this.#closed) {
        this.#inFlight = this.writeOnce()
          .catch((err: unknown) => this.#o.log.warn({ err }, 'cannot write metrics snapshots'))
          .finally(() => (this.#inFlight = undefined));
      }
    };
    tick();
    this.#timer = setInterval(tick, this.#intervalMs);
    this.#tick = tick;
  }

  #tick: (() => void) | undefined;

  /** Writes every intervalMs from now on (a config reload); snapshots carry the interval, so readers judge their age by it. */
  setInterval(intervalMs: number): void {
    this.#intervalMs = intervalMs;
    if (this.#timer === undefined || this.#closed || this.#tick === undefined) return;
    clearInterval(this.#timer);
    this.#timer = setInterval(this.#tick, intervalMs);
  }

  /** Takes and writes one snapshot of every service. */
  async writeOnce(): Promise<void> {
    const { redis, node, version, sources, metrics } = this.#o;
    const intervalMs = this.#intervalMs;
    const started = performance.now();
    const tx = redis.multi();
    let at = Date.now();
    for (const [service, list] of sources) {
      const snapshot = await takeSnapshot(service, list, node, version, intervalMs);
      const text = JSON.stringify(snapshot);
      tx.set(snapshotKey(node, service), text, 'PX', snapshotTtlMs(intervalMs));
      tx.publish(SNAPSHOT_CHANNEL, text);
      at = snapshot.at;
    }
    tx.hset(NODES_KEY, node, JSON.stringify({ version, at }));
    await tx.exec();
    metrics.snapshotsWritten.inc(sources.size);
    metrics.snapshotWriteSeconds.inc((performance.now() - started) / 1000);
  }

  /** Stops writing; waits for a write under way. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#inFlight;
  }
}
