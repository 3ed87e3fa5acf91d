// The names this port answers to, in a Host header or an Origin: its bind address, loopback, the
// configured services.web.hostnames, and, bound to every interface, every address of the machine.
// Anything else is a name a web page chose (DNS rebinding) or another site.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);
/** Interfaces come and go (DHCP, VPNs): their addresses are read again at most this often, on a miss. */
const INTERFACES_TTL_MS = 10_000;

/** A name as it appears in a Host header: lower case, an IPv6 address in brackets. */
const hostForm = (name: string) => {
  const lower = name.toLowerCase();
  return isIP(lower) === 6 ? `[${lower}]` : lower;
};

/** "name", "name:port", "[v6]" or "[v6]:port" split into name and port ('' when none). */
function split(host: string): { name: string; port: string } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(host.toLowerCase());
  return m === null ? { name: '', port: 'invalid' } : { name: m[1] as string, port: m[2] ?? '' };
}

export class AllowedHosts {
  readonly #names: ReadonlySet<string>;
  readonly #wildcard: boolean;
  #port = '';
  #interfaces = new Set<string>();
  #interfacesAt = -Infinity;

  constructor(bind: string, hostnames: readonly string[]) {
    this.#wildcard = WILDCARDS.has(bind);
    this.#names = new Set([...LOOPBACK, ...(this.#wildcard ? [] : [hostForm(bind)]), ...hostnames.map(hostForm)]);
  }

  /** The port the listener is bound to (a name with another port is not this port). */
  set port(port: number) {
    this.#port = String(port);
  }

  /** Whether a Host header's value (or an origin's host) names this port. */
  allows(host: string): boolean {
    const { name, port } = split(host);
    if (port !== '' && port !== this.#port) return false;
    if (this.#names.has(name)) return true;
    return this.#wildcard && this.#interfaceNames().has(name);
  }

  #interfaceNames(): ReadonlySet<string> {
    const now = Date.now();
    if (now - this.#interfacesAt >= INTERFACES_TTL_MS) {
      const addresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
      // A link-local IPv6 address has a zone (fe80::1%eth0), which a URL writes as %25.
      this.#interfaces = new Set(addresses.flatMap((a) => [hostForm(a), hostForm(a).replace('%', '%25')]));
      this.#interfacesAt = now;
    }
    return this.#interfaces;
  }
}
