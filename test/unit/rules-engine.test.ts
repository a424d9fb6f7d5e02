/**
 * The rules engine without sockets: compileRules (RuleSet, RuleGate, candidates, explain),
 * RuleRun (when each rule is decided, priority order, final actions, skip/every/times/chance,
 * records) and the actions on request and response drafts (docs/rules.md, "Action syntax";
 * issue 4). Rules are written as YAML and validated by load.ts, as the proxy does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getHeader, getHeaderValues, type RawHeaders } from '../../src/core/raw-headers.js';
import { parseVersion, type Version } from '../../src/core/version.js';
import { parseFpsePacket } from '../../src/protocols/fpse-packet.js';
import { ACTION_COMPILERS, type CompiledAction, type RequestDraft, type ResponseDraft, type RuleAnswer } from '../../src/rules/actions.js';
import { compileRules, EMPTY_RULES, RuleGate, type Rule, type RuleSet } from '../../src/rules/compile.js';
import { RuleRun } from '../../src/rules/engine.js';
import { addFirstLine, addResponseBody, addResponseHead, requestFacts, type RequestHeadInput, type RuleFacts } from '../../src/rules/facts.js';
import { formatIssue, validateRuleText, type RuleDefinition } from '../../src/rules/load.js';
import { createChance } from '../../src/rules/random.js';
import type { ActionSide, AppliedRule, MatchFacts, Protocol, Stage } from '../../src/rules/rule.js';

const fpseDir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/fixtures/fpse');
const fixture = (name: string): Buffer => readFileSync(join(fpseDir, name));

const RULE_FILE = '/rules/engine-test.yaml';

// ---- building rules ---------------------------------------------------------------------------

function load(yaml: string, file = RULE_FILE): RuleDefinition[] {
  const { rules, issues } = validateRuleText(file, yaml);
  assert.deepEqual(issues.map(formatIssue), [], 'the test rules validate');
  return rules;
}

function compile(yaml: string, seed = 42, previous?: RuleSet): RuleSet {
  return compileRules(load(yaml), { seed }, previous);
}

function rule(set: RuleSet, id: string): Rule {
  const found = set.all.find((r) => r.id === id);
  assert.ok(found !== undefined, `rule ${id} is in the set`);
  return found;
}

function v(text: string): Version {
  const parsed = parseVersion(text);
  assert.ok(parsed.ok, `${text} parses`);
  return parsed.version;
}

// ---- exchanges ----------------------------------------------------------------------------------

const MAPI_HEAD: RequestHeadInput = {
  method: 'POST',
  host: 'mail.contoso.com',
  path: '/mapi/emsmdb/?MailboxId=a@contoso.com',
  client: '10.1.2.3',
  rawHeaders: ['Content-Type', 'application/mapi-http', 'X-RequestType', 'Connect', 'X-ClientApplication', 'Outlook/16.0.15928.20006', 'X-RequestId', '{E2EA}:1', 'X-ClientInfo', '{2F1F}-1'],
};

function mapiFacts(requestType = 'Connect'): RuleFacts {
  const rawHeaders = MAPI_HEAD.rawHeaders.slice();
  rawHeaders[3] = requestType;
  return requestFacts({ ...MAPI_HEAD, rawHeaders });
}

function fpseFacts(): RuleFacts {
  return requestFacts({ method: 'POST', host: 'sp.contoso.com', path: '/_vti_bin/_vti_aut/author.dll', client: '10.0.0.9', rawHeaders: ['Content-Type', 'application/x-www-form-urlencoded'] });
}

function vtiInfFacts(): RuleFacts {
  return requestFacts({ method: 'GET', host: 'sp.contoso.com', path: '/_vti_inf.html', client: '10.0.0.9', rawHeaders: [] });
}

function httpFacts(host = 'www.example.org'): RuleFacts {
  return requestFacts({ method: 'GET', host, path: '/index.html', client: '192.168.1.20', rawHeaders: ['Host', host, 'Accept', '*/*'] });
}

function requestDraft(facts: RuleFacts, firstLine?: Buffer): RequestDraft {
  const draft: RequestDraft = { facts, rawHeaders: facts.requestHeaders.slice(), clientVersion: facts.clientVersion, delayMs: 0, throttle: {} };
  if (firstLine !== undefined) draft.firstLine = firstLine;
  return draft;
}

function responseDraft(facts: RuleFacts, status = 200, rawHeaders: RawHeaders = [], body?: Buffer, clientVersion: Version | null | undefined = facts.clientVersion): ResponseDraft {
  const draft: ResponseDraft = { facts, clientVersion, status, statusMessage: STATUS_CODES[status] ?? '', rawHeaders: rawHeaders.slice(), delayMs: 0 };
  if (body !== undefined) draft.body = body;
  return draft;
}

function answerOf(draft: RequestDraft): RuleAnswer {
  assert.ok(draft.end?.kind === 'answer', `the request was answered by a rule (end: ${JSON.stringify(draft.end?.kind)})`);
  return draft.end.answer;
}

interface Drive {
  firstLine?: Buffer;
  status?: number;
  responseHeaders?: RawHeaders;
  /** The FPSE packet, when the pipeline buffered it. */
  responseBody?: Buffer;
  bodyMissing?: string;
}

interface Driven {
  run: RuleRun;
  request: RequestDraft;
  /** Absent when a close, reset or hang ended the exchange. */
  response?: ResponseDraft;
}

/** One exchange through a RuleRun in the order src/proxy/http-exchange.ts calls it. */
function drive(set: RuleSet, facts: RuleFacts, opts: Drive = {}): Driven | undefined {
  const run = RuleRun.of(set, facts);
  if (run === undefined) return undefined;
  let stage: Stage = 'request-head';
  if (run.waitsForRequestBody()) {
    addFirstLine(facts, opts.firstLine);
    stage = 'request-body';
  }
  const request = requestDraft(facts, opts.firstLine);
  run.applyRequest(request, stage);
  if (request.end !== undefined) {
    if (request.end.kind !== 'answer') return { run, request };
    const { answer } = request.end;
    const response: ResponseDraft = { ...responseDraft(facts, answer.status, answer.rawHeaders, answer.body, request.clientVersion), statusMessage: answer.statusMessage, delayMs: request.delayMs };
    addResponseHead(facts, answer.status, answer.rawHeaders);
    run.applyResponse(response, 'response-head');
    return { run, request, response };
  }
  const status = opts.status ?? 200;
  const response = responseDraft(facts, status, opts.responseHeaders ?? [], undefined, request.clientVersion);
  addResponseHead(facts, status, opts.responseHeaders ?? []);
  if (!run.needsResponseBody()) {
    run.applyResponse(response, 'response-head');
  } else {
    if (opts.responseBody !== undefined) response.body = opts.responseBody;
    else response.bodyMissing = opts.bodyMissing ?? 'the response body is over the 256 KiB buffer cap, so it streamed unchanged';
    addResponseBody(facts, response.body);
    run.applyResponse(response, 'response-body');
  }
  return { run, request, response };
}

function driven(set: RuleSet, facts: RuleFacts, opts?: Drive): Required<Pick<Driven, 'run' | 'request'>> & Driven {
  const d = drive(set, facts, opts);
  assert.ok(d !== undefined, 'some rule is a candidate for this exchange');
  return d;
}

function record(run: RuleRun, id: string): AppliedRule {
  const found = run.applied.find((r) => r.id === id);
  assert.ok(found !== undefined, `rule ${id} is in the record (${JSON.stringify(run.applied.map((r) => r.id))})`);
  return found;
}

/** The outcome of rule `id` in each of `n` exchanges ('-' when it was not in the record). */
function outcomes(set: RuleSet, id: string, n: number, make: () => RuleFacts = () => mapiFacts()): string[] {
  return Array.from({ length: n }, () => drive(set, make())?.run.applied.find((r) => r.id === id)?.outcome ?? '-');
}

// ---- actions without the engine -----------------------------------------------------------------

function action(name: string, arg: unknown, side: ActionSide = 'request', file = RULE_FILE): CompiledAction {
  const compileAction = ACTION_COMPILERS[name];
  assert.ok(compileAction !== undefined, `action ${name} exists`);
  return compileAction(arg, side, file);
}

/** The sides an action acts on. */
function sides(a: CompiledAction): ActionSide[] {
  return (['request', 'response'] as const).filter((side) => Object.hasOwn(a, side));
}

const fixedContext = { random: (): number => 0.5 };

