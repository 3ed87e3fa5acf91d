// What the API's routes read from the node, and when: the web port is bound before the node's
// services start, so the routes are registered at once and the node's parts arrive later.
import type { ProjectRoots } from '../control/project-roots.ts';
import type { Storage } from '../storage/storage.ts';
import type { ClusterView, Instance } from '../cluster/cluster-view.ts';
import type { ControlStore } from '../control/store.ts';
import type { Submit } from '../control/manager-env.ts';
import type { ServiceExposition } from '../metrics/exposition.ts';
import type { Logger } from '../logger.ts';
import type { ReloadOutcome } from '../config/reload.ts';
import { Refusal, detail } from './answers.ts';

/** What the API needs for projects, templates and jobs. */
export interface ControlDeps {
  readonly store: ControlStore;
  /** Queues a task on this node's dispatcher. */
  readonly submit: Submit;
  /** Publishes on Redis (cancel requests reach the node running the job). */
  readonly publish: (channel: string, message: string) => Promise<unknown>;
  /** This node's capacity in forks. */
  readonly capacity: number;
  /** The directories a local project must lie in (services.dispatcher.project_roots, or its default). */
  readonly projectRoots: ProjectRoots;
}

/** What the API reads from the node once it is up. */
export interface ApiDeps {
  readonly control: ControlDeps;
  readonly storage: Storage;
  /** Resolves true when Redis answers. */
  readonly redisOk: () => Promise<boolean>;
  /** Every node's snapshots in Redis now (for /api/v2/metrics/). */
  readonly cluster: () => Promise<ClusterView>;
  /** Every node seen (for /api/v2/instances/). */
  readonly instances: () => Promise<Instance[]>;
  /** Reads the config file again, as SIGHUP does (POST /api/v2/config/reload/). */
  readonly reload: () => Promise<ReloadOutcome>;
}

export type Phase = 'starting' | 'ready' | 'stopping';

/** What each route module is registered with. */
export interface ApiContext {
  readonly nodeName: string;
  readonly version: string;
  /** This port's own metrics (GET /metrics). */
  readonly exposition: ServiceExposition;
  readonly log: Logger;
  readonly phase: Phase;
  /** The node's parts; throws a 503 Refusal while the node is starting or stopping. */
  deps(): ApiDeps;
}

/** The fastify plugin options of every route module. */
export interface RouteOptions {
  readonly ctx: ApiContext;
}

/** The API's view of the node's lifecycle: starting until ready(), stopping from stopping() on. */
export class ApiState implements ApiContext {
  readonly nodeName: string;
  readonly version: string;
  readonly exposition: ServiceExposition;
  readonly log: Logger;
  #deps: ApiDeps | undefined;
  #stopping = false;

  constructor(options: Omit<ApiContext, 'phase' | 'deps'>) {
    this.nodeName = options.nodeName;
    this.version = options.version;
    this.exposition = options.exposition;
    this.log = options.log;
  }

  get phase(): Phase {
    return this.#stopping ? 'stopping' : this.#deps === undefined ? 'starting' : 'ready';
  }

  ready(deps: ApiDeps): void {
    this.#deps = deps;
  }

  stopping(): void {
    this.#stopping = true;
  }

  deps(): ApiDeps {
    // Storage and Redis close soon after a stop begins: a 503 says so better than their errors would.
    if (this.#stopping) throw new Refusal(503, detail('The node is stopping.'));
    if (this.#deps === undefined) throw new Refusal(503, detail('The node is starting; try again shortly.'));
    return this.#deps;
  }
}
