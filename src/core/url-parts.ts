/**
 * The host and path of a recorded exchange's URL, cut out by index rather than by `new URL()`:
 * a filter (filter.ts) may test every exchange of a live feed or of a journal of millions, and a
 * WHATWG parse costs microseconds and allocates a whole URL object for two substrings.
 *
 * Exchange.url is the absolute URL addressed (`http://host:port/path?query`, RFC 9112 3.2.2),
 * or `host:port` for a tunnel (the CONNECT authority-form, RFC 9112 3.2.3). The host is
 * compared as written there, with its port when one was written (`host:port`) and without it
 * (`hostname`); an IPv6 literal keeps its brackets, as URL.hostname does.
 */

export interface UrlParts {
  /** `exchange.lab`, `[::1]`: the authority without userinfo and port. */
  hostname: string;
  /** `exchange.lab:8080`: the authority without userinfo (equal to `hostname` when no port was written). */
  host: string;
  /** The path without query or fragment, as sent (percent-encoded); `/` for an absolute URL without one, empty for a tunnel. */
  path: string;
}

export function urlParts(url: string, tunnel: boolean): UrlParts {
  let start = 0;
  if (!tunnel) {
    const scheme = url.indexOf('://');
    // Origin-form (`/path`) is not stored as Exchange.url, but a reader of old journals may meet it.
    if (scheme < 0) return { hostname: '', host: '', path: url.slice(0, endOfPath(url, 0)) };
    start = scheme + 3;
  }
  let end = start;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === SLASH || c === QUESTION || c === HASH) break;
    end += 1;
  }
  const at = url.lastIndexOf('@', end - 1);
  if (at >= start) start = at + 1;
  const host = url.slice(start, end).toLowerCase();
  const close = host.lastIndexOf(']');
  const colon = host.lastIndexOf(':');
  const hostname = colon > close ? host.slice(0, colon) : host;
  if (tunnel) return { hostname, host, path: '' };
  const pathEnd = endOfPath(url, end);
  return { hostname, host, path: pathEnd > end ? url.slice(end, pathEnd) : '/' };
}

const SLASH = 0x2f;
const QUESTION = 0x3f;
const HASH = 0x23;

function endOfPath(url: string, from: number): number {
  for (let i = from; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === QUESTION || c === HASH) return i;
  }
  return url.length;
}
