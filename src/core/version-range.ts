/**
 * Version ranges for rules: `< 4.0.2.2611`, `>= 15.0.847.32 < 15.1`, `<=3.0.2.1002`, `any`.
 * Terms are comparators (`<`, `<=`, `>`, `>=`, `=`, or a bare version meaning `=`) separated by
 * spaces and ANDed. Versions in ranges may be partial and pad with zeros (`15.1` = 15.1.0.0).
 * The thresholds worth writing come from docs/protocols.md §2.6/§3 (FPSE floors 4.0.2.2611 for
 * clients, 3.0.2.1002 for servers) and §1.9/§3 (MAPI/HTTP from Exchange 15.0.847.32).
 * Like parseVersion, parseRange never throws; problems read after their subject and quote the
 * offending term. Contradictions (`> 5 < 4`) are problems, not ranges that match nothing.
 *
 * This file and version.ts import each other (version.ts re-exports the range API). That is safe
 * only because nothing here touches an import from version.js at module load: keep it so.
 */
import { compareVersions, MAX_VERSION_PART, MAX_VERSION_TEXT, parsePartialVersion, versionString, type Version } from './version.js';

export type RangeOperator = '<' | '<=' | '>' | '>=' | '=';

export interface RangeTerm {
  readonly op: RangeOperator;
  /** Padded to four parts; `text` keeps the numbers as written (maybe fewer than four). */
  readonly version: Version;
  /** The term as written, e.g. `<=3.0.2.1002` or `< 4.0.2.2611`, for problems. */
  readonly text: string;
}

export interface VersionRange {
  readonly text: string;
  /** ANDed; none for `any`. */
  readonly terms: readonly RangeTerm[];
}

export type RangeResult = { ok: true; range: VersionRange } | { ok: false; text: string; problem: string };

const OPERATORS: readonly string[] = ['<', '<=', '>', '>=', '='];
const TEST: Record<RangeOperator, (order: -1 | 0 | 1) => boolean> = {
  '<': (order) => order < 0,
  '<=': (order) => order <= 0,
  '>': (order) => order > 0,
  '>=': (order) => order >= 0,
  '=': (order) => order === 0,
};

export function parseRange(input: string): RangeResult {
  if (typeof input !== 'string') return { ok: false, text: '', problem: `is not text (got ${typeof input})` };
  const text = input.trim();
  const fail = (problem: string): RangeResult => ({ ok: false, text: text.length > MAX_VERSION_TEXT ? `${text.slice(0, MAX_VERSION_TEXT)}…` : text, problem });
  if (text === '') return fail("is empty; write a comparison like '< 4.0.2.2611', or 'any'");
  if (text.length > MAX_VERSION_TEXT) return fail(`is ${text.length} characters long; only ranges up to ${MAX_VERSION_TEXT} characters are read`);
  if (/^any$/i.test(text)) return { ok: true, range: Object.freeze({ text, terms: Object.freeze([]) }) };
  if (text.includes('||')) return fail("has '||'; terms can only be ANDed (separated by spaces), so write one range per rule");
  if (text.includes(',')) return fail("has a comma; separate terms with spaces, like '>= 15.0.847.32 < 15.1'");

  const terms: RangeTerm[] = [];
  const words = text.split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (/^any$/i.test(word)) return fail("has 'any' among other terms; 'any' must stand alone");
    const [, op = '', written = ''] = /^([<>=!~^]*)(.*)$/.exec(word)!;
    let termText = word;
    let versionText = written;
    if (versionText === '') {
      const next = words[i + 1];
      if (next === undefined || /^[<>=!~^]/.test(next)) return fail(`has no version after '${op}'`);
      versionText = next;
      termText = `${word} ${next}`;
      i++;
    }
    if (op !== '' && !OPERATORS.includes(op)) return fail(`has an unknown operator '${op}' in '${termText}'; use <, <=, >, >= or =`);
    const parsed = parsePartialVersion(versionText);
    if (!parsed.ok) return fail(`has a bad version in '${termText}': ${q(versionText)} ${parsed.problem}`);
    terms.push(Object.freeze({ op: (op || '=') as RangeOperator, version: parsed.version, text: termText }));
  }
  const contradiction = findContradiction(terms);
  if (contradiction !== undefined) return fail(contradiction);
  return { ok: true, range: Object.freeze({ text, terms: Object.freeze(terms) }) };
}

