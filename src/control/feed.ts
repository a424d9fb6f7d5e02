/**
 * The live feed over WebSocket (RFC 6455), the one file that imports `ws`: the server side,
 * attached to the control server's Upgrade requests, and the client side `./proxy tail` uses.
 * What the feed sends and when is feed-hub.ts; this file checks who asks, opens the socket, and
 * adapts it (docs/control-api.md "Live feed").
 *
 * Every check of an ordinary request applies before the upgrade (guard.ts: Host, cross-site
 * `Origin`/`Sec-Fetch-Site`, the token), and each refusal is an HTTP answer with the API's JSON
 * error, logged as other refusals are. Browsers cannot set `Authorization` on a WebSocket, so
 * the token may come as the subprotocol `bearer.<token>`; offered beside `version-proxy.v1`, that
 * one is selected and the token is not echoed back (RFC 6455 §4.2.2 /subprotocol/).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { MATCH_ALL, type Filter } from '../core/filter.js';
import type { Redactor } from '../record/redact.js';
import { ApiError } from './api-error.js';
import type { ExchangeSummary } from './exchange-summary.js';
import type { EventBatch } from './event-ring.js';
import { FeedHub, type FeedLimits, type Peer } from './feed-hub.js';
import { EVENTS_PATH, EVENTS_ROUTE } from './feed-route.js';
import type { Refusal } from './guard.js';
import { parseArgs } from './routes.js';

/** The subprotocol a browser offers beside `bearer.<token>`, so that the token is not echoed. */
export const FEED_PROTOCOL = 'version-proxy.v1';
const BEARER_PREFIX = 'bearer.';
/** How long subscribers get to answer the closing handshake when the proxy stops. */
const CLOSE_GRACE_MS = 1000;

export type FeedMessage =
  | { seq: number; type: 'started' | 'finished'; time: number; exchange: ExchangeSummary }
  | { seq: number; type: 'missed'; missed: number };

/** The guard's verdict on a request's headers (server.ts binds it to its Host names and token). */
export type Guard = (headers: IncomingHttpHeaders) => Refusal | undefined;

export class LiveFeed {
  readonly hub: FeedHub;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  /** Upgrades accepted but not yet open: they count toward the subscriber cap. */
  private pending = 0;
  private closing = false;

