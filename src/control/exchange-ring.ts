/**
 * The last N finished exchanges, held for the control API (`GET /api/exchanges`). The records are
 * kept as they are and redacted only when asked for, so the proxy's hot path pays one array write
 * per exchange. Captured bodies can be large (up to --capture-bytes per direction): past a byte
 * budget the oldest records lose their bodies (and WebSocket message data) first, so the ring's
 * memory stays bounded.
 */
import type { Exchange } from '../core/exchange.js';

/** Captured body bytes the ring may hold in all. */
export const RING_BODY_BUDGET = 64 * 1024 * 1024;

interface Held {
  exchange: Exchange;
  bodyBytes: number;
}

export class ExchangeRing {
  private readonly slots: Array<Held | undefined>;
  private next = 0;
  private count = 0;
  private bodyBytes = 0;
  private readonly byId = new Map<string, Held>();

  constructor(
    readonly capacity: number,
    private readonly bodyBudget = RING_BODY_BUDGET,
  ) {
    this.slots = new Array<Held | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(exchange: Exchange): void {
    const bytes = capturedBytes(exchange);
    const held: Held = { exchange, bodyBytes: bytes };
    const old = this.slots[this.next];
    if (old !== undefined) {
      this.bodyBytes -= old.bodyBytes;
      this.byId.delete(old.exchange.id);
    }
    this.slots[this.next] = held;
    this.byId.set(exchange.id, held);
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count += 1;
    this.bodyBytes += bytes;
    if (this.bodyBytes > this.bodyBudget) this.shed();
  }

  /** Forgets every record (POST /api/reset). */
  clear(): void {
    this.slots.fill(undefined);
    this.byId.clear();
    this.next = 0;
    this.count = 0;
    this.bodyBytes = 0;
  }

  get(id: string): Exchange | undefined {
    return this.byId.get(id)?.exchange;
  }

  /** Most recent first, at most `limit` of those `keep` accepts (all by default). */
  recent(limit: number, keep: (x: Exchange) => boolean = () => true): Exchange[] {
    const out: Exchange[] = [];
    for (let i = 1; i <= this.count && out.length < limit; i++) {
      const x = this.slots[(this.next - i + this.capacity) % this.capacity]!.exchange;
      if (keep(x)) out.push(x);
    }
    return out;
  }

  /** Drops the bodies of the oldest records until the budget holds again (the newest keeps its own). */
  private shed(): void {
    for (let i = this.count; i >= 2 && this.bodyBytes > this.bodyBudget; i--) {
      const held = this.slots[(this.next - i + this.capacity) % this.capacity]!;
      if (held.bodyBytes === 0) continue;
      // A copy without the bodies and WebSocket message data: the proxy's record is not changed,
      // only no longer held. The WebSocket counts stay; its messages count as dropped.
      const { bodies: _dropped, ...rest } = held.exchange;
      const ws = rest.websocket;
      if (ws !== undefined && ws.messages.length > 0) rest.websocket = { ...ws, messages: [], dropped: ws.dropped + ws.messages.length };
      held.exchange = rest;
      this.bodyBytes -= held.bodyBytes;
      held.bodyBytes = 0;
    }
  }
}

/** Bytes of captured data a record holds: bodies both ways and WebSocket messages. */
function capturedBytes(x: Exchange): number {
  let bytes = (x.bodies?.request?.bytes.length ?? 0) + (x.bodies?.response?.bytes.length ?? 0);
  for (const m of x.websocket?.messages ?? []) bytes += m.data.length;
  return bytes;
}
