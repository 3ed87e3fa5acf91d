// The web port's websocket upgrades, routed by path: the relay (peers, /api/v2/relay/) and the live
// job output (clients, /websocket/) each register their paths; any other path answers 404. One
// 'upgrade' listener per server, so that no handler answers for another's path.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Answers an upgrade with a plain HTTP status and closes the socket. */
export function answerUpgrade(socket: Duplex, status: string, body: string, extra = ''): void {
  socket.on('error', () => {});
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extra}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

const routers = new WeakMap<Server, Map<string, UpgradeHandler>>();

/** Serves websocket upgrades to these paths (exact, with and without the trailing slash) with handler; returns how to stop. */
export function routeUpgrade(server: Server, paths: readonly string[], handler: UpgradeHandler): () => void {
  let routes = routers.get(server);
  if (routes === undefined) {
    const table = new Map<string, UpgradeHandler>();
    routes = table;
    routers.set(server, table);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = table.get(path);
      if (route !== undefined) route(req, socket, head);
      else answerUpgrade(socket, '404 Not Found', `not found: websockets are served at ${[...new Set(table.keys())].filter((p) => p.endsWith('/')).join(' and ') || 'no path now'}\n`);
    });
  }
  const all = paths.flatMap((p) => [p, p.replace(/\/+$/, '')]);
  for (const p of all) routes.set(p, handler);
  const table = routes;
  return () => {
    for (const p of all) if (table.get(p) === handler) table.delete(p);
  };
}

/** Caps on one kind of websocket: in all, and per remote address. */
export interface UpgradeCaps {
  readonly total: number;
  readonly perAddress: number;
  /** What they are, in the refusal's words: "relay connections". */
  readonly what: string;
  /** Counts and logs a refusal over the `total` or the `address` cap. */
  readonly refused: (over: 'total' | 'address', address: string, detail: string) => void;
}

/**
 * Bounds what strangers cost: returns admit(socket, address), which answers an upgrade over a cap
 * (503 in all, 429 from one address, both with Retry-After) and resolves false, or counts the
 * connection until its socket closes and resolves true.
 */
export function capUpgrades(caps: UpgradeCaps): (socket: Duplex, address: string) => boolean {
  const perAddress = new Map<string, number>();
  let open = 0;
  return (socket, address) => {
    const mine = perAddress.get(address) ?? 0;
    if (open >= caps.total) {
      caps.refused('total', address, `${open} ${caps.what} open, the most this node takes`);
      answerUpgrade(socket, '503 Service Unavailable', `too many ${caps.what}\n`, 'Retry-After: 30\r\n');
      return false;
    }
    if (mine >= caps.perAddress) {
      caps.refused('address', address, `${mine} ${caps.what} open from this address, the most one address may hold`);
      answerUpgrade(socket, '429 Too Many Requests', `too many ${caps.what} from this address\n`, 'Retry-After: 30\r\n');
      return false;
    }
    open += 1;
    perAddress.set(address, mine + 1);
    socket.once('close', () => {
      open -= 1;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
    return true;
  };
}
