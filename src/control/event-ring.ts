/**
 * The live feed's memory of recent events (docs/control-api.md "Live feed"), so a subscriber that
 * reconnects with `since=SEQ` gets what it has not seen.
 *
 * Events are held as the batches they were sent in (feed-hub.ts): one buffer of the messages'
 * bytes back to back and a table of where each ends, never as the proxy's Exchange records nor
 * as an object per event. Under load a ring of 10,000 events as objects kept that many objects
 * alive past the young generation, and the garbage collector paid for copying and promoting every
 * one of them; a batch of a hundred events is three objects. Past capacity the oldest events go
 * (a batch part-gone is held until all of it is).
 */

export const STARTED = 1;
export const FINISHED = 2;

/** The events of one flush, seqs `firstSeq` … `firstSeq + count - 1` in order. */
export interface EventBatch {
  readonly firstSeq: number;
  readonly count: number;
  /** STARTED or FINISHED, per event. */
  readonly types: Uint8Array;
  /** The messages as sent, `{seq, type, time, exchange}` in JSON, UTF-8, back to back. */
  readonly payload: Buffer;
  /** Where message i ends in `payload`; it starts where message i - 1 ends (0 for the first). */
  readonly ends: Uint32Array;
  /** The transport's encoding of every message of the batch, made once for all the subscribers that take them all (feed.ts). */
  wire?: Buffer;
}

/** One held event, for a replay. */
export interface HeldEvent {
  seq: number;
  type: 'started' | 'finished';
  data: Buffer;
}

/**
 * The batch being gathered: each message's text is written into one buffer as it comes, so the
 * queue holds bytes, not strings. A message built by concatenation is a tree of string pieces
 * until it is flattened; queued as a string for FLUSH_MS it outlived a scavenge and the garbage
 * collector copied every piece. The buffer is reused from batch to batch.
 */
/** Node's Buffer binding, present on every Buffer though @types/node does not declare it. */
interface Utf8Writable {
  utf8Write(text: string, offset: number): number;
}

export class BatchBuilder {
  private buffer = Buffer.allocUnsafe(64 * 1024);
  private length = 0;
  private ends: number[] = [];
  private types: number[] = [];

  get count(): number {
    return this.ends.length;
  }

  /** Adds one message (JSON text); its index in the batch. */
  add(type: number, text: string): number {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const room = text.length * 3;
    if (this.length + room > this.buffer.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + room));
      this.buffer.copy(bigger, 0, 0, this.length);
      this.buffer = bigger;
    }
    // utf8Write: Buffer#write without its argument checks and encoding lookup, which cost more than
    // the copy for messages this short (Node's own binding, the one Buffer#write ends in).
    this.length += (this.buffer as unknown as Utf8Writable).utf8Write(text, this.length);
    this.ends.push(this.length);
    this.types.push(type);
    return this.ends.length - 1;
  }

  /** The batch of the messages added since the last take (seqs firstSeq, firstSeq + 1, …); starts a new one. */
  take(firstSeq: number): EventBatch {
    const batch: EventBatch = {
      firstSeq,
      count: this.ends.length,
      types: Uint8Array.from(this.types),
      // A copy of its own size: the ring holds it, the builder's buffer is reused.
      payload: Buffer.from(this.buffer.subarray(0, this.length)),
      ends: Uint32Array.from(this.ends),
    };
    this.length = 0;
    this.ends = [];
    this.types = [];
    return batch;
  }
}

/** Message i of a batch (a view of its bytes, not a copy). */
export function messageOf(batch: EventBatch, i: number): Buffer {
  return batch.payload.subarray(i === 0 ? 0 : batch.ends[i - 1], batch.ends[i]);
}

export class EventRing {
  private batches: EventBatch[] = [];
  private head = 0;
  /** Events at the start of the oldest batch that are no longer held. */
  private headGone = 0;
  private events = 0;

  constructor(readonly capacity: number) {}

  /** Events held. */
  get size(): number {
    return this.events;
  }

  push(batch: EventBatch): void {
    this.batches.push(batch);
    this.events += batch.count;
    while (this.events > this.capacity) {
      const oldest = this.batches[this.head]!;
      const over = this.events - this.capacity;
      const left = oldest.count - this.headGone;
      if (over < left) {
        this.headGone += over;
        this.events -= over;
        break;
      }
      this.events -= left;
      this.batches[this.head] = undefined as unknown as EventBatch;
      this.head += 1;
      this.headGone = 0;
    }
    // The array's dead front is cut once it is as long as what is held (amortized O(1)).
    if (this.head > 64 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head);
      this.head = 0;
    }
  }

  /** The events held with a seq above `seq`, oldest first. */
  after(seq: number): HeldEvent[] {
    const out: HeldEvent[] = [];
    // Newest batches backwards until one that starts at or below `seq`: a recent `since` (the
    // usual reconnect) reads the last batch or two, not the whole ring.
    let from = this.batches.length;
    while (from > this.head && this.batches[from - 1]!.firstSeq > seq) from -= 1;
    if (from > this.head) from -= 1;
    for (let b = from; b < this.batches.length; b++) {
      const batch = this.batches[b]!;
      for (let i = b === this.head ? this.headGone : 0; i < batch.count; i++) {
        const eventSeq = batch.firstSeq + i;
        if (eventSeq <= seq) continue;
        out.push({ seq: eventSeq, type: batch.types[i] === STARTED ? 'started' : 'finished', data: messageOf(batch, i) });
      }
    }
    return out;
  }

  clear(): void {
    this.batches = [];
    this.head = 0;
    this.headGone = 0;
    this.events = 0;
  }
}
