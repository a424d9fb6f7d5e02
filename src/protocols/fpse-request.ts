/**
 * The first line of an FPSE request body: `method=<name>[:<version>]&name=value&…`, form-urlencoded
 * (docs/protocols.md §2.2). Only that line is ever decoded: with `put document` the document's raw
 * bytes follow the first LF (§4.12), and servers themselves read only up to the LF.
 * Values other than the method are not kept (document names, URLs, meta-info may be private).
 * Pure and never throws; FpseRequestScanner holds at most FPSE_FIRST_LINE_CAP bytes.
 */
import { quote } from '../core/quote.js';
import { parseVersion } from '../core/version.js';
import type { VersionResult } from '../core/version.js';
import { detectEncodingStyle, type FpseEncodingStyle } from './fpse-encoding.js';

/** Real first lines are under a few KiB; a longer one is decoded only as far as this. */
export const FPSE_FIRST_LINE_CAP = 64 * 1024;

export interface FpseRequestFacts {
  /** Decoded method name without version: 'server version', 'open service', 'put document'. */
  method?: string;
  /** From `method=server+version%3a12%2e0%2e0%2e6415`; absent when the method carries no version. */
  clientVersion?: VersionResult;
  /** The method= value as on the wire (still encoded). */
  rawMethodValue?: string;
  /** Byte offset and length of the encoded method= value in the body, for rewriting in place. */
  methodValueOffset?: number;
  methodValueLength?: number;
  style?: FpseEncodingStyle;
  /** Decoded names of the other first-line parameters, in order; their values are not kept. */
  params: string[];
  /** Bytes up to and including the first LF; without an LF, the bytes seen (at most the cap). */
  firstLineBytes: number;
  /** The first line was seen whole: an LF arrived, or the body ended within the cap. */
  complete: boolean;
  problems: string[];
}

/** Real requests have a handful of parameters; the record lists at most this many names. */
const MAX_PARAMS = 100;
const LF = 0x0a;
const CR = 0x0d;
const REPLACEMENT = Buffer.from('\uFFFD', 'utf8');

/**
 * Sees a request body as it streams and keeps only the first line. push() returns true once no
 * more bytes are needed (LF seen, or more than the cap without one); later pushes are ignored.
 * Call end() when the body ended: a body without LF (most methods) is then whole.
 */
export class FpseRequestScanner {
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private sawLf = false;
  private capped = false;
  private ended = false;
  private cached: FpseRequestFacts | undefined;

  push(chunk: Buffer): boolean {
    if (this.done) return true;
    this.cached = undefined;
    const lf = chunk.indexOf(LF);
    const lineBytes = lf >= 0 ? lf : chunk.length;
    const room = FPSE_FIRST_LINE_CAP - this.keptBytes;
    if (lineBytes > room) {
      this.keep(chunk.subarray(0, room));
      this.capped = true;
    } else {
      this.keep(chunk.subarray(0, lineBytes));
      if (lf >= 0) this.sawLf = true;
    }
    return this.done;
  }

  /** The body ended (no more chunks will come). Returns the final facts. */
  end(): FpseRequestFacts {
    if (!this.ended) this.cached = undefined;
    this.ended = true;
    return this.result();
  }

  /** True once the scanner needs no more bytes. */
  get done(): boolean {
    return this.sawLf || this.capped;
  }

  /** Bytes held in memory (never more than FPSE_FIRST_LINE_CAP). */
  get bytesKept(): number {
    return this.keptBytes;
  }

  result(): FpseRequestFacts {
    this.cached ??= decodeLine(Buffer.concat(this.kept, this.keptBytes), {
      sawLf: this.sawLf,
      capped: this.capped,
      ended: this.ended,
    });
    return this.cached;
  }

  private keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    // A copy: callers may reuse their buffers, and a subarray would pin a large chunk.
    this.kept.push(Buffer.from(bytes));
    this.keptBytes += bytes.length;
  }
}

/** Facts from a whole body (or just its first line); bytes after the first LF are not looked at. */
export function decodeFpseFirstLine(line: Buffer | string): FpseRequestFacts {
  const scanner = new FpseRequestScanner();
  scanner.push(typeof line === 'string' ? Buffer.from(line, 'utf8') : line);
  return scanner.end();
}

interface LineState {
  sawLf: boolean;
  capped: boolean;
  ended: boolean;
}

interface Pair {
  name: string;
  rawValue: string;
  valueOffset: number;
}

function decodeLine(kept: Buffer, state: LineState): FpseRequestFacts {
  const problems: string[] = [];
  const complete = state.sawLf || (state.ended && !state.capped);
  const facts: FpseRequestFacts = {
    params: [],
    firstLineBytes: kept.length + (state.sawLf ? 1 : 0),
    complete,
    problems,
  };
  // Both the LF line end and a client's CRLF end the line (Metasploit writes CRLF, §4.10).
  const line = state.sawLf && kept[kept.length - 1] === CR ? kept.subarray(0, kept.length - 1) : kept;
  if (state.capped) problems.push(`first line longer than ${FPSE_FIRST_LINE_CAP / 1024} KiB — decoded only the parameters that end within it`);
  else if (!complete) problems.push('first line incomplete (no LF yet and the body has not ended)');
  problems.push(...byteProblems(line));
  const text = line.toString('latin1'); // one char per byte, so string indexes are byte offsets
  const pairs = splitPairs(text, problems);
  // A capped or unfinished line ends inside a pair: its value is not all there.
  if ((state.capped || !complete) && !text.endsWith('&')) pairs.pop();
  const methodIndex = pairs.findIndex((p) => p.name === 'method');
  if (methodIndex < 0) {
    if (state.capped) problems.push(`no whole method= parameter within the first ${FPSE_FIRST_LINE_CAP / 1024} KiB`);
    else if (complete) problems.push(line.length === 0 ? 'empty first line: no method= parameter' : 'no method= parameter');
  } else {
    // §2.2: the first pair is always method=…
    if (methodIndex > 0) problems.push(`method= is parameter ${methodIndex + 1}, not the first (§2.2)`);
    const count = pairs.filter((p) => p.name === 'method').length;
    if (count > 1) problems.push(`method= appears ${count} times; the first is used`);
    Object.assign(facts, methodFacts(pairs[methodIndex]!, text, problems));
  }
  facts.params = listedParams(pairs.filter((_, i) => i !== methodIndex).map((p) => p.name), problems);
  return facts;
}

