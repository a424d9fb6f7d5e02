/**
 * The client side of the HTTPS rows and probes (issue 5): what a browser or Outlook does through a
 * forward proxy, without node:http on top, so that the client costs little next to the proxy.
 *
 * - `openTunnel`: `CONNECT host:port` to the proxy, resolved once its `200` head arrived;
 * - `secure`: TLS over that tunnel, trusting only the CA it is given (the proxy's, or mitmdump's),
 *   so an answer proves the proxy intercepted with a leaf of that CA;
 * - `HttpConnection`: one request at a time on a keep-alive connection (plain or TLS), writing a
 *   prepared request and parsing just enough of the answer: the status, `Content-Length` framing,
 *   the time of the first byte and of the last.
 *
 * The bench upstreams answer with Content-Length, and the proxies keep it; an answer framed any
 * other way (chunked, or closed) is an error here, never silently mis-timed.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export interface Target {
  host: string;
  port: number;
}

const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');
/** More head than this is not an answer of the bench upstreams. */
const MAX_HEAD = 64 * 1024;

export const authorityOf = (t: Target): string => (net.isIPv6(t.host) ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`);

/** The request wrk's forward rows send, absolute-form, Host naming the upstream. */
export function forwardRequest(target: Target, path: string): Buffer {
  return Buffer.from(`GET http://${authorityOf(target)}${path} HTTP/1.1\r\nHost: ${authorityOf(target)}\r\n\r\n`, 'latin1');
}

/** The same request inside a tunnel: origin-form. */
export function originRequest(target: Target, path: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${authorityOf(target)}\r\n\r\n`, 'latin1');
}

export class ClientError extends Error {
  constructor(
    /** Which step failed: `connect` (TCP or CONNECT), `tls`, or `read` (the answer). */
    readonly phase: 'connect' | 'tls' | 'read',
    message: string,
  ) {
    super(message);
  }
}

/** A plain TCP connection to the proxy (its TCP handshake done). */
export function connectTcp(port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(new Error(`no TCP connection within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(new ClientError('connect', `connect to the proxy: ${err.message}`));
    };
    socket.once('error', onError);
  });
}

/**
 * `CONNECT target` on a fresh connection to the proxy; resolves with the socket once the proxy
 * answered 200 (for an intercepting proxy: after it has its leaf for the host). Anything else is
 * an error with the answer's status line.
 */
