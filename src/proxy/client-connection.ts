/**
 * One client connection and everything tied to it (DESIGN.md invariant 2, "Connection
 * affinity"): its own upstream connection, kept alive across the client's successive requests,
 * never shared with another client, and closed with it. NTLM and Negotiate authenticate the TCP
 * connection, not the request, so sharing or re-pooling upstream sockets breaks them.
 *
 * The upstream side is an http.Agent owned by this connection alone, limited to one socket per
 * origin; pipelined requests queue on it in order. When the upstream closes an idle connection,
 * the client's connection is ended too, so the client learns what a direct connection would have
 * told it (for example that its NTLM-authenticated connection is gone).
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ClientInfo } from '../core/exchange.js';
import type { Origin } from '../core/origin.js';
import type { InFlight } from './http-exchange.js';

let nextConnectionId = 0;

/** What an upstream socket tells the connection that owns it. */
interface UpstreamEvents {
  /** An upstream connection that was up has closed. */
  closed: () => void;
  /** The socket's idle timeout (set per exchange, http-exchange.ts) ran out. */
  timedOut: (socket: net.Socket) => void;
}

class AffinityAgent extends http.Agent {
  constructor(private readonly upstream: UpstreamEvents) {
    // maxSockets per origin; scheduling lifo keeps reusing the one warm socket.
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, scheduling: 'lifo' });
  }

  override createConnection(options: net.NetConnectOpts): net.Socket {
    const socket = net.createConnection(options);
    // Small writes (MAPI meta-tags, slow uploads) must not wait for Nagle's algorithm.
    socket.setNoDelay(true);
    watchUpstream(socket, 'connect', this.upstream);
    return socket;
  }
}

/** The same affinity for TLS upstreams: one socket, this client's alone (issue 5, item 4). */
class AffinityTlsAgent extends https.Agent {
  constructor(private readonly upstream: UpstreamEvents) {
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, scheduling: 'lifo' });
  }

  override createConnection(options: tls.ConnectionOptions): tls.TLSSocket {
    const host = options.host ?? '';
    // SNI carries names only (RFC 6066 §3); ALPN says this hop speaks HTTP/1.1.
    const socket = tls.connect({ ...options, ...(net.isIP(host) === 0 && options.servername === undefined && { servername: host }), ALPNProtocols: ['http/1.1'] });
    socket.setNoDelay(true);
    watchUpstream(socket, 'secureConnect', this.upstream);
    return socket;
  }
}

function watchUpstream(socket: net.Socket, up: 'connect' | 'secureConnect', upstream: UpstreamEvents): void {
  // Only a connection that was up can be "closed by the upstream": a refused one is the
  // exchange's 502, and the client's connection stays usable.
  socket.once(up, () => socket.once('close', upstream.closed));
  // One listener for the socket's life, rather than ClientRequest.setTimeout's listeners and
  // timers per request (about 2 µs a request).
  socket.on('timeout', () => upstream.timedOut(socket));
}

/** What a connection decrypted from an intercepted CONNECT tunnel knows of its origin. */
export interface TunnelInfo {
  /** `https://host:port` the client asked to CONNECT to. */
  origin: Origin;
  /** The client behind the tunnel (the TLS socket has no address of its own). */
  client: ClientInfo;
}

export class ClientConnection {
  readonly id = ++nextConnectionId;
  readonly agent: http.Agent;
  private tlsAgent: AffinityTlsAgent | undefined;
  readonly info: ClientInfo;
  /** Exchanges started on this connection and not yet finished. */
  inFlight = 0;
  /** This connection's CONNECT was intercepted: its life is the decrypted connection's inside. */
  carriesTunnel = false;
  /** HTTP exchanges in flight, for errors the server reports per socket (clientError). */
  readonly active = new Set<InFlight>();
  /** Sockets whose life is bound to this connection (tunnel and upgrade upstreams). */
  private readonly linked = new Set<Duplex>();
  private destroyed = false;

  constructor(
    readonly socket: net.Socket,
    /** Set when this connection is the inside of an intercepted CONNECT tunnel. */
    readonly tunnel?: TunnelInfo,
  ) {
    const client = tunnel?.client;
    this.info = { address: client?.address ?? socket.remoteAddress ?? '', port: client?.port ?? socket.remotePort ?? 0, connection: this.id };
    this.agent = new AffinityAgent(this.upstreamEvents);
    socket.once('close', () => this.destroy());
  }

  /** This connection's own agent for `origin`: plain or TLS, one upstream socket either way. */
  agentFor(origin: Origin): http.Agent {
    if (origin.protocol === 'http:') return this.agent;
    return (this.tlsAgent ??= new AffinityTlsAgent(this.upstreamEvents));
  }

  /** Ties another socket to this connection: destroyed when it is. */
  link(other: Duplex): void {
    if (this.destroyed) {
      other.destroy();
      return;
    }
    this.linked.add(other);
    other.once('close', () => this.linked.delete(other));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.agent.destroy();
    this.tlsAgent?.destroy();
    for (const other of this.linked) other.destroy();
    this.linked.clear();
    this.socket.destroy();
  }

  private readonly upstreamEvents: UpstreamEvents = {
    closed: () => {
      if (this.inFlight === 0 && !this.destroyed && !this.socket.destroyed) this.socket.end();
    },
    timedOut: (socket) => {
      for (const exchange of this.active) exchange.upstreamTimedOut(socket);
    },
  };
}
