/**
 * Where JSON log lines go: a pino destination that collects the lines of an event-loop turn and
 * writes them together at the end of it, one `fs.write` in flight at a time (lines logged while a
 * write is out go together in the next one).
 *
 * pino's own buffered SonicBoom did the same job at about 6 µs a request at 15k requests/s: it
 * measures its growing buffer string (Buffer.byteLength) on every line. Holding lines longer
 * than a turn was tried too (one write per 25 ms): no cheaper, and the held lines outlived young
 * GC and added some 30 MB of RSS under load.
 *
 * How a batch is written depends on what the fd is. A regular file (or /dev/null) is written
 * synchronously: the page cache takes a 3 KB batch in ~4 µs, while handing the same batch to
 * libuv's thread pool (`fs.write`) cost 20-40 µs of CPU in wake-ups and context switches, which
 * came to ~5 µs a request under load (pino's own destination is synchronous by default for the
 * same reason); but a write slower than 2 ms (a busy disk) sends the writes to the thread pool
 * for 10 s (core/sync-writes.ts). A pipe, socket or terminal is always written asynchronously,
 * so that a reader that stops reading never blocks the event loop.
 *
 * Nothing is lost on the way out: `flush(cb)` writes at once and calls back when the disk (or
 * pipe) has it, and lines still queued when the process exits are written synchronously.
 */
import { fstatSync, write, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { SyncWriteGate } from './core/sync-writes.js';

/** A pipe that is full (EAGAIN) is tried again after this long. */
const RETRY_MS = 10;
/** Past this many queued bytes (a reader that stopped reading), new lines are dropped. */
const MAX_QUEUED = 16 * 1024 * 1024;

const open = new Set<BatchedDestination>();

export class BatchedDestination {
  private lines: string[] = [];
  private queued = 0;
  private writing = false;
  private scheduled = false;
  private waiters: Array<(err?: Error) => void> = [];
  private dropped = 0;
  /** 'sync' for a regular file or a character device that is not a terminal (/dev/null). */
  readonly mode: 'sync' | 'async';
  /** Closed for a while after a slow synchronous write: a busy disk must not hold the proxy back. */
  private readonly gate = new SyncWriteGate();

  constructor(private readonly fd: number) {
    this.mode = modeFor(fd);
    // One exit listener for every destination of the process.
    if (open.size === 0) {
      process.on('exit', () => {
        for (const destination of open) destination.flushSync();
      });
    }
    open.add(this);
  }

  write(line: string): void {
    if (this.queued > MAX_QUEUED) {
      this.dropped += 1;
      return;
    }
    if (this.dropped > 0) this.noteDropped();
    this.lines.push(line);
    this.queued += line.length;
    if (!this.writing) this.schedule();
  }

  /** Writes what is queued now; `cb` once it is all written. */
  flush(cb?: (err?: Error) => void): void {
    if (cb !== undefined) this.waiters.push(cb);
    if (!this.writing) this.writeQueued();
  }

  /** At exit: whatever is still queued, synchronously (a write in flight is already handed over). */
  flushSync(): void {
    if (this.dropped > 0) this.noteDropped();
    if (this.lines.length > 0) this.writeNow(this.take());
  }

  /** Lines dropped while the reader was not reading are counted on a line of their own (pino's JSON shape, level warn). */
  private noteDropped(): void {
    this.lines.push(`{"level":40,"time":${Date.now()},"count":${this.dropped},"msg":"log lines dropped: the log's reader did not keep up"}\n`);
    this.dropped = 0;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.writeQueued);
  }

  private take(): Buffer {
    const data = Buffer.from(this.lines.length === 1 ? this.lines[0]! : this.lines.join(''), 'utf8');
    this.lines = [];
    this.queued = 0;
    return data;
  }

  private readonly writeQueued = (): void => {
    this.scheduled = false;
    if (this.writing) return;
    if (this.lines.length === 0) return this.settle();
    if (this.mode === 'sync' && this.gate.open) {
      const data = this.take();
      this.gate.timed(() => this.writeNow(data));
      return this.settle();
    }
    this.writing = true;
    this.writeFrom(this.take(), 0);
  };

  /** The batch in full, synchronously: a sync-mode turn, or whatever is queued at exit. */
  private writeNow(data: Buffer): void {
    try {
      for (let offset = 0, n = 1; offset < data.length && n > 0; offset += n) n = writeSync(this.fd, data, offset);
    } catch {
      // The file cannot be written (disk full, fd closed, stderr gone): this batch is lost, and
      // there is nowhere left to say so; the next batch tries again.
    }
  }

  private writeFrom(data: Buffer, offset: number): void {
    write(this.fd, data, offset, data.length - offset, null, (err, n) => {
      if (err?.code === 'EAGAIN') return void setTimeout(() => this.writeFrom(data, offset), RETRY_MS);
      // Any other error (EPIPE: the reader is gone) loses this batch; the next one tries again.
      if (!err && offset + n < data.length) return this.writeFrom(data, offset + n);
      this.writing = false;
      // Lines that came while this write was out go together in the next one.
      if (this.lines.length > 0 || this.waiters.length > 0) this.writeQueued();
    });
  }

  private settle(): void {
    if (this.waiters.length === 0) return;
    for (const cb of this.waiters.splice(0)) cb();
  }
}

function modeFor(fd: number): 'sync' | 'async' {
  try {
    const stat = fstatSync(fd);
    return stat.isFile() || (stat.isCharacterDevice() && !isatty(fd)) ? 'sync' : 'async';
  } catch {
    return 'async';
  }
}
