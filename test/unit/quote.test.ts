/** quote(): values from the traffic in problem sentences, without backslashes a report would double. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quote } from '../../src/core/quote.js';

describe('quote', () => {
  it('wraps a plain value in double quotes', () => {
    assert.equal(quote('12.0.0.6415'), '"12.0.0.6415"');
  });

  it("wraps a value holding double quotes in single ones: nmap's FPVersion=\"…\" shows as sent", () => {
    assert.equal(quote('FPVersion="5.0.2.2623"'), `'FPVersion="5.0.2.2623"'`);
  });

  it('keeps JSON escapes for control characters and for a value holding both quotes', () => {
    assert.equal(quote('a\r\nb'), '"a\\r\\nb"');
    assert.equal(quote(`it's "x"`), '"it\'s \\"x\\""');
  });
});
