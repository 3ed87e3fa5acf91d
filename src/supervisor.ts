// The supervisor: checks everything it needs before starting anything, then starts Redis, the
// database, one metrics listener per service and one thread pool per service; stops them in
// reverse order.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import type { Config } from './config/schema.ts';
import { SERVICES, type ServiceName } from './metrics/catalog.ts';
import { ServiceMetrics } from './metrics/service-metrics.ts';
import { ServiceExposition, processMetricSources, type FamilySource } from './metrics/exposition.ts';
import type { Handles } from './metrics/recorder.ts';
import { ServicePool, type PoolSpec, type PooledService } from './service-pool.ts';
import { PrivateRedis, privateRedisPaths, MAX_SOCKET_PATH } from './redis/private-redis.ts';
import { checkRedis } from './redis/connect.ts';
import { readFileSync } from 'node:fs';
import type { Storage } from './storage/storage.ts';
import { openStorage } from './storage/open.ts';
import { createLockBuffer, openWriteLock } from './storage/write-lock.ts';
import { createRedis } from './redis/connect.ts';
import { giveBackProcessing } from './redis/event-queue.ts';
import { bindProblem, closeServer, createMetricsServer, listen } from './web/metrics-server.ts';
import { createApi, type ApiHandler } from './web/api.ts';
import type { ReceiverSettings, RelaySettings } from './task-messages.ts';
import { layoutOf } from './metrics/layout.ts';
import { SnapshotWriter } from './cluster/snapshot-writer.ts';
import { ClusterReader, listInstances, type ClusterView } from './cluster/cluster-view.ts';
import { attachRelayEndpoint } from './web/relay-endpoint.ts';
import type { Redis } from 'ioredis';
import { ensurePrograms, findProgram } from './system/programs.ts';
import { claimDataDir, dataDirOwner } from './data-dir-lock.ts';
import { OverseerError } from './errors.ts';
import type { Logger } from './logger.ts';

const workerFile = (name: string) => fileURLToPath(new URL(`../workers/${name}`, import.meta.url));

/** The worker module of each pooled service. */
export const WORKER_FILES: Readonly<Record<PooledService, string>> = {
  callback_receiver: workerFile('callback-receiver.ts'),
  dispatcher: workerFile('dispatcher.ts'),
  websockets: workerFile('wsrelay.ts'),
};

/** overseer's version, from package.json. */
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Dispatcher threads above min_workers stop after this long without a task. */
const DISPATCHER_IDLE_MS = 30_000;

/** Each pooled service's pool, sized from the config. */
export function poolSpecs(
  config: Config,
  settings: { readonly receiver: ReceiverSettings; readonly relay: RelaySettings },
  files: Readonly<Record<PooledService, string>> = WORKER_FILES,
): PoolSpec[] {
  const { receiver, relay } = settings;
  const s = config.services;
  const r = s.callback_receiver;
  return [
    { service: 'callback_receiver', filename: files.callback_receiver, minThreads: r.workers, maxThreads: r.workers, loops: r.workers, idleTimeoutMs: Infinity, workerData: receiver },
    { service: 'dispatcher', filename: files.dispatcher, minThreads: s.dispatcher.min_workers, maxThreads: s.dispatcher.max_workers, loops: 0, idleTimeoutMs: DISPATCHER_IDLE_MS },
    { service: 'websockets', filename: files.websockets, minThreads: 1, maxThreads: 1, loops: 1, idleTimeoutMs: Infinity, workerData: relay },
  ];
}

export interface SupervisorOptions {
  readonly config: Config;
  readonly log: Logger;
  /** Replaces worker modules (tests run fixture workers through the real supervisor). */
  readonly workerFiles?: Partial<Record<PooledService, string>>;
  /** Called when something the node cannot run without fails after start (the private Redis exits). */
  readonly onFatal?: (why: string) => void;
}

