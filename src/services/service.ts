// What a service is to the supervisor: a port that serves its metrics (bound before anything
// starts, so that bind problems are reported with the others), a start that brings up its threads
// and main-side work, and a stop. The supervisor knows nothing else of a service's insides.
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import type { FamilySource } from '../metrics/exposition.ts';
import type { Handles } from '../metrics/recorder.ts';
import type { ServiceMetrics } from '../metrics/service-metrics.ts';
import type { ServicePool, PoolSpec } from '../service-pool.ts';
import type { Storage } from '../storage/storage.ts';
import type { ServiceName } from './names.ts';
import type { ReloadOutcome } from '../config/reload.ts';

/** A service's listener: its port, bound before the node starts anything else. */
export interface Listener {
  readonly server: Server;
  /** Binds; rejects with the error node:net gives (EADDRINUSE, EACCES, …). */
  listen(bind: string, port: number): Promise<void>;
  close(): Promise<void>;
}

/** What every service's start is handed: the node's shared parts, all up by then. */
export interface NodeContext {
  /** The config in force: a reload changes it (see onReload). */
  readonly config: Config;
  readonly version: string;
  readonly log: Logger;
  /** The Redis this node uses (the private one's unix:// URL when redis_url is empty). */
  readonly redisUrl: string;
  /** The supervisor's command connection. */
  readonly redis: Redis;
  readonly storage: Storage;
  /** The process-wide SQLite write lock every thread shares (src/storage/write-lock.ts). */
  readonly sqliteLock: SharedArrayBuffer;
  /** The log level every thread follows (src/logger.ts followLevel). */
  readonly logLevel: SharedArrayBuffer;
  readonly metrics: Readonly<Record<ServiceName, ServiceMetrics>>;
  /** What each service's port serves (its snapshots hold the same). */
  readonly sources: ReadonlyMap<ServiceName, readonly FamilySource[]>;
  /** The supervisor's own metrics on the web port (threads, restarts, cluster). */
  readonly own: Handles<'web'>;
  /**
   * Starts a pool of the service's worker module (workers/<service>-thread.ts) and resolves once
   * its minimum threads are up; the pool is closed when the node stops.
   */
  startPool(spec: Omit<PoolSpec, 'filename'>): Promise<ServicePool>;
  /**
   * Registers how to stop something just started. The node stops in reverse order, whether it
   * runs or is still starting; `close` resolves false when work did not finish within timeoutMs.
   */
  defer(what: string, close: (timeoutMs: number) => Promise<boolean | void> | boolean | void): void;
  /**
   * Registers what to do when a config reload changes keys that apply live; `changed` holds every
   * such key that changed, and `config` already has their new values.
   */
  onReload(apply: (changed: ReadonlySet<string>) => void | Promise<void>): void;
  /** Reloads the config file now (as SIGHUP does) and says what changed. */
  reload(): Promise<ReloadOutcome>;
  /** Throws when the node has been asked to stop: a start under way gives up at its next step. */
  checkpoint(): void;
  /** Something the node cannot run without failed after start. */
  readonly onFatal: (why: string) => void;
}

/** What a service's listener is made from. */
export interface ListenerOptions {
  readonly config: Config;
  readonly log: Logger;
  /** What its port serves on GET /metrics. */
  readonly sources: readonly FamilySource[];
  readonly version: string;
  /** The supervisor's own metrics: the port counts the connections it refuses there. */
  readonly own: Handles<'web'>;
}

/** One service of the node; L is its listener. */
export interface Service<L extends Listener = Listener> {
  readonly name: ServiceName;
  /** Its port's listener (without one, the port serves GET /metrics only). */
  listener?(options: ListenerOptions): L;
  /** Metric sources its port serves beside its catalog metrics. */
  readonly extraSources?: () => readonly FamilySource[];
  /** Starts the service, deferring the stop of each part it starts; `listener` is its port's, already bound. */
  start(node: NodeContext, listener: L): Promise<void>;
}
