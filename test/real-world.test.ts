/**
 * The real-world corpus (test/fixtures/real-world, each source cited in its README) through the
 * real proxy in reverse mode. Per conversation: an upstream on 127.0.0.1:0 answers with the
 * fixture's response bytes, a raw client socket sends the fixture's request bytes, one exchange
 * at a time. Checked for every exchange:
 *   bytes     the upstream received the client's request and the client the upstream's response,
 *             unchanged apart from what RFC 9110/9112 lets a proxy change (helpers/real-world.ts:
 *             Host in reverse mode, hop-by-hop fields, chunk framing);
 *   verdicts  exactly the expected codes and levels (MS-FPSE 1.7.1, 3.1.5.3.14, 2.2.4.1;
 *             MS-OXCMAPIHTTP 2.2.3.3.x, 2.2.2.2), and that the others do not fire;
 *   words     the exchange's log line (`proto`, the record's summary) names what happened;
 *   facts     the decoded versions, statuses and meta-tags.
 * The expectations follow the verdict semantics in docs/conformance.md.
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Exchange, ProtocolRecord } from '../src/core/exchange.js';
import type { FpseFacts } from '../src/protocols/fpse-observation.js';
import type { MapiFacts } from '../src/protocols/mapihttp-observation.js';
import { rawRequest, type ParsedResponse } from './helpers/client.js';
import { LEVELS } from './helpers/log-sink.js';
import { startProxyFor, type ModeProxy } from './helpers/proxy.js';
import { asForwarded, endToEnd, loadConversation, parseFixtureResponse, parseRequest, startFixtureUpstream, type FixtureExchange, type FixtureUpstream } from './helpers/real-world.js';

interface Expect {
  /** Exactly these verdicts, as `code:level`, in any order. */
  verdicts?: string[];
  /** The exchange must not be recorded as an FPSE discovery (a `_vti_inf.html` GET not answered with one). */
  notDiscovery?: true;
  /** Tokens the log line must have (a token with a space is matched as a substring). */
  words?: string[];
  /** Tokens it must not have. */
  notWords?: string[];
  /** Each problem pattern must match one of `protocol.problems`; without it, there are none. */
  problems?: RegExp[];
  facts?: (record: ProtocolRecord) => void;
  /** The defect of the current judge this case shows, per part (named in the test title; see docs/conformance.md). */
}

const fpse = (r: ProtocolRecord): FpseFacts => r.facts as FpseFacts;
const mapi = (r: ProtocolRecord): MapiFacts => r.facts as MapiFacts;
const clientVersion = (r: ProtocolRecord): string | undefined => {
  const v = fpse(r).request?.clientVersion;
  return v?.ok ? v.version.text : undefined;
};

// Decoding problems the corpus really has (each is a deviation of the tool that wrote the bytes).
/** ruler sends a bare GUID; MS-OXCMAPIHTTP 2.2.3.3.4 wants `{GUID}:counter`. */
const RULER_CLIENT_INFO = /^X-ClientInfo "\{2F94A2BF-A2E6-4CCC-BF98-B5F22C542226\}" is not GUID:counter/;
/** gromox's render_content writes X-ElapsedTime and X-StartTime after DONE, no X-ResponseCode (MS-OXCMAPIHTTP 2.2.2.2). */
const NO_CODE_AFTER_DONE = /^no X-ResponseCode in the additional headers after DONE$/;
/** Scanners are not FrontPage clients (MS-FPSE 3.1.5.1). */
const NOT_FRONTPAGE_AGENT = /lacks the case-sensitive "FrontPage"/;
const NO_VERMEER_TYPE = /^no X-Vermeer-Content-Type/;

