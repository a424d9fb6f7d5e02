/**
 * Protocol upgrades (WebSocket), RFC 9110 §7.8: the request head goes upstream from raw headers
 * with `Connection: Upgrade` and `Upgrade` kept; a 101 answer is relayed byte-faithfully and the
 * two sockets are joined. Either side closing or failing destroys both. Any other answer is relayed
 * as a complete response and the connection closed, since the client's socket has already left
 * the HTTP server.
 * When recording is on (`captureBytes` > 0), a WebSocket's frames are read beside the pipe, never
 * in it, and its messages go on the record (`exchange.websocket`, protocols/websocket-frames.ts).
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createExchange, failExchange, now } from '../core/exchange.js';
import type { ExchangeEvents } from '../core/exchange-events.js';
import { originUrl, type Origin } from '../core/origin.js';
import { getHeader, getHeaderValues } from '../core/raw-headers.js';
import { negotiatesPerMessageDeflate, WebSocketCapture } from '../protocols/websocket-frames.js';
import type { ClientConnection } from './client-connection.js';
import { resolveDestination } from './destination.js';
import type { UpstreamTls } from './upstream-tls.js';
import { planForward, routingOf } from './forward-head.js';
import { headRefusal, requestHeadOf } from './request-head.js';
import type { OwnAddresses } from './own-addresses.js';
import { stripHopByHop } from './hop-by-hop.js';
import { serializeHead, writeRawAnswer } from './respond.js';
import { openUpstreamRequest } from './upstream.js';

export interface UpgradeContext {
  events: ExchangeEvents;
  target: Origin | undefined;
  keepHost: boolean;
  forwarded: boolean;
  upstreamTimeoutMs: number;
  upstreamTls: UpstreamTls;
  /** Payload bytes of WebSocket messages kept per direction on the record; 0 keeps none. */
  captureBytes: number;
  /** The proxy's own listening addresses: an upgrade to one of them would loop. */
  own: OwnAddresses;
}

