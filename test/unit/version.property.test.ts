/**
 * Laws of the Version type, checked with fast-check: formatting round-trips through parsing in
 * any style, comparison is the lexicographic order of the numbers (§2.6, §1.9), min is a min,
 * parsing never throws, and a one-comparator range is just a comparison.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compareVersions,
  formatVersion,
  inRange,
  isZeroPadded,
  MAX_VERSION_PART,
  minVersion,
  parsePartialVersion,
  parseRange,
  parseVersion,
  versionString,
  type Version,
} from '../../src/core/version.js';

/** Small parts make ties and neighbours common; big ones reach the 2^31-1 edge. */
const part = fc.oneof(fc.nat(3), fc.nat(99_999), fc.constant(MAX_VERSION_PART), fc.nat(MAX_VERSION_PART));
const parts = fc.tuple(part, part, part, part);
const product = fc.option(fc.stringMatching(/^[A-Za-z][A-Za-z0-9._-]{0,15}$/), { nil: undefined });
const widths = fc.tuple(...Array.from({ length: 4 }, () => fc.integer({ min: 1, max: 6 })));

/** A version written in some style: random padding and maybe a product, as on the wire. */
const styled = fc.record({ parts, widths, product }).map(({ parts: numbers, widths: padding, product: name }) => {
  const body = numbers.map((n, i) => String(n).padStart(padding[i]!, '0')).join('.');
  return mustParse(name === undefined ? body : `${name}/${body}`);
});

function mustParse(text: string): Version {
  const result = parseVersion(text);
  if (!result.ok) throw new Error(`${text} ${result.problem}`);
  return result.version;
}

function lexicographic(a: readonly number[], b: readonly number[]): -1 | 0 | 1 {
  const i = a.findIndex((n, k) => n !== b[k]);
  return i < 0 ? 0 : a[i]! < b[i]! ? -1 : 1;
}

describe('version properties', () => {
  it('parse(format(parts, like)) gives back parts, like.product, and like\'s padding where it fits', () => {
    fc.assert(
      fc.property(parts, fc.option(styled, { nil: undefined }), (numbers, like) => {
        const result = parseVersion(formatVersion(numbers, like));
        assert.ok(result.ok);
        assert.deepEqual(result.version.parts, numbers);
        assert.equal(result.version.product, like?.product);
        const padding = like && isZeroPadded(like) ? like.widths : [];
        const expected = numbers.map((n, i) => Math.max(String(n).length, padding[i] ?? 0));
        assert.deepEqual(result.version.widths, expected);
      }),
    );
  });

  it('a parsed version formats back to its own text', () => {
    fc.assert(fc.property(styled, (version) => assert.equal(formatVersion(version.parts, version), version.text)));
  });

  it('compare agrees with the lexicographic order of the numbers and ignores style', () => {
    fc.assert(
      fc.property(styled, styled, (a, b) => {
        assert.equal(compareVersions(a, b), lexicographic(a.parts, b.parts));
        assert.equal(compareVersions(a, b), -compareVersions(b, a) || 0);
        assert.equal(compareVersions(a, mustParse(versionString(a))), 0);
      }),
    );
  });

  it('compare is a total order: reflexive, antisymmetric on parts, transitive', () => {
    fc.assert(
      fc.property(styled, styled, styled, (a, b, c) => {
        assert.equal(compareVersions(a, a), 0);
        if (compareVersions(a, b) === 0) assert.deepEqual(a.parts, b.parts);
        const sorted = [a, b, c].sort(compareVersions);
        assert.ok(compareVersions(sorted[0]!, sorted[1]!) <= 0 && compareVersions(sorted[1]!, sorted[2]!) <= 0);
        assert.ok(compareVersions(sorted[0]!, sorted[2]!) <= 0);
      }),
    );
  });

  it('minVersion(a, b) is one of them, not above either, and `a` on a tie', () => {
    fc.assert(
      fc.property(styled, styled, (a, b) => {
        const least = minVersion(a, b);
        assert.ok(least === a || least === b);
        assert.ok(compareVersions(least, a) <= 0 && compareVersions(least, b) <= 0);
        if (compareVersions(a, b) === 0) assert.equal(least, a);
      }),
    );
  });

  it('parseVersion and parseRange never throw, whatever the text', () => {
    const fragments = fc.constantFrom('1', '0', '15', '02', '.', '..', '/', 'Outlook', 'Exchange/', '-', '=', '"', ' ', '\t', '<', '>=', 'any', 'x', '*', '2147483648', '99999999999999999999', ',', '\u0000', '\uD800');
    const versionish = fc.array(fragments, { maxLength: 30 }).map((pieces) => pieces.join(''));
    const text = fc.oneof(versionish, fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ maxLength: 250 }));
    fc.assert(
      fc.property(text, (input) => {
        for (const result of [parseVersion(input), parsePartialVersion(input), parseRange(input)]) {
          if (!result.ok) assert.ok(result.problem.length > 0 && result.text.length <= 201);
        }
        const version = parseVersion(input);
        if (version.ok) assert.equal(version.version.parts.length, 4);
      }),
      { numRuns: 2000 },
    );
  });

  it('a one-comparator range agrees with a direct comparison', () => {
    const tests = { '<': (o: number) => o < 0, '<=': (o: number) => o <= 0, '>': (o: number) => o > 0, '>=': (o: number) => o >= 0, '=': (o: number) => o === 0 };
    const op = fc.constantFrom('<', '<=', '>', '>=', '=' as const);
    const spacing = fc.constantFrom('', ' ', '  ');
    fc.assert(
      fc.property(styled, styled, op, spacing, (v, bound, operator, space) => {
        const range = parseRange(`${operator}${space}${bound.text}`);
        if (!range.ok) {
          // Only bounds that no version can meet are refused: < 0.0.0.0 and > MAX.MAX.MAX.MAX.
          assert.match(range.problem, /which no version can match/);
          return;
        }
        assert.equal(inRange(v, range.range), tests[operator](compareVersions(v, bound)));
      }),
    );
  });

  it('a partial bound in a range is the same bound padded with zeros', () => {
    fc.assert(
      fc.property(styled, fc.integer({ min: 1, max: 4 }), (v, kept) => {
        const written = v.parts.slice(0, kept).join('.');
        const padded = [...v.parts.slice(0, kept), 0, 0, 0].slice(0, 4).join('.');
        const a = parseRange(`>= ${written}`);
        const b = parseRange(`>= ${padded}`);
        assert.ok(a.ok && b.ok);
        assert.equal(inRange(v, a.range), inRange(v, b.range));
        assert.equal(inRange(v, a.range), true);
      }),
    );
  });
});
