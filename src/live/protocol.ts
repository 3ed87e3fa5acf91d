// The live output's websocket protocol, AWX's (awx/main/consumers.py EventConsumer): what a client
// of /websocket/ sends, and the answers it gets.
//
// The client sends {"groups": {"jobs": ["status_changed", "summary"], "job_events": [ids],
// "project_update_events": [ids], "workflow_events": [ids]}}; each (group, item) becomes a group
// name `<group>-<item>` (jobs-status_changed, job_events-42) and the message replaces the previous
// subscription. The answer is {"groups_current", "groups_left", "groups_joined"}. With tokens
// configured and no `Authorization: Bearer` header on the upgrade (a browser cannot set one), the
// first message must carry "token": "<token>" (it may carry the groups too); the connection gets
// {"accept": true} once authenticated. A message that cannot be used gets {"error": "…"} and
// changes nothing.
import { EVENT_GROUP_NAMES } from './groups.ts';

/** Where clients connect; AWX serves both. */
export const LIVE_PATHS = ['/websocket/', '/api/websocket/'] as const;
/** What one (group, item) may name under `jobs`. */
export const JOBS_TOPICS = ['status_changed', 'summary'] as const;
/** AWX's other groups: accepted, never fed here (overseer has no such jobs or objects). */
const SILENT_GROUPS = new Set(['ad_hoc_command_events', 'inventory_update_events', 'system_job_events', 'schedules', 'control']);
/** Groups whose items are job ids. */
const ID_GROUPS = new Set<string>([...EVENT_GROUP_NAMES, 'workflow_events']);
const ALL_GROUPS = ['jobs', ...ID_GROUPS, ...SILENT_GROUPS];
/** Groups one connection may hold at once. */
export const MAX_GROUPS = 1000;
/** Largest message a client may send (ws closes the connection with 1009 on a larger one). */
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;

export type ClientMessage =
  | { readonly ok: true; readonly token?: string; readonly groups?: readonly string[] }
  | { readonly ok: false; readonly error: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (error: string): ClientMessage => ({ ok: false, error });

/** One item of an id group: a positive integer, or its decimal text (AWX takes either). */
function idOf(item: unknown): number | undefined {
  const n = typeof item === 'string' && /^[1-9]\d{0,15}$/.test(item) ? Number(item) : item;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** The group names a `groups` object asks for, or why it cannot be used. */
function groupNames(groups: unknown): string[] | string {
  if (!isObject(groups)) return '"groups" must be an object such as {"jobs": ["status_changed", "summary"], "job_events": [42]}';
  const names = new Set<string>();
  for (const [group, items] of Object.entries(groups)) {
    if (group !== 'jobs' && !ID_GROUPS.has(group) && !SILENT_GROUPS.has(group)) {
      return `unknown group ${JSON.stringify(group)}; expected one of ${ALL_GROUPS.join(', ')}`;
    }
    if (!Array.isArray(items)) return `groups.${group} must be a list, got ${JSON.stringify(items)}`;
    for (const item of items) {
      if (group === 'jobs') {
        if (!(JOBS_TOPICS as readonly unknown[]).includes(item)) return `groups.jobs takes ${JOBS_TOPICS.map((t) => `"${t}"`).join(' and ')}, not ${JSON.stringify(item)}`;
        names.add(`jobs-${item as string}`);
      } else if (ID_GROUPS.has(group)) {
        const id = idOf(item);
        if (id === undefined) return `groups.${group} takes job ids (positive integers), not ${JSON.stringify(item)}`;
        names.add(`${group}-${id}`);
      } else if (typeof item === 'string' || typeof item === 'number') names.add(`${group}-${item}`);
      else return `groups.${group} takes names or ids, not ${JSON.stringify(item)}`;
      if (names.size > MAX_GROUPS) return `at most ${MAX_GROUPS} groups at once`;
    }
  }
  return [...names];
}

/** Reads one message from a client. */
export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('messages must be JSON objects, such as {"groups": {"jobs": ["status_changed"]}}');
  }
  if (!isObject(value)) return fail('messages must be JSON objects, such as {"groups": {"jobs": ["status_changed"]}}');
  const { token, groups } = value;
  if (token !== undefined && typeof token !== 'string') return fail('"token" must be a string');
  if (groups === undefined) {
    return token === undefined ? fail('expected {"groups": {...}} (and "token" first, when the node has API tokens)') : { ok: true, token };
  }
  const names = groupNames(groups);
  if (typeof names === 'string') return fail(names);
  return token === undefined ? { ok: true, groups: names } : { ok: true, token, groups: names };
}

/** AWX's answer to a groups message. */
export const groupsAnswer = (current: readonly string[], left: readonly string[], joined: readonly string[]): string =>
  JSON.stringify({ groups_current: current, groups_left: left, groups_joined: joined });

export const errorAnswer = (error: string): string => JSON.stringify({ error });
/** The last message before the server closes a connection: why. */
export const closingAnswer = (error: string): string => JSON.stringify({ error, close: true });
export const ACCEPT = JSON.stringify({ accept: true });
