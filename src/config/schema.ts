// The shape of overseer's configuration and the checks on every key. Defaults live in
// config/default.yaml (each key once, with its comment); this file says what each key may hold.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface Listen {
  readonly bind: string;
  readonly port: number;
}

export const CLUSTER_MODES = ['shared_redis', 'relay'] as const;

/** A peer node, for the relay: its name and its web service's address. */
export interface Peer {
  readonly name: string;
  readonly url: string;
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
  readonly cluster: {
    readonly mode: (typeof CLUSTER_MODES)[number];
    readonly peers: readonly Peer[];
    readonly secret: string;
  };
  readonly services: {
    readonly web: Listen & { readonly tokens: readonly string[]; readonly allow_anonymous_metrics: boolean; readonly hostnames: readonly string[] };
    readonly callback_receiver: Listen & {
      readonly workers: number;
      readonly queue: string;
      readonly batch_size: number;
      readonly batch_bytes: number;
      readonly buffer_ms: number;
      readonly max_event_bytes: number;
      readonly dead_letter_max: number;
    };
    readonly dispatcher: Listen & {
      readonly min_workers: number;
      readonly max_workers: number;
      readonly idle_timeout_ms: number;
      readonly capacity: number;
      readonly schedule_interval_ms: number;
      readonly manager_timeout_ms: number;
      readonly manager_grace_ms: number;
      readonly ansible_runner: string;
      readonly git: string;
      /** Local projects must lie inside one of these directories; [] means <data_dir>/projects. */
      readonly project_roots: readonly string[];
    };
    readonly websockets: Listen;
  };
  readonly retention: {
    /** Finished jobs older than this many days are deleted with their events, daily; 0 keeps everything. */
    readonly days: number;
  };
}

