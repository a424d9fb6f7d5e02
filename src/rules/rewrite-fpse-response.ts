/**
 * The `serverVersion` action on FPSE responses: makes a `server version` packet (and the
 * `_vti_inf.html` discovery page) read as if a server of another build had written it.
 *   packet     `server version=` list: the server's real build (MS-FPSE 3.1.5.3.14; §2.3);
 *              method line: the effective protocol version, Min(client, server) (MS-FPSE 1.7.1; §2.6)
 *   _vti_inf   `FPVersion="…"` in the configuration comment (MS-FPSE 3.1.3.2.1; §2.1)
 * Values are replaced in place at the spans the parsers report, so line ends (LF or CRLF, §2.3),
 * order and every other entry keep their bytes. Pure; the caller fixes Content-Length.
 */
import { minVersion, parseVersion, versionString, type Version } from '../core/version.js';
import { FPSE_PACKET_CAP, parseFpsePacket, type FpsePacketFacts, type FpseSpan } from '../protocols/fpse-packet.js';
import { parseVtiInf } from '../protocols/fpse-vti-inf.js';
import type { Change } from './rule.js';

export type Rewritten = { body: Buffer; changes: Change[] } | { problem: string };

export interface ServerVersionOptions {
  /** The build to pose as, four numbers (validated by the rule loader). */
  version: string;
  /** Rewrite only the method line or only the `server version=` list; both when absent. */
  only?: 'method-line' | 'server-list';
  /** The client's version from the request's method value, for Min (MS-FPSE 1.7.1). */
  clientVersion?: Version;
}

interface Edit extends FpseSpan {
  text: string;
}

const LIST_FIELDS = ['major', 'minor', 'phase', 'incr'] as const;
const LIST_KEYS = { major: 'major ver', minor: 'minor ver', phase: 'phase ver', incr: 'ver incr' } as const;

export function rewriteFpseServerVersion(packet: Buffer, opts: ServerVersionOptions): Rewritten {
  const wanted = fpseVersion(opts.version);
  if (typeof wanted === 'string') return { problem: wanted };
  if (packet.length > FPSE_PACKET_CAP) return { problem: `the packet is ${packet.length} bytes, more than the ${FPSE_PACKET_CAP / 1024} KiB the rewrite reads; left unchanged` };
  const facts = parseFpsePacket(packet);
  // §2.4: every packet starts with method=; without one this is not a packet to rewrite.
  if (facts.method === undefined) return { problem: `the body is not a vermeer RPC packet (${facts.problems.join('; ')})` };
  const edits: Edit[] = [];
  const changes: Change[] = [];
  if (opts.only !== 'server-list') methodLineEdit(packet, facts, wanted, opts.clientVersion, edits, changes);
  if (opts.only !== 'method-line') {
    const problem = serverListEdits(packet, facts, wanted, edits, changes);
    if (problem !== undefined) return { problem };
  }
  return { body: splice(packet, edits), changes };
}

/** MS-FPSE 1.7.1: the method line carries Min(server, client); a line without a version stays so (§4.8). */
function methodLineEdit(packet: Buffer, facts: FpsePacketFacts, server: Version, client: Version | undefined, edits: Edit[], changes: Change[]): void {
  const span = facts.methodVersionSpan;
  if (span === undefined) return;
  const after = versionString(client === undefined ? server : minVersion(client, server));
  edits.push({ ...span, text: after });
  changes.push({ action: 'serverVersion', target: 'response body: method line', before: textAt(packet, span), after });
}

/** §2.3: `major ver`, `minor ver`, `phase ver`, `ver incr` take the four numbers of the new build. */
function serverListEdits(packet: Buffer, facts: FpsePacketFacts, server: Version, edits: Edit[], changes: Change[]): string | undefined {
  const list = facts.serverVersion;
  if (list === undefined) return undefined;
  const missing = LIST_FIELDS.filter((field) => list.spans[field] === undefined);
  if (missing.length > 0) return `the server version list lacks ${missing.map((f) => LIST_KEYS[f]).join(', ')} (§2.3), so not all four numbers of ${versionString(server)} can be written`;
  const before = LIST_FIELDS.map((field) => textAt(packet, list.spans[field]!)).join('.');
  LIST_FIELDS.forEach((field, i) => edits.push({ ...list.spans[field]!, text: String(server.parts[i]) }));
  changes.push({ action: 'serverVersion', target: 'response body: server version', before, after: versionString(server) });
  return undefined;
}

/** The FPVersion="…" value(s) of the configuration comment, written exactly as given (`15.00.0.000`). */
export function rewriteVtiInfVersion(page: Buffer, version: string): Rewritten {
  const wanted = fpseVersion(version);
  if (typeof wanted === 'string') return { problem: wanted };
  const spans = fpVersionSpans(page);
  if (spans.length === 0) return { problem: 'the page has no FPVersion="…" (§2.1), so there is no version to rewrite' };
  const text = wanted.text;
  const body = splice(page, spans.map((span) => ({ ...span, text })));
  // The parser is the client's view: if it does not read the new value back, the rewrite missed.
  const check = parseVtiInf(body);
  if (check.fpVersionText !== text) return { problem: `FPVersion could not be rewritten (the page reads ${JSON.stringify(check.fpVersionText ?? '')} afterwards)` };
  return { body, changes: [{ action: 'serverVersion', target: 'response body: FPVersion', before: textAt(page, spans[0]!), after: text }] };
}

/**
 * Every FPVersion value where parseVtiInf looks for it: inside the `<!-- FrontPage Configuration
 * Information` comment, or anywhere when the page has none. All of them, so a client that reads
 * the last one (or a regex over the whole page) sees the same version.
 */
function fpVersionSpans(page: Buffer): FpseSpan[] {
  const text = page.toString('latin1'); // one char per byte: string indexes are byte offsets
  const open = /<!--\s*FrontPage Configuration Information/.exec(text);
  const start = open === null ? 0 : open.index + open[0].length;
  const close = open === null ? -1 : text.indexOf('-->', start);
  const block = text.slice(start, close < 0 ? text.length : close);
  const spans: FpseSpan[] = [];
  for (const m of block.matchAll(/(?<![A-Za-z0-9_])FPVersion[ \t]*=[ \t]*"([^"\r\n]*)"/g)) {
    spans.push({ offset: start + m.index + m[0].length - 1 - m[1]!.length, length: m[1]!.length });
  }
  return spans;
}

/** A four-number FPSE version, or the problem sentence (rules are validated, so this is a guard). */
function fpseVersion(text: string): Version | string {
  const parsed = parseVersion(text);
  if (!parsed.ok) return `serverVersion ${JSON.stringify(text)} ${parsed.problem}`;
  // MC-FPSEWM 2.2.2.2.2: PROTOCOL-VERSION-STRING is four integers, no product name.
  if (parsed.version.product !== undefined) return `serverVersion ${JSON.stringify(text)} has a product prefix; FPSE versions are bare numbers`;
  return parsed.version;
}

function textAt(body: Buffer, span: FpseSpan): string {
  return body.subarray(span.offset, span.offset + span.length).toString('utf8');
}

/** `body` with each span replaced by its text; spans do not overlap. */
function splice(body: Buffer, edits: readonly Edit[]): Buffer {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const edit of [...edits].sort((a, b) => a.offset - b.offset)) {
    pieces.push(body.subarray(at, edit.offset), Buffer.from(edit.text, 'latin1'));
    at = edit.offset + edit.length;
  }
  pieces.push(body.subarray(at));
  return Buffer.concat(pieces);
}
