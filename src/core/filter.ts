/**
 * The one filter grammar (issue 22; docs/control-api.md), used by `har --filter`,
 * `report --filter`, and the control plane's API, feed and `tail`. docs/filter.md is its user
 * documentation; keep the two in step.
 *
 *   expression = term *( separator term )    every term must hold; an empty expression holds for all
 *   term       = [ "-" ] key ":" value       "-" negates the term
 *   value      = run of non-space characters without `"`,  or  `"` … `"` with `\"` and `\\`
 *
 * Keys: protocol, operation, verdict, host (glob), path (glob), method, status (`404`, `5xx`,
 * `none`), rule (an id). An unknown key is an error, never ignored: a mistyped key silently
 * matching everything would hand a user the wrong exchanges as if they were the right ones.
 *
 * Parsing is done once, at the edge, and reports every issue with its column (STYLE habit 3);
 * after that, `test` trusts its terms. It is bounded: at most MAX_LENGTH characters and
 * MAX_TERMS terms, and each term tests in time linear in the exchange's fields (globs are
 * core/glob.ts, which never backtracks). Nothing is allocated per test unless a host or path
 * term needs the URL cut up (url-parts.ts), and then once.
 */
import { compileGlob } from './glob.js';
import { urlParts, type UrlParts } from './url-parts.js';

/**
 * What a filter reads of an exchange. A live Exchange (exchange.ts) and a journal line
 * (record/entry.ts ExchangeLine) both are one as they stand, so neither is converted.
 */
export interface FilterView {
  kind?: string;
  /** The absolute URL addressed, or `host:port` for a tunnel. */
  url: string;
  request: { method: string };
  /** Absent until the exchange has been answered; absent for good when it never was. */
  response?: { statusCode: number };
  /** Absent when no protocol observer claimed the exchange (`protocol:http`). */
  protocol?: { protocol: string; operation: string; verdicts: ReadonlyArray<{ code: string }> };
  rules?: ReadonlyArray<{ id: string; outcome: string }>;
}

export type FilterKey = 'protocol' | 'operation' | 'verdict' | 'host' | 'path' | 'method' | 'status' | 'rule';

export interface FilterTerm {
  key: FilterKey;
  /** As it will be matched: lowercased where the key is case-insensitive. */
  value: string;
  negated: boolean;
}

export interface Filter {
  readonly terms: readonly FilterTerm[];
  /** True when every term holds for the exchange. */
  test(view: FilterView): boolean;
  /** The expression in canonical form (single spaces, normalised values, quotes only where needed); parses back to the same terms. */
  toString(): string;
}

export interface FilterIssue {
  /** 1-based column of the expression where the bad term (or character) starts. */
  at: number;
  /** The term as written. */
  term: string;
  message: string;
  /** How to fix it, in one sentence. */
  fix: string;
}

export type FilterParse = { ok: true; filter: Filter } | { ok: false; issues: FilterIssue[] };

/** Bounds: an expression is typed by a person or built by a test; these leave ample room for either. */
export const MAX_LENGTH = 4096;
export const MAX_TERMS = 64;

/** What each term compiles to: a test over the view, and its URL parts when it asked for them. */
type Test = (view: FilterView, parts: UrlParts) => boolean;
type Compiled = { value: string; test: Test; needsUrl?: true } | { message: string; fix: string };

