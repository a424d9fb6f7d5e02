/**
 * The filter grammar (src/core/filter.ts, docs/filter.md): every key matching and not matching,
 * negation, quoting, case, parse errors with their columns, the bounds, and two laws checked
 * with fast-check: a parsed filter's toString() parses back to the same terms, and testing any
 * view never throws.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatFilterIssue, MAX_LENGTH, MAX_TERMS, parseFilter, type Filter, type FilterIssue, type FilterView } from '../../src/core/filter.js';
import { urlParts } from '../../src/core/url-parts.js';

function filter(text: string): Filter {
  const parsed = parseFilter(text);
  if (!parsed.ok) assert.fail(`${text}: ${parsed.issues.map(formatFilterIssue).join(' | ')}`);
  return parsed.filter;
}

function issues(text: string): FilterIssue[] {
  const parsed = parseFilter(text);
  assert.equal(parsed.ok, false, `${text} should not parse`);
  return parsed.ok ? [] : parsed.issues;
}

/** An FPSE `server version` call answered 200 with echo-mismatch, rule `fpse-floor` applied, `mapi-lost` passed. */
const FPSE: FilterView = {
  kind: 'http',
  url: 'http://sp.Contoso.LAB:8081/sites/a/_vti_bin/_vti_aut/author.dll?x=1',
  request: { method: 'POST' },
  response: { statusCode: 200 },
  protocol: { protocol: 'fpse', operation: 'server version', verdicts: [{ code: 'echo-mismatch' }, { code: 'accepted' }] },
  rules: [
    { id: 'fpse-floor', outcome: 'applied' },
    { id: 'mapi-lost', outcome: 'passed' },
  ],
};
const MAPI_503: FilterView = {
  url: 'http://mail.contoso.lab/mapi/emsmdb/?MailboxId=a@b',
  request: { method: 'post' },
  response: { statusCode: 503 },
  protocol: { protocol: 'mapihttp', operation: 'Connect', verdicts: [{ code: 'context-not-found' }] },
};
const UNANSWERED: FilterView = { url: 'http://other.example/favicon.ico', request: { method: 'GET' } };
const TUNNEL: FilterView = { kind: 'tunnel', url: 'secure.contoso.lab:443', request: { method: 'CONNECT' }, response: { statusCode: 200 } };
const ALL = { FPSE, MAPI_503, UNANSWERED, TUNNEL };

/** The names of the views a filter holds for. */
function matching(text: string): string[] {
  const f = filter(text);
  return Object.entries(ALL)
    .filter(([, view]) => f.test(view))
    .map(([name]) => name);
}

describe('filter: each key, matching and not', () => {
  const cases: Array<[string, string[]]> = [
    ['', ['FPSE', 'MAPI_503', 'UNANSWERED', 'TUNNEL']],
    ['protocol:fpse', ['FPSE']],
    ['protocol:MAPIHTTP', ['MAPI_503']],
    ['protocol:http', ['UNANSWERED', 'TUNNEL']],
    ['-protocol:http', ['FPSE', 'MAPI_503']],
    ['operation:"server version"', ['FPSE']],
    ['operation:connect', ['MAPI_503']],
    ['-operation:Connect', ['FPSE', 'UNANSWERED', 'TUNNEL']],
    ['verdict:echo-mismatch', ['FPSE']],
    ['verdict:ACCEPTED', ['FPSE']],
    ['-verdict:echo-mismatch', ['MAPI_503', 'UNANSWERED', 'TUNNEL']],
    ['host:*.contoso.lab', ['FPSE', 'MAPI_503', 'TUNNEL']],
    ['host:SP.contoso.lab', ['FPSE']],
    ['host:*:8081', ['FPSE']],
    ['host:secure.contoso.lab:443', ['TUNNEL']],
    ['-host:*.lab', ['UNANSWERED']],
    ['path:*/_vti_bin/*.dll', ['FPSE']],
    ['path:/mapi/*', ['MAPI_503']],
    ['path:/favicon.ico', ['UNANSWERED']],
    ['method:post', ['FPSE', 'MAPI_503']],
    ['method:GET', ['UNANSWERED']],
    ['-method:POST', ['UNANSWERED', 'TUNNEL']],
    ['status:200', ['FPSE', 'TUNNEL']],
    ['status:5xx', ['MAPI_503']],
    ['status:2XX', ['FPSE', 'TUNNEL']],
    ['status:none', ['UNANSWERED']],
    ['-status:none', ['FPSE', 'MAPI_503', 'TUNNEL']],
    ['-status:2xx', ['MAPI_503', 'UNANSWERED']],
    ['rule:fpse-floor', ['FPSE']],
    ['rule:mapi-lost', []],
    ['-rule:fpse-floor', ['MAPI_503', 'UNANSWERED', 'TUNNEL']],
    // Every term must hold; a key given twice is two terms.
    ['protocol:fpse status:5xx', []],
    ['host:*.lab -status:none method:post', ['FPSE', 'MAPI_503']],
    ['protocol:fpse protocol:mapihttp', []],
    ['verdict:echo-mismatch verdict:accepted', ['FPSE']],
    ['\tprotocol:fpse \n  status:200  ', ['FPSE']],
  ];
  for (const [text, expected] of cases) {
    it(JSON.stringify(text), () => assert.deepEqual(matching(text), expected));
  }

  it('the example of issue 22 parses and holds for a matching exchange only', () => {
    const f = filter('protocol:fpse verdict:echo-mismatch host:*.lab status:5xx rule:fpse-floor method:POST');
    assert.equal(f.test({ ...FPSE, response: { statusCode: 500 } }), true);
    assert.equal(f.test(FPSE), false);
  });
});

