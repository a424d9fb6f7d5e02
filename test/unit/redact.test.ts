/**
 * Redaction of secrets (issue 6 item 2, docs/recordings.md "Redaction"): Authorization and
 * Proxy-Authorization keep their scheme, NTLM/Negotiate/Kerberos challenge blobs go, cookie values
 * go and their names stay, --redact-header names go whole; names, order and repeats are kept, the
 * input is never mutated, and an exchange with nothing secret comes back as the same object.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExchange, type Exchange, type RuleChange } from '../../src/core/exchange.js';
import { isFinalAuthMessage } from '../../src/proxy/auth-hint.js';
import { createRedactor, DEFAULT_REDACTED_HEADERS } from '../../src/record/redact.js';
import { redactedParams } from '../../src/record/redact-url.js';

const redactor = createRedactor({ enabled: true, extraHeaders: [] });

/** Bytes that look random but are the same on every run. */
function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
const utf16 = (text: string): Buffer => Buffer.from(text, 'utf16le');

/** MS-NLMP 2.2.1.1 NEGOTIATE_MESSAGE as Windows 10 sends it (type 1). */
const NTLM_TYPE1 = 'TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==';
/** MS-NLMP 2.2.1.2 CHALLENGE_MESSAGE (type 2) with a target info block, the classic DOMAIN/SERVER example. */
const NTLM_TYPE2 =
  'TlRMTVNTUAACAAAADAAMADAAAAA1goHiASNFZ4mrze8AAAAAAAAAAGIAYgA8AAAARABPAE0AQQBJAE4AAgAMAEQATwBNAEEASQBOAAEADABTAEUAUgBWAEUAUgAEABQAZABvAG0AYQBpAG4ALgBjAG8AbQADACIAcwBlAHIAdgBlAHIALgBkAG8AbQBhAGkAbgAuAGMAbwBtAAAAAAA=';

/** MS-NLMP 2.2.1.3 AUTHENTICATE_MESSAGE (type 3): LM and NTLMv2 responses, domain, user, workstation, session key. */
function ntlmType3(): string {
  const fields = [noise(24, 1), noise(318, 2), utf16('CONTOSO'), utf16('alice'), utf16('WS-0042'), noise(16, 3)];
  const headerLength = 88; // signature, type, six security buffers, flags, version, MIC
  const header = Buffer.alloc(headerLength);
  SIGNATURE.copy(header, 0);
  header.writeUInt32LE(3, 8);
  let offset = headerLength;
  fields.forEach((field, i) => {
    header.writeUInt16LE(field.length, 12 + i * 8);
    header.writeUInt16LE(field.length, 14 + i * 8);
    header.writeUInt32LE(offset, 16 + i * 8);
    offset += field.length;
  });
  header.writeUInt32LE(0xe2888215, 60);
  noise(16, 4).copy(header, 72); // MIC
  return Buffer.concat([header, ...fields]).toString('base64');
}
const NTLM_TYPE3 = ntlmType3();

/** RFC 4559 §4.2: a SPNEGO NegTokenInit (GSS-API, RFC 2743 §3.1) wrapping a Kerberos AP-REQ. */
function kerberosNegotiate(): string {
  const spnegoOid = Buffer.from([0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]);
  const inner = Buffer.concat([spnegoOid, Buffer.from([0xa0, 0x82, 0x06, 0x00]), noise(1532, 5)]);
  return Buffer.concat([Buffer.from([0x60, 0x82, inner.length >> 8, inner.length & 0xff]), inner]).toString('base64');
}
const KERBEROS = kerberosNegotiate();
/** The server's mutual-authentication reply, a NegTokenResp (RFC 4178 §4.2.2). */
const KERBEROS_REPLY = Buffer.concat([Buffer.from([0xa1, 0x81, 0x9a, 0x30, 0x81, 0x97]), noise(151, 6)]).toString('base64');
const JWT =
  'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.' +
  Buffer.from(JSON.stringify({ aud: 'https://outlook.office365.com', upn: 'alice@contoso.com', exp: 1_900_000_000 })).toString('base64url') +
  '.' +
  noise(256, 7).toString('base64url');
const BASIC = Buffer.from('CONTOSO\\alice:Spring2024!').toString('base64');

const redacted = (secret: string): string => {
  const n = Buffer.byteLength(secret);
  return `<redacted ${n} ${n === 1 ? 'byte' : 'bytes'}>`;
};

