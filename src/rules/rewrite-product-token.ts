/**
 * The new value of a MAPI/HTTP version header, `X-ClientApplication: Outlook/16.0.15928.20006`
 * or `X-ServerApplication: Exchange/15.02.1544.014` (MS-OXCMAPIHTTP 2.2.3.3.6, 2.2.3.3.7;
 * docs/protocols.md §1.4), for the clientVersion and serverVersion actions (DESIGN.md "Action
 * syntax"): a bare version keeps the product the header already names, `Product/a.b.c.d`
 * replaces the whole token. Anything after the first token stays.
 */

// `Product/version` at the start of the value, then the rest; the product is an RFC 9110 token.
const FIRST_TOKEN = /^(\s*)([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\/(\S*)([\s\S]*)$/;

/**
 * The version text goes in exactly as written in the rule: §1.4 notes servers zero-pad
 * (`15.02.1544.014`) and clients often do not, and nothing says parsers accept the other form.
 * A value without a `Product/` first token is not one a real client or server sends, so it is
 * replaced whole with `defaultProduct/version`.
 */
export function rewriteProductToken(current: string | undefined, spec: string, defaultProduct: 'Outlook' | 'Exchange'): string {
  const wanted = spec.trim();
  const found = current === undefined ? null : FIRST_TOKEN.exec(current);
  const specHasProduct = wanted.includes('/');
  if (found === null) return specHasProduct ? wanted : `${defaultProduct}/${wanted}`;
  const [, lead = '', product = defaultProduct, , rest = ''] = found;
  return `${lead}${specHasProduct ? wanted : `${product}/${wanted}`}${rest}`;
}
