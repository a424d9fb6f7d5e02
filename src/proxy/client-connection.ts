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
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ClientInfo } from '../core/exchange.js';
import type { InFlight } from './http-exchange.js';

let nextConnectionId = 0;

class AffinityAgent extends http.Agent {
  constructor(private readonly onUpstreamClosed: () => void) {
    // maxSockets per origin; scheduling lifo keeps reusing the one warm socket.
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, scheduling: 'lifo' });
  }

  override createConnection(options: net.NetConnectOpts): net.Socket {
    const socket = net.createConnection(options);
    // Small writes (MAPI meta-tags, slow uploads) must not wait for Nagle's algorithm.
    socket.setNoDelay(true);
    socket.once('close', this.onUpstreamClosed);
    return socket;
  }
}

export class ClientConnection {
  readonly id = ++nextConnectionId;
  readonly agent: http.Agent;
  readonly info: ClientInfo;
  /** Exchanges started on this connection and not yet finished. */
  inFlight = 0;
  /** HTTP exchanges in flight, for errors the server reports per socket (clientError). */
  readonly active = new Set<InFlight>();
  /** Sockets whose life is bound to this connection (tunnel and upgrade upstreams). */
  private readonly linked = new Set<Duplex>();
  private destroyed = false;

  constructor(readonly socket: net.Socket) {
    this.info = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, connection: this.id };
    this.agent = new AffinityAgent(() => this.upstreamClosed());
    socket.once('close', () => this.destroy());
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
    for (const other of this.linked) other.destroy();
    this.linked.clear();
    this.socket.destroy();
  }

  private upstreamClosed(): void {
    if (this.inFlight === 0 && !this.destroyed && !this.socket.destroyed) this.socket.end();
  }
}