/** Names fit for a record: printable ASCII of sane length, at most MAX_PARAMS of them. */
function listedParams(names: string[], problems: string[]): string[] {
  const printable = names.filter((n) => /^[\x20-\x7e]{1,64}$/.test(n));
  if (printable.length < names.length) problems.push(`${names.length - printable.length} parameter names not listed (not printable ASCII, or longer than 64 characters)`);
  if (printable.length > MAX_PARAMS) problems.push(`${printable.length} parameters; only the first ${MAX_PARAMS} names are listed`);
  return printable.slice(0, MAX_PARAMS);
}

function methodFacts(pair: Pair, line: string, problems: string[]): Partial<FpseRequestFacts> {
  const trouble: DecodeTrouble = { badEscapes: 0, badUtf8: 0 };
  const decoded = formDecode(pair.rawValue, trouble);
  if (trouble.badEscapes > 0) problems.push(`method= value has ${trouble.badEscapes} "%" not followed by two hex digits (kept as is)`);
  if (trouble.badUtf8 > 0) problems.push('method= value is not valid UTF-8 once decoded');
  // §2.2 / MS-FPSE 1.7.1: `<method name>[:<version>]`; method names contain no colon.
  const colon = decoded.indexOf(':');
  const method = (colon >= 0 ? decoded.slice(0, colon) : decoded).trim();
  const out: Partial<FpseRequestFacts> = {
    method,
    rawMethodValue: pair.rawValue,
    methodValueOffset: pair.valueOffset,
    methodValueLength: pair.rawValue.length,
    style: detectEncodingStyle(pair.rawValue, line),
  };
  if (method === '') problems.push('method= names no method');
  if (colon >= 0) {
    const versionText = decoded.slice(colon + 1);
    const version = parseVersion(versionText);
    out.clientVersion = version;
    if (!version.ok) problems.push(`version ${quote(versionText)} ${version.problem}`);
    // MC-FPSEWM 2.2.2.2.2: PROTOCOL-VERSION-STRING is four integers, no product name.
    else if (version.version.product !== undefined) problems.push(`version ${quote(versionText)} has a product prefix; FPSE versions are bare numbers`);
  }
  return out;
}

/** `a=b&c=d` into pairs with decoded names; empty pieces (`&&`, a trailing `&`) are skipped. */
function splitPairs(text: string, problems: string[]): Pair[] {
  const pairs: Pair[] = [];
  const trouble: DecodeTrouble = { badEscapes: 0, badUtf8: 0 };
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('&', start);
    if (end < 0) end = text.length;
    const piece = text.slice(start, end);
    if (piece !== '') {
      const eq = piece.indexOf('=');
      const rawName = eq >= 0 ? piece.slice(0, eq) : piece;
      pairs.push({
        name: formDecode(rawName, trouble),
        rawValue: eq >= 0 ? piece.slice(eq + 1) : '',
        valueOffset: start + (eq >= 0 ? eq + 1 : piece.length),
      });
    }
    start = end + 1;
  }
  if (trouble.badEscapes > 0) problems.push(`parameter names have ${trouble.badEscapes} "%" not followed by two hex digits (kept as is)`);
  if (trouble.badUtf8 > 0) problems.push(`${trouble.badUtf8} parameter names are not valid UTF-8 once decoded`);
  return pairs;
}

/** What went wrong while decoding, counted over the whole line so a garbage line gives one sentence each. */
interface DecodeTrouble {
  badEscapes: number;
  badUtf8: number;
}

/**
 * application/x-www-form-urlencoded (and x-vermeer-urlencoded, the same syntax): `+` is a space,
 * `%XX` a byte; the bytes are UTF-8. A stray `%` stays literal and is counted.
 */
export function formDecode(raw: string, trouble?: DecodeTrouble): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x2b) bytes.push(0x20);
    else if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 1, i + 3))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      if (c === 0x25 && trouble !== undefined) trouble.badEscapes++;
      bytes.push(c & 0xff);
    }
  }
  const buf = Buffer.from(bytes);
  const text = buf.toString('utf8');
  if (trouble !== undefined && text.includes('\uFFFD') && !buf.includes(REPLACEMENT)) trouble.badUtf8++;
  return text;
}

/** Form-urlencoded text is printable ASCII; anything else means binary data or a wrong body. */
function byteProblems(line: Buffer): string[] {
  let control = 0;
  let high = 0;
  let first = -1;
  for (let i = 0; i < line.length; i++) {
    const b = line[i]!;
    const isControl = (b < 0x20 && b !== 0x09) || b === 0x7f;
    if (isControl) control++;
    if (b >= 0x80) high++;
    if ((isControl || b >= 0x80) && first < 0) first = i;
  }
  const problems: string[] = [];
  if (control > 0) problems.push(`binary data in the first line (${control} control bytes, first unexpected byte at offset ${first})`);
  if (high > 0) problems.push(`${high} non-ASCII bytes in the first line; form-urlencoded text is ASCII`);
  return problems;
}
