/**
 * The journal writer: one NDJSON line per finished exchange, appended (DESIGN.md "Invariants" 5,
 * issue 6 item 1). Lines of one event-loop turn go out in one write at the end of that turn, so a
 * quiet proxy's exchange is in the file a moment after it finished and a busy one pays one write
 * for many exchanges. Only whole lines are written in order, one write in flight at a time: a
 * `kill -9` can cut at most the last line, which the reader skips and reports (journal-read.ts).
 *
 * The disk never holds the proxy back: while a write is slow, lines queue in memory up to a
 * bound; past it, exchanges are counted and a `dropped` line says how many were lost and why.
 */
import { closeSync, mkdirSync, openSync, statSync, write } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Logger } from 'pino';
import { ProgramError } from '../errors.js';
import { JOURNAL_VERSION, type DroppedLine, type RunLine } from './entry.js';

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

export class Journal {
  /** The file being written now. */
  file: string;
  private fd: number;
  private part = 1;
  private written = 0;
  private queue: string[] = [];
  private queued = 0;
  private writing = false;
  private scheduled = false;
  private dropped = 0;
  private dropReason = '';
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly stem: string;
  private readonly maxBacklog: number;

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
    this.appendLine(this.runLine());
  }

  /** Opens (creating folders as needed) and writes the run line; a path that cannot be written is an ERR_JOURNAL. */
  static open(options: JournalOptions): Journal {
    const { file, explicit } = resolveFile(options.path);
    try {
      mkdirSync(dirname(file), { recursive: true });
      // A file named by the user is appended to (a second run adds its own run line); a file
      // the journal names itself is new, so two runs started in the same second never mix.
      const opened = explicit ? { fd: openSync(file, 'a'), name: file } : openFresh(file);
      return new Journal(options, opened.name, opened.fd);
    } catch (err) {
      if (err instanceof ProgramError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new ProgramError('ERR_JOURNAL', `cannot write the journal ${file} (${e.code ?? e.message})`, 'choose a writable place with --record PATH, or turn recording off with --no-record');
    }
  }

  /** Appends one journal line (an object with `v` and `type`). */
  append(line: object): void {
    if (this.closed) return;
    if (this.queued > this.maxBacklog) {
      this.drop('the disk did not keep up: more than ' + Math.round(this.maxBacklog / 1048576) + ' MiB waited to be written');
      return;
    }
    this.appendLine(JSON.stringify(line) + '\n');
  }

  /** Resolves once everything appended so far is in the file. */
  flush(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
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
    this.queue.push(text);
    this.queued += text.length;
    if (!this.scheduled && !this.writing) {
      this.scheduled = true;
      setImmediate(this.kick);
    }
  }

  private drop(reason: string): void {
    if (this.dropped === 0) this.options.logger.error({ journal: this.file, reason }, 'journal dropping exchanges');
    this.dropped += 1;
    this.dropReason = reason;
  }

  /** Says how many exchanges were lost as soon as lines can be queued again: never silently. */
  private noteDropped(): void {
    if (this.dropped === 0 || this.queued > this.maxBacklog) return;
    const line: DroppedLine = { v: JOURNAL_VERSION, type: 'dropped', time: Date.now(), count: this.dropped, reason: this.dropReason };
    this.options.logger.warn({ journal: this.file, count: this.dropped }, 'journal dropped exchanges');
    this.dropped = 0;
    const text = JSON.stringify(line) + '\n';
    this.queue.push(text);
    this.queued += text.length;
  }

  private readonly kick = (): void => {
    this.scheduled = false;
    if (this.writing) return;
    if (this.queue.length === 0) {
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    const data = Buffer.from(this.queue.length === 1 ? this.queue[0]! : this.queue.join(''), 'utf8');
    this.queue = [];
    this.queued = 0;
    this.writing = true;
    this.writeAll(data, 0);
  };

  private writeAll(data: Buffer, offset: number): void {
    write(this.fd, data, offset, data.length - offset, null, (err, n) => {
      if (err) {
        // The lines of this write are lost; say so, keep the proxy running, try the next ones.
        this.options.logger.error({ journal: this.file, err: { code: err.code, message: err.message } }, 'journal write failed');
        this.dropped += countLines(data, offset);
        this.dropReason = `a write failed (${err.code ?? err.message})`;
      } else if (offset + n < data.length) {
        return this.writeAll(data, offset + n);
      } else {
        this.written += data.length;
      }
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
    const run = this.runLine();
    this.queue.unshift(run);
    this.queued += run.length;
  }

  private runLine(): string {
    const line: RunLine = { v: JOURNAL_VERSION, type: 'run', time: Date.now(), ...this.options.run, part: this.part };
    return JSON.stringify(line) + '\n';
  }
}

/** `recordings` → `recordings/2026-11-22T10-15-30Z.ndjson`; `x.ndjson` stays as named. */
function resolveFile(path: string): { file: string; explicit: boolean } {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    isDir = extname(path) === '' || path.endsWith('/');
  }
  if (!isDir) return { file: path, explicit: true };
  // Colons are not allowed in Windows file names: 2026-11-22T10-15-30Z sorts and reads as well.
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  return { file: join(path, `${stamp}.ndjson`), explicit: false };
}

/** A new file; `-2`, `-3`, … when one of that name exists (two runs in one second). */
function openFresh(file: string): { fd: number; name: string } {
  const stem = file.slice(0, -extname(file).length);
  for (let n = 1; n < 1000; n++) {
    const name = n === 1 ? file : `${stem}-${n}${extname(file)}`;
    try {
      return { fd: openSync(name, 'wx'), name };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new ProgramError('ERR_JOURNAL', `cannot find a free name next to ${file}`, 'clean up the recordings folder or pass --record FILE');
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function countLines(data: Buffer, offset: number): number {
  let count = 0;
  for (let i = data.indexOf(10, offset); i !== -1; i = data.indexOf(10, i + 1)) count += 1;
  return count;
}
