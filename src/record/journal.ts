/**
 * The journal writer: one NDJSON line per finished exchange, appended (docs/recordings.md "Redaction",
 * issue 6 item 1). Only whole lines are written in order, one write in flight at a time: a
 * `kill -9` can cut at most the last line, which the reader skips and reports (journal-read.ts).
 *
 * A regular file is written synchronously as each line is appended: the pipeline emits an
 * exchange's record before the response's last bytes are handed to the client's socket
 * (proxy/finish-record.ts), so a line written then is in the kernel before the client can know
 * its exchange is complete, and a `kill -9` never loses an exchange a client saw complete
 * (issue 21, finding 5; lines used to wait for the end of the event-loop turn, one write for
 * all of them, and a kill in that turn lost exchanges already answered). A synchronous write
 * of one line to the page cache costs a few microseconds; handing writes to libuv's thread pool
 * (`fs.writev`) cost ~2 µs of the event loop's time and ~3.5 µs of the pool's per exchange under
 * load, in wake-ups (the same finding as src/log-destination.ts). The disk still never holds the
 * proxy back for long: a write that takes longer than 2 ms (a busy disk, a full page cache being
 * flushed) moves the writes to the thread pool for 10 s (core/sync-writes.ts), and there the
 * guarantee above lapses: lines of one event-loop turn go out together once the write before
 * them is done, and while a write is slow they queue in memory up to a bound; past it,
 * exchanges are counted and a `dropped` line says how many were lost and why. Anything that is
 * not a regular file is always written that way.
 */
import { closeSync, openSync, writev, writevSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Logger } from 'pino';
import { ProgramError } from '../errors.js';
import { JOURNAL_VERSION, type DroppedLine, type RunLine } from './entry.js';
import { FILE_MODE, isRegularFile, looseMode, makeFolder, openFresh, resolveFile, sizeOf } from './journal-files.js';
import type { LineParts } from './exchange-json.js';
import { JournalIndex } from './journal-index.js';
import { ASYNC_SPELL_MS, SLOW_WRITE_MS, STRIKES, SyncWriteGate } from '../core/sync-writes.js';

export interface JournalOptions {
  /** A file (anything with an extension), or a folder that gets `<start time>.ndjson`. */
  path: string;
  /** Past this size the file is closed and `<stem>.partN.ndjson` opened. */
  rotateBytes: number;
  /** The run line's facts (the first line of every part). */
  run: Omit<RunLine, 'v' | 'type' | 'time' | 'part'>;
  logger: Logger;
  /** Queued bytes beyond which exchanges are dropped (and counted) rather than held; default 64 MiB. */
  maxBacklogBytes?: number;
}

const DEFAULT_BACKLOG = 64 * 1024 * 1024;
/**
 * Lines are encoded into slabs of this size as they are appended (no string per line to join and
 * encode again at write time); body bytes this large or larger are written from their own buffer.
 */
const SLAB = 64 * 1024;
const OWN_BUFFER = 16 * 1024;
/** writev(2) takes at most IOV_MAX (1024 on Linux) buffers a call. */
const MAX_BUFFERS = 1024;

