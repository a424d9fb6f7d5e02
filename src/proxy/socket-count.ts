/**
 * Upstream sockets open now, per proxy, for the control plane's gauge
 * (`version_proxy_upstream_connections`): counted as each is made (affinity-agent.ts, a CONNECT
 * tunnel, an upgrade) until its 'close'. One increment and one listener per new socket, none per
 * request: a kept-alive connection is counted once.
 */
import type { Duplex } from 'node:stream';

export class SocketCount {
  open = 0;

  track(socket: Duplex): void {
    this.open += 1;
    socket.once('close', this.closed);
  }

  private readonly closed = (): void => {
    this.open -= 1;
  };
}