function onRequest(a: CompiledAction, draft: RequestDraft, ctx = fixedContext): ReturnType<NonNullable<CompiledAction['request']>> {
  assert.ok(a.request !== undefined, `${a.name} acts on the request`);
  return a.request(draft, ctx);
}

function onResponse(a: CompiledAction, draft: ResponseDraft, ctx = fixedContext): ReturnType<NonNullable<CompiledAction['response']>> {
  assert.ok(a.response !== undefined, `${a.name} acts on the response`);
  return a.response(draft, ctx);
}

// =================================================================================================

describe('RuleSet: order, disabled rules, candidates', () => {
  const set = compile(`
rules:
  - id: mapi-connect
    match: { requestType: Connect }
    actions:
      - delay: 10ms
  - id: fpse-open
    match: { fpseMethod: open service }
    actions:
      - delay: 10ms
  - id: contoso-only
    priority: 5
    match: { host: "*.contoso.com" }
    actions:
      - delay: 10ms
  - id: everywhere
    match: { method: [GET, POST] }
    actions:
      - delay: 10ms
  - id: switched-off
    enabled: false
    match: { host: "*" }
    actions:
      - delay: 10ms
`);

  it('orders enabled rules by priority, then file order; keeps disabled ones in all', () => {
    assert.deepEqual(set.rules.map((r) => r.id), ['contoso-only', 'mapi-connect', 'fpse-open', 'everywhere']);
    assert.deepEqual(set.all.map((r) => r.id), ['mapi-connect', 'fpse-open', 'contoso-only', 'everywhere', 'switched-off']);
    assert.equal(set.size, 4);
    assert.equal(rule(set, 'switched-off').enabled, false);
    assert.equal(set.seed, 42);
  });

  it('knows the protocol a rule names or implies', () => {
    assert.equal(rule(set, 'mapi-connect').protocol, 'mapihttp');
    assert.equal(rule(set, 'fpse-open').protocol, 'fpse');
    assert.equal(rule(set, 'everywhere').protocol, undefined);
  });

  /** The connection-level facts candidates() is keyed by. */
  const probe = (protocol: Protocol, host: string): Pick<MatchFacts, 'protocol' | 'method' | 'host' | 'client'> => ({ protocol, host, method: 'POST', client: '127.0.0.1' });

  it('candidates filter by protocol and host, in priority order, without disabled rules', () => {
    assert.deepEqual(set.candidates(probe('mapihttp', 'mail.contoso.com')).map((r) => r.id), ['contoso-only', 'mapi-connect', 'everywhere']);
    assert.deepEqual(set.candidates(probe('fpse', 'sp.fabrikam.com')).map((r) => r.id), ['fpse-open', 'everywhere']);
    assert.deepEqual(set.candidates(probe('http', 'www.contoso.com')).map((r) => r.id), ['contoso-only', 'everywhere']);
    assert.deepEqual(set.candidates(probe('http', 'contoso.com')).map((r) => r.id), ['everywhere']);
  });

  it('caches candidates per protocol and host', () => {
    const first = set.candidates(probe('mapihttp', 'mail.contoso.com'));
    assert.equal(set.candidates(probe('mapihttp', 'mail.contoso.com')), first, 'the same array, not a new filter');
    assert.notEqual(set.candidates(probe('http', 'mail.contoso.com')), first);
  });

  it('a disabled rule never matches: a set of only disabled rules has no run', () => {
    const off = compile(`
rules:
  - id: off
    enabled: false
    match: { host: "*" }
    actions:
      - status: 503
`);
    assert.equal(off.size, 0);
    assert.equal(off.all.length, 1);
    assert.deepEqual(off.candidates(probe('http', 'www.example.org')), []);
    assert.equal(RuleRun.of(off, httpFacts()), undefined);
    assert.equal(rule(off, 'off').gate.matched, 0);
    assert.equal(RuleRun.of(EMPTY_RULES, httpFacts()), undefined);
  });
});

describe('explain()', () => {
  const set = compile(`
rules:
  - id: fpse-client-too-old
    match: { protocol: fpse, clientVersion: "< 4.0.2.2611" }
    actions:
      - reject: client-too-old
  - id: mapi-looks-like-2013-sp1
    match: { protocol: mapihttp, requestType: Connect }
    actions:
      - serverVersion: "15.00.0847.032"
      - delay: 1500ms
    chance: 0.25
    times: 10
  - id: every-exchange
    actions:
      - setHeader: { name: X-Proxy, value: "1", on: response }
      - throttle: 8kb/s
  - id: limits
    match: { host: "*.contoso.com", path: /mapi/* }
    skip: 2
    every: 3
    times: 1
    enabled: false
    actions:
      - removeHeader: X-ClientInfo
      - delay: { duration: 600ms, jitter: 100ms, phase: response-head }
      - close: true
  - id: every-eleventh
    every: 11
    match: { fpseMethod: Server_Version }
    actions:
      - clientVersion: "6.0.2.5523"
      - hang: true
  - id: every-22nd
    every: 22
    match: { client: 10.0.0.0/8, header: { X-ClientInfo: true } }
    actions:
      - status: 503
      - throttle: { rate: 1mb/s, direction: response }
`);

  it('says when and what, in the words of the issue', () => {
    assert.equal(rule(set, 'fpse-client-too-old').explain(), 'when protocol is FPSE and client version is < 4.0.2.2611: reject with client-too-old');
    assert.equal(
      rule(set, 'mapi-looks-like-2013-sp1').explain(),
      'when protocol is MAPI/HTTP and MAPI/HTTP request type is Connect: present the server as 15.00.0847.032, then delay 1500ms before forwarding the request (25% of the time, at most 10 times)',
    );
    assert.equal(rule(set, 'every-exchange').explain(), 'every exchange: set response header X-Proxy: 1, then throttle both directions to 8kb/s');
  });

  it('names limits, ordinals and [disabled]', () => {
    assert.equal(
      rule(set, 'limits').explain(),
      'when host matches *.contoso.com and path matches /mapi/*: remove request header X-ClientInfo, then delay 600ms ± 100ms before the response head, then close the connection without an answer (after the first 2 matches, on every 3rd match, at most 1 time) [disabled]',
    );
    assert.equal(rule(set, 'every-eleventh').explain(), 'when FPSE method is "server version": present the client as 6.0.2.5523, then never answer (on every 11th match)');
    assert.equal(rule(set, 'every-22nd').explain(), 'when client address is in 10.0.0.0/8 and has header X-ClientInfo: answer with status 503, then throttle the response to 1mb/s (on every 22nd match)');
  });

  it('is what the record carries', () => {
    const d = driven(set, fpseFacts(), { firstLine: Buffer.from('method=server+version%3a4%2e0%2e2%2e2000') });
    assert.equal(record(d.run, 'fpse-client-too-old').explain, 'when protocol is FPSE and client version is < 4.0.2.2611: reject with client-too-old');
  });
});

