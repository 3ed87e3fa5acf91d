// What one node's relay sends to a peer's web service over a websocket: its snapshot, signed with
// the cluster's shared secret; and the live job output (src/live/): the peer's endpoint says what
// its websocket clients follow, this node's relay sends it the matching live messages. Both sides
// import this module.
//
// A snapshot frame is text: `ovr1 <hex HMAC> <ts> <node, URI-encoded>\n<snapshot JSON>`. The
// HMAC-SHA256 covers every byte after it, so the receiver checks it on the raw bytes before
// decoding or parsing anything: a stranger's frame costs one hash, never a JSON parse. A live frame
// is the same with `ovl1` and a live body (src/live/relay-live.ts); its HMAC covers the magic too,
// so that neither kind can be passed off as the other.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The websocket path on a peer's web port. */
export const RELAY_PATH = '/api/v2/relay/';
/** The receiving endpoint closes the connection (1009) on larger frames, before reading them; the sender drops such a snapshot. */
export const MAX_FRAME_BYTES = 256 * 1024;
/** A message signed longer ago than this (or this far in the future) is refused; within it, replays are caught by the snapshot's time. */
export const MAX_SKEW_MS = 300_000;

const MAGIC = 'ovr1 ';
/** The magic of a live output frame (both directions). */
export const LIVE_MAGIC = 'ovl1 ';
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

/** A snapshot frame's HMAC covers what follows the signature; a live frame's covers its magic as well. */
const hmac = (secret: string, magic: string, signed: Buffer | string) => {
  const h = createHmac('sha256', secret);
  if (magic !== MAGIC) h.update(magic);
  return h.update(signed).digest();
};

function sign(magic: string, secret: string, node: string, body: string, now: number): string {
  const signed = `${now} ${encodeURIComponent(node)}\n${body}`;
  return `${magic}${hmac(secret, magic, signed).toString('hex')} ${signed}`;
}

/** Signs a snapshot for the peers: the text frame to send. */
export function signFrame(secret: string, node: string, snapshot: string, now = Date.now()): string {
  return sign(MAGIC, secret, node, snapshot, now);
}

/** Signs a live output body (src/live/relay-live.ts): the text frame to send. */
export function signLiveFrame(secret: string, node: string, body: string, now = Date.now()): string {
  return sign(LIVE_MAGIC, secret, node, body, now);
}

/** Whether a received frame is a live output frame (else it is taken for a snapshot frame). */
export const isLiveFrame = (frame: Buffer | string): boolean =>
  typeof frame === 'string' ? frame.startsWith(LIVE_MAGIC) : frame.length >= LIVE_MAGIC.length && frame.toString('latin1', 0, LIVE_MAGIC.length) === LIVE_MAGIC;

/** Checks a received snapshot frame: the HMAC over its raw bytes first, then the header; the snapshot is left unparsed. */
export function verifyFrame(secret: string, frame: Buffer, now = Date.now()): { message: RelayMessage } | { rejected: 'malformed' | 'signature'; detail: string } {
  return verify(MAGIC, secret, frame, now);
}

/** Checks a received live frame as verifyFrame does; `snapshot` then holds the live body. */
export function verifyLiveFrame(secret: string, frame: Buffer, now = Date.now()): { message: RelayMessage } | { rejected: 'malformed' | 'signature'; detail: string } {
  return verify(LIVE_MAGIC, secret, frame, now);
}

function verify(magic: string, secret: string, frame: Buffer, now: number): { message: RelayMessage } | { rejected: 'malformed' | 'signature'; detail: string } {
  if (frame.length <= SIGNED_AT || frame.toString('latin1', 0, magic.length) !== magic || frame[SIGNED_AT - 1] !== 0x20) {
    return { rejected: 'malformed', detail: `not a relay frame (expected "${magic.trim()} <signature> …"; a peer running an older overseer?)` };
  }
  const given = Buffer.from(frame.toString('latin1', magic.length, magic.length + SIG_HEX), 'hex');
  const signed = frame.subarray(SIGNED_AT);
  const expected = hmac(secret, magic, signed);
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
