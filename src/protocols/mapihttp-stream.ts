/**
 * The inner stream of a MAPI/HTTP response body (MS-OXCMAPIHTTP 2.2.2.2, 2.2.7, 3.2.5.2;
 * docs/protocols.md §1.8), read as bytes pass through the proxy:
 *
 *   PROCESSING CRLF  (PENDING CRLF)*  DONE CRLF  (Name: value CRLF)*  CRLF  <binary body>
 *
 * Chunk boundaries carry no meaning (MS-OXCMAPIHTTP 3.1.5.6), so the facts must be the same for
 * every split of the same bytes. Everything is therefore decided one byte at a time by a small
 * state machine (a clean CRLF header line lying whole in one chunk is sliced out at once, which
 * gives the same facts as its bytes would): meta-tags are recognised by prefix, not by whole lines, because gromox sends
 * keep-alives as `PENDING` with no CRLF and glues tags together (`PENDINGPROCESSING\r\nDONE\r\n`).
 * Tags are matched case-insensitively, as Microsoft's reference parser does ([S9]).
 *
 * Bounded state: no chunk is kept; at most one partial line (1 KiB) and a few counters. The binary
 * body after the blank line is counted, never inspected.
 */
import { quote } from '../core/quote.js';
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
  /** X-ElapsedTime: milliseconds per the spec; current gromox sends seconds (docs/protocols.md §1.7). */
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

