/**
 * The `clientVersion` action on an FPSE request: the version in the method value of the body's
 * first line (`method=server+version%3a12%2e0%2e0%2e6415` → `…%3a6%2e0%2e2%2e5523`), written
 * the way this client writes it (MS-FPSE 2.2.2; docs/protocols.md §2.2, §4.9, §4.10). Pure: the
 * caller holds the line and puts the rewritten one back before the first LF (§4.12: the rest of
 * a `put document` body is raw document bytes and never touched), fixing Content-Length.
 */
import { parseVersion } from '../core/version.js';
import { rewriteFpseMethodValue } from '../protocols/fpse-encoding.js';
import { decodeFpseFirstLine } from '../protocols/fpse-request.js';
import type { Change } from './rule.js';

const CR = 0x0d;

/**
 * `firstLine` is the first line without its LF; a trailing CR (Metasploit writes CRLF, §4.10)
 * stays. Only the method value's bytes change: the method name keeps its exact spelling (`+` or
 * `%20`), the version takes the client's `:`/`%3a`/`%3A` and `.`/`%2e`/`%2E`, or the ones the
 * rest of the line suggests when the method had no version to copy from.
 */
export function rewriteFpseClientVersion(firstLine: Buffer, version: string): { line: Buffer; change: Change } | { problem: string } {
  const wanted = parseVersion(version);
  if (!wanted.ok) return { problem: `clientVersion ${JSON.stringify(version)} ${wanted.problem}` };
  const cr = firstLine.length > 0 && firstLine[firstLine.length - 1] === CR;
  const line = cr ? firstLine.subarray(0, firstLine.length - 1) : firstLine;
  const facts = decodeFpseFirstLine(line);
  const { rawMethodValue, methodValueOffset: offset, methodValueLength: length, style } = facts;
  if (rawMethodValue === undefined || offset === undefined || length === undefined || style === undefined) {
    return { problem: `the request body has no method= parameter, so there is no client version to rewrite (§2.2)` };
  }
  if (facts.method === '') return { problem: 'the method= parameter names no method, so there is no client version to rewrite (§2.2)' };
  const after = wanted.version.text;
  // The decoder reads the line as latin1, one character per byte; writing it back the same way keeps every byte.
  const value = Buffer.from(rewriteFpseMethodValue(rawMethodValue, after, style), 'latin1');
  const rewritten = Buffer.concat([line.subarray(0, offset), value, line.subarray(offset + length), cr ? firstLine.subarray(-1) : Buffer.alloc(0)]);
  // An unreadable old version (nmap's `FPVersion="…"`, ten numbers) is still what the client sent.
  const before = facts.clientVersion?.ok ? facts.clientVersion.version.text : facts.clientVersion?.text;
  const change: Change = { action: 'clientVersion', target: 'request body: method', after };
  if (before !== undefined) change.before = before;
  return { line: rewritten, change };
}
