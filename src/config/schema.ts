// The shape of overseer's configuration and the checks on every key. Defaults live in
// config/default.yaml (each key once, with its comment); this file says what each key may hold.

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface Listen {
  readonly bind: string;
  readonly port: number;
}

/** The validated, frozen configuration. Every key is present. */
export interface Config {
  readonly node_name: string;
  readonly data_dir: string;
  readonly redis_url: string;
  readonly database_url: string;
  readonly snapshot_interval_ms: number;
  readonly shutdown_timeout_ms: number;
  readonly log_level: (typeof LOG_LEVELS)[number];
  readonly services: {
    readonly web: Listen;
    readonly callback_receiver: Listen & {
      readonly workers: number;
      readonly queue: string;
      readonly batch_size: number;
      readonly buffer_ms: number;
      readonly max_event_bytes: number;
    };
    readonly dispatcher: Listen & { readonly min_workers: number; readonly max_workers: number };
    readonly websockets: Listen;
  };
}

/** Checks one value; returns what is wrong with it, or undefined. */
type Check = (value: unknown) => string | undefined;
interface Tree {
  readonly [key: string]: Check | Tree;
}

const show = (v: unknown): string => (typeof v === 'string' || typeof v === 'object' ? JSON.stringify(v) : String(v));

const string: Check = (v) => (typeof v === 'string' ? undefined : `${show(v)} is not a string; expected text in quotes`);

const nonEmpty: Check = (v) =>
  typeof v !== 'string' ? string(v) : v.trim() === '' ? `"" is empty; expected a directory path` : undefined;

const int =
  (min: number, max: number, unit: string): Check =>
  (v) => {
    const expected = `expected ${unit} from ${min} to ${max}`;
    if (typeof v !== 'number' || !Number.isInteger(v)) return `${show(v)} is not a whole number; ${expected}`;
    if (v < min) return `${v} is too small; ${expected}`;
    if (v > max) return `${v} is too large; ${expected}`;
    return undefined;
  };

const oneOf =
  (values: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? undefined : `${show(v)} is not allowed; expected one of ${values.join(', ')}`;

const url =
  (protocols: readonly string[], emptyMeans: string): Check =>
  (v) => {
    if (typeof v !== 'string') return string(v);
    if (v === '') return undefined;
    const expected = `expected a ${protocols.map((p) => `${p}//…`).join(' or ')} URL, or "" for ${emptyMeans}`;
    try {
      const u = new URL(v);
      return protocols.includes(u.protocol) ? undefined : `${show(v)} has scheme ${u.protocol}; ${expected}`;
    } catch {
      return `${show(v)} is not a URL; ${expected}`;
    }
  };

const address: Check = (v) =>
  typeof v === 'string' && /^[0-9A-Za-z.:\-[\]]+$/.test(v) && v !== ''
    ? undefined
    : `${show(v)} is not an address; expected an IP address or host name to listen on, such as 127.0.0.1 or 0.0.0.0`;

const redisKey: Check = (v) =>
  typeof v === 'string' && /^[A-Za-z0-9_:.-]+$/.test(v) ? undefined : `${show(v)} is not a Redis key name; expected letters, digits and _ : . -`;

const port = int(1, 65535, 'a TCP port');
const workers = int(1, 256, 'a thread count');
const listen = { bind: address, port };

const SCHEMA: Tree = {
  node_name: string,
  data_dir: nonEmpty,
  redis_url: url(['redis:', 'rediss:', 'unix:'], 'a private redis-server in data_dir'),
  database_url: url(['postgres:', 'postgresql:'], 'SQLite in data_dir'),
  snapshot_interval_ms: int(100, 3_600_000, 'milliseconds'),
  shutdown_timeout_ms: int(0, 3_600_000, 'milliseconds'),
  log_level: oneOf(LOG_LEVELS),
  services: {
    web: listen,
    callback_receiver: {
      ...listen,
      workers,
      queue: redisKey,
      batch_size: int(1, 5000, 'events'),
      buffer_ms: int(1, 60_000, 'milliseconds'),
      max_event_bytes: int(1024, 512 * 1024 * 1024, 'bytes'),
    },
    dispatcher: { ...listen, min_workers: workers, max_workers: workers },
    websockets: listen,
  },
};

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function walk(tree: Tree, value: unknown, path: string, label: (path: string) => string, out: string[]): void {
  if (!isPlainObject(value)) {
    out.push(`${label(path)}: ${show(value)} is not a mapping; expected keys ${Object.keys(tree).join(', ')}`);
    return;
  }
  for (const key of Object.keys(value)) {
    if (!(key in tree)) out.push(`${label(path ? `${path}.${key}` : key)}: unknown key; expected one of ${Object.keys(tree).join(', ')}`);
  }
  for (const [key, check] of Object.entries(tree)) {
    const at = path ? `${path}.${key}` : key;
    if (!(key in value)) {
      out.push(`${label(at)}: missing; every key must have a value (see config/default.yaml)`);
      continue;
    }
    if (typeof check === 'function') {
      const problem = check(value[key]);
      if (problem !== undefined) out.push(`${label(at)}: ${problem}`);
    } else walk(check, value[key], at, label, out);
  }
}

/** Problems that involve several keys, checked where each key is valid on its own. */
function crossChecks(value: Record<string, unknown>, label: (path: string) => string, out: string[]): void {
  const services = isPlainObject(value.services) ? value.services : {};
  const d = isPlainObject(services.dispatcher) ? services.dispatcher : {};
  if (workers(d.min_workers) === undefined && workers(d.max_workers) === undefined && Number(d.min_workers) > Number(d.max_workers)) {
    out.push(
      `${label('services.dispatcher.min_workers')}: ${show(d.min_workers)} is more than max_workers ${show(d.max_workers)}; expected min_workers ≤ max_workers`,
    );
  }
  const owner = new Map<number, string>();
  for (const [name, s] of Object.entries(services)) {
    if (!isPlainObject(s) || port(s.port) !== undefined) continue;
    const other = owner.get(s.port as number);
    if (other === undefined) owner.set(s.port as number, name);
    else out.push(`${label(`services.${name}.port`)}: ${show(s.port)} is also the port of services.${other}; expected a port of its own`);
  }
}

/**
 * Validates a merged configuration. Returns every problem found, one line each, naming the key,
 * the value and what would be right; `label` adds where a key's value came from.
 */
export function validate(value: unknown, label: (path: string) => string = (p) => p): string[] {
  const out: string[] = [];
  walk(SCHEMA, value, '', label, out);
  if (isPlainObject(value)) crossChecks(value, label, out);
  return out;
}
