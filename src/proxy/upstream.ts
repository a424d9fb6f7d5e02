/**
 * The upstream request: the only place that opens HTTP requests to upstreams, and where an HTTP
 * exchange's upstream socket gets its idle timeout and its connection time on the record.
 *
 * Built on node:http with the head given as a raw header array, which Node writes exactly as
 * given: order, case and repeated fields (docs/running.md "Fidelity"). http-proxy, which the design
 * card first put here, cannot do that: it copies headers with util._extend, which iterates keys
 * backwards (every forwarded head arrives reversed), its object headers make Node join repeated
 * Cookie lines, its urlJoin collapses `//` in paths, and it skips its proxyReq hook when Expect
 * is present. It remains the benchmark's floor (bench/floor-proxy.ts).
 *
 * The only field Node adds is its own `Connection: keep-alive` for the proxy's hop to the
 * upstream (the client connection's agent keeps the connection for it, see affinity-agent.ts).
 */
import http, { type Agent, type ClientRequest } from 'node:http';
import type { AffinityAgent } from './affinity-agent.js';
import https from 'node:https';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { now, type Exchange } from '../core/exchange.js';
import type { UpstreamTls } from './upstream-tls.js';
import type { Origin } from '../core/origin.js';
import { getHeader, type RawHeaders } from '../core/raw-headers.js';

export interface UpstreamPlan {
  origin: Origin;
  method: string;
  /** Origin-form request-target, sent exactly as given. */
  path: string;
  /** The complete head, Host included (see forward-head.ts). */
  rawHeaders: RawHeaders;
  /** The client connection's own agent (affinity); `false` for a connection of its own. */
  agent: AffinityAgent | false;
  /** Trust and verification for an https: origin (upstream-tls.ts). */
  upstreamTls: UpstreamTls;
}

export function openUpstreamRequest(plan: UpstreamPlan): ClientRequest {
  const options = {
    host: plan.origin.hostname,
    port: plan.origin.port,
    method: plan.method,
    path: plan.path,
    headers: plan.rawHeaders,
    // ClientRequest asks an agent for addRequest only (affinity-agent.ts).
    agent: plan.agent as Agent | false,
    setHost: false,
  };
  const proxyReq = plan.origin.protocol === 'https:' ? https.request(Object.assign(options, plan.upstreamTls.optionsFor(plan.origin.hostname))) : http.request(options);
  // Every response header line reaches the client: Node would keep the first 2000 and drop the
  // rest silently (server.ts does the same for requests); its 16 KiB head cap still applies.
  proxyReq.maxHeadersCount = 0;
  // A client that sent `Expect: 100-continue` waits for 100 before sending its body, so the head
  // has to leave now rather than with the first body bytes (RFC 9110 §10.1.1).
  if (getHeader(plan.rawHeaders, 'expect') !== undefined) proxyReq.flushHeaders();
  return proxyReq;
}

/** The socket an HTTP exchange's upstream request was given (its 'socket' event). */
export function watchUpstreamSocket(exchange: Exchange, proxyReq: ClientRequest, socket: Socket, timeoutMs: number): void {
  // Idle timeout: no bytes either way for this long (a long poll's PENDING lines reset it).
  // Set on the socket once and kept while it idles (it then concerns no exchange); the
  // connection's listener brings it to the exchange in flight (http-exchange.ts, upstreamTimedOut).
  if (socket.timeout !== timeoutMs) socket.setTimeout(timeoutMs);
  const connected = (): void => {
    exchange.timings.upstreamConnected = now();
    exchange.upstream = { localAddress: socket.localAddress, localPort: socket.localPort, reused: proxyReq.reusedSocket };
  };
  // A TLS upstream is connected once its handshake is through: a certificate refused before
  // that means the request never left (phase connect).
  if (socket instanceof TLSSocket && !proxyReq.reusedSocket) socket.once('secureConnect', connected);
  else if (socket.connecting) socket.once('connect', connected);
  else connected();
}
