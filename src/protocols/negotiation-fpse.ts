/**
 * FPSE verdicts, MS-FPSE 1.7.1 and 3.1.5.3.14: the client puts its version in the method name,
 * the server answers Min(server, client) on the method line and lists its own build; servers
 * refuse clients below 4.0.2.2611 (status 0x0004000C); clients ignore servers below 3.0.2.1002.
 * State is kept per conversation (client address + host).
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

export interface FpseConversation {
  /** The version of the last method line: what the client should use from then on. */
  negotiated?: Version;
  server?: Version;
  /** The server is below MIN_SERVER: a conforming client stops here. */
  serverTooOld?: boolean;
}

export interface FpseJudgement {
  verdicts: Verdict[];
  summary: string;
  operation: string;
  versions: { client?: string; server?: string; negotiated?: string };
}

export function judgeFpse(conv: FpseConversation, facts: FpseFacts): FpseJudgement {
  const verdicts: Verdict[] = [];
  const client = ok(facts.request?.clientVersion);
  const packet = facts.packet;
  const methodVersion = ok(packet?.methodVersion);
  const listed = ok(packet?.serverVersion?.version) ?? ok(facts.vtiInf?.fpVersion);
  const isRpc = facts.endpoint !== 'vti-inf';

  // Judged against what the conversation already established, before this exchange updates it.
  // `server version` itself is how the client learns the server's build, so it is never "kept
  // talking" (MS-FPSE 1.7.1).
  if (isRpc && conv.serverTooOld && facts.request?.method !== 'server version') {
    verdicts.push({ code: 'client-kept-talking', level: 'violation', message: `the client called again although the server (${versionString(conv.server!)}) is older than ${versionString(MIN_SERVER)}, which MS-FPSE 1.7.1 says clients ignore` });
  }
  if (client && conv.negotiated && compareVersions(client, conv.negotiated) > 0) {
    verdicts.push({ code: 'client-ignored-negotiated', level: 'violation', message: `the client sent ${versionString(client)}, above the negotiated ${versionString(conv.negotiated)} it should use for further calls (MS-FPSE 1.7.1)` });
  }

  const server = listed ?? conv.server;
  const status = packet?.status;
  if (status?.status === STATUS_CLIENT_TOO_OLD) {
    const conforming = client === undefined || compareVersions(client, MIN_CLIENT) < 0;
    verdicts.push({
      code: 'rejected-client-too-old',
      level: conforming ? 'ok' : 'violation',
      message: conforming
        ? `the server refused the client${client ? ` ${versionString(client)}` : ''} as older than ${versionString(MIN_CLIENT)}, as MS-FPSE 1.7.1 requires`
        : `the server refused the client ${versionString(client)} as too old, although it is not older than ${versionString(MIN_CLIENT)}`,
    });
  } else if (packet && !packet.isError) {
    if (client && methodVersion && server) {
      const expected = minVersion(client, server);
      if (compareVersions(methodVersion, expected) === 0) {
        verdicts.push({ code: 'accepted', level: 'ok', message: `the server answered on ${versionString(methodVersion)} = Min(client ${versionString(client)}, server ${versionString(server)}), as MS-FPSE 1.7.1 requires` });
      } else {
        verdicts.push({ code: 'echo-mismatch', level: 'violation', message: `the method line says ${versionString(methodVersion)}, but Min(client ${versionString(client)}, server ${versionString(server)}) is ${versionString(expected)} (MS-FPSE 1.7.1)` });
      }
    }
    if (client && compareVersions(client, MIN_CLIENT) < 0) {
      verdicts.push({ code: 'server-should-have-rejected', level: 'violation', message: `the server answered the client ${versionString(client)}, which is older than ${versionString(MIN_CLIENT)}; MS-FPSE 1.7.1 says to refuse it with status ${STATUS_CLIENT_TOO_OLD} (0x0004000C)` });
    }
  }
  if (listed && compareVersions(listed, MIN_SERVER) < 0) {
    verdicts.push({ code: 'client-should-reject-server', level: 'notice', message: `the server is ${versionString(listed)}, older than ${versionString(MIN_SERVER)}: MS-FPSE 1.7.1 says a client ignores it` });
    // Only the server's own answer to `server version` tells a client its build for certain; the
    // discovery page's FPVersion is a hint the client still confirms with that call.
    if (packet?.serverVersion?.version?.ok) conv.serverTooOld = true;
  }

  if (listed) conv.server = listed;
  if (methodVersion && !packet?.isError) conv.negotiated = methodVersion;
  const negotiated = methodVersion && !packet?.isError ? versionString(methodVersion) : undefined;
  return {
    verdicts,
    summary: summarize(facts, client, server, methodVersion, verdicts),
    operation: facts.endpoint === 'vti-inf' ? '_vti_inf.html' : (facts.request?.method ?? '?'),
    versions: { client: client && versionString(client), server: server && versionString(server), negotiated },
  };
}

function summarize(facts: FpseFacts, client: Version | undefined, server: Version | undefined, negotiated: Version | undefined, verdicts: Verdict[]): string {
  const method = facts.endpoint === 'vti-inf' ? '_vti_inf.html' : `"${facts.request?.method ?? '?'}"`;
  const parts = [`fpse ${method}`];
  if (client) parts.push(`client=${versionString(client)}`);
  if (server) parts.push(`server=${versionString(server)}`);
  if (negotiated && !facts.packet?.isError) parts.push(`negotiated=${versionString(negotiated)}`);
  const status = facts.packet?.status;
  if (status) parts.push(`status=${status.status} (${status.hex})`);
  for (const v of verdicts) parts.push(v.code);
  return parts.join(' ');
}

function ok(result: VersionResult | undefined): Version | undefined {
  return result?.ok ? result.version : undefined;
}

function mustParse(text: string): Version {
  const result = parseVersion(text);
  if (!result.ok) throw new Error(`built-in version ${text}: ${result.problem}`);
  return result.version;
}
