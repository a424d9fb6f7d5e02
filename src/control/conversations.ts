/**
 * FPSE conversations and MAPI/HTTP sessions as they happen (`GET /api/conversations`): the same
 * facts `./proxy report` states from a journal (record/report.ts ConversationTally), kept live.
 * Only protocol exchanges touch it; at most CONVERSATION_LIMIT conversations are held, the least
 * recently active forgotten first.
 */
import { durationOf, type Exchange } from '../core/exchange.js';
import type { Redactor } from '../record/redact.js';
import { ConversationTally, hostOf } from '../record/report.js';
import type { ConversationReport } from '../record/report-types.js';

export const CONVERSATION_LIMIT = 1000;

interface Live {
  host: string;
  tally: ConversationTally;
}

export type LiveConversation = ConversationReport & { host: string };

export class LiveConversations {
  /** Insertion order is activity order: a conversation is moved to the end when it is added to. */
  private readonly map = new Map<string, Live>();

  constructor(
    private readonly redactor: Redactor,
    private readonly limit = CONVERSATION_LIMIT,
  ) {}

  add(x: Exchange): void {
    const protocol = x.protocol;
    if (protocol === undefined) return;
    const key = `${protocol.protocol}\n${protocol.conversation}`;
    const start = x.timings.start;
    let live = this.map.get(key);
    if (live === undefined) {
      live = { host: hostOf(x), tally: new ConversationTally(protocol.protocol, protocol.conversation, start) };
      if (this.map.size >= this.limit) this.map.delete(this.map.keys().next().value!);
    } else {
      this.map.delete(key);
    }
    this.map.set(key, live);
    // Rule changes can carry secrets (a rewritten Authorization): redacted as the journal does.
    const rules = x.rules?.map((r) => (r.changes === undefined ? r : { ...r, changes: this.redactor.changes(r.changes) }));
    live.tally.add({ id: x.id, rules, error: x.error }, protocol, start, start + (durationOf(x) ?? 0));
  }

  /** Forgets every conversation (POST /api/reset). */
  clear(): void {
    this.map.clear();
  }

  /** Most recently active first. */
  list(): LiveConversation[] {
    return [...this.map.values()].reverse().map((l) => ({ host: l.host, ...l.tally.report() }));
  }
}
