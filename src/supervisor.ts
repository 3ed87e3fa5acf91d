// The supervisor: checks everything it needs before starting anything, then starts Redis, the
// database, one metrics listener per service and one thread pool per service; stops them in
// reverse order.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type { Config } from './config/schema.ts';
import { SERVICES, type ServiceName } from './services/names.ts';
import { layoutOf } from './metrics/layout.ts';
import { ServiceMetrics } from './metrics/service-metrics.ts';
import { ServiceExposition, processMetricSources, type FamilySource } from './metrics/exposition.ts';
import type { Handles } from './metrics/recorder.ts';
import { ServicePool, type PoolSpec, type PooledService } from './service-pool.ts';
import { checkDataDir, checkDatabase, checkRedisConfig } from './preflight.ts';
import { redactUrl } from './redact.ts';
import { PrivateRedis } from './redis/private-redis.ts';
import { createRedis } from './redis/connect.ts';
import { giveBackProcessing } from './redis/event-queue.ts';
import type { Storage } from './storage/storage.ts';
import { openStorage } from './storage/open.ts';
import { createLockBuffer, openWriteLock } from './storage/write-lock.ts';
import { bindProblem, closeServer, createMetricsServer, listen } from './web/metrics-server.ts';
import { createApi, type ApiHandler } from './web/api.ts';
import { ClusterNode } from './cluster/cluster-node.ts';
import type { DispatcherSettings, ReceiverSettings, RelaySettings } from './task-messages.ts';
import { ensurePrograms, findProgram } from './system/programs.ts';
import { ControlStore } from './control/store.ts';
import { nodeCapacity } from './control/capacity.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { TaskQueue } from './dispatch/task-queue.ts';
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


/** Each pooled service's pool, sized from the config. */
export function poolSpecs(
  config: Config,
  settings: { readonly receiver: ReceiverSettings; readonly relay: RelaySettings; readonly dispatcher: DispatcherSettings },
  files: Readonly<Record<PooledService, string>> = WORKER_FILES,
): PoolSpec[] {
  const { receiver, relay, dispatcher } = settings;
  const s = config.services;
  const r = s.callback_receiver;
  return [
    { service: 'callback_receiver', filename: files.callback_receiver, minThreads: r.workers, maxThreads: r.workers, loops: r.workers, idleTimeoutMs: Infinity, workerData: receiver },
    { service: 'dispatcher', filename: files.dispatcher, minThreads: s.dispatcher.min_workers, maxThreads: s.dispatcher.max_workers, loops: 0, idleTimeoutMs: s.dispatcher.idle_timeout_ms, workerData: dispatcher },
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
  #cluster: ClusterNode | undefined;
  #dispatcher: Dispatcher | undefined;
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
    const dataDir = checkDataDir(c.data_dir);
    this.#releaseDataDir = dataDir.release;
    const say = (line: string) => this.#log.info(line);
    const problems = [
      ...dataDir.problems,
      ...(await Promise.all([checkRedisConfig(c, say), checkDatabase(c), this.#bindListeners()])).flat(),
    ];
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
    const cluster = new ClusterNode({
      config: c,
      version: VERSION,
      redis,
      sources: this.#sources,
      web: this.metrics.web as ServiceMetrics<'web'>,
      own: this.#own,
      webServer: this.#servers.get('web') as Server,
      log: this.#log,
    });
    this.#cluster = cluster;
    const d = c.services.dispatcher;
    const store = new ControlStore(this.#storage.sql);
    const tasks = new TaskQueue(redis, c.node_name);
    const capacity = nodeCapacity(d.capacity);
    this.#api = createApi({
      control: {
        store,
        submit: (name, args, options) => tasks.submit(name, args, options),
        publish: (channel, message) => redis.publish(channel, message),
        capacity,
      },
      storage: this.#storage,
      nodeName: c.node_name,
      version: VERSION,
      redisOk: async () => (await redis.ping().catch(() => '')) === 'PONG',
      cluster: () => cluster.view(),
      instances: () => cluster.instances(),
      tokens: c.services.web.tokens,
      allowAnonymousMetrics: c.services.web.allow_anonymous_metrics,
    });
    if (c.services.web.tokens.length === 0) {
      this.#log.warn({ bind: c.services.web.bind }, 'no API tokens configured: the API is open to anyone who can reach this loopback address');
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
    const dispatcher: DispatcherSettings = {
      nodeName: c.node_name,
      logLevel: c.log_level,
      redisUrl: this.#redisUrl,
      databaseUrl: c.database_url,
      dataDir: c.data_dir,
      sqliteLock: this.#sqliteLock,
      callbackQueue: r.queue,
      capacity,
      maxJobs: Math.max(1, d.max_workers - 1),
      managerTimeoutMs: d.manager_timeout_ms,
      managerGraceMs: d.manager_grace_ms,
      ansibleRunner: d.ansible_runner,
      git: d.git,
    };
    for (const problem of ensurePrograms(['ansible-runner', 'git'], say)) {
      this.#log.warn({ problem }, 'jobs will fail until this is installed');
    }
    for (const spec of poolSpecs(c, { receiver, relay, dispatcher }, this.#files)) {
      this.#pools.push(new ServicePool(spec, this.metrics[spec.service], this.#own, this.#log));
    }
    await Promise.all(
      this.#pools.map(async (pool) => {
        await pool.start();
        this.#log.info({ service: pool.spec.service, threads: pool.threads, max_threads: pool.spec.maxThreads }, 'service started');
      }),
    );
    this.#dispatcher = new Dispatcher({
      node: c.node_name,
      redisUrl: this.#redisUrl,
      dataDir: c.data_dir,
      pool: this.#pools.find((p) => p.spec.service === 'dispatcher') as ServicePool,
      store,
      metrics: (this.metrics.dispatcher as ServiceMetrics<'dispatcher'>).localRecorder('supervisor').metrics,
      log: this.#log,
      capacity,
      scheduleMs: d.schedule_interval_ms,
      gatherMs: c.snapshot_interval_ms,
      managerTimeoutMs: d.manager_timeout_ms,
      managerGraceMs: d.manager_grace_ms,
    });
    await this.#dispatcher.start();
    this.#log.info({ capacity, max_jobs: dispatcher.maxJobs }, 'dispatcher started');
    cluster.start();
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

  #assertNotClosing(): void {
    if (this.#closing) throw new OverseerError('OVERSEER_START', 'stopped while starting');
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
      const tasksDone = (await this.#dispatcher?.close(this.config.shutdown_timeout_ms)) ?? true;
      const drained = await Promise.all(
        this.#pools.map(async (pool) => {
          const ok = await pool.close(this.config.shutdown_timeout_ms);
          this.#log.info({ service: pool.spec.service, drained: ok }, 'service stopped');
          return ok;
        }),
      );
      clearInterval(this.#sampler);
      await this.#cluster?.close();
      await Promise.all([...this.#servers.values()].map(closeServer));
      await this.#storage?.close();
      this.#redisClient?.disconnect();
      await this.#redis?.stop();
      this.#releaseDataDir();
      const ok = tasksDone && drained.every(Boolean);
      this.#log.info({ drained: ok }, 'stopped');
      return ok;
    })();
    return this.#closing;
  }
}