/** ANDs every term. */
export function inRange(v: Version, range: VersionRange): boolean {
  return range.terms.every((term) => TEST[term.op](compareVersions(v, term.version)));
}

/** Plain words for `explain()` and logs: "below 4.0.2.2611", "from 15.0.847.32 up to but not including 15.1". */
export function describeRange(range: VersionRange): string {
  const { lower, upper } = bounds(range.terms);
  if (!lower && !upper) return 'any version';
  if (lower && upper && compareVersions(lower.version, upper.version) === 0) return `exactly ${full(lower)}`;
  const until = upper && (upper.op === '<' ? `up to but not including ${numbers(upper)}` : `up to and including ${full(upper)}`);
  if (!lower) return upper!.op === '<' ? `below ${numbers(upper!)}` : until!;
  if (lower.op === '>') return until ? `above ${full(lower)} ${until}` : `above ${full(lower)}`;
  return until ? `from ${numbers(lower)} ${until}` : `${numbers(lower)} or later`;
}

interface Bounds {
  /** The tightest term that sets a lower bound (`>`, `>=`, `=`), if any. */
  lower?: RangeTerm;
  upper?: RangeTerm;
}

/** The tightest lower and upper terms; with AND, they decide the range on their own. */
function bounds(terms: readonly RangeTerm[]): Bounds {
  const found: Bounds = {};
  for (const term of terms) {
    if (term.op !== '<' && term.op !== '<=') {
      const order = found.lower ? compareVersions(term.version, found.lower.version) : 1;
      if (order > 0 || (order === 0 && term.op === '>')) found.lower = term;
    }
    if (term.op !== '>' && term.op !== '>=') {
      const order = found.upper ? compareVersions(term.version, found.upper.version) : -1;
      if (order < 0 || (order === 0 && term.op === '<')) found.upper = term;
    }
  }
  return found;
}

/** Versions are whole numbers, so `> 1.0.0.0 < 1.0.0.1` leaves nothing and is reported too. */
function findContradiction(terms: readonly RangeTerm[]): string | undefined {
  const { lower, upper } = bounds(terms);
  const least = !lower ? [0, 0, 0, 0] : lower.op === '>' ? step(lower.version.parts, +1) : lower.version.parts;
  const most = !upper ? Array<number>(4).fill(MAX_VERSION_PART) : upper.op === '<' ? step(upper.version.parts, -1) : upper.version.parts;
  if (least !== null && most !== null && compareParts(least, most) <= 0) return undefined;
  if (lower && upper && lower !== upper) return `is contradictory: '${lower.text}' and '${upper.text}' leave no version between them`;
  return `has '${(lower ?? upper)!.text}', which no version can match`;
}

/** The next version up or down in the four-part integer order, or null past either end. */
function step(parts: readonly number[], by: 1 | -1): number[] | null {
  const next = [...parts];
  for (let i = next.length - 1; i >= 0; i--) {
    const n = next[i]! + by;
    if (n >= 0 && n <= MAX_VERSION_PART) {
      next[i] = n;
      return next;
    }
    next[i] = by > 0 ? 0 : MAX_VERSION_PART;
  }
  return null;
}

function compareParts(a: readonly number[], b: readonly number[]): number {
  const i = a.findIndex((n, k) => n !== b[k]);
  return i < 0 ? 0 : a[i]! - b[i]!;
}

/** The numbers as written (`15.1`), reading naturally after "below" and "from". */
function numbers(term: RangeTerm): string {
  const slash = term.version.text.indexOf('/');
  return term.version.text.slice(slash + 1);
}

/** After "above", "up to and including" and "exactly", `15.1` would mislead: write all four. */
function full(term: RangeTerm): string {
  return versionString(term.version);
}

function q(fragment: string): string {
  return JSON.stringify(fragment);
}
