/**
 * Rule matchers and the facts they read (src/rules/matchers.ts, src/rules/facts.ts): each
 * matcher answers true, false, or undefined while its facts are not known yet; facts come from
 * the request head, the FPSE body's first line, the response head and the FPSE packet.
 * No sockets (STYLE.md habit 9).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseVersion, type Version } from '../../src/core/version.js';
import { addFirstLine, addResponseBody, addResponseHead, awaitsRequestBody, requestFacts, type RequestHeadInput } from '../../src/rules/facts.js';
import { compilePattern, MATCHER_COMPILERS, type Matcher } from '../../src/rules/matchers.js';
import type { MatchFacts } from '../../src/rules/rule.js';

const fpseDir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/fixtures/fpse');
const fixture = (name: string): Buffer => readFileSync(join(fpseDir, name));

function v(text: string): Version {
  const parsed = parseVersion(text);
  assert.ok(parsed.ok, `${text} parses`);
  return parsed.version;
}

function m(name: string, arg: unknown): Matcher {
  const compile = MATCHER_COMPILERS[name];
  assert.ok(compile !== undefined, `matcher ${name} exists`);
  return compile(arg);
}

/** Plain HTTP facts with everything known, overridable per test. */
function facts(over: Partial<MatchFacts> = {}): MatchFacts {
  return {
    method: 'GET',
    host: 'mail.contoso.com',
    path: '/index.html',
    client: '10.1.2.3',
    requestHeaders: [],
    protocol: 'http',
    requestType: null,
    fpseMethod: null,
    clientVersion: null,
    serverVersion: null,
    ...over,
  };
}

const MAPI_HEAD: RequestHeadInput = {
  method: 'POST',
  host: 'Mail.Contoso.COM',
  path: '/mapi/emsmdb/?MailboxId=a@contoso.com',
  client: '::ffff:10.1.2.3',
  rawHeaders: ['Content-Type', 'application/mapi-http', 'X-RequestType', 'connect', 'X-ClientApplication', 'Outlook/16.0.15928.20006', 'X-ClientInfo', '{2F1F}-1'],
};

const FPSE_HEAD: RequestHeadInput = {
  method: 'POST',
  host: 'sp.contoso.com',
  path: '/sites/a/_vti_bin/_vti_aut/author.dll',
  client: '10.0.0.9',
  rawHeaders: ['Content-Type', 'application/x-www-form-urlencoded', 'X-Vermeer-Content-Type', 'application/x-www-form-urlencoded'],
};

// ---------------------------------------------------------------------------------------------

describe('compilePattern', () => {
  it('turns a glob into an anchored, case-insensitive regex with . literal', () => {
    const { regex, isRegex } = compilePattern('*.contoso.com');
    assert.equal(isRegex, false);
    assert.equal(regex.test('mail.contoso.com'), true);
    assert.equal(regex.test('MAIL.CONTOSO.COM'), true);
    assert.equal(regex.test('a.b.contoso.com'), true, '* spans dots');
    assert.equal(regex.test('contoso.com'), false, 'the dot before contoso is required');
    assert.equal(regex.test('mailxcontoso.com'), false, '. is literal, not any character');
    assert.equal(regex.test('mail.contoso.com.evil.net'), false, 'anchored at the end');
    assert.equal(regex.test('evil.net/mail.contoso.com'), true, '* matches any run, / included');
  });

  it('reads ? as one character and escapes regex syntax in globs', () => {
    assert.equal(compilePattern('web?.contoso.com').regex.test('web1.contoso.com'), true);
    assert.equal(compilePattern('web?.contoso.com').regex.test('web12.contoso.com'), false);
    assert.equal(compilePattern('/a+b(c)').regex.test('/a+b(c)'), true);
    assert.equal(compilePattern('/a+b(c)').regex.test('/aab(c)'), false);
  });

  it('uses /regex/flags as written, ignoring g and y so tests do not carry lastIndex', () => {
    const plain = compilePattern('/^mail\\d+\\./');
    assert.equal(plain.isRegex, true);
    assert.equal(plain.regex.test('mail12.contoso.com'), true);
    assert.equal(plain.regex.test('MAIL12.contoso.com'), false, 'a regex is case-sensitive unless it says i');
    assert.equal(compilePattern('/^MAIL/i').regex.test('mail'), true);
    const global = compilePattern('/emsmdb/gy');
    assert.equal(global.regex.test('/mapi/emsmdb/'), true);
    assert.equal(global.regex.test('/mapi/emsmdb/'), true, 'a second test gives the same answer');
  });
});

