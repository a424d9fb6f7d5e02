/**
 * One client connection and everything tied to it (docs/running.md "Connection affinity", "Connection
 * affinity"): its own upstream connection, kept alive across the client's successive requests,
 * never shared with another client, and closed with it. NTLM and Negotiate authenticate the TCP
 * connection, not the request, so sharing or re-pooling upstream sockets breaks them.
 *
 * The upstream side is an agent owned by this connection alone (affinity-agent.ts), one socket
 * per origin; pipelined requests queue on it in order. When the upstream closes an idle connection,
 * the client's connection is ended too, so the client learns what a direct connection would have
 * told it (for example that its NTLM-authenticated connection is gone).
 *
 * Silence on the client's socket (server.ts) is bounded twice: with no exchange in flight, by
 * the idle timeout (`--idle-timeout`); with one in flight (a long poll, a stalled upload, a rule
 * that hangs), by the longer bound the server stretches the timer to, reset here as the
 * connection becomes idle again.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ClientInfo } from '../core/exchange.js';
import type { Origin } from '../core/origin.js';
import { AffinityAgent, type UpstreamEvents } from './affinity-agent.js';
import type { InFlight } from './http-exchange.js';
import { SocketCount } from './socket-count.js';

let nextConnectionId = 0;

/** What a connection decrypted from an intercepted CONNECT tunnel knows of its origin. */
export interface TunnelInfo {
  /** `https://host:port` the client asked to CONNECT to. */
  origin: Origin;
  /** The client behind the tunnel (the TLS socket has no address of its own). */
  client: ClientInfo;
}

export class ClientConnection {
  readonly id = ++nextConnectionId;
  private readonly agent: AffinityAgent;
  private tlsAgent: AffinityAgent | undefined;
  readonly info: ClientInfo;
  private exchanges = 0;
  /** The socket's timer was stretched past the idle timeout for an exchange in flight. */
  stretched = false;
  /** This connection's CONNECT was intercepted: its life is the decrypted connection's inside. */
  carriesTunnel = false;
  /** HTTP exchanges in flight, for errors the server reports per socket (clientError). */
  readonly active = new Set<InFlight>();
  /** Run once no exchange is in flight (an answer that must follow the pipelined ones before it). */
  private idleWaiters: (() => void)[] | undefined;
  /** Sockets whose life is bound to this connection (tunnel and upgrade upstreams). */
  private readonly linked = new Set<Duplex>();
  private destroyed = false;

  constructor(
    readonly socket: net.Socket,
    /** Set when this connection is the inside of an intercepted CONNECT tunnel. */
    readonly tunnel?: TunnelInfo,
    /** The idle timeout the socket's timer goes back to when nothing is in flight; 0: none. */
    private readonly idleTimeoutMs = 0,
    /** The proxy's count of upstream sockets open, which this connection's add to. */
    private readonly upstreams = new SocketCount(),
  ) {
    const client = tunnel?.client;
    this.info = { address: client?.address ?? socket.remoteAddress ?? '', port: client?.port ?? socket.remotePort ?? 0, connection: this.id };
    this.agent = new AffinityAgent('http:', this.upstreamEvents);
    socket.once('close', () => this.destroy());
  }

  /** Exchanges started on this connection and not yet finished. */
  get inFlight(): number {
    return this.exchanges;
  }

  set inFlight(n: number) {
    this.exchanges = n;
    if (n === 0 && this.stretched) {
      this.stretched = false;
      this.socket.setTimeout(this.idleTimeoutMs);
    }
  }

  /** This connection's own agent for `origin`: plain or TLS, one upstream socket either way. */
  agentFor(origin: Origin): AffinityAgent {
    if (origin.protocol === 'http:') return this.agent;
    return (this.tlsAgent ??= new AffinityAgent('https:', this.upstreamEvents));
  }

  /** An exchange of this connection finished. */
  ended(exchange: InFlight): void {
    this.inFlight -= 1;
    this.active.delete(exchange);
    const waiters = this.idleWaiters;
    if (waiters === undefined || this.active.size > 0) return;
    this.idleWaiters = undefined;
    for (const waiter of waiters) waiter();
  }

  /** Runs `step` once every exchange in flight has finished (now, if none is). */
  whenIdle(step: () => void): void {
    if (this.active.size === 0) return step();
    (this.idleWaiters ??= []).push(step);
  }

  /** An upstream socket of a tunnel or upgrade: counted while open, and tied to this connection. */
  linkUpstream(upstream: Duplex): void {
    this.upstreams.track(upstream);
    this.link(upstream);
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
    opened: (socket) => this.upstreams.track(socket),
    closed: () => {
      if (this.inFlight === 0 && !this.destroyed && !this.socket.destroyed) this.socket.end();
    },
    timedOut: (socket) => {
      for (const exchange of this.active) exchange.upstreamTimedOut(socket);
    },
  };
}
