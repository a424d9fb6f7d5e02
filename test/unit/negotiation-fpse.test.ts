/**
 * judgeFpse on decoded facts, for the cases the integration tests (verdicts*.test.ts) cannot
 * stage with the simulators: refusals of unreadable versions, a negotiation refused or answered
 * without a list, a client below the floor only because an old server brought the Min down, and
 * a new negotiation after a too-old server (MS-FPSE 1.7.1, 3.1.5.3.14).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FpseFacts } from '../../src/protocols/fpse-observation.js';
import { parseFpsePacket } from '../../src/protocols/fpse-packet.js';
import { decodeFpseFirstLine } from '../../src/protocols/fpse-request.js';
import { judgeFpse, type FpseConversation } from '../../src/protocols/negotiation-fpse.js';

const AGENT = 'MSFrontPage/12.0';

/** Facts of one RPC call: the request's first line and the answer's method line and list. */
function facts(line: string, answer: { method: string; list?: string; status?: number }): FpseFacts {
  const list = answer.list === undefined ? '' : listOf(answer.list);
  const status = answer.status === undefined ? '' : `<p>status=\n<ul>\n<li>status=${answer.status}\n<li>msg=refused\n</ul>\n`;
  const body = `<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=${answer.method}\n${status}${list}</body>\n</html>\n`;
  return { endpoint: 'author', requestHeaders: { problems: [] }, request: decodeFpseFirstLine(line), packet: parseFpsePacket(Buffer.from(body)) };
}

function listOf(build: string): string {
  const [major, minor, phase, incr] = build.split('.');
  return `<p>server version=\n<ul>\n<li>major ver=${major}\n<li>minor ver=${minor}\n<li>phase ver=${phase}\n<li>ver incr=${incr}\n</ul>\n`;
}

function codes(conv: FpseConversation, f: FpseFacts, agent = AGENT): Array<[string, string]> {
  return judgeFpse(conv, f, agent, 0).verdicts.map((v) => [v.code, v.level]);
}

describe('judgeFpse', () => {
  it('a refusal of a call whose version is unreadable or absent cannot be judged: a notice, not ok', () => {
    const nmap = facts('method=open+service:FPVersion="5.0.2.2623"', { method: 'open service', status: 262156 });
    const j = judgeFpse({}, nmap, AGENT, 1);
    assert.deepEqual(j.verdicts.map((v) => [v.code, v.level]), [['rejected-client-too-old', 'notice']]);
    assert.match(j.verdicts[0]!.message, /its version could not be read/);
    assert.equal(j.summary, 'fpse "open service" status=262156 (0x0004000C) problems=1 rejected-client-too-old');
    assert.deepEqual(codes({}, facts('method=open+service', { method: 'open service', status: 262156 })), [['rejected-client-too-old', 'notice']]);
    assert.deepEqual(codes({}, facts('method=open+service:3.0.2.1000', { method: 'open service', status: 262156 })), [['rejected-client-too-old', 'ok']]);
  });

  it('a refused server version call clears the negotiation it replaces', () => {
    const conv: FpseConversation = {};
    judgeFpse(conv, facts('method=server+version:12.0.0.6415', { method: 'server version:12.0.0.6415', list: '14.0.0.6029' }), AGENT, 0);
    const refused = judgeFpse(conv, facts('method=server+version:12.0.0.6415', { method: 'server version', status: 262156 }), AGENT, 0);
    assert.equal(refused.versions.negotiated, undefined);
    assert.deepEqual(codes(conv, facts('method=open+service:14.0.0.6029', { method: 'open service:14.0.0.6029' })), [['accepted', 'ok']]);
  });

  it('with the build unknown, a method line not above the client is what was negotiated', () => {
    const conv: FpseConversation = {};
    const j = judgeFpse(conv, facts('method=server+version:12.0.0.6415', { method: 'server version:6.0.0.0' }), AGENT, 0);
    assert.deepEqual(j.verdicts, []);
    assert.deepEqual(j.versions, { client: '12.0.0.6415', server: undefined, negotiated: '6.0.0.0' });
    assert.deepEqual(codes(conv, facts('method=open+service:12.0.0.6415', { method: 'open service:6.0.0.0' })).map(([c]) => c), ['client-ignored-negotiated']);
  });

  it('server-should-have-rejected: not for a client sending the Min an old server brought below the floor', () => {
    const conv: FpseConversation = {};
    const old = '3.0.2.1330';
    assert.deepEqual(codes(conv, facts('method=server+version:12.0.0.6415', { method: `server version:${old}`, list: old })), [['accepted', 'ok']]);
    assert.deepEqual(codes(conv, facts(`method=open+service:${old}`, { method: `open service:${old}` })), [['accepted', 'ok']]);
    // A client that states such a version as its own is still the server's to refuse.
    assert.deepEqual(codes({}, facts(`method=server+version:${old}`, { method: `server version:${old}`, list: '14.0.0.6029' })), [['accepted', 'ok'], ['server-should-have-rejected', 'violation']]);
  });

  it('client-kept-talking holds for the client the server told, until it negotiates again', () => {
    const conv: FpseConversation = {};
    judgeFpse(conv, facts('method=server+version:12.0.0.6415', { method: 'server version:3.0.2.1000', list: '3.0.2.1000' }), AGENT, 0);
    assert.deepEqual(codes(conv, facts('method=open+service', { method: 'open service:3.0.2.1000' })), [['client-kept-talking', 'violation']]);
    assert.deepEqual(codes(conv, facts('method=open+service', { method: 'open service:3.0.2.1000' }), 'MSFrontPage/15.0'), []);
    // The server was upgraded; the client asks again and is told a supported build.
    judgeFpse(conv, facts('method=server+version:12.0.0.6415', { method: 'server version:12.0.0.6415', list: '14.0.0.6029' }), AGENT, 0);
    assert.deepEqual(codes(conv, facts('method=open+service:12.0.0.6415', { method: 'open service:12.0.0.6415' })), [['accepted', 'ok']]);
  });
});
