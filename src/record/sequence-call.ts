/**
 * One exchange as one call of a negotiation sequence diagram (sequence-diagram.ts): the arrows
 * between client, proxy and server, top to bottom, each with the version it carried, the notes
 * where the proxy changed a value or answered itself, and the verdicts beside the arrow they
 * judge.
 *
 * Where each value comes from (src/core/exchange.ts has the record's views):
 *   client -> proxy   the request as sent: FPSE client version from the method value (MS-FPSE
 *                     2.2.2; a `clientVersion` rule's `before`), MAPI/HTTP X-ClientApplication
 *                     (MS-OXCMAPIHTTP 2.2.3.3.6)
 *   proxy -> server   `forwarded` (a rule's `after`)
 *   server -> proxy   `upstreamResponse`, and the values a response rule replaced (`before`):
 *                     FPSE method-line version (1.7.1) and `server version` list (3.1.5.3.14),
 *                     MAPI/HTTP X-ServerApplication (2.2.3.3.7) and X-ResponseCode (2.2.3.3.3)
 *   proxy -> client   `response` and the decoded packet: the observer reads the response as
 *                     delivered (src/proxy/http-exchange.ts), so the facts are what the client got
 *
 * Pure: no node: imports, no DOM, so the web UI bundles it for the browser. The record may come
 * from a journal on disk (anything can be in it), so every field is read defensively and every
 * string is clipped (sequence-values.ts): a diagram's size never follows the size of a header.
 */
import { clip, fpseClientGot, fpseServerSaid, header, mapiSaid } from './sequence-values.js';

/** What the diagram reads of an exchange: both the Exchange record and a journal line fit it. */
export interface DiagramExchange {
  id: string;
  url: string;
  request: { method: string; url: string; rawHeaders: string[] };
  forwarded?: { path: string; rawHeaders: string[] };
  response?: DiagramResponse;
  upstreamResponse?: DiagramResponse;
  upstream?: object;
  protocol?: {
    protocol: 'fpse' | 'mapihttp';
    conversation: string;
    operation: string;
    versions: { client?: string; server?: string; negotiated?: string; echo?: string };
    verdicts: Array<{ code: string; level: 'ok' | 'notice' | 'violation'; message: string }>;
    facts?: unknown;
  };
  rules?: Array<{ id: string; outcome: string; changes: Array<{ action: string; target: string; before?: string; after?: string }> }>;
  error?: { code: string; message: string; phase: string };
  timings: { start: number };
}

interface DiagramResponse {
  statusCode: number;
  statusMessage?: string;
  rawHeaders: string[];
  source: 'upstream' | 'proxy' | 'rule';
}

export type LaneId = 'client' | 'proxy' | 'server';

/** A verdict beside the arrow it judges (src/protocols/negotiation*.ts). */
export interface Mark {
  level: 'ok' | 'notice' | 'violation';
  code: string;
  message: string;
}

/**
 * `request` and `answer` are the ordinary messages; `refusal` is an answer the proxy made in the
 * server's stead (a rule's reject or respond, or the proxy's own 502); `failed` ends in a cross
 * (a reset, a close, an upstream that could not be reached).
 */
export type ArrowStyle = 'request' | 'answer' | 'refusal' | 'failed';

export interface Arrow {
  kind: 'arrow';
  from: LaneId;
  to: LaneId;
  /** The operation (`server version`, `Connect`) or the status (`200 OK`). */
  label: string;
  /** The versions the message carried, e.g. `12.0.0.6415` or `method line 5.0.2.6790, server 5.0.2.6790`. */
  versions?: string;
  style: ArrowStyle;
  /** The proxy changed what this arrow carries (the notes before it say how). */
  rewritten: boolean;
  marks: Mark[];
}

export type NoteTone = 'rewrite' | 'refusal' | 'negotiated' | 'error';

export interface Note {
  kind: 'note';
  /** `all` spans the three lifelines (the negotiated version). */
  lane: LaneId | 'all';
  text: string;
  tone: NoteTone;
}

export type Step = Arrow | Note;

export interface SequenceCall {
  /** The exchange id, to find it in the journal, the HAR or the control API. */
  id: string;
  /** Epoch milliseconds the request began. */
  start: number;
  /** The operation, or the method and path for an exchange no observer decoded. */
  operation: string;
  steps: Step[];
}

/** Actions that answer instead of the server (docs/rules.md "Actions"). */
const FINAL_ACTIONS = new Set(['reject', 'respond', 'close', 'reset', 'hang']);
const REQUEST_ACTIONS = new Set(['clientVersion']);
/** Faults that change when bytes flow, not what they say (src/rules/fault-actions.ts). */
const TIMING_ACTIONS = new Set(['delay', 'throttle']);
/** Verdicts about what the client sent (negotiation-fpse.ts, negotiation-mapi.ts); the rest judge the answer. */
const REQUEST_VERDICTS = new Set(['client-kept-talking', 'client-ignored-negotiated']);
const ENDINGS: Record<string, string> = { close: 'closed without an answer', reset: 'connection reset', hang: 'no answer (held open)' };

