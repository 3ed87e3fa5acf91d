// Every route the web port registered, collected as fastify registers them (onRoute): which
// methods a path takes (405 with Allow for the others, where fastify would say 404), whether it
// answers without a token even to a method it does not take, and the schemas the OpenAPI
// document is made from.
import type { FastifySchema, RouteOptions } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answered without a token: always, or while services.web.allow_anonymous_metrics is true. */
    open?: Openness;
  }
}

/** Whether a route answers without a token. */
export type Openness = boolean | 'anonymous_metrics';

const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** One path of the port and what it takes. */
export interface RoutePath {
  /** As registered, `:id` and all (`/api/v2/projects/:id/`). */
  readonly url: string;
  /** Its methods, in the order Allow names them. */
  readonly methods: readonly string[];
  readonly open: Openness;
  /** Each method's schema (HEAD has none of its own). */
  readonly schemas: ReadonlyMap<string, FastifySchema>;
}

interface Entry {
  readonly url: string;
  readonly pattern: RegExp;
  readonly methods: Set<string>;
  readonly schemas: Map<string, FastifySchema>;
  open: Openness;
}

const trimmed = (path: string) => (path.length > 1 ? path.replace(/\/+$/, '') : path);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A route URL's pattern: each `:param` one segment, the trailing slash optional (the router ignores it). */
const patternOf = (url: string) => new RegExp(`^${trimmed(url).split('/').map((s) => (s.startsWith(':') ? '[^/]+' : escape(s))).join('/')}/*$`);

export class RouteTable {
  readonly #entries = new Map<string, Entry>();

  /** Records a route as fastify registers it. */
  add(route: RouteOptions): void {
    const key = trimmed(route.url);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { url: route.url, pattern: patternOf(route.url), methods: new Set(), schemas: new Map(), open: false };
      this.#entries.set(key, entry);
    }
    for (const method of [route.method].flat()) {
      entry.methods.add(method);
      // fastify answers HEAD on every GET route.
      if (method === 'GET') entry.methods.add('HEAD');
      if (method !== 'HEAD') entry.schemas.set(method, route.schema ?? {});
    }
    entry.open ||= route.config?.open ?? false;
  }

  /** The registered path a request path falls on, whatever its method. */
  match(path: string): RoutePath | undefined {
    for (const entry of this.#entries.values()) if (entry.pattern.test(path)) return this.#view(entry);
    return undefined;
  }

  /** Every path, in the order they were registered. */
  get paths(): RoutePath[] {
    return [...this.#entries.values()].map((e) => this.#view(e));
  }

  #view(e: Entry): RoutePath {
    return { url: e.url, methods: METHOD_ORDER.filter((m) => e.methods.has(m)), open: e.open, schemas: e.schemas };
  }
}