describe('RuleRun: priority and final actions', () => {
  it('applies higher priority first, equal priorities in file order', () => {
    const set = compile(`
rules:
  - id: low
    match: { host: "*.contoso.com" }
    actions:
      - setHeader: { name: X-Order, value: low }
  - id: high
    priority: 10
    match: { host: "*.contoso.com" }
    actions:
      - setHeader: { name: X-Order, value: high }
  - id: low-too
    match: { host: "*.contoso.com" }
    actions:
      - setHeader: { name: X-Order, value: low-too }
  - id: lowest
    priority: -5
    match: { host: "*.contoso.com" }
    actions:
      - setHeader: { name: X-Order, value: lowest }
`);
    const d = driven(set, mapiFacts());
    assert.deepEqual(d.run.applied.map((r) => r.id), ['high', 'low', 'low-too', 'lowest']);
    assert.deepEqual(d.run.applied.map((r) => r.outcome), ['applied', 'applied', 'applied', 'applied']);
    assert.deepEqual(getHeaderValues(d.request.rawHeaders, 'X-Order'), ['lowest']);
    assert.deepEqual(record(d.run, 'low').changes, [{ action: 'setHeader', target: 'X-Order', before: 'high', after: 'low' }]);
    assert.deepEqual(record(d.run, 'high').changes, [{ action: 'setHeader', target: 'X-Order', after: 'high' }]);
  });

  it('keeps priority order across stages: a rule decided on the FPSE first line still runs before a lower one decided at the head', () => {
    const set = compile(`
rules:
  - id: head
    match: { path: "*/author.dll" }
    actions:
      - setHeader: { name: X-Order, value: head }
  - id: body
    priority: 1
    match: { fpseMethod: server version }
    actions:
      - setHeader: { name: X-Order, value: body }
`);
    const d = driven(set, fpseFacts(), { firstLine: Buffer.from('method=server+version%3a12%2e0%2e0%2e6415') });
    assert.deepEqual(d.run.applied.map((r) => [r.id, r.stage]), [['body', 'request-body'], ['head', 'request-head']]);
    assert.equal(getHeader(d.request.rawHeaders, 'X-Order'), 'head');
  });

  it('a final action ends the exchange: later rules are not consulted and keep their times', () => {
    const set = compile(`
rules:
  - id: slow-answer
    priority: 10
    match: { protocol: mapihttp }
    actions:
      - delay: { duration: 50ms, phase: response-head }
  - id: lose-context
    priority: 5
    match: { requestType: Connect }
    actions:
      - reject: context-not-found
  - id: counted
    times: 1
    match: { host: "*.contoso.com" }
    actions:
      - setHeader: { name: X-Counted, value: "yes" }
  - id: on-response
    match: { protocol: mapihttp, serverVersion: any }
    actions:
      - setHeader: { name: X-Seen, value: "yes" }
`);
    const d = driven(set, mapiFacts('Connect'));
    assert.equal(d.run.ended, true);
    assert.deepEqual(d.run.applied.map((r) => r.id), ['slow-answer', 'lose-context']);
    assert.equal(getHeader(answerOf(d.request).rawHeaders, 'X-ResponseCode'), '10');
    assert.equal(getHeader(d.request.rawHeaders, 'X-Counted'), undefined);
    assert.equal(rule(set, 'counted').gate.matched, 0, 'never consulted');
    assert.equal(rule(set, 'on-response').gate.matched, 0, 'not decided on the answer a rule made');
    // The answer the rule made still gets the response-side actions of rules that fired before it.
    assert.equal(d.response?.delayMs, 50);
    assert.equal(getHeader(d.response?.rawHeaders ?? [], 'X-Seen'), undefined);
    assert.equal(d.run.needsResponseBody(), false);

    // The next exchange is not refused: `counted` fires, since its one time was not used up.
    const next = driven(set, mapiFacts('Execute'), { responseHeaders: ['X-ServerApplication', 'Exchange/15.02.1544.014'] });
    assert.equal(next.run.ended, false);
    assert.deepEqual(next.run.applied.map((r) => [r.id, r.outcome, r.stage]), [
      ['slow-answer', 'applied', 'request-head'],
      ['counted', 'applied', 'request-head'],
      ['on-response', 'applied', 'response-head'],
    ]);
    assert.equal(getHeader(next.request.rawHeaders, 'X-Counted'), 'yes');
    assert.equal(getHeader(next.response?.rawHeaders ?? [], 'X-Seen'), 'yes');
  });

  it('close, reset and hang end the exchange with no answer', () => {
    for (const kind of ['close', 'reset', 'hang'] as const) {
      const set = compile(`
rules:
  - id: end-it
    match: { protocol: http }
    actions:
      - ${kind}: true
  - id: after
    match: { protocol: http }
    actions:
      - setHeader: { name: X-After, value: "1" }
`);
      const d = driven(set, httpFacts());
      assert.deepEqual(d.request.end, { kind });
      assert.equal(d.run.ended, true);
      assert.deepEqual(d.run.applied.map((r) => r.id), ['end-it']);
      assert.equal(record(d.run, 'end-it').changes[0]?.target, 'connection');
    }
  });
});

describe('RuleRun: when a rule is decided', () => {
  it('a rule matching the FPSE client version waits for the first line and is decided at request-body', () => {
    const set = compile(`
rules:
  - id: any-author
    match: { path: "*/author.dll" }
    actions:
      - setHeader: { name: X-Seen, value: "1" }
  - id: fpse-client-too-old
    match: { protocol: fpse, clientVersion: "< 4.0.2.2611" }
    actions:
      - reject: client-too-old
`);
    const facts = fpseFacts();
    const run = RuleRun.of(set, facts);
    assert.ok(run !== undefined);
    assert.equal(run.applied.length, 0, 'nothing runs at construction');
    assert.equal(run.waitsForRequestBody(), true);

    const line = Buffer.from('method=server+version%3a4%2e0%2e2%2e2000');
    addFirstLine(facts, line);
    const draft = requestDraft(facts, line);
    run.applyRequest(draft, 'request-body');
    assert.deepEqual(run.applied.map((r) => [r.id, r.stage, r.outcome]), [
      ['any-author', 'request-head', 'applied'],
      ['fpse-client-too-old', 'request-body', 'applied'],
    ]);
    assert.equal(parseFpsePacket(answerOf(draft).body).status?.status, 262156);

    const current = driven(set, fpseFacts(), { firstLine: Buffer.from('method=server+version%3a12%2e0%2e0%2e6415') });
    assert.deepEqual(current.run.applied.map((r) => r.id), ['any-author']);
    assert.equal(current.request.end, undefined);
  });

  it('does not wait for a body when the request facts are all in the head (MAPI/HTTP, _vti_inf.html)', () => {
    const set = compile(`
rules:
  - id: fpse-client-too-old
    match: { protocol: fpse, clientVersion: "< 4.0.2.2611" }
    actions:
      - reject: client-too-old
  - id: anything
    match: { method: [GET, POST] }
    actions:
      - delay: 1ms
`);
    const mapi = RuleRun.of(set, mapiFacts());
    assert.equal(mapi?.waitsForRequestBody(), false, 'the FPSE rule is not even a candidate');
    const vtiInf = RuleRun.of(set, vtiInfFacts());
    assert.equal(vtiInf?.waitsForRequestBody(), false, '_vti_inf.html has no method line');
    const d = driven(set, vtiInfFacts());
    assert.deepEqual(d.run.applied.map((r) => [r.id, r.stage]), [['anything', 'request-head']], 'the FPSE client-version rule is decided (false) at the head');
    assert.equal(d.run.ended, false);
  });

  it('a MAPI/HTTP serverVersion matcher is decided on the response head', () => {
    const set = compile(`
rules:
  - id: mapi-server-predates-mapihttp
    match: { protocol: mapihttp, serverVersion: "< 15.0.847.32" }
    actions:
      - setHeader: { name: X-Old-Server, value: "yes" }
      - status: 503
`);
    const oldServer = driven(set, mapiFacts(), { responseHeaders: ['X-ServerApplication', 'Exchange/15.00.0800.000'] });
    assert.deepEqual(oldServer.run.applied.map((r) => [r.id, r.stage, r.outcome]), [['mapi-server-predates-mapihttp', 'response-head', 'applied']]);
    assert.equal(getHeader(oldServer.response?.rawHeaders ?? [], 'X-Old-Server'), 'yes');
    assert.equal(getHeader(oldServer.request.rawHeaders, 'X-Old-Server'), undefined, 'a response-side rule defaults its setHeader to the response');
    assert.equal(oldServer.response?.status, 503);

    const newServer = driven(set, mapiFacts(), { responseHeaders: ['X-ServerApplication', 'Exchange/15.02.1544.014'] });
    assert.deepEqual(newServer.run.applied, []);
    assert.equal(newServer.response?.status, 200);
  });

  it('an FPSE serverVersion matcher asks for the response body and is decided on it', () => {
    const set = compile(`
rules:
  - id: fpse-2010
    match: { protocol: fpse, serverVersion: ">= 14 < 15" }
    actions:
      - setHeader: { name: X-SP2010, value: "yes" }
`);
    const facts = fpseFacts();
    const run = RuleRun.of(set, facts);
    assert.ok(run !== undefined);
    addFirstLine(facts, Buffer.from('method=server+version%3a12%2e0%2e0%2e6415'));
    const request = requestDraft(facts);
    run.applyRequest(request, 'request-body');
    assert.equal(run.applied.length, 0);
    addResponseHead(facts, 200, []);
    assert.equal(run.needsResponseBody(), true);
    const response = responseDraft(facts, 200, [], fixture('resp-server-version-sp2010.txt'));
    addResponseBody(facts, response.body);
    run.applyResponse(response, 'response-body');
    assert.deepEqual(run.applied.map((r) => [r.id, r.stage, r.outcome]), [['fpse-2010', 'response-body', 'applied']]);
    assert.equal(getHeader(response.rawHeaders, 'X-SP2010'), 'yes');

    const wss = driven(set, fpseFacts(), { firstLine: Buffer.from('method=server+version%3a6%2e0%2e2%2e5523'), responseBody: fixture('resp-server-version-wss2.txt') });
    assert.deepEqual(wss.run.applied, []);
  });

  it(
    'an FPSE serverVersion rule whose packet was over the buffer cap is recorded as skipped with the reason',
    () => {
      const set = compile(`
rules:
  - id: fpse-2010
    match: { protocol: fpse, serverVersion: ">= 14 < 15" }
    actions:
      - setHeader: { name: X-SP2010, value: "yes" }
`);
      const why = 'the response body is over the 256 KiB buffer cap, so it streamed unchanged';
      const d = driven(set, fpseFacts(), { firstLine: Buffer.from('method=server+version%3a12%2e0%2e0%2e6415'), bodyMissing: why });
      assert.deepEqual(d.run.applied.map((r) => [r.id, r.outcome, r.reason]), [['fpse-2010', 'skipped', why]]);
    },
  );

  it('needsResponseBody: true for an FPSE serverVersion action, false for MAPI/HTTP (header only)', () => {
    const set = compile(`
rules:
  - id: downgrade
    match: { host: "*.contoso.com" }
    actions:
      - serverVersion: "6.0.2.5523"
`);
    const fpse = fpseFacts();
    const fpseRun = RuleRun.of(set, fpse);
    assert.ok(fpseRun !== undefined);
    addFirstLine(fpse, Buffer.from('method=server+version%3a12%2e0%2e0%2e6415'));
    fpseRun.applyRequest(requestDraft(fpse), 'request-body');
    addResponseHead(fpse, 200, []);
    assert.equal(fpseRun.needsResponseBody(), true);

    const mapi = mapiFacts();
    const mapiRun = RuleRun.of(set, mapi);
    assert.ok(mapiRun !== undefined);
    mapiRun.applyRequest(requestDraft(mapi), 'request-head');
    addResponseHead(mapi, 200, ['X-ServerApplication', 'Exchange/15.02.1544.014']);
    assert.equal(mapiRun.needsResponseBody(), false);
  });
});

