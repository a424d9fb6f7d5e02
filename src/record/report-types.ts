/**
 * The shape of the negotiation report (`./proxy report`, issue 6 item 4), on its own so the
 * aggregation (report.ts) and the renderers (report-markdown.ts, report-html.ts, report-words.ts)
 * share one contract. `./proxy report --json` prints a Report as it is, so these interfaces are
 * also the JSON output's documented format: change them as you would a public API.
 */
import type { ProtocolRecord, RuleRecord, Verdict } from '../core/exchange.js';
import type { JournalProblem } from './journal-read.js';
import type { SequenceDiagram } from './sequence-diagram.js';

export type { JournalProblem };

export interface RunReport {
  /** The journal file the run line opened. */
  file: string;
  /** Epoch milliseconds the run's first file was opened. */
  time: number;
  /** version-proxy's package version. */
  tool: string;
  mode: 'forward' | 'reverse';
  target?: string;
  seed?: number;
  redaction: { enabled: boolean; extraHeaders: string[] };
  /** Files the run's journal rotated over that were read (1 when it did not rotate). */
  parts: number;
}

export interface VerdictGroup {
  code: string;
  level: Verdict['level'];
  message: string;
  count: number;
  /** Id of the first exchange that got it, to find it in the journal or HAR. */
  firstExchange: string;
}

export interface RuleGroup {
  id: string;
  outcome: RuleRecord['outcome'];
  count: number;
  /** Up to CHANGE_SAMPLES (report.ts) distinct changes the rule made. */
  changes: Array<{ action: string; target: string; before?: string; after?: string }>;
  /** Why it was skipped, the first time (outcome `skipped`). */
  reason?: string;
}

export interface ErrorGroup {
  code: string;
  phase: string;
  /** The first message of the group. */
  message: string;
  count: number;
}

export interface ConversationReport {
  protocol: ProtocolRecord['protocol'];
  conversation: string;
  /** The client build as last stated (FPSE numeric, MAPI/HTTP the X-ClientApplication token). */
  client?: string;
  server?: string;
  /** The last negotiated version (an FPSE `server version` call, MS-FPSE 1.7.1; MAPI/HTTP has no negotiation proper). */
  negotiated?: string;
  /** Exchanges per FPSE method / MAPI/HTTP request type. */
  operations: Record<string, number>;
  /** Violations first, then notices, then ok; by count within a level. */
  verdicts: VerdictGroup[];
  rules: RuleGroup[];
  errors: ErrorGroup[];
  /** Problems met while decoding (ProtocolRecord.problems): the exchange was decoded, but not all of it made sense. */
  decodeProblems: Array<{ message: string; count: number }>;
  exchanges: number;
  /** Epoch milliseconds: start of the first exchange, end of the last. */
  firstSeen: number;
  lastSeen: number;
  /** Distinct builds in the order first stated (more than one: the build changed over time). */
  clientsSeen: string[];
  serversSeen: string[];
  /** The calls as a sequence diagram (sequence-diagram.ts), only when asked for (`--html` draws it). */
  diagram?: SequenceDiagram;
}

export interface PlainReport {
  /** Exchanges no protocol observer claimed: plain HTTP, tunnels, upgrades. */
  exchanges: number;
  tunnels: number;
  upgrades: number;
  errors: number;
  firstSeen?: number;
  lastSeen?: number;
}

export interface HostReport {
  /** The authority addressed (`host[:port]`, default ports left out). */
  host: string;
  conversations: ConversationReport[];
  plain: PlainReport;
  /** Advice the proxy recorded (exchange.hints), e.g. the Windows auth hint. */
  hints: Array<{ message: string; count: number }>;
}

export interface Report {
  /** ISO 8601 UTC. */
  generated: string;
  /** The journal files read, in order (none when the report was made from the control server's ring). */
  journals: string[];
  /**
   * Present when the report was made from the control server's ring of recent exchanges
   * (GET /api/report) instead of journals: how many it held, and how many it can hold
   * (--control-ring); older exchanges are only in the journal.
   */
  ring?: { held: number; capacity: number };
  runs: RunReport[];
  totals: {
    exchanges: number;
    /** `fpse`, `mapihttp`, `http` (plain), `tunnel`, `upgrade`. */
    byProtocol: Record<string, number>;
    /** Exchanges with an error. */
    errors: number;
    /** Verdicts of level violation / notice, counted per exchange. */
    violations: number;
    notices: number;
    /** Rule records with outcome `applied`. */
    rulesApplied: number;
    /** Journal lines that could not be read. */
    problems: number;
    /** Exchanges the writer said it dropped (dropped lines). */
    dropped: number;
    /** Exchanges not recorded, and exchanges recorded without bodies, while the disk was short of space (capture lines). */
    leftOut: number;
    bodiesLeftOut: number;
    conversations: number;
    firstSeen?: number;
    lastSeen?: number;
  };
  hosts: HostReport[];
  /** Present when `--filter` narrowed the report: the expression (canonical form, core/filter.ts) and the exchanges it left out. */
  filter?: { expression: string; leftOut: number };
  /** The first PROBLEM_LIMIT (report.ts) unreadable lines; `totals.problems` has the count. */
  problems: JournalProblem[];
}
