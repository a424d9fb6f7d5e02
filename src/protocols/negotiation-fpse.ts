/**
 * FPSE verdicts, MS-FPSE 1.7.1 and 3.1.5.3.14: the client puts its version in the method name,
 * the server answers Min(server, client) on the method line and lists its own build; servers
 * refuse clients below 4.0.2.2611 (status 0x0004000C); clients ignore servers below 3.0.2.1002.
 *
 * A negotiation is one `server version` call (1.7.1: the client "uses [the answer] for all
 * further calls"). Every such call starts a new one, and a `_vti_inf.html` GET means the client
 * is starting over, so neither is ever judged against an earlier negotiation. The server's
 * build is per conversation (client address + host); what a client negotiated is per client
 * (User-Agent) within it, so one client is never judged against another's negotiation.
 */
import type { Verdict } from '../core/exchange.js';
import { compareVersions, minVersion, parseVersion, versionString, type Version, type VersionResult } from '../core/version.js';
import type { FpseFacts } from './fpse-observation.js';

/** Oldest client a server accepts (MS-FPSE 1.7.1). */
export const MIN_CLIENT = mustParse('4.0.2.2611');
/** Oldest server a client talks to (MS-FPSE 1.7.1). */
export const MIN_SERVER = mustParse('3.0.2.1002');
/** The status a server answers a too-old client with (MS-FPSE 2.2.4.1, 0x0004000C). */
export const STATUS_CLIENT_TOO_OLD = 262156;

const SERVER_VERSION = 'server version';
/** Clients kept per conversation; past it the oldest is forgotten (it is then judged afresh). */
const CLIENT_LIMIT = 16;

export interface FpseConversation {
  /**
   * The build the server listed in a `server version` answer (MS-FPSE 3.1.5.3.14). The
   * discovery page's FPVersion is only a hint (e.g. `14.00.0.000`), never used for Min.
   */
  server?: Version;
  /** Per client (User-Agent), what its own negotiation established. */
  clients?: Map<string, FpseClientState>;
}

export interface FpseClientState {
  /** Set only by a `server version` call (see `negotiationOutcome`). */
  negotiated?: Version;
  /**
   * The highest version a later call may carry: the negotiated one, or the server's answer when
   * that was wrongly higher (1.7.1: the client "uses that" answer, so following it is no fault).
   */
  ceiling?: Version;
  /** The client's own version, as stated in that call. */
  own?: Version;
  /** The build below MIN_SERVER this client's own `server version` answer listed. */
  serverTooOld?: Version;
}

export interface FpseJudgement {
  verdicts: Verdict[];
  summary: string;
  operation: string;
  versions: { client?: string; server?: string; negotiated?: string; echo?: string };
}

/**
 * False only for a `_vti_inf.html` GET answered with no discovery page (no configuration block
 * and no FPVersion, MS-FPSE 3.1.3.2.1), e.g. the 404 most servers give nmap's `GET //_vti_inf.html`.
 */
export function isDiscovery(facts: FpseFacts): boolean {
  return facts.endpoint !== 'vti-inf' || facts.vtiInf?.configuration === true || facts.vtiInf?.fpVersionText !== undefined;
}

