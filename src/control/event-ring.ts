/**
 * The live feed's memory of recent events (docs/control-api.md "Live feed"), so a subscriber that
 * reconnects with `since=SEQ` gets what it has not seen. Each event is held as the bytes already
 * sent to subscribers (serialized once) beside the small view the filter reads, never as the
 * proxy's Exchange record: a record can hold megabytes of captured bodies, an event a few hundred
 * bytes. A fixed number of slots: past capacity the oldest event goes.
 */
import type { FilterView } from '../core/filter.js';

export interface FeedEvent {
  seq: number;
  type: 'started' | 'finished';
  /** What the subscribers' filters test (core/filter.ts), as the event stood when it happened. */
  view: FilterView;
  /** The message as sent: `{seq, type, time, exchange}` in JSON, UTF-8. */
  data: Buffer;
}

export class EventRing {
  private readonly slots: Array<FeedEvent | undefined>;
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.slots = new Array<FeedEvent | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(event: FeedEvent): void {
    this.slots[this.next] = event;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count += 1;
  }

  /** The events held with a seq above `seq`, oldest first. */
  after(seq: number): FeedEvent[] {
    const out: FeedEvent[] = [];
    // Newest backwards until an event at or below `seq`, then reversed: a recent `since`
    // (the usual reconnect) reads a few slots, not the whole ring.
    for (let i = 1; i <= this.count; i++) {
      const event = this.slots[(this.next - i + this.capacity) % this.capacity]!;
      if (event.seq <= seq) break;
      out.push(event);
    }
    return out.reverse();
  }

  clear(): void {
    this.slots.fill(undefined);
    this.next = 0;
    this.count = 0;
  }
}
