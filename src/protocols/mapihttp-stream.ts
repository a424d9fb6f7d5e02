/**
 * The inner stream of a MAPI/HTTP response body (MS-OXCMAPIHTTP 2.2.2.2, 2.2.7, 3.2.5.2;
 * PROTOCOLS.md §1.8), read as bytes pass through the proxy:
 *
 *   PROCESSING CRLF  (PENDING CRLF)*  DONE CRLF  (Name: value CRLF)*  CRLF  <binary body>
 *
 * Chunk boundaries carry no meaning (MS-OXCMAPIHTTP 3.1.5.6), so the facts must be the same for
 * every split of the same bytes. Everything is therefore decided one byte at a time by a small
 * state machine: meta-tags are recognised by prefix, not by whole lines, because gromox sends
 * keep-alives as `PENDING` with no CRLF and glues tags together (`PENDINGPROCESSING\r\nDONE\r\n`).
 * Tags are matched case-insensitively, as Microsoft's reference parser does ([S9]).
 *
 * Bounded state: no chunk is kept; at most one partial line (1 KiB) and a few counters. The binary
 * body after the blank line is counted, never inspected.
 */
import { type ResponseCode, parseResponseCodeValues } from './mapihttp-codes.js';

export interface MapiStreamFacts {
  /** PROCESSING tags seen; gromox sends it twice (first and final chunk). */
  processing: number;
  /** PENDING keep-alives seen, with or without their CRLF. */
  pending: number;
  done: boolean;
  /** Lines between DONE and the blank line, `[name, value]`, as sent (at most MAX_HEADERS kept). */
  additionalHeaders: Array<[string, string]>;
  /** X-ResponseCode after DONE, named; repeated → the last counts, as for the outer header. */
  responseCode?: ResponseCode;
  /** X-ElapsedTime: milliseconds per the spec; current gromox sends seconds (PROTOCOLS.md §1.7). */
  elapsedTime?: number;
  startTime?: string;
  /** Bytes after the blank line that ends the additional headers. */
  bodyBytes: number;
  /** Every byte pushed, including the ones not parsed. */
  totalBytes: number;
  /** Saw DONE, the additional headers and the blank line. */
  complete: boolean;
  /** Where the parser is: useful in the record of an exchange aborted mid-stream. */
  phase: StreamPhase;
  problems: string[];
}

/** meta: before DONE; headers: after DONE; body: after the blank line; stopped: gave up reading lines. */
export type StreamPhase = 'meta' | 'headers' | 'body' | 'stopped';

/** Longest line kept; longer ones end line parsing (still counted). Real header lines are < 100 bytes. */
export const MAX_LINE_BYTES = 1024;
/** Additional headers kept; the spec shows three. */
export const MAX_HEADERS = 32;
/** Problems kept per stream; the rest are counted so a garbage body cannot grow the record. */
export const MAX_PROBLEMS = 16;
const PREVIEW_CHARS = 64;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
// MS-OXCMAPIHTTP 2.2.7: the three meta-tags. None is a prefix of another, so a tag is complete the
// moment its last letter arrives, whatever follows.
const TAGS = ['PROCESSING', 'PENDING', 'DONE'] as const;
type Tag = (typeof TAGS)[number];