describe('the test blobs are what they claim', () => {
  it('decodes NTLM types 1, 2, 3 and a GSS-API Kerberos token', () => {
    for (const [blob, type] of [[NTLM_TYPE1, 1], [NTLM_TYPE2, 2], [NTLM_TYPE3, 3]] as const) {
      const bytes = Buffer.from(blob, 'base64');
      assert.deepEqual(bytes.subarray(0, 8), SIGNATURE);
      assert.equal(bytes.readUInt32LE(8), type);
    }
    assert.equal(isFinalAuthMessage(`NTLM ${NTLM_TYPE3}`), true);
    assert.equal(isFinalAuthMessage(`Negotiate ${KERBEROS}`), true);
  });
});

describe('Authorization and Proxy-Authorization', () => {
  it('keeps the scheme as spelled and redacts the credentials with their size', () => {
    const cases: Array<[string, string]> = [
      [`NTLM ${NTLM_TYPE1}`, `NTLM ${redacted(NTLM_TYPE1)}`],
      [`NTLM ${NTLM_TYPE3}`, `NTLM ${redacted(NTLM_TYPE3)}`],
      [`Negotiate ${KERBEROS}`, `Negotiate ${redacted(KERBEROS)}`],
      [`Basic ${BASIC}`, 'Basic <redacted 36 bytes>'],
      [`Bearer ${JWT}`, `Bearer ${redacted(JWT)}`],
      [`ntlm ${NTLM_TYPE1}`, `ntlm ${redacted(NTLM_TYPE1)}`],
      [`BASIC  ${BASIC}`, `BASIC  ${redacted(BASIC)}`],
      ['Basic x', 'Basic <redacted 1 byte>'],
    ];
    for (const [sent, expected] of cases) {
      assert.equal(redactor.value('Authorization', sent), expected);
      assert.equal(redactor.value('Proxy-Authorization', sent), expected);
    }
    assert.equal(redactor.value('Authorization', `NTLM ${NTLM_TYPE3}`), `NTLM <redacted ${NTLM_TYPE3.length} bytes>`);
  });

  it('redacts everything after the scheme, parameters included (Digest)', () => {
    const digest = 'Digest username="alice", realm="lab", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/", response="6629fae49393a05397450978507c4ef1"';
    const params = digest.slice('Digest '.length);
    assert.equal(redactor.value('Authorization', digest), `Digest ${redacted(params)}`);
  });

  it('redacts a value without a scheme whole (a bare API key)', () => {
    assert.equal(redactor.value('Authorization', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'), '<redacted 32 bytes>');
    assert.equal(redactor.value('Authorization', 'Bearer'), '<redacted 6 bytes>');
    assert.equal(redactor.value('Authorization', 'sk_live_4eC39HqLyj '), '<redacted 19 bytes>', 'a trailing space makes no scheme');
  });

  it('counts bytes, not characters', () => {
    assert.equal(redactor.value('Authorization', 'Basic é'), 'Basic <redacted 2 bytes>');
  });
});

describe('WWW-Authenticate and Proxy-Authenticate', () => {
  it('redacts the NTLM challenge blob (type 2) and the Negotiate reply token', () => {
    for (const name of ['WWW-Authenticate', 'Proxy-Authenticate']) {
      assert.equal(redactor.value(name, `NTLM ${NTLM_TYPE2}`), `NTLM ${redacted(NTLM_TYPE2)}`);
      assert.equal(redactor.value(name, `Negotiate ${KERBEROS_REPLY}`), `Negotiate ${redacted(KERBEROS_REPLY)}`);
      assert.equal(redactor.value(name, `Kerberos ${KERBEROS_REPLY}`), `Kerberos ${redacted(KERBEROS_REPLY)}`);
      assert.equal(redactor.value(name, `ntlm ${NTLM_TYPE2}`), `ntlm ${redacted(NTLM_TYPE2)}`);
    }
  });

  it('keeps offers and parameters that are not secret, as the same array', () => {
    const raw = [
      'WWW-Authenticate', 'NTLM',
      'WWW-Authenticate', 'Negotiate',
      'WWW-Authenticate', 'Basic realm="mail.contoso.com"',
      'WWW-Authenticate', 'Bearer error="invalid_token", error_description="The access token expired"',
      'WWW-Authenticate', 'Negotiate, NTLM',
      'Proxy-Authenticate', 'Basic realm="lab, NTLM TlRMTVNTUAACAAAA, \\"q\\" x"',
      'WWW-Authenticate', 'Basic realm="a\\", NTLM TlRMTVNTUAACAAAA, b"',
      'WWW-Authenticate', 'Digest realm="lab", qop="auth", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    ];
    assert.equal(redactor.headers(raw), raw);
  });

  it('finds blobs among several challenges in one value, keeping separators as sent', () => {
    assert.equal(redactor.value('WWW-Authenticate', `NTLM ${NTLM_TYPE2}, Basic realm="x"`), `NTLM ${redacted(NTLM_TYPE2)}, Basic realm="x"`);
    assert.equal(redactor.value('WWW-Authenticate', `Basic realm="a,b" ,Negotiate ${KERBEROS_REPLY},NTLM`), `Basic realm="a,b" ,Negotiate ${redacted(KERBEROS_REPLY)},NTLM`);
    assert.equal(
      redactor.value('Proxy-Authenticate', `Negotiate ${KERBEROS_REPLY}, NTLM ${NTLM_TYPE2}`),
      `Negotiate ${redacted(KERBEROS_REPLY)}, NTLM ${redacted(NTLM_TYPE2)}`,
    );
  });
});

describe('Cookie', () => {
  it('redacts every value and keeps the names in order', () => {
    assert.equal(redactor.value('Cookie', 'a=1; MapiContext=xyz'), 'a=<redacted 1 byte>; MapiContext=<redacted 3 bytes>');
  });

  it('covers the MAPI/HTTP session cookies (docs/protocols.md §1.5)', () => {
    const context = 'AAAAAGYnoQEAAAAAAAAAAEKPvBAAAAAADZXRzm5PIAAAAAAA';
    const sequence = '0C98EF8BDDEC4B1C8A6A2D69B3EA1D17';
    const routing = 'PUID:1003BFFD9B2D6E44@contoso.onmicrosoft.com';
    const sent = `MapiContext=${context}; MapiSequence=${sequence}; MapiRouting=${routing}; X-BackEndCookie=S-1-5-21=u56Lnp2ejJqBy8`;
    const out = redactor.value('Cookie', sent);
    assert.equal(out, `MapiContext=${redacted(context)}; MapiSequence=${redacted(sequence)}; MapiRouting=${redacted(routing)}; X-BackEndCookie=<redacted 23 bytes>`);
    for (const secret of [context, sequence, routing, 'u56Lnp2ejJqBy8']) assert.equal(out.includes(secret), false);
  });

  it('keeps separators and spacing as sent; empty values stay empty; a pair without a name goes whole', () => {
    assert.equal(redactor.value('Cookie', 'a=1;b=22;  c=333 '), 'a=<redacted 1 byte>;b=<redacted 2 bytes>;  c=<redacted 3 bytes> ');
    assert.equal(redactor.value('Cookie', 'a=; b=2'), 'a=; b=<redacted 1 byte>');
    assert.equal(redactor.value('Cookie', 'lonelyvalue; b=2'), '<redacted 11 bytes>; b=<redacted 1 byte>');
    assert.equal(redactor.value('Cookie', 'q="quoted value"'), 'q=<redacted 14 bytes>');
    assert.equal(redactor.value('Cookie', 'a=b=c'), 'a=<redacted 3 bytes>');
  });
});

describe('Set-Cookie', () => {
  it('redacts the cookie value and keeps its name and attributes', () => {
    assert.equal(redactor.value('Set-Cookie', 'MapiContext=abc; path=/mapi/emsmdb/; HttpOnly'), 'MapiContext=<redacted 3 bytes>; path=/mapi/emsmdb/; HttpOnly');
    assert.equal(redactor.value('Set-Cookie', 'MapiRouting=PUID:1003BFFD@contoso.com; path=/mapi/; secure; HttpOnly'), 'MapiRouting=<redacted 25 bytes>; path=/mapi/; secure; HttpOnly');
    assert.equal(
      redactor.value('Set-Cookie', 'X-OWA-CANARY=ZkVvc3R; expires=Wed, 21 Oct 2026 07:28:00 GMT; path=/'),
      'X-OWA-CANARY=<redacted 7 bytes>; expires=Wed, 21 Oct 2026 07:28:00 GMT; path=/',
    );
    assert.equal(redactor.value('Set-Cookie', 'MapiSequence=10-xyz'), 'MapiSequence=<redacted 6 bytes>');
    assert.equal(redactor.value('Set-Cookie', 'cleared=; Max-Age=0'), 'cleared=; Max-Age=0');
  });

  it('redacts every cookie of a folded line (and of a rule change, which joins lines with ", ")', () => {
    assert.equal(
      redactor.value('Set-Cookie', 'MapiContext=abc; path=/mapi/, MapiSequence=1-xyz; expires=Thu, 01 Jan 2026 00:00:00 GMT; HttpOnly, sid=s3cr3t'),
      'MapiContext=<redacted 3 bytes>; path=/mapi/, MapiSequence=<redacted 5 bytes>; expires=Thu, 01 Jan 2026 00:00:00 GMT; HttpOnly, sid=<redacted 6 bytes>',
    );
  });

  it('never splits inside a value, so a comma in a value cannot expose the rest', () => {
    assert.equal(redactor.value('Set-Cookie', 'a=x,tail=secretpart; path=/'), 'a=<redacted 17 bytes>; path=/');
    assert.equal(redactor.value('Set-Cookie', 'a=x, b=secretpart'), 'a=<redacted 15 bytes>');
  });
});

describe('--redact-header and the defaults', () => {
  it('redacts extra headers whole, matching names in any case', () => {
    const r = createRedactor({ enabled: true, extraHeaders: ['X-Tenant-Key', 'x-ms-exchange-token'] });
    const raw = ['x-tenant-key', 'k3y-abcdef', 'X-MS-Exchange-Token', 'Bearer abc', 'X-Other', 'plain'];
    assert.deepEqual(r.headers(raw), ['x-tenant-key', '<redacted 10 bytes>', 'X-MS-Exchange-Token', '<redacted 10 bytes>', 'X-Other', 'plain']);
    assert.equal(redactor.headers(raw), raw, 'not redacted unless asked');
  });

  it('keeps the shaped redaction for a default header named again', () => {
    const r = createRedactor({ enabled: true, extraHeaders: ['COOKIE', ''] });
    assert.equal(r.value('Cookie', 'a=1'), 'a=<redacted 1 byte>');
  });

  it('lists the default headers for docs and --help', () => {
    assert.deepEqual([...DEFAULT_REDACTED_HEADERS], [
      'Authorization', 'Proxy-Authorization', 'WWW-Authenticate', 'Proxy-Authenticate', 'Cookie', 'Set-Cookie',
      'X-Api-Key', 'Api-Key', 'X-Auth-Token', 'X-Access-Token', 'X-Amz-Security-Token', 'X-Goog-Api-Key',
      'Ocp-Apim-Subscription-Key', 'X-Functions-Key', 'Private-Token', 'X-Vault-Token', 'X-CSRF-Token',
    ]);
  });

  it('leaves empty values and headers that are not secret alone', () => {
    for (const name of [...DEFAULT_REDACTED_HEADERS, 'X-Secret']) {
      assert.equal(createRedactor({ enabled: true, extraHeaders: ['X-Secret'] }).value(name, ''), '');
    }
    assert.equal(redactor.value('X-ClientApplication', 'Outlook/16.0.15928.20006'), 'Outlook/16.0.15928.20006');
    assert.equal(redactor.value('Authorizations', 'Basic abc'), 'Basic abc', 'a longer name is another header');
  });

  it('redacts a redacted value to itself', () => {
    const raw = ['Authorization', `NTLM ${NTLM_TYPE3}`, 'Cookie', 'a=1; b=', 'Set-Cookie', 'MapiContext=abc; path=/', 'WWW-Authenticate', `NTLM ${NTLM_TYPE2}`];
    const once = redactor.headers(raw);
    assert.notEqual(once, raw);
    assert.equal(redactor.headers(once), once);
    assert.equal(redactor.value('Authorization', 'abc'), '<redacted 3 bytes>');
    assert.equal(redactor.value('Authorization', '<redacted 3 bytes>'), '<redacted 3 bytes>');
  });
});

describe('header lists', () => {
  it('keeps names as spelled, order and repeats; only values change; the input is untouched', () => {
    const raw = [
      'Host', 'mail.contoso.com',
      'authorization', `Negotiate ${KERBEROS}`,
      'COOKIE', 'MapiContext=abc',
      'X-ClientApplication', 'Outlook/16.0.15928.20006',
      'Cookie', 'MapiSequence=9-def',
      'cookie', '',
    ];
    const before = [...raw];
    const out = redactor.headers(raw);
    assert.deepEqual(raw, before, 'input not mutated');
    assert.deepEqual(out, [
      'Host', 'mail.contoso.com',
      'authorization', `Negotiate ${redacted(KERBEROS)}`,
      'COOKIE', 'MapiContext=<redacted 3 bytes>',
      'X-ClientApplication', 'Outlook/16.0.15928.20006',
      'Cookie', 'MapiSequence=<redacted 5 bytes>',
      'cookie', '',
    ]);
  });

  it('hands back the same array when nothing is secret', () => {
    const raw = ['Host', 'h', 'Content-Type', 'application/mapi-http', 'X-RequestType', 'Connect', 'User-Agent', 'Microsoft Office/16.0', 'Accept', '*/*', 'Content-Length', '0'];
    assert.equal(redactor.headers(raw), raw);
    assert.equal(redactor.headers([]).length, 0);
  });
});

describe('rule changes', () => {
  it('redacts before and after of changes to secret headers, and nothing else', () => {
    const list: RuleChange[] = [
      { action: 'setHeader', target: 'authorization', before: `NTLM ${NTLM_TYPE1}`, after: 'Basic dXNlcjpwdw==' },
      { action: 'removeHeader', target: 'Cookie', before: 'MapiContext=abc, MapiSequence=1-x' },
      { action: 'setHeader', target: 'Set-Cookie', after: 'MapiContext=new; path=/' },
      { action: 'status', target: 'status', before: '200 OK', after: '401 Unauthorized' },
      { action: 'setHeader', target: 'X-ClientApplication', before: 'Outlook/15.0.4815.1002', after: 'Outlook/16.0.0.0' },
    ];
    const snapshot = structuredClone(list);
    const out = redactor.changes(list);
    assert.deepEqual(list, snapshot, 'input not mutated');
    assert.deepEqual(out, [
      { action: 'setHeader', target: 'authorization', before: `NTLM ${redacted(NTLM_TYPE1)}`, after: 'Basic <redacted 12 bytes>' },
      { action: 'removeHeader', target: 'Cookie', before: 'MapiContext=<redacted 21 bytes>' },
      { action: 'setHeader', target: 'Set-Cookie', after: 'MapiContext=<redacted 3 bytes>; path=/' },
      snapshot[3],
      snapshot[4],
    ]);
    assert.equal(Object.hasOwn(out[1]!, 'after'), false, 'an absent side stays absent');
    assert.equal(out[3], list[3], 'untouched changes are the same objects');
  });

  it('hands back the same array when nothing is secret', () => {
    const list: RuleChange[] = [{ action: 'serverVersion', target: 'response body: server version', before: '14.0.0.6029', after: '12.0.0.6415' }];
    assert.equal(redactor.changes(list), list);
  });
});

function fullExchange(): Exchange {
  const x = createExchange('http', { address: '127.0.0.1', port: 50123, connection: 7 }, {
    method: 'POST',
    url: 'https://mail.contoso.com/mapi/emsmdb/?MailboxId=alice@contoso.com',
    httpVersion: '1.1',
    rawHeaders: [
      'Host', 'mail.contoso.com',
      'Authorization', `NTLM ${NTLM_TYPE3}`,
      'Proxy-Authorization', `Basic ${BASIC}`,
      'X-RequestType', 'Execute',
      'Cookie', 'MapiContext=ctx-secret-1111; MapiSequence=seq-secret-2222',
      'cookie', 'MapiRouting=route-secret-3333',
    ],
  });
  x.forwarded = {
    path: '/mapi/emsmdb/?MailboxId=alice@contoso.com',
    rawHeaders: ['Host', 'mail.contoso.com', 'Authorization', `NTLM ${NTLM_TYPE3}`, 'X-RequestType', 'Execute', 'Cookie', 'MapiContext=ctx-secret-1111; MapiSequence=seq-secret-2222', 'cookie', 'MapiRouting=route-secret-3333', 'X-Forwarded-For', '127.0.0.1'],
  };
  x.upstreamResponse = {
    statusCode: 401,
    statusMessage: 'Unauthorized',
    httpVersion: '1.1',
    rawHeaders: ['WWW-Authenticate', `NTLM ${NTLM_TYPE2}`, 'WWW-Authenticate', 'Negotiate', 'Set-Cookie', 'MapiContext=ctx-secret-4444; path=/mapi/emsmdb/; HttpOnly', 'Set-Cookie', 'MapiSequence=seq-secret-5555; path=/mapi/emsmdb/; HttpOnly'],
    source: 'upstream',
  };
  x.response = {
    statusCode: 401,
    statusMessage: 'Unauthorized',
    httpVersion: '1.1',
    rawHeaders: ['www-authenticate', `NTLM ${NTLM_TYPE2}`, 'WWW-Authenticate', 'Negotiate', 'Set-Cookie', 'MapiContext=ctx-secret-4444; path=/mapi/emsmdb/; HttpOnly', 'Set-Cookie', 'MapiSequence=seq-secret-5555; path=/mapi/emsmdb/; HttpOnly', 'X-Injected', 'yes'],
    source: 'upstream',
  };
  x.rules = [
    { id: 'keep-version', explain: 'set request header X-ClientApplication', stage: 'request-head', outcome: 'applied', changes: [{ action: 'setHeader', target: 'X-ClientApplication', before: 'Outlook/15', after: 'Outlook/16' }] },
    {
      id: 'swap-auth',
      explain: 'set request header Authorization',
      stage: 'request-head',
      outcome: 'applied',
      changes: [{ action: 'setHeader', target: 'Authorization', before: `NTLM ${NTLM_TYPE3}`, after: `Bearer ${JWT}` }],
    },
    { id: 'mark', explain: 'set response header Set-Cookie', stage: 'response-head', outcome: 'applied', changes: [{ action: 'setHeader', target: 'set-cookie', before: 'MapiContext=ctx-secret-4444; path=/mapi/emsmdb/; HttpOnly, MapiSequence=seq-secret-5555; path=/mapi/emsmdb/; HttpOnly', after: 'X=rule-secret-6666' }] },
    { id: 'skipped', explain: 'big body', stage: 'response-body', outcome: 'skipped', reason: 'over the cap', changes: [] },
  ];
  x.bodies = { request: { bytes: Buffer.from('body'), size: 4, truncated: false } };
  x.timings.end = x.timings.start + 12.5;
  return x;
}

const SECRETS = [
  NTLM_TYPE1, NTLM_TYPE2, NTLM_TYPE3, BASIC, JWT,
  'ctx-secret-1111', 'seq-secret-2222', 'route-secret-3333', 'ctx-secret-4444', 'seq-secret-5555', 'rule-secret-6666',
];

/** Header names in order, from every view. */
const namesOf = (x: Exchange): string[][] =>
  [x.request.rawHeaders, x.forwarded?.rawHeaders ?? [], x.response?.rawHeaders ?? [], x.upstreamResponse?.rawHeaders ?? []].map((raw) => raw.filter((_, i) => i % 2 === 0));

describe('whole exchanges', () => {
  it('redacts all four head views and the rule changes, without mutating the input', () => {
    const x = fullExchange();
    // structuredClone turns a Buffer into a Uint8Array, so the body is compared apart.
    const snapshot = structuredClone({ ...x, bodies: undefined });
    const body = Buffer.from(x.bodies!.request!.bytes);
    const json = JSON.stringify(x);
    const out = redactor.exchange(x);
    assert.deepEqual({ ...x, bodies: undefined }, snapshot, 'input not mutated');
    assert.deepEqual(x.bodies?.request?.bytes, body);
    assert.equal(out.bodies, x.bodies);
    assert.equal(JSON.stringify(x), json);
    assert.notEqual(out, x);

    const text = JSON.stringify(out);
    for (const secret of SECRETS) assert.equal(text.includes(secret), false, `${secret.slice(0, 20)}… leaked`);
    assert.deepEqual(namesOf(out), namesOf(x), 'names, order and repeats kept');

    assert.equal(out.request.rawHeaders[3], `NTLM ${redacted(NTLM_TYPE3)}`);
    assert.equal(out.request.rawHeaders[9], 'MapiContext=<redacted 15 bytes>; MapiSequence=<redacted 15 bytes>');
    assert.equal(out.response?.rawHeaders[1], `NTLM ${redacted(NTLM_TYPE2)}`);
    assert.equal(out.response?.rawHeaders[3], 'Negotiate');
    assert.equal(out.upstreamResponse?.rawHeaders[5], 'MapiContext=<redacted 15 bytes>; path=/mapi/emsmdb/; HttpOnly');
    assert.equal(out.rules?.[1]?.changes[0]?.after, `Bearer ${redacted(JWT)}`);
    assert.equal(out.rules?.[2]?.changes[0]?.before, 'MapiContext=<redacted 15 bytes>; path=/mapi/emsmdb/; HttpOnly, MapiSequence=<redacted 15 bytes>; path=/mapi/emsmdb/; HttpOnly');

    // Everything else is as it was.
    assert.deepEqual({ ...out, request: undefined, forwarded: undefined, response: undefined, upstreamResponse: undefined, rules: undefined }, { ...x, request: undefined, forwarded: undefined, response: undefined, upstreamResponse: undefined, rules: undefined });
    assert.equal(out.request.url, x.request.url);
    assert.equal(out.forwarded?.path, x.forwarded?.path);
    assert.equal(out.response?.statusCode, 401);
    assert.equal(out.rules?.[0], x.rules?.[0], 'rules without secrets are the same objects');
    assert.equal(out.rules?.[3]?.reason, 'over the cap');
  });

  it('hands back the input object when nothing is secret', () => {
    const x = fullExchange();
    x.request.rawHeaders = ['Host', 'mail.contoso.com', 'X-RequestType', 'Execute'];
    delete x.forwarded;
    x.response!.rawHeaders = ['WWW-Authenticate', 'Negotiate', 'WWW-Authenticate', 'NTLM', 'Content-Length', '0'];
    delete x.upstreamResponse;
    x.rules = [x.rules![0]!, x.rules![3]!];
    assert.equal(redactor.exchange(x), x);

    const bare = createExchange('tunnel', { address: '127.0.0.1', port: 1, connection: 1 }, { method: 'CONNECT', url: 'mail.contoso.com:443', httpVersion: '1.1', rawHeaders: ['Host', 'mail.contoso.com:443'] });
    assert.equal(redactor.exchange(bare), bare);
  });

  it('redacts one view alone, sharing the views that need nothing', () => {
    const x = fullExchange();
    x.request.rawHeaders = ['Host', 'h'];
    delete x.forwarded;
    delete x.rules;
    const out = redactor.exchange(x);
    assert.equal(out.request, x.request);
    assert.equal(out.forwarded, undefined);
    assert.equal(Object.hasOwn(out, 'forwarded'), false, 'no key added for an absent view');
    assert.equal(Object.hasOwn(out, 'rules'), false);
    assert.notEqual(out.response, x.response);
  });

  it('is idempotent: a redacted exchange comes back as itself', () => {
    const once = redactor.exchange(fullExchange());
    assert.equal(redactor.exchange(once), once);
  });
});

describe('redaction off (--no-redact)', () => {
  it('is the identity everywhere', () => {
    const off = createRedactor({ enabled: false, extraHeaders: ['X-Api-Key'] });
    assert.equal(off.enabled, false);
    assert.equal(redactor.enabled, true);
    const x = fullExchange();
    assert.equal(off.exchange(x), x);
    assert.equal(off.headers(x.request.rawHeaders), x.request.rawHeaders);
    assert.equal(off.changes(x.rules![1]!.changes), x.rules![1]!.changes);
    assert.equal(off.value('Authorization', `NTLM ${NTLM_TYPE3}`), `NTLM ${NTLM_TYPE3}`);
    assert.equal(off.value('X-Api-Key', 'k'), 'k');
    assert.equal(JSON.stringify(off.exchange(x)).includes(NTLM_TYPE3), true);
  });
});

describe('URL credentials', () => {
  const redactor = createRedactor({ enabled: true, extraHeaders: [] });
  it('redacts the userinfo of a URL, keeping its shape', () => {
    assert.equal(redactor.url('http://alice:s3cret@host.lab:8080/a?b=1'), 'http://<redacted 12 bytes>@host.lab:8080/a?b=1');
    assert.equal(redactor.url('http://host.lab/a@b'), 'http://host.lab/a@b');
    assert.equal(redactor.url('host.lab:443'), 'host.lab:443');
    assert.equal(redactor.url('http://h@host.lab/'), 'http://<redacted 1 byte>@host.lab/', 'a userinfo that also occurs in the scheme');
    assert.equal(redactor.url('http://a@b:c@host.lab/x@y'), 'http://<redacted 5 bytes>@host.lab/x@y');
    assert.equal(redactor.url('alice:s3cret@host.lab:443'), '<redacted 12 bytes>@host.lab:443', "a CONNECT's authority-form");
    assert.equal(redactor.url('<redacted 12 bytes>@host.lab:443'), '<redacted 12 bytes>@host.lab:443');
  });
  it('redacts both URLs of an exchange record', () => {
    const x = { url: 'http://u:p@h/x', request: { method: 'GET', url: 'http://u:p@h/x', httpVersion: '1.1', rawHeaders: [] } } as unknown as Exchange;
    const out = redactor.exchange(x);
    assert.equal(out.url, 'http://<redacted 3 bytes>@h/x');
    assert.equal(out.request.url, 'http://<redacted 3 bytes>@h/x');
    assert.equal(x.url, 'http://u:p@h/x', 'the input is not mutated');
  });
});

describe('query-string credentials (issue 21 finding 3)', () => {
  const redactor = createRedactor({ enabled: true, extraHeaders: [] });
  const enc = (n: number): string => `%3Credacted%20${n}%20byte${n === 1 ? '' : 's'}%3E`;

  it('redacts the values of well-known credential parameters, keeping names, order and the rest', () => {
    assert.equal(
      redactor.url('https://login.lab/cb?state=xyz&code=SplxlOBeZQQYbYS6WxSbIA&access_token=eyJhbGciOi.x.y#frag'),
      `https://login.lab/cb?state=xyz&code=${enc(22)}&access_token=${enc(14)}#frag`,
    );
    assert.equal(redactor.url('/x?Password=hunter2'), `/x?Password=${enc(7)}`, 'origin-form too, names in any case');
    assert.equal(redactor.url('/blob?sv=2022-11-02&se=2026-12-08&sig=abc%2Bdef%3D'), `/blob?sv=2022-11-02&se=2026-12-08&sig=${enc(12)}`, 'Azure SAS: only sig');
    assert.equal(redactor.url('/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=fe5f80f77d5f'), `/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=${enc(12)}`);
    assert.equal(redactor.url('/x?access%5Ftoken=t0k'), `/x?access%5Ftoken=${enc(3)}`, 'a percent-encoded name is still that name');
    for (const name of ['refresh_token', 'id_token', 'token', 'client_secret', 'secret', 'api_key', 'signature']) {
      assert.equal(redactor.url(`/x?${name}=s3cr3t`), `/x?${name}=${enc(6)}`, name);
    }
  });

  it('leaves URLs without such parameters as the same string, and empty values as they are', () => {
    for (const url of ['/mapi/emsmdb/?MailboxId=alice@contoso.com', '/a?b=1&c', '/a?code=', '/a?tokens=1&xsig=2', '/a#code=1', '/plain']) {
      assert.equal(redactor.url(url), url);
    }
  });

  it('redacts twice to the same text, and --redact-param adds names', () => {
    const once = redactor.url('/x?token=abc&tenant=t1');
    assert.equal(redactor.url(once), once);
    const more = createRedactor({ enabled: true, extraHeaders: [], extraParams: ['Tenant'] });
    assert.equal(more.url('/x?token=abc&tenant=t1'), `/x?token=${enc(3)}&tenant=${enc(2)}`);
  });

  it('redacts the record’s URLs and the forwarded path, never the input', () => {
    const x = createExchange('http', { address: '127.0.0.1', port: 1, connection: 1 }, { method: 'GET', url: 'http://h.lab/x?sig=abc', httpVersion: '1.1', rawHeaders: [] });
    x.forwarded = { path: '/x?sig=abc', rawHeaders: ['Host', 'h.lab'] };
    const out = redactor.exchange(x);
    assert.equal(out.url, `http://h.lab/x?sig=${enc(3)}`);
    assert.equal(out.request.url, `http://h.lab/x?sig=${enc(3)}`);
    assert.equal(out.forwarded?.path, `/x?sig=${enc(3)}`);
    assert.equal(x.forwarded.path, '/x?sig=abc', 'what was forwarded stays on the input');
  });

  it('names the redacted parameters of a recorded URL, for replay', () => {
    assert.deepEqual(redactedParams(redactor.url('/cb?state=s&code=abc&x=1&sig=def#f')), ['code', 'sig']);
    assert.deepEqual(redactedParams('/cb?state=s'), []);
    assert.deepEqual(redactedParams('/cb'), []);
  });

  it('redacts API-key headers by default, whole', () => {
    const raw = ['X-Api-Key', 'k-123', 'api-key', 'k-456', 'X-Auth-Token', 't', 'X-Amz-Security-Token', 'FwoG', 'Ocp-Apim-Subscription-Key', 'abc', 'X-Other', 'plain'];
    assert.deepEqual(redactor.headers(raw), [
      'X-Api-Key', '<redacted 5 bytes>', 'api-key', '<redacted 5 bytes>', 'X-Auth-Token', '<redacted 1 byte>',
      'X-Amz-Security-Token', '<redacted 4 bytes>', 'Ocp-Apim-Subscription-Key', '<redacted 3 bytes>', 'X-Other', 'plain',
    ]);
  });
});

describe('the head text of a malformed request, for the debug log', () => {
  const redactor = createRedactor({ enabled: true, extraHeaders: [] });

  it('redacts header values and the request-target, keeping everything else as it came', () => {
    const text = 'GET http://u:pw@h.lab/x?token=abc HTTP/1.1\r\nHost: h.lab\r\nAuthorization: Basic dXNlcjpwYXNz\r\nX-Api-Key: k1\r\nBad\x01Header: y\r\n';
    assert.equal(
      redactor.headText(text),
      'GET http://<redacted 4 bytes>@h.lab/x?token=%3Credacted%203%20bytes%3E HTTP/1.1\r\nHost: h.lab\r\nAuthorization: Basic <redacted 12 bytes>\r\nX-Api-Key: <redacted 2 bytes>\r\nBad\x01Header: y\r\n',
    );
  });

  it('redacts a value cut off by the 64-byte window, and an authority cut before its @', () => {
    assert.equal(redactor.headText('GET / HTTP/1.1\r\nAuthorization: Bearer eyJhbGciOiJI'), 'GET / HTTP/1.1\r\nAuthorization: Bearer <redacted 12 bytes>');
    assert.equal(redactor.headText('GET http://alice:s3cr'), 'GET http://<redacted 10 bytes>');
    assert.equal(redactor.headText('GET /ok HTTP/1.1\r\nHost: h'), 'GET /ok HTTP/1.1\r\nHost: h');
  });

  it('is the identity with --no-redact', () => {
    const text = 'GET / HTTP/1.1\r\nAuthorization: Basic abc\r\n';
    assert.equal(createRedactor({ enabled: false, extraHeaders: [] }).headText(text), text);
  });
});
