/**
 * Actions, compiled from validated `actions:` entries (docs/rules.md "Actions"), found by name
 * in one table (STYLE.md habit 2). An action edits a draft, never a socket: the request draft
 * before forwarding, the response draft before the head is written (STYLE.md habit 8). The
 * pipeline (src/proxy/) then carries the drafts out: delays, throttles, answers and faults.
 * An action that cannot run on this exchange returns the reason, and the record lists the
 * rule as skipped with it.
 */
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { dirname, resolve } from 'node:path';
import { getHeader, getHeaderValues, setHeader as setHeaderLine, withoutHeader, type RawHeaders } from '../core/raw-headers.js';
import { parseVersion, type Version } from '../core/version.js';
import { responseCodeByName } from '../protocols/mapihttp-codes.js';
import type { RuleFacts } from './facts.js';
import { fpseRejectAnswer, httpRejectAnswer, mapiRejectAnswer, parseFpseRejectStatus, type RuleAnswer } from './reject-answers.js';
import { rewriteFpseClientVersion } from './rewrite-fpse-request.js';
import { rewriteFpseServerVersion, rewriteVtiInfVersion } from './rewrite-fpse-response.js';
import { rewriteProductToken } from './rewrite-product-token.js';
import type { ActionSide, Change } from './rule.js';
import { delay, ending, throttle } from './fault-actions.js';

export type { RuleAnswer } from './reject-answers.js';

/** How a final action ends the exchange. */
export type RuleEnding = { kind: 'answer'; answer: RuleAnswer } | { kind: 'close' | 'reset' | 'hang' };

export interface RequestDraft {
  readonly facts: RuleFacts;
  /** The head as it will be forwarded. */
  rawHeaders: RawHeaders;
  /** FPSE: the first line of the body (without its LF), when the rules held it. */
  firstLine?: Buffer;
  /** The client version the upstream will see (the client's own unless an action changed it). */
  clientVersion: Version | null | undefined;
  delayMs: number;
  throttle: { request?: number; response?: number };
  end?: RuleEnding;
}

export interface ResponseDraft {
  readonly facts: RuleFacts;
  /** The client version the upstream saw, for FPSE's Min(client, server) (MS-FPSE 1.7.1). */
  readonly clientVersion: Version | null | undefined;
  status: number;
  statusMessage: string;
  rawHeaders: RawHeaders;
  /** The whole body, when the pipeline buffered it (FPSE packets, answers made by rules). */
  body?: Buffer;
  /** Why the body was not buffered, for actions that needed it. */
  bodyMissing?: string;
  delayMs: number;
  throttle?: number;
}

/** Numbers for jitter, from the rule's own seeded stream. */
export interface ActionContext {
  random(): number;
}

/** Changes made, or the reason the action could not run here. */
export type ActionOutcome = Change[] | string;

export interface CompiledAction {
  readonly name: string;
  /** Ends the exchange (reject, respond, close, reset, hang). */
  readonly final: boolean;
  /** e.g. `reject client-too-old`, `delay 600ms ± 100ms before the response head`. */
  readonly explain: string;
  /** True when the response side needs the body buffered on this exchange (FPSE packets). */
  needsResponseBody?(facts: RuleFacts): boolean;
  request?(draft: RequestDraft, ctx: ActionContext): ActionOutcome;
  response?(draft: ResponseDraft, ctx: ActionContext): ActionOutcome;
}

/** Where an action written without a side runs: the side its rule decides on. */
export type Compile = (arg: unknown, ruleSide: ActionSide, ruleFile: string) => CompiledAction;

const NO_CHANGE: Change[] = [];

// ---- versions -------------------------------------------------------------------------------

function clientVersion(arg: unknown): CompiledAction {
  const spec = String(arg);
  const bare = bareVersion(spec);
  return {
    name: 'clientVersion',
    final: false,
    explain: `present the client as ${spec}`,
    request(draft) {
      const { protocol } = draft.facts;
      if (protocol === 'mapihttp') {
        const changes = replaceHeader(draft, 'clientVersion', 'X-ClientApplication', (old) => rewriteProductToken(old, spec, 'Outlook'));
        draft.clientVersion = versionOf(getHeader(draft.rawHeaders, 'X-ClientApplication'));
        return changes;
      }
      if (protocol !== 'fpse') return 'plain HTTP carries no client version';
      if (draft.firstLine === undefined) return 'the request has no FPSE method line (only RPC POSTs carry the client version)';
      const rewritten = rewriteFpseClientVersion(draft.firstLine, bare);
      if ('problem' in rewritten) return rewritten.problem;
      draft.firstLine = rewritten.line;
      draft.clientVersion = versionOf(bare);
      return [rewritten.change];
    },
  };
}