describe('matcher: host', () => {
  it('matches a glob case-insensitively and explains itself', () => {
    const host = m('host', '*.contoso.com');
    assert.equal(host.name, 'host');
    assert.equal(host.explain, 'host matches *.contoso.com');
    assert.equal(host.test(facts({ host: 'mail.contoso.com' })), true);
    assert.equal(host.test(facts({ host: 'Mail.Contoso.Com' })), true);
    assert.equal(host.test(facts({ host: 'contoso.com' })), false);
    assert.equal(host.test(facts({ host: 'mail.fabrikam.com' })), false);
  });

  it('matches an exact name only as a whole', () => {
    const host = m('host', 'mail.contoso.com');
    assert.equal(host.test(facts({ host: 'mail.contoso.com' })), true);
    assert.equal(host.test(facts({ host: 'xmail.contoso.com' })), false);
  });
});

describe('matcher: path', () => {
  const mapiPath = '/mapi/emsmdb/?MailboxId=a@contoso.com';

  it('a glob reads the path without its query', () => {
    assert.equal(m('path', '/mapi/emsmdb/').test(facts({ path: mapiPath })), true);
    assert.equal(m('path', '/mapi/*').test(facts({ path: mapiPath })), true);
    assert.equal(m('path', '/MAPI/*').test(facts({ path: mapiPath })), true, 'globs are case-insensitive');
    assert.equal(m('path', '*MailboxId*').test(facts({ path: mapiPath })), false, 'the query is not part of what a glob sees');
    assert.equal(m('path', '/mapi/nspi/*').test(facts({ path: mapiPath })), false);
  });

  it('a /regex/ sees the query too', () => {
    const regex = m('path', '/MailboxId=a@/');
    assert.equal(regex.test(facts({ path: mapiPath })), true);
    assert.equal(regex.test(facts({ path: '/mapi/emsmdb/' })), false);
    assert.equal(regex.explain, 'path matches /MailboxId=a@/');
  });
});

describe('matcher: method', () => {
  it('takes one method or a list, in any case', () => {
    const list = m('method', ['GET', 'post']);
    assert.equal(list.explain, 'method is GET or POST');
    assert.equal(list.test(facts({ method: 'POST' })), true);
    assert.equal(list.test(facts({ method: 'get' })), true);
    assert.equal(list.test(facts({ method: 'PUT' })), false);
    assert.equal(m('method', 'OPTIONS').test(facts({ method: 'OPTIONS' })), true);
    assert.equal(m('method', 'OPTIONS').test(facts({ method: 'GET' })), false);
  });
});

describe('matcher: protocol', () => {
  it('compares the protocol and names it readably', () => {
    assert.equal(m('protocol', 'fpse').test(facts({ protocol: 'fpse' })), true);
    assert.equal(m('protocol', 'fpse').test(facts({ protocol: 'mapihttp' })), false);
    assert.equal(m('protocol', 'fpse').explain, 'protocol is FPSE');
    assert.equal(m('protocol', 'mapihttp').explain, 'protocol is MAPI/HTTP');
    assert.equal(m('protocol', 'http').explain, 'protocol is plain HTTP');
    assert.equal(m('protocol', 'http').test(facts()), true);
  });
});

describe('matcher: requestType', () => {
  it('compares in the canonical spelling, whatever case the rule used', () => {
    const connect = m('requestType', 'connect');
    assert.equal(connect.explain, 'MAPI/HTTP request type is Connect');
    assert.equal(connect.test(facts({ protocol: 'mapihttp', requestType: 'Connect' })), true);
    assert.equal(connect.test(facts({ protocol: 'mapihttp', requestType: 'Execute' })), false);
    assert.equal(m('requestType', 'ping').test(facts({ protocol: 'mapihttp', requestType: 'PING' })), true);
    assert.equal(m('requestType', 'NOTIFICATIONWAIT').test(facts({ protocol: 'mapihttp', requestType: 'NotificationWait' })), true);
  });

  it('is false when the exchange has no request type, undefined when not known', () => {
    const connect = m('requestType', 'Connect');
    assert.equal(connect.test(facts({ requestType: null })), false);
    assert.equal(connect.test(facts({ requestType: undefined })), undefined);
  });

  it('matches the canonical type requestFacts derives from a lower-case header', () => {
    assert.equal(m('requestType', 'Connect').test(requestFacts(MAPI_HEAD)), true);
  });
});

