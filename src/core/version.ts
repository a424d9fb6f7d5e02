/**
 * Version strings as both protocols write them: four dot-separated decimal numbers, optionally
 * behind a `Product/` prefix.
 *   MAPI/HTTP  `X-ClientApplication: Outlook/16.0.15928.20006`, `X-ServerApplication:
 *              Exchange/15.02.1544.014` (docs/protocols.md §1.4, semantics §1.9)
 *   FPSE       `method=server version:12.0.0.6415`, major.minor.phase.build (§2.3, §2.6)
 * Parsing never throws: traffic failures are data, so a bad string comes back as a `problem`
 * that reads after its subject — `${what} ${problem}`, e.g. `serverVersion needs four numbers
 * like 12.0.0.6415 (got 2)`.
 * This is the bottom layer: it imports nothing outside src/core. Ranges (`< 4.0.2.2611`) live in
 * version-range.ts and are re-exported here so callers have one module to import.
 */

import { quote } from './quote.js';

export interface Version {
  /** Exactly four numbers for a parsed version, most significant first. */
  readonly parts: readonly number[];
  /** The text it was parsed from, trimmed. */
  readonly text: string;
  /** `Outlook`, `Exchange` when written as `Product/a.b.c.d`. */
  readonly product?: string;
  /** Digits written per part ([2,2,4,3] for 15.02.1544.014), to re-format in the original style. */
  readonly widths: readonly number[];
}

export type VersionResult = { ok: true; version: Version } | { ok: false; text: string; problem: string };

/** The largest number a part may hold (FPSE `ver incr` can be large; §2.3). */
export const MAX_VERSION_PART = 2 ** 31 - 1;
/** Longer input is refused unread: real versions are under 30 characters. */
export const MAX_VERSION_TEXT = 200;

const EXAMPLE = '12.0.0.6415';
// RFC 9110 5.6.2 token characters: what may stand before the `/` in `Outlook/…` (§3 MAPI/HTTP 1).
const PRODUCT = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DIGITS = /^[0-9]+$/;
const WILDCARD = /^[xX*]$/;

