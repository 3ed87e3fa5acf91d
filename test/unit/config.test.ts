import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { OverseerError } from '../../src/errors.ts';
import { tempDir } from '../helpers/node-process.ts';

const load = (yaml: string | undefined, env: Record<string, string> = {}) => {
  const dir = tempDir();
  const argv: string[] = [];
  if (yaml !== undefined) {
    writeFileSync(join(dir, 'c.yaml'), yaml);
    argv.push('--config', join(dir, 'c.yaml'));
  }
  return loadConfig({ argv, env, cwd: dir });
};

const problemsOf = (fn: () => unknown): readonly string[] => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof OverseerError);
    assert.equal(err.code, 'OVERSEER_CONFIG');
    return err.problems;
  }
  assert.fail('expected a config error');
};

test('defaults: the documented ports and sizes, node name from the host, data dir resolved', () => {
  const c = load(undefined);
  assert.equal(c.node_name, hostname());
  assert.match(c.data_dir, /\/data$/);
  assert.deepEqual(
    Object.fromEntries(Object.entries(c.services).map(([k, v]) => [k, v.port])),
    { web: 8013, callback_receiver: 8014, dispatcher: 8015, websockets: 8016 },
  );
  assert.equal(c.services.callback_receiver.workers, 4);
  assert.deepEqual([c.services.dispatcher.min_workers, c.services.dispatcher.max_workers], [2, 8]);
  assert.equal(c.snapshot_interval_ms, 2000);
  assert.ok(Object.isFrozen(c.services.web), 'the config is frozen');
});

test('the file overrides defaults key by key; the environment overrides the file', () => {
  const c = load('node_name: from-file\nredis_url: redis://10.0.0.1:6379\nservices:\n  web: { port: 9013 }\n', {
    OVERSEER_NODE_NAME: 'from-env',
    DATABASE_URL: 'postgres://u:p@db/overseer',
  });
  assert.equal(c.node_name, 'from-env');
  assert.equal(c.redis_url, 'redis://10.0.0.1:6379');
  assert.equal(c.database_url, 'postgres://u:p@db/overseer');
  assert.equal(c.services.web.port, 9013);
  assert.equal(c.services.web.bind, '127.0.0.1', 'a sibling key keeps its default');
});

test('OVERSEER_CONFIG chooses the file when --config is absent', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'x.yaml'), 'log_level: debug\n');
  const c = loadConfig({ argv: [], env: { OVERSEER_CONFIG: join(dir, 'x.yaml') }, cwd: dir });
  assert.equal(c.log_level, 'debug');
});

test('every problem at once, each naming key, value and what is right', () => {
  const problems = problemsOf(() =>
    load(
      [
        'snapshot_interval_ms: 2s',
        'shutdown_timeout_ms: -1',
        'log_level: loud',
        'colour: blue',
        'redis_url: http://localhost',
        'services:',
        '  web: { port: 0, bind: "" }',
        '  callback_receiver: { workers: 0 }',
        '  dispatcher: { min_workers: 4, max_workers: 2, port: 8013 }',
        '  websockets: [1, 2]',
      ].join('\n'),
    ),
  );
  const has = (re: RegExp) => assert.ok(problems.some((p) => re.test(p)), `a problem matches ${re}:\n${problems.join('\n')}`);
  has(/^snapshot_interval_ms in .*: "2s" is not a whole number; expected milliseconds from 100 to 3600000$/);
  has(/^shutdown_timeout_ms in .*: -1 is too small; expected milliseconds from 0 to 3600000$/);
  has(/^log_level in .*: "loud" is not allowed; expected one of fatal, error, warn, info, debug, trace, silent$/);
  has(/^colour in .*: unknown key; expected one of node_name, data_dir, redis_url/);
  has(/^redis_url in .*: "http:\/\/localhost" has scheme http:; expected a redis:\/\/… or rediss:\/\/… or unix:\/\/… URL/);
  has(/^services\.web\.port in .*: 0 is too small; expected a TCP port from 1 to 65535$/);
  has(/^services\.web\.bind in .*: "" is not an address/);
  has(/^services\.callback_receiver\.workers in .*: 0 is too small; expected a thread count from 1 to 256$/);
  has(/^services\.dispatcher\.min_workers in .*: 4 is more than max_workers 2; expected min_workers ≤ max_workers$/);
  has(/^services\.websockets in .*: \[1,2\] is not a mapping; expected keys bind, port$/);
  assert.equal(problems.length, 10, problems.join('\n'));
});

test('two services on one port is a problem of its own', () => {
  const problems = problemsOf(() => load('services:\n  dispatcher: { port: 8013 }\n'));
  assert.equal(problems.length, 1);
  assert.match(problems[0] as string, /^services\.dispatcher\.port in .*: 8013 is also the port of services\.web; expected a port of its own$/);
});

test('a value from the environment is named as such', () => {
  const problems = problemsOf(() => load(undefined, { REDIS_URL: 'localhost:6379' }));
  assert.match(problems[0] as string, /^redis_url \(from env REDIS_URL\): "localhost:6379"/);
});

test('a file that is not YAML, or not a mapping, is reported, not thrown raw', () => {
  assert.match(problemsOf(() => load('services: [\n'))[0] as string, /^config file: .*c\.yaml is not valid YAML: /);
  assert.match(problemsOf(() => load('- a\n- b\n'))[0] as string, /^config file: .*c\.yaml holds a list; expected a mapping of keys$/);
});

test('cluster and API keys: tokens required beyond loopback, a relay needs a secret, peers are checked', () => {
  const problems = problemsOf(() =>
    load(
      [
        'node_name: a',
        'cluster:',
        '  mode: relay',
        '  peers: [{ name: b, url: "ws://127.0.0.1:9013" }, { name: a, url: "ws://127.0.0.1:9113" }]',
        '  secret: short',
        'services:',
        '  web: { bind: 0.0.0.0 }',
      ].join('\n'),
    ),
  );
  assert.ok(problems.some((p) => /^services\.web\.tokens in .*: \[\] while services\.web\.bind is "0\.0\.0\.0"; expected at least one token/.test(p)), problems.join('\n'));
  assert.ok(problems.some((p) => /^cluster\.secret in .*: the secret is shorter than 16 characters/.test(p)));
  assert.ok(problems.some((p) => /^cluster\.peers in .*: lists this node \("a"\); expected only the other nodes$/.test(p)));
  assert.equal(problems.length, 3, problems.join('\n'));
  const badPeer = problemsOf(() => load('cluster:\n  peers: [{ name: b, url: "ftp://x" }]\n'));
  assert.match(badPeer[0] as string, /^cluster\.peers in .*: item 1 has url "ftp:\/\/x"; expected ws:\/\/host:port/);
});

test('OVERSEER_API_TOKENS replaces the token list, and then the API may listen beyond loopback', () => {
  const c = load('services:\n  web: { bind: 0.0.0.0 }\n', { OVERSEER_API_TOKENS: 'aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb' });
  assert.deepEqual(c.services.web.tokens, ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb']);
  const short = problemsOf(() => load(undefined, { OVERSEER_API_TOKENS: 'x' }));
  assert.match(short[0] as string, /^services\.web\.tokens \(from env OVERSEER_API_TOKENS\): item 1 is shorter than 16 characters/);
});
