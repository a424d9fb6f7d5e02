/**
 * The control server: an HTTP/1.1 server on its own port (never the proxy's), JSON in and out,
 * every request checked by guard.ts (Host, cross-site, bearer token) before any route runs.
 * Bounded in every direction: request bodies (413 past MAX_BODY_BYTES), header and request
 * timeouts, idle sockets, connections. The routes are the one table of routes.ts.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ProgramError } from '../errors.js';
import { ApiError } from './api-error.js';
import { allowedHosts, checkRequest, type Refusal } from './guard.js';
import { StreamReply } from './reply.js';
import { matchRoute, parseArgs, Reply, ROUTES, type ControlState, type Route } from './routes.js';

/** Request bodies past this are refused with 413 (rules and scopes are a few KiB). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** A streamed answer is written in pieces of about this many characters. */
const STREAM_CHUNK = 64 * 1024;
/** Bodies up to this are read to the end (and dropped) before the 413; larger ones are cut off. */
const DISCARD_LIMIT = 8 * MAX_BODY_BYTES;

export interface ControlServerOptions {
  host: string;
  port: number;
  token: string;
  state: ControlState;
  logger: Logger;
  /** Upgrade requests (the live feed's WebSocket, feed.ts), with the guard every request passes. */
  upgrade?: (req: http.IncomingMessage, socket: Duplex, head: Buffer, guard: (headers: http.IncomingHttpHeaders) => Refusal | undefined) => void;
}

