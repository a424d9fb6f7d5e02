/**
 * Reads journals line by line in constant memory (one line at a time, whatever the file size).
 * A line that is not JSON is skipped and reported, never fatal: a torn last line is what a crash
 * leaves behind (the writer appends whole lines, so only the last one can be cut), and the rest
 * of the file is still good. Lines of types this version does not know are skipped quietly, so
 * newer journals stay readable (entry.ts).
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ProgramError } from '../errors.js';
import { JOURNAL_VERSION, type JournalLine } from './entry.js';

export interface JournalProblem {
  file: string;
  /** 1-based line number. */
  line: number;
  message: string;
}

export interface ReadJournalOptions {
  /** Told about every line skipped; default: ignored. */
  onProblem?(problem: JournalProblem): void;
  /** Bytes read so far across all files, for a progress bar. */
  onProgress?(bytesRead: number): void;
}

/** A line as read, with where it came from. */
export interface ReadLine {
  file: string;
  line: number;
  entry: JournalLine;
}

/**
 * Journal files named on the command line: files as given, directories expanded to their
 * `*.ndjson` files. Parts of one run (`X.ndjson`, `X.part2.ndjson`, …) come in order.
 */
export function journalFiles(paths: string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    let stat;
    try {
      stat = statSync(path);
    } catch (err) {
      throw new ProgramError('ERR_JOURNAL', `${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'pass journal files (recordings/*.ndjson) or the folder that holds them');
    }
    if (!stat.isDirectory()) {
      files.push(path);
      continue;
    }
    const inside = readdirSync(path).filter((name) => name.endsWith('.ndjson')).sort(byJournalPart);
    if (inside.length === 0) throw new ProgramError('ERR_JOURNAL', `${path} holds no .ndjson journal`, 'record with ./proxy start --record PATH, or pass the journal files themselves');
    files.push(...inside.map((name) => join(path, name)));
  }
  return files;
}

/** `X.ndjson` < `X.part2.ndjson` < `X.part10.ndjson` < `Y.ndjson`. */
export function byJournalPart(a: string, b: string): number {
  const split = (name: string): [string, number] => {
    const match = /^(.*?)(?:\.part(\d+))?\.ndjson$/.exec(name);
    return match === null ? [name, 1] : [match[1]!, match[2] === undefined ? 1 : Number(match[2])];
  };
  const [stemA, partA] = split(a);
  const [stemB, partB] = split(b);
  return stemA === stemB ? partA - partB : stemA < stemB ? -1 : 1;
}

/** Every line of the journals, in file order, then line order. */
export async function* readJournal(paths: string[], options: ReadJournalOptions = {}): AsyncGenerator<ReadLine> {
  let bytesBefore = 0;
  for (const file of journalFiles(paths)) {
    let read = 0;
    for await (const { text, line, last, bytes } of linesOf(file)) {
      read = bytes;
      options.onProgress?.(bytesBefore + read);
      if (text.trim() === '') continue;
      let entry: unknown;
      try {
        entry = JSON.parse(text);
      } catch {
        const message = last
          ? `the last line (${Buffer.byteLength(text)} bytes) is cut short, as a crash leaves it; skipped`
          : 'not a JSON line; skipped';
        options.onProblem?.({ file, line, message });
        continue;
      }
      if (typeof entry !== 'object' || entry === null || typeof (entry as { v?: unknown }).v !== 'number') {
        options.onProblem?.({ file, line, message: 'not a journal line (no "v" field); skipped' });
        continue;
      }
      const v = (entry as { v: number }).v;
      if (v > JOURNAL_VERSION) {
        options.onProblem?.({ file, line, message: `written in journal format ${v}, newer than this version reads (${JOURNAL_VERSION}); skipped` });
        continue;
      }
      const type = (entry as { type?: unknown }).type;
      if (type !== 'run' && type !== 'exchange' && type !== 'dropped' && type !== 'capture') continue;
      yield { file, line, entry: entry as JournalLine };
    }
    bytesBefore += read;
  }
}

interface RawLine {
  text: string;
  line: number;
  /** The file ended without a newline after this line. */
  last: boolean;
  /** Bytes of the file read up to and including this line. */
  bytes: number;
}

/** Splits on LF as bytes arrive; holds one partial line at a time. */
async function* linesOf(file: string): AsyncGenerator<RawLine> {
  let pending: Buffer[] = [];
  let line = 0;
  let bytes = 0;
  const stream = createReadStream(file, { highWaterMark: 256 * 1024 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (let lf = chunk.indexOf(10); lf !== -1; lf = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, lf);
        const whole = pending.length === 0 ? piece : Buffer.concat([...pending, piece]);
        pending = [];
        bytes += lf + 1 - start;
        start = lf + 1;
        line += 1;
        yield { text: whole.toString('utf8'), line, last: false, bytes };
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        bytes += chunk.length - start;
      }
    }
  } catch (err) {
    throw new ProgramError('ERR_JOURNAL', `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'check the path and its permissions');
  }
  if (pending.length > 0) {
    line += 1;
    yield { text: Buffer.concat(pending).toString('utf8'), line, last: true, bytes };
  }
}
