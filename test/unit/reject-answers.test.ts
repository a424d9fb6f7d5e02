/**
 * The `reject` answers (docs/rules.md "Actions"): each is what the protocol's own server would
 * send, and parses back with the proxy's own observers (docs/protocols.md §1.4, §1.7, §2.5, §4.5, §4.11).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getHeader, getHeaderValues } from '../../src/core/raw-headers.js';
import { parseFpsePacket } from '../../src/protocols/fpse-packet.js';
import { formatErrorPage } from '../../src/protocols/mapihttp-format.js';
import { echoProblems, observeMapiRequest, observeMapiResponse } from '../../src/protocols/mapihttp.js';
import {
  DEFAULT_SERVER_APPLICATION,
  fpseRejectAnswer,
  httpRejectAnswer,
  mapiRejectAnswer,
  parseFpseRejectStatus,
  type RuleAnswer,
} from '../../src/rules/reject-answers.js';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/fixtures/fpse');
const fixture = (name: string): string => readFileSync(join(dir, name), 'latin1');

/** Every answer states its own length, once, and it is right. */
function assertLength(answer: RuleAnswer): void {
  assert.deepEqual(getHeaderValues(answer.rawHeaders, 'Content-Length'), [String(answer.body.length)]);
  assert.equal(answer.rawHeaders.length % 2, 0);
}

describe('parseFpseRejectStatus', () => {
  it('reads the name, decimal and hex', () => {
    assert.equal(parseFpseRejectStatus('client-too-old'), 262156);
    assert.equal(parseFpseRejectStatus('0x0004000C'), 262156);
    assert.equal(parseFpseRejectStatus('0x0004000c'), 262156);
    assert.equal(parseFpseRejectStatus('262156'), 262156);
    assert.equal(parseFpseRejectStatus(262156), 262156);
    assert.equal(parseFpseRejectStatus(' 589829 '), 589829);
    assert.equal(parseFpseRejectStatus('-1'), -1);
  });

  it('gives codes with the top bit set as 32-bit signed numbers, as Alfresco writes them (§2.5)', () => {
    assert.equal(parseFpseRejectStatus('0x80131600'), 0x80131600 | 0);
    assert.equal(parseFpseRejectStatus(0x82000006), 0x82000006 | 0);
    assert.equal(parseFpseRejectStatus('0xFFFFFFFF'), -1);
  });
});

describe('fpseRejectAnswer (§2.5, §4.11)', () => {
  it('answers a too-old client with status 262156 in a vermeer RPC packet', () => {
    const answer = fpseRejectAnswer(262156, { method: 'server version', methodVersion: '4.0.2.2000', serverVersion: '14.0.0.6029' });
    assert.equal(answer.status, 200);
    assert.equal(answer.statusMessage, 'OK');
    assert.equal(getHeader(answer.rawHeaders, 'Content-Type'), 'application/x-vermeer-rpc');
    assertLength(answer);
    assert.equal(answer.summary, 'FPSE status 262156 (0x0004000C, client too old)');
    const facts = parseFpsePacket(answer.body);
    assert.deepEqual(facts.problems, []);
    assert.equal(facts.isError, true);
    assert.equal(facts.method, 'server version');
    assert.equal(facts.status?.status, 262156);
    assert.equal(facts.status?.name, 'V_RPC_CLIENT_TOO_OLD');
    assert.equal(facts.status?.osstatus, 0);
    assert.equal(facts.status?.osmsg, '');
    assert.match(facts.status?.msg ?? '', /4\.0\.2\.2000 is too old.*4\.0\.2\.2611 or later/);
    // MS-FPSE 1.7.1: Min(client, server) on the method line; here the client's.
    assert.ok(facts.methodVersion?.ok);
    assert.equal(facts.methodVersion.version.text, '4.0.2.2000');
  });

  it('has the shape of the §4.11 packet line for line, only the msg text differing', () => {
    const answer = fpseRejectAnswer(262156, { method: 'server version', methodVersion: '4.0.2.2000' }).body.toString('latin1');
    const withoutMsg = (s: string): string => s.replace(/<li>msg=.*\n/, '<li>msg=…\n');
    assert.equal(withoutMsg(answer), withoutMsg(fixture('resp-error-client-too-old.txt')));
  });

  it('writes the server\'s version when only it is known (SDK format), none when neither is', () => {
    const server = parseFpsePacket(fpseRejectAnswer(262156, { method: 'open service', serverVersion: '5.0.2.6790' }).body);
    assert.ok(server.methodVersion?.ok);
    assert.equal(server.methodVersion.version.text, '5.0.2.6790');
    const neither = fpseRejectAnswer(262156, { method: 'open service' });
    const facts = parseFpsePacket(neither.body);
    assert.equal(facts.methodVersion, undefined);
    assert.match(neither.body.toString(), /<p>method=open service\n/);
    assert.match(facts.status?.msg ?? '', /^The client is too old for this server; version 4\.0\.2\.2611 or later is required\.$/);
  });

  it('ignores an unreadable client version and writes the Min when the client is newer', () => {
    const nmap = parseFpsePacket(fpseRejectAnswer(262156, { method: 'open service', methodVersion: 'FPVersion="5.0.2.2623"' }).body);
    assert.equal(nmap.methodVersion, undefined);
    const newer = parseFpsePacket(fpseRejectAnswer(589829, { method: 'get document', methodVersion: '16.0.0.4327', serverVersion: '14.0.0.6029' }).body);
    assert.ok(newer.methodVersion?.ok);
    assert.equal(newer.methodVersion.version.text, '14.0.0.6029');
  });

  it('says what other codes mean, as Alfresco does (V_BAD_URL), or gives the number', () => {
    const badUrl = fpseRejectAnswer(parseFpseRejectStatus('0x00090005'), { method: 'get document', methodVersion: '12.0.0.6415' });
    assert.equal(parseFpsePacket(badUrl.body).status?.msg, 'The provided URL is invalid.');
    assert.equal(badUrl.summary, 'FPSE status 589829 (0x00090005, the provided URL is invalid)');
    const unknown = fpseRejectAnswer(1234, { method: 'list documents' });
    assert.equal(parseFpsePacket(unknown.body).status?.msg, 'The request was refused with status 1234 (0x000004D2).');
    assert.equal(unknown.summary, 'FPSE status 1234 (0x000004D2)');
    const negative = fpseRejectAnswer(parseFpseRejectStatus('0x80131600'), { method: 'list versions' });
    assert.match(negative.body.toString(), /<li>status=-2146232832\n/);
    assert.equal(parseFpsePacket(negative.body).status?.hex, '0x80131600');
  });

  it('writes a packet for a request without a method, and keeps control characters out of it', () => {
    const none = fpseRejectAnswer(262156, { method: null, serverVersion: '14.0.0.6029' });
    const facts = parseFpsePacket(none.body);
    assert.equal(facts.method, '');
    assert.equal(facts.status?.status, 262156);
    const odd = fpseRejectAnswer(262156, { method: 'a\nb<c>\u0000', methodVersion: '3.0.2.1002' });
    const oddFacts = parseFpsePacket(odd.body);
    assert.deepEqual(oddFacts.problems, []);
    assert.equal(oddFacts.method, 'a b<c>');
  });
});

