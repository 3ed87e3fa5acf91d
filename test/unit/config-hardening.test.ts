// The config checks an attacker's probes went through: blank tokens, names that look like
// loopback addresses, a relay node without a secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { isLoopback } from '../../src/config/schema.ts';
import { OverseerError } from '../../src/errors.ts';
import { tempDir } from '../helpers/node-process.ts';

const problemsOf = (yaml: string, env: Record<string, string> = {}): readonly string[] => {
  const dir = tempDir();
  writeFileSync(join(dir, 'c.yaml'), yaml);
  try {
    loadConfig({ argv: ['--config', join(dir, 'c.yaml')], env, cwd: dir });
  } catch (err) {
    assert.ok(err instanceof OverseerError);
    assert.equal(err.code, 'OVERSEER_CONFIG');
    return err.problems;
  }
  return [];
};

test('a token must have 16 non-blank characters: one of spaces, or with blanks inside, is refused', () => {
  const spaces = problemsOf('services:\n  web: { tokens: ["                    "] }\n');
  assert.equal(spaces.length, 1, spaces.join('\n'));
  assert.match(spaces[0] as string, /^services\.web\.tokens in .*: item 1 is blank; expected tokens of at least 16 non-blank characters$/);
  const inside = problemsOf('services:\n  web: { tokens: ["a token with blanks in it"] }\n');
  assert.match(inside[0] as string, /^services\.web\.tokens in .*: item 1 is a token with blanks in it, which no Authorization header can carry/);
  assert.deepEqual(problemsOf('services:\n  web: { tokens: ["0123456789abcdef"] }\n'), []);
});

test('loopback is an address in 127.0.0.0/8 or ::1, not a name that starts like one', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) assert.ok(isLoopback(a), a);
  for (const a of ['127.evil.com', '127.0.0.1.nip.io', 'localhost.example', '127.0.0.256', '0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1']) assert.ok(!isLoopback(a), a);
  const evil = problemsOf('services:\n  web: { bind: 127.evil.com }\n');
  assert.equal(evil.length, 1, evil.join('\n'));
  assert.match(evil[0] as string, /^services\.web\.tokens in .*: \[\] while services\.web\.bind is "127\.evil\.com"; expected at least one token/);
  assert.deepEqual(problemsOf('services:\n  web: { bind: 127.0.0.2 }\n'), [], 'an address in 127.0.0.0/8 needs no token');
});

test('relay mode needs a secret of 16 non-blank characters, with peers or without', () => {
  for (const secret of ['""', 'short', '"                    "']) {
    const problems = problemsOf(`cluster:\n  mode: relay\n  peers: []\n  secret: ${secret}\n`);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0] as string, /^cluster\.secret in .*: .*; expected a shared secret of at least 16 non-blank characters whenever cluster\.mode is relay/);
  }
  assert.deepEqual(problemsOf('cluster:\n  mode: relay\n  peers: []\n  secret: a-secret-of-20-chars\n'), []);
  assert.deepEqual(problemsOf('cluster:\n  mode: shared_redis\n  secret: ""\n'), [], 'shared_redis needs no secret');
});
