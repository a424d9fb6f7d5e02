/**
 * MAPI/HTTP heads: claiming, request and response facts, the X-ResponseCode table
 * (MS-OXCMAPIHTTP 2.2.2, 2.2.3; docs/protocols.md §1.2–§1.7, fixtures from §4).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RESPONSE_CODES,
  parseResponseCodeValues,
  responseCode,
  responseCodeByName,
} from '../../src/protocols/mapihttp-codes.js';
import {
  canonicalRequestType,
  claimsMapiHttp,
  echoProblems,
  effectiveResponseCode,
  mapiEndpoint,
  observeMapiRequest,
  observeMapiResponse,
  parseGuidCounter,
} from '../../src/protocols/mapihttp.js';
import { readHead } from '../fixtures/mapihttp/read.js';

const REQUEST_BASE = [
  'Host', 'mail.contoso.com',
  'Content-Length', '4',
  'Content-Type', 'application/mapi-http',
  'X-RequestType', 'Execute',
  'X-ClientInfo', '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:123',
  'X-RequestId', 'E2EA6C1C-E61B-49E9-9CFB-38184F907552:7',
  'X-ClientApplication', 'Outlook/16.0.15928.20006',
];
const EMSMDB = '/mapi/emsmdb/?MailboxId=416c6368-656d-794a-6f45-57615272456e@Contoso.com';

/** REQUEST_BASE with one header replaced (value undefined: removed). */
function withHeader(name: string, value: string | undefined, base = REQUEST_BASE): string[] {
  const out: string[] = [];
  for (let i = 0; i < base.length; i += 2) {
    if (base[i]!.toLowerCase() !== name.toLowerCase()) out.push(base[i]!, base[i + 1]!);
  }
  return value === undefined ? out : [...out, name, value];
}

describe('X-ResponseCode table (MS-OXCMAPIHTTP 2.2.3.3.3, docs/protocols.md §1.7)', () => {
  // Transcribed from docs/protocols.md §1.7, row by row.
  const SPEC_TABLE: Array<[number, string]> = [
    [0, 'Success'], [1, 'Unknown Failure'], [2, 'Invalid Verb'], [3, 'Invalid Path'], [4, 'Invalid Header'],
    [5, 'Invalid Request Type'], [6, 'Invalid Context Cookie'], [7, 'Missing Header'], [8, 'Anonymous Not Allowed'],
    [9, 'Too Large'], [10, 'Context Not Found'], [11, 'No Privilege'], [12, 'Invalid Request Body'],
    [13, 'Missing Cookie'], [14, 'Reserved'], [15, 'Invalid Sequence'], [16, 'Endpoint Disabled'],
    [17, 'Invalid Response'], [18, 'Endpoint Shutting Down'],
  ];

  it('has every row of §1.7 with its number, in order', () => {
    assert.deepEqual(RESPONSE_CODES.map((c) => [c.value, c.name]), SPEC_TABLE);
  });

  it('names codes in kebab case and finds them by kebab, spec name or number', () => {
    assert.deepEqual(responseCode(10), { value: 10, name: 'Context Not Found', kebab: 'context-not-found' });
    assert.equal(responseCode(18).kebab, 'endpoint-shutting-down');
    for (const code of RESPONSE_CODES) {
      assert.equal(responseCodeByName(code.kebab), code);
      assert.equal(responseCodeByName(String(code.value)), code);
      assert.equal(responseCodeByName(code.name), code);
    }
    assert.equal(responseCodeByName('CONTEXT-NOT-FOUND'), responseCode(10));
  });

  it('names unknown numbers without inventing meanings', () => {
    assert.deepEqual(responseCode(42), { value: 42, name: 'Unknown (42)', kebab: 'unknown-42' });
    assert.equal(responseCodeByName('42'), undefined);
    assert.equal(responseCodeByName('no-such-code'), undefined);
    assert.equal(responseCodeByName('-1'), undefined);
  });

  it('reads header values the way Microsoft\'s harness does: split on ",", the last counts', () => {
    assert.deepEqual(parseResponseCodeValues(['0']), { ok: true, code: responseCode(0), repeated: false });
    assert.deepEqual(parseResponseCodeValues(['0, 10']), { ok: true, code: responseCode(10), repeated: true });
    assert.deepEqual(parseResponseCodeValues(['0', '15']), { ok: true, code: responseCode(15), repeated: true });
    assert.deepEqual(parseResponseCodeValues(['007']), { ok: true, code: responseCode(7), repeated: false });
    assert.deepEqual(parseResponseCodeValues(['ten']), { ok: false, problem: 'X-ResponseCode "ten" is not a decimal number' });
    assert.equal(parseResponseCodeValues([]), undefined);
  });
});

