/**
 * Where a request goes: scheme, host and port, plus the authority as it would appear in a Host
 * header. Parsed by hand from the request-target so that nothing about the path is normalised
 * on the way (the WHATWG URL parser rewrites `..`, percent-encoding and empty segments).
 */
import { isIP } from 'node:net';

export interface Origin {
  protocol: 'http:' | 'https:';
  /** Host name or IP address, without brackets. */
  hostname: string;
  port: number;
  /** `host[:port]` as the client or the user spelled it (for Host headers and records). */
  authority: string;
}

export type AuthorityResult = { ok: true; hostname: string; port: number | undefined } | { ok: false; reason: string };

/** Splits `host`, `host:port`, `[v6]` or `[v6]:port`. Userinfo is refused (RFC 9110 §4.2.4). */
export function parseAuthority(authority: string): AuthorityResult {
  if (authority.length === 0) return { ok: false, reason: 'no host' };
  if (authority.includes('@')) return { ok: false, reason: 'user information in the authority is not allowed' };
  let hostname: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return { ok: false, reason: `unclosed "[" in "${authority}"` };
    hostname = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(':')) return { ok: false, reason: `unexpected "${rest}" after "]"` };
      portText = rest.slice(1);
    }
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      hostname = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    } else {
      hostname = authority;
    }
  }
  if (hostname.length === 0) return { ok: false, reason: 'no host' };
  if (!/^[A-Za-z0-9._~%!$&'()*+,;=:-]+$/.test(hostname)) return { ok: false, reason: `"${hostname}" is not a host name` };
  if (portText === undefined || portText === '') return { ok: true, hostname, port: undefined };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    return { ok: false, reason: `port "${portText}" is not a number from 1 to 65535` };
  }
  return { ok: true, hostname, port: Number(portText) };
}

/**
 * A name a connection can be opened to and a certificate issued for: an IP literal, or a host
 * name of RFC 1123 §2.1 labels (letters, digits, hyphens, 1 to 63 characters, not starting or
 * ending with a hyphen, 253 characters in all, one trailing dot allowed). `_` is tolerated, as
 * internal networks use it. Percent-escapes and the other reg-name characters RFC 3986 allows
 * are not names any resolver knows.
 */
export function isHostName(hostname: string): boolean {
  if (isIP(hostname) !== 0) return true;
  return hostname.length <= 254 && HOST_NAME.test(hostname);
}

const HOST_NAME = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?$/;

export function defaultPort(protocol: Origin['protocol']): number {
  return protocol === 'https:' ? 443 : 80;
}

/** `http://host:port` (the port left out when it is the scheme's default), brackets added for IPv6 literals. */
export function originUrl(origin: Origin): string {
  const host = origin.hostname.includes(':') ? `[${origin.hostname}]` : origin.hostname;
  return origin.port === defaultPort(origin.protocol) ? `${origin.protocol}//${host}` : `${origin.protocol}//${host}:${origin.port}`;
}
