/**
 * The request head the upstream receives, built from the client's raw head: connection-specific
 * fields removed (RFC 9110 §7.6.1), Host set the way the mode requires, X-Forwarded-* added only
 * when asked for. Everything else keeps its order, case and repetition.
 */
import type { Exchange } from '../core/exchange.js';
import { originUrl, type Origin } from '../core/origin.js';
import type { RawHeaders } from '../core/raw-headers.js';
import { stripHopByHop } from './hop-by-hop.js';

export interface ForwardHeadOptions {
  mode: 'forward' | 'reverse';
  origin: Origin;
  keepHost: boolean;
  forwarded: boolean;
  clientAddress: string;
  /** Keep Connection/Upgrade (an upgrade request). */
  upgrade?: boolean;
}

export interface ForwardHead {
  rawHeaders: RawHeaders;
  /** False when the head is exactly what the client sent. */
  changed: boolean;
}

export function buildForwardHead(raw: RawHeaders, options: ForwardHeadOptions): ForwardHead {
  const stripped = stripHopByHop(raw, { upgrade: options.upgrade, dropProxyAuthorization: options.mode === 'forward' });
  let headers = stripped.headers;
  let changed = stripped.removed.length > 0;
  const copy = (): RawHeaders => (headers === raw ? (headers = raw.slice()) : headers);

  // RFC 9112 §3.2.2: a proxy replaces Host with the authority of an absolute-form target.
  // Reverse mode stands in for the target, so the upstream expects its own name unless told
  // to keep the client's (--keep-host).
  const host = options.mode === 'forward' || !options.keepHost ? options.origin.authority : undefined;
  let originalHost: string | undefined;
  let hostSeen = false;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length === 4 && headers[i]!.toLowerCase() === 'host') {
      originalHost ??= headers[i + 1];
      hostSeen = true;
      if (host !== undefined && headers[i + 1] !== host) {
        copy()[i + 1] = host;
        changed = true;
      }
    }
  }
  if (!hostSeen && host !== undefined) {
    headers = [ 'Host', host, ...headers ];
    changed = true;
  }

  if (options.forwarded) {
    appendForwarded(copy(), 'X-Forwarded-For', options.clientAddress, true);
    appendForwarded(headers, 'X-Forwarded-Proto', 'http', false);
    if (originalHost !== undefined) appendForwarded(headers, 'X-Forwarded-Host', originalHost, false);
    changed = true;
  }
  return { rawHeaders: headers, changed };
}

/** Appends to an existing list (`X-Forwarded-For: a, b`), or adds the field when absent. */
function appendForwarded(headers: RawHeaders, name: string, value: string, list: boolean): void {
  const lower = name.toLowerCase();
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === lower) {
      if (list) headers[i + 1] = `${headers[i + 1]!}, ${value}`;
      return;
    }
  }
  headers.push(name, value);
}

export interface Routing {
  /** Reverse mode when set. */
  target: Origin | undefined;
  keepHost: boolean;
  forwarded: boolean;
}

/**
 * The routing of a client connection: the proxy's own, or, inside an intercepted CONNECT tunnel,
 * reverse-mode routing to the origin the client CONNECTed to, with the client's own Host.
 */
export function routingOf(routing: Routing, tunnel: Origin | undefined): Routing {
  return tunnel === undefined ? routing : { target: tunnel, keepHost: true, forwarded: routing.forwarded };
}

/**
 * Plans the forwarded request of an exchange whose destination is known: sets `exchange.url`,
 * records `exchange.forwarded` when the upstream gets something other than what the client sent,
 * and returns the head to send.
 */
export function planForward(exchange: Exchange, destination: { origin: Origin; path: string }, routing: Routing, upgrade = false): string[] {
  exchange.url = originUrl(destination.origin) + destination.path;
  const head = buildForwardHead(exchange.request.rawHeaders, {
    mode: routing.target === undefined ? 'forward' : 'reverse',
    origin: destination.origin,
    keepHost: routing.keepHost,
    forwarded: routing.forwarded,
    clientAddress: exchange.client.address,
    upgrade,
  });
  if (head.changed || destination.path !== exchange.request.url) exchange.forwarded = { path: destination.path, rawHeaders: head.rawHeaders };
  return head.rawHeaders;
}
