/**
 * Bandwidth limit for the `throttle` rule action (`throttle: 8kb/s`): a Transform that one
 * direction of an exchange is piped through, passing bytes on in slices so that the average rate
 * stays at or under the limit.
 *
 * Token bucket: tokens (bytes) accrue at the rate, up to a burst of BURST_SECONDS worth, and a
 * slice goes out when there are tokens for it. The bucket starts full, so the first slice leaves
 * at once, and a long poll's small keep-alive lines (MAPI/HTTP `PENDING`) pass with no added
 * delay while the stream is under the rate: the bucket refills in the X-PendingPeriod between
 * them (MS-OXCMAPIHTTP 3.2.5.5), so docs/running.md "Streaming", stream by default, holds for
 * throttled streams too.
 *
 * One input chunk is in hand at a time: the Transform callback is called only once its last byte
 * has been pushed, so a fast writer is held back by the ordinary stream backpressure rather than
 * buffered here.
 */
import { Transform, type TransformCallback } from 'node:stream';

/**
 * The burst allowance, in seconds of the rate: 100 ms keeps the long-run rate honest (any window
 * of T seconds carries at most rate × T + burst bytes) while the slices, about ten a second, are
 * large enough that timers are not the cost.
 */
const BURST_SECONDS = 0.1;

/**
 * The burst never drops below this many bytes, so that at very low rates (under 640 B/s) a
 * keep-alive (`PENDING\r\n` is 9 bytes, 14 with its chunked framing `9\r\n…\r\n`) or a short
 * status line still passes in one piece and at once, instead of a byte at a time.
 */
const MIN_BURST_BYTES = 64;

export class Throttle extends Transform {
  /** Bytes per millisecond. */
  private readonly rate: number;
  /** Most tokens the bucket holds: the largest burst. */
  private readonly capacity: number;
  /** Tokens to wait for before the next slice (less when less is left of the chunk). */
  private readonly slice: number;
  private tokens: number;
  private refilledAt = performance.now();
  private timer: NodeJS.Timeout | undefined;
  /** The chunk being passed on, how much of it has gone, and the callback that asks for the next. */
  private pending: { chunk: Buffer; offset: number; done: TransformCallback } | undefined;

  constructor(bytesPerSecond: number) {
    // Rule validation (schema-actions.ts) only lets positive rates through; anything else is a bug.
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) {
      throw new RangeError(`Throttle needs a positive, finite number of bytes per second (got ${bytesPerSecond})`);
    }
    super();
    this.rate = bytesPerSecond / 1000;
    this.slice = Math.max(1, Math.ceil(bytesPerSecond * BURST_SECONDS));
    this.capacity = Math.max(this.slice, MIN_BURST_BYTES);
    this.tokens = this.capacity;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending = { chunk, offset: 0, done };
    this.pass();
  }

  /**
   * Nothing to wait for: _flush runs only after the last chunk's callback, and that callback
   * comes after the chunk's last byte was pushed.
   */
  override _flush(done: TransformCallback): void {
    done();
  }

  /** No timer outlives the stream: a closed connection stops its throttle at once. */
  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    done(error);
  }

  /** Pushes what the tokens allow, then waits for enough tokens for the next slice. */
  private pass(): void {
    this.timer = undefined;
    const pending = this.pending;
    while (pending !== undefined && pending === this.pending) {
      const left = pending.chunk.length - pending.offset;
      if (left === 0) {
        this.pending = undefined;
        pending.done();
        return;
      }
      this.refill();
      const want = Math.min(left, this.slice);
      if (this.tokens < want) {
        const waitMs = Math.max(1, Math.ceil((want - this.tokens) / this.rate));
        this.timer = setTimeout(() => this.pass(), waitMs);
        return;
      }
      // More than one slice may go at once when the bucket has filled up since the last one.
      const size = Math.min(left, Math.floor(this.tokens));
      this.tokens -= size;
      const from = pending.offset;
      pending.offset += size;
      this.push(pending.chunk.subarray(from, from + size));
    }
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.refilledAt) * this.rate);
    this.refilledAt = now;
  }
}
