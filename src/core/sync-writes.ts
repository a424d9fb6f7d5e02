/**
 * When a regular file may be written synchronously (log-destination.ts, record/journal.ts).
 *
 * Normally the page cache takes a batch of lines in tens of microseconds, much less than the
 * 20–40 µs of wake-ups it costs to hand the same batch to libuv's thread pool. But a disk that is
 * busy (writeback of gigabytes, a discard after a large file was deleted, a full page cache)
 * can make each write take milliseconds, and then a synchronous write holds every exchange of
 * the proxy back: measured here after 1.5 GB were written and deleted, logging one line per
 * exchange cost ~110 µs of CPU more per request for ~30 s. So a write slower than SLOW_MS sends
 * the writes to the thread pool for SPELL_MS, after which synchronous writes are tried again.
 */

/** A page-cache write of a batch (tens of KB) takes well under this. */
export const SLOW_WRITE_MS = 2;
export const ASYNC_SPELL_MS = 10_000;

/**
 * The journal closes its gate only after STRIKES slow writes within STRIKE_WINDOW_MS: a write
 * timed by the wall clock is also "slow" when the process was merely preempted during it (a
 * loaded machine, a CPU-starved container), and each switch to the thread pool suspends the
 * journal's guarantee that a record is in the file before its client has the answer
 * (record/journal.ts). A disk that is really slow makes every write slow, and trips it at once.
 */
export const STRIKES = 3;
export const STRIKE_WINDOW_MS = 1000;

export class SyncWriteGate {
  private asyncUntil = 0;
  /** performance.now() of the recent slow writes, oldest first. */
  private slow: number[] = [];

  constructor(
    private readonly slowMs = SLOW_WRITE_MS,
    private readonly spellMs = ASYNC_SPELL_MS,
    private readonly strikes = 1,
  ) {}

  /** Whether the next write may be synchronous. */
  get open(): boolean {
    return this.asyncUntil === 0 || performance.now() >= this.asyncUntil;
  }

  /** Runs a synchronous write and times it; true when it was slow and the gate has just closed. */
  timed(write: () => void): boolean {
    const started = performance.now();
    write();
    return this.took(performance.now() - started);
  }

  /** Reports how long a synchronous write took; true when it was slow and the gate has just closed. */
  took(ms: number): boolean {
    if (ms <= this.slowMs) return false;
    const at = performance.now();
    if (this.strikes > 1) {
      this.slow = this.slow.filter((t) => at - t < STRIKE_WINDOW_MS);
      this.slow.push(at);
      if (this.slow.length < this.strikes) return false;
      this.slow = [];
    }
    this.asyncUntil = at + this.spellMs;
    return true;
  }
}
