/**
 * Version strings from docs/protocols.md: §1.4 (MAPI/HTTP headers), §1.9 (build table), §2.1/§2.3/§2.6
 * (FPSE). Ranges are in version-range.test.ts; laws in version.property.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compareVersions,
  formatVersion,
  isZeroPadded,
  maxVersion,
  minVersion,
  parsePartialVersion,
  parseVersion,
  versionString,
  type Version,
  type VersionResult,
} from '../../src/core/version.js';

function v(text: string): Version {
  const result = parseVersion(text);
  assert.ok(result.ok, `${text} should parse: ${result.ok ? '' : result.problem}`);
  return result.version;
}

function problemOf(result: VersionResult): string {
  assert.equal(result.ok, false, 'expected a problem');
  return result.ok ? '' : result.problem;
}

describe('parseVersion: real strings (§1.4, §2.3, §2.6)', () => {
  const mapi: Array<[string, string, number[], number[]]> = [
    ['Outlook/15.00.0856.000', 'Outlook', [15, 0, 856, 0], [2, 2, 4, 3]],
    ['Outlook/15.0.4815.1002', 'Outlook', [15, 0, 4815, 1002], [2, 1, 4, 4]],
    ['Outlook/16.0.15928.20006', 'Outlook', [16, 0, 15928, 20006], [2, 1, 5, 5]],
    ['Outlook/15.00.0000.0000', 'Outlook', [15, 0, 0, 0], [2, 2, 4, 4]],
    ['Exchange/15.00.0847.4040', 'Exchange', [15, 0, 847, 4040], [2, 2, 4, 4]],
    ['Exchange/15.20.0485.000', 'Exchange', [15, 20, 485, 0], [2, 2, 4, 3]],
    ['Exchange/15.02.1544.014', 'Exchange', [15, 2, 1544, 14], [2, 2, 4, 3]],
    ['Exchange/15.01.2176.009', 'Exchange', [15, 1, 2176, 9], [2, 2, 4, 3]],
  ];
  for (const [text, product, parts, widths] of mapi) {
    it(`reads ${text}`, () => {
      const version = v(text);
      assert.deepEqual(version.parts, parts);
      assert.deepEqual(version.widths, widths);
      assert.equal(version.product, product);
      assert.equal(version.text, text);
    });
  }

  const fpse: Array<[string, number[]]> = [
    ['12.0.0.6415', [12, 0, 0, 6415]],
    ['4.0.2.2611', [4, 0, 2, 2611]],
    ['3.0.2.1002', [3, 0, 2, 1002]],
    ['5.0.2.2623', [5, 0, 2, 2623]],
    ['6.0.2.5523', [6, 0, 2, 5523]],
    ['14.0.0.6029', [14, 0, 0, 6029]],
    ['16.00.0.000', [16, 0, 0, 0]],
    ['3.0.2.0913', [3, 0, 2, 913]],
    ['08.01.0215.000', [8, 1, 215, 0]],
  ];
  for (const [text, parts] of fpse) {
    it(`reads ${text} with no product`, () => {
      const version = v(text);
      assert.deepEqual(version.parts, parts);
      assert.equal(version.product, undefined);
      assert.equal('product' in version, false);
    });
  }

  it('tolerates surrounding whitespace and keeps the trimmed text', () => {
    const version = v(' \tExchange/15.02.1544.014 \r\n');
    assert.equal(version.text, 'Exchange/15.02.1544.014');
    assert.deepEqual(version.parts, [15, 2, 1544, 14]);
  });

  it('accepts any token as product and the largest part, 2^31-1', () => {
    assert.equal(v('MSFrontPage/5.0.2.6790').product, 'MSFrontPage');
    assert.equal(v('x-y.z_1/1.2.3.4').product, 'x-y.z_1');
    assert.deepEqual(v('2147483647.0.0.2147483647').parts, [2147483647, 0, 0, 2147483647]);
  });

  it('returns frozen versions', () => {
    const version = v('Exchange/15.02.1544.014');
    assert.ok(Object.isFrozen(version) && Object.isFrozen(version.parts) && Object.isFrozen(version.widths));
  });
});

describe('parseVersion: problems, each a specific sentence', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /^is empty; a version is four numbers like 12\.0\.0\.6415$/],
    ['   ', /^is empty/],
    ['12.0', /^needs four numbers like 12\.0\.0\.6415 \(got 2\)$/],
    ['15', /needs four numbers .*\(got 1\)/],
    ['Outlook/16.0.15928', /needs four numbers .*\(got 3\)/],
    ['1.2.3.4.5.6.7.8.9.10', /^has 10 numbers; a version has exactly four/],
    ['1.2.3.4.5', /^has 5 numbers/],
    ['FPVersion="5.0.2.2623"', /^looks like a quoted FPVersion assignment, not a version; pass just the value "5\.0\.2\.2623"$/],
    ['FPVersion = "5.0.2.2623"', /quoted FPVersion assignment/],
    ['vti_version=5.0.2.2623', /looks like a vti_version= assignment/],
    ['"5.0.2.2623"', /^is in quotes/],
    ['-1.0.0.0', /^has a negative number \(-1\)/],
    ['15.0.-847.32', /negative number \(-847\)/],
    ['1..2.3', /^has an empty number between two dots \("1\.\.2\.3"\)$/],
    ['.1.2.3', /^starts with a dot/],
    ['1.2.3.', /^ends with a dot/],
    ['12.0.0.64a5', /^has "64a5", which is not a decimal number$/],
    ['abc', /^has "abc", which is not a decimal number$/],
    ['15.x.0.0', /^has a wildcard \("x"\)/],
    ['6.0.n.nnnn', /"n", which is not a decimal number/],
    ['1.2.3.+4', /"\+4", which is not a decimal/],
    ['1.2.3.0x10', /"0x10", which is not a decimal/],
    ['1.2.3.1e3', /"1e3", which is not a decimal/],
    ['１２.0.0.6415', /which is not a decimal number/],
    ['1.2.3.2147483648', /^has 2147483648, larger than the 2147483647 a version number can be$/],
    ['1.2.3.99999999999999999999999999999', /^has 99999999999999999999…, larger than/],
    ['12.0 .0.6415', /^has spaces inside/],
    ['Outlook /16.0.1.2', /not a product name/],
    ['/16.0.1.2', /^has nothing before the "\/"/],
    ['Outlook/', /^has no numbers after "Outlook\/"$/],
    ['Microsoft Office/16.0', /"Microsoft Office" before the "\/", which is not a product name/],
    ['a/b/1.2.3.4', /"b\/1", which is not a decimal/],
  ];
  for (const [text, pattern] of cases) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const result = parseVersion(text);
      assert.match(problemOf(result), pattern);
      assert.equal(result.ok ? undefined : result.text, text.trim());
    });
  }

  it('refuses huge inputs unread, says so, and keeps only 200 characters of them', () => {
    const result = parseVersion('1.'.repeat(100_000) + '1');
    assert.match(problemOf(result), /^is 200001 characters long; versions are read only up to 200 characters$/);
    assert.equal(result.ok ? 0 : result.text.length, 201);
  });

  it('accepts exactly 200 characters of real version text and no more', () => {
    const padded = `${'A'.repeat(192)}/1.2.3.4`;
    assert.equal(padded.length, 200);
    assert.equal(parseVersion(padded).ok, true);
    assert.match(problemOf(parseVersion(`A${padded}`)), /201 characters long/);
  });

  it('never throws, even for what is not a string', () => {
    assert.match(problemOf(parseVersion(undefined as unknown as string)), /^is not text \(got undefined\)$/);
    assert.match(problemOf(parseVersion(12 as unknown as string)), /got number/);
    assert.match(problemOf(parseVersion('1.2.3.\u0000')), /"\\u0000", which is not a decimal/);
  });
});

describe('parsePartialVersion', () => {
  it('pads one to three numbers with zeros, as the MAPI token in User-Agent needs (§1.4)', () => {
    const result = parsePartialVersion('16.0.15928');
    assert.ok(result.ok);
    assert.deepEqual(result.version.parts, [16, 0, 15928, 0]);
    assert.deepEqual(result.version.widths, [2, 1, 5, 1]);
    assert.equal(result.version.text, '16.0.15928');
  });
  it('still refuses five numbers and bad text', () => {
    assert.match(problemOf(parsePartialVersion('1.2.3.4.5')), /has 5 numbers/);
    assert.match(problemOf(parsePartialVersion('15.')), /ends with a dot/);
  });
});

describe('compareVersions', () => {
  it('compares numerically, so padding does not matter (15.02 == 15.2)', () => {
    assert.equal(compareVersions(v('Exchange/15.02.1544.014'), v('15.2.1544.14')), 0);
    assert.equal(compareVersions(v('Outlook/15.00.0856.000'), v('Outlook/15.0.856.0')), 0);
  });
  it('orders most significant first, ignoring the product', () => {
    assert.equal(compareVersions(v('Exchange/15.01.2176.009'), v('Exchange/15.02.1544.014')), -1);
    assert.equal(compareVersions(v('Exchange/15.20.0485.000'), v('Exchange/15.02.1544.014')), 1);
    assert.equal(compareVersions(v('Outlook/16.0.15928.20006'), v('Exchange/15.20.0485.000')), 1);
    assert.equal(compareVersions(v('Outlook/15.0.4815.1002'), v('15.0.4815.1002')), 0);
    // Not string order: 9 < 10 in the third part.
    assert.equal(compareVersions(v('15.0.9.0'), v('15.0.10.0')), -1);
  });
  it('places the FPSE floors (§2.6, §3 FPSE 3)', () => {
    assert.equal(compareVersions(v('4.0.2.2611'), v('3.0.2.1002')), 1);
    assert.equal(compareVersions(v('4.0.2.2610'), v('4.0.2.2611')), -1);
    assert.equal(compareVersions(v('6.0.2.5523'), v('6.0.2.5614')), -1);
    assert.equal(compareVersions(v('12.0.0.6415'), v('14.0.0.6029')), -1);
  });
});

describe('minVersion / maxVersion', () => {
  it('gives the §2.3 answer: Min(14.0.0.6029, 12.0.0.6415) = 12.0.0.6415', () => {
    const server = v('14.0.0.6029');
    const client = v('12.0.0.6415');
    assert.equal(minVersion(server, client), client);
    assert.equal(minVersion(client, server), client);
    assert.equal(maxVersion(client, server), server);
  });
  it('returns `a` on a tie, keeping its spelling', () => {
    const a = v('Exchange/15.02.1544.014');
    const b = v('15.2.1544.14');
    assert.equal(minVersion(a, b), a);
    assert.equal(minVersion(b, a), b);
    assert.equal(maxVersion(a, b), a);
  });
});

describe('formatVersion', () => {
  it('keeps the zero-padding of `like` (§3 MAPI/HTTP 1)', () => {
    assert.equal(formatVersion([15, 0, 847, 32], v('15.02.1544.014')), '15.00.0847.032');
    assert.equal(formatVersion([15, 2, 1544, 14], v('Exchange/15.00.0847.4040')), 'Exchange/15.02.1544.0014');
  });
  it('writes a part wider than its width in full', () => {
    assert.equal(formatVersion([15, 0, 847, 4040], v('Exchange/15.02.1544.014')), 'Exchange/15.00.0847.4040');
    assert.equal(formatVersion([115, 0, 12345, 1], v('1.0.0.0')), '115.0.12345.1');
  });
  it('pads only when `like` was zero-padded: padding belongs to the whole string (§1.4)', () => {
    assert.equal(formatVersion([15, 2, 1544, 14], v('Exchange/15.20.1544.100')), 'Exchange/15.2.1544.14');
    assert.equal(formatVersion([16, 0, 15928, 20006], v('Outlook/15.00.0856.000')), 'Outlook/16.00.15928.20006');
    assert.equal(isZeroPadded(v('Exchange/15.02.1544.014')), true);
    assert.equal(isZeroPadded(v('16.0.0.0')), false);
    assert.equal(isZeroPadded(v('Outlook/16.0.15928.20006')), false);
  });
  it('keeps the product of `like`, and has none without it', () => {
    assert.equal(formatVersion([14, 0, 7268, 5000], v('Outlook/16.0.15928.20006')), 'Outlook/14.0.7268.5000');
    assert.equal(formatVersion([14, 0, 7268, 5000]), '14.0.7268.5000');
    assert.equal(formatVersion([12, 0, 0, 6415], v('14.0.0.6029')), '12.0.0.6415');
  });
  it('round-trips every §1.4 string through its own style', () => {
    for (const text of ['Outlook/15.00.0856.000', 'Exchange/15.20.0485.000', 'Exchange/15.01.2176.009', '16.00.0.000']) {
      const version = v(text);
      assert.equal(formatVersion(version.parts, version), text);
    }
  });
  it('refuses parts no version can hold: a program error, not traffic', () => {
    assert.throws(() => formatVersion([1, -1, 0, 0]), RangeError);
    assert.throws(() => formatVersion([1, 0.5, 0, 0]), RangeError);
    assert.throws(() => formatVersion([2 ** 31, 0, 0, 0]), /not an integer in 0\.\.2147483647/);
  });
});

describe('versionString', () => {
  it('is numeric, unpadded and without product', () => {
    assert.equal(versionString(v('Exchange/15.02.1544.014')), '15.2.1544.14');
    assert.equal(versionString(v('Outlook/16.0.15928.20006')), '16.0.15928.20006');
    assert.equal(versionString(v('16.00.0.000')), '16.0.0.0');
  });
});