const PROTOCOLS = ['mapihttp', 'fpse', 'http'];
// RFC 9110 5.6.2: a method is a token.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const STATUS = /^(?:[1-9]\d\d|[1-9]xx|none)$/;
const KEBAB = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** The keys, in the order errors and docs list them; each compiles its value or says what is wrong. */
const KEYS: Readonly<Record<FilterKey, (value: string) => Compiled>> = {
  protocol: (value) => {
    const want = value.toLowerCase();
    if (!PROTOCOLS.includes(want)) return { message: `unknown protocol '${value}'`, fix: 'protocol is mapihttp, fpse, or http (an exchange no protocol observer claimed)' };
    return { value: want, test: (v) => (v.protocol?.protocol ?? 'http') === want };
  },
  operation: (value) => {
    const want = value.toLowerCase();
    return { value: want, test: (v) => v.protocol !== undefined && equalsFolded(v.protocol.operation, want) };
  },
  verdict: (value) => {
    const want = value.toLowerCase();
    if (!KEBAB.test(want)) return { message: `'${value}' is not a verdict code`, fix: 'a verdict is a kebab-case code like echo-mismatch or context-not-found' };
    return { value: want, test: (v) => v.protocol?.verdicts.some((verdict) => equalsFolded(verdict.code, want)) ?? false };
  },
  host: (value) => {
    const want = value.toLowerCase();
    const glob = compileGlob(want);
    // With the port when the pattern has one (`host:*:8080`), else the name alone.
    return { value: want, needsUrl: true, test: (_, parts) => glob.test(parts.hostname) || glob.test(parts.host) };
  },
  path: (value) => {
    const glob = compileGlob(value);
    return { value, needsUrl: true, test: (_, parts) => glob.test(parts.path) };
  },
  method: (value) => {
    if (!TOKEN.test(value)) return { message: `'${value}' is not an HTTP method`, fix: 'a method is a token like GET, POST or RPC_IN_DATA' };
    const lower = value.toLowerCase();
    return { value: value.toUpperCase(), test: (v) => equalsFolded(v.request.method, lower) };
  },
  status: (value) => {
    const want = value.toLowerCase();
    if (!STATUS.test(want)) return { message: `'${value}' is not a status`, fix: 'status must be a code like 404, a class like 5xx, or none (never answered)' };
    if (want === 'none') return { value: want, test: (v) => v.response === undefined };
    if (want.endsWith('xx')) {
      const hundreds = Number(want[0]) * 100;
      return { value: want, test: (v) => v.response !== undefined && v.response.statusCode >= hundreds && v.response.statusCode < hundreds + 100 };
    }
    const code = Number(want);
    return { value: want, test: (v) => v.response?.statusCode === code };
  },
  // A rule that was applied: one that matched but was passed (skip, every, chance, times) or
  // skipped did nothing to the exchange (core/exchange.ts RuleRecord.outcome).
  rule: (value) => ({ value, test: (v) => v.rules?.some((r) => r.outcome === 'applied' && r.id === value) ?? false }),
};

const KEY_LIST = Object.keys(KEYS).join(', ');

/** A filter that holds for every exchange: the empty expression. */
export const MATCH_ALL: Filter = makeFilter([], []);

export function parseFilter(text: string): FilterParse {
  if (text.length > MAX_LENGTH) {
    return { ok: false, issues: [{ at: MAX_LENGTH + 1, term: '', message: `the filter is ${text.length} characters long, over the limit of ${MAX_LENGTH}`, fix: 'narrow it with fewer, shorter terms' }] };
  }
  const issues: FilterIssue[] = [];
  const terms: FilterTerm[] = [];
  const tests: Array<{ test: Test; negated: boolean; needsUrl: boolean }> = [];
  let i = 0;
  let count = 0;
  for (;;) {
    while (i < text.length && isSpace(text.charCodeAt(i))) i += 1;
    if (i >= text.length) break;
    const start = i;
    const read = readTerm(text, i);
    i = read.end;
    const written = text.slice(start, read.end);
    count += 1;
    if (count > MAX_TERMS) {
      issues.push({ at: start + 1, term: written, message: `more than ${MAX_TERMS} terms`, fix: 'narrow it with fewer terms' });
      break;
    }
    if ('message' in read) {
      issues.push({ at: start + 1 + read.offset, term: written, message: read.message, fix: read.fix });
      continue;
    }
    const key = read.key.toLowerCase();
    const compile = Object.hasOwn(KEYS, key) ? KEYS[key as FilterKey] : undefined;
    if (compile === undefined) {
      issues.push({ at: start + 1, term: written, message: read.key === '' ? "no key before ':'" : `unknown key '${read.key}'`, fix: `keys are ${KEY_LIST}` });
      continue;
    }
    if (read.value === '') {
      issues.push({ at: start + 1, term: written, message: `${key} needs a value`, fix: `write ${key}:VALUE, quoted if it has spaces: ${key}:"a b"` });
      continue;
    }
    const compiled = compile(read.value);
    if ('message' in compiled) {
      issues.push({ at: start + 1, term: written, message: compiled.message, fix: compiled.fix });
      continue;
    }
    terms.push({ key: key as FilterKey, value: compiled.value, negated: read.negated });
    tests.push({ test: compiled.test, negated: read.negated, needsUrl: compiled.needsUrl === true });
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, filter: makeFilter(terms, tests) };
}

