/**
 * Ranges as rules will write them, with the thresholds docs/protocols.md names: FPSE client floor
 * 4.0.2.2611 and server floor 3.0.2.1002 (§2.6, §3), MAPI/HTTP from Exchange 15.0.847.32 (§1.9).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRange, inRange, parseRange, parseVersion, type RangeResult, type Version, type VersionRange } from '../../src/core/version.js';

function v(text: string): Version {
  const result = parseVersion(text);
  assert.ok(result.ok, text);
  return result.version;
}

function r(text: string): VersionRange {
  const result = parseRange(text);
  assert.ok(result.ok, `${text} should parse: ${result.ok ? '' : result.problem}`);
  return result.range;
}

function problemOf(result: RangeResult): string {
  assert.equal(result.ok, false, 'expected a problem');
  return result.ok ? '' : result.problem;
}

describe('parseRange and inRange', () => {
  it('reads "< 4.0.2.2611": the clients an FPSE server rejects (§2.6)', () => {
    const old = r('< 4.0.2.2611');
    assert.equal(inRange(v('3.0.2.1706'), old), true);
    assert.equal(inRange(v('4.0.2.2610'), old), true);
    assert.equal(inRange(v('4.0.2.2611'), old), false);
    assert.equal(inRange(v('12.0.0.6415'), old), false);
  });

  it('reads "<=3.0.2.1002" without a space', () => {
    const range = r('<=3.0.2.1002');
    assert.equal(range.terms[0]?.op, '<=');
    assert.equal(inRange(v('3.0.2.1002'), range), true);
    assert.equal(inRange(v('3.0.2.0926'), range), true);
    assert.equal(inRange(v('3.0.2.1330'), range), false);
  });

  it('ANDs terms and pads partial versions: ">= 15.0.847.32 < 15.1" is Exchange 2013 with MAPI/HTTP', () => {
    const range = r('>= 15.0.847.32 < 15.1');
    assert.deepEqual(range.terms[1]?.version.parts, [15, 1, 0, 0]);
    assert.equal(inRange(v('Exchange/15.00.0847.032'), range), true);
    assert.equal(inRange(v('Exchange/15.0.1497.2'), range), true);
    assert.equal(inRange(v('Exchange/15.0.516.32'), range), false);
    assert.equal(inRange(v('Exchange/15.01.0225.042'), range), false);
    assert.equal(inRange(v('Exchange/15.00.0847.4040'), range), true);
  });

  it('compares numerically, so padded headers match unpadded bounds', () => {
    assert.equal(inRange(v('Exchange/15.02.1544.014'), r('= 15.2.1544.14')), true);
    assert.equal(inRange(v('Exchange/15.02.1544.014'), r('15.2.1544.14')), true);
    assert.equal(inRange(v('Exchange/15.20.0485.000'), r('>= 15.2 < 15.3')), false);
  });

  it('takes "=" and a bare version as exact, padding zeros (15.1 = 15.1.0.0)', () => {
    assert.equal(inRange(v('15.1.0.0'), r('=15.1')), true);
    assert.equal(inRange(v('15.1.225.42'), r('15.1')), false);
    assert.equal(r('12.0.0.6415').terms[0]?.op, '=');
  });

  it('accepts a product on the bound and ignores it, like compareVersions', () => {
    assert.equal(inRange(v('Outlook/16.0.15928.20006'), r('> Exchange/15.20.0485.000')), true);
  });

  it('reads "any" (in any case) as every version', () => {
    for (const text of ['any', ' ANY ', 'Any']) {
      const range = r(text);
      assert.equal(range.terms.length, 0);
      assert.equal(inRange(v('0.0.0.0'), range), true);
      assert.equal(inRange(v('2147483647.2147483647.2147483647.2147483647'), range), true);
    }
  });

  it('keeps the trimmed text and each term as written', () => {
    const range = r('  >=15.0.847.32   <  15.1 ');
    assert.equal(range.text, '>=15.0.847.32   <  15.1');
    assert.deepEqual(range.terms.map((t) => t.text), ['>=15.0.847.32', '< 15.1']);
  });
});

describe('parseRange: problems quote the offending term', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /^is empty; write a comparison like '< 4\.0\.2\.2611', or 'any'$/],
    ['  ', /^is empty/],
    ['!= 4.0.2.2611', /^has an unknown operator '!=' in '!= 4\.0\.2\.2611'; use <, <=, >, >= or =$/],
    ['=>4.0.2.2611', /unknown operator '=>' in '=>4\.0\.2\.2611'/],
    ['~1.2', /unknown operator '~'/],
    ['^12.0', /unknown operator '\^'/],
    ['== 1', /unknown operator '=='/],
    ['<', /^has no version after '<'$/],
    ['< >= 1', /^has no version after '<'$/],
    ['< 4.0.x', /^has a bad version in '< 4\.0\.x': "4\.0\.x" has a wildcard/],
    ['>= 15.0.847.32 < 15.1.a', /^has a bad version in '< 15\.1\.a': "15\.1\.a" has "a", which is not a decimal number$/],
    ['< 1.2.3.4.5', /'< 1\.2\.3\.4\.5': "1\.2\.3\.4\.5" has 5 numbers/],
    ['< -1', /negative number/],
    ['>= 1.2.3.9999999999', /larger than the 2147483647/],
    ['> 5 < 4', /^is contradictory: '> 5' and '< 4' leave no version between them$/],
    ['>= 15.1 <= 15.0.847.32', /contradictory: '>= 15\.1' and '<= 15\.0\.847\.32'/],
    ['= 5 = 6', /contradictory: '= 6' and '= 5'/],
    ['> 4.0.2.2611 < 4.0.2.2612', /contradictory: '> 4\.0\.2\.2611' and '< 4\.0\.2\.2612'/],
    ['> 5 < 5', /contradictory/],
    ['< 0', /^has '< 0', which no version can match$/],
    ['< 0.0.0.0', /which no version can match/],
    ['> 2147483647.2147483647.2147483647.2147483647', /which no version can match/],
    ['>= 1, < 2', /^has a comma; separate terms with spaces/],
    ['< 4 || > 5', /^has '\|\|'; terms can only be ANDed/],
    ['any < 5', /'any' must stand alone/],
    ['< any', /bad version in '< any'/],
  ];
  for (const [text, pattern] of cases) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.match(problemOf(parseRange(text)), pattern));
  }

  it('accepts bounds that touch: ">= 5 <= 5" and "> 4.0.2.2611 < 4.0.2.2613"', () => {
    assert.equal(inRange(v('5.0.0.0'), r('>= 5 <= 5')), true);
    assert.equal(inRange(v('4.0.2.2612'), r('> 4.0.2.2611 < 4.0.2.2613')), true);
    // The next version above 1.2.3.MAX carries into the third part.
    assert.equal(inRange(v('1.2.4.0'), r('> 1.2.3.2147483647 < 1.2.4.1')), true);
  });

  it('refuses huge ranges unread and never throws', () => {
    assert.match(problemOf(parseRange('< 1 '.repeat(1000))), /^is 3999 characters long; only ranges up to 200/);
    assert.match(problemOf(parseRange(null as unknown as string)), /^is not text/);
  });
});

describe('describeRange', () => {
  const cases: Array<[string, string]> = [
    ['< 4.0.2.2611', 'below 4.0.2.2611'],
    ['>= 15.0.847.32 < 15.1', 'from 15.0.847.32 up to but not including 15.1'],
    ['<=3.0.2.1002', 'up to and including 3.0.2.1002'],
    ['<= 15.1', 'up to and including 15.1.0.0'],
    ['> 15.1', 'above 15.1.0.0'],
    ['>= 15.0.847.32', '15.0.847.32 or later'],
    ['> 4.0.2.2611 <= 6.0.2.5523', 'above 4.0.2.2611 up to and including 6.0.2.5523'],
    ['> 4 < 6', 'above 4.0.0.0 up to but not including 6'],
    ['= 12.0.0.6415', 'exactly 12.0.0.6415'],
    ['15.1', 'exactly 15.1.0.0'],
    ['>= 5 <= 5', 'exactly 5.0.0.0'],
    ['any', 'any version'],
    // With AND only the tightest bounds matter, and the words say so.
    ['> 3 >= 4.0.2.2611 < 16 < 15.1', 'from 4.0.2.2611 up to but not including 15.1'],
    ['>= Exchange/15.00.0847.032', '15.00.0847.032 or later'],
  ];
  for (const [text, words] of cases) {
    it(`says "${words}" for "${text}"`, () => assert.equal(describeRange(r(text)), words));
  }
});