describe('matcher: fpseMethod', () => {
  it('ignores case, underscores and runs of spaces', () => {
    const open = m('fpseMethod', 'Open_Service');
    assert.equal(open.explain, 'FPSE method is "open service"');
    assert.equal(open.test(facts({ protocol: 'fpse', fpseMethod: 'open service' })), true);
    assert.equal(open.test(facts({ protocol: 'fpse', fpseMethod: 'Open  Service' })), true);
    assert.equal(open.test(facts({ protocol: 'fpse', fpseMethod: 'open_service' })), true);
    assert.equal(open.test(facts({ protocol: 'fpse', fpseMethod: 'server version' })), false);
    assert.equal(open.test(facts({ protocol: 'fpse', fpseMethod: 'open services' })), false);
  });

  it('is undefined until the first line is read, false when there is no method', () => {
    const open = m('fpseMethod', 'open service');
    assert.equal(open.test(facts({ protocol: 'fpse', fpseMethod: undefined })), undefined);
    assert.equal(open.test(facts({ protocol: 'fpse', fpseMethod: null })), false);
  });
});

describe('matchers: clientVersion and serverVersion ranges', () => {
  it('tests a client version against a range; undefined facts are undecided, null is false', () => {
    const old = m('clientVersion', '< 4.0.2.2611');
    assert.equal(old.explain, 'client version is < 4.0.2.2611');
    assert.equal(old.test(facts({ clientVersion: v('4.0.2.2610') })), true);
    assert.equal(old.test(facts({ clientVersion: v('4.0.2.2611') })), false);
    assert.equal(old.test(facts({ clientVersion: v('12.0.0.6415') })), false);
    assert.equal(old.test(facts({ clientVersion: undefined })), undefined);
    assert.equal(old.test(facts({ clientVersion: null })), false);
  });

  it('ANDs terms and compares zero-padded parts as numbers', () => {
    const mapi = m('serverVersion', '>= 15.0.847.32 < 15.1');
    assert.equal(mapi.explain, 'server version is >= 15.0.847.32 < 15.1');
    assert.equal(mapi.test(facts({ serverVersion: v('Exchange/15.00.0847.032') })), true);
    assert.equal(mapi.test(facts({ serverVersion: v('15.00.0846.000') })), false);
    assert.equal(mapi.test(facts({ serverVersion: v('15.01.2507.006') })), false);
    assert.equal(mapi.test(facts({ serverVersion: undefined })), undefined);
    assert.equal(mapi.test(facts({ serverVersion: null })), false);
  });

  it('reads only its own fact', () => {
    const server = m('serverVersion', 'any');
    assert.equal(server.test(facts({ clientVersion: v('1.0.0.0'), serverVersion: undefined })), undefined);
    assert.equal(server.test(facts({ clientVersion: undefined, serverVersion: v('1.0.0.0') })), true);
  });

  it('refuses a range load.ts would have refused (a bug, not input)', () => {
    assert.throws(() => m('clientVersion', '<< 4'), /unvalidated clientVersion range/);
  });
});

