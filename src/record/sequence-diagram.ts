/**
 * The negotiation sequence diagram of one conversation (an FPSE conversation or a MAPI/HTTP
 * session, as report.ts groups them): three lanes, client, proxy and server, and per exchange
 * the arrows and notes of sequence-call.ts, in the order the requests began. sequence-svg.ts
 * draws it; `./proxy report --html` and the web UI draw the same model.
 *
 * Bounded: a diagram keeps the first CALL_LIMIT calls (by start time) and counts the rest, so a
 * conversation of a million exchanges costs what one of CALL_LIMIT does. Pure: no node: imports,
 * no DOM.
 */
import { callOf, type DiagramExchange, type LaneId, type SequenceCall } from './sequence-call.js';
import { clip, header } from './sequence-values.js';

export type { Arrow, ArrowStyle, DiagramExchange, LaneId, Mark, Note, NoteTone, SequenceCall, Step } from './sequence-call.js';
export { callOf } from './sequence-call.js';
export { TEXT_LIMIT } from './sequence-values.js';

/** Calls drawn per diagram; the rest are one "… N more calls" row. */
export const CALL_LIMIT = 200;

export interface Lane {
  id: LaneId;
  title: string;
  /** Who stood there: the client's build (its User-Agent when no call stated one), the server's host. */
  detail?: string;
}

export interface SequenceDiagram {
  protocol: 'fpse' | 'mapihttp' | 'http';
  conversation: string;
  lanes: [Lane, Lane, Lane];
  /** In the order the requests began. */
  calls: SequenceCall[];
  /** Calls of the conversation not drawn (past `limit`). */
  more: number;
  limit: number;
}

/** One conversation's exchanges, given in any order, as a diagram. */
export function sequenceDiagram(exchanges: Iterable<DiagramExchange>, options: { limit?: number } = {}): SequenceDiagram {
  const collector = new SequenceCollector(options.limit);
  for (const x of exchanges) collector.add(x);
  return collector.diagram();
}

/**
 * Builds a diagram from exchanges fed one at a time (the report streams its journals): each
 * exchange is turned into its call at once, so no exchange record is kept.
 */
export class SequenceCollector {
  private readonly calls: SequenceCall[] = [];
  private seen = 0;
  /** Start of the latest call kept, once the limit is reached. */
  private latestKept = Infinity;
  private protocol: SequenceDiagram['protocol'] = 'http';
  private conversation = '';
  private clientDetail: string | undefined;
  private serverDetail: string | undefined;

  constructor(readonly limit: number = CALL_LIMIT) {}

  add(x: DiagramExchange): void {
    this.seen += 1;
    if (this.seen === 1) {
      if (x.protocol !== undefined) {
        this.protocol = x.protocol.protocol === 'mapihttp' ? 'mapihttp' : 'fpse';
        this.conversation = clip(String(x.protocol.conversation));
      }
      this.serverDetail = hostOf(String(x.url));
    }
    this.clientDetail ??= header(x.request?.rawHeaders, 'User-Agent');
    const start = Number(x.timings?.start) || 0;
    if (this.calls.length < this.limit) {
      this.calls.push(callOf(x));
      if (this.calls.length === this.limit) this.latestKept = Math.max(...this.calls.map((c) => c.start));
      return;
    }
    // Journals are in the order exchanges ended, so an earlier-started one can come late: it
    // takes the place of the latest kept. Rare, so the rescan costs nothing in the usual case.
    if (start >= this.latestKept || this.limit === 0) return;
    const latest = this.calls.findIndex((c) => c.start === this.latestKept);
    this.calls[latest] = callOf(x);
    this.latestKept = Math.max(...this.calls.map((c) => c.start));
  }

  diagram(): SequenceDiagram {
    const calls = [...this.calls].sort((a, b) => a.start - b.start);
    // The client's own build says more than its User-Agent: the first one a call stated.
    const build = calls.map((c) => c.steps[0]).find((s) => s?.kind === 'arrow' && s.from === 'client' && s.versions !== undefined);
    const client: Lane = { id: 'client', title: 'client' };
    const detail = build?.kind === 'arrow' ? build.versions : this.clientDetail;
    if (detail !== undefined) client.detail = detail;
    const server: Lane = { id: 'server', title: 'server' };
    if (this.serverDetail !== undefined) server.detail = this.serverDetail;
    return {
      protocol: this.protocol,
      conversation: this.conversation,
      lanes: [client, { id: 'proxy', title: 'version-proxy' }, server],
      calls,
      more: this.seen - this.calls.length,
      limit: this.limit,
    };
  }
}

/** The authority of an absolute URL (`host:port`), the target as it is otherwise. */
function hostOf(url: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url);
  return clip(match === null ? url : match[1]!);
}
