// The live job output over the relay (cluster.mode relay: a Redis per node). A node's relay thread
// keeps one websocket to each peer's web port; on it, signed as the snapshots are
// (src/cluster/relay-protocol.ts, `ovl1` frames):
//   this node → peer: `hello` when the connection opens, then the live messages (src/live/live-messages.ts)
//                     of this node's jobs that the peer's clients follow;
//   peer → this node: `watch\n{"jobs": bool, "events": [job ids]}`: what its clients follow, again
//                     whenever that changes.
// The peer gives what it receives to its own clients only, never to Redis: nothing is relayed twice.
import { LIVE_JOBS_CHANNEL, decodeLive, encodeEvents, eventsChannel } from './live-messages.ts';
import type { WatchSet } from './hub.ts';

export const HELLO = 'hello';
/** Job ids one watch message may name (a frame stays far below the relay's frame limit). */
export const MAX_WATCHED_JOBS = 10_000;

export const encodeWatch = (w: WatchSet): string => `watch\n${JSON.stringify({ jobs: w.jobs, events: w.events.slice(0, MAX_WATCHED_JOBS) })}`;

/** A watch message's set, or undefined when the body is not one. */
export function decodeWatch(body: string): WatchSet | undefined {
  if (!body.startsWith('watch\n')) return undefined;
  try {
    const v = JSON.parse(body.slice(6)) as { jobs?: unknown; events?: unknown };
    if (typeof v.jobs !== 'boolean' || !Array.isArray(v.events) || v.events.length > MAX_WATCHED_JOBS) return undefined;
    if (!v.events.every((id) => Number.isSafeInteger(id) && (id as number) > 0)) return undefined;
    return { jobs: v.jobs, events: v.events as number[] };
  } catch {
    return undefined;
  }
}

/** The Redis channels a watch set needs. */
export const channelsOf = (w: WatchSet): string[] => [...(w.jobs ? [LIVE_JOBS_CHANNEL] : []), ...w.events.map(eventsChannel)];

/**
 * A live message cut into bodies of at most maxBytes (an events message split between its lines);
 * `dropped` counts events larger than that on their own, which cannot be relayed.
 */
export function splitForRelay(text: string, maxBytes: number): { bodies: string[]; dropped: number } {
  if (Buffer.byteLength(text) <= maxBytes) return { bodies: [text], dropped: 0 };
  const m = decodeLive(text);
  if (m === undefined || m.kind !== 'events') return { bodies: [], dropped: 1 };
  const bodies: string[] = [];
  let dropped = 0;
  const header = Buffer.byteLength(`events ${m.jobId}`);
  let chunk: typeof m.events[number][] = [];
  let bytes = header;
  for (const e of m.events) {
    const size = Buffer.byteLength(e.json) + 12; // "\n<counter> "
    if (header + size > maxBytes) {
      dropped += 1;
      continue;
    }
    if (bytes + size > maxBytes) {
      bodies.push(encodeEvents(m.jobId, chunk));
      chunk = [];
      bytes = header;
    }
    chunk.push(e);
    bytes += size;
  }
  if (chunk.length > 0) bodies.push(encodeEvents(m.jobId, chunk));
  return { bodies, dropped };
}