describe('mapiRejectAnswer (§1.4, §1.7, §4.5)', () => {
  const request = [
    'Host', 'mail.contoso.com',
    'Content-Length', '4',
    'Content-Type', 'application/mapi-http',
    'X-RequestType', 'Execute',
    'X-ClientInfo', '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:123',
    'X-RequestId', 'E2EA6C1C-E61B-49E9-9CFB-38184F907552:7',
    'X-ClientApplication', 'Outlook/16.0.15928.20006',
  ];
  const path = '/mapi/emsmdb/?MailboxId=416c6368-656d-794a-6f45-57615272456e@Contoso.com';

  it('answers context-not-found as Exchange does: 200, text/html, X-ResponseCode 10, the echoes', () => {
    const answer = mapiRejectAnswer('context-not-found', { requestHeaders: request });
    assert.equal(answer.status, 200);
    assert.equal(answer.statusMessage, 'OK');
    assertLength(answer);
    assert.equal(answer.summary, 'MAPI/HTTP X-ResponseCode 10 (Context Not Found)');
    assert.deepEqual(answer.body, formatErrorPage('The Session Context is not found.'));
    const facts = observeMapiResponse(answer.status, answer.rawHeaders);
    assert.deepEqual(facts.problems, []);
    assert.equal(facts.responseCode?.value, 10);
    assert.equal(facts.contentType, 'text/html');
    assert.equal(facts.serverApplication, DEFAULT_SERVER_APPLICATION);
    assert.equal(facts.expirationInfo, 900000);
    assert.deepEqual(echoProblems(observeMapiRequest(path, request), facts), []);
    assert.equal(getHeader(answer.rawHeaders, 'X-RequestType'), 'Execute');
  });

  it('takes a number, a numeric string or a kebab name, and the session\'s X-ServerApplication', () => {
    for (const arg of [16, '16', 'endpoint-disabled']) {
      const answer = mapiRejectAnswer(arg, { requestHeaders: request, serverApplication: 'Exchange/15.00.0847.4040' });
      const facts = observeMapiResponse(200, answer.rawHeaders);
      assert.equal(facts.responseCode?.kebab, 'endpoint-disabled');
      assert.equal(facts.serverApplication, 'Exchange/15.00.0847.4040');
      assert.match(answer.body.toString(), /The endpoint is disabled\./);
    }
  });

  it('echoes only what the request sent', () => {
    const answer = mapiRejectAnswer('invalid-request-type', { requestHeaders: ['Host', 'a', 'x-requestid', 'G:1'] });
    assert.equal(getHeader(answer.rawHeaders, 'X-RequestType'), undefined);
    assert.equal(getHeader(answer.rawHeaders, 'X-ClientInfo'), undefined);
    assert.equal(getHeader(answer.rawHeaders, 'X-RequestId'), 'G:1');
    assert.equal(observeMapiResponse(200, answer.rawHeaders).responseCode?.value, 5);
  });

  it('refuses success and unknown names as program errors (the loader rejects them first)', () => {
    assert.throws(() => mapiRejectAnswer('success', { requestHeaders: request }), RangeError);
    assert.throws(() => mapiRejectAnswer(0, { requestHeaders: request }), RangeError);
    assert.throws(() => mapiRejectAnswer('no-such-code', { requestHeaders: request }), RangeError);
  });
});

describe('httpRejectAnswer', () => {
  it('answers the status with a short text/plain body', () => {
    const answer = httpRejectAnswer(403);
    assert.equal(answer.status, 403);
    assert.equal(answer.statusMessage, 'Forbidden');
    assert.equal(answer.body.toString(), '403 Forbidden\n');
    assert.equal(getHeader(answer.rawHeaders, 'Content-Type'), 'text/plain; charset=utf-8');
    assertLength(answer);
    assert.equal(answer.summary, 'HTTP 403 Forbidden');
    assert.equal(httpRejectAnswer(503).statusMessage, 'Service Unavailable');
    assert.equal(httpRejectAnswer(599).statusMessage, 'Unknown');
  });

  it('sends no body (and no length) where HTTP allows none', () => {
    const answer = httpRejectAnswer(204);
    assert.equal(answer.body.length, 0);
    assert.deepEqual(answer.rawHeaders, []);
  });
});