export function judgeFpse(conv: FpseConversation, facts: FpseFacts, userAgent: string, problems: number): FpseJudgement {
  const verdicts: Verdict[] = [];
  if (facts.endpoint === 'vti-inf') {
    // The client is starting over (MS-FPSE 3.1.3.2.1 has it GET the page first): no earlier
    // negotiation holds any longer, for any client at this address (they cannot be told apart:
    // FrontPage sends another User-Agent for this GET than for its RPC calls).
    conv.clients = undefined;
    const hint = ok(facts.vtiInf?.fpVersion);
    if (hint && compareVersions(hint, MIN_SERVER) < 0) verdicts.push(tooOldServer(hint, '_vti_inf.html FPVersion'));
    const versions = { client: undefined, server: hint && versionString(hint), negotiated: undefined };
    return { verdicts, summary: summarize('_vti_inf.html', versions, verdicts, facts, problems), operation: '_vti_inf.html', versions };
  }

  const method = facts.request?.method;
  const isNegotiation = method === SERVER_VERSION;
  const state = clientState(conv, userAgent);
  const client = ok(facts.request?.clientVersion);
  const packet = facts.packet;
  const answered = packet !== undefined && !packet.isError;
  const echo = answered ? ok(packet.methodVersion) : undefined;
  const listed = ok(packet?.serverVersion?.version);
  const server = listed ?? conv.server;

  // Judged against this client's own negotiation, before this exchange changes it. A `server
  // version` call is how a client (re)learns the server's build, so it is never "kept talking",
  // and it states the client's own version, so it never "ignores" an earlier negotiation.
  if (!isNegotiation && state.serverTooOld) {
    verdicts.push({ code: 'client-kept-talking', level: 'violation', message: `the client called again although the server (${versionString(state.serverTooOld)}) is older than ${versionString(MIN_SERVER)}, which MS-FPSE 1.7.1 says clients ignore; its server version answer said so` });
  }
  if (!isNegotiation && client && state.negotiated && state.ceiling && compareVersions(client, state.ceiling) > 0) {
    const answer = compareVersions(state.ceiling, state.negotiated) === 0 ? '' : ` and the server's answer ${versionString(state.ceiling)}`;
    verdicts.push({ code: 'client-ignored-negotiated', level: 'violation', message: `the client sent ${versionString(client)}, above the negotiated ${versionString(state.negotiated)}${answer} of its server version call, which MS-FPSE 1.7.1 has it use for all further calls` });
  }

  const status = packet?.status;
  if (status?.status === STATUS_CLIENT_TOO_OLD) {
    verdicts.push(rejectedTooOld(client, facts.request?.clientVersion !== undefined));
  } else if (answered && client) {
    // A call without a (readable) client version gives nothing to take the Min of: not judged.
    if (echo && server) {
      const expected = minVersion(client, server);
      if (compareVersions(echo, expected) === 0) {
        verdicts.push({ code: 'accepted', level: 'ok', message: `the server answered on ${versionString(echo)} = Min(client ${versionString(client)}, server ${versionString(server)}), as MS-FPSE 1.7.1 requires` });
      } else {
        verdicts.push({ code: 'echo-mismatch', level: 'violation', message: `the method line says ${versionString(echo)}, but Min(client ${versionString(client)}, server ${versionString(server)}) is ${versionString(expected)} (MS-FPSE 1.7.1)` });
      }
    } else if (echo && compareVersions(echo, client) > 0) {
      // Whatever the server's build, Min(client, server) is never above the client's version.
      verdicts.push({ code: 'echo-mismatch', level: 'violation', message: `the method line says ${versionString(echo)}, above the client's ${versionString(client)}; Min(client, server) never is (MS-FPSE 1.7.1)` });
    }
    // A client that sends the Min an old server brought below the floor does as 1.7.1 says (it
    // uses the negotiated version); only its own version is the server's to refuse.
    const downgraded = !isNegotiation && state.negotiated && state.own && compareVersions(client, state.negotiated) === 0 && compareVersions(client, state.own) < 0;
    if (compareVersions(client, MIN_CLIENT) < 0 && !downgraded) {
      verdicts.push({ code: 'server-should-have-rejected', level: 'violation', message: `the server answered the client ${versionString(client)}, which is older than ${versionString(MIN_CLIENT)}; MS-FPSE 1.7.1 says to refuse it with status ${STATUS_CLIENT_TOO_OLD} (0x0004000C)` });
    }
  }
  if (listed && compareVersions(listed, MIN_SERVER) < 0) verdicts.push(tooOldServer(listed, 'server version list'));

  if (listed) conv.server = listed;
  let negotiated: Version | undefined;
  if (isNegotiation) {
    negotiated = answered && client ? negotiationOutcome(client, echo, server) : undefined;
    state.negotiated = negotiated;
    state.ceiling = negotiated && echo && compareVersions(echo, negotiated) > 0 ? echo : negotiated;
    state.own = client;
    // Only the server's own answer to this client tells it the build for certain (3.1.5.3.14).
    state.serverTooOld = listed !== undefined && compareVersions(listed, MIN_SERVER) < 0 ? listed : undefined;
  }
  // The server's build on an RPC call is one a `server version` list gave; the discovery page's
  // FPVersion names a product line (SharePoint's "14.00.0.000") and stays on its own exchange.
  const shown = server;
  // A server version answer that differs from the Min it should be is shown beside it.
  const echoText = echo && !(negotiated && compareVersions(echo, negotiated) === 0) ? versionString(echo) : undefined;
  const versions: FpseJudgement['versions'] = { client: client && versionString(client), server: shown && versionString(shown), negotiated: negotiated && versionString(negotiated) };
  if (echoText) versions.echo = echoText;
  return { verdicts, summary: summarize(`"${method ?? '?'}"`, versions, verdicts, facts, problems), operation: method ?? '?', versions };
}