/** One issue as one line: `column 7, 'verb:POST': unknown key 'verb'; keys are protocol, operation, …`. */
export function formatFilterIssue(issue: FilterIssue): string {
  return visible(`column ${issue.at}${issue.term === '' ? '' : `, '${issue.term}'`}: ${issue.message}; ${issue.fix}`);
}

/** Control characters as JSON escapes: a term from a URL or a terminal must not bend a log line or a terminal. */
function visible(text: string): string {
  return text.replace(CONTROL, (c) => JSON.stringify(c).slice(1, -1));
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/g;

/** A term's text: `-key:value`, the value quoted when it holds a separator or a quote. */
export function formatTerm(term: FilterTerm): string {
  return `${term.negated ? '-' : ''}${term.key}:${quoteValue(term.value)}`;
}

function makeFilter(terms: FilterTerm[], tests: Array<{ test: Test; negated: boolean; needsUrl: boolean }>): Filter {
  const needsUrl = tests.some((t) => t.needsUrl);
  const text = terms.map(formatTerm).join(' ');
  return {
    terms: Object.freeze(terms),
    test(view) {
      const parts = needsUrl ? urlParts(view.url, view.kind === 'tunnel') : NO_PARTS;
      for (const t of tests) if (t.test(view, parts) === t.negated) return false;
      return true;
    },
    toString: () => text,
  };
}

const NO_PARTS: UrlParts = { hostname: '', host: '', path: '' };

type Read = { end: number; key: string; value: string; negated: boolean } | { end: number; offset: number; message: string; fix: string };

/** One term from `from` (not a separator) to the separator or end after it. */
function readTerm(text: string, from: number): Read {
  let i = from;
  const negated = text.charCodeAt(i) === MINUS;
  if (negated) i += 1;
  const keyStart = i;
  while (i < text.length && !isSpace(text.charCodeAt(i)) && text.charCodeAt(i) !== COLON) i += 1;
  const key = text.slice(keyStart, i);
  if (i >= text.length || text.charCodeAt(i) !== COLON) {
    return { end: i, offset: 0, message: 'not a key:value term', fix: `write terms as key:value, e.g. protocol:fpse; keys are ${KEY_LIST}` };
  }
  i += 1;
  if (text.charCodeAt(i) !== QUOTE) {
    const valueStart = i;
    while (i < text.length && !isSpace(text.charCodeAt(i))) {
      if (text.charCodeAt(i) === QUOTE) {
        const end = skipToSpace(text, i);
        return { end, offset: i - from, message: 'a quote inside an unquoted value', fix: 'quote the whole value: key:"a b", with \\" for a quote inside it' };
      }
      i += 1;
    }
    return { end: i, key, value: text.slice(valueStart, i), negated };
  }
  const open = i;
  i += 1;
  let value = '';
  for (;;) {
    if (i >= text.length) return { end: i, offset: open - from, message: 'a quote that is never closed', fix: 'close the value with "' };
    const c = text.charCodeAt(i);
    if (c === QUOTE) break;
    // `\"` and `\\` are escapes; any other backslash is itself (Windows-style text stays as typed).
    if (c === BACKSLASH && (text.charCodeAt(i + 1) === QUOTE || text.charCodeAt(i + 1) === BACKSLASH)) {
      value += text[i + 1];
      i += 2;
      continue;
    }
    value += text[i];
    i += 1;
  }
  i += 1;
  if (i < text.length && !isSpace(text.charCodeAt(i))) {
    const end = skipToSpace(text, i);
    return { end, offset: i - from, message: 'text after the closing quote', fix: 'put a space between terms, or the whole value inside the quotes' };
  }
  return { end: i, key, value, negated };
}

function skipToSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && !isSpace(text.charCodeAt(i))) i += 1;
  return i;
}

function quoteValue(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (isSpace(c) || c === QUOTE) return `"${value.replace(/[\\"]/g, '\\$&')}"`;
  }
  return value;
}

const MINUS = 0x2d;
const COLON = 0x3a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The separators: space, tab, CR, LF. Any other character, Unicode spaces included, belongs to a term. */
function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/** ASCII case-insensitive equality against an already-lowercased `lower`, allocating nothing. */
function equalsFolded(value: string, lower: string): boolean {
  if (value.length !== lower.length) return false;
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}