  constructor(
    redactor: Redactor,
    private readonly logger: Logger,
    limits: Partial<FeedLimits> = {},
  ) {
    this.hub = new FeedHub(redactor, logger, limits);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // The feed only talks: a subscriber's own messages are ignored, and kept small.
      maxPayload: 4096,
      perMessageDeflate: false,
      handleProtocols: (offered) => (offered.has(FEED_PROTOCOL) ? FEED_PROTOCOL : ([...offered].find((p) => p.startsWith(BEARER_PREFIX)) ?? false)),
    });
    // Which run the seqs count in, for a client that reconnects after a restart (RFC 6455 §4.2.2
    // lets the 101 carry more header fields).
    this.wss.on('headers', (headers) => headers.push(`X-Feed-Run: ${this.hub.run}`));
  }

  /** The control server's 'upgrade' listener (node:http hands over the socket and the bytes after the head). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, guard: Guard): void {
    // Errors before ws owns the socket (a reset mid-handshake) must not reach the process.
    socket.on('error', () => socket.destroy());
    // Stopping: no new subscriber (the server's close waits for every socket).
    if (this.closing) return void socket.destroy();
    const url = new URL(req.url ?? '/', 'http://control.invalid');
    const refusal = guard(withSubprotocolToken(req.headers));
    if (refusal !== undefined) {
      this.logger.warn({ remote: req.socket.remoteAddress, method: req.method, path: url.pathname, host: req.headers.host, origin: req.headers.origin, code: refusal.code }, 'control request refused');
      return answer(socket, refusal.status, { error: refusal.error, code: refusal.code }, refusal.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="version-proxy control"' } : {});
    }
    let filter: Filter = MATCH_ALL;
    let since: number | undefined;
    try {
      if (url.pathname !== EVENTS_PATH) throw new ApiError(404, 'NOT_FOUND', `only ${EVENTS_PATH} takes a WebSocket upgrade, not ${url.pathname}`);
      if (req.method !== 'GET') throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${EVENTS_PATH} takes GET, not ${req.method ?? ''}`, undefined, { Allow: 'GET' });
      const args = parseArgs(EVENTS_ROUTE, {}, url.searchParams);
      if (args.filter !== undefined) filter = args.filter as Filter;
      since = args.since as number | undefined;
      // A since of another run counts from this one's start: its seqs name other events.
      if (since !== undefined && args.run !== undefined && args.run !== this.hub.run) since = 0;
      if (since !== undefined && since > this.hub.seq) {
        throw new ApiError(400, 'BAD_QUERY', `since=${since} is past this run's last event (${this.hub.seq}): the proxy was restarted; connect without since, or with run= set to the X-Feed-Run of the connection since came from`);
      }
      if (this.hub.count + this.pending >= this.hub.limits.maxSubscribers) {
        throw new ApiError(503, 'TOO_MANY_SUBSCRIBERS', `the feed has its ${this.hub.limits.maxSubscribers} subscribers; close one (a forgotten ./proxy tail?) and try again`, undefined, { 'Retry-After': '5' });
      }
    } catch (err) {
      // Thrown in an 'upgrade' listener, an error would end the process: a bug is a 500 here.
      if (!(err instanceof ApiError)) {
        this.logger.error({ err, path: url.pathname }, 'control route failed');
        return answer(socket, 500, { error: 'the control server failed on this request (logged); report it with the log line', code: 'INTERNAL' }, {});
      }
      this.logger.info({ remote: req.socket.remoteAddress, path: url.pathname, code: err.code }, 'feed subscription refused');
      return answer(socket, err.status, err.body(), err.headers);
    }
    this.pending += 1;
    let opened = false;
    socket.once('close', () => {
      if (!opened) this.pending -= 1;
    });
    // ws answers a malformed handshake (no Sec-WebSocket-Key, an unknown version) with 400 itself.
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      opened = true;
      this.pending -= 1;
      this.open(ws, socket, filter, since, req.socket.remoteAddress ?? '?');
    });
  }

  /** Tells every subscriber the proxy is stopping, and ends those that do not close in time. */
  async close(): Promise<void> {
    this.closing = true;
    this.hub.close();
    const open = [...this.sockets];
    await Promise.race([
      Promise.all(open.map((ws) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve()))))),
      new Promise<void>((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref()),
    ]);
    for (const ws of this.sockets) ws.terminate();
  }

  private open(ws: WebSocket, socket: Duplex, filter: Filter, since: number | undefined, remote: string): void {
    this.sockets.add(ws);
    const peer: Peer = {
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      send: (data) => ws.send(data, { binary: false }),
      // A batch's messages leave as text frames written by this file, all in one write on the
      // socket ws reads from: ws.send() per message made a frame, a Buffer list and a write
      // each. Whole frames between ws's own writes keep the stream well formed: with
      // perMessageDeflate off, ws writes each of its frames (pings, close) at once and queues
      // nothing. Nothing is sent once the closing handshake has begun (RFC 6455 §5.5.1).
      sendBatch: (batch, only) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        socket.write(only === undefined ? (batch.wire ??= textFrames(batch)) : textFrames(batch, only));
      },
      ping: () => ws.ping(),
      close: (code, reason) => ws.close(code, reason),
      terminate: () => ws.terminate(),
    };
    const subscriber = this.hub.add(peer, filter, remote, since);
    ws.on('pong', () => this.hub.pong(subscriber));
    ws.on('error', (err) => this.logger.debug({ err, remote }, 'feed subscriber error'));
    ws.once('close', () => {
      this.sockets.delete(ws);
      this.hub.remove(subscriber);
    });
  }
}

/**
 * Messages of a batch (those at `only`, or all) as unmasked, unfragmented text frames back to
 * back (RFC 6455 §5.2: FIN set, opcode 0x1; a server masks nothing, §5.1; the payload length in
 * the fewest bytes: 7 bits, or 126 and 16 bits, or 127 and 64 bits).
 */
