/**
 * Laws of redaction, checked with fast-check over random header lists: no secret survives (no
 * substring of 4 or more characters of a credential, challenge blob or cookie value is left), the
 * list keeps its length and every name as spelled, other headers are untouched, the input is not
 * mutated, and redacting twice changes nothing.
 *
 * Secrets are drawn from characters that never occur in what is kept (names in upper case, the
 * schemes, the attributes, the `<redacted N bytes>` words), so a surviving substring is a leak and
 * never a coincidence.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createRedactor, DEFAULT_REDACTED_PARAMS } from '../../src/record/redact.js';

const EXTRA = 'X-Api-Key';
const redactor = createRedactor({ enabled: true, extraHeaders: [EXTRA] });

const SECRET_CHARS = [...'0123456789fjkqvwxz+/_-.'];
const secret = (chars: string[] = SECRET_CHARS, maxLength = 60) => fc.string({ unit: fc.constantFrom(...chars), minLength: 1, maxLength });
/** Cookie values may hold `=` and `,` (browsers send what servers set), never `;`. */
const cookieValue = secret([...SECRET_CHARS, '=', ','], 40);
const cookieName = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), minLength: 1, maxLength: 12 });

/** A header name in some spelling (RFC 9110 §5.1: case-insensitive). */
const spelled = (name: string) =>
  fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''));

interface Line {
  name: string;
  value: string;
  /** Parts of the value that must not survive. */
  secrets: string[];
}

const authorization = fc
  .record({ name: fc.constantFrom('Authorization', 'Proxy-Authorization').chain(spelled), scheme: fc.constantFrom('Basic', 'Bearer', 'NTLM', 'Negotiate', 'Digest', 'ntlm'), space: fc.constantFrom(' ', '  ', '\t'), cred: secret([...SECRET_CHARS, ' ', '=', ','], 120) })
  .map(({ name, scheme, space, cred }): Line => ({ name, value: `${scheme}${space}${cred}`, secrets: [cred] }));

const bareKey = fc.record({ name: spelled('Authorization'), key: secret() }).map(({ name, key }): Line => ({ name, value: key, secrets: [key] }));

const TOKEN68 = [...'0123456789fjkqvwxz+/'];
const challenge = fc.oneof(
  fc.record({ scheme: fc.constantFrom('NTLM', 'Negotiate', 'Kerberos', 'negotiate'), blob: secret(TOKEN68, 80), pad: fc.constantFrom('', '=', '==') }).map(({ scheme, blob, pad }) => ({ text: `${scheme} ${blob}${pad}`, secret: blob })),
  fc.constantFrom('NTLM', 'Negotiate', 'Basic realm="LAB"', 'Bearer error="invalid_token"').map((text) => ({ text, secret: undefined })),
);
const challenges = fc
  .record({ name: fc.constantFrom('WWW-Authenticate', 'Proxy-Authenticate').chain(spelled), list: fc.array(challenge, { minLength: 1, maxLength: 4 }), separator: fc.constantFrom(', ', ',', ' , ') })
  .map(({ name, list, separator }): Line => ({ name, value: list.map((c) => c.text).join(separator), secrets: list.flatMap((c) => (c.secret === undefined ? [] : [c.secret])) }));

const cookie = fc
  .record({ name: spelled('Cookie'), pairs: fc.array(fc.tuple(cookieName, cookieValue), { minLength: 1, maxLength: 6 }), separator: fc.constantFrom('; ', ';', ';  ') })
  .map(({ name, pairs, separator }): Line => ({ name, value: pairs.map(([n, v]) => `${n}=${v}`).join(separator), secrets: pairs.map(([, v]) => v) }));

const ATTRIBUTES = ['Path=/MAPI/', 'HttpOnly', 'Secure', 'SameSite=Lax', 'Domain=.CONTOSO.COM', 'Expires=Wed, 21 Oct 2026 07:28:00 GMT'];
const setCookie = fc
  .record({ name: spelled('Set-Cookie'), cookies: fc.array(fc.record({ n: cookieName, v: cookieValue, attributes: fc.subarray(ATTRIBUTES) }), { minLength: 1, maxLength: 3 }) })
  .map(({ name, cookies }): Line => ({
    name,
    // More than one cookie in a line is a fold (RFC 6265 §3 says not to; rule changes do it too).
    value: cookies.map(({ n, v, attributes }) => [`${n}=${v}`, ...attributes].join('; ')).join(', '),
    secrets: cookies.map(({ v }) => v),
  }));

const extra = fc.record({ name: spelled(EXTRA), value: secret() }).map(({ name, value }): Line => ({ name, value, secrets: [value] }));

const SECRET_NAMES = new Set(['authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate', 'cookie', 'set-cookie', EXTRA.toLowerCase()]);
const plain = fc
  .record({ name: fc.string({ unit: fc.constantFrom(...'ABCDEFGHIKLMNOPRSTUWXY-'), minLength: 1, maxLength: 20 }), value: fc.string({ maxLength: 40 }) })
  .filter(({ name }) => !SECRET_NAMES.has(name.toLowerCase()))
  .map(({ name, value }): Line => ({ name, value, secrets: [] }));

const lines = fc.array(fc.oneof(authorization, bareKey, challenges, cookie, setCookie, extra, plain), { maxLength: 12 });