describe('matcher: header', () => {
  const headers = ['X-ClientInfo', '{2F1F}-1', 'Accept', '*/*', 'x-clientapplication', 'Outlook/16.0.15928.20006', 'X-Tag', 'one', 'X-Tag', 'two'];

  it('matches presence with true, by name in any case', () => {
    assert.equal(m('header', { 'x-clientinfo': true }).test(facts({ requestHeaders: headers })), true);
    assert.equal(m('header', { 'X-RequestId': true }).test(facts({ requestHeaders: headers })), false);
    assert.equal(m('header', { 'X-ClientInfo': true }).explain, 'has header X-ClientInfo');
  });

  it('compares a plain value whole and case-sensitively: * is not a wildcard in values', () => {
    assert.equal(m('header', { Accept: '*/*' }).test(facts({ requestHeaders: headers })), true);
    assert.equal(m('header', { Accept: '*/*' }).test(facts({ requestHeaders: ['Accept', 'text/html'] })), false);
    assert.equal(m('header', { 'X-Tag': 'ONE' }).test(facts({ requestHeaders: headers })), false);
    assert.equal(m('header', { 'X-Tag': 'two' }).test(facts({ requestHeaders: headers })), true, 'any of the repeated values');
    assert.equal(m('header', { 'X-Tag': 'two' }).explain, 'header X-Tag is "two"');
  });

  it('matches a /regex/ against each value', () => {
    const outlook = m('header', { 'X-ClientApplication': '/^Outlook\\/1[56]\\./' });
    assert.equal(outlook.explain, 'header X-ClientApplication matches /^Outlook\\/1[56]\\./');
    assert.equal(outlook.test(facts({ requestHeaders: headers })), true);
    assert.equal(outlook.test(facts({ requestHeaders: ['X-ClientApplication', 'Outlook/14.0.7268.5000'] })), false);
    assert.equal(outlook.test(facts({ requestHeaders: [] })), false);
  });

  it('ANDs several headers', () => {
    const both = m('header', { 'X-ClientInfo': true, 'X-Tag': 'three' });
    assert.equal(both.test(facts({ requestHeaders: headers })), false);
    assert.equal(both.test(facts({ requestHeaders: [...headers, 'X-Tag', 'three'] })), true);
    assert.equal(both.explain, 'has header X-ClientInfo and header X-Tag is "three"');
  });
});

describe('matcher: client', () => {
  it('matches one address exactly', () => {
    const one = m('client', '10.1.2.3');
    assert.equal(one.explain, 'client address is 10.1.2.3');
    assert.equal(one.test(facts({ client: '10.1.2.3' })), true);
    assert.equal(one.test(facts({ client: '10.1.2.4' })), false);
  });

  it('matches an IPv4 CIDR', () => {
    const net = m('client', '10.0.0.0/8');
    assert.equal(net.explain, 'client address is in 10.0.0.0/8');
    assert.equal(net.test(facts({ client: '10.255.0.1' })), true);
    assert.equal(net.test(facts({ client: '11.0.0.1' })), false);
    assert.equal(net.test(facts({ client: '::1' })), false);
  });

  it('matches IPv6 addresses and CIDRs', () => {
    const net = m('client', '2001:db8::/32');
    assert.equal(net.test(facts({ client: '2001:db8:0:1::5' })), true);
    assert.equal(net.test(facts({ client: '2001:db9::5' })), false);
    assert.equal(net.test(facts({ client: '10.1.2.3' })), false);
    assert.equal(m('client', '::1').test(facts({ client: '::1' })), true);
    assert.equal(m('client', '::1').test(facts({ client: '127.0.0.1' })), false);
  });

  it('matches an IPv4 rule for a dual-stack client, whose address requestFacts unwraps', () => {
    const f = requestFacts(MAPI_HEAD);
    assert.equal(f.client, '10.1.2.3');
    assert.equal(m('client', '10.0.0.0/8').test(f), true);
    assert.equal(m('client', '10.1.2.3').test(f), true);
    assert.equal(m('client', '192.168.0.0/16').test(f), false);
  });

  it('still matches an IPv4-mapped address handed to it unwrapped or not', () => {
    assert.equal(m('client', '10.0.0.0/8').test(facts({ client: '::ffff:10.1.2.3' })), true);
    assert.equal(m('client', '10.0.0.0/8').test(facts({ client: '::ffff:192.168.1.1' })), false);
  });
});

describe('MATCHER_COMPILERS', () => {
  it('has exactly the matchers docs/rules.md names', () => {
    assert.deepEqual(Object.keys(MATCHER_COMPILERS).sort(), ['client', 'clientVersion', 'fpseMethod', 'header', 'host', 'method', 'path', 'protocol', 'requestType', 'serverVersion'].sort());
    assert.ok(Object.isFrozen(MATCHER_COMPILERS));
  });
});

// ---------------------------------------------------------------------------------------------

