/**
 * The proxy's listening side: accepts client connections, gives each its ClientConnection
 * (affinity), and routes what arrives on it: requests to the HTTP pipeline, CONNECT to tunnels,
 * upgrades to upgrade.ts (with a body: upgrade-replay.ts), and unparseable input to a clean
 * 400/431 that is also recorded.
 * It also bounds what a client can hold: the time to send a request head (408), the silence of
 * an idle connection, and how many connections are open at once (connection-limit.ts).
 * Knows nothing of the CLI: configuration and logger are injected.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { RuleChange } from '../core/exchange.js';
import { ExchangeEvents } from '../core/exchange-events.js';
import { Negotiations } from '../protocols/negotiation.js';
import type { Origin } from '../core/origin.js';
import { ClientConnection } from './client-connection.js';
import { WindowsAuthHints } from './auth-hint.js';
import { handleConnect } from './connect.js';
import type { Interception } from './intercept.js';
import type { TunnelInfo } from './client-connection.js';
import { createUpstreamTls, type UpstreamTls } from './upstream-tls.js';
import net from 'node:net';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import { EMPTY_RULES, type RuleSet } from '../rules/compile.js';
import { handleHttpExchange, type PipelineContext } from './http-exchange.js';
import { writeRawAnswer } from './respond.js';
import { RecordedResponse } from './finish-record.js';
import type { ClientError } from './malformed-head.js';
import { clientErrorHandler } from './client-error.js';
import { handleUpgrade } from './upgrade.js';
import { carriesBody, replayAsRequest, restoreReplayedHead } from './upgrade-replay.js';
import { BurstLog } from './burst-log.js';
import { defaultAccess, type ClientAccess } from './client-access.js';
import { isLoopback, OwnAddresses } from './own-addresses.js';
import { ConnectionLimit } from './connection-limit.js';
import { SocketCount } from './socket-count.js';


export interface ProxyServerOptions {
  target?: Origin;
  keepHost: boolean;
  forwarded: boolean;
  upstreamTimeoutMs: number;
  logger: Logger;
  /** TLS interception of CONNECT tunnels (issue 5); tunnels bytes untouched when absent. */
  intercept?: Pick<Interception, 'wants' | 'context'>;
  /** Trust for https:// upstreams; the system store alone when absent. */
  upstreamTls?: UpstreamTls;
  /**
   * Reverse mode over TLS (`--tls`): the listening socket speaks TLS with a leaf for the name
   * the client asks for (SNI), or for the listen address.
   */
  tlsListener?: (name: string) => Promise<SecureContext>;
  /** The rules in force now (hot-reloaded by the caller); none when absent. */
  rules?: () => RuleSet;
  /**
   * Body bytes captured per direction onto the record (`exchange.bodies`, WebSocket messages);
   * 0 or absent captures nothing (recording off: no cost).
   */
  captureBytes?: number;
  /** A journal records every exchange: its record goes out before the response's last bytes. */
  recording?: boolean;
  /** Applied to rule changes before they are logged (secrets redacted); identity when absent. */
  redactChanges?: (changes: RuleChange[]) => RuleChange[];
  /**
   * Clients that may connect (`--allow`); when absent, loopback and private networks
   * (client-access.ts), a check skipped altogether for a loopback listener.
   */
  access?: ClientAccess;
  /** Applied to a malformed request's first bytes before the debug log shows them (secrets redacted); identity when absent. */
  redactHead?: (text: string) => string;
  /** Time from a request head's first byte to its blank line, then 408 (`--head-timeout`); 0: none. */
  headTimeoutMs?: number;
  /** Silence allowed on a client connection with no exchange in flight (`--idle-timeout`); 0: none. */
  idleTimeoutMs?: number;
  /** Client connections open at once; more are closed as they are accepted (`--max-connections`). */
  maxConnections?: number;
}