/** Hides a password in a URL before it reaches a log or a message. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** One node's supervisor. */
export class Supervisor {
  readonly config: Config;
  readonly metrics: Readonly<Record<ServiceName, ServiceMetrics>>;
  readonly #log: Logger;
  readonly #files: Readonly<Record<PooledService, string>>;
  readonly #onFatal: (why: string) => void;
  readonly #own: Handles<'web'>;
  readonly #servers = new Map<ServiceName, Server>();
  readonly #pools: ServicePool[] = [];
  #redis: PrivateRedis | undefined;
  #redisUrl = '';
  #storage: Storage | undefined;
  #redisClient: Redis | undefined;
  #api: ApiHandler | undefined;
  #sampler: NodeJS.Timeout | undefined;
  #snapshots: SnapshotWriter | undefined;
  #relayEndpoint: { close(): Promise<void> } | undefined;
  readonly #rejectedSeen = new Map<string, string>();
  #clusterReader: ClusterReader | undefined;
  /** What each service's port serves, and what its snapshots hold. */
  readonly #sources = new Map<ServiceName, FamilySource[]>();
  readonly #sqliteLock = createLockBuffer();
  #closing: Promise<boolean> | undefined;
  #releaseDataDir: () => void = () => {};

  constructor(options: SupervisorOptions) {
    this.config = options.config;
    this.#log = options.log;
    this.#files = { ...WORKER_FILES, ...options.workerFiles };
    this.#onFatal = options.onFatal ?? ((why) => this.#log.fatal(why));
    const peers = this.config.cluster.peers.map((p) => p.name);
    this.metrics = Object.fromEntries(SERVICES.map((s) => [s, new ServiceMetrics(s, layoutOf(s, peers))])) as Record<ServiceName, ServiceMetrics>;
    this.#own = (this.metrics.web as ServiceMetrics<'web'>).localRecorder('supervisor').metrics;
  }

  /** The Redis this node uses (the private one's unix:// URL when redis_url is empty). */
  get redisUrl(): string {
    return this.#redisUrl;
  }