export interface SidedChange {
  rule: string;
  action: string;
  target: string;
  before?: string;
  after?: string;
  side: 'request' | 'response' | 'final';
}

export function callOf(x: DiagramExchange): SequenceCall {
  const p = x.protocol;
  const fpse = p?.protocol === 'fpse';
  const changes = sidedChanges(x);
  const requestChanges = changes.filter((c) => c.side === 'request');
  const responseChanges = changes.filter((c) => c.side === 'response');
  const final = changes.find((c) => c.side === 'final');
  const operation = clip(p?.operation !== undefined ? String(p.operation) : `${String(x.request?.method ?? '?')} ${pathOf(String(x.url))}`);
  const steps: Step[] = [];
  const requestMarks: Mark[] = [];
  const answerMarks: Mark[] = [];
  for (const v of Array.isArray(p?.verdicts) ? p.verdicts : []) {
    if (typeof v !== 'object' || v === null) continue;
    const mark: Mark = { level: levelOf(v.level), code: clip(String(v.code)), message: clip(String(v.message)) };
    (isRequestVerdict(mark) ? requestMarks : answerMarks).push(mark);
  }

  const facts = p?.facts;
  const sent = fpse ? changed(requestChanges, 'clientVersion')?.before ?? p?.versions?.client : header(x.request?.rawHeaders, 'X-ClientApplication');
  const clientArrow = arrow('client', 'proxy', operation, sent, 'request', false);
  steps.push(clientArrow);
  for (const c of requestChanges) steps.push(changeNote(c));

  // The arrow the request verdicts judge: the observer reads the request as forwarded, which is
  // what the client sent unless a rule changed it.
  let requestJudged: Arrow = clientArrow;
  if (final !== undefined) {
    steps.push({ kind: 'note', lane: 'proxy', text: clip(`rule ${final.rule}: ${final.action}${final.after === undefined ? '' : ` → ${final.after}`}`), tone: 'refusal' });
    steps.push(proxyAnswer(x, fpse, facts, final.action));
  } else if (reachedUpstream(x)) {
    const forwarded = fpse ? changed(requestChanges, 'clientVersion')?.after ?? p?.versions?.client : header((x.forwarded ?? x.request)?.rawHeaders, 'X-ClientApplication');
    const toServer = arrow('proxy', 'server', operation, forwarded, 'request', requestChanges.length > 0);
    steps.push(toServer);
    if (requestChanges.length > 0) requestJudged = toServer;
    if (x.response?.source === 'upstream') {
      const upstream = x.upstreamResponse ?? x.response;
      const said = fpse ? fpseServerSaid(facts, responseChanges) : mapiSaid(upstream.rawHeaders, undefined);
      steps.push(arrow('server', 'proxy', statusText(upstream), said, 'answer', false));
      for (const c of responseChanges) steps.push(changeNote(c));
      const got = fpse ? fpseClientGot(facts) : mapiSaid(x.response.rawHeaders, facts);
      steps.push(arrow('proxy', 'client', statusText(x.response), got, 'answer', responseChanges.length > 0));
    } else {
      // The upstream never answered: the request arrow ends in a cross, and the client got the
      // proxy's own answer (502, 504) or nothing (docs/running.md "Failures are answers").
      toServer.style = 'failed';
      if (x.error !== undefined) toServer.label = clip(`${operation} ✗ ${String(x.error.code)}`);
      steps.push(proxyAnswer(x, fpse, facts, undefined));
    }
  } else {
    steps.push(proxyAnswer(x, fpse, facts, undefined));
  }
  if (x.error !== undefined) steps.push({ kind: 'note', lane: 'proxy', text: clip(`${String(x.error.code)} in ${String(x.error.phase)}: ${String(x.error.message)}`), tone: 'error' });

  requestJudged.marks.push(...requestMarks);
  lastArrow(steps).marks.push(...answerMarks);
  // MS-FPSE 1.7.1: a `server version` call settles the version for all further calls.
  const negotiated = p?.versions?.negotiated;
  if (negotiated !== undefined) steps.push({ kind: 'note', lane: 'all', text: clip(`negotiated ${String(negotiated)}`), tone: 'negotiated' });
  return { id: clip(String(x.id)), start: Number(x.timings?.start) || 0, operation, steps };
}