export interface ProxyServer {
  readonly events: ExchangeEvents;
  listen(host: string, port: number): Promise<AddressInfo>;
  /** Stops accepting, waits up to `graceMs` for exchanges in flight, then closes what is left. */
  close(graceMs: number): Promise<void>;
  /** Client connections currently open (the inside of an intercepted tunnel is one of its own). */
  connectionCount(): number;
  /** Upstream connections open or opening: keep-alive, tunnel and upgrade sockets. */
  upstreamCount(): number;
  /** The proxy's own listening addresses (a control server adds its own): requests to them are refused. */
  readonly own: OwnAddresses;
  /** Client connections refused at the --max-connections cap since the start. */
  refusedConnections(): number;
}

export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  const events = new ExchangeEvents();
  const log = options.logger;
  const connections = new Map<Duplex, ClientConnection>();
  const upstreams = new SocketCount();
  let closing = false;
  const own = new OwnAddresses();
  const redactHead = options.redactHead ?? ((text: string) => text);
  const pipeline: PipelineContext = {
    closing: () => closing,
    negotiations: new Negotiations(),
    events,
    target: options.target,
    keepHost: options.keepHost,
    forwarded: options.forwarded,
    upstreamTimeoutMs: options.upstreamTimeoutMs,
    log,
    rules: options.rules ?? (() => EMPTY_RULES),
    upstreamTls: options.upstreamTls ?? createUpstreamTls(),
    authHints: new WindowsAuthHints(log),
    captureBytes: options.captureBytes ?? 0,
    recording: options.recording ?? false,
    redactChanges: options.redactChanges ?? ((changes) => changes),
    own,
  };

  const headTimeoutMs = options.headTimeoutMs ?? 0;
  const idleTimeoutMs = options.idleTimeoutMs ?? 0;
  // Silence on a client connection (client-connection.ts): up to idleTimeoutMs with nothing in
  // flight; with an exchange in flight the timer is stretched to the upstream timeout plus 30 s,
  // the bound every client connection had before (a silent upstream ends the exchange first).
  const busySilenceMs = options.upstreamTimeoutMs + 30_000;
  const createServer = (): http.Server => {
    const created = http.createServer({
      // Its end() lets the exchange write its record before the last bytes go (finish-record.ts).
      ServerResponse: RecordedResponse,
      // A proxy passes requests without Host on (forward mode takes the host from the URL).
      requireHostHeader: false,
      // Slow uploads and long polls are the upstream's business; --upstream-timeout covers silence.
      requestTimeout: 0,
      // Node derives its head timeout from requestTimeout (min(60 s, requestTimeout)), so with
      // requestTimeout 0 a client could take forever over one head, a byte at a time. Set on
      // its own, it runs from a head's first byte to its blank line, for every request of a
      // keep-alive connection, and stops once the head is in: slow bodies (uploads) and long
      // responses (MAPI/HTTP NotificationWait) are not touched. Node checks it on an interval
      // (30 s by default): a quarter of the timeout, at most 1 s, keeps a cut close to it.
      headersTimeout: headTimeoutMs,
      connectionsCheckingInterval: headTimeoutMs > 0 ? Math.max(50, Math.min(1000, Math.floor(headTimeoutMs / 4))) : 30_000,
      // Idle keep-alive connections are bounded by the socket timer below, not by Node's
      // keepAliveTimeout, which would add a `Keep-Alive: timeout=5` header of its own.
      keepAliveTimeout: 0,
    });
    created.setTimeout(idleTimeoutMs > 0 ? idleTimeoutMs : busySilenceMs);
    created.on('timeout', (socket: Socket) => onSilent(socket));
    // Node keeps the first 2000 header lines (1023 once its parser has flushed them in batches) and
    // drops the rest without a word. Every line is forwarded instead; the 16 KiB head cap
    // (HPE_HEADER_OVERFLOW, 431) bounds how many there can be.
    created.maxHeadersCount = 0;
    // Its responses are RecordedResponses; the rest of the proxy only needs them as ServerResponses.
    return created as unknown as http.Server;
  };
  const server = createServer();
  // Upgrade requests that carry a body are parsed again here and go the ordinary pipeline
  // (upgrade-replay.ts); it never listens, and its connections are the server's.
  const replayServer = createServer();
  // Node starts its check of slow heads (headersTimeout) when a server emits 'listening'; this one
  // never listens, yet its connections must be held to the same limits as the server's.
  replayServer.emit('listening');
  const limit = options.maxConnections === undefined ? undefined : new ConnectionLimit(options.maxConnections, log);

  // Decrypted connections from intercepted tunnels enter the server like new connections.
  const tunnels = new WeakMap<Socket, TunnelInfo>();
  const given = options.intercept;
  const intercept: Interception | undefined = given && {
    wants: (hostname) => given.wants(hostname),
    context: (name) => given.context(name),
    accept: (socket: TLSSocket, tunnel: TunnelInfo) => {
      tunnels.set(socket, tunnel);
      server.emit('connection', socket);
    },
  };
  server.on('connection', (socket: Socket) => {
    const conn = new ClientConnection(socket, tunnels.get(socket), idleTimeoutMs, upstreams);
    connections.set(socket, conn);
    socket.once('close', () => connections.delete(socket));
  });
  const connectionOf = (socket: Duplex): ClientConnection => {
    const conn = connections.get(socket);
    if (conn) return conn;
    // Sockets reach the server through 'connection' first; this is only a guard.
    const created = new ClientConnection(socket as Socket, undefined, 0, upstreams);
    connections.set(socket, created);
    return created;
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => handleHttpExchange(pipeline, connectionOf(req.socket), req, res);
  const onReplayedRequest = (req: IncomingMessage, res: ServerResponse): void => {
    restoreReplayedHead(req);
    onRequest(req, res);
  };
  for (const [target, handler] of [[server, onRequest], [replayServer, onReplayedRequest]] as const) {
    target.on('request', handler);
    // Expect: 100-continue is the upstream's to answer; the pipeline relays its 100 (or its refusal).
    target.on('checkContinue', handler);
    target.on('checkExpectation', handler);
    target.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      handleConnect({ events, upstreamTimeoutMs: options.upstreamTimeoutMs, reverse: options.target !== undefined, intercept, own }, connectionOf(socket), req, socket, head);
    });
    target.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (carriesBody(req.rawHeaders)) replayAsRequest(replayServer, req, socket, head);
      else handleUpgrade(pipeline, connectionOf(socket), req, socket, head);
    });
    target.on('clientError', (err: ClientError, socket: Duplex) => {
      onClientError(err, socket);
    });
  }

  /**
   * The socket timer fired. Nothing in flight: an idle keep-alive connection (or one that never
   * sent a byte), closed, which also frees its upstream connection. An exchange in flight: the
   * timer is stretched once, to the longer bound; if that runs out too, the connection goes.
   */
  function onSilent(socket: Socket): void {
    const conn = connections.get(socket);
    if (conn === undefined || (conn.inFlight === 0 && !conn.carriesTunnel) || idleTimeoutMs === 0 || conn.stretched) {
      log.debug({ connection: conn?.id, inFlight: conn?.inFlight ?? 0 }, 'client connection silent: closed');
      if (conn) conn.destroy();
      else socket.destroy();
      return;
    }
    conn.stretched = true;
    socket.setTimeout(Math.max(1, busySilenceMs - idleTimeoutMs));
  }

  const onClientError = clientErrorHandler({ connections, events, log, headTimeoutMs, redactHead });

  const refusedClients = new BurstLog<string>(10_000, (address, count, first) => {
    if (first) log.warn({ address }, 'client refused: its address is outside --allow');
    else log.warn({ count, last: address }, 'clients refused in the last 10 s: their addresses are outside --allow');
  });

  /**
   * A client outside --allow, refused before a byte of it is read: a plain 403 where HTTP is
   * spoken (what it sends is then read only to be dropped), a closed socket before a TLS handshake.
   */
  function refuseClient(socket: Socket, answer: boolean): void {
    refusedClients.note(socket.remoteAddress ?? '');
    if (!answer) return void socket.destroy();
    socket.on('error', () => undefined);
    socket.resume();
    writeRawAnswer(socket, { status: 403, code: 'CLIENT_NOT_ALLOWED', message: `${socket.remoteAddress ?? 'this address'} may not use this proxy; start it with --allow CIDR to admit it` });
  }

  /** The TLS front (--tls), or the --allow front, when the HTTP server does not listen itself. */
  let listener: net.Server | undefined;

  function listenOn(target: net.Server, host: string, port: number): Promise<AddressInfo> {
    limit?.apply(target);
    return new Promise<AddressInfo>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      target.once('error', onError);
      target.listen({ host, port }, () => {
        target.off('error', onError);
        target.on('error', (err) => log.error({ err }, 'server error'));
        // Behind a front, the HTTP server never listens itself: its 'listening' is where Node
        // starts the connection tracking behind headersTimeout and requestTimeout.
        if (target !== server) server.emit('listening');
        const address = target.address() as AddressInfo;
        own.add(address.address, address.port);
        resolve(address);
      });
    });
  }

  /**
   * With a client list, a plain listener in front decides before the HTTP parser is attached
   * (once it is, it reads from the socket natively, and a refused client's request would be
   * parsed); http.Server's own options for its sockets. Without one, the HTTP server listens
   * itself and nothing is added per connection.
   */
  function plainFront(gate: (socket: Socket) => boolean): net.Server {
    return (listener = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      if (gate(socket)) server.emit('connection', socket);
      else refuseClient(socket, true);
    }));
  }

  return {
    events,
    own,
    listen: async (host, port) => {
      const access = options.access ?? (isLoopback(host) ? undefined : defaultAccess());
      const gate = access && ((socket: Socket): boolean => access.allows(socket.remoteAddress));
      if (options.tlsListener === undefined) return listenOn(gate === undefined ? server : plainFront(gate), host, port);
      // TLS in front of the same HTTP server: each decrypted connection enters it as a new one.
      const tlsListener = options.tlsListener;
      const secureContext = await tlsListener(host);
      listener = net.createServer((socket) => {
        socket.on('error', () => undefined);
        if (gate !== undefined && !gate(socket)) return refuseClient(socket, false);
        const secure = new tls.TLSSocket(socket, {
          isServer: true,
          secureContext,
          ALPNProtocols: ['http/1.1'],
          SNICallback: (name, done) => void tlsListener(name).then((ctx) => done(null, ctx), (err: Error) => done(err)),
        });
        secure.on('error', (err: NodeJS.ErrnoException) => log.debug({ err: { code: err.code, message: err.message } }, 'tls handshake failed'));
        server.emit('connection', secure);
      });
      return listenOn(listener, host, port);
    },
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        closing = true;
        const closed = new Promise<void>((done) => (listener ?? server).close(() => done()));
        // Stops its check of slow heads; its connections are in `connections` like any other.
        replayServer.close();
        // Behind a front, this only stops the HTTP server's connection tracking ("not running" is expected).
        if (listener !== undefined) server.close(() => undefined);
        // Idle keep-alive connections have nothing to finish; busy ones end after their exchange.
        // A connection carrying an intercepted tunnel ends when the decrypted one inside does.
        const endIdle = (): void => {
          for (const conn of connections.values()) if (conn.inFlight === 0 && !conn.carriesTunnel) conn.socket.end();
        };
        endIdle();
        events.on('finished', () => setImmediate(endIdle));
        const timer = setTimeout(() => {
          for (const conn of connections.values()) conn.destroy();
        }, graceMs);
        void closed.then(() => {
          clearTimeout(timer);
          limit?.flush();
          resolve();
        });
      }),
    connectionCount: () => connections.size,
    upstreamCount: () => upstreams.open,
    refusedConnections: () => limit?.refused ?? 0,
  };
}
