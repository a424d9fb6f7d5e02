/**
 * Negotiation verdicts, kept per conversation: FPSE by client address + host, MAPI/HTTP by the
 * X-ClientInfo GUID, else the session cookie (MS-OXCMAPIHTTP 2.2.3.3.x, 3.2.5.1). Conversations
 * live in bounded LRU maps so a long capture cannot grow memory without end.
 */
import { createHash } from 'node:crypto';
import type { Exchange, ProtocolRecord } from '../core/exchange.js';
import { LruMap } from '../core/lru-map.js';
import { getHeader } from '../core/raw-headers.js';
import { FpseObservation } from './fpse-observation.js';
import { MapiObservation } from './mapihttp-observation.js';
import { isDiscovery, judgeFpse, type FpseConversation } from './negotiation-fpse.js';
import { judgeMapi, type MapiSession } from './negotiation-mapi.js';
import type { Observation } from './observer.js';

const CONVERSATION_LIMIT = 10_000;

export class Negotiations {
  private readonly fpse = new LruMap<string, FpseConversation>(CONVERSATION_LIMIT);
  private readonly mapi = new LruMap<string, MapiSession>(CONVERSATION_LIMIT);
  private readonly mapiServers = new LruMap<string, string>(CONVERSATION_LIMIT);

  /**
   * Concludes the observation and judges it; the result goes on `exchange.protocol`. Undefined
   * for a `_vti_inf.html` GET answered with no discovery page (a 404 to nmap's `GET
   * //_vti_inf.html`): that is no FPSE exchange, though it still tells the client is starting over.
   */
  judge(exchange: Exchange, observation: Observation): ProtocolRecord | undefined {
    const { facts, problems } = observation.conclude();
    if (observation instanceof FpseObservation) {
      const fpseFacts = facts as ReturnType<FpseObservation['conclude']>['facts'];
      const key = `${exchange.client.address} ${hostOf(exchange.url)}`;
      const state = conversation(this.fpse, key);
      if (!isDiscovery(fpseFacts)) {
        state.clients = undefined;
        return undefined;
      }
      // MS-FPSE 1.7.1 negotiates per client: one client's negotiation says nothing of another's.
      const agent = getHeader(exchange.request.rawHeaders, 'user-agent') ?? '';
      const j = judgeFpse(state, fpseFacts, agent, problems.length);
      return { protocol: 'fpse', conversation: key, facts, problems, verdicts: j.verdicts, summary: j.summary, operation: j.operation, versions: j.versions };
    }
    const mapiFacts = facts as ReturnType<MapiObservation['conclude']>['facts'];
    const key = mapiSessionKey(mapiFacts.request.clientInfo, (observation as MapiObservation).cookieHeader, exchange.client.address);
    const j = judgeMapi(conversation(this.mapi, key), mapiFacts, problems.length);
    const server = mapiFacts.response?.serverApplication;
    if (server !== undefined && exchange.response?.source !== 'rule') {
      const host = hostOf(exchange.url);
      if (this.mapiServers.get(host) !== server) this.mapiServers.set(host, server);
    }
    // Spelled out rather than spread: this runs once per observed exchange.
    return { protocol: 'mapihttp', conversation: key, facts, problems, verdicts: j.verdicts, summary: j.summary, operation: j.operation, versions: j.versions };
  }

  /**
   * The X-ServerApplication an upstream host last sent, so a refusal the proxy makes in its
   * place names the same server build (MS-OXCMAPIHTTP 2.2.3.3.6: every response carries it).
   */
  lastMapiServer(url: string): string | undefined {
    return this.mapiServers.get(hostOf(url));
  }
}

/** The state of a conversation, created empty at its first exchange. */
function conversation<T extends object>(map: LruMap<string, T>, key: string): T {
  let state = map.get(key);
  if (state === undefined) {
    state = {} as T;
    map.set(key, state);
  }
  return state;
}

/** `host:port` of `scheme://host:port/…`, lower-cased (string search, not a regex: runs per exchange). */
function hostOf(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme <= 0) return url;
  const slash = url.indexOf('/', scheme + 3);
  return url.slice(scheme + 3, slash === -1 ? url.length : slash).toLowerCase();
}

/**
 * X-ClientInfo is `{GUID}:counter`, the GUID constant per client instance. Without it, the
 * session cookie's value identifies the session; only a short hash of it is kept, never the
 * value itself (it is a credential).
 */
function mapiSessionKey(clientInfo: string | undefined, cookie: string | undefined, address: string): string {
  const guid = clientInfo?.split(':')[0]?.trim();
  if (guid) return `clientinfo ${guid}`;
  const session = cookie?.split(';').map((c) => c.trim()).find((c) => /^(MapiContext|sid)=/i.test(c));
  if (session) return `session ${createHash('sha256').update(session).digest('hex').slice(0, 12)}`;
  return `client ${address}`;
}