export function openTunnel(proxyPort: number, target: Target, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxyPort });
    socket.setNoDelay(true);
    const authority = authorityOf(target);
    let head: Buffer = Buffer.alloc(0);
    const fail = (message: string): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ClientError('connect', `CONNECT ${authority}: ${message}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf(CRLF2);
      if (end < 0) {
        if (head.length > MAX_HEAD) fail('answer head too large');
        return;
      }
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      const statusLine = head.toString('latin1', 0, Math.min(end, head.indexOf('\r\n') >= 0 ? head.indexOf('\r\n') : end));
      if (!/^HTTP\/1\.[01] 200\b/.test(statusLine)) {
        socket.destroy();
        reject(new ClientError('connect', `CONNECT ${authority}: ${statusLine.slice(0, 200)}`));
        return;
      }
      socket.pause();
      // The server does not speak first in TLS: anything after the head would be a proxy's bug.
      if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
      resolve(socket);
    };
    const onError = (err: Error): void => fail(err.message);
    const onClose = (): void => fail('the proxy closed the connection');
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

/**
 * TLS over an open tunnel, as a browser would: SNI for names (none for IP addresses, RFC 6066 §3),
 * ALPN http/1.1, the certificate checked against `context`'s CAs only and against the host.
 */
export function secure(socket: net.Socket, target: Target, context: tls.SecureContext, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const tlsSocket = tls.connect({
      socket,
      host: target.host,
      ...(net.isIP(target.host) === 0 && { servername: target.host }),
      secureContext: context,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => tlsSocket.destroy(new Error(`no handshake within ${timeoutMs} ms`)), timeoutMs);
    tlsSocket.once('secureConnect', () => {
      clearTimeout(timer);
      tlsSocket.removeListener('error', onError);
      tlsSocket.setNoDelay(true);
      resolve(tlsSocket);
    });
    const onError = (err: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      tlsSocket.destroy();
      socket.destroy();
      reject(new ClientError('tls', `TLS with ${authorityOf(target)} through the proxy: ${err.code ?? ''} ${err.message}`.trim()));
    };
    tlsSocket.once('error', onError);
  });
}

/** One answer: its status, bytes (head and body), and when its first and last byte arrived (performance.now() ms). */
export interface Answer {
  status: number;
  bytes: number;
  sentAt: number;
  firstByteAt: number;
  doneAt: number;
  /** The answer's head, when asked for (probes check a header); otherwise ''. */
  head: string;
}

type Done = (err: ClientError | undefined, answer: Answer | undefined) => void;

/**
 * One request at a time on a keep-alive connection. `send` writes the prepared request and calls
 * back once the answer's last byte (by Content-Length) is in. A connection that closes, or errs,
 * with a request outstanding calls back with an error; after that it is dead (`alive` false).
 */
export class HttpConnection {
  alive = true;
  private done: Done | undefined;
  private pending: Buffer | undefined;
  /** Body bytes still expected; -1 while the head is being read. */
  private remaining = -1;
  private answer: Answer = { status: 0, bytes: 0, sentAt: 0, firstByteAt: 0, doneAt: 0, head: '' };
  private keepHead = false;

  constructor(readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => this.die(`connection error: ${err.message}`));
    socket.on('close', () => this.die('the connection closed'));
    socket.resume();
  }

  send(request: Buffer, done: Done, keepHead = false): void {
    if (!this.alive) {
      done(new ClientError('read', 'the connection is closed'), undefined);
      return;
    }
    this.done = done;
    this.keepHead = keepHead;
    this.remaining = -1;
    this.pending = undefined;
    this.answer = { status: 0, bytes: 0, sentAt: performance.now(), firstByteAt: 0, doneAt: 0, head: '' };
    this.socket.write(request);
  }

  /** `send` as a promise. */
  request(request: Buffer, keepHead = false): Promise<Answer> {
    return new Promise((resolve, reject) => this.send(request, (err, answer) => (err !== undefined ? reject(err) : resolve(answer!)), keepHead));
  }

  close(): void {
    this.alive = false;
    this.done = undefined;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.done === undefined) {
      this.die(`${chunk.length} bytes arrived with no request outstanding`);
      return;
    }
    const a = this.answer;
    if (a.firstByteAt === 0) a.firstByteAt = performance.now();
    a.bytes += chunk.length;
    if (this.remaining >= 0) {
      this.remaining -= chunk.length;
    } else {
      const data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
      const end = data.indexOf(CRLF2);
      if (end < 0) {
        if (data.length > MAX_HEAD) return this.fail('answer head larger than 64 KiB');
        this.pending = data;
        return;
      }
      this.pending = undefined;
      const head = data.toString('latin1', 0, end);
      a.status = Number(head.slice(9, 12));
      if (this.keepHead) a.head = head;
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      if (length === null) return this.fail(`answer without Content-Length (${head.split('\r\n')[0] ?? ''}); the bench client reads only Content-Length framing`);
      this.remaining = Number(length[1]) - (data.length - end - 4);
    }
    if (this.remaining > 0) return;
    if (this.remaining < 0) return this.fail(`${-this.remaining} bytes beyond Content-Length`);
    a.doneAt = performance.now();
    const done = this.done;
    this.done = undefined;
    done(undefined, a);
  }

  private fail(message: string): void {
    const done = this.done;
    this.close();
    done?.(new ClientError('read', message), undefined);
  }

  private die(message: string): void {
    if (!this.alive) return;
    this.alive = false;
    const done = this.done;
    this.done = undefined;
    this.socket.destroy();
    done?.(new ClientError('read', message), undefined);
  }
}

/**
 * The address of the i-th distinct host of the new-host probes (i from 0): loopback addresses
 * 127.0.0.2, …, 127.0.0.254, 127.0.1.1, … (never .0 or .255, never 127.0.0.1). The machine's
 * resolver does not map names under `localhost` to loopback (glibc: files, then DNS), and the
 * bench does not edit /etc/hosts: distinct IP addresses are distinct hosts to the proxy (a leaf
 * each, with an IP SAN, an upstream connection each) without any name lookup.
 */
export function hostAddress(i: number): string {
  const k = i + 1;
  const third = Math.floor(k / 254);
  if (third > 255) throw new Error(`host ${i} is beyond the 127.0.0.0/16 range the probes use`);
  return `127.0.${third}.${1 + (k % 254)}`;
}