describe('requestFacts', () => {
  it('reads a MAPI/HTTP POST: canonical X-RequestType, the client version, no FPSE method', () => {
    const f = requestFacts(MAPI_HEAD);
    assert.equal(f.protocol, 'mapihttp');
    assert.equal(f.host, 'mail.contoso.com', 'host lower-cased');
    assert.equal(f.path, MAPI_HEAD.path, 'path kept with its query');
    assert.equal(f.requestType, 'Connect');
    assert.equal(f.fpseMethod, null);
    assert.deepEqual(f.clientVersion?.parts, [16, 0, 15928, 20006]);
    assert.equal(f.clientVersion?.product, 'Outlook');
    assert.equal(f.serverVersion, undefined, 'known only from the response');
    assert.equal(f.requestHeaders, MAPI_HEAD.rawHeaders);
    assert.equal(awaitsRequestBody(f), false);
  });

  it('MAPI/HTTP without or with an unreadable X-ClientApplication: clientVersion null', () => {
    const without = requestFacts({ ...MAPI_HEAD, rawHeaders: ['Content-Type', 'application/mapi-http', 'X-RequestType', 'Execute'] });
    assert.equal(without.protocol, 'mapihttp');
    assert.equal(without.clientVersion, null);
    assert.equal(without.requestType, 'Execute');
    const garbled = requestFacts({ ...MAPI_HEAD, rawHeaders: ['X-RequestType', 'Execute', 'X-ClientApplication', 'Outlook/sixteen'] });
    assert.equal(garbled.protocol, 'mapihttp');
    assert.equal(garbled.clientVersion, null);
  });

  it('MAPI/HTTP without X-RequestType but with its Content-Type: requestType null', () => {
    const f = requestFacts({ ...MAPI_HEAD, rawHeaders: ['Content-Type', 'application/mapi-http'] });
    assert.equal(f.protocol, 'mapihttp');
    assert.equal(f.requestType, null);
  });

  it('an FPSE RPC POST: method and client version undefined until the first line is read', () => {
    const f = requestFacts(FPSE_HEAD);
    assert.equal(f.protocol, 'fpse');
    assert.equal(f.fpseEndpoint, 'author');
    assert.equal(f.requestType, null);
    // (compared as booleans: assert.equal would narrow the facts to undefined for the rest of the test)
    assert.equal(f.fpseMethod === undefined, true);
    assert.equal(f.clientVersion === undefined, true);
    assert.equal(awaitsRequestBody(f), true);

    addFirstLine(f, Buffer.from('method=server+version%3a12%2e0%2e0%2e6415'));
    assert.equal(f.fpseMethod, 'server version');
    assert.deepEqual(f.clientVersion?.parts, [12, 0, 0, 6415]);
    assert.equal(awaitsRequestBody(f), false);
  });

  it('addFirstLine reads the fixtures: Office open service, no method, no line at all', () => {
    const office = requestFacts(FPSE_HEAD);
    addFirstLine(office, fixture('req-open-service-office.txt'));
    assert.equal(office.fpseMethod, 'open service');
    assert.equal(office.clientVersion?.text, '12.0.0.6415');

    const bare = requestFacts(FPSE_HEAD);
    addFirstLine(bare, fixture('req-server-version-bare.txt'));
    assert.equal(bare.fpseMethod, 'server version');
    assert.equal(bare.clientVersion, null, 'no version in the method value');

    const noMethod = requestFacts(FPSE_HEAD);
    addFirstLine(noMethod, fixture('req-no-method.txt'));
    assert.equal(noMethod.fpseMethod, null);
    assert.equal(noMethod.clientVersion, null);

    const none = requestFacts(FPSE_HEAD);
    addFirstLine(none, undefined);
    assert.equal(none.fpseMethod, null);
    assert.equal(none.clientVersion, null);
    assert.equal(awaitsRequestBody(none), false);
  });

  it('the _vti_inf.html GET: FPSE without method or client version (null, not undefined)', () => {
    const f = requestFacts({ method: 'GET', host: 'sp.contoso.com', path: '/_vti_inf.html', client: '10.0.0.9', rawHeaders: [] });
    assert.equal(f.protocol, 'fpse');
    assert.equal(f.fpseEndpoint, 'vti-inf');
    assert.equal(f.fpseMethod, null);
    assert.equal(f.clientVersion, null);
    assert.equal(awaitsRequestBody(f), false);
  });

  it('plain HTTP: every protocol fact known to be absent', () => {
    const f = requestFacts({ method: 'GET', host: 'WWW.example.org', path: '/a?b=c', client: '192.168.1.20', rawHeaders: ['Host', 'www.example.org'] });
    assert.equal(f.protocol, 'http');
    assert.equal(f.host, 'www.example.org');
    assert.equal(f.requestType, null);
    assert.equal(f.fpseMethod, null);
    assert.equal(f.clientVersion, null);
    assert.equal(f.serverVersion, undefined);
    assert.equal(f.client, '192.168.1.20');
    assert.equal(f.fpseEndpoint, undefined);
  });

  it('a GET to a MAPI path is not MAPI/HTTP', () => {
    assert.equal(requestFacts({ ...MAPI_HEAD, method: 'GET' }).protocol, 'http');
  });

  it('keeps a real IPv6 client address as it is', () => {
    assert.equal(requestFacts({ ...MAPI_HEAD, client: '2001:db8::5' }).client, '2001:db8::5');
    assert.equal(requestFacts({ ...MAPI_HEAD, client: '::ffff:abcd' }).client, '::ffff:abcd');
  });
});