function isLetter(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

export class MapiStreamParser {
  private phase: StreamPhase = 'meta';
  private processing = 0;
  private pending = 0;
  private done = false;
  private complete = false;
  private totalBytes = 0;
  private bodyBytes = 0;
  private ended = false;
  private afterCR = false;

  // meta phase: a possible tag prefix (upper-cased, ≤ 10 letters) and what the current line held.
  private tag = '';
  private tagRaw = '';
  private lineHasTag = false;
  private garbage = false;
  private garbageLength = 0;
  private preview = '';

  // headers phase: the partial line, and whether it is still the rest of DONE's line.
  // Allocated at the first additional-header byte: most parsers never need it, and the proxy
  // makes one parser per response.
  private lineBuffer: Buffer | undefined;
  private lineLength = 0;
  private restOfDoneLine = false;

  private readonly headers: Array<[string, string]> = [];
  private responseCode: ResponseCode | undefined;
  private elapsedTime: number | undefined;
  private startTime: string | undefined;
  private readonly problems: string[] = [];
  private suppressed = 0;

  /** Observes the next bytes of the (de-chunked) body. O(chunk), keeps no reference to it, never throws. */
  push(chunk: Uint8Array): void {
    this.totalBytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) {
      if (this.phase === 'body') {
        this.bodyBytes += chunk.length - i;
        return;
      }
      if (this.phase === 'stopped') return;
      const b = chunk[i]!;
      const wasCR = this.afterCR;
      this.afterCR = b === CR;
      if (wasCR && b !== LF) this.problem('bare CR not followed by LF');
      if (b === LF && !wasCR) this.problem('line ended by LF without CR');
      if (this.phase === 'meta') this.metaByte(b);
      else this.headerByte(b);
    }
  }

  /** Call at the end of the body: adds the problems of a stream cut short. */
  end(): MapiStreamFacts {
    this.ended = true;
    return this.facts();
  }

  /** A snapshot at any time (copies; later pushes do not change it). */
  facts(): MapiStreamFacts {
    const problems = [...this.problems];
    if (this.suppressed > 0) problems.push(`${this.suppressed} more problems not kept`);
    if (this.ended) problems.push(...this.endProblems());
    const facts: MapiStreamFacts = {
      processing: this.processing,
      pending: this.pending,
      done: this.done,
      additionalHeaders: this.headers.map(([n, v]): [string, string] => [n, v]),
      bodyBytes: this.bodyBytes,
      totalBytes: this.totalBytes,
      complete: this.complete,
      phase: this.phase,
      problems,
    };
    if (this.responseCode !== undefined) facts.responseCode = this.responseCode;
    if (this.elapsedTime !== undefined) facts.elapsedTime = this.elapsedTime;
    if (this.startTime !== undefined) facts.startTime = this.startTime;
    return facts;
  }

  private endProblems(): string[] {
    const out: string[] = [];
    if (this.phase === 'meta' && this.garbage) out.push(this.unexpectedLine());
    if (this.totalBytes === 0) out.push('stream ended before DONE (empty body)');
    else if (!this.done) out.push(this.tag === '' ? 'stream ended before DONE' : `stream ended before DONE (inside ${JSON.stringify(this.tagRaw)})`);
    else if (this.phase === 'headers') out.push('stream ended inside the additional headers (no blank line after them)');
    return out;
  }

  private metaByte(b: number): void {
    if (this.garbage) {
      if (b === LF) {
        this.problem(this.unexpectedLine());
        this.newMetaLine();
      } else if (++this.garbageLength > MAX_LINE_BYTES) {
        this.stop('line over 1 KiB before DONE');
      } else if (b !== CR) {
        this.addPreview(b);
      }
      return;
    }
    if (b === CR) return;
    if (b === LF) {
      if (this.tag !== '') {
        this.startGarbage(this.tagRaw);
        this.problem(this.unexpectedLine());
      } else if (!this.lineHasTag) {
        this.problem('empty line before DONE');
      }
      this.newMetaLine();
      return;
    }
    if (b === SP || b === HT) {
      if (this.tag !== '') this.startGarbage(this.tagRaw + String.fromCharCode(b));
      else this.problem('whitespace around a meta-tag');
      return;
    }
    if (!isLetter(b)) {
      this.startGarbage(this.tagRaw + String.fromCharCode(b));
      return;
    }
    const candidate = this.tag + String.fromCharCode(b & 0xdf);
    const full = TAGS.find((t) => t === candidate);
    if (full !== undefined) {
      this.sawTag(full);
      return;
    }
    if (TAGS.some((t) => t.startsWith(candidate))) {
      this.tag = candidate;
      this.tagRaw += String.fromCharCode(b);
    } else {
      this.startGarbage(this.tagRaw + String.fromCharCode(b));
    }
  }

  private sawTag(tag: Tag): void {
    // gromox's keep-alive chunk is `PENDING` with no CRLF (PROTOCOLS.md §1.8), so the next tag follows on the same "line".
    if (this.lineHasTag) this.problem('meta-tags not separated by CRLF (gromox sends PENDING so)');
    this.tag = '';
    this.tagRaw = '';
    this.lineHasTag = true;
    if (tag === 'PROCESSING') this.processing++;
    else if (tag === 'PENDING') this.pending++;
    else {
      this.done = true;
      this.phase = 'headers';
      this.restOfDoneLine = true;
      this.lineLength = 0;
    }
  }

  private newMetaLine(): void {
    this.tag = '';
    this.tagRaw = '';
    this.lineHasTag = false;
    this.garbage = false;
    this.garbageLength = 0;
    this.preview = '';
  }

  private startGarbage(seen: string): void {
    this.garbage = true;
    this.tag = '';
    this.tagRaw = '';
    this.preview = '';
    this.garbageLength = seen.length;
    for (let k = 0; k < seen.length; k++) this.addPreview(seen.charCodeAt(k));
  }

  private addPreview(b: number): void {
    if (this.preview.length <= PREVIEW_CHARS) this.preview += String.fromCharCode(b);
  }

  private unexpectedLine(): string {
    const text = this.preview.length > PREVIEW_CHARS ? `${this.preview.slice(0, PREVIEW_CHARS)}…` : this.preview;
    return `unexpected line ${JSON.stringify(text)} before DONE`;
  }

  private headerByte(b: number): void {
    if (b !== LF) {
      if (this.lineLength >= MAX_LINE_BYTES) this.stop('additional header line over 1 KiB');
      else (this.lineBuffer ??= Buffer.allocUnsafe(MAX_LINE_BYTES))[this.lineLength++] = b;
      return;
    }
    let end = this.lineLength;
    const line = this.lineBuffer;
    if (line !== undefined && end > 0 && line[end - 1] === CR) end--;
    const text = line === undefined ? '' : line.toString('latin1', 0, end);
    this.lineLength = 0;
    if (this.restOfDoneLine) {
      this.restOfDoneLine = false;
      if (text.trim() !== '') this.problem(`unexpected text ${JSON.stringify(clip(text))} after DONE`);
      return;
    }
    if (text === '') {
      // MS-OXCMAPIHTTP 2.2.2.2: the empty line ends the additional headers; the body follows.
      this.phase = 'body';
      this.complete = true;
      if (this.responseCode === undefined) this.problem('no X-ResponseCode in the additional headers after DONE');
      return;
    }
    this.headerLine(text);
  }

  private headerLine(text: string): void {
    const colon = text.indexOf(':');
    if (colon <= 0) {
      this.problem(`additional header line ${JSON.stringify(clip(text))} has no name: value`);
      return;
    }
    const name = text.slice(0, colon).trim();
    const value = text.slice(colon + 1).trim();
    if (this.headers.length < MAX_HEADERS) this.headers.push([name, value]);
    else this.problem(`more than ${MAX_HEADERS} additional headers; the rest are not kept`);
    const lower = name.toLowerCase();
    if (lower === 'x-responsecode') {
      const parsed = parseResponseCodeValues([value]);
      if (parsed === undefined) return;
      if (!parsed.ok) {
        this.problem(`${parsed.problem} (after DONE)`);
        return;
      }
      // Same rule as the outer header (PROTOCOLS.md §1.7): a repeat is noted and the last value counts.
      if (this.responseCode !== undefined || parsed.repeated) this.problem('X-ResponseCode repeated after DONE; the last value counts');
      this.responseCode = parsed.code;
    } else if (lower === 'x-elapsedtime') {
      // MS-OXCMAPIHTTP 2.2.3.3.9: a number of milliseconds.
      if (/^\d{1,15}$/.test(value)) this.elapsedTime = Number(value);
      else this.problem(`X-ElapsedTime ${JSON.stringify(clip(value))} is not a number`);
    } else if (lower === 'x-starttime') {
      // MS-OXCMAPIHTTP 2.2.3.3.10: an RFC 2616 date; kept as sent.
      this.startTime = value;
      if (Number.isNaN(Date.parse(value))) this.problem(`X-StartTime ${JSON.stringify(clip(value))} is not a date`);
    }
  }

  private stop(why: string): void {
    this.problem(`${why}; stopped reading lines (the rest is only counted)`);
    this.phase = 'stopped';
  }

  private problem(text: string): void {
    if (this.problems.includes(text)) return;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(text);
    else this.suppressed++;
  }
}

function clip(text: string): string {
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}

/** The facts of a whole body at once (tests, recorded bodies). */
export function parseMapiStream(body: Uint8Array): MapiStreamFacts {
  const parser = new MapiStreamParser();
  parser.push(body);
  return parser.end();
}