  /** Checks, then starts everything. Throws OverseerError: OVERSEER_START lists every problem found before anything started. */
  async start(): Promise<void> {
    const c = this.config;
    this.#log.info({ data_dir: c.data_dir, redis: redactUrl(c.redis_url) || 'private', database: redactUrl(c.database_url) || 'sqlite' }, 'starting');
    const problems = (await Promise.all([this.#checkDataDir(), this.#checkRedis(), this.#checkDatabase(), this.#bindListeners()])).flat();
    if (problems.length > 0) {
      this.#releaseDataDir();
      await Promise.all([...this.#servers.values()].map(closeServer));
      throw new OverseerError('OVERSEER_START', `cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`, problems);
    }

    this.#assertNotClosing();
    if (c.redis_url === '') {
      this.#redis = await PrivateRedis.start(findProgram('redis-server') as string, c.data_dir, this.#log, this.#onFatal);
      this.#redisUrl = this.#redis.url;
    } else {
      this.#redisUrl = c.redis_url;
      this.#log.info({ redis: redactUrl(c.redis_url) }, 'redis reachable');
    }

    const redis = createRedis(this.#redisUrl, 'overseer:supervisor', { maxRetriesPerRequest: 1 });
    redis.on('error', (err: Error) => this.#log.warn({ err }, 'redis connection error'));
    this.#redisClient = redis;
    await redis.connect();

    this.#storage = openStorage(c.database_url, c.data_dir, { writeLock: openWriteLock(this.#sqliteLock) });
    const { applied, version } = await this.#storage.migrate();
    this.#log.info({ database: this.#storage.location, schema_version: version, applied }, 'database ready');
    this.#api = createApi({
      storage: this.#storage,
      nodeName: c.node_name,
      version: VERSION,
      redisOk: async () => (await redis.ping().catch(() => '')) === 'PONG',
      cluster: () => this.#readCluster(redis),
      instances: async () => listInstances(redis, await this.#readCluster(redis)),
      tokens: c.services.web.tokens,
      allowAnonymousMetrics: c.services.web.allow_anonymous_metrics,
    });
    if (c.services.web.tokens.length === 0) {
      this.#log.warn({ bind: c.services.web.bind }, 'no API tokens configured: the API is open to anyone who can reach this loopback address');
    }
    (this.metrics.web as ServiceMetrics<'web'>).provide('snapshotAge', async () => {
      const now = Date.now();
      const newest = new Map<string, number>();
      for (const s of (await this.#readCluster(redis)).snapshots) newest.set(s.node, Math.max(newest.get(s.node) ?? 0, s.at));
      return [...newest].map(([node, at]) => ({ labels: { node }, value: Math.max(0, (now - at) / 1000) }));
    });

    if (c.cluster.mode === 'relay') {
      this.#relayEndpoint = attachRelayEndpoint(this.#servers.get('web') as Server, {
        secret: c.cluster.secret,
        nodeName: c.node_name,
        redis,
        metrics: this.#own,
        log: this.#log.child({ service: 'web' }),
      });
    }

    const r = c.services.callback_receiver;
    const given = await giveBackProcessing(redis, r.queue, c.node_name);
    if (given > 0) this.#log.warn({ events: given, queue: r.queue }, 'events a stopped run was saving are back in the queue');
    this.#startSampling(redis, r.queue);

    this.#assertNotClosing();
    const relay: RelaySettings = {
      nodeName: c.node_name,
      logLevel: c.log_level,
      redisUrl: this.#redisUrl,
      mode: c.cluster.mode,
      peers: c.cluster.peers,
      secret: c.cluster.secret,
    };
    const receiver: ReceiverSettings = {
      nodeName: c.node_name,
      logLevel: c.log_level,
      redisUrl: this.#redisUrl,
      databaseUrl: c.database_url,
      dataDir: c.data_dir,
      queue: r.queue,
      batchSize: r.batch_size,
      bufferMs: r.buffer_ms,
      maxEventBytes: r.max_event_bytes,
      sqliteLock: this.#sqliteLock,
    };
    for (const spec of poolSpecs(c, { receiver, relay }, this.#files)) {
      this.#pools.push(new ServicePool(spec, this.metrics[spec.service], this.#own, this.#log));
    }
    await Promise.all(
      this.#pools.map(async (pool) => {
        await pool.start();
        this.#log.info({ service: pool.spec.service, threads: pool.threads, max_threads: pool.spec.maxThreads }, 'service started');
      }),
    );
    this.#snapshots = new SnapshotWriter({
      redis,
      node: c.node_name,
      version: VERSION,
      intervalMs: c.snapshot_interval_ms,
      sources: this.#sources,
      metrics: this.#own,
      log: this.#log,
    });
    this.#snapshots.start();
    const ports = Object.fromEntries(SERVICES.map((s) => [s, `${c.services[s].bind}:${c.services[s].port}`]));
    this.#log.info({ ports }, 'ready');
  }

  /** The queue length, sampled by the supervisor (not by whichever thread popped last, as in AWX). */
  #startSampling(redis: Redis, queue: string): void {
    const queueSize = (this.metrics.callback_receiver as ServiceMetrics<'callback_receiver'>).localRecorder('supervisor').metrics.queueSize;
    const sample = () =>
      redis.llen(queue).then(
        (n) => queueSize.set(n),
        (err: unknown) => this.#log.warn({ err }, 'cannot sample the queue length'),
      );
    void sample();
    this.#sampler = setInterval(sample, this.config.snapshot_interval_ms);
  }

  /** Reads every snapshot; counts each rejected one once, however often it is read. */
  async #readCluster(redis: Redis): Promise<ClusterView> {
    this.#clusterReader ??= new ClusterReader(redis);
    const view = await this.#clusterReader.read();
    for (const r of view.rejected) {
      if (this.#rejectedSeen.get(r.key) === r.fingerprint) continue;
      this.#rejectedSeen.set(r.key, r.fingerprint);
      this.#own.snapshotsRejected.labels(r.reason).inc();
      this.#log.warn({ key: r.key, reason: r.reason, detail: r.detail }, 'snapshot left out of the cluster metrics');
    }
    return view;
  }

  #assertNotClosing(): void {
    if (this.#closing) throw new OverseerError('OVERSEER_START', 'stopped while starting');
  }

  async #checkDataDir(): Promise<string[]> {
    const dir = this.config.data_dir;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      return [`data_dir: cannot create "${dir}" (${(err as NodeJS.ErrnoException).code}); expected a writable directory`];
    }
    const owner = dataDirOwner(dir);
    if (owner !== undefined) return [`data_dir: "${dir}" is in use by another overseer (pid ${owner}); expected a data_dir of its own`];
    this.#releaseDataDir = claimDataDir(dir);
    return [];
  }

