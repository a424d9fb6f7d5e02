/**
 * CONNECT (RFC 9110 §9.3.6): a byte-for-byte tunnel to `host:port`, recorded as one exchange
 * (bytes each way, duration, how it ended). A host chosen for interception goes to
 * intercept.ts instead, which terminates the client's TLS; every other CONNECT is tunnelled
 * untouched (`--no-intercept`: pinned clients, Extended Protection).
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createExchange, failExchange, now, type Exchange } from '../core/exchange.js';
import type { ExchangeEvents } from '../core/exchange-events.js';
import { isHostName, parseAuthority } from '../core/origin.js';
import type { ClientConnection } from './client-connection.js';
import { headRefusal, requestHeadOf } from './request-head.js';
import { loopRefusal } from './destination.js';
import type { OwnAddresses } from './own-addresses.js';
import { interceptTunnel, type Interception } from './intercept.js';
import { writeRawAnswer } from './respond.js';

/** The seam for TLS interception: return true when the socket was taken over. */
const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

export interface ConnectContext {
  events: ExchangeEvents;
  upstreamTimeoutMs: number;
  /** Reverse mode answers CONNECT with 405: it stands in for one origin only. */
  reverse: boolean;
  intercept: Interception | undefined;
  /** The proxy's own listening addresses: a tunnel to one of them would loop. */
  own: OwnAddresses;
}

export function handleConnect(ctx: ConnectContext, conn: ClientConnection, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const exchange = createExchange('tunnel', conn.info, requestHeadOf(req));
  ctx.events.emit('started', exchange);
  socket.on('error', () => undefined); // surfaces as 'close'

  let refused = false;
  const refuse = (status: number, code: string, message: string): void => {
    refused = true;
    failExchange(exchange, { code, message, phase: 'connect' });
    const sent = writeRawAnswer(socket, { status, code, message });
    exchange.response = sent.head;
    exchange.bytes.response = sent.bodyBytes;
    exchange.ended = 'refused';
    if (socket.destroyed) end(ctx, exchange);
    else socket.once('close', () => end(ctx, exchange));
  };
  if (ctx.reverse) {
    refuse(405, 'CONNECT_IN_REVERSE_MODE', 'CONNECT is not available in reverse mode (--target); use forward mode for tunnels.');
    return;
  }
  const refusal = headRefusal(req);
  if (refusal !== undefined) {
    refuse(refusal.status, refusal.code, refusal.message);
    return;
  }
  const authority = parseAuthority(exchange.request.url);
  if (!authority.ok || authority.port === undefined) {
    refuse(400, 'BAD_CONNECT_TARGET', `CONNECT needs host:port (got "${exchange.request.url}")`);
    return;
  }
  // Before any certificate is issued for it, or any lookup made: `%%%` is no host (RFC 1123).
  if (!isHostName(authority.hostname)) {
    refuse(400, 'BAD_CONNECT_TARGET', `CONNECT to "${exchange.request.url}": "${authority.hostname}" is neither a host name nor an IP address`);
    return;
  }
  if (ctx.own.includes(authority.hostname, authority.port)) {
    const loop = loopRefusal({ protocol: 'https:', hostname: authority.hostname, port: authority.port, authority: exchange.request.url });
    refuse(loop.status, loop.code, loop.message);
    return;
  }
  if (ctx.intercept?.wants(authority.hostname)) {
    const origin = { protocol: 'https:' as const, hostname: authority.hostname, port: authority.port, authority: exchange.request.url };
    return interceptTunnel(ctx.intercept, ctx.events, conn, exchange, socket, head, origin);
  }

  const upstream = net.connect({ host: authority.hostname, port: authority.port });
  upstream.setNoDelay(true);
  conn.linkUpstream(upstream);
  upstream.setTimeout(ctx.upstreamTimeoutMs, () => upstream.destroy(Object.assign(new Error('connect timed out'), { code: 'UPSTREAM_TIMEOUT' })));
  let connected = false;

  upstream.once('connect', () => {
    connected = true;
    upstream.setTimeout(0);
    exchange.timings.upstreamConnected = now();
    exchange.timings.responseHead = now();
    exchange.upstream = { localAddress: upstream.localAddress, localPort: upstream.localPort, reused: false };
    exchange.response = { statusCode: 200, statusMessage: 'Connection Established', httpVersion: '1.1', rawHeaders: [], source: 'proxy' };
    socket.write(ESTABLISHED);
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream);
    upstream.pipe(socket);
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (!connected) {
      refuse(502, err.code ?? 'ECONNECT', `could not open a tunnel to ${exchange.request.url}: ${err.code ?? ''} (${err.message})`);
      return;
    }
    failExchange(exchange, { code: err.code ?? 'ETUNNEL', message: err.message, phase: 'tunnel' });
    exchange.ended ??= 'error';
  });

  // Byte counts come from the sockets' own counters, so the tunnel adds no per-chunk work.
  const baseRead = socket instanceof net.Socket ? socket.bytesRead : 0;
  const baseWritten = socket instanceof net.Socket ? socket.bytesWritten : 0;
  socket.once('end', () => (exchange.ended ??= 'client-closed'));
  upstream.once('end', () => (exchange.ended ??= 'upstream-closed'));
  // Either side closing ends the tunnel; a refused tunnel instead lets the 502 flush first.
  upstream.once('close', () => {
    if (connected) socket.destroy();
  });
  socket.once('close', () => {
    upstream.destroy();
    if (refused) return; // refuse() finishes the record
    if (!connected) {
      failExchange(exchange, { code: 'CLIENT_ABORTED', message: 'the client closed the connection while the tunnel was opening', phase: 'connect' });
      exchange.ended = 'client-closed';
      end(ctx, exchange);
      return;
    }
    if (socket instanceof net.Socket) {
      exchange.bytes.request = socket.bytesRead - baseRead + head.length;
      exchange.bytes.response = Math.max(0, socket.bytesWritten - baseWritten - ESTABLISHED.length);
    }
    exchange.ended ??= 'closed';
    end(ctx, exchange);
  });
}

function end(ctx: ConnectContext, exchange: Exchange): void {
  exchange.timings.end = now();
  ctx.events.emit('finished', exchange);
}