describe('claimsMapiHttp (docs/protocols.md §1.2, §1.3)', () => {
  it('claims the §4.1 Connect and the §4.2 lower-case ProxyShell-era Connect', () => {
    for (const name of ['connect-request.http', 'proxyshell-connect-request.http']) {
      const head = readHead(name);
      assert.equal(claimsMapiHttp(head.method!, head.path!, head.raw), true, name);
    }
  });

  it('matches both endpoints case-insensitively, with or without query or trailing slash, in absolute form too', () => {
    for (const path of ['/mapi/emsmdb/', '/MAPI/EmsMdb/?mailboxid=a@b', '/mapi/nspi/?MailboxId=x', '/mapi/nspi', '/mapi/emsmdb?MailboxId=x', 'http://mail.contoso.com/mapi/emsmdb/?MailboxId=x']) {
      assert.equal(claimsMapiHttp('POST', path, REQUEST_BASE), true, path);
    }
    assert.equal(mapiEndpoint('https://h:443/Mapi/Nspi/?x'), 'nspi');
  });

  it('does not claim other methods, paths, or POSTs that do not say MAPI/HTTP', () => {
    assert.equal(claimsMapiHttp('GET', EMSMDB, REQUEST_BASE), false);
    assert.equal(claimsMapiHttp('POST', '/owa/', REQUEST_BASE), false);
    assert.equal(claimsMapiHttp('POST', '/mapi/emsmdbx/', REQUEST_BASE), false);
    assert.equal(claimsMapiHttp('POST', '/ecp/1.js', REQUEST_BASE), false);
    assert.equal(claimsMapiHttp('POST', '/x?/mapi/emsmdb/', REQUEST_BASE), false);
    const html = withHeader('X-RequestType', undefined, withHeader('Content-Type', 'text/html'));
    assert.equal(claimsMapiHttp('POST', EMSMDB, html), false);
  });

  it('accepts either sign: the media type (with parameters, any case) or an X-RequestType header', () => {
    assert.equal(claimsMapiHttp('POST', EMSMDB, ['Content-Type', 'Application/MAPI-HTTP; charset=binary']), true);
    assert.equal(claimsMapiHttp('POST', EMSMDB, ['x-requesttype', 'PING']), true);
  });
});

