/**
 * Where a request goes, from its request-target (RFC 9112 §3.2): forward mode takes the origin
 * from the absolute-form URL and sends the origin-form path on; reverse mode sends every path to
 * the configured target. The path is cut out of the request-target as text, never re-serialised,
 * so `//`, `..` and percent-escapes reach the upstream exactly as the client wrote them.
 */
import { defaultPort, originUrl, parseAuthority, type Origin } from '../core/origin.js';
import type { OwnAddresses } from './own-addresses.js';

export type Destination =
  | { ok: true; origin: Origin; path: string }
  | { ok: false; status: number; code: string; message: string };

const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/;

export function resolveDestination(requestTarget: string, target: Origin | undefined, own?: OwnAddresses): Destination {
  const destination = destinationOf(requestTarget, target);
  if (destination.ok && own?.includes(destination.origin.hostname, destination.origin.port)) return loopRefusal(destination.origin);
  return destination;
}

/**
 * A request to the proxy's own listener would come back in as a new request, again and again.
 * 508 Loop Detected (RFC 5842 §7.2) says exactly that, and no upstream is contacted.
 */
export function loopRefusal(origin: Origin): Destination & { ok: false } {
  return {
    ok: false,
    status: 508,
    code: 'FORWARDING_LOOP',
    message: `${originUrl(origin)} is this proxy's own listening address: forwarding to it would loop; send the request to the real server`,
  };
}

function destinationOf(requestTarget: string, target: Origin | undefined): Destination {
  if (target !== undefined) {
    // Reverse mode: a client may still send absolute-form (RFC 9112 §3.2.2 says servers must
    // accept it); only its path part is meaningful here.
    const absolute = ABSOLUTE_FORM.exec(requestTarget);
    return { ok: true, origin: target, path: absolute ? originForm(absolute[3]!) : requestTarget };
  }

  const absolute = ABSOLUTE_FORM.exec(requestTarget);
  if (!absolute) {
    return {
      ok: false,
      status: 400,
      code: 'NOT_A_PROXY_REQUEST',
      message:
        `"${requestTarget}" is not an absolute URL. This is a forward proxy: configure it as the ` +
        'client\'s HTTP proxy, or start it with --target URL to stand in for one server.',
    };
  }
  const scheme = absolute[1]!.toLowerCase();
  // Some clients send https:// URLs to their proxy in plain text (instead of CONNECT): the proxy
  // then speaks TLS to the upstream itself.
  if (scheme !== 'http' && scheme !== 'https') {
    return { ok: false, status: 400, code: 'UNSUPPORTED_SCHEME', message: `"${scheme}://" is not an HTTP URL.` };
  }
  const protocol = scheme === 'https' ? 'https:' : 'http:';
  const at = absolute[2]!.lastIndexOf('@');
  if (at >= 0) {
    // RFC 9110 §4.2.4: a sender must not put userinfo in an http(s) URL. The message lands in the
    // answer, the record and the log, so it names the host and never the credentials.
    return {
      ok: false,
      status: 400,
      code: 'BAD_AUTHORITY',
      message: `"…@${absolute[2]!.slice(at + 1)}": user information (user:password@) is not allowed in a request URL (RFC 9110 §4.2.4); send credentials in an Authorization header.`,
    };
  }
  const authority = parseAuthority(absolute[2]!);
  if (!authority.ok) {
    return { ok: false, status: 400, code: 'BAD_AUTHORITY', message: `"${absolute[2]!}": ${authority.reason}.` };
  }
  return {
    ok: true,
    origin: { protocol, hostname: authority.hostname, port: authority.port ?? defaultPort(protocol), authority: absolute[2]! },
    path: originForm(absolute[3]!),
  };
}

/** The part after the authority, as origin-form: `''` → `/`, `?q` → `/?q`, fragments dropped. */
function originForm(rest: string): string {
  const hash = rest.indexOf('#');
  const withoutFragment = hash >= 0 ? rest.slice(0, hash) : rest;
  if (withoutFragment.length === 0) return '/';
  return withoutFragment.startsWith('/') ? withoutFragment : `/${withoutFragment}`;
}