/**
 * What a `server version` call with a client version and a non-error answer establishes
 * (MS-FPSE 1.7.1): the true Min(client, server) when the server's build is known, even when
 * the method line said otherwise (the echo-mismatch is the server's fault, and judging later
 * calls against a wrong echo would condemn a client that did right); with the build unknown,
 * the method line if it is not above the client's version; otherwise nothing.
 */
function negotiationOutcome(client: Version, echo: Version | undefined, server: Version | undefined): Version | undefined {
  if (server) return minVersion(client, server);
  if (echo && compareVersions(echo, client) <= 0) return echo;
  return undefined;
}

function clientState(conv: FpseConversation, userAgent: string): FpseClientState {
  conv.clients ??= new Map();
  let state = conv.clients.get(userAgent);
  if (state === undefined) {
    if (conv.clients.size >= CLIENT_LIMIT) conv.clients.delete(conv.clients.keys().next().value!);
    state = {};
    conv.clients.set(userAgent, state);
  }
  return state;
}

/**
 * Status 0x0004000C (MS-FPSE 2.2.4.1) is right for a client below MIN_CLIENT (1.7.1). A call
 * whose version could not be read, or that stated none, cannot be judged either way.
 */
function rejectedTooOld(client: Version | undefined, stated: boolean): Verdict {
  const code = 'rejected-client-too-old';
  if (client === undefined) {
    const why = stated ? 'its version could not be read' : 'the call stated no client version';
    return { code, level: 'notice', message: `the server refused the client as older than ${versionString(MIN_CLIENT)}; ${why}, so whether MS-FPSE 1.7.1 calls for that cannot be judged` };
  }
  if (compareVersions(client, MIN_CLIENT) < 0) {
    return { code, level: 'ok', message: `the server refused the client ${versionString(client)} as older than ${versionString(MIN_CLIENT)}, as MS-FPSE 1.7.1 requires` };
  }
  return { code, level: 'violation', message: `the server refused the client ${versionString(client)} as too old, although it is not older than ${versionString(MIN_CLIENT)} (MS-FPSE 1.7.1)` };
}

function tooOldServer(server: Version, where: string): Verdict {
  return { code: 'client-should-reject-server', level: 'notice', message: `the server is ${versionString(server)}, older than ${versionString(MIN_SERVER)} (its ${where}): MS-FPSE 1.7.1 says a client ignores it` };
}

/**
 * One log line. `negotiated=` only where a `server version` call negotiated (MS-FPSE 1.7.1);
 * any other method line is named for what it is, the server's `echo=`.
 */
function summarize(operation: string, versions: FpseJudgement['versions'], verdicts: Verdict[], facts: FpseFacts, problems: number): string {
  let line = `fpse ${operation}`;
  if (versions.client) line += ` client=${versions.client}`;
  if (versions.server) line += ` server=${versions.server}`;
  if (versions.negotiated) line += ` negotiated=${versions.negotiated}`;
  if (versions.echo) line += ` echo=${versions.echo}`;
  const status = facts.packet?.status;
  if (status) line += ` status=${status.status} (${status.hex})`;
  if (problems > 0) line += ` problems=${problems}`;
  for (const v of verdicts) line += ` ${v.code}`;
  return line;
}

function ok(result: VersionResult | undefined): Version | undefined {
  return result?.ok ? result.version : undefined;
}

function mustParse(text: string): Version {
  const result = parseVersion(text);
  if (!result.ok) throw new Error(`built-in version ${text}: ${result.problem}`);
  return result.version;
}
