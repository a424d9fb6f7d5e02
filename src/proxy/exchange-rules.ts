/**
 * The rules' part of one HTTP exchange (steps 3, 5 and 8 of http-exchange.ts): which rules
 * could match it, and the drafts they edit (STYLE.md habit 8: actions edit drafts, never
 * sockets). The pipeline carries the drafts out: delays, throttles, answers and faults.
 */
import type { Exchange } from '../core/exchange.js';
import type { Origin } from '../core/origin.js';
import type { RawHeaders } from '../core/raw-headers.js';
import { FPSE_FIRST_LINE_CAP } from '../protocols/fpse-request.js';
import type { RequestDraft, ResponseDraft, RuleAnswer } from '../rules/actions.js';
import { RuleRun } from '../rules/engine.js';
import { addFirstLine, addResponseHead, requestFacts } from '../rules/facts.js';
import type { Held } from './body-hold.js';
import { adjustContentLength } from './framing.js';
import type { PipelineContext } from './pipeline-context.js';

/**
 * Step 3: the rules that could match this request, read once (a reload never changes an
 * exchange in flight); undefined when none could, and the exchange streams as it is.
 */
export function ruleRunOf(
  ctx: Pick<PipelineContext, 'rules' | 'negotiations'>,
  exchange: Exchange,
  dest: { origin: Origin; path: string },
  client: string,
  rawHeaders: RawHeaders,
): RuleRun | undefined {
  const rules = ctx.rules();
  const facts = rules.size === 0 ? undefined : requestFacts({ method: exchange.request.method, host: dest.origin.hostname, path: dest.path, client, rawHeaders });
  const run = facts === undefined ? undefined : RuleRun.of(rules, facts);
  if (run?.facts.protocol === 'mapihttp') {
    const known = ctx.negotiations.lastMapiServer(exchange.url);
    if (known !== undefined) run.facts.knownServer = known;
  }
  return run;
}

/**
 * Step 5: the request-side rules on a draft of the request as it will be forwarded. `held` is
 * what was read of the body while they waited for its first line; `line` is that line, when
 * it came in whole.
 */
export function decideRequestDraft(run: RuleRun, rawHeaders: RawHeaders, held: Held | undefined, line: Buffer | undefined): RequestDraft {
  if (held !== undefined && line === undefined) run.skipWaitingForRequestBody(`the first line of the request body is over the ${FPSE_FIRST_LINE_CAP / 1024} KiB cap, so it was forwarded unread`);
  if (held !== undefined) addFirstLine(run.facts, line);
  const draft: RequestDraft = { facts: run.facts, rawHeaders, clientVersion: run.facts.clientVersion, delayMs: 0, throttle: {} };
  if (line !== undefined) draft.firstLine = line;
  run.applyRequest(draft, held === undefined ? 'request-head' : 'request-body');
  return draft;
}

/**
 * The held body bytes, sent ahead of the rest of the body, with the first line as the rules
 * left it; the draft's Content-Length follows when the line's length changed.
 */
export function heldPrefix(draft: RequestDraft, held: Held | undefined, line: Buffer | undefined): Buffer | undefined {
  let prefix = held?.bytes;
  if (held !== undefined && line !== undefined && draft.firstLine !== line) {
    // Only the first line changed: the rest of the body (a `put document` tail) follows as is.
    prefix = Buffer.concat([draft.firstLine!, held.bytes.subarray(line.length)]);
    draft.rawHeaders = adjustContentLength(draft.rawHeaders, draft.firstLine!.length - line.length);
  }
  return prefix;
}

/** Step 8 for an answer a final action made: a response draft, edited by the response-side rules. */
export function decideAnswerDraft(run: RuleRun, draft: RequestDraft, answer: RuleAnswer): ResponseDraft {
  const response: ResponseDraft = {
    facts: draft.facts,
    clientVersion: draft.clientVersion,
    status: answer.status,
    statusMessage: answer.statusMessage,
    rawHeaders: answer.rawHeaders,
    body: answer.body,
    // A request-side delay still holds the answer back: a slow refusal is a refusal.
    delayMs: draft.delayMs,
  };
  addResponseHead(draft.facts, answer.status, answer.rawHeaders);
  run.applyResponse(response, 'response-head');
  return response;
}

/** Facts of an exchange no rule looks at: the response draft still needs the field. */
export const NO_FACTS = Object.freeze({ method: '', host: '', path: '', client: '', requestHeaders: [], protocol: 'http' as const });
