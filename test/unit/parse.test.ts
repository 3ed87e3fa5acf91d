import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEvent } from '../../workers/receiver/parse.ts';
import { fixtureEvents } from '../helpers/events.ts';

const NOW = '2026-11-25T12:00:00.000Z';
const MAX = 1024 * 1024;

test('every fixture event becomes a row with AWX fields; the stats event brings one summary per host', () => {
  const events = fixtureEvents(7);
  const parsed = events.map((e) => parseEvent(JSON.stringify(e), MAX, NOW));
  assert.ok(parsed.every((p) => p.kind === 'event'));
  const rows = parsed.map((p) => (p.kind === 'event' ? p.row : undefined)!);
  assert.deepEqual(rows.map((r) => r.counter), events.map((e) => e.counter));
  const first = rows[1]!;
  assert.equal(first.job_id, 7);
  assert.equal(first.event, 'playbook_on_play_start');
  assert.equal(first.play, 'runner check play');
  assert.equal(first.parent_uuid, '458b661b-53bb-4d8b-8c72-841ef57f2e91');
  assert.equal(first.created, '2026-11-24T18:50:12.347Z', 'a time without zone is UTC, as in AWX');
  assert.equal(first.modified, NOW);
  assert.ok(rows.some((r) => r.host_name === 'h1' && r.event === 'runner_on_ok'));
  assert.ok(rows.some((r) => r.changed), 'res.changed marks an event changed');
  const stats = parsed.find((p) => p.kind === 'event' && p.row.event === 'playbook_on_stats');
  assert.ok(stats?.kind === 'event');
  assert.deepEqual(stats.summaries.map((s) => [s.host_name, s.ok, s.changed, s.ignored, s.failed]), [
    ['h1', 19, 5, 1, false],
    ['h2', 19, 5, 1, false],
    ['h3', 19, 5, 1, false],
  ]);
});

test('a failed task counts as failed unless its errors are ignored', () => {
  const base = { job_id: 1, uuid: 'u', counter: 1, event: 'runner_on_failed', event_data: { host: 'h', res: {} } };
  const failed = parseEvent(JSON.stringify(base), MAX, NOW);
  const ignored = parseEvent(JSON.stringify({ ...base, event_data: { host: 'h', ignore_errors: true } }), MAX, NOW);
  assert.ok(failed.kind === 'event' && failed.row.failed);
  assert.ok(ignored.kind === 'event' && !ignored.row.failed);
});

test('EOF ends a stream; garbage gets its reason', () => {
  assert.deepEqual(parseEvent('{"job_id": 3, "event": "EOF", "final_counter": 12}', MAX, NOW), { kind: 'eof', end: { job_id: 3, final_counter: 12 } });
  const reason = (raw: string, max = MAX) => {
    const p = parseEvent(raw, max, NOW);
    return p.kind === 'dead' ? [p.reason, p.detail] : p.kind;
  };
  assert.deepEqual(reason('{"job_id": 1, "uuid": "a", "counter": 1, "event": "x"}', 10), ['oversized', '54 bytes, the limit is 10']);
  assert.equal(reason('{nope')[0], 'invalid_json');
  assert.deepEqual(reason('"text"'), ['invalid_event', 'expected a JSON object, got string']);
  assert.deepEqual(reason('{"job_id": "1", "uuid": "a"}'), ['invalid_event', 'job_id must be a positive integer, got "1"']);
  assert.deepEqual(reason('{"job_id": 1, "counter": 1, "event": "x"}'), ['missing_uuid', 'the event has no uuid']);
  assert.deepEqual(reason('{"job_id": 1, "event": "EOF"}'), ['invalid_event', 'EOF needs final_counter, a whole number, got nothing']);
  assert.deepEqual(reason('{"job_id": 1, "uuid": "a", "counter": "1", "event": "x"}'), ['invalid_event', 'counter must be a whole number below 2^31, got "1"']);
});

test('NUL characters are removed from every string, keys and nested values included', () => {
  const p = parseEvent(JSON.stringify({ job_id: 1, uuid: 'a', counter: 1, event: 'verbose', stdout: 'a\u0000b', event_data: { 'k\u0000': ['x\u0000'] } }), MAX, NOW);
  assert.ok(p.kind === 'event');
  assert.equal(p.row.stdout, 'ab');
  assert.equal(p.row.event_data, '{"k":["x"]}');
});