const MARKERS = /<redacted \d+ bytes?>/g;

/** The substrings of `text` of length 4, or `text` itself when shorter (then it must not appear whole). */
function fragments(text: string): string[] {
  if (text.length <= 4) return [text];
  return Array.from({ length: text.length - 3 }, (_, i) => text.slice(i, i + 4));
}

describe('redaction laws', () => {
  it('leaves no secret of 4 or more characters, and keeps length, names and other headers', () => {
    fc.assert(
      fc.property(lines, (list) => {
        const raw = list.flatMap((l) => [l.name, l.value]);
        const before = [...raw];
        const out = redactor.headers(raw);
        assert.deepEqual(raw, before, 'input not mutated');
        assert.equal(out.length, raw.length);
        list.forEach((line, i) => {
          assert.equal(out[2 * i], line.name, 'name kept as spelled');
          const kept = out[2 * i + 1]!;
          if (line.secrets.length === 0) {
            assert.equal(kept, line.value, 'a header that is not secret is untouched');
            return;
          }
          const visible = kept.replace(MARKERS, '');
          for (const s of line.secrets) {
            for (const f of fragments(s)) {
              if (f.length >= 4) assert.equal(visible.includes(f), false, `"${f}" of ${line.name} survived in ${kept}`);
            }
          }
        });
      }),
      { numRuns: 500 },
    );
  });

  it('is idempotent, and gives back the same list when nothing is secret', () => {
    fc.assert(
      fc.property(lines, (list) => {
        const raw = list.flatMap((l) => [l.name, l.value]);
        const once = redactor.headers(raw);
        assert.equal(redactor.headers(once), once);
        if (list.every((l) => l.secrets.length === 0)) assert.equal(once, raw);
      }),
      { numRuns: 300 },
    );
  });

  it('counts the bytes it removes (whole values and credentials)', () => {
    const marker = (text: string): string => {
      const n = Buffer.byteLength(text);
      return `<redacted ${n} ${n === 1 ? 'byte' : 'bytes'}>`;
    };
    const text = fc.string({ minLength: 1, maxLength: 50, unit: 'grapheme' }).filter((v) => /^\S/.test(v) && !/^<redacted \d+ bytes?>$/.test(v));
    fc.assert(
      fc.property(text, (value) => {
        assert.equal(redactor.value(EXTRA, value), marker(value));
        assert.equal(redactor.value('Authorization', `Basic ${value}`), `Basic ${marker(value)}`);
      }),
      { numRuns: 300 },
    );
  });

  it('never lets a credential or --redact-header value through unchanged, whatever the text', () => {
    fc.assert(
      fc.property(fc.constantFrom('Authorization', 'proxy-authorization', EXTRA), fc.string({ minLength: 1, maxLength: 80 }), (name, value) => {
        const out = redactor.value(name, value);
        if (value.trim() !== '' && !/<redacted \d+ bytes?>/.test(value)) assert.notEqual(out, value);
      }),
      { numRuns: 500 },
    );
  });
});

/**
 * URLs (issue 21 finding 3): random queries mixing credential parameters (any default name, any
 * spelling) and others. Secret values are drawn from letters the encoded marker never holds, so
 * a surviving 4-character piece is a leak; other parameters stay byte for byte.
 */
describe('laws of URL redaction', () => {
  const URL_SECRET = [...'fjkqvwxz_-.'];
  const credential = fc
    .record({ name: fc.constantFrom(...DEFAULT_REDACTED_PARAMS).chain(spelled), value: secret(URL_SECRET, 40) })
    .map(({ name, value }) => ({ text: `${name}=${value}`, secret: value }));
  // Names start with Q, which no default does, so they are never credentials.
  const other = fc
    .record({ name: fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJ'), maxLength: 8 }), value: fc.string({ unit: fc.constantFrom(...'ABC0123%@/:'), maxLength: 12 }) })
    .map(({ name, value }) => ({ text: `Q${name}=${value}`, secret: undefined }));
  const url = fc
    .record({ base: fc.constantFrom('http://h.lab/cb', '/mapi/emsmdb/', 'https://u.lab:8443/a/b'), pairs: fc.array(fc.oneof(credential, other), { minLength: 1, maxLength: 6 }), fragment: fc.constantFrom('', '#top') })
    .map(({ base, pairs, fragment }) => ({ text: `${base}?${pairs.map((p) => p.text).join('&')}${fragment}`, pairs }));

  it('leaves no piece of a credential value, keeps every other parameter and the fragment, and is idempotent', () => {
    fc.assert(
      fc.property(url, ({ text, pairs }) => {
        const out = redactor.url(text);
        for (const pair of pairs) {
          if (pair.secret === undefined) {
            assert.ok(out.includes(pair.text), `${pair.text} kept in ${out}`);
            continue;
          }
          for (let i = 0; i + 4 <= pair.secret.length; i++) assert.ok(!out.includes(pair.secret.slice(i, i + 4)), `${pair.secret} leaked in ${out}`);
        }
        assert.equal(out.split('&').length, text.split('&').length);
        assert.equal(redactor.url(out), out);
        if (pairs.every((p) => p.secret === undefined)) assert.equal(out, text);
      }),
      { numRuns: 500 },
    );
  });
});
