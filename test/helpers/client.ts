/**
 * Clients for integration tests: raw sockets that send exact bytes and keep every received chunk
 * with its arrival time, a small HTTP/1.1 response parser for them, and node:http requests in
 * forward mode (absolute-form request-target, RFC 9112 §3.2.2) and reverse mode (origin-form).
 * Every wait is bounded: withTimeout fails the test with a message saying what never happened.
 */
import http from 'node:http';
import net from 'node:net';
import { clock } from './servers.js';

export { clock };

/** Rejects with "timed out after N ms waiting for WHAT" unless `promise` settles first. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 10 ms; fails with `what` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = clock() + timeoutMs;
  while (!condition()) {
    if (clock() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(10);
  }
}

export interface TimedChunk {
  /** clock() when the chunk was read from the socket. */
  at: number;
  data: Buffer;
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 response parsing (RFC 9112 §4–§7), enough for the answers a proxy relays.

export interface ParsedResponse {
  httpVersion: string;
  statusCode: number;
  statusMessage: string;
  /** `[name0, value0, …]` exactly as on the wire (order, case, duplicates). */
  rawHeaders: string[];
  /** The head as received, status line and header lines, without the final empty line. */
  headLines: string[];
  /** Body after removing chunked framing. */
  body: Buffer;
  /** Body bytes as on the wire (chunk framing included). */
  rawBody: Buffer;
  /** Trailer fields of a chunked body, raw form. */
  trailers: string[];
  /** How many bytes of the input this message took. */
  length: number;
}

export interface ParseOptions {
  /** The request was HEAD: no body follows whatever the headers say (RFC 9110 §9.3.2). */
  head?: boolean;
  /** The connection has ended: a body without length ends here (RFC 9112 §6.3 item 8). */
  ended?: boolean;
}

