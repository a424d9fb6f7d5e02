/**
 * How `./proxy serve` finds the recorded answer to a request (issue 6, item 5): by method, then
 * path (origin-form, query included; the path without its query as a fallback), then the FPSE
 * method of the body's first line (docs/protocols.md §2.2) and the MAPI/HTTP request type
 * (X-RequestType, docs/protocols.md §1.4), then order: the n-th request with the same key gets the
 * n-th answer recorded for it, and once they are used up the last one again, so a client that
 * polls (MAPI/HTTP PING, NotificationWait) keeps getting an answer.
 * Pure data structures, no sockets: serve.ts feeds it requests, the unit tests feed it keys.
 */
import { getHeader, type RawHeaders } from '../core/raw-headers.js';
import { decodeFpseFirstLine } from '../protocols/fpse-request.js';

export interface RequestKey {
  method: string;
  /** Origin-form request-target, query included (`/mapi/emsmdb/?MailboxId=…`). */
  path: string;
  /** FPSE method without version, lower case (`server version`), when the body's first line names one. */
  fpseMethod?: string;
  /** MAPI/HTTP X-RequestType, lower case (`connect`): the server treats it case-insensitively. */
  requestType?: string;
}

/** The origin-form of a request-target: absolute-form (forward mode, RFC 9112 §3.2.2) loses its scheme and authority. */
export function originFormOf(target: string): string {
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (absolute === null) return target;
  const rest = target.slice(absolute[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

export function withoutQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/**
 * The FPSE method a body names on its first line (`method=server+version%3a…`), or undefined.
 * Only the first line is read: FPSE reads nothing past the first LF (docs/protocols.md §2.2).
 */
export function fpseMethodOf(body: Buffer | undefined): string | undefined {
  return body === undefined || body.length === 0 ? undefined : decodeFpseFirstLine(body).method;
}

/** The key of a request; `fpseMethod` as fpseMethodOf (or a streaming FpseRequestScanner) found it. */
export function requestKeyOf(method: string, target: string, rawHeaders: RawHeaders, fpseMethod: string | undefined): RequestKey {
  const key: RequestKey = { method, path: originFormOf(target) };
  if (fpseMethod !== undefined && fpseMethod !== '') key.fpseMethod = fpseMethod.toLowerCase();
  const requestType = getHeader(rawHeaders, 'x-requesttype')?.trim();
  if (requestType !== undefined && requestType !== '') key.requestType = requestType.toLowerCase();
  return key;
}

/** `POST /_vti_bin/shtml.dll/_vti_rpc (FPSE "server version")`, for the 404 text and logs. */
export function describeKey(key: RequestKey): string {
  const extras = [
    ...(key.fpseMethod === undefined ? [] : [`FPSE "${key.fpseMethod}"`]),
    ...(key.requestType === undefined ? [] : [`MAPI/HTTP ${key.requestType}`]),
  ];
  return `${key.method} ${key.path}${extras.length === 0 ? '' : ` (${extras.join(', ')})`}`;
}

function keyString(key: RequestKey, path: string): string {
  return JSON.stringify([key.method, path, key.fpseMethod ?? '', key.requestType ?? '']);
}

interface Bucket<T> {
  key: RequestKey;
  answers: T[];
  /** Requests answered from this bucket so far. */
  served: number;
}

export interface AnswerMatch<T> {
  answer: T;
  /** 1-based: this is the n-th request answered with this key. */
  nth: number;
  /** Answers recorded for the key; `nth > of` means the last one was served again. */
  of: number;
  /** Matched on the path without its query (the recorded query differed, e.g. another MailboxId). */
  withoutQuery: boolean;
}

/** Recorded answers by request key, in recording order. */
export class AnswerIndex<T> {
  private readonly exact = new Map<string, Bucket<T>>();
  private readonly loose = new Map<string, Bucket<T>>();
  private count = 0;

  /** Adds the next recorded answer for `key` (call in the order the requests were made). */
  add(key: RequestKey, answer: T): void {
    this.count += 1;
    bucketOf(this.exact, keyString(key, key.path), key).answers.push(answer);
    const path = withoutQuery(key.path);
    bucketOf(this.loose, keyString(key, path), { ...key, path }).answers.push(answer);
  }

  get size(): number {
    return this.count;
  }

  /** The answer for the next request with `key`, or undefined when nothing recorded matches. */
  match(key: RequestKey): AnswerMatch<T> | undefined {
    let bucket = this.exact.get(keyString(key, key.path));
    const loose = bucket === undefined;
    bucket ??= this.loose.get(keyString(key, withoutQuery(key.path)));
    if (bucket === undefined) return undefined;
    bucket.served += 1;
    const of = bucket.answers.length;
    return { answer: bucket.answers[Math.min(bucket.served, of) - 1]!, nth: bucket.served, of, withoutQuery: loose };
  }

  /**
   * The recorded keys most like `key`, best first: what a developer needs to see why a request
   * found no answer (another method, a different FPSE method, a path spelled differently).
   */
  closest(key: RequestKey, count = 3): RequestKey[] {
    const path = withoutQuery(key.path);
    const scored = [...this.exact.values()].map(({ key: recorded }) => {
      const recordedPath = withoutQuery(recorded.path);
      const score =
        (recorded.method === key.method ? 1 : 0) +
        (recordedPath === path ? 4 : 0) +
        (recorded.path === key.path ? 1 : 0) +
        (recorded.fpseMethod === key.fpseMethod ? 2 : 0) +
        (recorded.requestType === key.requestType ? 2 : 0);
      return { recorded, score, prefix: commonPrefix(recordedPath.toLowerCase(), path.toLowerCase()) };
    });
    scored.sort((a, b) => b.score - a.score || b.prefix - a.prefix);
    return scored.slice(0, count).map((s) => s.recorded);
  }
}

function bucketOf<T>(map: Map<string, Bucket<T>>, id: string, key: RequestKey): Bucket<T> {
  let bucket = map.get(id);
  if (bucket === undefined) {
    bucket = { key, answers: [], served: 0 };
    map.set(id, bucket);
  }
  return bucket;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i += 1;
  return i;
}