export class Journal {
  /** The file being written now. */
  file: string;
  private fd: number;
  private part = 1;
  private written = 0;
  /** Bytes ready to write, in order: sealed stretches of slabs and large bodies. */
  private queue: Buffer[] = [];
  private queued = 0;
  /** The slab lines are encoded into; bytes from `sealed` to `used` are not queued yet. */
  private slab = Buffer.allocUnsafe(SLAB);
  private sealed = 0;
  private used = 0;
  private writing = false;
  private scheduled = false;
  private dropped = 0;
  private dropReason = '';
  /** Lines lost since the start, never reset (the control plane's metrics): over the backlog bound, in failed writes. */
  readonly lost = { backlog: 0, writeFailed: 0 };
  private closed = false;
  private idle: Array<() => void> = [];
  /** The file can be written synchronously (a regular file), while the gate is open. */
  private syncFile: boolean;
  private readonly gate = new SyncWriteGate(SLOW_WRITE_MS, ASYNC_SPELL_MS, STRIKES);
  private readonly stem: string;
  private readonly maxBacklog: number;
  /** Where each exchange's line went (journal-index.ts), for GET /api/exchanges/{id}. */
  readonly index = new JournalIndex();
  /**
   * Positions in the stream of appended bytes (the index's coordinates): bytes appended through
   * text() and bytes() so far, and how many of them writes have taken. A rotation's run line is
   * not in the stream: it is queued ahead of it (`runAhead` bytes, taken by the next write).
   */
  private appended = 0;
  private taken = 0;
  private runAhead = 0;
  /** Where the next byte lands in the file being written (`written` restarts at a failed rotation; this does not). */
  private at = 0;
  /** The write in flight: its first stream position, its run line bytes, and `at` when it began. */
  private batchFrom = 0;
  private batchRun = 0;
  private batchAt = 0;

  private constructor(
    private readonly options: JournalOptions,
    file: string,
    fd: number,
  ) {
    this.file = file;
    this.fd = fd;
    this.stem = join(dirname(file), basename(file, extname(file)));
    this.maxBacklog = options.maxBacklogBytes ?? DEFAULT_BACKLOG;
    this.written = sizeOf(file);
    this.at = this.written;
    this.index.segment(0, file, this.at);
    this.syncFile = isRegularFile(fd);
    this.appendLine(this.runLine());
  }

  /** Opens (creating folders as needed) and writes the run line; a path that cannot be written is an ERR_JOURNAL. */
  static open(options: JournalOptions): Journal {
    const { file, explicit } = resolveFile(options.path);
    try {
      makeFolder(file);
      // A file named by the user is appended to (a second run adds its own run line); a file
      // the journal names itself is new, so two runs started in the same second never mix.
      // Created 0600: the lines hold bodies (journal-files.ts).
      const opened = explicit ? { fd: openSync(file, 'a', FILE_MODE), name: file } : openFresh(file);
      const loose = looseMode(opened.fd);
      if (loose !== undefined) options.logger.warn({ journal: opened.name, mode: loose }, 'the journal is readable by other users and will hold bodies; chmod 600 it');
      return new Journal(options, opened.name, opened.fd);
    } catch (err) {
      if (err instanceof ProgramError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new ProgramError('ERR_JOURNAL', `cannot write the journal ${file} (${e.code ?? e.message})`, 'choose a writable place with --record PATH, or turn recording off with --no-record');
    }
  }

  /** Appends one journal line (an object with `v` and `type`). */
  append(line: object): void {
    if (this.admit()) this.appendLine(JSON.stringify(line) + '\n');
  }

  /** Appends one line already written as JSON text, with body bytes spliced in (exchange-json.ts); `id`: the exchange's, for the index. */
  appendParts(parts: LineParts, id?: string): void {
    if (!this.admit()) {
      if (id !== undefined && !this.closed) this.index.droppedBacklog(id);
      return;
    }
    this.noteDropped();
    const start = this.appended;
    for (const part of parts) {
      if (typeof part === 'string') this.text(part);
      else this.bytes(part);
    }
    if (id !== undefined) this.index.line(id, start, this.appended - start);
    this.scheduleWrite();
  }

  /** False (and the exchange counted as dropped) while the backlog is over its bound. */
  private admit(): boolean {
    if (this.closed) return false;
    if (this.queued > this.maxBacklog) {
      this.drop('the disk did not keep up: more than ' + Math.round(this.maxBacklog / 1048576) + ' MiB waited to be written');
      return false;
    }
    return true;
  }

  /** Resolves once everything appended so far is in the file. */
  flush(): Promise<void> {
    if (!this.writing && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle.push(resolve);
      this.kick();
    });
  }