describe('RuleRun: skipped actions', () => {
  it('an action that cannot run on this exchange marks the rule skipped, with the reason', () => {
    const set = compile(`
rules:
  - id: outlook-2010
    match: { host: "*" }
    actions:
      - clientVersion: "14.0.7268.5000"
`);
    const http = driven(set, httpFacts());
    assert.deepEqual(http.run.applied.map((r) => [r.id, r.outcome, r.reason, r.changes]), [['outlook-2010', 'skipped', 'clientVersion: plain HTTP carries no client version', []]]);
    assert.deepEqual(http.request.rawHeaders, httpFacts().requestHeaders, 'the request is untouched');

    const mapi = driven(set, mapiFacts());
    assert.equal(record(mapi.run, 'outlook-2010').outcome, 'applied');
    assert.equal(getHeader(mapi.request.rawHeaders, 'X-ClientApplication'), 'Outlook/14.0.7268.5000');
  });

  it('a skipped rule does not stop the next rule', () => {
    const set = compile(`
rules:
  - id: skipped
    priority: 1
    match: { host: "*" }
    actions:
      - clientVersion: "14.0.7268.5000"
      - setHeader: { name: X-Skipped, value: "ran" }
  - id: next
    match: { host: "*" }
    actions:
      - setHeader: { name: X-Next, value: "ran" }
`);
    const d = driven(set, httpFacts());
    assert.equal(record(d.run, 'skipped').outcome, 'skipped');
    assert.equal(getHeader(d.request.rawHeaders, 'X-Skipped'), undefined, 'the rest of a skipped rule does not run');
    assert.equal(getHeader(d.request.rawHeaders, 'X-Next'), 'ran');
  });

  it(
    'a rule skipped on the request side does not run its response-side actions either',
    () => {
      const set = compile(`
rules:
  - id: half
    match: { host: "*" }
    actions:
      - clientVersion: "14.0.7268.5000"
      - status: 503
`);
      const d = driven(set, httpFacts());
      assert.equal(record(d.run, 'half').outcome, 'skipped');
      assert.equal(d.response?.status, 200);
      assert.deepEqual(record(d.run, 'half').changes, []);
    },
  );

  it('a respond file that cannot be read skips the rule and the exchange goes on', () => {
    const set = compile(`
rules:
  - id: canned
    match: { protocol: http }
    actions:
      - respond: { status: 503, file: no-such-answer.html }
`);
    const d = driven(set, httpFacts());
    assert.equal(d.run.ended, false);
    assert.equal(d.request.end, undefined);
    assert.deepEqual(d.run.applied.map((r) => [r.outcome, r.reason]), [['skipped', 'respond: respond file no-such-answer.html cannot be read (ENOENT)']]);
    assert.equal(d.response?.status, 200);
  });

  it(
    'a protocol-less reject the MAPI/HTTP table has no row for is skipped, not thrown',
    () => {
      for (const arg of ['"403"', '0']) {
        const set = compile(`
rules:
  - id: refuse
    match: { host: "*.contoso.com" }
    actions:
      - reject: ${arg}
`);
        let d: Driven | undefined;
        assert.doesNotThrow(() => (d = drive(set, mapiFacts())), `reject: ${arg}`);
        assert.equal(d?.run.applied[0]?.outcome, 'skipped', `reject: ${arg}`);
      }
    },
  );

  it(
    'a protocol-less reject with an HTTP status is not sent as an X-ResponseCode outside MS-OXCMAPIHTTP 2.2.3.3.3',
    () => {
      const set = compile(`
rules:
  - id: refuse
    match: { host: "*.contoso.com" }
    actions:
      - reject: 403
`);
      const d = driven(set, mapiFacts());
      assert.equal(record(d.run, 'refuse').outcome, 'skipped');
    },
  );
});

