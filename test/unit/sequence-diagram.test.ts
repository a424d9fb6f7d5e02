/**
 * Negotiation sequence diagrams on hand-built exchange records (the shapes the proxy records:
 * see test/report-diagram.test.ts for real ones): which arrows and notes each kind of exchange
 * gets and what they carry (a downgrade, a rejection, a request rewrite, a reset, an unreachable
 * upstream, a MAPI/HTTP session), the bound on calls, and the SVG: it parses as XML whatever the
 * traffic held, it is accessible, long values are elided with the whole value kept, and no two
 * texts overlap. Last, the two modules stay pure (no node: imports), as the web UI bundles them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DOMParser, type Document, type Element } from '@xmldom/xmldom';
import { sequenceDiagram, type Arrow, type DiagramExchange, type Note, type SequenceCall } from '../../src/record/sequence-diagram.js';
import { sequenceSvg, xml } from '../../src/record/sequence-svg.js';

const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
const HOST = 'sp.example:8080';
const RPC = `http://${HOST}/_vti_bin/shtml.dll/_vti_rpc`;
const AUTHOR = `http://${HOST}/_vti_bin/_vti_aut/author.dll`;
const MAPI = 'https://mail.example/mapi/emsmdb/?MailboxId=x@example';

let sequence = 0;

function version(text: string): object {
  return { ok: true, version: { parts: text.split('.').map(Number), text, widths: [] } };
}

interface Spec {
  url?: string;
  at?: number;
  method?: string;
  requestHeaders?: string[];
  forwardedHeaders?: string[];
  response?: DiagramExchange['response'] | null;
  upstreamResponse?: DiagramExchange['response'];
  protocol?: Partial<NonNullable<DiagramExchange['protocol']>>;
  rules?: DiagramExchange['rules'];
  error?: DiagramExchange['error'];
  upstream?: boolean;
}

function exchange(spec: Spec): DiagramExchange {
  sequence += 1;
  const url = spec.url ?? RPC;
  const x: DiagramExchange = {
    id: `t-${sequence}`,
    url,
    request: { method: spec.method ?? 'POST', url, rawHeaders: spec.requestHeaders ?? ['Host', HOST, 'User-Agent', 'MSFrontPage/12.0'] },
    timings: { start: spec.at ?? T0 + sequence },
  };
  if (spec.forwardedHeaders !== undefined) x.forwarded = { path: '/', rawHeaders: spec.forwardedHeaders };
  if (spec.response !== null) x.response = spec.response ?? { statusCode: 200, statusMessage: 'OK', rawHeaders: [], source: 'upstream' };
  if (spec.upstreamResponse !== undefined) x.upstreamResponse = spec.upstreamResponse;
  if (spec.upstream !== false && x.response?.source === 'upstream') x.upstream = { reused: false };
  if (spec.protocol !== undefined) x.protocol = { protocol: 'fpse', conversation: `127.0.0.1 ${HOST}`, operation: 'server version', versions: {}, verdicts: [], ...spec.protocol };
  if (spec.rules !== undefined) x.rules = spec.rules;
  if (spec.error !== undefined) x.error = spec.error;
  return x;
}

/** `server version` from a 12.0.0.6415 client to a 14.0.0.6029 server, answered as 5.0.2.6790 by rules/fpse-downgrade-to-fp2002.yaml. */
function downgraded(): DiagramExchange {
  return exchange({
    protocol: {
      versions: { client: '12.0.0.6415', server: '5.0.2.6790', negotiated: '5.0.2.6790' },
      verdicts: [{ code: 'accepted', level: 'ok', message: 'the server answered on 5.0.2.6790 = Min(…)' }],
      facts: { endpoint: 'rpc', packet: { isError: false, method: 'server version', methodVersion: version('5.0.2.6790'), serverVersion: { version: version('5.0.2.6790') } } },
    },
    rules: [
      {
        id: 'fpse-looks-like-fp2002',
        outcome: 'applied',
        changes: [
          { action: 'serverVersion', target: 'response body: method line', before: '12.0.0.6415', after: '5.0.2.6790' },
          { action: 'serverVersion', target: 'response body: server version', before: '14.0.0.6029', after: '5.0.2.6790' },
        ],
      },
    ],
  });
}