/** The common well-formed case, parsed in one match: `[Product/]a.b.c.d`, each part ≤ 10 digits. */
const WELL_FORMED = /^\s*(?:([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\/)?(\d{1,10})\.(\d{1,10})\.(\d{1,10})\.(\d{1,10})\s*$/;

/**
 * Results of recent parses. The same header values (`Outlook/16.0.15928.20006`) come with every
 * request of a session, so the proxy's hot path mostly hits here. Results are immutable.
 */
const recent = new Map<string, VersionResult>();
const RECENT_LIMIT = 512;

/** Parses `[Product/]a.b.c.d`. §3: decimal fields, maybe zero-padded; compare them as integers. */
export function parseVersion(text: string): VersionResult {
  if (typeof text !== 'string') return parseWith(text, 4);
  const known = recent.get(text);
  if (known !== undefined) return known;
  const result = parseWellFormed(text) ?? parseWith(text, 4);
  if (recent.size >= RECENT_LIMIT) recent.clear();
  recent.set(text, result);
  return result;
}

function parseWellFormed(input: string): VersionResult | undefined {
  if (input.length > MAX_VERSION_TEXT) return undefined; // the full parser refuses it, saying why
  const m = WELL_FORMED.exec(input);
  if (!m) return undefined;
  const pieces = [m[2]!, m[3]!, m[4]!, m[5]!];
  const parts = pieces.map(Number);
  if (parts.some((n) => n > MAX_VERSION_PART)) return undefined; // the full parser says why
  const text = input.trim();
  const version: Version = { parts: Object.freeze(parts), text, widths: Object.freeze(pieces.map((piece) => piece.length)) };
  return { ok: true, version: Object.freeze(m[1] === undefined ? version : { ...version, product: m[1] }) };
}

/**
 * Parses one to four numbers and pads the missing trailing ones with zeros (`15.1` = 15.1.0.0),
 * for ranges and for short forms such as the `MAPI 16.0.15928` token in an Outlook User-Agent
 * (§1.4). `widths` of padded parts are 1.
 */
export function parsePartialVersion(text: string): VersionResult {
  return parseWith(text, 1);
}

function parseWith(input: unknown, minParts: number): VersionResult {
  if (typeof input !== 'string') return fail('', `is not text (got ${typeof input})`);
  const text = input.trim();
  const problem = findProblem(text, minParts);
  if (typeof problem === 'string') return fail(text, problem);
  return { ok: true, version: problem };
}

function fail(text: string, problem: string): VersionResult {
  const shown = text.length > MAX_VERSION_TEXT ? `${text.slice(0, MAX_VERSION_TEXT)}…` : text;
  return { ok: false, text: shown, problem };
}

/** Either the problem sentence or the version; checks run from the coarsest to the finest. */
function findProblem(text: string, minParts: number): string | Version {
  if (text === '') return `is empty; a version is four numbers like ${EXAMPLE}`;
  if (text.length > MAX_VERSION_TEXT) {
    return `is ${text.length} characters long; versions are read only up to ${MAX_VERSION_TEXT} characters`;
  }
  // nmap and scanners report `FPVersion="5.0.2.2623"` from _vti_inf.html (§2.1); the value is the version.
  const assignment = /^([^\s=]+)\s*=\s*("?)(.*?)\2$/.exec(text);
  if (assignment) {
    const [, name, quote, value] = assignment;
    const kind = quote === '"' ? `a quoted ${name} assignment` : `a ${name}= assignment`;
    return `looks like ${kind}, not a version; pass just the value ${q(value!)}`;
  }
  if (/^["'].*["']$/.test(text)) return `is in quotes; pass the version without them, like ${EXAMPLE}`;

  const slash = text.indexOf('/');
  const product = slash >= 0 ? text.slice(0, slash) : undefined;
  const body = slash >= 0 ? text.slice(slash + 1) : text;
  if (product !== undefined) {
    if (product === '') return `has nothing before the "/"; write Product/${EXAMPLE} or just ${EXAMPLE}`;
    if (!PRODUCT.test(product)) return `has ${q(product)} before the "/", which is not a product name (letters, digits and !#$%&'*+-.^_\`|~ only)`;
    if (body === '') return `has no numbers after "${product}/"`;
  }
  if (/\s/.test(body)) return `has spaces inside; a version is written without them, like ${EXAMPLE}`;
  if (body.startsWith('.')) return 'starts with a dot; the first number is missing';
  if (body.endsWith('.')) return 'ends with a dot; the last number is missing';

  const pieces = body.split('.');
  for (const piece of pieces) {
    if (piece === '') return `has an empty number between two dots (${q(body)})`;
    if (/^-[0-9]+$/.test(piece)) return `has a negative number (${piece}); version numbers are 0 or more`;
    // §2.6: the comparison rule has no wildcards; the "x.x" in product tables only means "any".
    if (WILDCARD.test(piece)) return `has a wildcard (${q(piece)}); every number must be written out`;
    if (!DIGITS.test(piece)) return `has ${q(piece)}, which is not a decimal number`;
  }
  if (pieces.length < minParts) return `needs four numbers like ${EXAMPLE} (got ${pieces.length})`;
  if (pieces.length > 4) return `has ${pieces.length} numbers; a version has exactly four, like ${EXAMPLE}`;
  const parts = pieces.map(Number);
  const big = pieces.find((piece, i) => parts[i]! > MAX_VERSION_PART);
  if (big !== undefined) {
    const shown = big.length > 20 ? `${big.slice(0, 20)}…` : big;
    return `has ${shown}, larger than the ${MAX_VERSION_PART} a version number can be`;
  }
  const widths = pieces.map((piece) => piece.length);
  while (parts.length < 4) {
    parts.push(0);
    widths.push(1);
  }
  const version: Version = { parts: Object.freeze(parts), text, widths: Object.freeze(widths) };
  return Object.freeze(product === undefined ? version : { ...version, product });
}

/** Quotes a fragment for a problem sentence (quote.ts: no backslashes unless control characters). */
function q(fragment: string): string {
  return quote(fragment);
}

/**
 * Most significant part first, numerically (15.02 == 15.2). §2.6 (MS-FPSE 1.7.1) and §1.9
 * (MS-OXCRPC's normalised 4-tuples) agree on this order. The product is ignored.
 */
export function compareVersions(a: Version, b: Version): -1 | 0 | 1 {
  const length = Math.max(a.parts.length, b.parts.length);
  for (let i = 0; i < length; i++) {
    const x = a.parts[i] ?? 0;
    const y = b.parts[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** The smaller; on a tie, `a`. MS-FPSE 3.1.5.3.14: the method line carries Min(client, server). */
export function minVersion(a: Version, b: Version): Version {
  return compareVersions(b, a) < 0 ? b : a;
}

/** The larger; on a tie, `a`. */
export function maxVersion(a: Version, b: Version): Version {
  return compareVersions(b, a) > 0 ? b : a;
}

/**
 * Writes `parts` in the style of `like`. §3 MAPI/HTTP 1: keep the original padding when
 * rewriting, because nothing says parsers accept the other form. Padding is a property of the
 * whole string (§1.4: servers write `15.02.1544.014`, clients often `16.0.15928.20006`), so a
 * zero-padded `like` gives each part its width where the number fits (a wider number is written
 * in full) and an unpadded one gives plain numbers; the `Product/` prefix is kept either way.
 * Parts must be integers in 0..MAX_VERSION_PART; anything else is a program error (RangeError).
 */
export function formatVersion(parts: readonly number[], like?: Version): string {
  const bad = parts.find((n) => !Number.isInteger(n) || n < 0 || n > MAX_VERSION_PART);
  if (bad !== undefined) throw new RangeError(`version part ${bad} is not an integer in 0..${MAX_VERSION_PART}`);
  const widths = like && isZeroPadded(like) ? like.widths : [];
  const numbers = parts.map((n, i) => String(n).padStart(widths[i] ?? 0, '0')).join('.');
  return like?.product === undefined ? numbers : `${like.product}/${numbers}`;
}

/** Whether any part was written with leading zeros (`15.02.1544.014`, not `16.0.15928.20006`). */
export function isZeroPadded(v: Version): boolean {
  return v.widths.some((width, i) => width > String(v.parts[i] ?? 0).length);
}

/** `a.b.c.d`: numeric, no padding, no product; the form used in logs and records. */
export function versionString(v: Version): string {
  return v.parts.join('.');
}

export { describeRange, inRange, parseRange } from './version-range.js';
export type { RangeOperator, RangeResult, RangeTerm, VersionRange } from './version-range.js';