// RFC 9110 5.6.7 IMF-fixdate, what servers send: recognised without Date.parse (which takes the rest).
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (?:0[1-9]|[12]\d|3[01]) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} (?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d GMT$/;
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
// MS-OXCMAPIHTTP 2.2.7: the three meta-tags. None is a prefix of another, so a tag is complete the
// moment its last letter arrives, whatever follows.
const TAGS = ['PROCESSING', 'PENDING', 'DONE'] as const;
type Tag = (typeof TAGS)[number];
// The tags as byte codes, matched one letter at a time without building strings.
const TAG_CODES: readonly (readonly number[])[] = TAGS.map((t) => [...t].map((c) => c.charCodeAt(0)));

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

  // meta phase: a possible tag prefix (the first `tagLength` letters of TAGS[tagIndex], bit k of
  // `tagLowerCase` set when letter k came lower-case) and what the current line held.
  private tagIndex = 0;
  private tagLength = 0;
  private tagLowerCase = 0;
  private lineHasTag = false;
  private garbage = false;
  private garbageLength = 0;
  private preview = '';

  // headers phase: the start of a line that began in an earlier chunk (latin1, < 1 KiB), and
  // whether the line is still the rest of DONE's line. Lines within one chunk are sliced from it.
  private partial = '';
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
    let i = 0;
    while (i < chunk.length) {
      if (this.phase === 'body') {
        this.bodyBytes += chunk.length - i;
        return;
      }
      if (this.phase === 'stopped') return;
      i = this.phase === 'meta' ? this.metaBytes(chunk, i) : this.headerBytes(chunk, i);
    }
  }

  /** The line-ending checks every byte before the body gets (chunking-independent: the CR state carries over). */
  private lineEnding(b: number): void {
    const wasCR = this.afterCR;
    this.afterCR = b === CR;
    if (wasCR && b !== LF) this.problem('bare CR not followed by LF');
    if (b === LF && !wasCR) this.problem('line ended by LF without CR');
  }

  /** Meta-tag bytes from `from` until the chunk or the meta phase ends; returns where it stopped. */
  private metaBytes(chunk: Uint8Array, from: number): number {
    let i = from;
    while (i < chunk.length && this.phase === 'meta') {
      const b = chunk[i++]!;
      this.lineEnding(b);
      this.metaByte(b);
    }
    return i;
  }

  /**
   * Additional-header bytes from `from` until the chunk or the headers end. A clean CRLF line
   * that lies whole in the chunk (the usual case) is found with indexOf and sliced out; anything
   * else goes byte by byte through the same checks as the meta phase, so the facts do not depend
   * on which path a line took.
   */
  private headerBytes(chunk: Uint8Array, from: number): number {
    let i = from;
    while (i < chunk.length && this.phase === 'headers') {
      const lf = this.partial === '' && !this.afterCR ? chunk.indexOf(LF, i) : -1;
      const clean = lf > i && lf - i <= MAX_LINE_BYTES && chunk[lf - 1] === CR && chunk.indexOf(CR, i) === lf - 1;
      if (clean) {
        this.headerLineEnded(latin1(chunk, i, lf - 1));
        i = lf + 1;
      } else {
        i = this.headerLineBytes(chunk, i);
      }
    }
    return i;
  }

  /** One line (or the rest of the chunk) byte by byte; returns where it stopped. */
  private headerLineBytes(chunk: Uint8Array, from: number): number {
    for (let i = from; i < chunk.length; i++) {
      const b = chunk[i]!;
      this.lineEnding(b);
      if (b !== LF) {
        if (this.partial.length + (i - from) >= MAX_LINE_BYTES) {
          this.stop('additional header line over 1 KiB');
          return chunk.length;
        }
        continue;
      }
      let text = this.partial + latin1(chunk, from, i);
      this.partial = '';
      if (text.endsWith('\r')) text = text.slice(0, -1);
      this.headerLineEnded(text);
      return i + 1;
    }
    this.partial += latin1(chunk, from, chunk.length);
    return chunk.length;
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
    else if (!this.done) out.push(this.tagLength === 0 ? 'stream ended before DONE' : `stream ended before DONE (inside ${quote(this.tagRaw())})`);
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
      if (this.tagLength > 0) {
        this.startGarbage(this.tagRaw());
        this.problem(this.unexpectedLine());
      } else if (!this.lineHasTag) {
        this.problem('empty line before DONE');
      }
      this.newMetaLine();
      return;
    }
    if (b === SP || b === HT) {
      if (this.tagLength > 0) this.startGarbage(this.tagRaw() + String.fromCharCode(b));
      else this.problem('whitespace around a meta-tag');
      return;
    }
    if (!isLetter(b)) {
      this.startGarbage(this.tagRaw() + String.fromCharCode(b));
      return;
    }
    const upper = b & 0xdf;
    const index = this.tagWith(upper);
    if (index === -1) {
      this.startGarbage(this.tagRaw() + String.fromCharCode(b));
      return;
    }
    if (b !== upper) this.tagLowerCase |= 1 << this.tagLength;
    this.tagIndex = index;
    this.tagLength++;
    if (this.tagLength === TAG_CODES[index]!.length) this.sawTag(TAGS[index]!);
  }

  /** The tag whose prefix is the letters so far plus `upper`, or -1 (PENDING and PROCESSING share the P). */
  private tagWith(upper: number): number {
    const at = this.tagLength;
    const current = TAG_CODES[this.tagIndex]!;
    if (at > 0 && current[at] === upper) return this.tagIndex;
    for (let t = 0; t < TAG_CODES.length; t++) {
      const codes = TAG_CODES[t]!;
      if (codes[at] !== upper) continue;
      let same = true;
      for (let k = 0; k < at && same; k++) same = codes[k] === current[k];
      if (same) return t;
    }
    return -1;
  }

  /** The letters of the tag in progress as they came, case kept. */
  private tagRaw(): string {
    let text = '';
    const codes = TAG_CODES[this.tagIndex]!;
    for (let k = 0; k < this.tagLength; k++) text += String.fromCharCode(codes[k]! | (this.tagLowerCase & (1 << k) ? 0x20 : 0));
    return text;
  }

  private sawTag(tag: Tag): void {
    // gromox's keep-alive chunk is `PENDING` with no CRLF (docs/protocols.md §1.8), so the next tag follows on the same "line".
    if (this.lineHasTag) this.problem('meta-tags not separated by CRLF (gromox sends PENDING so)');
    this.tagLength = 0;
    this.tagLowerCase = 0;
    this.lineHasTag = true;
    if (tag === 'PROCESSING') this.processing++;
    else if (tag === 'PENDING') this.pending++;
    else {
      this.done = true;
      this.phase = 'headers';
      this.restOfDoneLine = true;
      this.partial = '';
    }
  }

  private newMetaLine(): void {
    this.tagLength = 0;
    this.tagLowerCase = 0;
    this.lineHasTag = false;
    this.garbage = false;
    this.garbageLength = 0;
    this.preview = '';
  }

  private startGarbage(seen: string): void {
    this.garbage = true;
    this.tagLength = 0;
    this.tagLowerCase = 0;
    this.preview = '';
    this.garbageLength = seen.length;
    for (let k = 0; k < seen.length; k++) this.addPreview(seen.charCodeAt(k));
  }

  private addPreview(b: number): void {
    if (this.preview.length <= PREVIEW_CHARS) this.preview += String.fromCharCode(b);
  }

  private unexpectedLine(): string {
    const text = this.preview.length > PREVIEW_CHARS ? `${this.preview.slice(0, PREVIEW_CHARS)}…` : this.preview;
    return `unexpected line ${quote(text)} before DONE`;
  }

  private headerLineEnded(text: string): void {
    if (this.restOfDoneLine) {
      this.restOfDoneLine = false;
      if (text.trim() !== '') this.problem(`unexpected text ${quote(clip(text))} after DONE`);
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
      this.problem(`additional header line ${quote(clip(text))} has no name: value`);
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
      // Same rule as the outer header (docs/protocols.md §1.7): a repeat is noted and the last value counts.
      if (this.responseCode !== undefined || parsed.repeated) this.problem('X-ResponseCode repeated after DONE; the last value counts');
      this.responseCode = parsed.code;
    } else if (lower === 'x-elapsedtime') {
      // MS-OXCMAPIHTTP 2.2.3.3.9: a number of milliseconds.
      if (/^\d{1,15}$/.test(value)) this.elapsedTime = Number(value);
      else this.problem(`X-ElapsedTime ${quote(clip(value))} is not a number`);
    } else if (lower === 'x-starttime') {
      // MS-OXCMAPIHTTP 2.2.3.3.10: an RFC 2616 date; kept as sent.
      this.startTime = value;
      if (!IMF_FIXDATE.test(value) && Number.isNaN(Date.parse(value))) this.problem(`X-StartTime ${quote(clip(value))} is not a date`);
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

function latin1(bytes: Uint8Array, start: number, end: number): string {
  if (start === end) return '';
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buffer.toString('latin1', start, end);
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
