import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactUrl, redactUrls } from '../../src/redact.ts';

test('a URL password is hidden whole, an @ in it included', () => {
  assert.equal(redactUrl('postgres://app:s3cr@t@db:5432/overseer'), 'postgres://app:***@db:5432/overseer');
  assert.equal(redactUrl('redis://:pw@127.0.0.1:6379/0'), 'redis://:***@127.0.0.1:6379/0');
  assert.equal(redactUrl('redis://127.0.0.1:6379/0?password=pw'), 'redis://127.0.0.1:6379/0?password=***');
  assert.equal(redactUrl('unix:///data/redis.sock'), 'unix:///data/redis.sock');
});

test("git's output: the user part of every URL goes, whatever its password holds", () => {
  const line = "fatal: unable to access 'https://deploy:pa@ss@git.example.com/repo.git/': Could not resolve host; also ssh://u:p@h/r";
  assert.equal(redactUrls(line), "fatal: unable to access 'https://***@git.example.com/repo.git/': Could not resolve host; also ssh://***@h/r");
  assert.ok(!redactUrls(line).includes('ss@git'));
});
