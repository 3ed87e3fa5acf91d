// What one node's relay sends to a peer's web service over a websocket: its snapshot, signed with
// the cluster's shared secret. Both sides import this module.
//
// A frame is text: `ovr1 <hex HMAC> <ts> <node, URI-encoded>\n<snapshot JSON>`. The HMAC-SHA256
// covers every byte after it, so the receiver checks it on the raw bytes before decoding or
// parsing anything: a stranger's frame costs one hash, never a JSON parse.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The websocket path on a peer's web port. */
export const RELAY_PATH = '/api/v2/relay/';
/** The receiving endpoint closes the connection (1009) on larger frames, before reading them; the sender drops such a snapshot. */
export const MAX_FRAME_BYTES = 256 * 1024;
/** A message signed longer ago than this (or this far in the future) is refused; within it, replays are caught by the snapshot's time. */
export const MAX_SKEW_MS = 300_000;

const MAGIC = 'ovr1 ';
const SIG_HEX = 64;
/** Where the signed bytes start: after the magic, the signature and a space. */
const SIGNED_AT = MAGIC.length + SIG_HEX + 1;
/** The header line (time and node) is short; a longer one is not a frame of ours. */
const MAX_HEADER_BYTES = 512;

/** One relayed message, as the receiver reads it once the signature checks out. */
export interface RelayMessage {
  readonly node: string;
  /** Unix time in ms when it was signed. */
  readonly ts: number;
  /** The snapshot, as the JSON text stored in Redis (not parsed here). */
  readonly snapshot: string;
}

/** Sent back by the receiver when it refuses a message. */
export interface RelayRefusal {
  readonly rejected: string;
}

const hmac = (secret: string, signed: Buffer | string) => createHmac('sha256', secret).update(signed).digest();

/** Signs a snapshot for the peers: the text frame to send. */
export function signFrame(secret: string, node: string, snapshot: string, now = Date.now()): string {
  const signed = `${now} ${encodeURIComponent(node)}\n${snapshot}`;
  return `${MAGIC}${hmac(secret, signed).toString('hex')} ${signed}`;
}

/** Checks a received frame: the HMAC over its raw bytes first, then the header; the snapshot is left unparsed. */
export function verifyFrame(secret: string, frame: Buffer, now = Date.now()): { message: RelayMessage } | { rejected: 'malformed' | 'signature'; detail: string } {
  if (frame.length <= SIGNED_AT || frame.toString('latin1', 0, MAGIC.length) !== MAGIC || frame[SIGNED_AT - 1] !== 0x20) {
    return { rejected: 'malformed', detail: `not a relay frame (expected "${MAGIC.trim()} <signature> …"; a peer running an older overseer?)` };
  }
  const given = Buffer.from(frame.toString('latin1', MAGIC.length, MAGIC.length + SIG_HEX), 'hex');
  const signed = frame.subarray(SIGNED_AT);
  const expected = hmac(secret, signed);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { rejected: 'signature', detail: 'HMAC does not match' };
  const eol = signed.subarray(0, MAX_HEADER_BYTES).indexOf(0x0a);
  const header = eol < 0 ? [] : signed.toString('utf8', 0, eol).split(' ');
  const ts = Number(header[0]);
  let node: string | undefined;
  try {
    node = header.length === 2 && header[1] !== '' ? decodeURIComponent(header[1] as string) : undefined;
  } catch {
    node = undefined;
  }
  if (!Number.isSafeInteger(ts) || node === undefined) return { rejected: 'malformed', detail: 'expected a header line "<ts> <node>"' };
  if (Math.abs(now - ts) > MAX_SKEW_MS) return { rejected: 'signature', detail: `signed ${Math.round((now - ts) / 1000)} s from now` };
  return { message: { node, ts, snapshot: signed.toString('utf8', eol + 1) } };
}
