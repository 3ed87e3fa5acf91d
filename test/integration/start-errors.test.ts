// What an operator sees when the node cannot start: every problem at once, exit code 2, nothing left running.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, writeTestConfig, tempDir } from '../helpers/node-process.ts';
import { freePorts } from '../helpers/ports.ts';

const hold = (port: number) =>
  new Promise<Server>((resolve) => {
    const s = createServer();
    s.listen(port, '127.0.0.1', () => resolve(s));
  });

test('bad config: every problem is listed, one line each, exit 2, nothing started', async () => {
  const dir = tempDir();
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    [
      'snapshot_interval_ms: fast',
      'log_levle: debug',
      `data_dir: ${join(dir, 'data')}`,
      'services:',
      '  callback_receiver: { workers: 0 }',
      '  dispatcher: { min_workers: 9, max_workers: 8 }',
      '  web: { port: 70000 }',
    ].join('\n'),
  );
  const node = startNode(['--config', file]);
  assert.equal(await node.exited, 2);
  const lines = node.stderr().trim().split('\n');
  const expected = [
    /^overseer: log_levle in .*bad\.yaml: unknown key; expected one of node_name, data_dir/,
    /^overseer: snapshot_interval_ms in .*: "fast" is not a whole number; expected milliseconds from 100 to 3600000$/,
    /^overseer: services\.web\.port in .*: 70000 is too large; expected a TCP port from 1 to 65535$/,
    /^overseer: services\.callback_receiver\.workers in .*: 0 is too small; expected a thread count from 1 to 256$/,
    /^overseer: services\.dispatcher\.min_workers in .*: 9 is more than max_workers 8; expected min_workers ≤ max_workers$/,
  ];
  for (const re of expected) assert.ok(lines.some((l) => re.test(l)), `stderr has a line matching ${re}\n${lines.join('\n')}`);
  assert.equal(lines.length, expected.length, 'one line per problem, no more');
  const fatal = node.logs.find((l) => l.level === 60);
  assert.equal(fatal?.code, 'OVERSEER_CONFIG');
  assert.equal((fatal?.problems as string[]).length, expected.length);
  assert.ok(!existsSync(join(dir, 'data')), 'nothing started: not even the data directory');
});

test('ports taken and Redis unreachable: all reported at once, exit 2, no redis-server, ports released', async () => {
  const dir = tempDir();
  const [deadRedisPort] = await freePorts(1);
  const { file, ports } = await writeTestConfig(dir);
  const held = await Promise.all([hold(ports.web), hold(ports.dispatcher)]);
  after(() => held.forEach((s) => s.close()));
  const node = startNode(['--config', file], { REDIS_URL: `redis://:secret@127.0.0.1:${deadRedisPort}` });
  assert.equal(await node.exited, 2);
  const err = node.stderr();
  assert.match(err, new RegExp(`services\\.web\\.port: ${ports.web} on 127\\.0\\.0\\.1 is already in use; expected a free port`));
  assert.match(err, new RegExp(`services\\.dispatcher\\.port: ${ports.dispatcher} on 127\\.0\\.0\\.1 is already in use`));
  assert.match(err, new RegExp(`redis_url: "redis://:\\*\\*\\*@127\\.0\\.0\\.1:${deadRedisPort}" is unreachable \\(ECONNREFUSED\\)`));
  assert.ok(!err.includes('secret'), 'the password is not printed');
  assert.ok(!node.logs.some((l) => l.msg === 'private redis-server started'));
  // The ports it did bind while checking are free again.
  const again = await Promise.all([hold(ports.callback_receiver), hold(ports.websockets)]);
  again.forEach((s) => s.close());
});

test('redis-server not installed and installing turned off: the message names the command', async () => {
  const dir = tempDir();
  const { file } = await writeTestConfig(dir);
  const emptyPath = join(dir, 'bin');
  mkdirSync(emptyPath);
  const node = startNode(['--config', file], { PATH: emptyPath, OVERSEER_NO_INSTALL: '1' });
  assert.equal(await node.exited, 2);
  assert.match(
    node.stderr(),
    /redis_url: "" starts a private redis-server, but redis-server is not installed; install it with: (sudo )?apt-get update && (sudo )?apt-get install -y redis-server; or set redis_url to an existing Redis/,
  );
});

test('--config naming a missing file is a config error', async () => {
  const node = startNode(['--config', join(tempDir(), 'nope.yaml')]);
  assert.equal(await node.exited, 2);
  assert.match(node.stderr(), /config file: cannot read .*nope\.yaml \(no such file\); expected a readable YAML file/);
});
