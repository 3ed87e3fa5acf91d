// The relay thread's part of the live output (src/live/relay-live.ts): it subscribes, in this
// node's Redis, to the live channels its peers' clients follow (their watch messages), and sends
// each message of those channels to the peers that follow it, cut to the relay's frame limit.
import type { Redis } from 'ioredis';
import { MAX_FRAME_BYTES } from '../cluster/relay-protocol.ts';
import { splitForRelay } from './relay-live.ts';

/** Room left in a frame for the signature header (magic, HMAC, time, node name). */
const HEADER_ROOM = 1024;

/** One peer as the forwarder sees it. */
export interface LiveLink {
  /** The channels its clients follow now (empty while it is not connected). */
  readonly channels: ReadonlySet<string>;
  /** Signs and sends one live body, or counts it dropped (not connected, backed up). */
  sendLive(body: string): void;
  /** Counts live events that could not be sent to it (each over the frame limit on its own). */
  dropLive(n: number): void;
}

export class LiveForwarder {
  readonly #subscriber: Redis;
  readonly #links: readonly LiveLink[];
  readonly #onError: (err: unknown) => void;
  readonly #subscribed = new Set<string>();

  constructor(subscriber: Redis, links: readonly LiveLink[], onError: (err: unknown) => void) {
    this.#subscriber = subscriber;
    this.#links = links;
    this.#onError = onError;
  }

  /** Whether a channel is one of the live channels followed now. */
  has(channel: string): boolean {
    return this.#subscribed.has(channel);
  }

  /** Some peer's watch changed: subscribe to what the peers follow now, and no more. */
  update(): void {
    const wanted = new Set<string>();
    for (const link of this.#links) for (const c of link.channels) wanted.add(c);
    const add = [...wanted].filter((c) => !this.#subscribed.has(c));
    const remove = [...this.#subscribed].filter((c) => !wanted.has(c));
    for (const c of add) this.#subscribed.add(c);
    for (const c of remove) this.#subscribed.delete(c);
    if (add.length > 0) this.#subscriber.subscribe(...add).catch(this.#onError);
    if (remove.length > 0) this.#subscriber.unsubscribe(...remove).catch(this.#onError);
  }

  /** A message of a live channel: to each peer that follows it. */
  forward(channel: string, text: string): void {
    let split: ReturnType<typeof splitForRelay> | undefined;
    for (const link of this.#links) {
      if (!link.channels.has(channel)) continue;
      split ??= splitForRelay(text, MAX_FRAME_BYTES - HEADER_ROOM);
      for (const body of split.bodies) link.sendLive(body);
      if (split.dropped > 0) link.dropLive(split.dropped);
    }
  }
}