describe('addResponseHead / addResponseBody', () => {
  it('MAPI/HTTP: the server version comes from X-ServerApplication', () => {
    const f = requestFacts(MAPI_HEAD);
    addResponseHead(f, 200, ['X-ServerApplication', 'Exchange/15.02.1544.014', 'X-ResponseCode', '0']);
    assert.equal(f.status, 200);
    assert.deepEqual(f.responseHeaders, ['X-ServerApplication', 'Exchange/15.02.1544.014', 'X-ResponseCode', '0']);
    assert.deepEqual(f.serverVersion?.parts, [15, 2, 1544, 14]);

    const none = requestFacts(MAPI_HEAD);
    addResponseHead(none, 200, []);
    assert.equal(none.serverVersion, null);
  });

  it('plain HTTP: no server version; FPSE: still unknown after the head', () => {
    const http = requestFacts({ method: 'GET', host: 'h', path: '/', client: '10.0.0.1', rawHeaders: [] });
    addResponseHead(http, 404, ['Server', 'Microsoft-IIS/10.0']);
    assert.equal(http.serverVersion, null);
    assert.equal(http.status, 404);

    const fpse = requestFacts(FPSE_HEAD);
    addResponseHead(fpse, 200, ['MicrosoftSharePointTeamServices', '14.0.0.6029']);
    assert.equal(fpse.serverVersion, undefined, 'FPSE states its build in the packet');
  });

  it('FPSE: the server version from the packet list (not the method line)', () => {
    const sp2010 = requestFacts(FPSE_HEAD);
    addResponseBody(sp2010, fixture('resp-server-version-sp2010.txt'));
    assert.deepEqual(sp2010.serverVersion?.parts, [14, 0, 0, 6029]);

    const wss2 = requestFacts(FPSE_HEAD);
    addResponseBody(wss2, fixture('resp-server-version-wss2.txt'));
    assert.deepEqual(wss2.serverVersion?.parts, [6, 0, 2, 5528], 'the list, not the normalised 6.0.0.0 echo');
  });

  it('FPSE: no packet collected leaves the server version unknown; one without a version list gives null', () => {
    // Unknown, not null: rules that needed it are then recorded as skipped (issue 4, item 7).
    const missing = requestFacts(FPSE_HEAD);
    addResponseBody(missing, undefined);
    assert.equal(missing.serverVersion, undefined);

    const error = requestFacts(FPSE_HEAD);
    addResponseBody(error, fixture('resp-error-client-too-old.txt'));
    assert.equal(error.serverVersion, null);
  });

  it('FPSE _vti_inf.html: the server version is FPVersion', () => {
    const f = requestFacts({ method: 'GET', host: 'sp.contoso.com', path: '/_vti_inf.html', client: '10.0.0.9', rawHeaders: [] });
    addResponseBody(f, fixture('vti-inf-unix-fpse2002.html'));
    assert.deepEqual(f.serverVersion?.parts, [5, 0, 2, 4330]);
  });

  it('does not overwrite a MAPI/HTTP server version with null when no body was read', () => {
    const f = requestFacts(MAPI_HEAD);
    addResponseHead(f, 200, ['X-ServerApplication', 'Exchange/15.00.0847.032']);
    addResponseBody(f, undefined);
    assert.deepEqual(f.serverVersion?.parts, [15, 0, 847, 32]);
  });
});
