// The supervisor: checks everything it needs before starting anything (every service's port
// included), then starts Redis, the database and each service in turn. Whatever it starts it
// stacks; stopping unwinds that stack in reverse, at any moment, during start as after it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from './config/schema.ts';
import { loadConfig, type ConfigSources } from './config/load.ts';
import { applyLive, configChanges, type ReloadOutcome } from './config/reload.ts';
import { SERVICES, type PooledService, type ServiceName } from './services/names.ts';
import type { Listener, NodeContext, Service } from './services/service.ts';
import { callbackReceiver } from './services/callback-receiver.ts';
import { dispatcher } from './services/dispatcher.ts';
import { websockets } from './services/websockets.ts';
import { web } from './services/web.ts';
import { layoutOf } from './metrics/layout.ts';
import { ServiceMetrics } from './metrics/service-metrics.ts';
import { ServiceExposition, type FamilySource } from './metrics/exposition.ts';
import type { Handles } from './metrics/recorder.ts';
import { ServicePool } from './service-pool.ts';
import { checkDataDir, checkDatabase, checkRedisConfig } from './preflight.ts';
import { redactUrl } from './redact.ts';
import { PrivateRedis } from './redis/private-redis.ts';
import { createRedis } from './redis/connect.ts';
import { openStorage } from './storage/open.ts';
import { createLockBuffer, openWriteLock } from './storage/write-lock.ts';
import { bindProblem, closeServer, createMetricsServer, listen } from './web/metrics-server.ts';
import { refusalCounter } from './web/connection-limits.ts';
import { findProgram } from './system/programs.ts';
import { OverseerError } from './errors.ts';
import { createLevelBuffer, setSharedLevel, type Logger } from './logger.ts';

/** The services, in start order: web last, so that its API answers once what it reads is up. */
const MODULES: readonly Service<never>[] = [callbackReceiver, dispatcher, websockets, web] as Service<never>[];

const workerFile = (name: string) => fileURLToPath(new URL(`../workers/${name}-thread.ts`, import.meta.url));

/** The worker module of each pooled service: workers/<service>-thread.ts. */
export const WORKER_FILES: Readonly<Record<PooledService, string>> = {
  callback_receiver: workerFile('callback-receiver'),
  dispatcher: workerFile('dispatcher'),
  websockets: workerFile('websockets'),
};

/** overseer's version, from package.json. */
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface SupervisorOptions {
  readonly config: Config;
  readonly log: Logger;
  /** Replaces worker modules (tests run fixture workers through the real supervisor). */
  readonly workerFiles?: Partial<Record<PooledService, string>>;
  /** Called when something the node cannot run without fails after start (the private Redis exits). */
  readonly onFatal?: (why: string) => void;
  /** Where the config came from: reload() reads it again from there. */
  readonly sources?: ConfigSources;
}


interface Deferred {
  readonly what: string;
  readonly close: (timeoutMs: number) => Promise<boolean | void> | boolean | void;
}

/** The listener every service without one of its own gets: GET /metrics on node:http. */
function metricsListener(service: ServiceName, sources: readonly FamilySource[], log: Logger, own: Handles<'web'>): Listener {
  const refused = refusalCounter(log, (reason) => own.connectionsRefused.labels(service, reason).inc());
  const server = createMetricsServer(new ServiceExposition(sources), log, refused);
  return { server, listen: async (bind, port) => void (await listen(server, bind, port)), close: () => closeServer(server) };
}

/** One node's supervisor. */
export class Supervisor {
  #config: Config;
  readonly metrics: Readonly<Record<ServiceName, ServiceMetrics>>;
  readonly #log: Logger;
  readonly #files: Readonly<Record<PooledService, string>>;
  readonly #onFatal: (why: string) => void;
  readonly #own: Handles<'web'>;
  /** What has started, in order; stopping unwinds it from the end. */
  readonly #started: Deferred[] = [];
  readonly #pools = new Map<ServiceName, ServicePool>();
  readonly #sqliteLock = createLockBuffer();
  readonly #logLevel: SharedArrayBuffer;
  readonly #sources: ConfigSources | undefined;
  readonly #onReload: ((changed: ReadonlySet<string>) => void | Promise<void>)[] = [];
  #reloading: Promise<ReloadOutcome> | undefined;
  /** Every service has started (and the node is not stopping). */
  #up = false;
  #redisUrl = '';
  #starting: Promise<void> | undefined;
  #closing: Promise<boolean> | undefined;