/** Checks one value; returns what is wrong with it, or undefined. */
type Check = (value: unknown) => string | undefined;
interface Tree {
  readonly [key: string]: Check | Tree;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Whether an address to listen on is this machine's loopback: an IPv4 address in 127.0.0.0/8 or
 * the IPv6 ::1, however written (a name such as 127.evil.com is not). `localhost` counts too: RFC
 * 6761 reserves it for loopback and resolvers answer it locally, and it is the name the Host check
 * already trusts.
 */
export function isLoopback(bind: string): boolean {
  if (bind.toLowerCase() === 'localhost') return true;
  const ip = bind.replace(/^\[(.*)\]$/, '$1');
  const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
  return family !== undefined && LOOPBACK.check(ip, family);
}
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

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

const bool: Check = (v) => (typeof v === 'boolean' ? undefined : `${show(v)} is not true or false`);

const tokens: Check = (v) => {
  if (!Array.isArray(v)) return `${show(v)} is not a list; expected a list of tokens`;
  // A bearer token travels as one word (Authorization: Bearer <token>): blanks could never match.
  const bad = v.findIndex((t) => typeof t !== 'string' || t.length < 16 || /\s/.test(t));
  if (bad < 0) return undefined;
  const t: unknown = v[bad];
  const what = typeof t !== 'string' ? 'not a string' : t.trim() === '' ? 'blank' : /\s/.test(t) ? 'a token with blanks in it, which no Authorization header can carry' : 'shorter than 16 characters';
  return `item ${bad + 1} is ${what}; expected tokens of at least 16 non-blank characters`;
};

/** Host names a browser may use to reach the web port, beside its bind address and localhost. */
const hostnames: Check = (v) => {
  if (!Array.isArray(v)) return `${show(v)} is not a list; expected a list of host names such as overseer.example.com`;
  const bad = v.findIndex((h) => typeof h !== 'string' || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$/.test(h));
  return bad < 0 ? undefined : `item ${bad + 1} is ${show(v[bad])}; expected a host name or address without scheme, port or path, such as overseer.example.com`;
};

const peers: Check = (v) => {
  if (!Array.isArray(v)) return `${show(v)} is not a list; expected a list of {name, url}`;
  const names = new Set<string>();
  for (const [i, p] of v.entries()) {
    const at = `item ${i + 1}`;
    if (!isPlainObject(p) || typeof p.name !== 'string' || p.name === '' || typeof p.url !== 'string') {
      return `${at} is ${show(p)}; expected {name: "…", url: "ws://host:port"}`;
    }
    const extra = Object.keys(p).filter((k) => k !== 'name' && k !== 'url');
    if (extra.length > 0) return `${at} has unknown key ${extra[0]}; expected name and url`;
    if (names.has(p.name)) return `${at} repeats the name ${show(p.name)}; expected each peer once`;
    names.add(p.name);
    try {
      const u = new URL(p.url);
      if (!['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol)) throw new Error();
    } catch {
      return `${at} has url ${show(p.url)}; expected ws://host:port or wss://host:port of the peer's web service`;
    }
  }
  return undefined;
};

const absoluteDirs: Check = (v) => {
  if (!Array.isArray(v)) return `${show(v)} is not a list; expected a list of absolute directories such as /srv/playbooks`;
  const bad = v.findIndex((d) => typeof d !== 'string' || !d.startsWith('/'));
  return bad < 0 ? undefined : `item ${bad + 1} is ${show(v[bad])}; expected an absolute directory such as /srv/playbooks`;
};

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
  cluster: {
    mode: oneOf(CLUSTER_MODES),
    peers,
    secret: string,
  },
  services: {
    web: { ...listen, tokens, allow_anonymous_metrics: bool, hostnames },
    callback_receiver: {
      ...listen,
      workers,
      queue: redisKey,
      batch_size: int(1, 5000, 'events'),
      batch_bytes: int(64 * 1024, 1024 * 1024 * 1024, 'bytes'),
      buffer_ms: int(1, 60_000, 'milliseconds'),
      max_event_bytes: int(1024, 512 * 1024 * 1024, 'bytes'),
      dead_letter_max: int(1, 10_000_000, 'dead letters'),
    },
    dispatcher: {
      ...listen,
      min_workers: workers,
      max_workers: workers,
      idle_timeout_ms: int(100, 3_600_000, 'milliseconds'),
      capacity: int(0, 1_000_000, 'forks (0: from the CPUs and memory, as AWX does)'),
      schedule_interval_ms: int(100, 3_600_000, 'milliseconds'),
      manager_timeout_ms: int(10, 3_600_000, 'milliseconds'),
      manager_grace_ms: int(10, 3_600_000, 'milliseconds'),
      ansible_runner: nonEmpty,
      git: nonEmpty,
      project_roots: absoluteDirs,
    },
    websockets: listen,
  },
  retention: {
    days: int(0, 36_500, 'days (0: keep every job)'),
  },
};


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
  const web = isPlainObject(services.web) ? services.web : {};
  if (Array.isArray(web.tokens) && web.tokens.length === 0 && address(web.bind) === undefined && !isLoopback(web.bind as string)) {
    out.push(
      `${label('services.web.tokens')}: [] while services.web.bind is ${show(web.bind)}; expected at least one token (or OVERSEER_API_TOKENS) when the API listens beyond loopback`,
    );
  }
  const cluster = isPlainObject(value.cluster) ? value.cluster : {};
  // Even without peers: a relay node accepts signed snapshots from anyone who knows the secret.
  if (cluster.mode === 'relay' && typeof cluster.secret === 'string' && cluster.secret.trim().length < 16) {
    const what = cluster.secret === '' ? '"" is shorter than 16 characters' : cluster.secret.length < 16 ? 'the secret is shorter than 16 characters' : 'the secret has fewer than 16 non-blank characters';
    out.push(`${label('cluster.secret')}: ${what}; expected a shared secret of at least 16 non-blank characters whenever cluster.mode is relay (peers or not)`);
  }
  if (Array.isArray(cluster.peers) && typeof value.node_name === 'string' && value.node_name !== '' && cluster.peers.some((p) => isPlainObject(p) && p.name === value.node_name)) {
    out.push(`${label('cluster.peers')}: lists this node (${show(value.node_name)}); expected only the other nodes`);
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
