/**
 * The linear-time glob matcher (src/rules/glob.ts) and the linear-time rule regexes
 * (src/rules/regex.ts): the same answers as the backtracking regex globs used to give, checked
 * with fast-check against that regex on short inputs (where backtracking is harmless), and the
 * issue-21 patterns answered on long inputs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { compileGlob } from '../../src/rules/glob.js';
import { compileRegex, regexProblem } from '../../src/rules/regex.js';

/** The old glob compilation (a `.*` chain), as the reference; `s` so `?` also takes a line break. */
function reference(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'is');
}

describe('glob: linear-time matcher', () => {
  it('anchors at both ends, folds ASCII case, and reads only * and ? as wildcards', () => {
    const host = compileGlob('*.contoso.com');
    assert.equal(host.test('mail.contoso.com'), true);
    assert.equal(host.test('MAIL.Contoso.COM'), true);
    assert.equal(host.test('.contoso.com'), true, '* may be empty');
    assert.equal(host.test('contoso.com'), false);
    assert.equal(host.test('mail.contoso.com.evil.net'), false, 'anchored at the end');
    assert.equal(host.test('mailxcontoso.com'), false);
    assert.equal(compileGlob('web?.contoso.com').test('web1.contoso.com'), true);
    assert.equal(compileGlob('web?.contoso.com').test('web.contoso.com'), false);
    assert.equal(compileGlob('/a+b(c)').test('/a+b(c)'), true);
    assert.equal(compileGlob('/a+b(c)').test('/aab(c)'), false);
    assert.equal(compileGlob('').test(''), true);
    assert.equal(compileGlob('').test('x'), false);
    assert.equal(compileGlob('**').test(''), true);
    assert.equal(compileGlob('a*a').test('a'), false, 'prefix and suffix may not overlap');
  });

  it('matches a prefix of the value when given an end (a path without its query)', () => {
    const path = '/mapi/emsmdb/?MailboxId=x@contoso.com';
    const glob = compileGlob('/mapi/emsmdb/');
    assert.equal(glob.test(path), false);
    assert.equal(glob.test(path, path.indexOf('?')), true);
    assert.equal(compileGlob('*.com').test(path, path.indexOf('?')), false, 'nothing after the end is read');
  });

  it('answers the issue-21 patterns on long inputs', () => {
    const dll = compileGlob('*/_vti_bin/*/*.dll');
    const long = `/${'a/'.repeat(7500)}`;
    assert.equal(dll.test(long), false);
    assert.equal(dll.test(`${long}_vti_bin/x/author.dll`), true);
    assert.equal(dll.test(`${long}_vti_bin/author.dll`), false, 'two slashes are needed after _vti_bin');
    const g = compileGlob('g*a*a*a*a*a*a*a*a*a*a*b');
    assert.equal(g.test(`g${'a'.repeat(60)}`), false);
    assert.equal(g.test(`g${'a'.repeat(100_000)}`), false);
    assert.equal(g.test(`g${'a'.repeat(100_000)}b`), true);
    assert.equal(g.test(`g${'a'.repeat(9)}b`), false, 'ten a are needed');
  });

  it('agrees with the backtracking regex it replaces (property, short inputs)', () => {
    const patternChar = fc.constantFrom('a', 'b', 'A', '/', '.', '+', '(', '*', '*', '?');
    const inputChar = fc.constantFrom('a', 'b', 'A', 'B', '/', '.', '+', '(', '*', '?', '\n');
    fc.assert(
      fc.property(fc.string({ unit: patternChar, maxLength: 10 }), fc.string({ unit: inputChar, maxLength: 16 }), (pattern, input) => {
        assert.equal(compileGlob(pattern).test(input), reference(pattern).test(input), `${JSON.stringify(pattern)} on ${JSON.stringify(input)}`);
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with the reference on inputs built to match (property)', () => {
    // Random strings rarely match a glob with literals; build inputs from the pattern instead.
    const piece = fc.constantFrom('a', 'b', 'ab', '/', '.', '');
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', '/', '*', '?', 'ab'), { maxLength: 8 }), fc.array(piece, { minLength: 8, maxLength: 8 }), (parts, fills) => {
        const pattern = parts.join('');
        const input = parts.map((p, i) => (p === '*' ? fills[i]! : p === '?' ? 'x' : p.toUpperCase())).join('');
        assert.equal(compileGlob(pattern).test(input), true, `${JSON.stringify(pattern)} on ${JSON.stringify(input)}`);
        assert.equal(reference(pattern).test(input), true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('rule regexes: linear-time engine', () => {
  it('runs /^\\/(a+)+$/ on long inputs (catastrophic under a backtracking engine)', () => {
    const regex = compileRegex('^\\/(a+)+$', '');
    assert.equal(regex.test(`/${'a'.repeat(100_000)}!`), false);
    assert.equal(regex.test(`/${'a'.repeat(100_000)}`), true);
  });

  it('keeps JavaScript syntax and the i, s and m flags', () => {
    assert.equal(compileRegex('^\\/sites\\/[^/]+\\/_api\\/', 'i').test('/SITES/team/_API/web'), true);
    assert.equal(compileRegex('^mail\\d+\\.', '').test('MAIL12.contoso.com'), false);
    assert.equal(compileRegex('(?<build>\\d+)\\.0', '').test('15.0'), true);
    assert.equal(compileRegex('a.b', '').test('a\nb'), false);
    assert.equal(compileRegex('a.b', 's').test('a\nb'), true);
    assert.equal(compileRegex('^b$', '').test('a\nb'), false);
    assert.equal(compileRegex('^b$', 'm').test('a\nb'), true);
    assert.equal(compileRegex('emsmdb', 'gy').test('/mapi/emsmdb/'), true);
  });

  it('refuses backreferences and lookaround with the reason, and accepts nested quantifiers', () => {
    assert.match(regexProblem('(a)\\1', '') ?? '', /^uses a backreference "\\1", .*; repeat the group's pattern/);
    assert.match(regexProblem('(?<d>a)\\k<d>', '') ?? '', /named backreference/);
    assert.match(regexProblem('a(?=b)', '') ?? '', /lookahead/);
    assert.match(regexProblem('a(?!b)', '') ?? '', /negative lookahead/);
    assert.match(regexProblem('(?<=a)b', '') ?? '', /lookbehind/);
    assert.match(regexProblem('(?<!a)b', '') ?? '', /negative lookbehind/);
    assert.equal(regexProblem('[(?=]\\(?!', ''), undefined, 'in a class or escaped, ( and ? are literal');
    assert.equal(regexProblem('^\\/(a+)+$', ''), undefined);
    assert.throws(() => compileRegex('(a)\\1', ''), /unvalidated/);
  });
});
