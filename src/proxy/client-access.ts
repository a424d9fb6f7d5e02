/**
 * Which clients may use the proxy (`--allow CIDR…`), decided when a connection is accepted,
 * before a byte of it is read. A proxy listening beyond loopback lets any host that reaches it
 * open connections from this machine, to its loopback-only services included, so by default
 * only loopback and private networks may (RFC 1918, RFC 6598 shared space, link-local, IPv6
 * unique-local): mitmproxy's `block_global` and Squid's stock `localnet` ACL make the same call.
 * `--allow` replaces that list; `--allow 0.0.0.0/0 --allow ::/0` opens the proxy to every host.
 */
import net from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

export const DEFAULT_ALLOW: readonly string[] = [
  '127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16',
  '::1/128', 'fc00::/7', 'fe80::/10',
];

/** `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128); undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const version = net.isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export class ClientAccess {
  private readonly list = new net.BlockList();

  constructor(readonly cidrs: readonly Cidr[]) {
    for (const cidr of cidrs) this.list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }

  /** True when a client at `address` (as a socket reports it) may connect. */
  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
    if (address.startsWith('::ffff:') && net.isIPv4(address.slice(7))) return this.list.check(address.slice(7), 'ipv4');
    return this.list.check(address, net.isIPv4(address) ? 'ipv4' : 'ipv6');
  }
}

export function defaultAccess(): ClientAccess {
  return new ClientAccess(DEFAULT_ALLOW.map((text) => parseCidr(text)!));
}