describe('RuleGate: skip, every, times, chance', () => {
  it('skip: 2 lets two matches through, recorded as passed with the reason, then fires', () => {
    const set = compile(`
rules:
  - id: skipper
    skip: 2
    match: { protocol: mapihttp }
    actions:
      - setHeader: { name: X-Fired, value: "1" }
`);
    const runs = [1, 2, 3, 4].map(() => driven(set, mapiFacts()));
    assert.deepEqual(runs.map((d) => record(d.run, 'skipper').outcome), ['passed', 'passed', 'applied', 'applied']);
    assert.equal(record(runs[0]!.run, 'skipper').reason, 'skip 2: match 1 passes');
    assert.equal(record(runs[1]!.run, 'skipper').reason, 'skip 2: match 2 passes');
    assert.equal(record(runs[2]!.run, 'skipper').reason, undefined);
    assert.equal(getHeader(runs[1]!.request.rawHeaders, 'X-Fired'), undefined);
    assert.equal(getHeader(runs[2]!.request.rawHeaders, 'X-Fired'), '1');
  });

  it('every: 3 fires on the 3rd, 6th … match', () => {
    const set = compile(`
rules:
  - id: every-third
    every: 3
    match: { protocol: mapihttp }
    actions:
      - reject: context-not-found
`);
    assert.deepEqual(outcomes(set, 'every-third', 7), ['passed', 'passed', 'applied', 'passed', 'passed', 'applied', 'passed']);
    const fourth = driven(set, mapiFacts());
    assert.equal(record(fourth.run, 'every-third').reason, 'every 3: match 8 passes');
  });

  it('skip and every count together: after skip 1, every 2nd of the rest', () => {
    const set = compile(`
rules:
  - id: both
    skip: 1
    every: 2
    match: { protocol: mapihttp }
    actions:
      - delay: 1ms
`);
    assert.deepEqual(outcomes(set, 'both', 6), ['passed', 'passed', 'applied', 'passed', 'applied', 'passed']);
  });

  it('times: 2 fires twice, then lets everything through', () => {
    const set = compile(`
rules:
  - id: twice
    times: 2
    match: { protocol: mapihttp }
    actions:
      - status: 503
`);
    const runs = [1, 2, 3, 4].map(() => driven(set, mapiFacts()));
    assert.deepEqual(runs.map((d) => record(d.run, 'twice').outcome), ['applied', 'applied', 'passed', 'passed']);
    assert.deepEqual(runs.map((d) => d.response?.status), [503, 503, 200, 200]);
    assert.equal(record(runs[2]!.run, 'twice').reason, 'times 2: already fired 2 times');
    assert.equal(rule(set, 'twice').gate.fired, 2);
    assert.equal(rule(set, 'twice').gate.matched, 4);
  });

  it('a rule that does not match does not count', () => {
    const set = compile(`
rules:
  - id: connect-only
    times: 1
    match: { requestType: Connect }
    actions:
      - delay: 1ms
`);
    assert.deepEqual(outcomes(set, 'connect-only', 3, () => mapiFacts('Execute')), ['-', '-', '-']);
    assert.equal(rule(set, 'connect-only').gate.matched, 0);
    assert.deepEqual(outcomes(set, 'connect-only', 2), ['applied', 'passed']);
  });

  const chanceRules = `
rules:
  - id: flaky
    chance: 0.5
    match: { protocol: mapihttp }
    actions:
      - reject: endpoint-disabled
`;

  it('chance with a fixed seed gives the same fire/pass sequence in two compiles, and another seed another one', () => {
    const first = outcomes(compile(chanceRules, 42), 'flaky', 60);
    const second = outcomes(compile(chanceRules, 42), 'flaky', 60);
    assert.deepEqual(second, first);
    assert.ok(first.includes('applied') && first.includes('passed'), `both outcomes occur: ${first.join(',')}`);
    const fired = first.filter((o) => o === 'applied').length;
    assert.ok(fired > 15 && fired < 45, `about half fire (${fired} of 60)`);
    assert.notDeepEqual(outcomes(compile(chanceRules, 43), 'flaky', 60), first);
  });

  it('a passed chance says what it rolled', () => {
    const set = compile(chanceRules, 42);
    const passed = Array.from({ length: 20 }, () => record(driven(set, mapiFacts()).run, 'flaky')).find((r) => r.outcome === 'passed');
    assert.match(passed?.reason ?? '', /^chance 0\.5: rolled 0\.\d{3}$/);
  });

  it('chance is the gate the RuleGate rolls from the rule\'s own seeded stream', () => {
    const gate = new RuleGate({ chance: 0.3 }, createChance(7, 'r'));
    const stream = createChance(7, 'r');
    for (let i = 0; i < 50; i++) {
      const roll = stream();
      assert.equal(gate.decide() === undefined, roll < 0.3, `decision ${i}`);
    }
  });

  it('chance 0 never fires and chance 1 always fires', () => {
    const never = new RuleGate({ chance: 0 }, createChance(1, 'a'));
    const always = new RuleGate({ chance: 1 }, createChance(1, 'a'));
    for (let i = 0; i < 100; i++) {
      assert.notEqual(never.decide(), undefined);
      assert.equal(always.decide(), undefined);
    }
    // A roll is in [0, 1): a roll of exactly 0 still must not fire chance 0.
    assert.equal(new RuleGate({ chance: 0 }, () => 0).decide(), 'chance 0: rolled 0.000');
    assert.equal(new RuleGate({ chance: 0.5 }, () => 0.5).decide(), 'chance 0.5: rolled 0.500');
    assert.equal(new RuleGate({ chance: 0.5 }, () => 0.4999).decide(), undefined);
  });

  it('times stops rolling chance once it is used up', () => {
    let rolls = 0;
    const gate = new RuleGate({ chance: 1, times: 2 }, () => {
      rolls += 1;
      return 0;
    });
    for (let i = 0; i < 5; i++) gate.decide();
    assert.equal(gate.fired, 2);
    assert.equal(rolls, 2);
  });
});

describe('compileRules: counters across a reload', () => {
  const base = `
rules:
  - id: x
    times: 1
    match: { protocol: mapihttp }
    actions:
      - setHeader: { name: X-X, value: a }
  - id: y
    times: 1
    match: { protocol: mapihttp }
    actions:
      - setHeader: { name: X-Y, value: a }
`;

  it('keeps the gate of an unchanged rule and re-arms a changed one', () => {
    const before = compile(base, 42);
    const first = driven(before, mapiFacts());
    assert.deepEqual(first.run.applied.map((r) => r.outcome), ['applied', 'applied']);

    const after = compile(base.replace('{ name: X-Y, value: a }', '{ name: X-Y, value: b }'), 42, before);
    assert.equal(rule(after, 'x').gate, rule(before, 'x').gate, 'the same counters');
    assert.notEqual(rule(after, 'y').gate, rule(before, 'y').gate);
    assert.equal(rule(after, 'y').gate.fired, 0);

    const second = driven(after, mapiFacts());
    assert.deepEqual(second.run.applied.map((r) => [r.id, r.outcome]), [['x', 'passed'], ['y', 'applied']]);
    assert.equal(getHeader(second.request.rawHeaders, 'X-Y'), 'b');
  });

  it('a description, priority or enabled edit is not a change of the rule', () => {
    const before = compile(base, 42);
    driven(before, mapiFacts());
    const edited = base.replace('  - id: x\n', '  - id: x\n    description: now described\n    priority: 3\n');
    const after = compile(edited, 42, before);
    assert.equal(rule(after, 'x').gate, rule(before, 'x').gate);
    assert.equal(rule(after, 'x').description, 'now described');
    assert.equal(record(driven(after, mapiFacts()).run, 'x').outcome, 'passed');
  });

  it('another seed resets every counter', () => {
    const before = compile(base, 42);
    driven(before, mapiFacts());
    const reseeded = compile(base, 43, before);
    assert.notEqual(rule(reseeded, 'x').gate, rule(before, 'x').gate);
    assert.deepEqual(driven(reseeded, mapiFacts()).run.applied.map((r) => r.outcome), ['applied', 'applied']);
  });

  it('a reload carries the chance stream too, so decisions go on where they were', () => {
    const chance = `
rules:
  - id: flaky
    chance: 0.5
    match: { protocol: mapihttp }
    actions:
      - delay: 1ms
`;
    const straight = outcomes(compile(chance, 9), 'flaky', 30);
    const before = compile(chance, 9);
    const head = outcomes(before, 'flaky', 10);
    const tail = outcomes(compile(chance, 9, before), 'flaky', 20);
    assert.deepEqual([...head, ...tail], straight);
  });
});

// =================================================================================================

describe('actions: setHeader / removeHeader', () => {
  it('setHeader replaces every value in place, keeping the first position and its spelling', () => {
    const draft = requestDraft(httpFacts());
    draft.rawHeaders = ['Host', 'h', 'x-a', '1', 'Accept', '*/*', 'X-A', '2', 'Via', 'v'];
    const changes = onRequest(action('setHeader', { name: 'X-A', value: 'b' }), draft);
    assert.deepEqual(draft.rawHeaders, ['Host', 'h', 'x-a', 'b', 'Accept', '*/*', 'Via', 'v']);
    assert.deepEqual(changes, [{ action: 'setHeader', target: 'X-A', before: '1, 2', after: 'b' }]);
  });

  it('setHeader appends when absent, and changes nothing when the value is already there', () => {
    const draft = requestDraft(httpFacts());
    draft.rawHeaders = ['Host', 'h'];
    assert.deepEqual(onRequest(action('setHeader', { name: 'X-A', value: 7 }), draft), [{ action: 'setHeader', target: 'X-A', after: '7' }]);
    assert.deepEqual(draft.rawHeaders, ['Host', 'h', 'X-A', '7']);
    const same = draft.rawHeaders;
    assert.deepEqual(onRequest(action('setHeader', { name: 'x-a', value: '7' }), draft), []);
    assert.equal(draft.rawHeaders, same, 'not rebuilt');
  });

  it('setHeader acts on the side it is told, else on the rule\'s side', () => {
    assert.deepEqual(sides(action('setHeader', { name: 'X-A', value: 'b', on: 'response' }, 'request')), ['response']);
    assert.deepEqual(sides(action('setHeader', { name: 'X-A', value: 'b', on: 'request' }, 'response')), ['request']);
    assert.deepEqual(sides(action('setHeader', { name: 'X-A', value: 'b' }, 'response')), ['response']);
    assert.deepEqual(sides(action('setHeader', { name: 'X-A', value: 'b' }, 'request')), ['request']);
    const response = responseDraft(mapiFacts(), 200, ['X-A', 'old']);
    onResponse(action('setHeader', { name: 'X-A', value: 'b' }, 'response'), response);
    assert.deepEqual(response.rawHeaders, ['X-A', 'b']);
  });

  it('removeHeader removes every line of the name, any case; nothing to remove is no change', () => {
    const draft = requestDraft(httpFacts());
    draft.rawHeaders = ['Host', 'h', 'X-ClientInfo', 'a', 'x-clientinfo', 'b', 'Accept', '*/*'];
    assert.deepEqual(onRequest(action('removeHeader', 'X-ClientInfo'), draft), [{ action: 'removeHeader', target: 'X-ClientInfo', before: 'a, b' }]);
    assert.deepEqual(draft.rawHeaders, ['Host', 'h', 'Accept', '*/*']);
    assert.deepEqual(onRequest(action('removeHeader', 'X-ClientInfo'), draft), []);
    const response = responseDraft(httpFacts(), 200, ['Server', 'IIS', 'X-Powered-By', 'ASP.NET']);
    onResponse(action('removeHeader', { name: 'x-powered-by', on: 'response' }, 'request'), response);
    assert.deepEqual(response.rawHeaders, ['Server', 'IIS']);
  });
});

