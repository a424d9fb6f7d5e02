/**
 * Matchers, compiled from validated `match:` values (STYLE.md habit 2: found by name in one
 * table). A matcher answers true or false, or `undefined` while the facts it reads are not known
 * yet (an FPSE client version is in the request body; a server version in the response), and
 * explains itself in the words `rules check` and the record use.
 */
import { BlockList, isIPv4 } from 'node:net';
import { inRange, parseRange, type Version, type VersionRange } from '../core/version.js';
import type { RawHeaders } from '../core/raw-headers.js';
import { canonicalRequestType } from '../protocols/mapihttp.js';
import { regexOf } from './field-checks.js';
import { compileGlob } from './glob.js';
import { compileRegex, type PatternTest } from './regex.js';
import type { MatchFacts, Protocol } from './rule.js';

export interface Matcher {
  readonly name: string;
  test(facts: MatchFacts): boolean | undefined;
  /** e.g. `host matches *.contoso.com`. */
  readonly explain: string;
}

type MatcherCompiler = (arg: unknown) => Matcher;

/**
 * A glob (`*` any run of characters, `?` one) or a `/regex/flags`. Globs are anchored and
 * case-insensitive (host names are; IIS paths, where FPSE and MAPI/HTTP live, are too) and match
 * in linear time (glob.ts); a regex is used as written, by a linear-time engine (regex.ts). Both
 * run on every request, on values the client chose: neither may backtrack (issue 21).
 * `regex` keeps its name for the callers outside rules/ (TLS and HAR host filters) that only test.
 */
export function compilePattern(pattern: string): { regex: PatternTest; isRegex: boolean } {
  const written = regexOf(pattern);
  if (written !== undefined) return { regex: compileRegex(written.body, written.flags), isRegex: true };
  return { regex: compileGlob(pattern), isRegex: false };
}

function matcher(name: string, explain: string, test: (facts: MatchFacts) => boolean | undefined): Matcher {
  return { name, explain, test };
}

function host(arg: unknown): Matcher {
  const { regex } = compilePattern(String(arg));
  return matcher('host', `host matches ${String(arg)}`, (f) => regex.test(f.host));
}

function path(arg: unknown): Matcher {
  const text = String(arg);
  const written = regexOf(text);
  // A glob reads the path alone (`/mapi/emsmdb/` still matches `/mapi/emsmdb/?MailboxId=…`);
  // a regex sees the query too, for the rare rule that needs it.
  if (written !== undefined) {
    const regex = compileRegex(written.body, written.flags);
    return matcher('path', `path matches ${text}`, (f) => regex.test(f.path));
  }
  const glob = compileGlob(text);
  return matcher('path', `path matches ${text}`, (f) => {
    const q = f.path.indexOf('?');
    return glob.test(f.path, q < 0 ? f.path.length : q);
  });
}

function method(arg: unknown): Matcher {
  const list = (Array.isArray(arg) ? arg : [arg]).map((m) => String(m).toUpperCase());
  return matcher('method', `method is ${list.join(' or ')}`, (f) => list.includes(f.method.toUpperCase()));
}

function protocol(arg: unknown): Matcher {
  const p = arg as Protocol;
  const names: Record<Protocol, string> = { mapihttp: 'MAPI/HTTP', fpse: 'FPSE', http: 'plain HTTP' };
  return matcher('protocol', `protocol is ${names[p]}`, (f) => f.protocol === p);
}

function requestType(arg: unknown): Matcher {
  const canonical = canonicalRequestType(String(arg)) ?? String(arg);
  return matcher('requestType', `MAPI/HTTP request type is ${canonical}`, (f) => (f.requestType === undefined ? undefined : f.requestType === canonical));
}

function fpseMethod(arg: unknown): Matcher {
  const wanted = normaliseMethod(String(arg));
  return matcher('fpseMethod', `FPSE method is "${wanted}"`, (f) => (f.fpseMethod === undefined ? undefined : f.fpseMethod !== null && normaliseMethod(f.fpseMethod) === wanted));
}

/** `Open Service`, `open  service` and `open_service` name the same method (MS-FPSE 2.2.2). */
function normaliseMethod(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_]+/g, ' ');
}

function versionMatcher(name: 'clientVersion' | 'serverVersion', who: string): MatcherCompiler {
  return (arg) => {
    const parsed = parseRange(String(arg));
    // Validated by load.ts; a failure here is a bug, not user input.
    if (!parsed.ok) throw new Error(`unvalidated ${name} range ${String(arg)}: ${parsed.problem}`);
    const range: VersionRange = parsed.range;
    return matcher(name, `${who} version is ${range.text}`, (f) => {
      const v: Version | null | undefined = f[name];
      return v === undefined ? undefined : v !== null && inRange(v, range);
    });
  };
}

function header(arg: unknown): Matcher {
  const tests = Object.entries(arg as Record<string, unknown>).map(([name, want]) => {
    const lower = name.toLowerCase();
    if (want === true) return { explain: `has header ${name}`, lower, ok: () => true };
    const { regex, isRegex } = compilePattern(String(want));
    const text = String(want);
    // A plain value is compared whole (header values are not globs: `*` is a legal character).
    const ok = isRegex ? (value: string) => regex.test(value) : (value: string) => value === text;
    return { explain: isRegex ? `header ${name} matches ${text}` : `header ${name} is "${text}"`, lower, ok };
  });
  // Any line of the header may match; walked in place, since this runs on every request.
  const has = (raw: RawHeaders, lower: string, ok: (value: string) => boolean): boolean => {
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === lower.length && raw[i]!.toLowerCase() === lower && ok(raw[i + 1]!)) return true;
    return false;
  };
  return matcher('header', tests.map((t) => t.explain).join(' and '), (f) => tests.every((t) => has(f.requestHeaders, t.lower, t.ok)));
}

function client(arg: unknown): Matcher {
  const text = String(arg);
  const [address = '', prefix] = text.split('/');
  const family = isIPv4(address) ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (prefix === undefined) list.addAddress(address, family);
  else list.addSubnet(address, Number(prefix), family);
  return matcher('client', `client address is ${prefix === undefined ? '' : 'in '}${text}`, (f) => list.check(f.client, isIPv4(f.client) ? 'ipv4' : 'ipv6'));
}

export const MATCHER_COMPILERS: Readonly<Record<string, MatcherCompiler>> = Object.freeze({
  host,
  path,
  method,
  protocol,
  requestType,
  fpseMethod,
  clientVersion: versionMatcher('clientVersion', 'client'),
  serverVersion: versionMatcher('serverVersion', 'server'),
  header,
  client,
});