  constructor(options: SupervisorOptions) {
    this.#config = options.config;
    this.#log = options.log;
    this.#sources = options.sources;
    this.#logLevel = createLevelBuffer(options.config.log_level);
    this.#files = { ...WORKER_FILES, ...options.workerFiles };
    this.#onFatal = options.onFatal ?? ((why) => this.#log.fatal(why));
    const peers = this.config.cluster.peers.map((p) => p.name);
    this.metrics = Object.fromEntries(SERVICES.map((s) => [s, new ServiceMetrics(s, layoutOf(s, peers))])) as Record<ServiceName, ServiceMetrics>;
    this.#own = (this.metrics.web as ServiceMetrics<'web'>).localRecorder('supervisor').metrics;
  }

  /** The config in force (a reload changes what applies live). */
  get config(): Config {
    return this.#config;
  }

  /** The Redis this node uses (the private one's unix:// URL when redis_url is empty). */
  get redisUrl(): string {
    return this.#redisUrl;
  }

  /**
   * Checks, then starts everything. Throws OverseerError: OVERSEER_START lists every problem found
   * before anything started; OVERSEER_STOPPED when close() was called before the start finished.
   * Either way, close() stops what had started.
   */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const c = this.config;
    this.#log.info({ data_dir: c.data_dir, redis: redactUrl(c.redis_url) || 'private', database: redactUrl(c.database_url) || 'sqlite' }, 'starting');
    const dataDir = checkDataDir(c.data_dir);
    this.#defer('data_dir claim', dataDir.release);
    const say = (line: string) => this.#log.info(line);
    const sources = new Map(MODULES.map((m) => [m.name, [...this.metrics[m.name].sources(), ...(m.extraSources?.() ?? [])]]));
    const listeners = new Map(MODULES.map((m) => [m.name, this.#listener(m, sources.get(m.name) ?? [])]));
    const problems = [
      ...dataDir.problems,
      ...(await Promise.all([checkRedisConfig(c, say), checkDatabase(c), this.#bind(listeners)])).flat(),
    ];
    if (problems.length > 0) throw new OverseerError('OVERSEER_START', `cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`, problems);

    this.#checkpoint();
    if (c.redis_url === '') {
      const redis = await PrivateRedis.start(findProgram('redis-server') as string, c.data_dir, this.#log, this.#onFatal);
      this.#defer('private redis-server', () => redis.stop());
      this.#redisUrl = redis.url;
    } else {
      this.#redisUrl = c.redis_url;
      this.#log.info({ redis: redactUrl(c.redis_url) }, 'redis reachable');
    }
    this.#checkpoint();
    const redis = createRedis(this.#redisUrl, 'overseer:supervisor', { maxRetriesPerRequest: 1 });
    redis.on('error', (err: Error) => this.#log.warn({ err }, 'redis connection error'));
    this.#defer('redis connection', () => redis.disconnect());
    await redis.connect();

    this.#checkpoint();
    const storage = openStorage(c.database_url, c.data_dir, { writeLock: openWriteLock(this.#sqliteLock) });
    this.#defer('database', () => storage.close());
    this.#log.info({ database: storage.location }, 'migrating database');
    const { applied, version } = await storage.migrate();
    this.#log.info({ database: storage.location, schema_version: version, applied }, 'database ready');

    const supervisor = this;
    const node: NodeContext = {
      get config() {
        return supervisor.config;
      },
      version: VERSION,
      log: this.#log,
      redisUrl: this.#redisUrl,
      redis,
      storage,
      sqliteLock: this.#sqliteLock,
      logLevel: this.#logLevel,
      metrics: this.metrics,
      sources,
      own: this.#own,
      startPool: async (spec) => {
        const pool = new ServicePool({ ...spec, filename: this.#files[spec.service] }, this.metrics[spec.service], this.#own, this.#log);
        this.#pools.set(spec.service, pool);
        this.#defer(`${spec.service} threads`, async (timeoutMs) => {
          const drained = await pool.close(timeoutMs);
          this.#log.info({ service: spec.service, drained }, 'service stopped');
          return drained;
        });
        await pool.start();
        return pool;
      },
      defer: (what, close) => this.#defer(what, close),
      onReload: (apply) => this.#onReload.push(apply),
      reload: () => this.reload(),
      checkpoint: () => this.#checkpoint(),
      onFatal: this.#onFatal,
    };
    for (const service of MODULES) {
      this.#checkpoint();
      this.#log.info({ service: service.name }, 'starting service');
      await service.start(node, listeners.get(service.name) as never);
      const pool = this.#pools.get(service.name);
      this.#log.info({ service: service.name, ...(pool ? { threads: pool.threads, max_threads: pool.spec.maxThreads } : {}) }, 'service started');
    }
    this.#checkpoint();
    const ports = Object.fromEntries(SERVICES.map((s) => [s, `${c.services[s].bind}:${c.services[s].port}`]));
    this.#up = true;
    this.#log.info({ ports }, 'ready');
  }

  #defer(what: string, close: Deferred['close']): void {
    this.#started.push({ what, close });
  }

  #checkpoint(): void {
    if (this.#closing) throw new OverseerError('OVERSEER_STOPPED', 'stopped while starting');
  }

  #listener(service: Service<never>, sources: readonly FamilySource[]): Listener {
    const log = this.#log.child({ service: service.name });
    return service.listener?.({ config: this.config, log, sources, version: VERSION, own: this.#own }) ?? metricsListener(service.name, sources, log, this.#own);
  }

  /** Binds every port; the problems of those that cannot bind, each naming its key. */
  async #bind(listeners: ReadonlyMap<ServiceName, Listener>): Promise<string[]> {
    const results = await Promise.all(
      [...listeners].map(async ([service, listener]) => {
        const { bind, port } = this.config.services[service];
        try {
          await listener.listen(bind, port);
          this.#defer(`${service} port`, () => listener.close());
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
   * Reads the config file and environment again (SIGHUP, POST /api/v2/config/reload/). Keys that
   * apply live change now; the others are logged one per key and wait for a restart; a file with
   * errors changes nothing. One reload at a time: a second one waits for the first.
   */
  reload(): Promise<ReloadOutcome> {
    const run = async (): Promise<ReloadOutcome> => {
      await this.#reloading?.catch(() => {});
      const outcome = await this.#reload();
      const own = this.#own;
      own.configReloads.labels(outcome.result).inc();
      if (outcome.result !== 'invalid') own.configReloadedAt.set(Date.now() / 1000);
      return outcome;
    };
    this.#reloading = run();
    return this.#reloading;
  }

  async #reload(): Promise<ReloadOutcome> {
    const refused = (problems: string[]): ReloadOutcome => {
      this.#log.warn({ problems }, 'config reload refused; the node goes on with its current config');
      return { result: 'invalid', applied: [], needs_restart: [], problems };
    };
    if (this.#sources === undefined) return refused(['this node was not started from a config file']);
    if (!this.#up || this.#closing !== undefined) return refused(['the node is starting or stopping; reload once it is up']);
    let next: Config;
    try {
      next = loadConfig(this.#sources);
    } catch (err) {
      return refused(err instanceof OverseerError ? [...err.problems] : [String(err)]);
    }
    const changes = configChanges(this.#config, next);
    const applied = changes.filter((c) => c.live);
    const needsRestart = changes.filter((c) => !c.live);
    for (const c of needsRestart) this.#log.warn({ key: c.key, running: c.from, file: c.to }, `config reload: ${c.key} changed; it takes effect at the next restart`);
    this.#config = applyLive(this.#config, next, changes);
    if (applied.some((c) => c.key === 'log_level')) {
      this.#log.level = this.#config.log_level;
      setSharedLevel(this.#logLevel, this.#config.log_level);
    }
    const changed = new Set(applied.map((c) => c.key));
    if (changed.size > 0) for (const apply of this.#onReload) await apply(changed);
    this.#log.info({ applied: applied.map((c) => ({ key: c.key, from: c.from, to: c.to })), needs_restart: needsRestart.map((c) => c.key) }, 'config reloaded');
    return { result: needsRestart.length > 0 ? 'partial' : 'applied', applied, needs_restart: needsRestart, problems: [] };
  }

  /**
   * Stops what has started, in reverse order: a start under way first gives up at its next step.
   * Running work may finish within shutdown_timeout_ms per part. Resolves true when everything
   * finished in time. Idempotent.
   */
  close(): Promise<boolean> {
    this.#closing ??= (async () => {
      // A reload under way may be starting a part (a new relay thread): let it stack that first.
      await Promise.allSettled([this.#starting, this.#reloading]);
      const timeoutMs = this.config.shutdown_timeout_ms;
      this.#log.info({ timeout_ms: timeoutMs }, 'stopping');
      let ok = true;
      for (let part = this.#started.pop(); part !== undefined; part = this.#started.pop()) {
        try {
          if ((await part.close(timeoutMs)) === false) ok = false;
        } catch (err) {
          ok = false;
          this.#log.error({ err, part: part.what }, 'stopping failed');
        }
      }
      this.#log.info({ drained: ok }, 'stopped');
      return ok;
    })();
    return this.#closing;
  }
}
