/**
 * MAPI/HTTP verdicts. There is no negotiation proper (MS-OXPROTO 2.6.2): the client states its
 * build in X-ClientApplication on every request, the server its build in X-ServerApplication on
 * every response (MS-OXCMAPIHTTP 2.2.3.3.x), and each limits itself to what the other supports.
 * So the verdicts check that both are stated, stay the same within a session, that the server
 * is new enough to speak MAPI/HTTP at all, and name non-zero X-ResponseCodes.
 */
import type { Verdict } from '../core/exchange.js';
import { quote } from '../core/quote.js';
import { compareVersions, parseVersion, type Version, type VersionResult } from '../core/version.js';
import type { MapiFacts } from './mapihttp-observation.js';

/** Exchange 2013 SP1, the first server with MAPI/HTTP (MS-OXCNOTIF note <1>; docs/protocols.md §1.2). */
export const FIRST_MAPIHTTP_SERVER = (() => {
  const r = parseVersion('15.0.847.32');
  if (!r.ok) throw new Error(r.problem);
  return r.version;
})();

export interface MapiSession {
  client?: string;
  server?: string;
}

export interface MapiJudgement {
  verdicts: Verdict[];
  summary: string;
  operation: string;
  versions: { client?: string; server?: string };
}

export function judgeMapi(session: MapiSession, facts: MapiFacts, problems = 0): MapiJudgement {
  const verdicts: Verdict[] = [];
  const { request, response, stream } = facts;
  if (request.clientApplication === undefined) {
    verdicts.push({ code: 'header-missing', level: 'violation', message: 'the request has no X-ClientApplication; MS-OXCMAPIHTTP 2.2.3.3.6 wants it on every request' });
  }
  if (response && response.serverApplication === undefined) {
    verdicts.push({ code: 'header-missing', level: 'violation', message: 'the response has no X-ServerApplication; MS-OXCMAPIHTTP 2.2.3.3.7 wants it on every response' });
  }
  const client = request.clientApplication?.trim();
  const server = response?.serverApplication?.trim();
  // A Connect (2.2.4.1) or Bind (2.2.5.1) opens a new session context: after a restart or a
  // fail-over the builds may rightly differ from the last context's, so it is not judged.
  const type = request.requestType?.toLowerCase();
  const opens = type === 'connect' || type === 'bind';
  if (!opens && changed(session.client, client, request.clientVersion)) {
    verdicts.push({ code: 'build-changed-mid-session', level: 'violation', message: `the client said ${session.client} earlier in this session and now ${client}` });
  }
  if (!opens && changed(session.server, server, response?.serverVersion)) {
    verdicts.push({ code: 'build-changed-mid-session', level: 'violation', message: `the server said ${session.server} earlier in this session and now ${server}` });
  }
  const serverVersion = ok(response?.serverVersion);
  if (serverVersion && compareVersions(serverVersion, FIRST_MAPIHTTP_SERVER) < 0) {
    verdicts.push({ code: 'server-predates-mapihttp', level: 'violation', message: `the server says ${server ?? '?'}, older than Exchange 2013 SP1 (15.0.847.32), the first with MAPI/HTTP` });
  }
  if (response?.responseCode && response.responseCode.value !== 0) {
    const rc = response.responseCode;
    verdicts.push({ code: rc.kebab, level: 'notice', message: `X-ResponseCode ${rc.value} (${rc.name}) in the response head` });
  }
  if (stream?.responseCode && stream.responseCode.value !== 0) {
    const rc = stream.responseCode;
    verdicts.push({ code: rc.kebab, level: 'notice', message: `X-ResponseCode ${rc.value} (${rc.name}) after DONE: the request failed late (MS-OXCMAPIHTTP 2.2.2.2)` });
  }
  // 2.2.3.3.x: each header carries a build; one that does not parse tells the other side nothing.
  const unreadable = [request.clientVersion?.ok === false && `X-ClientApplication ${quote(client!)}`, response?.serverVersion?.ok === false && `X-ServerApplication ${quote(server!)}`].filter(Boolean);
  if (unreadable.length > 0) {
    verdicts.push({ code: 'build-unparseable', level: 'violation', message: `${unreadable.join(' and ')} ${unreadable.length > 1 ? 'are' : 'is'} not a build (MS-OXCMAPIHTTP 2.2.3.3.6, 2.2.3.3.7: Outlook/n.n.n.n, Exchange/n.n.n.n)` });
  }
  // `ok` claims both builds were stated and readable: never for a request without an answer.
  if (verdicts.length === 0 && request.clientVersion?.ok === true && response?.serverVersion?.ok === true) {
    verdicts.push({ code: 'ok', level: 'ok', message: 'both builds stated and readable, as MS-OXCMAPIHTTP 2.2.3.3.6 and 2.2.3.3.7 require' });
  }

  if (client !== undefined) session.client = client;
  if (server !== undefined) session.server = server;
  return { verdicts, summary: summarize(facts, client, server, verdicts, problems), operation: request.requestType ?? '?', versions: { client, server } };
}

function summarize(facts: MapiFacts, client: string | undefined, server: string | undefined, verdicts: Verdict[], problems: number): string {
  // Built by concatenation: this line is made for every observed exchange.
  let line = `mapihttp ${facts.request.requestType ?? '?'}`;
  if (client) line += ` client=${client}`;
  if (server) line += ` server=${server}`;
  const code = facts.stream?.responseCode ?? facts.response?.responseCode;
  if (code) line += ` code=${code.value}`;
  const s = facts.stream;
  if (s && (s.processing > 0 || s.pending > 0 || s.done)) {
    let tags = s.processing > 0 ? 'PROCESSING' : '';
    if (s.pending > 0) tags += `${tags ? ',' : ''}PENDING×${s.pending}`;
    if (s.done) tags += `${tags ? ',' : ''}DONE`;
    line += ` ${tags}`;
  }
  if (problems > 0) line += ` problems=${problems}`;
  for (const v of verdicts) line += ` ${v.code}`;
  return line;
}

/** A build other than the session's; `15.02.1544.014` and `15.2.1544.14` are the same build. */
function changed(before: string | undefined, now: string | undefined, parsed: VersionResult | undefined): boolean {
  if (before === undefined || now === undefined || now === before) return false;
  const earlier = parseVersion(before);
  if (!earlier.ok || parsed?.ok !== true) return true;
  return compareVersions(earlier.version, parsed.version) !== 0 || earlier.version.product !== parsed.version.product;
}

function ok(result: VersionResult | undefined): Version | undefined {
  return result?.ok ? result.version : undefined;
}
