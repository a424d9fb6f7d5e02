/**
 * The FPSE response body, a "vermeer RPC packet" (docs/protocols.md §2.4): HTML-ish lines
 * `<p>name=value`, lists `<p>name=` + `<ul>` … `</ul>`, items `<li>name=value` or `<li>value`.
 * Read here: the `method=<name>:<version>` line (Min(client, server), MS-FPSE 3.1.5.3.14), the
 * `server version` list (the real build, §2.3), `source control`, and the `status` list of an
 * error (§2.5). Servers write LF (SenseNet: clients require it) or CRLF; the parser splits on
 * tags, not lines, so both and one-line packets read the same.
 * Pure, never throws; at most FPSE_PACKET_CAP bytes are parsed (or held by the collector).
 */
import { quote } from '../core/quote.js';
import { parseVersion } from '../core/version.js';
import type { VersionResult } from '../core/version.js';

/** Real packets are a few KiB (`open service` meta-info the largest); more is parsed only this far. */
export const FPSE_PACKET_CAP = 256 * 1024;

/** Byte offset and length inside the body, for an action that rewrites the value in place. */
export interface FpseSpan {
  offset: number;
  length: number;
}

export interface FpseStatus {
  status: number;
  /** `0x0004000C`: eight upper-case hex digits, two's complement for negative codes. */
  hex: string;
  /** `V_RPC_CLIENT_TOO_OLD` etc., when §2.5 gives the code a name. */
  name?: string;
  /** What §2.5 says the code means, when it says. */
  meaning?: string;
  osstatus?: number;
  msg?: string;
  osmsg?: string;
}

export interface FpseServerVersion {
  major?: number;
  minor?: number;
  phase?: number;
  incr?: number;
  /** major.minor.phase.incr, when all four are numbers. */
  version?: VersionResult;
  spans: { major?: FpseSpan; minor?: FpseSpan; phase?: FpseSpan; incr?: FpseSpan };
}

export interface FpsePacketFacts {
  /** From the `method=` line, e.g. 'server version'. */
  method?: string;
  /** The version on the method line: the effective protocol version (MS-FPSE 1.7.1). */
  methodVersion?: VersionResult;
  methodVersionSpan?: FpseSpan;
  /** The `server version=` list: major ver / minor ver / phase ver / ver incr. */
  serverVersion?: FpseServerVersion;
  sourceControl?: string;
  status?: FpseStatus;
  /** The packet has a top-level status list (§2.5: errors come back as HTTP 200 with one). */
  isError: boolean;
  /** Body bytes seen, including any beyond the cap. */
  bytes: number;
  problems: string[];
}

/** Codes §2.5 lists: the spec's own 0x0004000C and Alfresco's VtiError names (IMPL). */
export const FPSE_STATUS_CODES: ReadonlyMap<number, { name?: string; meaning: string }> = new Map([
  [0x0004000c, { name: 'V_RPC_CLIENT_TOO_OLD', meaning: 'client version older than 4.0.2.2611 (MS-FPSE 1.7.1)' }],
  [0x0002000c, { meaning: 'write error' }],
  [0x00020019, { meaning: 'rename destination exists' }],
  [0x00090002, { meaning: 'file already exists' }],
  [0x00090005, { name: 'V_BAD_URL', meaning: 'the provided URL is invalid' }],
  [0x00090006, { name: 'V_URL_NOT_FOUND', meaning: 'URL not found' }],
  [0x00090007, { meaning: 'parent folder does not exist' }],
  [0x0009000d, { meaning: 'folder already exists' }],
  [0x0009000e, { name: 'V_DOC_CHECKED_OUT', meaning: 'document is checked out' }],
  [0x0009000f, { name: 'V_DOC_NOT_CHECKED_OUT', meaning: 'document is not checked out' }],
  [0x0009001e, { meaning: 'files auto-checked-out' }],
  [0x00090040, { name: 'V_DOC_IS_LOCKED', meaning: 'document is locked' }],
  [0x00020002, { meaning: 'cannot open for write' }],
  [0x00020007, { meaning: 'file not removed' }],
  [0x00020004, { meaning: 'directory not removed' }],
  [0x00090070, { meaning: 'illegal characters' }],
  [0x001e0002, { meaning: 'access denied' }],
  [0x001e0006, { meaning: 'server incapable' }],
  [0x80131600, { meaning: 'version not found' }],
  [0x82000006, { meaning: 'list not found' }],
]);