/** `server version` refused by rules/fpse-reject-old-client.yaml: the proxy answers, the server never hears of it. */
function rejected(): DiagramExchange {
  return exchange({
    response: { statusCode: 200, statusMessage: 'OK', rawHeaders: ['Content-Type', 'application/x-vermeer-rpc'], source: 'rule' },
    protocol: {
      versions: { client: '12.0.0.6415' },
      verdicts: [{ code: 'rejected-client-too-old', level: 'violation', message: 'the server refused the client 12.0.0.6415 as too old' }],
      facts: { endpoint: 'rpc', packet: { isError: true, methodVersion: version('12.0.0.6415'), status: { status: 262156, hex: '0x0004000C', name: 'V_RPC_CLIENT_TOO_OLD' } } },
    },
    rules: [{ id: 'fpse-refuse-server-version', outcome: 'applied', changes: [{ action: 'reject', target: 'response', after: 'FPSE status 262156 (0x0004000C, client too old)' }] }],
  });
}

function arrows(call: SequenceCall): Arrow[] {
  return call.steps.filter((s): s is Arrow => s.kind === 'arrow');
}

function notes(call: SequenceCall): Note[] {
  return call.steps.filter((s): s is Note => s.kind === 'note');
}

function route(call: SequenceCall): string[] {
  return call.steps.map((s) => (s.kind === 'arrow' ? `${s.from}>${s.to}` : `note:${s.lane}`));
}

function only(x: DiagramExchange): SequenceCall {
  const d = sequenceDiagram([x]);
  assert.equal(d.calls.length, 1);
  return d.calls[0]!;
}

/** Parses as XML, failing on any error (warnings, such as U+FFFD met, are not errors): a diagram that does not parse is broken. */
function parseSvg(svg: string): Document {
  return new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') throw new Error(`${level}: ${message}`);
    },
  }).parseFromString(svg, 'image/svg+xml');
}

function elements(doc: Document, name: string): Element[] {
  return Array.from(doc.getElementsByTagName(name));
}