function serverVersion(arg: unknown): CompiledAction {
  const { version: spec, only } = typeof arg === 'object' && arg !== null ? (arg as { version: string; only?: 'method-line' | 'server-list' }) : { version: String(arg), only: undefined };
  const bare = bareVersion(spec);
  return {
    name: 'serverVersion',
    final: false,
    explain: `present the server as ${spec}${only === undefined ? '' : ` (${only} only)`}`,
    needsResponseBody: (facts) => facts.protocol === 'fpse',
    response(draft) {
      const { protocol } = draft.facts;
      if (protocol === 'mapihttp') {
        // Header only: the body keeps streaming (docs/running.md "Streaming").
        return replaceHeader(draft, 'serverVersion', 'X-ServerApplication', (old) => rewriteProductToken(old, spec, 'Exchange'));
      }
      if (protocol !== 'fpse') return 'plain HTTP carries no server version';
      if (draft.body === undefined) return draft.bodyMissing ?? 'the response body was not buffered';
      const clientV = draft.clientVersion ?? undefined;
      const vtiInf = draft.facts.fpseEndpoint === 'vti-inf';
      // _vti_inf.html has no method line; its FPVersion is the server's build (MS-FPSE 2.2.1).
      if (vtiInf && only === 'method-line') return NO_CHANGE;
      const rewritten = vtiInf ? rewriteVtiInfVersion(draft.body, bare) : rewriteFpseServerVersion(draft.body, { version: bare, ...(only && { only }), ...(clientV && { clientVersion: clientV }) });
      if ('problem' in rewritten) return rewritten.problem;
      draft.body = rewritten.body;
      const changes = [...rewritten.changes];
      // SharePoint names its build in a header too (docs/protocols.md §2.7); a server of the new
      // build would send the new one.
      if (only !== 'method-line' && getHeader(draft.rawHeaders, 'MicrosoftSharePointTeamServices') !== undefined) {
        changes.push(...replaceHeader(draft, 'serverVersion', 'MicrosoftSharePointTeamServices', () => bare));
      }
      return changes;
    },
  };
}

/** `Outlook/14.0.7268.5000` → `14.0.7268.5000`; FPSE versions carry no product. */
function bareVersion(spec: string): string {
  const slash = spec.indexOf('/');
  return slash < 0 ? spec : spec.slice(slash + 1);
}

function versionOf(text: string | undefined): Version | null {
  if (text === undefined) return null;
  const parsed = parseVersion(text);
  return parsed.ok ? parsed.version : null;
}

// ---- answers --------------------------------------------------------------------------------

function reject(arg: unknown): CompiledAction {
  const written = typeof arg === 'string' ? arg.trim() : String(arg);
  return {
    name: 'reject',
    final: true,
    explain: `reject with ${written}`,
    request(draft) {
      const { facts } = draft;
      let answer: RuleAnswer;
      if (facts.protocol === 'fpse') {
        if (typeof arg === 'string' && written !== 'client-too-old' && !/^(0x[0-9a-f]+|-?\d+)$/i.test(written)) return `${written} is not an FPSE status`;
        // The SDK error format names the method and the client's version (MS-FPSE 2.2.3; §2.5).
        answer = fpseRejectAnswer(parseFpseRejectStatus(typeof arg === 'number' ? arg : written), {
          ...(facts.fpseMethod !== undefined && { method: facts.fpseMethod }),
          ...(facts.clientVersion != null && { methodVersion: facts.clientVersion.text }),
        });
      } else if (facts.protocol === 'mapihttp') {
        // A rule without a protocol may carry a number meant for FPSE or HTTP (262156, 403):
        // only the codes of MS-OXCMAPIHTTP 2.2.3.3.3 are a MAPI/HTTP refusal.
        if (written === 'client-too-old') return 'client-too-old is an FPSE refusal; this is a MAPI/HTTP exchange';
        const code = typeof arg === 'number' ? (Number.isInteger(arg) ? responseCodeByName(String(arg)) : undefined) : responseCodeByName(written);
        if (code === undefined || code.value === 0) return `${written} is not a failure X-ResponseCode (MS-OXCMAPIHTTP 2.2.3.3.3); this is a MAPI/HTTP exchange`;
        answer = mapiRejectAnswer(code.value, { requestHeaders: facts.requestHeaders, ...(facts.knownServer !== undefined && { serverApplication: facts.knownServer }) });
      } else {
        const status = typeof arg === 'number' ? arg : Number.NaN;
        if (!(Number.isInteger(status) && status >= 400 && status <= 599)) return `${written} is not an HTTP status; this is a plain HTTP exchange`;
        answer = httpRejectAnswer(status);
      }
      draft.end = { kind: 'answer', answer };
      return [{ action: 'reject', target: 'response', after: answer.summary }];
    },
  };
}

interface RespondArg {
  status?: number;
  headers?: Record<string, string | number>;
  body?: string;
  file?: string;
}

