/**
 * The proxy's own listening addresses, so that a request aimed at one of them is refused instead
 * of looping: a request to the proxy's own port comes back in as a new client connection, which
 * forwards it again, until the file descriptors run out. Every listener (the proxy, a control
 * server) adds itself with add(). A destination is the proxy's own when its port is a listening
 * port and its host reaches that listener without DNS: the listening address itself, any
 * loopback name or address for a loopback listener (Linux routes 0.0.0.0 to loopback too), and
 * any address or name of this machine for a wildcard listener (0.0.0.0, ::). Names that reach
 * the proxy only through DNS are not caught here.
 */
import { hostname as machineName, networkInterfaces } from 'node:os';

interface Listener {
  host: string;
  port: number;
}

export class OwnAddresses {
  private readonly listeners: Listener[] = [];
  /** The ports alone, so the common case (another port) costs one Set lookup. */
  private readonly ports = new Set<number>();

  /** Registers a listening address; the returned function removes it again. */
  add(host: string, port: number): () => void {
    const listener = { host: normalize(host), port };
    this.listeners.push(listener);
    this.ports.add(port);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
      if (!this.listeners.some((l) => l.port === port)) this.ports.delete(port);
    };
  }

  /** True when `hostname:port` is one of the proxy's own listeners. */
  includes(hostname: string, port: number): boolean {
    if (!this.ports.has(port)) return false;
    const host = normalize(hostname);
    for (const listener of this.listeners) {
      if (listener.port !== port) continue;
      if (host === listener.host) return true;
      if (isWildcard(listener.host)) {
        if (isLoopback(host) || isWildcard(host) || machineAddresses().has(host)) return true;
      } else if (isLoopback(listener.host) && (isLoopback(host) || isWildcard(host))) {
        return true;
      }
    }
    return false;
  }
}

/** Lower case, no brackets, no trailing dot, IPv4-mapped IPv6 as IPv4. */
function normalize(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  const mapped = /^(?:0{0,4}:){0,5}(?::|0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped ? mapped[1]! : h;
}

function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::' || /^(0{1,4}:){7}0{1,4}$/.test(host);
}

/** RFC 6761 §6.3 (`localhost` and `*.localhost`), 127.0.0.0/8 (RFC 1122 §3.2.1.3) and ::1. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(host);
}

let machine: { addresses: Set<string>; until: number } | undefined;

/**
 * This machine's interface addresses and name. Asked only when a port matches, but that can be
 * every request (a reverse proxy on :8080 for a server on :8080): kept for 10 s, so an address
 * that comes up later is known within that time.
 */
function machineAddresses(): Set<string> {
  const time = Date.now();
  if (machine !== undefined && time < machine.until) return machine.addresses;
  const addresses = new Set<string>([normalize(machineName())]);
  for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) addresses.add(normalize(entry.address.split('%')[0]!));
  machine = { addresses, until: time + 10_000 };
  return addresses;
}
