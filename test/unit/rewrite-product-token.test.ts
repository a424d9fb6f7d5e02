/**
 * The MAPI/HTTP version headers under clientVersion / serverVersion (docs/rules.md "Actions";
 * docs/protocols.md §1.4): a bare version keeps the product token, `Product/…` replaces it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseVersion } from '../../src/core/version.js';
import { rewriteProductToken } from '../../src/rules/rewrite-product-token.js';

describe('rewriteProductToken (§1.4)', () => {
  it('keeps the product for a bare version, written exactly as given (zero padding kept)', () => {
    assert.equal(rewriteProductToken('Outlook/16.0.15928.20006', '15.00.0847.032', 'Outlook'), 'Outlook/15.00.0847.032');
    assert.equal(rewriteProductToken('Exchange/15.02.1544.014', '15.1.2507.6', 'Exchange'), 'Exchange/15.1.2507.6');
    // The header's own product, in its own spelling, not the default.
    assert.equal(rewriteProductToken('outlook/16.0.1.2', '15.0.4815.1002', 'Outlook'), 'outlook/15.0.4815.1002');
    assert.equal(rewriteProductToken('MyTool/1.0', '15.0.4815.1002', 'Outlook'), 'MyTool/15.0.4815.1002');
  });

  it('keeps anything after the first token', () => {
    assert.equal(rewriteProductToken('Outlook/16.0.1 (build; x64)', '15.00.0847.032', 'Outlook'), 'Outlook/15.00.0847.032 (build; x64)');
    assert.equal(rewriteProductToken('Exchange/15.02.1544.014 extra', 'Exchange/15.00.0847.4040', 'Exchange'), 'Exchange/15.00.0847.4040 extra');
  });

  it('replaces the token whole when the spec names a product', () => {
    assert.equal(rewriteProductToken('Outlook/16.0.15928.20006', 'Outlook/14.0.7268.5000', 'Outlook'), 'Outlook/14.0.7268.5000');
    assert.equal(rewriteProductToken('Exchange/15.02.1544.014', 'Contoso/1.0.0.0', 'Exchange'), 'Contoso/1.0.0.0');
  });

  it('uses the default product when there is no header or no Product/ token in it', () => {
    assert.equal(rewriteProductToken(undefined, '15.00.0847.032', 'Exchange'), 'Exchange/15.00.0847.032');
    assert.equal(rewriteProductToken(undefined, '16.0.15928.20006', 'Outlook'), 'Outlook/16.0.15928.20006');
    assert.equal(rewriteProductToken('', '16.0.15928.20006', 'Outlook'), 'Outlook/16.0.15928.20006');
    assert.equal(rewriteProductToken('16.0.1.2', '15.0.4815.1002', 'Outlook'), 'Outlook/15.0.4815.1002');
    assert.equal(rewriteProductToken('garbage value', '15.0.4815.1002', 'Outlook'), 'Outlook/15.0.4815.1002');
    assert.equal(rewriteProductToken(undefined, 'Outlook/14.0.7268.5000', 'Exchange'), 'Outlook/14.0.7268.5000');
  });

  it('gives values that parse back to the spec\'s version', () => {
    const cases: Array<[string | undefined, string]> = [['Outlook/16.0.15928.20006', '15.00.0847.032'], [undefined, '15.02.1544.014'], ['Exchange/15.20.0485.000', 'Exchange/15.01.2176.009']];
    for (const [current, spec] of cases) {
      const value = parseVersion(rewriteProductToken(current, spec, 'Exchange'));
      const wanted = parseVersion(spec);
      assert.ok(value.ok && wanted.ok);
      assert.deepEqual(value.version.parts, wanted.version.parts);
      assert.equal(value.version.product, wanted.version.product ?? current?.split('/')[0] ?? 'Exchange');
    }
  });
});