/** `0x0004000C` for 262156; negative codes as their 32-bit two's complement (-1 → 0xFFFFFFFF). */
export function fpseStatusHex(status: number): string {
  return `0x${(status >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

/** Keeps at most FPSE_PACKET_CAP bytes of a streamed body; result() is the same for any chunking. */
export class FpsePacketCollector {
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private seen = 0;

  push(chunk: Buffer): void {
    this.seen += chunk.length;
    const room = FPSE_PACKET_CAP - this.keptBytes;
    if (room <= 0 || chunk.length === 0) return;
    // A copy: callers may reuse buffers, and a subarray would pin a large chunk in memory.
    const piece = Buffer.from(chunk.subarray(0, room));
    this.kept.push(piece);
    this.keptBytes += piece.length;
  }

  /** Bytes held in memory (never more than FPSE_PACKET_CAP). */
  get bytesKept(): number {
    return this.keptBytes;
  }

  result(): FpsePacketFacts {
    return parseKept(Buffer.concat(this.kept, this.keptBytes), this.seen);
  }
}

export function parseFpsePacket(body: Buffer): FpsePacketFacts {
  return parseKept(body.subarray(0, FPSE_PACKET_CAP), body.length);
}

interface Entry {
  name?: string;
  /** Decoded (UTF-8, character references). */
  value: string;
  /** As on the wire, for byte spans. */
  raw: string;
  valueOffset: number;
  list?: Entry[];
}

interface Tree {
  root: Entry[];
  title?: string;
  htmlEnd: boolean;
  unclosed: number;
  strayCloses: number;
}

// Only these tags structure a packet; any other `<…>` stays part of the value text.
const TAG = /<(\/?)(html|head|title|body|p|li|ul)\b[^>]*>/gi;

function parseKept(kept: Buffer, seen: number): FpsePacketFacts {
  const problems: string[] = [];
  const facts: FpsePacketFacts = { isError: false, bytes: seen, problems };
  if (seen > kept.length) problems.push(`packet larger than ${FPSE_PACKET_CAP / 1024} KiB (${seen} bytes) — parsed only the first ${FPSE_PACKET_CAP / 1024} KiB`);
  if (kept.length === 0) {
    problems.push('empty packet');
    return facts;
  }
  problems.push(...controlBytes(kept));
  const text = kept.toString('latin1'); // one char per byte: string indexes are byte offsets
  const tree = buildTree(text);
  // §2.4: `<html><head><title>vermeer RPC packet</title></head>`.
  if (tree.title === undefined) problems.push('no <title>; not shaped like a vermeer RPC packet (§2.4)');
  else if (tree.title.trim().toLowerCase() !== 'vermeer rpc packet') problems.push(`title is ${quote(tree.title.trim())}, not "vermeer RPC packet" (§2.4)`);
  if (!tree.htmlEnd) problems.push('truncated packet: no </html>');
  if (tree.unclosed > 0) problems.push(`truncated packet: ${tree.unclosed} <ul> list(s) not closed`);
  if (tree.strayCloses > 0) problems.push(`${tree.strayCloses} </ul> without a matching <ul>`);
  readMethod(tree.root, facts);
  readServerVersion(tree.root, facts);
  const control = tree.root.find((e) => e.name === 'source control');
  if (control !== undefined) facts.sourceControl = control.value;
  readStatus(tree.root, facts);
  return facts;
}

function buildTree(text: string): Tree {
  const tree: Tree = { root: [], htmlEnd: false, unclosed: 0, strayCloses: 0 };
  const stack: Entry[][] = [tree.root];
  const tags = [...text.matchAll(TAG)];
  tags.forEach((tag, i) => {
    const closing = tag[1] === '/';
    const name = tag[2]!.toLowerCase();
    const textStart = tag.index + tag[0].length;
    const textEnd = tags[i + 1]?.index ?? text.length;
    const current = stack[stack.length - 1]!;
    if (closing) {
      if (name === 'html') tree.htmlEnd = true;
      if (name === 'ul') {
        if (stack.length > 1) stack.pop();
        else tree.strayCloses++;
      }
    } else if (name === 'title') tree.title = fromLatin1(text.slice(textStart, textEnd));
    else if (name === 'p' || name === 'li') current.push(entryAt(text, textStart, textEnd));
    else if (name === 'ul') {
      // A list belongs to the `<p>name=` / `<li>name=` just before it (§2.4).
      const owner = current[current.length - 1];
      const list: Entry[] = [];
      if (owner !== undefined && owner.list === undefined && owner.value.trim() === '') owner.list = list;
      else current.push({ value: '', raw: '', valueOffset: textStart, list });
      stack.push(list);
    }
  });
  tree.unclosed = stack.length - 1;
  return tree;
}

/** `name=value` (the name has no `|`: `<li>TR|a=b` is a typed meta-info value) or a bare value. */
function entryAt(text: string, start: number, end: number): Entry {
  const raw = text.slice(start, end).replace(/[\r\n]+$/, '');
  const eq = raw.indexOf('=');
  if (eq > 0 && !raw.slice(0, eq).includes('|')) {
    const value = raw.slice(eq + 1);
    return { name: decodeValue(raw.slice(0, eq)).trim(), value: decodeValue(value), raw: value, valueOffset: start + eq + 1 };
  }
  return { value: decodeValue(raw), raw, valueOffset: start };
}

function readMethod(root: Entry[], facts: FpsePacketFacts): void {
  const index = root.findIndex((e) => e.name === 'method');
  if (index < 0) {
    facts.problems.push('no method= line (§2.4: the first line of every packet)');
    return;
  }
  if (index > 0) facts.problems.push(`method= is item ${index + 1}, not the first (§2.4)`);
  const entry = root[index]!;
  const colon = entry.value.indexOf(':');
  facts.method = (colon >= 0 ? entry.value.slice(0, colon) : entry.value).trim();
  if (colon < 0) return; // FP2002 answers a version-less request with a version-less line (§4.8)
  const versionText = entry.value.slice(colon + 1);
  facts.methodVersion = parseVersion(versionText);
  const rawColon = entry.raw.indexOf(':');
  if (rawColon >= 0) facts.methodVersionSpan = trimmedSpan(entry.raw.slice(rawColon + 1), entry.valueOffset + rawColon + 1);
  if (!facts.methodVersion.ok) facts.problems.push(`method line version ${quote(versionText)} ${facts.methodVersion.problem}`);
}

const SERVER_FIELDS = [
  ['major', 'major ver'],
  ['minor', 'minor ver'],
  ['phase', 'phase ver'],
  ['incr', 'ver incr'],
] as const;

/** The span of `raw` (which starts at `offset`) without its surrounding white space. */
function trimmedSpan(raw: string, offset: number): FpseSpan {
  return { offset: offset + raw.length - raw.trimStart().length, length: raw.trim().length };
}

function readServerVersion(root: Entry[], facts: FpsePacketFacts): void {
  const entry = root.find((e) => e.name === 'server version');
  if (entry === undefined) return;
  const server: FpseServerVersion = { spans: {} };
  facts.serverVersion = server;
  const items = entry.list ?? [];
  if (entry.list === undefined) facts.problems.push('server version= has no <ul> list (§2.3)');
  const texts: string[] = [];
  for (const [field, key] of SERVER_FIELDS) {
    let item = items.find((e) => e.name === key);
    // The SDK prose writes `verincr`; every wire capture has `ver incr` (§2.3).
    if (item === undefined && field === 'incr') {
      item = items.find((e) => e.name === 'verincr');
      if (item !== undefined) facts.problems.push('server version list says "verincr" (SDK prose); the wire key is "ver incr" (§2.3)');
    }
    if (item === undefined) continue;
    const trimmed = item.value.trim();
    server.spans[field] = trimmedSpan(item.raw, item.valueOffset);
    if (/^[0-9]{1,10}$/.test(trimmed)) {
      server[field] = Number(trimmed);
      texts.push(trimmed);
    } else facts.problems.push(`server version ${key}=${quote(item.value)} is not a number`);
  }
  const missing = SERVER_FIELDS.filter(([field]) => server.spans[field] === undefined).map(([, key]) => key);
  if (missing.length > 0) facts.problems.push(`server version list lacks ${missing.join(', ')} (§2.3)`);
  if (texts.length === 4) {
    server.version = parseVersion(texts.join('.'));
    if (!server.version.ok) facts.problems.push(`server version ${texts.join('.')} ${server.version.problem}`);
  }
}

function readStatus(root: Entry[], facts: FpsePacketFacts): void {
  const entry = root.find((e) => e.name === 'status');
  if (entry === undefined) return;
  facts.isError = true;
  const items = entry.list ?? [];
  const get = (key: string): string | undefined => items.find((e) => e.name === key)?.value;
  // §2.5: HubKey reads the list; a flat `<p>status=<code>` is accepted too.
  const code = parseCode(entry.list === undefined ? entry.value : get('status'));
  if (code === undefined) {
    facts.problems.push('status list without a numeric status= item (§2.5)');
    return;
  }
  const status: FpseStatus = { status: code, hex: fpseStatusHex(code) };
  const known = FPSE_STATUS_CODES.get(code >>> 0);
  if (known?.name !== undefined) status.name = known.name;
  if (known !== undefined) status.meaning = known.meaning;
  const osstatus = parseCode(get('osstatus'));
  if (osstatus !== undefined) status.osstatus = osstatus;
  const msg = get('msg');
  if (msg !== undefined) status.msg = msg;
  const osmsg = get('osmsg');
  if (osmsg !== undefined) status.osmsg = osmsg;
  facts.status = status;
}

/** Decimal as HubKey parses it (§2.5), or `0x…`; within 32 bits, signed or not. */
function parseCode(text: string | undefined): number | undefined {
  const t = text?.trim() ?? '';
  const n = /^-?[0-9]{1,10}$/.test(t) ? Number(t) : /^0x[0-9a-f]{1,8}$/i.test(t) ? parseInt(t.slice(2), 16) : NaN;
  return Number.isInteger(n) && n >= -(2 ** 31) && n <= 2 ** 32 - 1 ? n : undefined;
}

function controlBytes(body: Buffer): string[] {
  let count = 0;
  let first = -1;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) {
      count++;
      if (first < 0) first = i;
    }
  }
  return count === 0 ? [] : [`binary data in the packet (${count} control bytes, first at offset ${first})`];
}

function fromLatin1(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** UTF-8 text with HTML character references decoded (values are HTML-escaped in the packet). */
function decodeValue(raw: string): string {
  return fromLatin1(raw).replace(/&(#[0-9]{1,7}|#x[0-9a-f]{1,6}|[a-z]+);/gi, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[ref.toLowerCase()] ?? whole;
  });
}