export interface ControlServer {
  /** `http://host:port` (brackets for IPv6). */
  url: string;
  address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const { token, state, logger } = options;
  let hosts: ReadonlySet<string> = new Set();
  const server = http.createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => handle(req, res));
  // Slow or silent clients cannot hold the server: the head within 10 s, the whole request
  // within 30 s, an idle keep-alive socket closed after 5 s, at most 64 connections.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = 64;
  server.setTimeout(120_000, (socket) => socket.destroy());

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const refusal = checkRequest(req.headers, hosts, token, isPublic(req));
    if (refusal !== undefined) {
      logger.warn({ remote: req.socket.remoteAddress, method: req.method, path: pathOf(req.url), host: req.headers.host, origin: req.headers.origin, code: refusal.code }, 'control request refused');
      const headers: Record<string, string> = { Connection: 'close' };
      // RFC 6750 §3: a 401 names the scheme it wants.
      if (refusal.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="version-proxy control"';
      send(res, refusal.status, { error: refusal.error, code: refusal.code }, headers);
      return;
    }
    // Past the cap, the rest of the body is read and dropped, and 413 answered once it has all
    // come, so the client reads the answer instead of a reset; a body announced as far larger is
    // answered at once and the connection closed (the request timeout bounds the rest).
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > DISCARD_LIMIT) return tooLarge(res);
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DISCARD_LIMIT) {
        if (!res.headersSent) tooLarge(res);
        req.destroy();
      } else if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      if (res.headersSent) return;
      if (size > MAX_BODY_BYTES) tooLarge(res);
      else answer(req, res, Buffer.concat(chunks));
    });
    req.on('error', () => res.destroy());
  }

  function answer(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    // Aborted when the client goes away: a long poll stops waiting, a held scope is removed.
    const closed = new AbortController();
    res.on('close', () => closed.abort());
    const fail = (err: unknown): void => {
      // A client that went away stopped the work (an export's AbortError): nobody to answer.
      if (res.headersSent || res.destroyed || closed.signal.aborted) return;
      if (err instanceof ApiError) {
        send(res, err.status, err.body(), err.headers);
        return;
      }
      logger.error({ err, method: req.method, path: pathOf(req.url) }, 'control route failed');
      send(res, 500, { error: 'the control server failed on this request (logged); report it with the log line', code: 'INTERNAL' });
    };
    try {
      const url = new URL(req.url ?? '/', 'http://control.invalid');
      const match = matchRoute(req.method ?? 'GET', url.pathname);
      if (match === undefined) throw new ApiError(404, 'NOT_FOUND', `no route ${url.pathname}; GET /api/openapi.json lists every route`);
      if ('allow' in match) {
        throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${url.pathname} takes ${match.allow.join(', ')}, not ${req.method ?? ''}`, undefined, { Allow: match.allow.join(', ') });
      }
      const args = parseArgs(match.route, match.params, url.searchParams);
      const route = match.route;
      const result = route.handler({ state, args, body: parseBody(route, req, body), signal: closed.signal, keepOpen: () => req.socket.setTimeout(0) });
      const reply = (value: unknown): void => {
        if (res.destroyed) return;
        if (value instanceof Reply) sendRaw(res, value);
        else if (value instanceof StreamReply) void sendStream(res, value, closed.signal, (err) => logger.error({ err, method: req.method, path: pathOf(req.url) }, 'control answer cut short'));
        else send(res, route.response.status, value);
      };
      if (result instanceof Promise) result.then(reply, fail);
      else reply(result);
    } catch (err) {
      fail(err);
    }
  }

  function tooLarge(res: http.ServerResponse): void {
    send(res, 413, { error: `the request body is over ${MAX_BODY_BYTES} bytes; send less (one rule or scope per request)`, code: 'BODY_TOO_LARGE' }, { Connection: 'close' });
  }

  const address = await new Promise<AddressInfo>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(controlListenError(err, options.host, options.port));
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
  server.on('error', (err) => logger.error({ err }, 'control server error'));
  const { upgrade } = options;
  if (upgrade !== undefined) server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => upgrade(req, socket, head, (headers) => checkRequest(headers, hosts, token)));
  // A request that does not parse (RFC 9112 §2.2) gets a JSON 400 when the socket can still take it.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET' && !socket.readable)) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    const body = JSON.stringify({ error: `the request does not parse as HTTP/1.1 (${err.code ?? 'error'}); send Content-Length with a body, and headers under 16 KiB`, code: 'BAD_REQUEST' });
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  hosts = allowedHosts(address.address, address.port);
  const host = address.address;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    address: { host, port: address.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  // No Access-Control-Allow-Origin, ever: no other origin may read these answers.
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

function sendRaw(res: http.ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, {
    'Content-Type': reply.contentType,
    'Content-Length': String(Buffer.byteLength(reply.body)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...reply.headers,
  });
  res.end(reply.body);
}

/**
 * Writes a streamed answer (chunked) at the pace the client reads it. When the client goes away
 * (`closed`), the pieces are stopped, so the work that makes them stops too.
 */
async function sendStream(res: http.ServerResponse, reply: StreamReply, closed: AbortSignal, onError: (err: unknown) => void): Promise<void> {
  res.writeHead(reply.status, { 'Content-Type': reply.contentType, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...reply.headers });
  // Small pieces (a HAR entry each) go out together, in HTTP chunks of about STREAM_CHUNK characters.
  let pending = '';
  try {
    for await (const piece of reply.chunks) {
      if (res.destroyed) break;
      pending += piece;
      if (pending.length < STREAM_CHUNK) continue;
      const full = !res.write(pending);
      pending = '';
      if (full) await once(res, 'drain', { signal: closed });
    }
    if (!res.destroyed) res.end(pending);
  } catch (err) {
    if (!closed.aborted) onError(err);
    // A break or a throw in the loop has ended the pieces (for await calls their return()).
    res.destroy();
  }
}

/** A body for a route that takes one: JSON, or a 400 that says what is wrong with it. */
function parseBody(route: Route, req: http.IncomingMessage, body: Buffer): unknown {
  if (route.requestBody === undefined || body.length === 0) {
    if (route.requestBody?.required === true) throw new ApiError(400, 'BAD_BODY', `${route.method} ${route.path} needs a JSON body: ${route.requestBody.description}`);
    return undefined;
  }
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `the body is ${type}; send JSON with Content-Type: application/json`);
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ApiError(400, 'BAD_JSON', `the body is not valid JSON (${(err as Error).message}); send one JSON value, e.g. {"id": "...", "match": {...}, "actions": [...]}`);
  }
}

/** Public routes (the UI's page and files) skip the token, not the Host and cross-site checks. */
function isPublic(req: http.IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = pathOf(req.url);
  const match = matchRoute('GET', path, ROUTES);
  return match !== undefined && 'route' in match && match.route.public === true;
}

/** The path alone, for logs: a query could carry anything. */
function pathOf(url: string | undefined): string {
  const q = (url ?? '').indexOf('?');
  return q === -1 ? (url ?? '') : url!.slice(0, q);
}

function controlListenError(err: NodeJS.ErrnoException, host: string, port: number): ProgramError {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (err.code === 'EADDRINUSE') {
    return new ProgramError('ERR_ADDRESS_IN_USE', `--control ${where} is already in use by another program (another proxy run?)`, 'stop it, choose another port with --control HOST:PORT (port 0 picks a free one), or run without it: --no-control');
  }
  return new ProgramError('ERR_LISTEN_FAILED', `the control server cannot listen on ${where}: ${err.code ?? ''} ${err.message}`, 'choose another address with --control HOST:PORT, or --no-control');
}