describe('filter: quoting and canonical form', () => {
  it('a quoted value may hold spaces, \\" and \\\\; another backslash is itself', () => {
    assert.deepEqual(filter('operation:"a \\"b\\" \\\\ c\\d"').terms, [{ key: 'operation', value: 'a "b" \\ c\\d', negated: false }]);
    assert.deepEqual(filter('-path:"/My Documents/*"').terms, [{ key: 'path', value: '/My Documents/*', negated: true }]);
  });

  it('toString() normalises case, spacing and quotes', () => {
    assert.equal(filter('  Protocol:FPSE   method:post status:5XX host:*.LAB operation:"Server Version" path:"/a"  ').toString(), 'protocol:fpse method:POST status:5xx host:*.lab operation:"server version" path:/a');
    assert.equal(filter('').toString(), '');
  });
});

describe('filter: errors name the column, the term and the fix', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['verb:POST', 1, /^column 1, 'verb:POST': unknown key 'verb'; keys are protocol, operation, verdict, host, path, method, status, rule$/],
    ['protocol:fpse  status:abc', 16, /'status:abc'.*status must be a code like 404, a class like 5xx, or none/],
    ['status:600x', 1, /not a status/],
    ['protocol:mapi', 1, /unknown protocol 'mapi'; protocol is mapihttp, fpse, or http/],
    ['method:"GE T"', 1, /not an HTTP method/],
    ['verdict:Echo_Mismatch', 1, /not a verdict code/],
    ['fpse', 1, /'fpse': not a key:value term; write terms as key:value/],
    ['host:', 1, /host needs a value/],
    ['host:""', 1, /host needs a value/],
    ['-:x', 1, /no key before ':'/],
    ['-', 1, /not a key:value term/],
    ['operation:"server version', 11, /a quote that is never closed/],
    ['path:/a"b', 8, /a quote inside an unquoted value/],
    ['operation:"a"b', 14, /text after the closing quote/],
  ];
  for (const [text, column, message] of cases) {
    it(JSON.stringify(text), () => {
      const found = issues(text);
      assert.equal(found.length, 1, found.map(formatFilterIssue).join(' | '));
      assert.equal(found[0]!.at, column);
      assert.match(formatFilterIssue(found[0]!), message);
    });
  }

  it('reports every bad term, not just the first', () => {
    const found = issues('verb:POST protocol:fpse status:abc -bogus:1');
    assert.deepEqual(found.map((i) => [i.at, i.term]), [[1, 'verb:POST'], [25, 'status:abc'], [36, '-bogus:1']]);
  });

  it('is bounded in length and terms', () => {
    assert.match(formatFilterIssue(issues(`path:${'a'.repeat(MAX_LENGTH)}`)[0]!), /over the limit of 4096/);
    assert.equal(filter(Array.from({ length: MAX_TERMS }, () => 'method:GET').join(' ')).terms.length, MAX_TERMS);
    const over = issues(Array.from({ length: MAX_TERMS + 1 }, () => 'method:GET').join(' '));
    assert.match(over[0]!.message, /more than 64 terms/);
  });

  it('a control character in a bad term is printed escaped', () => {
    assert.equal(formatFilterIssue(issues('ve\u001brb:x')[0]!), "column 1, 've\\u001brb:x': unknown key 've\\u001brb'; keys are protocol, operation, verdict, host, path, method, status, rule");
  });

  it('an inherited property name is an unknown key, not a crash', () => {
    assert.match(issues('constructor:x')[0]!.message, /unknown key 'constructor'/);
    assert.match(issues('__proto__:x')[0]!.message, /unknown key/);
  });
});