describe('sequence diagram model', () => {
  it('a downgrade: the server tells its true build, the proxy rewrites it, the client gets the new one, the negotiation is stated', () => {
    const call = only(downgraded());
    assert.deepEqual(route(call), ['client>proxy', 'proxy>server', 'server>proxy', 'note:proxy', 'note:proxy', 'proxy>client', 'note:all']);
    const [sent, forwarded, answered, got] = arrows(call);
    assert.equal(sent!.label, 'server version');
    assert.equal(sent!.versions, '12.0.0.6415');
    assert.equal(forwarded!.versions, '12.0.0.6415');
    assert.equal(forwarded!.rewritten, false);
    assert.equal(answered!.label, '200 OK');
    assert.equal(answered!.versions, 'method line 12.0.0.6415, server 14.0.0.6029');
    assert.equal(answered!.style, 'answer');
    assert.equal(got!.versions, 'method line 5.0.2.6790, server 5.0.2.6790');
    assert.equal(got!.rewritten, true);
    assert.deepEqual(notes(call).map((n) => [n.tone, n.text]), [
      ['rewrite', 'rule fpse-looks-like-fp2002: response body: method line 12.0.0.6415 → 5.0.2.6790'],
      ['rewrite', 'rule fpse-looks-like-fp2002: response body: server version 14.0.0.6029 → 5.0.2.6790'],
      ['negotiated', 'negotiated 5.0.2.6790'],
    ]);
    // The verdict judges what the client got.
    assert.deepEqual(got!.marks.map((m) => m.code), ['accepted']);
  });

  it('a rejection by a rule: no server arrows, the refusal noted on the proxy and marked on its answer', () => {
    const call = only(rejected());
    assert.deepEqual(route(call), ['client>proxy', 'note:proxy', 'proxy>client']);
    const answer = arrows(call)[1]!;
    assert.equal(answer.style, 'refusal');
    assert.equal(answer.label, '200 OK from the proxy');
    assert.match(answer.versions ?? '', /^status 262156 \(0x0004000C, client too old\)/);
    assert.deepEqual(answer.marks.map((m) => [m.level, m.code]), [['violation', 'rejected-client-too-old']]);
    assert.equal(notes(call)[0]!.tone, 'refusal');
    assert.match(notes(call)[0]!.text, /^rule fpse-refuse-server-version: reject → FPSE status 262156/);
  });

  it('a client version rewritten on the way: the note between, the new value on the arrow to the server, the request verdict on that arrow', () => {
    const call = only(
      exchange({
        url: AUTHOR,
        protocol: {
          operation: 'open service',
          versions: { client: '6.0.2.5530' },
          verdicts: [
            { code: 'client-ignored-negotiated', level: 'violation', message: 'the client sent 6.0.2.5530, above the negotiated 5.0.2.6790' },
            { code: 'accepted', level: 'ok', message: 'ok' },
          ],
          facts: { endpoint: 'author', packet: { isError: false, methodVersion: version('6.0.2.5530') } },
        },
        rules: [{ id: 'fpse-x', outcome: 'applied', changes: [{ action: 'clientVersion', target: 'request body: method', before: '12.0.0.6415', after: '6.0.2.5530' }] }],
      }),
    );
    assert.deepEqual(route(call), ['client>proxy', 'note:proxy', 'proxy>server', 'server>proxy', 'proxy>client']);
    const [sent, forwarded, , got] = arrows(call);
    assert.equal(sent!.versions, '12.0.0.6415');
    assert.equal(forwarded!.versions, '6.0.2.5530');
    assert.equal(forwarded!.rewritten, true);
    assert.equal(notes(call)[0]!.text, 'rule fpse-x: request body: method 12.0.0.6415 → 6.0.2.5530');
    assert.deepEqual(forwarded!.marks.map((m) => m.code), ['client-ignored-negotiated']);
    assert.deepEqual(got!.marks.map((m) => m.code), ['accepted']);
  });

  it('a reset: a cross towards the client, nothing towards the server', () => {
    const call = only(exchange({ response: null, protocol: { versions: { client: '12.0.0.6415' } }, rules: [{ id: 'cut', outcome: 'applied', changes: [{ action: 'reset', target: 'connection', after: 'reset the connection' }] }] }));
    assert.deepEqual(route(call), ['client>proxy', 'note:proxy', 'proxy>client']);
    const cross = arrows(call)[1]!;
    assert.equal(cross.style, 'failed');
    assert.equal(cross.label, 'connection reset');
  });

  it('an upstream that refused the connection: a cross towards the server, the proxy’s own 502 to the client, the error noted', () => {
    const call = only(
      exchange({
        upstream: false,
        response: { statusCode: 502, statusMessage: 'Bad Gateway', rawHeaders: [], source: 'proxy' },
        protocol: { versions: { client: '12.0.0.6415' } },
        error: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1', phase: 'connect' },
      }),
    );
    assert.deepEqual(route(call), ['client>proxy', 'proxy>server', 'proxy>client', 'note:proxy']);
    const [, toServer, answer] = arrows(call);
    assert.equal(toServer!.style, 'failed');
    assert.match(toServer!.label, /ECONNREFUSED/);
    assert.equal(answer!.style, 'refusal');
    assert.equal(answer!.label, '502 Bad Gateway from the proxy');
    assert.equal(notes(call)[0]!.tone, 'error');
  });

  it('MAPI/HTTP: X-ClientApplication as sent and forwarded, X-ServerApplication as the server sent it and as delivered, a failing X-ResponseCode', () => {
    const call = only(
      exchange({
        url: MAPI,
        requestHeaders: ['Host', 'mail.example', 'X-RequestType', 'Connect', 'X-ClientApplication', 'Outlook/16.0.15928.20006'],
        forwardedHeaders: ['Host', 'mail.example', 'X-RequestType', 'Connect', 'X-ClientApplication', 'Outlook/14.0.7268.5000'],
        upstreamResponse: { statusCode: 200, statusMessage: 'OK', rawHeaders: ['X-ServerApplication', 'Exchange/15.02.1544.014', 'X-ResponseCode', '0'], source: 'upstream' },
        response: { statusCode: 200, statusMessage: 'OK', rawHeaders: ['X-ServerApplication', 'Exchange/15.00.0847.032', 'X-ResponseCode', '0'], source: 'upstream' },
        protocol: {
          protocol: 'mapihttp',
          conversation: 'clientinfo {A}',
          operation: 'Connect',
          versions: { client: 'Outlook/14.0.7268.5000', server: 'Exchange/15.00.0847.032' },
          verdicts: [{ code: 'context-not-found', level: 'notice', message: 'X-ResponseCode 10 after DONE' }],
          facts: { stream: { responseCode: { value: 10, name: 'Context Not Found', kebab: 'context-not-found' } } },
        },
        rules: [
          {
            id: 'mapi-2010',
            outcome: 'applied',
            changes: [
              { action: 'clientVersion', target: 'X-ClientApplication', before: 'Outlook/16.0.15928.20006', after: 'Outlook/14.0.7268.5000' },
              { action: 'serverVersion', target: 'X-ServerApplication', before: 'Exchange/15.02.1544.014', after: 'Exchange/15.00.0847.032' },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(route(call), ['client>proxy', 'note:proxy', 'proxy>server', 'server>proxy', 'note:proxy', 'proxy>client']);
    const [sent, forwarded, answered, got] = arrows(call);
    assert.equal(sent!.label, 'Connect');
    assert.equal(sent!.versions, 'Outlook/16.0.15928.20006');
    assert.equal(forwarded!.versions, 'Outlook/14.0.7268.5000');
    assert.equal(answered!.versions, 'Exchange/15.02.1544.014');
    assert.equal(got!.versions, 'Exchange/15.00.0847.032, X-ResponseCode 10 after DONE');
    assert.deepEqual(got!.marks.map((m) => [m.level, m.code]), [['notice', 'context-not-found']]);
  });

  it('header actions are placed on the side whose head they changed; a delay says how long', () => {
    const call = only(
      exchange({
        requestHeaders: ['Host', HOST, 'X-Test', 'a'],
        forwardedHeaders: ['Host', HOST, 'X-Test', 'b'],
        protocol: { operation: 'open service' },
        rules: [
          {
            id: 'h',
            outcome: 'applied',
            changes: [
              { action: 'setHeader', target: 'X-Test', before: 'a', after: 'b' },
              { action: 'setHeader', target: 'X-Answer', after: 'c' },
              { action: 'delay', target: 'response-head', after: '600 ms' },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(route(call), ['client>proxy', 'note:proxy', 'proxy>server', 'server>proxy', 'note:proxy', 'note:proxy', 'proxy>client']);
    assert.equal(notes(call)[0]!.text, 'rule h: X-Test a → b');
    assert.equal(notes(call)[1]!.text, 'rule h: X-Answer (none) → c');
    assert.equal(notes(call)[2]!.text, 'rule h: delay response-head: 600 ms');
  });

  it('at most `limit` calls, the first by start time even when the journal has them out of order, and the rest counted', () => {
    const xs = Array.from({ length: 25 }, (_, i) => exchange({ at: T0 + 1000 + i, protocol: { operation: `call ${i}` } }));
    xs.push(exchange({ at: T0, protocol: { operation: 'earliest, recorded last' } }));
    const d = sequenceDiagram(xs, { limit: 10 });
    assert.equal(d.calls.length, 10);
    assert.equal(d.more, 16);
    assert.deepEqual(d.calls.map((c) => c.operation), ['earliest, recorded last', ...Array.from({ length: 9 }, (_, i) => `call ${i}`)]);
    const doc = parseSvg(sequenceSvg(d));
    assert.ok(elements(doc, 'text').some((t) => t.textContent === '… 16 more calls not drawn (a diagram shows the first 10)'));
  });

  it('a broken record (a journal can hold anything) still makes a diagram', () => {
    const broken = { id: 7, url: null, request: { method: 'POST', url: 'x', rawHeaders: 'not a list' }, protocol: { protocol: 'fpse', operation: 9, verdicts: 'no', facts: 'no' }, rules: [{ outcome: 'applied', changes: null }], timings: {} };
    const nulls = { id: 'n', url: 'http://h/', request: { method: 'GET', url: '/', rawHeaders: [null, 5] }, protocol: { protocol: 'mapihttp', verdicts: [null], facts: null }, rules: [null, { outcome: 'applied', changes: [null] }], timings: { start: 'x' } };
    const d = sequenceDiagram([broken, nulls] as unknown as DiagramExchange[]);
    assert.equal(d.calls.length, 2);
    parseSvg(sequenceSvg(d));
  });
});

describe('sequence diagram SVG', () => {
  it('names every version, marks the refusal and the violation, and parses as XML', () => {
    const doc = parseSvg(sequenceSvg(sequenceDiagram([downgraded(), rejected()])));
    const texts = elements(doc, 'text').map((t) => t.textContent ?? '');
    const all = texts.join('\n');
    for (const v of ['12.0.0.6415', '14.0.0.6029', '5.0.2.6790']) assert.ok(all.includes(v), `${v} in the picture`);
    assert.ok(texts.some((t) => t.startsWith('⚠ violation rejected-client-too-old')), all);
    assert.ok(texts.some((t) => t.includes('262156')), all);
    assert.ok(texts.some((t) => t.startsWith('⇄ negotiated 5.0.2.6790')), all);
  });

  it('is accessible: role img, labelled by its own title and desc, which tell the calls in words', () => {
    const svg = sequenceSvg(sequenceDiagram([downgraded()]), { idPrefix: 'conv-1' });
    const root = parseSvg(svg).documentElement!;
    assert.equal(root.getAttribute('role'), 'img');
    assert.equal(root.getAttribute('aria-labelledby'), 'conv-1-title conv-1-desc');
    const doc = parseSvg(svg);
    const byId = (id: string): Element | undefined => [...elements(doc, 'title'), ...elements(doc, 'desc')].find((e) => e.getAttribute('id') === id);
    assert.match(byId('conv-1-title')?.textContent ?? '', /^FPSE conversation 127\.0\.0\.1 sp\.example:8080: 1 call/);
    assert.match(byId('conv-1-desc')?.textContent ?? '', /server sends proxy 200 OK \(method line 12\.0\.0\.6415, server 14\.0\.0\.6029\)/);
    assert.match(byId('conv-1-desc')?.textContent ?? '', /negotiated 5\.0\.2\.6790/);
  });

  it('escapes hostile traffic: a Host, a version, an operation and a rule id cannot leave their text', () => {
    const hostile = `evil"><script>alert(1)</script><x a='`;
    const control = 'bad\u0000\u0008\ud800\uffffend';
    const x = exchange({
      url: `http://${hostile}/_vti_bin/shtml.dll/_vti_rpc`,
      requestHeaders: ['Host', hostile, 'User-Agent', `]]><svg onload="alert(1)">`],
      protocol: { conversation: `127.0.0.1 ${hostile}`, operation: `</text></svg><img src=x onerror=alert(1)>`, versions: { client: control, negotiated: '&amp;<!--' } },
      rules: [{ id: `<rule id="x">`, outcome: 'applied', changes: [{ action: 'serverVersion', target: 'response body: server version', before: `"'<&>`, after: control }] }],
    });
    const svg = sequenceSvg(sequenceDiagram([x]), { idPrefix: `a" onload="x` });
    const doc = parseSvg(svg);
    assert.deepEqual(elements(doc, 'script'), []);
    assert.deepEqual(elements(doc, 'img'), []);
    assert.equal(elements(doc, 'svg').length, 1);
    for (const e of elements(doc, '*')) {
      for (const attr of Array.from(e.attributes)) assert.ok(!/^on/i.test(attr.name), `event handler attribute ${attr.name}`);
    }
    assert.match(doc.documentElement!.getAttribute('aria-labelledby') ?? '', /^[A-Za-z0-9_-]+-title [A-Za-z0-9_-]+-desc$/);
    // The hostile values are shown as text, whole (in a <title> where elided), with forbidden characters replaced.
    const textual = [...elements(doc, 'text'), ...elements(doc, 'title')].map((e) => e.textContent ?? '').join('\n');
    assert.ok(textual.includes(hostile), 'the Host is shown as text');
    assert.ok(textual.includes('&amp;<!--'), 'the negotiated value is shown as text');
    assert.ok(textual.includes('bad\ufffd\ufffd\ufffd\ufffdend'), 'characters XML forbids are replaced');
    assert.equal(xml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('elides a value too long for its room and keeps the whole of it in a <title>', () => {
    const long = `Outlook/${'9'.repeat(250)}`;
    const x = exchange({ url: MAPI, requestHeaders: ['X-ClientApplication', long], protocol: { protocol: 'mapihttp', operation: 'Execute' } });
    const doc = parseSvg(sequenceSvg(sequenceDiagram([x])));
    const elided = elements(doc, 'text').filter((t) => (t.textContent ?? '').endsWith('…'));
    assert.ok(elided.length > 0, 'some text is elided');
    for (const t of elided) {
      assert.ok((t.textContent ?? '').length < 60, t.textContent ?? '');
      const title = (t.parentNode as Element | null)?.getElementsByTagName('title')[0];
      assert.ok(title !== undefined && (title.textContent ?? '').length > 200, 'the elided text keeps its whole value in a title');
    }
  });

  it('every text colour reads on every background the picture has, at 4.5:1 or more (WCAG 1.4.3)', () => {
    const busy = downgraded();
    busy.protocol!.verdicts.push({ code: 'echo-mismatch', level: 'violation', message: 'm' }, { code: 'client-should-reject-server', level: 'notice', message: 'n' });
    const doc = parseSvg(sequenceSvg(sequenceDiagram([busy, rejected(), exchange({ response: null, error: { code: 'ECONNRESET', message: 'x', phase: 'connect' } })])));
    const luminance = (hex: string): number => {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    const contrast = (a: string, b: string): number => {
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
      return (hi! + 0.05) / (lo! + 0.05);
    };
    const inks = new Set(elements(doc, 'text').map((t) => t.getAttribute('fill')!));
    const backgrounds = new Set(elements(doc, 'rect').map((r) => r.getAttribute('fill')!));
    assert.ok(inks.size >= 5 && backgrounds.size >= 4, `${[...inks].join(' ')} on ${[...backgrounds].join(' ')}`);
    for (const ink of inks) for (const bg of backgrounds) assert.ok(contrast(ink, bg) >= 4.5, `${ink} on ${bg}: ${contrast(ink, bg).toFixed(2)}:1`);
  });

  it('no two texts overlap, whatever the number of notes, marks and wrapped labels', () => {
    const busy = downgraded();
    busy.protocol!.verdicts.push({ code: 'echo-mismatch', level: 'violation', message: 'm' }, { code: 'client-should-reject-server', level: 'notice', message: 'n' });
    busy.rules![0]!.changes.push({ action: 'serverVersion', target: 'MicrosoftSharePointTeamServices', before: '14.0.0.6029', after: '5.0.2.6790' });
    const mapi = exchange({ url: MAPI, requestHeaders: ['X-ClientApplication', `Outlook/${'1.'.repeat(80)}1`], protocol: { protocol: 'mapihttp', operation: 'NotificationWait' } });
    const doc = parseSvg(sequenceSvg(sequenceDiagram([busy, rejected(), mapi, exchange({ response: null, error: { code: 'ECONNRESET', message: 'socket hang up', phase: 'response-head' } })])));
    const boxes = elements(doc, 'text').map((t) => {
      const size = Number(t.getAttribute('font-size'));
      const width = [...(t.textContent ?? '')].length * size * 0.6;
      const x = Number(t.getAttribute('x'));
      const left = t.getAttribute('text-anchor') === 'middle' ? x - width / 2 : x;
      const bottom = Number(t.getAttribute('y')) + size * 0.25;
      return { text: t.textContent ?? '', left, right: left + width, top: bottom - size, bottom };
    });
    assert.ok(boxes.length > 30);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
        assert.ok(!overlap, `"${a.text}" overlaps "${b.text}"`);
      }
      assert.ok(boxes[i]!.left >= 0 && boxes[i]!.right <= 960, `"${boxes[i]!.text}" leaves the picture`);
    }
  });
});

describe('sequence diagram modules', () => {
  it('import nothing from node: (the web UI bundles them for the browser)', () => {
    const src = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/record');
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        assert.ok(spec.startsWith('.'), `${file} imports ${spec}`);
        visit(resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
      }
    };
    visit(join(src, 'sequence-diagram.ts'));
    visit(join(src, 'sequence-svg.ts'));
    assert.ok(seen.size >= 3);
  });
});