function headerValues(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

/** Parses one response from the start of `bytes`; undefined while it is incomplete. */
export function parseResponse(bytes: Buffer, options: ParseOptions = {}): ParsedResponse | undefined {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const headLines = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(headLines[0]!);
  if (!status) throw new Error(`not an HTTP response status line: ${JSON.stringify(headLines[0])}`);
  const rawHeaders: string[] = [];
  for (const line of headLines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
    rawHeaders.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const statusCode = Number(status[2]);
  const base = { httpVersion: status[1]!, statusCode, statusMessage: status[3] ?? '', rawHeaders, headLines };
  const bodyStart = headEnd + 4;
  const empty = Buffer.alloc(0);

  if ((statusCode >= 100 && statusCode < 200) || statusCode === 204 || statusCode === 304 || options.head) {
    return { ...base, body: empty, rawBody: empty, trailers: [], length: bodyStart };
  }

  const codings = headerValues(rawHeaders, 'transfer-encoding').join(',').toLowerCase();
  if (codings.trim().endsWith('chunked')) {
    const pieces: Buffer[] = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = bytes.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1').split(';')[0]!.trim(), 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size line at byte ${at}`);
      at = lineEnd + 2;
      if (size === 0) break;
      if (bytes.length < at + size + 2) return undefined;
      pieces.push(bytes.subarray(at, at + size));
      at += size + 2;
    }
    const trailers: string[] = [];
    for (;;) {
      const lineEnd = bytes.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const line = bytes.subarray(at, lineEnd).toString('latin1');
      at = lineEnd + 2;
      if (line.length === 0) break;
      const colon = line.indexOf(':');
      trailers.push(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    return { ...base, body: Buffer.concat(pieces), rawBody: bytes.subarray(bodyStart, at), trailers, length: at };
  }

  const lengths = headerValues(rawHeaders, 'content-length');
  if (lengths.length > 0) {
    const n = Number(lengths[0]);
    if (bytes.length < bodyStart + n) return undefined;
    const body = bytes.subarray(bodyStart, bodyStart + n);
    return { ...base, body, rawBody: body, trailers: [], length: bodyStart + n };
  }

  // No framing: the body runs to the end of the connection.
  if (!options.ended) return undefined;
  const body = bytes.subarray(bodyStart);
  return { ...base, body, rawBody: body, trailers: [], length: bytes.length };
}

/** The first value of a header in a raw list, matched case-insensitively. */
export function header(raw: string[], name: string): string | undefined {
  return headerValues(raw, name.toLowerCase())[0];
}

/** Every value of a header in a raw list. */
export function headers(raw: string[], name: string): string[] {
  return headerValues(raw, name.toLowerCase());
}

/** Header names of a raw list, lower-cased, for "is it there" checks. */
export function headerNames(raw: string[]): string[] {
  const names: string[] = [];
  for (let i = 0; i < raw.length; i += 2) names.push(raw[i]!.toLowerCase());
  return names;
}

// ---------------------------------------------------------------------------------------------
// Raw connections.

/**
 * A client TCP connection that sends exact bytes and keeps every byte it receives, with arrival
 * times. readResponse() parses successive responses on a keep-alive connection (1xx included,
 * each as its own message).
 */
export class RawConnection {
  readonly chunks: TimedChunk[] = [];
  /** clock() when the peer ended or the socket closed. */
  endedAt?: number;
  closedAt?: number;
  private buffer = Buffer.alloc(0);
  private offset = 0;
  private wakers = new Set<() => void>();
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (data: Buffer) => {
      this.chunks.push({ at: clock(), data });
      this.buffer = Buffer.concat([this.buffer, data]);
      this.wake();
    });
    socket.on('end', () => {
      this.endedAt = clock();
      this.wake();
    });
    // Resets are part of what tests look at; they show up as 'close'.
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closedAt = clock();
        this.endedAt ??= this.closedAt;
        this.wake();
        resolve();
      }),
    );
  }

  static async open(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<RawConnection> {
    const socket = net.connect(port, host);
    socket.setNoDelay(true);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      timeoutMs,
      `a connection to ${host}:${port}`,
    ).catch((error: unknown) => {
      socket.destroy();
      throw error;
    });
    return new RawConnection(socket);
  }

  /** Every byte received so far. */
  bytes(): Buffer {
    return this.buffer;
  }

  /** Bytes received and not yet taken by readResponse(). */
  unread(): Buffer {
    return this.buffer.subarray(this.offset);
  }

  write(bytes: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Waits until `predicate(unread bytes)` holds. */
  async waitFor(predicate: (unread: Buffer) => boolean, timeoutMs: number, what: string): Promise<void> {
    let check: (() => void) | undefined;
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          check = (): void => {
            if (predicate(this.unread())) {
              resolve();
            } else if (this.closedAt !== undefined) {
              const unread = JSON.stringify(this.unread().toString('latin1').slice(0, 400));
              reject(new Error(`connection closed while waiting for ${what}; unread: ${unread}`));
            }
          };
          this.wakers.add(check);
          check();
        }),
        timeoutMs,
        what,
      );
    } finally {
      if (check) this.wakers.delete(check);
    }
  }

  /** Parses and consumes the next response; a 1xx comes back as its own message. */
  async readResponse(timeoutMs = 5000, options: { head?: boolean } = {}): Promise<ParsedResponse & { receivedAt: number }> {
    let parsed: ParsedResponse | undefined;
    await this.waitFor(
      (unread) => {
        parsed = parseResponse(unread, { head: options.head, ended: this.endedAt !== undefined });
        return parsed !== undefined;
      },
      timeoutMs,
      'a complete response',
    );
    const response = parsed!;
    this.offset += response.length;
    return { ...response, receivedAt: clock() };
  }

  /** Sends `bytes` and reads the response to it. */
  async request(bytes: string | Buffer, timeoutMs = 5000, options: { head?: boolean } = {}): Promise<ParsedResponse & { receivedAt: number }> {
    await this.write(bytes);
    return this.readResponse(timeoutMs, options);
  }

  /** Waits until the peer closes the connection. */
  async waitForClose(timeoutMs: number, what = 'the connection to close'): Promise<void> {
    await withTimeout(this.closed, timeoutMs, what);
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const waker of [...this.wakers]) waker();
  }
}