  /** Writes what is queued, then closes the file; later appends are ignored. */
  async close(): Promise<void> {
    if (this.closed) return;
    // The backlog first: a `dropped` line is only queued once there is room for it.
    await this.flush();
    this.noteDropped();
    await this.flush();
    this.closed = true;
    closeSync(this.fd);
  }

  private appendLine(text: string): void {
    this.noteDropped();
    this.text(text);
    this.scheduleWrite();
  }

  private scheduleWrite(): void {
    if (this.writing) return; // the write in flight kicks the queue when it is done
    // Written now, before the caller goes on to hand the response's last bytes to the client.
    if (this.syncFile && this.gate.open) return this.kick();
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.kick);
    }
  }

  /** Encodes `text` (UTF-8) onto the slab; a new slab when this one may not have room. */
  private text(text: string): void {
    // UTF-8 takes at most three bytes per UTF-16 code unit.
    const most = text.length * 3;
    if (most > SLAB) return this.bytes(Buffer.from(text, 'utf8'));
    if (this.slab.length - this.used < most) this.newSlab(most);
    const n = this.slab.write(text, this.used);
    this.used += n;
    this.queued += n;
    this.appended += n;
  }

  private bytes(bytes: Buffer): void {
    if (bytes.length >= OWN_BUFFER) {
      // Captured bodies are never written to once captured: queued as they are, not copied.
      this.seal();
      this.queue.push(bytes);
    } else {
      if (this.slab.length - this.used < bytes.length) this.newSlab(bytes.length);
      this.used += bytes.copy(this.slab, this.used);
    }
    this.queued += bytes.length;
    this.appended += bytes.length;
  }

  /** Queues the slab's unqueued bytes (a write may be reading them from then on; they are never written again). */
  private seal(): void {
    if (this.used === this.sealed) return;
    this.queue.push(this.slab.subarray(this.sealed, this.used));
    this.sealed = this.used;
  }

  private newSlab(atLeast: number): void {
    this.seal();
    this.slab = Buffer.allocUnsafe(Math.max(SLAB, atLeast));
    this.sealed = 0;
    this.used = 0;
  }

  private drop(reason: string): void {
    if (this.dropped === 0) this.options.logger.error({ journal: this.file, reason }, 'journal dropping exchanges');
    this.dropped += 1;
    this.lost.backlog += 1;
    this.dropReason = reason;
  }

  /** Says how many exchanges were lost as soon as lines can be queued again: never silently. */
  private noteDropped(): void {
    if (this.dropped === 0 || this.queued > this.maxBacklog) return;
    const line: DroppedLine = { v: JOURNAL_VERSION, type: 'dropped', time: Date.now(), count: this.dropped, reason: this.dropReason };
    this.options.logger.warn({ journal: this.file, count: this.dropped }, 'journal dropped exchanges');
    this.dropped = 0;
    this.text(JSON.stringify(line) + '\n');
  }

  private readonly kick = (): void => {
    this.scheduled = false;
    if (this.writing) return;
    this.seal();
    while (this.queue.length > 0) {
      let buffers = this.queue;
      if (buffers.length > MAX_BUFFERS) {
        this.queue = buffers.slice(MAX_BUFFERS);
        buffers = buffers.slice(0, MAX_BUFFERS);
      } else {
        this.queue = [];
      }
      let size = 0;
      for (const buffer of buffers) size += buffer.length;
      this.queued -= size;
      // A rotation's run line is the queue's first buffer, so it goes in this batch.
      this.batchFrom = this.taken;
      this.batchRun = this.runAhead;
      this.batchAt = this.at;
      this.taken += size - this.runAhead;
      this.runAhead = 0;
      if (!this.syncFile || !this.gate.open) {
        this.writing = true;
        this.writeAll(buffers, size);
        return;
      }
      this.writeNow(buffers, size);
      this.index.settled = this.taken;
      if (this.written >= this.options.rotateBytes) this.rotate();
    }
    for (const resolve of this.idle.splice(0)) resolve();
  };

  /** A synchronous write of the batch, short writes continued; a slow one starts an async spell. */
  private writeNow(buffers: Buffer[], size: number): void {
    if (this.gate.timed(() => this.writeAllNow(buffers, size))) {
      // Info, not debug: until the spell ends, a `kill -9` can lose exchanges already answered.
      this.options.logger.info({ journal: this.file }, `journal writes were slow; writing from the thread pool for the next ${ASYNC_SPELL_MS / 1000} s`);
    }
  }

  private writeAllNow(buffers: Buffer[], size: number): void {
    let rest = buffers;
    let left = size;
    try {
      while (left > 0) {
        const n = writevSync(this.fd, rest);
        if (n === 0) throw Object.assign(new Error('the file took no bytes'), { code: 'EIO' });
        this.written += n;
        this.at += n;
        left -= n;
        if (left > 0) rest = skip(rest, n);
      }
    } catch (err) {
      this.failed(err as NodeJS.ErrnoException, rest);
    }
  }

  /** The lines of a failed write are lost; say so, keep the proxy running, try the next ones. */
  private failed(err: NodeJS.ErrnoException, buffers: Buffer[]): void {
    this.options.logger.error({ journal: this.file, err: { code: err.code, message: err.message } }, 'journal write failed');
    const lines = countLines(buffers);
    this.dropped += lines;
    this.lost.writeFailed += lines;
    this.dropReason = `a write failed (${err.code ?? err.message})`;
    // The stream bytes past what landed are lost; the next write lands where this one stopped.
    const landed = Math.max(0, this.at - this.batchAt - this.batchRun);
    this.index.lost(this.batchFrom + landed, this.taken, this.file, this.at);
  }

  private writeAll(buffers: Buffer[], size: number): void {
    writev(this.fd, buffers, null, (err, n) => {
      if (err) {
        this.failed(err, buffers);
      } else if (n < size) {
        this.written += n;
        this.at += n;
        return this.writeAll(skip(buffers, n), size - n);
      } else {
        this.written += size;
        this.at += size;
      }
      this.index.settled = this.taken;
      this.writing = false;
      if (this.written >= this.options.rotateBytes) this.rotate();
      this.kick();
    });
  }

  /** Closes this part and opens the next, which starts with its own run line. */
  private rotate(): void {
    const next = `${this.stem}.part${this.part + 1}.ndjson`;
    let opened: { fd: number; name: string };
    try {
      opened = openFresh(next);
    } catch (err) {
      this.options.logger.error({ journal: next, err: { code: (err as NodeJS.ErrnoException).code } }, 'journal cannot rotate; the current file keeps growing');
      this.written = 0;
      return;
    }
    closeSync(this.fd);
    this.fd = opened.fd;
    this.part += 1;
    this.file = opened.name;
    this.written = 0;
    this.options.logger.info({ journal: this.file, part: this.part }, 'journal rotated');
    // Ahead of whatever is queued, so every part starts with its run line.
    const run = Buffer.from(this.runLine(), 'utf8');
    this.queue.unshift(run);
    this.queued += run.length;
    // No write is in flight: every stream byte not taken yet lands in this part, after its run line.
    this.runAhead = run.length;
    this.at = 0;
    this.index.segment(this.taken, this.file, run.length);
  }

  private runLine(): string {
    const line: RunLine = { v: JOURNAL_VERSION, type: 'run', time: Date.now(), ...this.options.run, part: this.part };
    return JSON.stringify(line) + '\n';
  }
}

function countLines(buffers: Buffer[]): number {
  let count = 0;
  for (const data of buffers) for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) count += 1;
  return count;
}

/** The buffers after their first `n` bytes (a short write). */
export function skip(buffers: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < buffers.length && n >= buffers[i]!.length) n -= buffers[i++]!.length;
  const rest = buffers.slice(i);
  if (n > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}