describe('actions: status, delay, throttle', () => {
  it('status sets code and reason phrase on the response', () => {
    const status = action('status', 503);
    assert.deepEqual(sides(status), ['response']);
    assert.equal(status.final, false);
    const response = responseDraft(httpFacts());
    assert.deepEqual(onResponse(status, response), [{ action: 'status', target: 'status', before: '200 OK', after: '503 Service Unavailable' }]);
    assert.equal(response.status, 503);
    assert.equal(response.statusMessage, 'Service Unavailable');
  });

  it('delay adds to the draft, on the rule\'s side unless a phase is named', () => {
    const draft = requestDraft(httpFacts());
    draft.delayMs = 100;
    assert.deepEqual(onRequest(action('delay', '600ms'), draft), [{ action: 'delay', target: 'request-head', after: '600 ms' }]);
    assert.equal(draft.delayMs, 700);
    assert.equal(action('delay', 1500, 'request').explain, 'delay 1500ms before forwarding the request');
    const late = action('delay', { duration: '2s', phase: 'response-head' }, 'request');
    assert.deepEqual(sides(late), ['response']);
    const response = responseDraft(httpFacts());
    assert.deepEqual(onResponse(late, response), [{ action: 'delay', target: 'response-head', after: '2000 ms' }]);
    assert.equal(response.delayMs, 2000);
    assert.deepEqual(sides(action('delay', '1s', 'response')), ['response'], 'a response-side rule delays the response head');
  });

  it('delay with jitter stays within [d - j, d + j], spreads, and repeats for a seed', () => {
    const jittery = action('delay', { duration: '600ms', jitter: '100ms' });
    assert.equal(jittery.explain, 'delay 600ms ± 100ms before forwarding the request');
    const delays = (seed: number): number[] => {
      const ctx = { random: createChance(seed, 'jitter') };
      return Array.from({ length: 200 }, () => {
        const draft = requestDraft(httpFacts());
        onRequest(jittery, draft, ctx);
        return draft.delayMs;
      });
    };
    const a = delays(42);
    assert.ok(a.every((ms) => ms >= 500 && ms <= 700), `all within bounds: ${Math.min(...a)}..${Math.max(...a)}`);
    assert.ok(Math.min(...a) < 530 && Math.max(...a) > 670, 'uses the whole width');
    assert.deepEqual(delays(42), a);
    assert.notDeepEqual(delays(43), a);
    // The extremes of the stream map to the bounds.
    const low = requestDraft(httpFacts());
    onRequest(jittery, low, { random: () => 0 });
    const high = requestDraft(httpFacts());
    onRequest(jittery, high, { random: () => 0.99999 });
    assert.equal(low.delayMs, 500);
    assert.equal(high.delayMs, 700);
  });

  it('delay jitter through the engine repeats across two compiles with the same seed', () => {
    const yaml = `
rules:
  - id: jitter
    match: { protocol: mapihttp }
    actions:
      - delay: { duration: 600ms, jitter: 100ms }
`;
    const run = (seed: number): number[] => {
      const set = compile(yaml, seed);
      return Array.from({ length: 10 }, () => driven(set, mapiFacts()).request.delayMs);
    };
    const first = run(5);
    assert.deepEqual(run(5), first);
    assert.ok(new Set(first).size > 1, 'not all the same');
    assert.notDeepEqual(run(6), first);
  });

  it('throttle both directions, request only, response only; the slower rate wins', () => {
    const both = action('throttle', '8kb/s', 'request');
    assert.equal(both.explain, 'throttle both directions to 8kb/s');
    const request = requestDraft(httpFacts());
    assert.deepEqual(onRequest(both, request), [{ action: 'throttle', target: 'request body', after: '8192 bytes/s' }]);
    assert.equal(request.throttle.request, 8192);
    const response = responseDraft(httpFacts());
    onResponse(both, response);
    assert.equal(response.throttle, 8192);

    const reqOnly = action('throttle', { rate: '512b/s', direction: 'request' }, 'request');
    assert.deepEqual(sides(reqOnly), ['request']);
    onRequest(reqOnly, request);
    assert.equal(request.throttle.request, 512);
    onRequest(both, request);
    assert.equal(request.throttle.request, 512, 'a faster throttle does not lift a slower one');

    const resOnly = action('throttle', { rate: 1000, direction: 'response' }, 'request');
    assert.deepEqual(sides(resOnly), ['response']);
    assert.equal(resOnly.explain, 'throttle the response to 1000 bytes/s');
    assert.deepEqual(sides(action('throttle', '8kb/s', 'response')), ['response'], 'a response-side rule can only slow the response');
    assert.deepEqual(sides(both), ['request', 'response']);
  });

  it('throttle both through the engine slows the request and the response', () => {
    const set = compile(`
rules:
  - id: slow
    match: { protocol: mapihttp }
    actions:
      - throttle: 1kb/s
`);
    const d = driven(set, mapiFacts());
    assert.equal(d.request.throttle.request, 1024);
    assert.equal(d.response?.throttle, 1024);
  });
});

