/**
 * The cap on client connections (`--max-connections`). Above it the listening socket closes
 * new connections as it accepts them (net.Server `maxConnections`: no HTTP is read, no file
 * descriptor is kept), so a flood can never take the descriptors that connections already
 * open need for their upstreams, the journal and the log. Refusals come in bursts: one warning
 * per burst, written once no refusal came for BURST_QUIET_MS, carries how many were refused,
 * and the running total is kept for the control plane and tests.
 */
import type { Server } from 'node:net';
import type { Logger } from 'pino';

/** A burst is over after this long without a refusal. */
export const BURST_QUIET_MS = 1000;

export class ConnectionLimit {
  /** Connections refused since the start. */
  refused = 0;
  private burst = 0;
  private burstStart = 0;
  private lastRefusal = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly max: number,
    private readonly log: Logger,
  ) {}

  /** Caps `server` (the socket that accepts clients: the HTTP server, or the TLS front). */
  apply(server: Server): void {
    server.maxConnections = this.max;
    server.on('drop', this.onDrop);
  }

  /** Writes the line of a burst still open (at shutdown). */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.burst === 0) return;
    this.log.warn(
      { refused: this.burst, seconds: Math.round((this.lastRefusal - this.burstStart) / 100) / 10, maxConnections: this.max, refusedTotal: this.refused },
      `refused ${this.burst} client connection(s): ${this.max} were open (--max-connections)`,
    );
    this.burst = 0;
  }

  private readonly onDrop = (): void => {
    const at = performance.now();
    this.refused += 1;
    this.lastRefusal = at;
    if (this.burst++ === 0) {
      this.burstStart = at;
      this.arm(BURST_QUIET_MS);
    }
  };

  private arm(ms: number): void {
    this.timer = setTimeout(this.check, ms);
    this.timer.unref();
  }

  private readonly check = (): void => {
    const quiet = performance.now() - this.lastRefusal;
    if (quiet < BURST_QUIET_MS) return this.arm(BURST_QUIET_MS - quiet);
    this.flush();
  };
}
