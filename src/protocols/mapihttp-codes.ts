/**
 * The `X-ResponseCode` table of MAPI/HTTP (MS-OXCMAPIHTTP 2.2.3.3.3; docs/protocols.md §1.7), with
 * names usable in logs and in rules (`context-not-found` or `10`).
 *
 * Numbers are named by the spec table only. Current gromox numbers its codes from its own enum
 * (docs/protocols.md §1.7 "IMPL caveats"), so a name here says what the spec calls that number, not
 * what the server meant; nothing on the wire tells the two numberings apart.
 */
import { quote } from '../core/quote.js';

export interface ResponseCode {
  /** The decimal number on the wire. */
  value: number;
  /** The spec's name, e.g. 'Context Not Found'. */
  name: string;
  /** The name for logs and rules, e.g. 'context-not-found'. */
  kebab: string;
}

function row(value: number, name: string): ResponseCode {
  return Object.freeze({ value, name, kebab: toKebab(name) });
}

function toKebab(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

// MS-OXCMAPIHTTP 2.2.3.3.3: the whole table, in order; 14 is "Reserved" (client MUST ignore).
export const RESPONSE_CODES: readonly ResponseCode[] = Object.freeze([
  row(0, 'Success'),
  row(1, 'Unknown Failure'),
  row(2, 'Invalid Verb'),
  row(3, 'Invalid Path'),
  row(4, 'Invalid Header'),
  row(5, 'Invalid Request Type'),
  row(6, 'Invalid Context Cookie'),
  row(7, 'Missing Header'),
  row(8, 'Anonymous Not Allowed'),
  row(9, 'Too Large'),
  row(10, 'Context Not Found'),
  row(11, 'No Privilege'),
  row(12, 'Invalid Request Body'),
  row(13, 'Missing Cookie'),
  row(14, 'Reserved'),
  row(15, 'Invalid Sequence'),
  row(16, 'Endpoint Disabled'),
  row(17, 'Invalid Response'),
  row(18, 'Endpoint Shutting Down'),
]);

/** The named code for a number; numbers outside the table are 'Unknown (n)' / 'unknown-n'. */
export function responseCode(value: number): ResponseCode {
  const known = RESPONSE_CODES[value];
  if (known !== undefined && Number.isInteger(value)) return known;
  return { value, name: `Unknown (${value})`, kebab: `unknown-${value}` };
}

/**
 * Looks a code up by kebab name ('context-not-found'), spec name ('Context Not Found') or
 * decimal number ('10'). Only rows of the table are found: a rule that names a code outside
 * the spec is more likely a typo than a wish.
 */
export function responseCodeByName(kebabOrNumber: string): ResponseCode | undefined {
  const text = kebabOrNumber.trim();
  if (/^\d+$/.test(text)) return RESPONSE_CODES[Number(text)];
  const kebab = toKebab(text);
  return RESPONSE_CODES.find((code) => code.kebab === kebab);
}

/** A parsed `X-ResponseCode` value: the code, or why there is none. */
export type ResponseCodeValue = { ok: true; code: ResponseCode; repeated: boolean } | { ok: false; problem: string };

/**
 * Reads the values of `X-ResponseCode` (outer header lines or additional headers after DONE).
 * Microsoft's own test harness splits a possibly duplicated value on ',' and keeps the last
 * (docs/protocols.md §1.7, [S9]); the same is done here, so the proxy judges a response the way
 * the reference client would.
 */
export function parseResponseCodeValues(values: readonly string[]): ResponseCodeValue | undefined {
  // The usual case, one plain number, without the splitting below.
  if (values.length === 1 && /^\d{1,9}$/.test(values[0]!)) return { ok: true, code: responseCode(Number(values[0])), repeated: false };
  const parts = values.flatMap((v) => v.split(',')).map((v) => v.trim());
  const last = parts[parts.length - 1];
  if (last === undefined) return undefined;
  // MS-OXCMAPIHTTP 2.2.3.3.3: a decimal number. Leading zeros are tolerated; signs are not.
  if (!/^\d{1,10}$/.test(last)) return { ok: false, problem: `X-ResponseCode ${quote(last)} is not a decimal number` };
  return { ok: true, code: responseCode(Number(last)), repeated: parts.length > 1 };
}