export interface RawExchangeResult {
  /** Every received chunk with its arrival time. */
  chunks: TimedChunk[];
  /** All received bytes. */
  bytes: Buffer;
  /** The first complete response in `bytes`, if any. */
  response?: ParsedResponse;
}

/**
 * Sends exact request bytes on a new connection and collects the exact response bytes. Resolves
 * when one complete response has arrived (or the connection closed), then closes the socket.
 */
export async function rawRequest(port: number, bytes: string | Buffer, timeoutMs = 5000, options: { head?: boolean } = {}): Promise<RawExchangeResult> {
  const conn = await RawConnection.open(port);
  try {
    await conn.write(bytes);
    let response: ParsedResponse | undefined;
    try {
      response = await conn.readResponse(timeoutMs, options);
    } catch (error) {
      if (conn.closedAt === undefined) throw error;
    }
    return { chunks: conn.chunks, bytes: conn.bytes(), response };
  } finally {
    conn.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// node:http clients.

export interface RequestOptions {
  method?: string;
  /** Object or raw `[name, value, …]` list (kept in order by node:http). */
  headers?: http.OutgoingHttpHeaders | string[];
  /** Sent whole; omit to send none, or use startRequest() to write a body piece by piece. */
  body?: string | Buffer;
  /** Defaults to a fresh agent-less connection per request (`agent: false`). */
  agent?: http.Agent | false;
  timeoutMs?: number;
}

export interface CollectedResponse {
  statusCode: number;
  statusMessage: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Decoded body chunks with arrival times. */
  chunks: TimedChunk[];
  /** clock() when the response head arrived. */
  headAt: number;
  /** clock() when the body ended. */
  endAt: number;
  /** Informational responses (100, 103 …) received before the final one. */
  informational: number[];
}

export interface StartedRequest {
  req: http.ClientRequest;
  /** The final response, fully read; fails after timeoutMs. */
  response: Promise<CollectedResponse>;
}

/** Starts a request and leaves the body to the caller (req.write / req.end). */
export function startRequest(port: number, path: string, options: RequestOptions = {}): StartedRequest {
  const timeoutMs = options.timeoutMs ?? 10000;
  const req = http.request({
    host: '127.0.0.1',
    port,
    method: options.method ?? 'GET',
    path,
    headers: options.headers,
    agent: options.agent ?? false,
  });
  const informational: number[] = [];
  req.on('information', (info: { statusCode: number }) => informational.push(info.statusCode));
  const collected = new Promise<CollectedResponse>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const headAt = clock();
      const chunks: TimedChunk[] = [];
      res.on('data', (data: Buffer) => chunks.push({ at: clock(), data }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
      res.on('end', () =>
        resolve({
          statusCode: res.statusCode!,
          statusMessage: res.statusMessage!,
          rawHeaders: res.rawHeaders,
          headers: res.headers,
          body: Buffer.concat(chunks.map((c) => c.data)),
          chunks,
          headAt,
          endAt: clock(),
          informational,
        }),
      );
    });
  });
  const response = withTimeout(collected, timeoutMs, `the response to ${options.method ?? 'GET'} ${path}`).catch((error: unknown) => {
    req.destroy();
    throw error;
  });
  // The caller may attach to `response` late; avoid an unhandled rejection in between.
  response.catch(() => undefined);
  return { req, response };
}

/** Sends a whole request to `port` with request-target `path` and reads the whole response. */
export function request(port: number, path: string, options: RequestOptions = {}): Promise<CollectedResponse> {
  const { req, response } = startRequest(port, path, options);
  req.end(options.body);
  return response;
}

/** Forward mode: the request-target is the absolute URL of the upstream (RFC 9112 §3.2.2). */
export function proxiedRequest(proxyPort: number, upstreamUrl: string, options: RequestOptions = {}): Promise<CollectedResponse> {
  return request(proxyPort, upstreamUrl, options);
}

/** Reverse mode: the proxy stands in for the upstream; the request-target is origin-form. */
export function reverseRequest(proxyPort: number, path: string, options: RequestOptions = {}): Promise<CollectedResponse> {
  return request(proxyPort, path, options);
}
