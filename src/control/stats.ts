/**
 * Counts for `GET /api/status`: exchanges seen and in flight, by protocol and by verdict level.
 * A few integer increments per exchange.
 */
import type { Exchange, Verdict } from '../core/exchange.js';

export class ExchangeStats {
  seen = 0;
  finished = 0;
  readonly byProtocol: Record<string, number> = {};
  readonly verdicts: Record<Verdict['level'], number> = { ok: 0, notice: 0, violation: 0 };
  errors = 0;

  started(): void {
    this.seen += 1;
  }

  finish(x: Exchange): void {
    this.finished += 1;
    // Protocol exchanges by protocol; the rest by kind (http, tunnel, upgrade), as the report counts them.
    const kind = x.protocol?.protocol ?? (x.kind === 'tunnel' || x.kind === 'upgrade' ? x.kind : 'http');
    this.byProtocol[kind] = (this.byProtocol[kind] ?? 0) + 1;
    if (x.error !== undefined) this.errors += 1;
    for (const v of x.protocol?.verdicts ?? []) this.verdicts[v.level] += 1;
  }

  snapshot(): { seen: number; inFlight: number; finished: number; errors: number; byProtocol: Record<string, number>; verdicts: Record<Verdict['level'], number> } {
    return { seen: this.seen, inFlight: Math.max(0, this.seen - this.finished), finished: this.finished, errors: this.errors, byProtocol: { ...this.byProtocol }, verdicts: { ...this.verdicts } };
  }
}