describe('observeMapiRequest', () => {
  it('reads the §4.1 Connect request', () => {
    const head = readHead('connect-request.http');
    const facts = observeMapiRequest(head.path!, head.raw);
    assert.equal(facts.endpoint, 'emsmdb');
    assert.equal(facts.requestType, 'Connect');
    assert.equal(facts.requestId, 'E2EA6C1C-E61B-49E9-9CFB-38184F907552:123456');
    assert.equal(facts.clientInfo, '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:123');
    assert.equal(facts.clientApplication, 'Outlook/16.0.15928.20006');
    assert.ok(facts.clientVersion?.ok === true);
    assert.deepEqual(facts.clientVersion.version.parts, [16, 0, 15928, 20006]);
    assert.equal(facts.mailboxId, '416c6368-656d-794a-6f45-57615272456e@Contoso.com');
    assert.equal(facts.deviceInfo, undefined);
    assert.deepEqual(facts.cookieNames, []);
    assert.deepEqual(facts.problems, []);
  });

  it('reads the §4.2 lower-case headers and notes the non-GUID ids Exchange accepted', () => {
    const head = readHead('proxyshell-connect-request.http');
    const facts = observeMapiRequest(head.path!, head.raw);
    assert.equal(facts.requestType, 'Connect');
    assert.ok(facts.clientVersion?.ok === true);
    assert.deepEqual(facts.clientVersion.version.parts, [15, 0, 4815, 1002]);
    assert.deepEqual(facts.problems, [
      'X-RequestId "x" is not GUID:counter (MS-OXCMAPIHTTP 2.2.3.3.2)',
      'X-ClientInfo "x" is not GUID:counter (MS-OXCMAPIHTTP 2.2.3.3.4)',
    ]);
  });

  it('names the cookies and never keeps their values', () => {
    const raw = [...REQUEST_BASE, 'Cookie', 'MapiContext=SECRET1; MapiSequence=SECRET2', 'Cookie', 'MapiRouting=SECRET3;sid=SECRET4'];
    const facts = observeMapiRequest(EMSMDB, raw);
    assert.deepEqual(facts.cookieNames, ['MapiContext', 'MapiSequence', 'MapiRouting', 'sid']);
    assert.doesNotMatch(JSON.stringify(facts), /SECRET/);
  });

  it('notes each missing mandatory header with its section', () => {
    const facts = observeMapiRequest(EMSMDB, ['Host', 'h']);
    assert.deepEqual(facts.problems, [
      'X-RequestType missing (MS-OXCMAPIHTTP 2.2.2.1 wants it on every request)',
      'X-RequestId missing (MS-OXCMAPIHTTP 2.2.2.1 wants it on every request)',
      'Content-Type missing (MS-OXCMAPIHTTP 2.2.2.1 wants it on every request)',
      'Content-Length missing (MS-OXCMAPIHTTP 2.2.2.1 wants it on every request)',
      'X-ClientApplication missing (MS-OXCMAPIHTTP 2.2.3.3.6 wants it on every request)',
      'X-ClientInfo missing (MS-OXCMAPIHTTP 2.2.3.3.4 wants it on every request)',
    ]);
    assert.equal(facts.clientVersion, undefined);
  });

  it('keeps a client version that is not one, with its problem', () => {
    const facts = observeMapiRequest(EMSMDB, withHeader('X-ClientApplication', 'Outlook/banana'));
    assert.equal(facts.clientApplication, 'Outlook/banana');
    assert.equal(facts.clientVersion?.ok, false);
    assert.equal(facts.problems.length, 1);
    assert.match(facts.problems[0]!, /^X-ClientApplication "Outlook\/banana" /);
  });

  it('reads unpadded and padded versions numerically, and the spec template without a space', () => {
    const facts = observeMapiRequest(EMSMDB, withHeader('X-ClientApplication', 'Outlook/15.00.0856.000'));
    assert.ok(facts.clientVersion?.ok === true);
    assert.deepEqual(facts.clientVersion.version.parts, [15, 0, 856, 0]);
  });

  it('notes a repeated header with different values, and uses the first', () => {
    const facts = observeMapiRequest(EMSMDB, [...REQUEST_BASE, 'x-requesttype', 'Connect']);
    assert.equal(facts.requestType, 'Execute');
    assert.deepEqual(facts.problems, ['X-RequestType repeated with different values ("Execute", "Connect"); the first counts']);
    assert.deepEqual(observeMapiRequest(EMSMDB, [...REQUEST_BASE, 'X-RequestType', 'Execute']).problems, []);
  });

  it('checks the request type against the endpoint, case-insensitively (2.2.3.3.1)', () => {
    assert.deepEqual(observeMapiRequest(EMSMDB, withHeader('X-RequestType', 'execute')).problems, []);
    assert.deepEqual(observeMapiRequest('/mapi/nspi/?MailboxId=a@b', withHeader('X-RequestType', 'DNToMId')).problems, []);
    assert.deepEqual(observeMapiRequest(EMSMDB, withHeader('X-RequestType', 'Bind')).problems, [
      'X-RequestType "Bind" is not a request type of /mapi/emsmdb/ (MS-OXCMAPIHTTP 2.2.3.3.1)',
    ]);
    assert.equal(canonicalRequestType('notificationwait'), 'NotificationWait');
    assert.equal(canonicalRequestType('CompareMinIds', 'nspi'), undefined);
    assert.equal(canonicalRequestType('PING', 'nspi'), 'PING');
  });

  it('reads X-DeviceInfo and notes one over 64 characters (2.2.3.3.11)', () => {
    assert.equal(observeMapiRequest(EMSMDB, [...REQUEST_BASE, 'X-DeviceInfo', 'proxy-1']).deviceInfo, 'proxy-1');
    const long = observeMapiRequest(EMSMDB, [...REQUEST_BASE, 'X-DeviceInfo', 'd'.repeat(65)]);
    assert.deepEqual(long.problems, ['X-DeviceInfo is 65 characters, over the 64 allowed (MS-OXCMAPIHTTP 2.2.3.3.11)']);
  });

  it('decodes the MailboxId and notes an endpoint without one', () => {
    assert.equal(observeMapiRequest('/mapi/nspi/?foo=1&mailboxid=a%40b.com', REQUEST_BASE).mailboxId, 'a@b.com');
    assert.equal(observeMapiRequest('/mapi/nspi/?MailboxId=%zz', REQUEST_BASE).mailboxId, '%zz');
    assert.deepEqual(observeMapiRequest('/mapi/emsmdb/', REQUEST_BASE).problems, [
      'no MailboxId in the query (Autodiscover-provided endpoints carry one, MS-OXDSCLI 4.4)',
    ]);
  });

  it('accepts chunked requests instead of Content-Length', () => {
    const raw = withHeader('Transfer-Encoding', 'chunked', withHeader('Content-Length', undefined));
    assert.deepEqual(observeMapiRequest(EMSMDB, raw).problems, []);
  });

  it('parses GUID:counter with or without braces', () => {
    assert.deepEqual(parseGuidCounter('{3146D993-9082-4D57-99ED-9E7D5EA4FA56}:8'), { guid: '3146D993-9082-4D57-99ED-9E7D5EA4FA56', counter: 8 });
    assert.deepEqual(parseGuidCounter('E2EA6C1C-E61B-49E9-9CFB-38184F907552:123456'), { guid: 'E2EA6C1C-E61B-49E9-9CFB-38184F907552', counter: 123456 });
    assert.equal(parseGuidCounter('x'), undefined);
    assert.equal(parseGuidCounter('E2EA6C1C-E61B-49E9-9CFB-38184F907552'), undefined);
  });
});