describe('actions: clientVersion / serverVersion', () => {
  it('clientVersion on MAPI/HTTP keeps the Outlook/ token for a bare version, in place and spelling', () => {
    const facts = mapiFacts();
    const draft = requestDraft(facts);
    draft.rawHeaders = ['Content-Type', 'application/mapi-http', 'x-clientapplication', 'Outlook/16.0.15928.20006', 'X-RequestType', 'Connect'];
    const changes = onRequest(action('clientVersion', '14.0.7268.5000'), draft);
    assert.deepEqual(draft.rawHeaders, ['Content-Type', 'application/mapi-http', 'x-clientapplication', 'Outlook/14.0.7268.5000', 'X-RequestType', 'Connect']);
    assert.deepEqual(changes, [{ action: 'clientVersion', target: 'X-ClientApplication', before: 'Outlook/16.0.15928.20006', after: 'Outlook/14.0.7268.5000' }]);
    assert.deepEqual(draft.clientVersion?.parts, [14, 0, 7268, 5000]);
    assert.deepEqual(facts.clientVersion?.parts, [16, 0, 15928, 20006], 'the facts keep what the client sent');
  });

  it('clientVersion with a product replaces the token whole; absent header is added', () => {
    const draft = requestDraft(mapiFacts());
    onRequest(action('clientVersion', 'MacOutlook/16.80.0.0'), draft);
    assert.equal(getHeader(draft.rawHeaders, 'X-ClientApplication'), 'MacOutlook/16.80.0.0');
    const bare = requestDraft(mapiFacts());
    bare.rawHeaders = ['X-RequestType', 'Connect'];
    onRequest(action('clientVersion', '15.0.4420.1017'), bare);
    assert.deepEqual(bare.rawHeaders, ['X-RequestType', 'Connect', 'X-ClientApplication', 'Outlook/15.0.4420.1017']);
  });

  it('clientVersion on FPSE rewrites the method line in the client\'s own escapes', () => {
    const facts = fpseFacts();
    const line = fixture('req-open-service-office.txt');
    addFirstLine(facts, line);
    const draft = requestDraft(facts, line);
    const changes = onRequest(action('clientVersion', '6.0.2.5523'), draft);
    assert.equal(draft.firstLine?.toString('latin1'), 'method=open+service%3a6%2e0%2e2%2e5523&service%5fname=%2f');
    assert.deepEqual(changes, [{ action: 'clientVersion', target: 'request body: method', before: '12.0.0.6415', after: '6.0.2.5523' }]);
    assert.equal(draft.clientVersion?.text, '6.0.2.5523');
  });

  it('clientVersion says why it cannot run: plain HTTP, FPSE without a method line', () => {
    assert.equal(onRequest(action('clientVersion', '6.0.2.5523'), requestDraft(httpFacts())), 'plain HTTP carries no client version');
    const vtiInf = onRequest(action('clientVersion', '6.0.2.5523'), requestDraft(vtiInfFacts()));
    assert.ok(typeof vtiInf === 'string', 'a reason, not changes');
    assert.match(vtiInf, /no FPSE method line/);
  });

  it('serverVersion on MAPI/HTTP rewrites X-ServerApplication, keeping Exchange/ and the padding written', () => {
    const a = action('serverVersion', '15.00.0847.032', 'response');
    assert.equal(a.needsResponseBody?.(mapiFacts()), false);
    const response = responseDraft(mapiFacts(), 200, ['Content-Type', 'application/mapi-http', 'X-ServerApplication', 'Exchange/15.02.1544.014']);
    assert.deepEqual(onResponse(a, response), [{ action: 'serverVersion', target: 'X-ServerApplication', before: 'Exchange/15.02.1544.014', after: 'Exchange/15.00.0847.032' }]);
    assert.deepEqual(response.rawHeaders, ['Content-Type', 'application/mapi-http', 'X-ServerApplication', 'Exchange/15.00.0847.032']);
    assert.equal(onResponse(a, responseDraft(httpFacts())), 'plain HTTP carries no server version');
  });

  it('serverVersion on FPSE rewrites the packet: list and method line as Min(client, server)', () => {
    const a = action('serverVersion', '6.0.2.5523', 'request');
    assert.equal(a.needsResponseBody?.(fpseFacts()), true);
    const response = responseDraft(fpseFacts(), 200, ['MicrosoftSharePointTeamServices', '14.0.0.6029'], fixture('resp-server-version-sp2010.txt'), v('12.0.0.6415'));
    const changes = onResponse(a, response);
    assert.ok(Array.isArray(changes));
    const packet = parseFpsePacket(response.body ?? Buffer.alloc(0));
    assert.equal(packet.serverVersion?.version?.ok && packet.serverVersion.version.version.text, '6.0.2.5523');
    assert.equal(packet.methodVersion?.ok && packet.methodVersion.version.text, '6.0.2.5523');
    assert.equal(getHeader(response.rawHeaders, 'MicrosoftSharePointTeamServices'), '6.0.2.5523');
    assert.deepEqual(changes.map((c) => c.target), ['response body: method line', 'response body: server version', 'MicrosoftSharePointTeamServices']);
  });

  it('serverVersion only: server-list leaves the method line; method-line leaves the list and the build header', () => {
    const a = action('serverVersion', { version: '5.0.2.6790', only: 'server-list' }, 'request');
    assert.equal(a.explain, 'present the server as 5.0.2.6790 (server-list only)');
    const response = responseDraft(fpseFacts(), 200, ['MicrosoftSharePointTeamServices', '14.0.0.6029'], fixture('resp-server-version-sp2010.txt'), v('12.0.0.6415'));
    onResponse(a, response);
    const packet = parseFpsePacket(response.body ?? Buffer.alloc(0));
    assert.equal(packet.serverVersion?.version?.ok && packet.serverVersion.version.version.text, '5.0.2.6790');
    assert.equal(packet.methodVersion?.ok && packet.methodVersion.version.text, '12.0.0.6415');
    assert.equal(getHeader(response.rawHeaders, 'MicrosoftSharePointTeamServices'), '5.0.2.6790', 'the header names the build, like the list');

    const line = action('serverVersion', { version: '5.0.2.6790', only: 'method-line' }, 'request');
    const lineOnly = responseDraft(fpseFacts(), 200, ['MicrosoftSharePointTeamServices', '14.0.0.6029'], fixture('resp-server-version-sp2010.txt'), v('12.0.0.6415'));
    onResponse(line, lineOnly);
    const linePacket = parseFpsePacket(lineOnly.body ?? Buffer.alloc(0));
    assert.equal(linePacket.serverVersion?.version?.ok && linePacket.serverVersion.version.version.text, '14.0.0.6029');
    assert.equal(linePacket.methodVersion?.ok && linePacket.methodVersion.version.text, '5.0.2.6790');
    assert.equal(getHeader(lineOnly.rawHeaders, 'MicrosoftSharePointTeamServices'), '14.0.0.6029');
  });

  it('serverVersion on FPSE without a buffered body gives the pipeline\'s reason; through the engine the rule is skipped', () => {
    const a = action('serverVersion', '6.0.2.5523', 'request');
    const response = responseDraft(fpseFacts());
    assert.equal(onResponse(a, response), 'the response body was not buffered');
    response.bodyMissing = 'over the cap';
    assert.equal(onResponse(a, response), 'over the cap');

    const set = compile(`
rules:
  - id: downgrade
    match: { protocol: fpse }
    actions:
      - serverVersion: "6.0.2.5523"
`);
    const d = driven(set, fpseFacts(), { firstLine: Buffer.from('method=server+version%3a12%2e0%2e0%2e6415'), bodyMissing: 'over the cap' });
    assert.deepEqual(d.run.applied.map((r) => [r.outcome, r.reason]), [['skipped', 'serverVersion: over the cap']]);
  });

  it('serverVersion on FPSE through the engine: Min(client, server) on the method line when the rule waited for the first line', () => {
    const set = compile(`
rules:
  - id: downgrade
    match: { fpseMethod: server version }
    actions:
      - serverVersion: "6.0.2.5523"
`);
    const d = driven(set, fpseFacts(), { firstLine: Buffer.from('method=server+version%3a5%2e0%2e2%2e2623'), responseBody: fixture('resp-server-version-sp2010.txt') });
    const packet = parseFpsePacket(d.response?.body ?? Buffer.alloc(0));
    assert.equal(packet.methodVersion?.ok && packet.methodVersion.version.text, '5.0.2.2623', 'Min(5.0.2.2623, 6.0.2.5523)');
    assert.equal(packet.serverVersion?.version?.ok && packet.serverVersion.version.version.text, '6.0.2.5523');
    assert.equal(record(d.run, 'downgrade').outcome, 'applied');
  });

  // Both failed against engine.ts of cdbb365 (waitsForRequestBody looked at pending rules only); fixed in 72bcd8c.
  it(
    'serverVersion on FPSE for a rule decided at the head (match: { protocol: fpse }) still answers Min(client, server)',
    () => {
      const set = compile(`
rules:
  - id: downgrade
    match: { protocol: fpse }
    actions:
      - serverVersion: "6.0.2.5523"
`);
      const d = driven(set, fpseFacts(), { firstLine: Buffer.from('method=server+version%3a5%2e0%2e2%2e2623'), responseBody: fixture('resp-server-version-sp2010.txt') });
      const packet = parseFpsePacket(d.response?.body ?? Buffer.alloc(0));
      assert.equal(packet.methodVersion?.ok && packet.methodVersion.version.text, '5.0.2.2623');
    },
  );

  it(
    'clientVersion on FPSE for a rule decided at the head (match: { protocol: fpse }) rewrites the method line',
    () => {
      const set = compile(`
rules:
  - id: pose-as-wss2-client
    match: { protocol: fpse }
    actions:
      - clientVersion: "6.0.2.5523"
`);
      const run = RuleRun.of(set, fpseFacts());
      assert.equal(run?.waitsForRequestBody(), true, 'the run asks for the first line');
      const d = driven(set, fpseFacts(), { firstLine: Buffer.from('method=server+version%3a12%2e0%2e0%2e6415') });
      assert.equal(record(d.run, 'pose-as-wss2-client').outcome, 'applied');
      assert.equal(d.request.firstLine?.toString('latin1'), 'method=server+version%3a6%2e0%2e2%2e5523');
    },
  );
});