  async #checkRedis(): Promise<string[]> {
    const url = this.config.redis_url;
    if (url !== '') {
      const why = await checkRedis(url);
      return why === undefined
        ? []
        : [`redis_url: "${redactUrl(url)}" is unreachable (${why}); expected a running Redis at that address, or "" for a private redis-server`];
    }
    const { socket } = privateRedisPaths(this.config.data_dir);
    if (socket.length > MAX_SOCKET_PATH) {
      return [`data_dir: "${this.config.data_dir}" is too long for the private Redis socket (${socket.length} > ${MAX_SOCKET_PATH} characters); expected a shorter path, or set redis_url`];
    }
    return ensurePrograms(['redis-server'], (line) => this.#log.info(line)).map(
      (p) => `redis_url: "" starts a private redis-server, but ${p}; or set redis_url to an existing Redis`,
    );
  }

  async #checkDatabase(): Promise<string[]> {
    const url = this.config.database_url;
    if (url === '') return [];
    const storage = openStorage(url, this.config.data_dir);
    try {
      await storage.ping();
      return [];
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return [`database_url: "${redactUrl(url)}" does not answer (${e.code ?? e.message}); expected a running PostgreSQL at that address, or "" for SQLite in data_dir`];
    } finally {
      await storage.close();
    }
  }

  async #bindListeners(): Promise<string[]> {
    const results = await Promise.all(
      SERVICES.map(async (service) => {
        const { bind, port } = this.config.services[service];
        const metrics = this.metrics[service];
        const sources = service === 'web' ? [...metrics.sources(), ...processMetricSources()] : metrics.sources();
        this.#sources.set(service, sources);
        const api: ApiHandler | undefined =
          service === 'web' ? (req, res) => (this.#api ? this.#api(req, res) : Promise.resolve(false)) : undefined;
        const server = createMetricsServer(new ServiceExposition(sources), this.#log.child({ service }), api);
        try {
          await listen(server, bind, port);
          this.#servers.set(service, server);
          this.#log.info({ service, bind, port }, 'metrics listening');
          return [];
        } catch (err) {
          return [bindProblem(service, bind, port, err as NodeJS.ErrnoException)];
        }
      }),
    );
    return results.flat();
  }

  /**
   * Stops the pools (letting running work finish within shutdown_timeout_ms), the listeners, the
   * database and the private Redis. Resolves true when the threads drained in time. Idempotent.
   */
  close(): Promise<boolean> {
    this.#closing ??= (async () => {
      this.#log.info({ timeout_ms: this.config.shutdown_timeout_ms }, 'stopping');
      const drained = await Promise.all(
        this.#pools.map(async (pool) => {
          const ok = await pool.close(this.config.shutdown_timeout_ms);
          this.#log.info({ service: pool.spec.service, drained: ok }, 'service stopped');
          return ok;
        }),
      );
      clearInterval(this.#sampler);
      await this.#snapshots?.close();
      await this.#relayEndpoint?.close();
      await Promise.all([...this.#servers.values()].map(closeServer));
      await this.#storage?.close();
      this.#redisClient?.disconnect();
      await this.#redis?.stop();
      this.#releaseDataDir();
      const ok = drained.every(Boolean);
      this.#log.info({ drained: ok }, 'stopped');
      return ok;
    })();
    return this.#closing;
  }
}