describe('observeMapiResponse', () => {
  it('reads the §4.1 Connect response', () => {
    const head = readHead('connect-response.http');
    const facts = observeMapiResponse(head.statusCode!, head.raw);
    assert.equal(facts.serverApplication, 'Exchange/15.02.1544.014');
    assert.ok(facts.serverVersion?.ok === true);
    assert.deepEqual(facts.serverVersion.version.parts, [15, 2, 1544, 14]);
    assert.equal(facts.requestType, 'Connect');
    assert.equal(facts.requestId, 'E2EA6C1C-E61B-49E9-9CFB-38184F907552:123456');
    assert.equal(facts.clientInfo, '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:123');
    assert.deepEqual(facts.responseCode, responseCode(0));
    assert.equal(facts.pendingPeriod, 15000);
    assert.equal(facts.expirationInfo, 900000);
    assert.equal(facts.contentType, 'application/mapi-http');
    assert.deepEqual(facts.setCookieNames, ['MapiContext', 'MapiSequence']);
    assert.doesNotMatch(JSON.stringify(facts), /e5b4f3b2a1c0|9f8e7d6c/);
    assert.deepEqual(facts.problems, []);
  });

  it('reads the §4.4 Exchange Online 401: a version, a routing cookie, no X-ResponseCode and no complaint', () => {
    const head = readHead('exo-bind-401-response.http');
    const facts = observeMapiResponse(head.statusCode!, head.raw);
    assert.ok(facts.serverVersion?.ok === true);
    assert.deepEqual(facts.serverVersion.version.parts, [15, 20, 485, 0]);
    assert.equal(facts.responseCode, undefined);
    assert.equal(facts.requestType, 'Bind');
    assert.deepEqual(facts.setCookieNames, ['MapiRouting']);
    assert.deepEqual(facts.problems, []);
  });

  it('reads the §4.5 gromox error page and notes what it does not echo', () => {
    const head = readHead('gromox-error-response.http');
    const facts = observeMapiResponse(head.statusCode!, head.raw);
    assert.deepEqual(facts.responseCode, { value: 10, name: 'Context Not Found', kebab: 'context-not-found' });
    assert.equal(facts.contentType, 'text/html');
    assert.ok(facts.serverVersion?.ok === true);
    assert.deepEqual(facts.serverVersion.version.parts, [15, 0, 847, 4040]);
    assert.deepEqual(facts.problems, [
      'X-RequestType not echoed (MS-OXCMAPIHTTP 2.2.3.3.1)',
      'X-RequestId not echoed (MS-OXCMAPIHTTP 2.2.3.3.2: the server MUST echo it)',
      'X-ClientInfo not echoed (MS-OXCMAPIHTTP 2.2.3.3.4: the server MUST echo it)',
    ]);
  });

  it('takes the last of duplicated X-ResponseCode values and notes it (§1.7)', () => {
    const base = readHead('connect-response.http').raw;
    const twoLines = observeMapiResponse(200, [...base.slice(), 'x-responsecode', '10']);
    assert.deepEqual(twoLines.responseCode, responseCode(10));
    assert.ok(twoLines.problems.includes('X-ResponseCode repeated ("0", "10"); the last value counts'));
    const oneLine = observeMapiResponse(200, ['X-ResponseCode', '0, 6']);
    assert.deepEqual(oneLine.responseCode, responseCode(6));
    assert.ok(oneLine.problems.includes('X-ResponseCode repeated ("0, 6"); the last value counts'));
  });

  it('notes a bad X-ResponseCode and a Content-Type that does not fit the code (2.2.3.2.2)', () => {
    const bad = observeMapiResponse(200, ['X-ResponseCode', 'ok']);
    assert.equal(bad.responseCode, undefined);
    assert.ok(bad.problems.includes('X-ResponseCode "ok" is not a decimal number'));
    const htmlOk = observeMapiResponse(200, ['X-ResponseCode', '0', 'Content-Type', 'text/html']);
    assert.ok(htmlOk.problems.includes('Content-Type "text/html" with X-ResponseCode 0; the spec wants application/mapi-http (MS-OXCMAPIHTTP 2.2.3.2.2)'));
    const mapiFail = observeMapiResponse(200, ['X-ResponseCode', '9', 'Content-Type', 'application/mapi-http']);
    assert.ok(mapiFail.problems.includes('Content-Type "application/mapi-http" with X-ResponseCode 9; the spec wants text/html (MS-OXCMAPIHTTP 2.2.3.2.2)'));
  });

  it('notes missing X-ServerApplication on any status, missing X-ResponseCode only on 200', () => {
    assert.deepEqual(observeMapiResponse(302, []).problems, ['X-ServerApplication missing (MS-OXCMAPIHTTP 2.2.3.3.7 wants it on every response)']);
    assert.ok(observeMapiResponse(200, []).problems.includes('X-ResponseCode missing on a 200 response (MS-OXCMAPIHTTP 2.2.2.2)'));
  });

  it('reads durations and notes ones that are not numbers', () => {
    const facts = observeMapiResponse(401, ['X-ServerApplication', 'Exchange/15.00.0847.4040', 'X-PendingPeriod', 'soon', 'X-ExpirationInfo', ' 1800000 ']);
    assert.equal(facts.pendingPeriod, undefined);
    assert.equal(facts.expirationInfo, 1800000);
    assert.deepEqual(facts.problems, ['X-PendingPeriod "soon" is not a number of milliseconds']);
  });

  it('keeps a server version that is not one, with its problem', () => {
    const facts = observeMapiResponse(401, ['X-ServerApplication', 'Exchange']);
    assert.equal(facts.serverVersion?.ok, false);
    assert.match(facts.problems[0]!, /^X-ServerApplication "Exchange" /);
  });
});