describe('actions: reject in each protocol', () => {
  it('FPSE client-too-old: HTTP 200 and a vermeer packet with status 262156', () => {
    const facts = fpseFacts();
    addFirstLine(facts, Buffer.from('method=server+version%3a4%2e0%2e2%2e2000'));
    const draft = requestDraft(facts);
    const changes = onRequest(action('reject', 'client-too-old'), draft);
    const answer = answerOf(draft);
    assert.equal(answer.status, 200);
    assert.equal(getHeader(answer.rawHeaders, 'Content-Type'), 'application/x-vermeer-rpc');
    assert.equal(getHeader(answer.rawHeaders, 'Content-Length'), String(answer.body.length));
    const packet = parseFpsePacket(answer.body);
    assert.equal(packet.isError, true);
    assert.equal(packet.method, 'server version');
    assert.equal(packet.status?.status, 262156);
    assert.equal(packet.status?.osstatus, 0);
    assert.ok((packet.status?.msg ?? '').length > 0, 'a msg= line');
    assert.deepEqual(changes, [{ action: 'reject', target: 'response', after: 'FPSE status 262156 (0x0004000C, client too old)' }]);
  });

  it(
    'FPSE client-too-old names the client version the request stated (method line and msg)',
    () => {
      const facts = fpseFacts();
      addFirstLine(facts, Buffer.from('method=server+version%3a4%2e0%2e2%2e2000'));
      const draft = requestDraft(facts);
      onRequest(action('reject', 'client-too-old'), draft);
      const packet = parseFpsePacket(answerOf(draft).body);
      assert.equal(packet.methodVersion?.ok && packet.methodVersion.version.text, '4.0.2.2000');
      assert.match(packet.status?.msg ?? '', /4\.0\.2\.2000/);
    },
  );

  it('FPSE by hex or number; a MAPI/HTTP name is not an FPSE status', () => {
    for (const arg of ['0x0004000C', 262156]) {
      const draft = requestDraft(fpseFacts());
      onRequest(action('reject', arg), draft);
      assert.equal(parseFpsePacket(answerOf(draft).body).status?.status, 262156, String(arg));
    }
    const badUrl = requestDraft(fpseFacts());
    onRequest(action('reject', 589829), badUrl);
    assert.equal(parseFpsePacket(answerOf(badUrl).body).status?.status, 589829);
    const wrong = requestDraft(fpseFacts());
    assert.equal(onRequest(action('reject', 'endpoint-disabled'), wrong), 'endpoint-disabled is not an FPSE status');
    assert.equal(wrong.end, undefined);
  });

  it('MAPI/HTTP by name: HTTP 200, X-ResponseCode, text/html, X-ServerApplication, echoes', () => {
    const draft = requestDraft(mapiFacts());
    const changes = onRequest(action('reject', 'endpoint-disabled'), draft);
    const answer = answerOf(draft);
    assert.equal(answer.status, 200);
    assert.equal(getHeader(answer.rawHeaders, 'X-ResponseCode'), '16');
    assert.equal(getHeader(answer.rawHeaders, 'Content-Type'), 'text/html');
    assert.ok(getHeader(answer.rawHeaders, 'X-ServerApplication') !== undefined);
    assert.equal(getHeader(answer.rawHeaders, 'X-RequestType'), 'Connect');
    assert.equal(getHeader(answer.rawHeaders, 'X-RequestId'), '{E2EA}:1');
    assert.match(answer.body.toString('utf8'), /<html/i);
    assert.deepEqual(changes, [{ action: 'reject', target: 'response', after: 'MAPI/HTTP X-ResponseCode 16 (Endpoint Disabled)' }]);
  });

  it('MAPI/HTTP by number; client-too-old is refused as an FPSE word', () => {
    const draft = requestDraft(mapiFacts());
    onRequest(action('reject', 10), draft);
    assert.equal(getHeader(answerOf(draft).rawHeaders, 'X-ResponseCode'), '10');
    assert.equal(onRequest(action('reject', 'client-too-old'), requestDraft(mapiFacts())), 'client-too-old is an FPSE refusal; this is a MAPI/HTTP exchange');
  });

  it('plain HTTP by status; a name is not an HTTP status', () => {
    const draft = requestDraft(httpFacts());
    onRequest(action('reject', 403), draft);
    const answer = answerOf(draft);
    assert.equal(answer.status, 403);
    assert.equal(answer.statusMessage, 'Forbidden');
    assert.equal(answer.body.toString('utf8'), '403 Forbidden\n');
    assert.equal(onRequest(action('reject', 'client-too-old'), requestDraft(httpFacts())), 'client-too-old is not an HTTP status; this is a plain HTTP exchange');
    assert.equal(onRequest(action('reject', 200), requestDraft(httpFacts())), '200 is not an HTTP status; this is a plain HTTP exchange');
  });

  it('is final and request-side only', () => {
    const reject = action('reject', 403);
    assert.equal(reject.final, true);
    assert.deepEqual(sides(reject), ['request']);
  });
});

describe('actions: respond', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rules-engine-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers with status, headers and body, adding Content-Length', () => {
    const draft = requestDraft(httpFacts());
    const respond = action('respond', { status: 503, headers: { 'Retry-After': 120, 'Content-Type': 'text/plain' }, body: 'maintenance' });
    assert.equal(respond.final, true);
    assert.equal(respond.explain, 'respond 503');
    const changes = onRequest(respond, draft);
    const answer = answerOf(draft);
    assert.equal(answer.status, 503);
    assert.equal(answer.statusMessage, 'Service Unavailable');
    assert.deepEqual(answer.rawHeaders, ['Retry-After', '120', 'Content-Type', 'text/plain', 'Content-Length', '11']);
    assert.equal(answer.body.toString('utf8'), 'maintenance');
    assert.deepEqual(changes, [{ action: 'respond', target: 'response', after: 'HTTP 503, 11 bytes' }]);
  });

  it('defaults to 200 with an empty body, and keeps a Content-Length the rule wrote', () => {
    const draft = requestDraft(httpFacts());
    onRequest(action('respond', {}), draft);
    assert.equal(answerOf(draft).status, 200);
    assert.deepEqual(answerOf(draft).rawHeaders, ['Content-Length', '0']);
    const own = requestDraft(httpFacts());
    onRequest(action('respond', { headers: { 'content-length': '2' }, body: 'ok' }), own);
    assert.deepEqual(answerOf(own).rawHeaders, ['content-length', '2']);
  });

  it('reads file relative to the rule file, once, at compile time', () => {
    writeFileSync(join(dir, 'answer.html'), '<p>down</p>');
    const ruleFile = join(dir, 'scenario.yaml');
    const respond = action('respond', { status: 502, file: 'answer.html' }, 'request', ruleFile);
    assert.equal(respond.explain, 'respond 502 with answer.html');
    writeFileSync(join(dir, 'answer.html'), 'changed after loading');
    const draft = requestDraft(httpFacts());
    onRequest(respond, draft);
    assert.equal(answerOf(draft).body.toString('utf8'), '<p>down</p>');
    assert.equal(getHeader(answerOf(draft).rawHeaders, 'Content-Length'), '11');
  });

  it('through the engine, with the file beside the rule file', () => {
    writeFileSync(join(dir, 'canned.txt'), 'canned');
    const set = compileRules(load(`
rules:
  - id: canned
    match: { protocol: http }
    actions:
      - respond: { status: 418, file: canned.txt }
`, join(dir, 'rules.yaml')), { seed: 1 });
    const d = driven(set, httpFacts());
    assert.equal(d.run.ended, true);
    assert.equal(d.response?.status, 418);
    assert.equal(d.response?.body?.toString('utf8'), 'canned');
  });

  it('a missing file makes the action say why it cannot run', () => {
    const respond = action('respond', { file: 'missing.html' }, 'request', join(dir, 'scenario.yaml'));
    const draft = requestDraft(httpFacts());
    assert.equal(onRequest(respond, draft), 'respond file missing.html cannot be read (ENOENT)');
    assert.equal(draft.end, undefined);
  });
});

describe('ACTION_COMPILERS', () => {
  it('has exactly the actions docs/rules.md names; the final ones are the ones that end the exchange', () => {
    const names = Object.keys(ACTION_COMPILERS).sort();
    assert.deepEqual(names, ['clientVersion', 'close', 'delay', 'hang', 'reject', 'removeHeader', 'reset', 'respond', 'serverVersion', 'setHeader', 'status', 'throttle']);
    const args: Record<string, unknown> = { clientVersion: '1.2.3.4', serverVersion: '1.2.3.4', reject: 403, respond: {}, status: 503, setHeader: { name: 'X-A', value: 'b' }, removeHeader: 'X-A', delay: 1, throttle: 1, close: true, reset: true, hang: true };
    const finals = names.filter((n) => action(n, args[n]).final);
    assert.deepEqual(finals, ['close', 'hang', 'reject', 'reset', 'respond']);
  });
});
