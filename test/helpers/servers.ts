/**
 * Upstream servers for integration tests, on 127.0.0.1 port 0. Every accepted socket gets a small
 * numeric id (socketId) so tests can tell which upstream connection carried which request
 * (connection affinity), and close() destroys whatever is still open, upgraded sockets included,
 * so no test leaves a handle behind.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

let nextSocketId = 0;
const socketIds = new WeakMap<net.Socket, number>();

/** The id given to an accepted upstream socket (assigned on 'connection'). */
export function socketId(socket: net.Socket): number {
  let id = socketIds.get(socket);
  if (id === undefined) {
    nextSocketId += 1;
    id = nextSocketId;
    socketIds.set(socket, id);
  }
  return id;
}

/** What an upstream saw of one accepted connection. */
export interface SocketInfo {
  id: number;
  socket: net.Socket;
  /** The peer's port: for the proxy's upstream connections, its local port. */
  remotePort?: number;
  openedAt: number;
  /** Set when the socket emitted 'close'. */
  closedAt?: number;
  closed: Promise<void>;
}

export interface TestServerBase {
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Accepted sockets, in order of arrival. */
  sockets: SocketInfo[];
  /** Stops listening and destroys every socket still open. */
  close(): Promise<void>;
}

export interface TestServer extends TestServerBase {
  server: http.Server;
}

export interface RawTestServer extends TestServerBase {
  server: net.Server;
}

/** Sub-millisecond wall clock, the same clock as the Exchange timings (core/exchange.ts now()). */
export function clock(): number {
  return performance.timeOrigin + performance.now();
}

function track(server: net.Server): SocketInfo[] {
  const sockets: SocketInfo[] = [];
  server.on('connection', (socket: net.Socket) => {
    let markClosed!: () => void;
    const info: SocketInfo = {
      id: socketId(socket),
      socket,
      remotePort: socket.remotePort,
      openedAt: clock(),
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
    };
    socket.on('close', () => {
      info.closedAt = clock();
      markClosed();
    });
    sockets.push(info);
  });
  return sockets;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

function closer(server: net.Server, sockets: SocketInfo[]): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const { socket } of sockets) socket.destroy();
    });
    return closing;
  };
}

/**
 * A node:http upstream. `handler` may be omitted when the test attaches its own listeners
 * (`upgrade`, `checkContinue`) to `server`.
 */
export async function startServer(handler?: http.RequestListener, options: http.ServerOptions = {}): Promise<TestServer> {
  const server = http.createServer(options);
  if (handler) server.on('request', handler);
  const sockets = track(server);
  const port = await listen(server);
  return { server, port, url: `http://127.0.0.1:${port}`, sockets, close: closer(server, sockets) };
}

/** A node:net upstream, for servers that must write exact bytes or misbehave. */
export async function startRawServer(onSocket: (socket: net.Socket, id: number) => void): Promise<RawTestServer> {
  const server = net.createServer();
  const sockets = track(server);
  // Registered after track() so SocketInfo exists when the test's callback runs.
  server.on('connection', (socket: net.Socket) => {
    // A reset from the proxy must not crash the test process; tests look at 'close'.
    socket.on('error', () => undefined);
    onSocket(socket, socketId(socket));
  });
  const port = await listen(server);
  return { server, port, url: `http://127.0.0.1:${port}`, sockets, close: closer(server, sockets) };
}

/** Reads a whole request body. */
export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Reads from a raw socket until `complete(bytes)` says a whole request arrived; resolves with the
 * bytes so far. For raw upstreams that answer after reading a request head (and body).
 */
export function readUntil(socket: net.Socket, complete: (bytes: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]);
      if (complete(bytes)) {
        cleanup();
        resolve(bytes);
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`socket closed after ${bytes.length} bytes before the expected request arrived`));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** Whether `bytes` hold a complete request head (CRLF CRLF). */
export function hasHead(bytes: Buffer): boolean {
  return bytes.includes('\r\n\r\n');
}

/** One request as a node:http upstream received it. */
export interface SeenRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** `[name, value, …]` in wire order and case. */
  rawHeaders: string[];
  body: Buffer;
  /** socketId() of the connection it arrived on. */
  socket: number;
  /** clock() when the head arrived. */
  at: number;
}

export interface RecordingServer extends TestServer {
  /** Every request received, in order of arrival (pushed once its body has been read). */
  requests: SeenRequest[];
}

/**
 * A node:http upstream that records each request (head, body, socket) and answers with
 * `respond`, by default `200 OK`, `Content-Length`, body `ok`.
 */
export async function startRecordingServer(
  respond: (seen: SeenRequest, res: http.ServerResponse, req: http.IncomingMessage) => void = (_seen, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' });
    res.end('ok');
  },
): Promise<RecordingServer> {
  const requests: SeenRequest[] = [];
  const server = await startServer((req, res) => {
    const at = clock();
    readBody(req).then(
      (body) => {
        const seen: SeenRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          httpVersion: req.httpVersion,
          rawHeaders: req.rawHeaders,
          body,
          socket: socketId(req.socket),
          at,
        };
        requests.push(seen);
        respond(seen, res, req);
      },
      () => res.destroy(),
    );
  });
  return { ...server, requests };
}