/** The answer the proxy gave in the server's stead, or the cross when it gave none. */
function proxyAnswer(x: DiagramExchange, fpse: boolean, facts: unknown, action: string | undefined): Arrow {
  const response = x.response;
  if (response === undefined) {
    const label = action !== undefined ? ENDINGS[action] ?? action : x.error !== undefined ? `no answer (${String(x.error.code)})` : 'no answer';
    return arrow('proxy', 'client', label, undefined, 'failed', false);
  }
  const got = fpse ? fpseClientGot(facts) : mapiSaid(response.rawHeaders, facts);
  return arrow('proxy', 'client', `${statusText(response)} from the proxy`, got, 'refusal', false);
}

function arrow(from: LaneId, to: LaneId, label: string, versions: string | undefined, style: ArrowStyle, rewritten: boolean): Arrow {
  const a: Arrow = { kind: 'arrow', from, to, label: clip(label), style, rewritten, marks: [] };
  if (versions !== undefined && versions !== '') a.versions = clip(String(versions));
  return a;
}

/** `rule ID: target before → after`; a timing fault says what it did (`delay response-head: 600 ms`). */
function changeNote(c: SidedChange): Note {
  if (TIMING_ACTIONS.has(c.action)) return { kind: 'note', lane: 'proxy', text: clip(`rule ${c.rule}: ${c.action} ${c.target}${c.after === undefined ? '' : `: ${c.after}`}`), tone: 'rewrite' };
  const value = c.before === undefined && c.after === undefined ? '' : ` ${c.before ?? '(none)'} → ${c.after ?? '(removed)'}`;
  return { kind: 'note', lane: 'proxy', text: clip(`rule ${c.rule}: ${c.target}${value}`), tone: 'rewrite' };
}

/** Every change an applied rule made, with the side of the proxy it happened on. */
function sidedChanges(x: DiagramExchange): SidedChange[] {
  const out: SidedChange[] = [];
  for (const rule of Array.isArray(x.rules) ? x.rules : []) {
    if (rule?.outcome !== 'applied' || !Array.isArray(rule.changes)) continue;
    for (const c of rule.changes) {
      if (typeof c !== 'object' || c === null) continue;
      const change: SidedChange = { rule: String(rule.id), action: String(c.action), target: String(c.target), side: sideOf(x, c) };
      if (c.before !== undefined) change.before = String(c.before);
      if (c.after !== undefined) change.after = String(c.after);
      out.push(change);
    }
  }
  return out;
}

/**
 * The record names the action and its target, not the side (src/rules/actions.ts): header
 * actions say only the header's name, so the forwarded head tells whether it was the request's.
 */
function sideOf(x: DiagramExchange, c: { action: string; target: string; before?: string; after?: string }): SidedChange['side'] {
  const action = String(c.action);
  const target = String(c.target);
  if (FINAL_ACTIONS.has(action)) return 'final';
  if (REQUEST_ACTIONS.has(action) || target.startsWith('request')) return 'request';
  if (action === 'setHeader' || action === 'removeHeader') {
    const forwarded = x.forwarded?.rawHeaders;
    if (forwarded === undefined) return 'response';
    const now = header(forwarded, target);
    const was = header(x.request?.rawHeaders, target);
    return (c.after !== undefined && now === c.after && was !== c.after) || (action === 'removeHeader' && was !== undefined && now === undefined) ? 'request' : 'response';
  }
  return 'response';
}

function changed(changes: SidedChange[], action: string): SidedChange | undefined {
  return changes.find((c) => c.action === action);
}

/** Whether the request went to the server at all (a connection was made or tried). */
function reachedUpstream(x: DiagramExchange): boolean {
  return x.response?.source === 'upstream' || x.upstream !== undefined || x.upstreamResponse !== undefined || (x.error !== undefined && x.error.phase !== 'request-head');
}

function isRequestVerdict(mark: Mark): boolean {
  if (REQUEST_VERDICTS.has(mark.code)) return true;
  // MAPI/HTTP names a side in the message of a code both sides share (negotiation-mapi.ts).
  return (mark.code === 'header-missing' || mark.code === 'build-changed-mid-session') && /^the (request|client)\b/.test(mark.message);
}

function levelOf(level: unknown): Mark['level'] {
  return level === 'violation' || level === 'notice' ? level : 'ok';
}

function lastArrow(steps: Step[]): Arrow {
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i]!;
    if (step.kind === 'arrow') return step;
  }
  throw new Error('a call always has an arrow');
}

function statusText(response: DiagramResponse): string {
  const message = response.statusMessage === undefined || response.statusMessage === '' ? '' : ` ${String(response.statusMessage)}`;
  return `${String(response.statusCode)}${message}`;
}

/** The path of an absolute URL (or the target as it is), without the query: enough to name a call. */
function pathOf(url: string): string {
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  const end = path.search(/[?#]/);
  return end < 0 ? path : path.slice(0, end);
}