export function textFrames(batch: EventBatch, only?: readonly number[]): Buffer {
  const count = only?.length ?? batch.count;
  let size = 0;
  for (let k = 0; k < count; k++) {
    const i = only === undefined ? k : only[k]!;
    const length = batch.ends[i]! - (i === 0 ? 0 : batch.ends[i - 1]!);
    size += length + (length < 126 ? 2 : length < 65536 ? 4 : 10);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let k = 0; k < count; k++) {
    const i = only === undefined ? k : only[k]!;
    const start = i === 0 ? 0 : batch.ends[i - 1]!;
    const length = batch.ends[i]! - start;
    out[at++] = 0x81;
    if (length < 126) {
      out[at++] = length;
    } else if (length < 65536) {
      out[at++] = 126;
      out.writeUInt16BE(length, at);
      at += 2;
    } else {
      out[at++] = 127;
      out.writeUInt32BE(Math.floor(length / 2 ** 32), at);
      out.writeUInt32BE(length >>> 0, at + 4);
      at += 8;
    }
    at += batch.payload.copy(out, at, start, start + length);
  }
  return out;
}

/**
 * The headers as the guard should judge them: a `bearer.<token>` subprotocol stands for
 * `Authorization: Bearer <token>` when no Authorization header was sent.
 */
function withSubprotocolToken(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const offered = headers['sec-websocket-protocol'];
  if (headers.authorization !== undefined || offered === undefined) return headers;
  const bearer = offered
    .split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith(BEARER_PREFIX));
  return bearer === undefined ? headers : { ...headers, authorization: `Bearer ${bearer.slice(BEARER_PREFIX.length)}` };
}

/** An HTTP answer on a socket that was asking to upgrade, then the end of it (no upgrade). */
function answer(socket: Duplex, status: number, body: object, headers: Record<string, string>): void {
  if (!socket.writable) return void socket.destroy();
  const text = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(text)}`,
    'Cache-Control: no-store',
    'X-Content-Type-Options: nosniff',
    ...Object.entries({ ...headers, Connection: 'close' }).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`);
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 500: 'Internal Server Error', 503: 'Service Unavailable' };

// ---------------------------------------------------------------------------------------------
// The client side (./proxy tail)

/** The control server said no before the upgrade: its status and JSON error. */
export class FeedRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    readonly issues: string[] = [],
  ) {
    super(message);
  }
}

export interface FeedClient {
  /** The run the seqs count in (X-Feed-Run), to pass back with `since` when reconnecting. */
  readonly run: string | undefined;
  /** Resolves when the connection ends: the close code and reason (1006: it dropped). */
  readonly closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

export interface FeedClientOptions {
  /** The control server's base URL, e.g. http://127.0.0.1:8089. */
  control: string;
  token: string;
  filter?: string;
  since?: number;
  /** The run `since` counts in (a previous connection's `run`). */
  run?: string;
  onMessage(message: FeedMessage): void;
}

/**
 * Subscribes to a control server's feed. Resolves once the WebSocket is open; rejects with a
 * FeedRefused when the server answers the upgrade with an error, or with the socket's error
 * (ECONNREFUSED: nothing listens there).
 */
export function connectFeed(options: FeedClientOptions): Promise<FeedClient> {
  const url = new URL(EVENTS_PATH, options.control);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (options.filter !== undefined) url.searchParams.set('filter', options.filter);
  if (options.since !== undefined) url.searchParams.set('since', String(options.since));
  if (options.run !== undefined) url.searchParams.set('run', options.run);
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${options.token}` }, perMessageDeflate: false, handshakeTimeout: 10_000, maxPayload: 16 * 1024 * 1024 });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
  let run: string | undefined;
  ws.once('upgrade', (res) => {
    const header = res.headers['x-feed-run'];
    run = typeof header === 'string' ? header : undefined;
  });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => {
        let body: { error?: unknown; code?: unknown; issues?: unknown } = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
        } catch {
          // not the control server's JSON: the status says enough
        }
        const message = typeof body.error === 'string' ? body.error : `HTTP ${res.statusCode ?? '?'} ${res.statusMessage ?? ''}`;
        reject(new FeedRefused(res.statusCode ?? 0, typeof body.code === 'string' ? body.code : undefined, message, Array.isArray(body.issues) ? body.issues.map(String) : []));
        ws.terminate();
      });
      res.once('error', (err) => reject(err));
    });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => undefined); // the close that follows says it
      resolve({ run, closed, close: () => ws.close(1000, 'done') });
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let message: FeedMessage;
      try {
        message = JSON.parse((data as Buffer).toString('utf8')) as FeedMessage;
      } catch {
        return;
      }
      options.onMessage(message);
    });
  });
}