const CASES: Record<string, Expect[]> = {
  'metasploit-frontpage-login': [
    { verdicts: [], words: ['fpse', '_vti_inf.html'], facts: (r) => assert.equal(fpse(r).vtiInf?.fpVersionText, '14.00.0.000') },
    {
      verdicts: ['echo-mismatch:violation'],
      problems: [NOT_FRONTPAGE_AGENT, NO_VERMEER_TYPE],
      words: ['"open service"', 'echo=14.0.0.6009', 'echo-mismatch'],
      notWords: ['negotiated=14.0.0.6009'],
      facts: (r) => {
        assert.equal(clientVersion(r), '14.00.0.000', 'Metasploit pastes the FPVersion of _vti_inf.html as its client version');
        assert.equal(fpse(r).request?.method, 'open service');
      },
    },
  ],
  'nmap-frontpage-login': [
    { verdicts: [], words: ['fpse', '_vti_inf.html'], facts: (r) => assert.equal(fpse(r).vtiInf?.fpVersionText, '14.00.0.000') },
    {
      verdicts: [],
      problems: [/FPVersion/, NOT_FRONTPAGE_AGENT, /^no Content-Type/, NO_VERMEER_TYPE],
      words: ['"open service"', 'echo=14.0.0.6009'],
      notWords: ['negotiated=14.0.0.6009', 'echo-mismatch', 'accepted'],
      facts: (r) => {
        assert.equal(fpse(r).request?.method, 'open service');
        assert.equal(fpse(r).request?.clientVersion?.ok, false, 'nmap pastes `FPVersion="…"` whole: no version can be read');
      },
    },
  ],
  'nmap-vti-inf-404': [{ notDiscovery: true }],
  'w3af-put-document': [
    { verdicts: [] },
    {
      verdicts: ['echo-mismatch:violation'],
      problems: [NOT_FRONTPAGE_AGENT, NO_VERMEER_TYPE],
      words: ['"put document"', 'client=4.0.2.4715', 'echo=14.0.0.6009', 'echo-mismatch'],
      notWords: ['negotiated=14.0.0.6009', 'server-should-have-rejected'],
      facts: (r) => {
        assert.equal(clientVersion(r), '4.0.2.4715');
        const mv = fpse(r).packet?.methodVersion;
        assert.equal(mv?.ok ? mv.version.text : undefined, '14.0.0.6009');
      },
    },
  ],
  'w3af-mock-vti-inf': [
    {
      verdicts: [],
      problems: [/FrontPage Configuration Information/, /FPVersion "1\.2\.3"/, /^no FPShtmlScriptUrl/],
      notWords: ['client-should-reject-server'],
      facts: (r) => assert.equal(fpse(r).vtiInf?.scripts.FPAuthorScriptUrl, '/author'),
    },
  ],
  'sensenet-2012-05-office': [
    {
      verdicts: ['accepted:ok'],
      words: ['"server version"', 'client=12.0.0.6415', 'server=14.0.0.6029', 'negotiated=12.0.0.6415', 'accepted'],
      facts: (r) => assert.deepEqual(r.versions, { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' }),
    },
    { verdicts: ['accepted:ok'], words: ['"open service"', 'echo=12.0.0.6415'], notWords: ['negotiated=12.0.0.6415'] },
    { verdicts: ['accepted:ok'], words: ['"getDocsMetaInfo"', 'echo=12.0.0.6415'], notWords: ['negotiated=12.0.0.6415'] },
  ],
  'sensenet-2012-07-office': [
    { verdicts: ['echo-mismatch:violation'], words: ['"server version"', 'client=12.0.0.6415', 'server=14.0.0.6029', 'echo-mismatch'] },
    { verdicts: ['echo-mismatch:violation'], words: ['"open service"', 'echo=14.0.0.6009'], notWords: ['negotiated=14.0.0.6009'] },
    // The client follows the server's (wrong) answer, which MS-FPSE 1.7.1 says it uses for further
    // calls: the fault is the server's echo-mismatch above, not the client's.
    { verdicts: ['accepted:ok'], words: ['client=14.0.0.6009', 'echo=14.0.0.6009'], notWords: ['client-ignored-negotiated'] },
  ],
  'client-above-negotiated': [
    { verdicts: ['accepted:ok'], words: ['"server version"', 'negotiated=12.0.0.6415'] },
    // Negotiated 12.0.0.6415 on this conversation, then a call on 14.0.0.6009 from the same client.
    { verdicts: ['accepted:ok', 'client-ignored-negotiated:violation'], words: ['"getDocsMetaInfo"', 'client=14.0.0.6009', 'client-ignored-negotiated'] },
  ],
  'sensenet-new-negotiation': [
    { verdicts: ['accepted:ok'], words: ['negotiated=12.0.0.6415'] },
    {
      verdicts: ['accepted:ok'],
      words: ['"server version"', 'client=14.0.0.6009', 'negotiated=14.0.0.6009'],
      notWords: ['client-ignored-negotiated'],
    },
    { verdicts: ['accepted:ok'], notWords: ['client-ignored-negotiated'] },
  ],
  'sensenet-discovery-then-call': [
    { verdicts: [], words: ['fpse', '_vti_inf.html'] },
    {
      // FPVersion="14.00.0.000" names a product line, not the server's build (SenseNet lists 14.0.0.6029):
      // Min(client, server) is unknown here, and the echo is not above the client's version.
      verdicts: [],
      words: ['client=14.0.0.6009', 'echo=14.0.0.6009'],
      notWords: ['echo-mismatch', 'server=14.0.0.0'],
    },
  ],
  'other-client-same-address': [
    { verdicts: ['accepted:ok'], words: ['negotiated=12.0.0.6415'] },
    {
      verdicts: [],
      problems: [NOT_FRONTPAGE_AGENT, NO_VERMEER_TYPE],
      notWords: ['client-ignored-negotiated'],
      facts: (r) => assert.equal(clientVersion(r), '14.00.0.000'),
    },
  ],
  'alfresco-office': [
    { verdicts: ['echo-mismatch:violation'], words: ['client=12.0.0.6415', 'server=14.0.0.4730', 'echo-mismatch'] },
    {
      verdicts: [],
      words: ['"get document"', 'status=589829 (0x00090005)'],
      notWords: ['client-ignored-negotiated', 'echo-mismatch'],
      facts: (r) => assert.equal(fpse(r).packet?.status?.status, 589829),
    },
  ],
  'fp98-server-scanner': [
    { verdicts: ['client-should-reject-server:notice'], words: ['server=3.0.2.926', 'client-should-reject-server'], notWords: ['negotiated=3.0.2.926'] },
    {
      verdicts: ['accepted:ok', 'client-kept-talking:violation', 'server-should-have-rejected:violation'],
      words: ['client=3.0.2.926', 'client-kept-talking', 'server-should-have-rejected'],
    },
    { verdicts: ['client-should-reject-server:notice'], notWords: ['client-kept-talking'] },
  ],
  'fp2002-w3af-capture': [
    {
      verdicts: [],
      words: ['"server version"', 'server=5.0.2.6790'],
      notWords: ['negotiated=5.0.2.6790', 'client-should-reject-server'],
      facts: (r) => assert.deepEqual(r.versions.server, '5.0.2.6790'),
    },
  ],
  'greenbone-fpse-detect': [
    { notDiscovery: true },
    { notDiscovery: true },
    { verdicts: [], words: ['"server version"', 'server=4.0.2.7802'], notWords: ['negotiated=4.0.2.7802'], facts: (r) => assert.equal(fpse(r).request?.clientVersion, undefined) },
  ],
  'nikto-fpse-tests': [
    {
      // Nikto puts the method in the query string and sends no body; the proxy reads methods from the body's first line only.
      verdicts: [],
      problems: [NOT_FRONTPAGE_AGENT, /^no Content-Type/, /^empty first line: no method= parameter$/],
      words: ['server=4.0.2.7802'],
      facts: (r) => assert.equal(r.versions.server, '4.0.2.7802'),
    },
    {
      verdicts: ['accepted:ok', 'server-should-have-rejected:violation'],
      problems: [NOT_FRONTPAGE_AGENT, NO_VERMEER_TYPE],
      words: ['client=3.0.2.1105', 'server-should-have-rejected'],
    },
  ],
  'rejected-fp98-client': [{ verdicts: ['rejected-client-too-old:ok'], words: ['client=3.0.2.1706', 'status=262156 (0x0004000C)', 'rejected-client-too-old'], notWords: ['negotiated=14.0.0.4730'] }],
  'rejected-office-client': [{ verdicts: ['rejected-client-too-old:violation'], words: ['client=12.0.0.6415', 'status=262156 (0x0004000C)'] }],

  'ruler-gromox-session': [
    {
      verdicts: ['ok:ok'],
      problems: [RULER_CLIENT_INFO, NO_CODE_AFTER_DONE],
      words: ['mapihttp', 'Connect', 'client=Outlook/15.0.4815.1002', 'server=Exchange/15.00.0847.4040', 'code=0', 'PROCESSING,DONE', 'ok'],
      facts: (r) => {
        assert.equal(mapi(r).request.requestType, 'Connect', 'Go writes `X-Requesttype`; field names are case-insensitive (RFC 9110 §5.1)');
        assert.equal(mapi(r).stream?.done, true);
      },
    },
    { verdicts: ['ok:ok'], problems: [RULER_CLIENT_INFO, NO_CODE_AFTER_DONE], words: ['Execute', 'code=0', 'PROCESSING,DONE'], notWords: ['build-changed-mid-session'] },
  ],
  'gromox-notificationwait': [
    {
      verdicts: ['ok:ok'],
      problems: [RULER_CLIENT_INFO, /^meta-tags not separated by CRLF/, NO_CODE_AFTER_DONE],
      words: ['NotificationWait', 'PROCESSING,PENDING×2,DONE'],
      facts: (r) => assert.equal(mapi(r).stream?.pending, 2, 'gromox writes `7\\r\\nPENDING\\r\\n`: PENDING without its CRLF'),
    },
  ],
  'gromox-missing-cookie': [
    {
      verdicts: ['invalid-context-cookie:notice'],
      problems: [RULER_CLIENT_INFO, /^X-RequestType not echoed/, /^X-RequestId not echoed/, /^X-ClientInfo not echoed/],
      words: ['code=6', 'invalid-context-cookie'],
      notWords: ['ok'],
    },
  ],
  'x-responsecode-after-done': [
    {
      verdicts: ['invalid-sequence:notice'],
      problems: [RULER_CLIENT_INFO],
      words: ['code=15', 'invalid-sequence'],
      notWords: ['ok'],
      facts: (r) => assert.equal(mapi(r).response?.responseCode?.value, 0, 'the head said 0; the failure comes after DONE'),
    },
  ],
  'header-missing-request': [
    { verdicts: ['header-missing:violation'], problems: [/^X-ClientApplication missing/, RULER_CLIENT_INFO, NO_CODE_AFTER_DONE], words: ['header-missing'], notWords: ['ok'] },
  ],
  'header-missing-response': [
    { verdicts: ['header-missing:violation'], problems: [RULER_CLIENT_INFO, /^X-ServerApplication missing/], words: ['client=Outlook/15.0.4815.1002', 'header-missing'], notWords: ['ok'] },
  ],
  'build-changed-mid-session': [
    { verdicts: ['ok:ok'], problems: [RULER_CLIENT_INFO, NO_CODE_AFTER_DONE] },
    { verdicts: ['build-changed-mid-session:violation'], problems: [RULER_CLIENT_INFO, NO_CODE_AFTER_DONE], words: ['server=Exchange/15.02.1544.014', 'build-changed-mid-session'] },
  ],
  'server-predates-mapihttp': [
    { verdicts: ['server-predates-mapihttp:violation'], problems: [RULER_CLIENT_INFO, NO_CODE_AFTER_DONE], words: ['server=Exchange/15.00.0516.032', 'server-predates-mapihttp'] },
  ],
  'build-unparseable': [
    {
      verdicts: ['build-unparseable:violation'],
      problems: [/15\.00\.0847\.4040\.0/, RULER_CLIENT_INFO, NO_CODE_AFTER_DONE],
      words: ['build-unparseable'],
      notWords: ['ok'],
    },
  ],
  'ruler-bind-exo-401': [{ verdicts: ['ok:ok'], problems: [RULER_CLIENT_INFO], words: ['Bind', 'server=Exchange/15.20.0485.000'], notWords: ['header-missing'] }],
};

interface Replayed {
  fixture: FixtureExchange;
  response?: ParsedResponse;
  exchange?: Exchange;
}

for (const [name, expectations] of Object.entries(CASES)) {
  describe(`real-world corpus: ${name}`, () => {
    let upstream: FixtureUpstream;
    let proxy: ModeProxy;
    const replayed: Replayed[] = [];

    before(async () => {
      const fixtures = loadConversation(name);
      assert.equal(fixtures.length, expectations.length, `${name}: one expectation per exchange`);
      upstream = await startFixtureUpstream(fixtures.map((f) => f.response));
      proxy = await startProxyFor('reverse', upstream.port);
      // One exchange at a time, each on its own client connection, from the same address.
      for (const fixture of fixtures) {
        const { response } = await rawRequest(proxy.port, fixture.request, 10_000);
        const [exchange] = (await proxy.waitForExchanges(replayed.length + 1, 10_000)).slice(replayed.length);
        replayed.push({ fixture, response, exchange });
      }
    });
    after(async () => {
      await proxy?.close();
      await upstream?.close();
    });

    it('passes every byte unchanged but for what RFC 9110/9112 lets a proxy change, and logs no error', () => {
      assert.equal(upstream.received.length, replayed.length, 'the upstream got every request');
      replayed.forEach(({ fixture, response }, i) => {
        const sent = parseRequest(fixture.request)!;
        const got = upstream.received[i]!;
        // The request-target is origin-form in reverse mode and passes as sent.
        assert.equal(got.requestLine, sent.requestLine, `${fixture.n}: request line`);
        // Host becomes the target's authority (RFC 9112 §3.2); hop-by-hop fields are the proxy's own (RFC 9110 §7.6.1).
        assert.deepEqual(endToEnd(got.rawHeaders), asForwarded(sent.rawHeaders, proxy.upstreamAuthority), `${fixture.n}: request fields`);
        assert.deepEqual(got.body, sent.body, `${fixture.n}: request body`);
        // The proxy's own hop may say `Connection: keep-alive|close`, never pass on the client's hop fields.
        for (let h = 0; h < got.rawHeaders.length; h += 2) {
          const field = got.rawHeaders[h]!.toLowerCase();
          assert.ok(!['te', 'upgrade', 'trailer', 'proxy-connection'].includes(field), `${fixture.n}: hop-by-hop ${field} not forwarded`);
          if (field === 'connection') assert.match(got.rawHeaders[h + 1]!, /^(keep-alive|close)$/i, `${fixture.n}: the upstream hop's own Connection`);
        }

        const wire = parseFixtureResponse(fixture.response);
        assert.ok(response, `${fixture.n}: the client got a response`);
        assert.equal(response.statusCode, wire.statusCode, `${fixture.n}: status`);
        assert.equal(response.statusMessage, wire.statusMessage, `${fixture.n}: reason phrase`);
        // A chunked answer may be re-chunked (RFC 9112 §7.1): compared decoded, fields without framing.
        assert.deepEqual(endToEnd(response.rawHeaders), endToEnd(wire.rawHeaders), `${fixture.n}: response fields`);
        assert.deepEqual(response.body, wire.body, `${fixture.n}: response body`);
      });
      assert.deepEqual(proxy.logs.filter((l) => l.level >= LEVELS.error), [], 'nothing logged at error level');
    });

    expectations.forEach((expect, i) => {
      const n = String(i + 1).padStart(2, '0');

      it(`exchange ${n}: verdicts, problems and facts`, () => {
        const { exchange } = replayed[i]!;
        assert.ok(exchange, 'the exchange was recorded');
        const record = exchange.protocol;
        if (expect.notDiscovery) {
          assert.ok(record === undefined || fpse(record).vtiInf === undefined, 'no discovery facts');
          assert.ok(record === undefined || record.verdicts.length === 0, 'no verdicts');
          return;
        }
        assert.ok(record, 'the exchange has a protocol record');
        const got = record.verdicts.map((v) => `${v.code}:${v.level}`).sort();
        assert.deepEqual(got, [...(expect.verdicts ?? [])].sort(), `verdicts; line: ${record.summary}`);
        for (const v of record.verdicts) assert.match(v.message, /\S+ \S+ \S+/, `verdict ${v.code} explains itself`);
        if (expect.problems) {
          for (const p of expect.problems) assert.ok(record.problems.some((text) => p.test(text)), `a problem matching ${p}; problems: ${JSON.stringify(record.problems)}`);
          assert.equal(record.problems.length, expect.problems.length, `no other problems: ${JSON.stringify(record.problems)}`);
        } else {
          assert.deepEqual(record.problems, [], 'decoded without problems');
        }
        expect.facts?.(record);
      });

      it(`exchange ${n}: the log line`, async () => {
        const { exchange } = replayed[i]!;
        assert.ok(exchange, 'the exchange was recorded');
        const record = exchange.protocol;
        const logged = await proxy.logs.waitFor((l) => l.msg === 'exchange' && l.xid === exchange.id, 1, 3000);
        const proto = logged[0]!.proto;
        assert.equal(proto, record?.summary, 'the log line carries the record summary');
        if (expect.notDiscovery) {
          assert.ok(record === undefined || !record.summary.startsWith('fpse _vti_inf.html'), `not logged as an FPSE discovery: ${record?.summary}`);
          return;
        }
        const line = String(proto);
        const tokens = line.split(' ');
        const has = (w: string): boolean => (w.includes(' ') ? line.includes(w) : tokens.includes(w));
        for (const w of expect.words ?? []) assert.ok(has(w), `log line has ${w}: ${line}`);
        for (const w of expect.notWords ?? []) assert.ok(!has(w), `log line lacks ${w}: ${line}`);
      });

      if (expect.problems) {
        it(`exchange ${n}: the log line says it had decoding problems`, async () => {
          const { exchange } = replayed[i]!;
          const logged = await proxy.logs.waitFor((l) => l.msg === 'exchange' && l.xid === exchange!.id, 1, 3000);
          const line = String(logged[0]!.proto);
          const problems = exchange!.protocol!.problems;
          assert.ok(/\bproblems?=/.test(line) || problems.some((p) => line.includes(p)), `the log line says there were problems (${problems.length}): ${line}`);
        });
      }
    });
  });
}
