/**
 * Who may talk to the control server. Three checks, each answering a known attack on local
 * developer APIs (mitmweb's CVE-2025-23217 among them):
 * - `Host` must name the address the server is bound to: a DNS-rebinding page reaches the port
 *   under its own name (RFC 9110 §7.2: Host is the authority the client meant to reach);
 * - a browser request marked cross-site (`Sec-Fetch-Site`, Fetch Metadata) or carrying an
 *   `Origin` other than the server's own (RFC 6454 §7) is refused before the token is looked at;
 * - `Authorization: Bearer <token>` (RFC 6750 §2.1), compared in constant time.
 * No CORS header is ever sent, so no browser page of another origin can read an answer.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { hostname as machineName, networkInterfaces } from 'node:os';
import { tokenMatches } from './token.js';

export interface Refusal {
  status: 401 | 403;
  code: string;
  error: string;
}

/** The `host[:port]` spellings that name this listener, lower case. */
export function allowedHosts(boundHost: string, port: number): Set<string> {
  const names = new Set<string>();
  const add = (host: string): void => {
    const h = host.toLowerCase().split('%')[0]!;
    const spelled = h.includes(':') ? `[${h}]` : h;
    names.add(`${spelled}:${port}`);
    if (port === 80) names.add(spelled);
  };
  add(boundHost);
  const loopback = boundHost === '127.0.0.1' || boundHost === '::1' || boundHost.startsWith('127.');
  const wildcard = boundHost === '0.0.0.0' || boundHost === '::';
  if (loopback || wildcard) add('localhost');
  if (wildcard) {
    // Bound to every interface: each address of this machine, and its name, reach it.
    add(machineName());
    for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) add(entry.address);
  }
  return names;
}

export function checkRequest(headers: IncomingHttpHeaders, hosts: ReadonlySet<string>, token: string, isPublic = false): Refusal | undefined {
  const host = headers.host?.toLowerCase();
  if (host === undefined || !hosts.has(host)) {
    return { status: 403, code: 'FORBIDDEN_HOST', error: `Host "${headers.host ?? ''}" is not this control server's address; use one of ${[...hosts].join(', ')} (names that reach it through DNS are refused, against DNS rebinding)` };
  }
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    return { status: 403, code: 'CROSS_SITE', error: `a ${site} browser request (Sec-Fetch-Site) is refused; call the control API from test code or a terminal, not from another web page` };
  }
  const origin = headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== `http://${host}`) {
    return { status: 403, code: 'CROSS_SITE', error: `Origin ${origin} is not this control server's own (http://${host}); call the control API from test code or a terminal, not from another web page` };
  }
  if (isPublic) return undefined;
  const auth = headers.authorization;
  const match = auth === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
  if (match === null) {
    return { status: 401, code: 'UNAUTHORIZED', error: 'no bearer token: send Authorization: Bearer <token>, the token being the content of the file named by --control-token-file (the listening line says where)' };
  }
  if (!tokenMatches(match[1]!, token)) {
    return { status: 401, code: 'UNAUTHORIZED', error: "wrong bearer token: read this run's token again from the --control-token-file file (each run writes a new one)" };
  }
  return undefined;
}