function respond(arg: unknown, _side: ActionSide, ruleFile: string): CompiledAction {
  const spec = arg as RespondArg;
  const status = spec.status ?? 200;
  let body: Buffer | string;
  if (spec.file !== undefined) {
    // Read once, when the rules are (re)loaded: traffic never waits on the disk.
    const path = resolve(dirname(ruleFile), spec.file);
    try {
      body = readFileSync(path);
    } catch (err) {
      body = `respond file ${spec.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
    }
  } else body = Buffer.from(spec.body ?? '', 'utf8');
  return {
    name: 'respond',
    final: true,
    explain: `respond ${status}${spec.file === undefined ? '' : ` with ${spec.file}`}`,
    request(draft) {
      if (typeof body === 'string') return body;
      const rawHeaders: RawHeaders = [];
      for (const [name, value] of Object.entries(spec.headers ?? {})) rawHeaders.push(name, String(value));
      if (getHeader(rawHeaders, 'Content-Length') === undefined) rawHeaders.push('Content-Length', String(body.length));
      const answer: RuleAnswer = { status, statusMessage: STATUS_CODES[status] ?? '', rawHeaders, body, summary: `HTTP ${status}, ${body.length} bytes` };
      draft.end = { kind: 'answer', answer };
      return [{ action: 'respond', target: 'response', after: answer.summary }];
    },
  };
}

// ---- heads ----------------------------------------------------------------------------------

function status(arg: unknown): CompiledAction {
  const code = Number(arg);
  return {
    name: 'status',
    final: false,
    explain: `answer with status ${code}`,
    response(draft) {
      const before = `${draft.status} ${draft.statusMessage}`;
      draft.status = code;
      draft.statusMessage = STATUS_CODES[code] ?? '';
      const changes: Change[] = [{ action: 'status', target: 'status', before, after: `${code} ${draft.statusMessage}` }];
      // RFC 9110 §15.3.5, §15.2: a 204 or 1xx has no content, so its framing fields go too, and
      // the record says the body was dropped rather than leaving Node to drop it unsaid.
      if (code === 204 || code < 200) {
        for (const name of ['Content-Length', 'Transfer-Encoding']) {
          const old = getHeaderValues(draft.rawHeaders, name);
          if (old.length === 0) continue;
          draft.rawHeaders = withoutHeader(draft.rawHeaders, name);
          changes.push({ action: 'status', target: name, before: old.join(', ') });
        }
        delete draft.body;
        changes.push({ action: 'status', target: 'body', after: `none (a ${code} has no content)` });
      }
      return changes;
    },
  };
}

interface HeaderArg {
  name: string;
  value?: string | number;
  on?: ActionSide;
}

function setHeader(arg: unknown, ruleSide: ActionSide): CompiledAction {
  const { name, value, on = ruleSide } = arg as HeaderArg;
  const text = String(value);
  const edit = (draft: { rawHeaders: RawHeaders }): Change[] => replaceHeader(draft, 'setHeader', name, () => text);
  return { name: 'setHeader', final: false, explain: `set ${on} header ${name}: ${text}`, [on]: edit };
}

function removeHeader(arg: unknown, ruleSide: ActionSide): CompiledAction {
  const { name, on = ruleSide } = typeof arg === 'object' && arg !== null ? (arg as HeaderArg) : { name: String(arg) };
  const edit = (draft: { rawHeaders: RawHeaders }): Change[] => {
    const before = getHeaderValues(draft.rawHeaders, name);
    if (before.length === 0) return NO_CHANGE;
    draft.rawHeaders = withoutHeader(draft.rawHeaders, name);
    return [{ action: 'removeHeader', target: name, before: before.join(', ') }];
  };
  return { name: 'removeHeader', final: false, explain: `remove ${on} header ${name}`, [on]: edit };
}

/**
 * Replaces every value of `name` with one value (appended when absent), keeping its position and
 * spelling; records the change when the text differs.
 */
function replaceHeader(draft: { rawHeaders: RawHeaders }, action: string, name: string, next: (old: string | undefined) => string): Change[] {
  const old = getHeaderValues(draft.rawHeaders, name);
  const before = old.length === 0 ? undefined : old.join(', ');
  const after = next(old[0]);
  if (before === after) return NO_CHANGE;
  draft.rawHeaders = setHeaderLine(draft.rawHeaders, name, after);
  return [{ action, target: name, ...(before !== undefined && { before }), after }];
}

export const ACTION_COMPILERS: Readonly<Record<string, Compile>> = Object.freeze({
  clientVersion,
  serverVersion,
  reject,
  respond,
  status,
  setHeader,
  removeHeader,
  delay,
  throttle,
  close: ending('close', 'close the connection without an answer'),
  reset: ending('reset', 'reset the connection (TCP RST)'),
  hang: ending('hang', 'never answer'),
});
