// What one node's relay sends to a peer's web service over a websocket: its snapshot, signed with
// the cluster's shared secret. Both sides import this module.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The websocket path on a peer's web port. */
export const RELAY_PATH = '/api/v2/relay/';
/** The receiving endpoint closes the connection (1009) on larger frames; the sender drops such a snapshot. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;
/** A message signed longer ago than this (or this far in the future) is refused, against replays. */
export const MAX_SKEW_MS = 300_000;

/** One relayed message (JSON text frame). */
export interface RelayMessage {
  readonly node: string;
  /** Unix time in ms when it was signed. */
  readonly ts: number;
  /** The snapshot, as the JSON text stored in Redis. */
  readonly snapshot: string;
  /** Hex HMAC-SHA256 over `${node}\n${ts}\n${snapshot}` with the cluster secret. */
  readonly sig: string;
}

/** Sent back by the receiver when it refuses a message. */
export interface RelayRefusal {
  readonly rejected: string;
}

function signature(secret: string, node: string, ts: number, snapshot: string): string {
  return createHmac('sha256', secret).update(`${node}\n${ts}\n${snapshot}`).digest('hex');
}

/** Signs a snapshot for the peers. */
export function signMessage(secret: string, node: string, snapshot: string, now = Date.now()): RelayMessage {
  return { node, ts: now, snapshot, sig: signature(secret, node, now, snapshot) };
}

/** Checks a received frame; returns the message, or why it is refused. */
export function verifyMessage(secret: string, frame: string, now = Date.now()): { message: RelayMessage } | { rejected: 'malformed' | 'signature'; detail: string } {
  let m: Partial<RelayMessage>;
  try {
    m = JSON.parse(frame) as Partial<RelayMessage>;
  } catch {
    return { rejected: 'malformed', detail: 'not JSON' };
  }
  if (typeof m.node !== 'string' || typeof m.ts !== 'number' || typeof m.snapshot !== 'string' || typeof m.sig !== 'string') {
    return { rejected: 'malformed', detail: 'expected node, ts, snapshot and sig' };
  }
  const expected = Buffer.from(signature(secret, m.node, m.ts, m.snapshot), 'hex');
  const given = Buffer.from(m.sig, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { rejected: 'signature', detail: 'HMAC does not match' };
  if (Math.abs(now - m.ts) > MAX_SKEW_MS) return { rejected: 'signature', detail: `signed ${Math.round((now - m.ts) / 1000)} s from now` };
  return { message: m as RelayMessage };
}
