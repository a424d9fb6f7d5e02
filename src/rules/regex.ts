/**
 * Rule regexes (`/…/flags` values), run by a linear-time engine with RE2 semantics (re2js, pure
 * JavaScript) instead of V8's backtracking one: `/^\/(a+)+$/` took 1.2 s at 28 characters under
 * V8, and `.*a.*a.*b`-like patterns are polynomial there, so no load-time check could refuse every
 * slow pattern without refusing useful ones (issue 21). RE2 matches in time linear in the input.
 *
 * Patterns are written in JavaScript syntax (translated to RE2's: named groups, `\u{…}`, `[^]`).
 * What RE2 cannot match in linear time, backreferences and lookaround, is refused at load with
 * the reason (regexProblem), never silently rewritten: re2js's own translation turns `\k<n>`
 * into a literal `k<n>`.
 */
import { RE2JS } from 're2js';

/** What a compiled pattern offers: an unanchored test, like RegExp.prototype.test. */
export interface PatternTest {
  test(value: string): boolean;
}

/** JS flags to RE2 flags: `g`, `y` and `d` mean nothing to a yes/no test; `u` is RE2's default. */
function re2Flags(flags: string): number {
  let out = 0;
  if (flags.includes('i')) out |= RE2JS.CASE_INSENSITIVE;
  if (flags.includes('s')) out |= RE2JS.DOTALL;
  if (flags.includes('m')) out |= RE2JS.MULTILINE;
  return out;
}

/** Compiles a regex that regexProblem() accepted; throws (a program error) otherwise. */
export function compileRegex(body: string, flags: string): PatternTest {
  const unsupported = unsupportedFeature(body);
  if (unsupported !== undefined) throw new Error(`unvalidated regex /${body}/ uses ${unsupported.what}`);
  const compiled = RE2JS.compile(RE2JS.translateRegExp(body), re2Flags(flags));
  return { test: (value) => compiled.test(value) };
}

/**
 * Why a regex body (already valid JavaScript) cannot be used, as `what is wrong; how to fix it`
 * minus the subject, or undefined when it compiles for the linear-time engine.
 */
export function regexProblem(body: string, flags: string): string | undefined {
  const unsupported = unsupportedFeature(body);
  if (unsupported !== undefined) {
    return `uses ${unsupported.what}, which the linear-time regex engine (RE2 semantics, so that no pattern can stall the proxy) does not support; ${unsupported.fix}`;
  }
  try {
    RE2JS.compile(RE2JS.translateRegExp(body), re2Flags(flags));
    return undefined;
  } catch (error) {
    const why = error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : String(error);
    const fix = /repeat count/.test(why) ? 'keep each {n,m} count, and the product of counts in nested groups, at most 1000, or use + or *' : 'write it in the RE2 subset of JavaScript regex syntax (no backreferences or lookaround)';
    return `is not accepted by the linear-time regex engine (${why}); ${fix}`;
  }
}

interface Unsupported {
  what: string;
  fix: string;
}

const LOOKAROUND: Record<string, Unsupported> = {
  '(?=': { what: 'a lookahead "(?="', fix: 'match the following text itself, or test it with a second matcher' },
  '(?!': { what: 'a negative lookahead "(?!"', fix: 'list what may follow in a character class or alternation, or split the rule' },
  '(?<=': { what: 'a lookbehind "(?<="', fix: 'match the preceding text itself' },
  '(?<!': { what: 'a negative lookbehind "(?<!"', fix: 'list what may precede in a character class or alternation, or split the rule' },
};

/** The first backreference or lookaround outside a character class, if any (ECMAScript 22.2.1 syntax). */
function unsupportedFeature(body: string): Unsupported | undefined {
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      const next = body[i + 1] ?? '';
      // In a class `\1` is an octal escape (Annex B), not a backreference.
      if (!inClass && /[1-9]/.test(next)) return { what: `a backreference "\\${/^\d+/.exec(body.slice(i + 1))![0]}"`, fix: 'repeat the group\'s pattern instead of referring back to it' };
      if (!inClass && next === 'k' && body[i + 2] === '<') return { what: 'a named backreference "\\k<…>"', fix: 'repeat the group\'s pattern instead of referring back to it' };
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(') {
      for (const [opener, problem] of Object.entries(LOOKAROUND)) if (body.startsWith(opener, i)) return problem;
    }
  }
  return undefined;
}