export function handleUpgrade(ctx: UpgradeContext, conn: ClientConnection, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const exchange = createExchange('upgrade', conn.info, requestHeadOf(req));
  ctx.events.emit('started', exchange);
  socket.on('error', () => undefined); // surfaces as 'close'
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    exchange.timings.end = now();
    ctx.events.emit('finished', exchange);
  };
  const refuse = (status: number, code: string, message: string, phase: 'request-head' | 'connect' | 'response-head'): void => {
    failExchange(exchange, { code, message, phase });
    exchange.timings.responseHead ??= now();
    const sent = writeRawAnswer(socket, { status, code, message });
    exchange.response = sent.head;
    exchange.bytes.response = sent.bodyBytes;
    if (socket.destroyed) finish();
    else socket.once('close', finish);
  };

  // Inside an intercepted tunnel, routed to the CONNECTed origin (as in http-exchange.ts).
  const routing = routingOf(ctx, conn.tunnel?.origin);
  if (conn.tunnel !== undefined) exchange.intercepted = true;
  const refusal = headRefusal(req);
  if (refusal !== undefined) {
    refuse(refusal.status, refusal.code, refusal.message, 'request-head');
    return;
  }
  const dest = resolveDestination(exchange.request.url, routing.target, ctx.own);
  if (!dest.ok) {
    refuse(dest.status, dest.code, dest.message, 'request-head');
    return;
  }
  const rawHeaders = planForward(exchange, dest, routing, true);

  // A connection of its own: after a 101 it is no longer HTTP and belongs to this client alone.
  const proxyReq = openUpstreamRequest({
    origin: dest.origin,
    method: exchange.request.method,
    path: dest.path,
    rawHeaders,
    agent: false,
    upstreamTls: ctx.upstreamTls,
  });
  proxyReq.setTimeout(ctx.upstreamTimeoutMs, () => proxyReq.destroy(Object.assign(new Error(`no answer for ${ctx.upstreamTimeoutMs / 1000} s`), { code: 'UPSTREAM_TIMEOUT' })));
  proxyReq.once('socket', (s) => {
    conn.link(s);
    s.once('connect', () => (exchange.timings.upstreamConnected = now()));
  });
  socket.once('close', () => {
    proxyReq.destroy();
    if (!exchange.response) {
      failExchange(exchange, { code: 'CLIENT_ABORTED', message: 'the client closed the connection before the upgrade was answered', phase: 'response-head' });
      finish();
    }
  });

  proxyReq.on('error', (err: NodeJS.ErrnoException) => {
    if (exchange.response) return;
    const code = err.code ?? 'EUPSTREAM';
    const connected = exchange.timings.upstreamConnected !== undefined;
    const phase = connected ? 'response-head' : 'connect';
    refuse(code === 'UPSTREAM_TIMEOUT' ? 504 : 502, code, `${connected ? 'the upstream failed before answering the upgrade' : 'could not connect to the upstream'} ${originUrl(dest.origin)}: ${code} (${err.message})`, phase);
  });

  proxyReq.once('upgrade', (res: IncomingMessage, upstream: net.Socket, upstreamHead: Buffer) => {
    proxyReq.setTimeout(0);
    upstream.setTimeout(0);
    exchange.timings.responseHead = now();
    exchange.response = { statusCode: res.statusCode ?? 101, statusMessage: res.statusMessage ?? '', httpVersion: res.httpVersion, rawHeaders: res.rawHeaders, source: 'upstream' };
    exchange.upstream = { localAddress: upstream.localAddress, localPort: upstream.localPort, reused: false };
    conn.link(upstream);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      failExchange(exchange, { code: err.code ?? 'EUPGRADED', message: err.message, phase: 'tunnel' });
    });
    socket.write(serializeHead(exchange.response.statusCode, exchange.response.statusMessage, res.rawHeaders));
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) upstream.write(head);
    const countUp = (chunk: Buffer): void => void (exchange.bytes.request += chunk.length);
    const countDown = (chunk: Buffer): void => void (exchange.bytes.response += chunk.length);
    exchange.bytes.request += head.length;
    exchange.bytes.response += upstreamHead.length;
    socket.on('data', countUp);
    upstream.on('data', countDown);
    socket.pipe(upstream);
    upstream.pipe(socket);
    // Listening after the pipes: each chunk is on its way before the reader sees it.
    const capture = captureOf(ctx, res);
    if (capture !== undefined) {
      capture.client.push(head);
      capture.server.push(upstreamHead);
      socket.on('data', (chunk: Buffer) => capture.client.push(chunk));
      upstream.on('data', (chunk: Buffer) => capture.server.push(chunk));
    }
    socket.once('end', () => (exchange.ended ??= 'client-closed'));
    upstream.once('end', () => (exchange.ended ??= 'upstream-closed'));
    const close = (): void => {
      socket.destroy();
      upstream.destroy();
      exchange.ended ??= exchange.error ? 'error' : 'closed';
      if (capture !== undefined) exchange.websocket = capture.end();
      finish();
    };
    socket.once('close', close);
    upstream.once('close', close);
  });

  proxyReq.once('response', (res: IncomingMessage) => {
    // The upstream declined the upgrade: relay its answer whole, close-delimited.
    exchange.timings.responseHead = now();
    const stripped = stripHopByHop(res.rawHeaders).headers;
    const headers: string[] = [];
    for (let i = 0; i < stripped.length; i += 2) {
      const name = stripped[i]!.toLowerCase();
      if (name !== 'transfer-encoding' && name !== 'content-length') headers.push(stripped[i]!, stripped[i + 1]!);
    }
    headers.push('Connection', 'close');
    exchange.response = { statusCode: res.statusCode ?? 502, statusMessage: res.statusMessage ?? '', httpVersion: res.httpVersion, rawHeaders: headers, source: 'upstream' };
    exchange.upstreamResponse = { ...exchange.response, rawHeaders: res.rawHeaders };
    socket.write(serializeHead(exchange.response.statusCode, exchange.response.statusMessage, headers));
    res.on('data', (chunk: Buffer) => (exchange.bytes.response += chunk.length));
    res.pipe(socket);
    res.on('error', () => socket.destroy());
    socket.once('close', finish);
  });

  // An upgrade request has no body of its own; bytes after its head go upstream after the 101.
  proxyReq.end();
}

/**
 * A reader of the frames when recording is on and the 101 switched to WebSocket (RFC 6455 §4.2.2);
 * other protocols (any `Upgrade` token) pass unread. None when the capture limit is 0: no cost.
 */
function captureOf(ctx: UpgradeContext, res: IncomingMessage): WebSocketCapture | undefined {
  if (ctx.captureBytes <= 0 || res.statusCode !== 101) return undefined;
  if (getHeader(res.rawHeaders, 'upgrade')?.trim().toLowerCase() !== 'websocket') return undefined;
  return new WebSocketCapture({
    captureBytes: ctx.captureBytes,
    perMessageDeflate: negotiatesPerMessageDeflate(getHeaderValues(res.rawHeaders, 'sec-websocket-extensions')),
  });
}