describe('filter: matching stays linear', () => {
  it('a backtracking-shaped glob against a long path answers at once', () => {
    // As a regex `^g.*a.*a…b$`, this pattern against this path takes minutes (core/glob.ts).
    const f = filter(`path:g${'*a'.repeat(20)}*b`);
    const view: FilterView = { url: `http://h/g${'a'.repeat(100_000)}`, request: { method: 'GET' } };
    assert.equal(f.test(view), false);
  });
});

describe('url parts', () => {
  it('cuts host, hostname and path by index, as URL would', () => {
    assert.deepEqual(urlParts('http://user:pw@EX.lab:8080/a/b?c#d', false), { hostname: 'ex.lab', host: 'ex.lab:8080', path: '/a/b' });
    assert.deepEqual(urlParts('https://[::1]:8443?x', false), { hostname: '[::1]', host: '[::1]:8443', path: '/' });
    assert.deepEqual(urlParts('http://h', false), { hostname: 'h', host: 'h', path: '/' });
    assert.deepEqual(urlParts('h.lab:443', true), { hostname: 'h.lab', host: 'h.lab:443', path: '' });
    assert.deepEqual(urlParts('/only/path?q', false), { hostname: '', host: '', path: '/only/path' });
  });
});

describe('filter laws (fast-check)', () => {
  const keys = ['protocol', 'operation', 'verdict', 'host', 'path', 'method', 'status', 'rule', 'Protocol', 'verb', ''];
  // Values from the alphabet that matters to the grammar: separators, quotes, backslashes, globs, dashes, colons.
  const value = fc.oneof(
    fc.constantFrom('fpse', 'mapihttp', 'http', 'POST', 'get', '404', '5xx', 'none', 'echo-mismatch', '*.lab', '/mapi/*', 'server version'),
    fc.string({ unit: fc.constantFrom('a', 'Z', '1', '-', ':', '*', '?', '/', ' ', '\t', '"', '\\', 'é', '\u00a0'), maxLength: 12 }),
  );
  const term = fc.record({ negated: fc.boolean(), key: fc.constantFrom(...keys), value, quoted: fc.boolean() }).map(({ negated, key, value: v, quoted }) => {
    const needsQuotes = quoted || /[\s"]/.test(v);
    return `${negated ? '-' : ''}${key}:${needsQuotes ? `"${v.replace(/[\\"]/g, '\\$&')}"` : v}`;
  });
  const expression = fc.oneof(
    fc.array(term, { maxLength: 6 }).map((terms) => terms.join(' ')),
    fc.string({ maxLength: 40 }),
  );

  it("a parsed filter's toString() parses back to the same terms", () => {
    fc.assert(
      fc.property(expression, (text) => {
        const parsed = parseFilter(text);
        if (!parsed.ok) {
          for (const issue of parsed.issues) assert.ok(issue.at >= 1 && issue.at <= text.length + 1, `column ${issue.at} outside ${JSON.stringify(text)}`);
          return;
        }
        const again = parseFilter(parsed.filter.toString());
        assert.ok(again.ok, `${JSON.stringify(parsed.filter.toString())} does not parse`);
        assert.deepEqual(again.filter.terms, parsed.filter.terms);
        assert.equal(again.filter.toString(), parsed.filter.toString());
      }),
      { numRuns: 2000 },
    );
  });

  const view: fc.Arbitrary<FilterView> = fc.record(
    {
      kind: fc.constantFrom('http', 'tunnel', 'upgrade'),
      url: fc.oneof(fc.string({ maxLength: 40 }), fc.webUrl(), fc.constantFrom('h:443', 'http://[::1', 'http://@/', 'http://a@b@c:/x')),
      request: fc.record({ method: fc.string({ maxLength: 8 }) }),
      response: fc.record({ statusCode: fc.integer({ min: 0, max: 999 }) }),
      protocol: fc.record({
        protocol: fc.constantFrom('fpse', 'mapihttp', 'X'),
        operation: fc.string({ maxLength: 12 }),
        verdicts: fc.array(fc.record({ code: fc.string({ maxLength: 12 }) }), { maxLength: 3 }),
      }),
      rules: fc.array(fc.record({ id: fc.string({ maxLength: 8 }), outcome: fc.constantFrom('applied', 'passed', 'skipped') }), { maxLength: 3 }),
    },
    { requiredKeys: ['url', 'request'] },
  );

  it('testing any view never throws, and a negated term holds exactly when the term does not', () => {
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 1 }), view, ([text], v) => {
        const parsed = parseFilter(text!);
        if (!parsed.ok) return;
        const flipped = parseFilter(text!.startsWith('-') ? text!.slice(1) : `-${text!}`);
        assert.ok(flipped.ok);
        assert.equal(flipped.filter.test(v), !parsed.filter.test(v));
      }),
      { numRuns: 2000 },
    );
  });
});
