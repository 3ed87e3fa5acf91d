// What a reload of the config file changes: every key whose value differs, and whether it can
// change while the node runs. Keys that name where the node listens or keeps its state (ports,
// binds, data_dir, redis_url, database_url, cluster.mode, ...) need a restart.
import type { Config } from './schema.ts';
import { redactUrl } from '../redact.ts';

/** How a reload ends: every change applied, some left for a restart, or none (the file has errors). */
export const RELOAD_RESULTS = ['applied', 'partial', 'invalid'] as const;
export type ReloadResult = (typeof RELOAD_RESULTS)[number];

/** Keys that change live, without a restart. */
export const LIVE_KEYS: ReadonlySet<string> = new Set([
  'log_level',
  'snapshot_interval_ms',
  'shutdown_timeout_ms',
  'services.web.tokens',
  'services.web.allow_anonymous_metrics',
  'services.callback_receiver.workers',
  'services.dispatcher.min_workers',
  'services.dispatcher.max_workers',
  'services.dispatcher.idle_timeout_ms',
  'services.dispatcher.capacity',
  'services.dispatcher.schedule_interval_ms',
  'services.dispatcher.manager_timeout_ms',
  'services.dispatcher.manager_grace_ms',
  'retention.days',
  'cluster.peers',
]);

/** One key whose value the file changed. */
export interface ConfigChange {
  readonly key: string;
  /** The values as logs and answers may show them (secrets hidden). */
  readonly from: unknown;
  readonly to: unknown;
  readonly live: boolean;
}

type Tree = Readonly<Record<string, unknown>>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

const SECRET_KEYS = new Set(['services.web.tokens', 'cluster.secret']);
const URL_KEYS = new Set(['redis_url', 'database_url']);

/** A value as it may be shown: tokens and secrets hidden, passwords out of URLs. */
function shown(key: string, value: unknown): unknown {
  if (SECRET_KEYS.has(key)) return Array.isArray(value) ? `${value.length} token(s)` : value === '' ? '' : '(hidden)';
  if (URL_KEYS.has(key) && typeof value === 'string') return redactUrl(value);
  return value;
}

/** What a config reload did. */
export interface ReloadOutcome {
  /** applied: every change (or none) took effect; partial: some need a restart; invalid: the file has errors, nothing changed. */
  readonly result: ReloadResult;
  readonly applied: readonly ConfigChange[];
  readonly needs_restart: readonly ConfigChange[];
  readonly problems: readonly string[];
}

function walk(from: unknown, to: unknown, key: string, out: ConfigChange[]): void {
  if (isTree(from) && isTree(to)) {
    for (const k of new Set([...Object.keys(from), ...Object.keys(to)])) walk(from[k], to[k], key === '' ? k : `${key}.${k}`, out);
    return;
  }
  if (JSON.stringify(from) === JSON.stringify(to)) return;
  out.push({ key, from: shown(key, from), to: shown(key, to), live: LIVE_KEYS.has(key) });
}

/** Every key whose value differs between the running config and the file's. */
export function configChanges(running: Config, next: Config): ConfigChange[] {
  const out: ConfigChange[] = [];
  walk(running, next, '', out);
  return out;
}

function valueAt(tree: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((t, k) => (isTree(t) ? t[k] : undefined), tree);
}

function withValue(tree: Tree, path: readonly string[], value: unknown): Tree {
  const [head, ...rest] = path as [string, ...string[]];
  return Object.freeze({ ...tree, [head]: rest.length === 0 ? value : withValue(tree[head] as Tree, rest, value) });
}

/** The running config with the live changes taken from `next`; the others stay as they run. */
export function applyLive(running: Config, next: Config, changes: readonly ConfigChange[]): Config {
  let out: Tree = running as unknown as Tree;
  for (const c of changes) if (c.live) out = withValue(out, c.key.split('.'), valueAt(next, c.key));
  return out as unknown as Config;
}
