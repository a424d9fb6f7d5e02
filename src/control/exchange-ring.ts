/**
 * The last N finished exchanges, held for the control API (`GET /api/exchanges`). The records are
 * kept as they are and redacted only when asked for, so the proxy's hot path pays two array
 * writes per exchange: no wrapper object and no index by id, whose upkeep (a Map set and delete
 * per exchange, and one more object per held record for the garbage collector to copy) cost
 * about a microsecond per exchange under load. `get(id)` looks through the slots instead: a
 * control call, not a per-exchange cost.
 *
 * Captured bodies can be large (up to --capture-bytes per direction): past a byte budget the
 * oldest records lose their bodies (and WebSocket message data) first, so the ring's memory stays
 * bounded.
 */
import type { Exchange } from '../core/exchange.js';

/** Captured body bytes the ring may hold in all. */
export const RING_BODY_BUDGET = 64 * 1024 * 1024;

export class ExchangeRing {
  private readonly slots: Array<Exchange | undefined>;
  /** Captured bytes each slot's record holds (0 once shed). */
  private readonly slotBytes: Float64Array;
  private next = 0;
  private count = 0;
  private bodyBytes = 0;

  constructor(
    readonly capacity: number,
    private readonly bodyBudget = RING_BODY_BUDGET,
  ) {
    this.slots = new Array<Exchange | undefined>(capacity);
    this.slotBytes = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(exchange: Exchange): void {
    const bytes = capturedBytes(exchange);
    this.bodyBytes += bytes - this.slotBytes[this.next]!;
    this.slots[this.next] = exchange;
    this.slotBytes[this.next] = bytes;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count += 1;
    if (this.bodyBytes > this.bodyBudget) this.shed();
  }

  /** Forgets every record (POST /api/reset). */
  clear(): void {
    this.slots.fill(undefined);
    this.slotBytes.fill(0);
    this.next = 0;
    this.count = 0;
    this.bodyBytes = 0;
  }

  /** The record with this id, newest first (a recent one, the usual ask, is found at once). */
  get(id: string): Exchange | undefined {
    for (let i = 1; i <= this.count; i++) {
      const x = this.slots[(this.next - i + this.capacity) % this.capacity]!;
      if (x.id === id) return x;
    }
    return undefined;
  }

  /** Most recent first, at most `limit` of those `keep` accepts (all by default). */
  recent(limit: number, keep: (x: Exchange) => boolean = () => true): Exchange[] {
    const out: Exchange[] = [];
    for (let i = 1; i <= this.count && out.length < limit; i++) {
      const x = this.slots[(this.next - i + this.capacity) % this.capacity]!;
      if (keep(x)) out.push(x);
    }
    return out;
  }

  /** Drops the bodies of the oldest records until the budget holds again (the newest keeps its own). */
  private shed(): void {
    for (let i = this.count; i >= 2 && this.bodyBytes > this.bodyBudget; i--) {
      const slot = (this.next - i + this.capacity) % this.capacity;
      if (this.slotBytes[slot] === 0) continue;
      this.slots[slot] = withoutCaptures(this.slots[slot]!);
      this.bodyBytes -= this.slotBytes[slot]!;
      this.slotBytes[slot] = 0;
    }
  }
}

/**
 * A copy without the bodies and WebSocket message data (the record itself when it has none): the
 * proxy's record is not changed. The WebSocket counts stay; its messages count as dropped.
 */
export function withoutCaptures(x: Exchange): Exchange {
  const ws = x.websocket;
  if (x.bodies === undefined && (ws === undefined || ws.messages.length === 0)) return x;
  const { bodies: _dropped, ...rest } = x;
  if (ws !== undefined && ws.messages.length > 0) rest.websocket = { ...ws, messages: [], dropped: ws.dropped + ws.messages.length };
  return rest;
}

/** Bytes of captured data a record holds: bodies both ways and WebSocket messages. */
function capturedBytes(x: Exchange): number {
  const bodies = x.bodies;
  let bytes = bodies === undefined ? 0 : (bodies.request?.bytes.length ?? 0) + (bodies.response?.bytes.length ?? 0);
  const ws = x.websocket;
  if (ws !== undefined) for (const m of ws.messages) bytes += m.data.length;
  return bytes;
}
