import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { validate, type Config } from './schema.ts';
import { OverseerError } from '../errors.ts';

/** Environment variables that override one key each. */
export const ENV_KEYS = {
  REDIS_URL: 'redis_url',
  DATABASE_URL: 'database_url',
  OVERSEER_NODE_NAME: 'node_name',
  OVERSEER_DATA_DIR: 'data_dir',
} as const;

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

/** Where the configuration comes from: the command line's --config and the environment. */
export interface ConfigSources {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isTree(v) && isTree(base[k]) ? merge(base[k], v) : v;
  return out;
}

function readYaml(file: string, what: string): { tree?: Tree; problem?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: `${what}: cannot read ${file} (${code === 'ENOENT' ? 'no such file' : code}); expected a readable YAML file` };
  }
  try {
    const tree: unknown = parse(text) ?? {};
    if (!isTree(tree)) return { problem: `${what}: ${file} holds ${Array.isArray(tree) ? 'a list' : typeof tree}; expected a mapping of keys` };
    return { tree };
  } catch (err) {
    return { problem: `${what}: ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}` };
  }
}

function configFileArg(sources: ConfigSources): { file?: string; problem?: string } {
  const i = sources.argv.indexOf('--config');
  if (i >= 0) {
    const file = sources.argv[i + 1];
    return file === undefined || file.startsWith('--')
      ? { problem: '--config: no file given; expected --config FILE' }
      : { file: resolve(sources.cwd, file) };
  }
  const fromEnv = sources.env.OVERSEER_CONFIG;
  return fromEnv ? { file: resolve(sources.cwd, fromEnv) } : {};
}

/**
 * Reads defaults, the config file and the environment; validates once and freezes.
 * Throws an OverseerError (OVERSEER_CONFIG) listing every problem.
 */
export function loadConfig(sources: ConfigSources): Config {
  const problems: string[] = [];
  const defaults = readYaml(DEFAULT_CONFIG_FILE, 'defaults');
  if (defaults.problem) problems.push(defaults.problem);
  let tree = defaults.tree ?? {};

  const origin = new Map<string, string>();
  const arg = configFileArg(sources);
  if (arg.problem) problems.push(arg.problem);
  if (arg.file) {
    const file = readYaml(arg.file, 'config file');
    if (file.problem) problems.push(file.problem);
    if (file.tree) tree = merge(tree, file.tree);
  }
  for (const [variable, key] of Object.entries(ENV_KEYS)) {
    const v = sources.env[variable];
    if (v !== undefined) {
      tree = { ...tree, [key]: v };
      origin.set(key, `env ${variable}`);
    }
  }
  const tokens = sources.env.OVERSEER_API_TOKENS;
  if (tokens !== undefined) {
    const list = tokens.split(',').map((t) => t.trim()).filter(Boolean);
    tree = merge(tree, { services: { web: { tokens: list } } });
    origin.set('services.web.tokens', 'env OVERSEER_API_TOKENS');
  }
  const where = arg.file ? ` in ${arg.file}` : '';
  problems.push(...validate(tree, (path) => (origin.has(path) ? `${path} (from ${origin.get(path)})` : `${path}${where}`)));
  if (problems.length > 0) {
    throw new OverseerError('OVERSEER_CONFIG', `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, problems);
  }
  const config = tree as unknown as Config;
  return deepFreeze({
    ...config,
    node_name: config.node_name || hostname(),
    data_dir: resolve(sources.cwd, config.data_dir),
  });
}

function deepFreeze<T>(value: T): T {
  if (isTree(value)) for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}