describe('request/response pairs', () => {
  it('finds no echo problem in the §4.1 pair and one for a changed X-RequestId', () => {
    const reqHead = readHead('connect-request.http');
    const request = observeMapiRequest(reqHead.path!, reqHead.raw);
    const response = observeMapiResponse(200, readHead('connect-response.http').raw);
    assert.deepEqual(echoProblems(request, response), []);
    const changed = { ...response, requestId: 'E2EA6C1C-E61B-49E9-9CFB-38184F907552:1' };
    assert.deepEqual(echoProblems(request, changed), [
      'X-RequestId echoed as "E2EA6C1C-E61B-49E9-9CFB-38184F907552:1" but the request sent "E2EA6C1C-E61B-49E9-9CFB-38184F907552:123456"',
    ]);
  });

  it('lets the X-ResponseCode after DONE decide, and marks a late failure (§1.8)', () => {
    const outerOk = { responseCode: responseCode(0) };
    assert.deepEqual(effectiveResponseCode(outerOk, { responseCode: responseCode(10) }), { code: responseCode(10), late: true });
    assert.deepEqual(effectiveResponseCode(outerOk, { responseCode: responseCode(0) }), { code: responseCode(0), late: false });
    assert.deepEqual(effectiveResponseCode(outerOk, undefined), { code: responseCode(0), late: false });
    assert.deepEqual(effectiveResponseCode({}, {}), { late: false });
  });
});
