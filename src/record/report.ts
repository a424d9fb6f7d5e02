/**
 * The negotiation report (`./proxy report JOURNAL...`, issue 6 item 4): what a user pastes into a
 * bug report. Per host and per conversation (host + protocol + conversation key, the keys
 * src/protocols/negotiation.ts gives), the builds each side stated, the negotiated version, the
 * verdicts grouped by code, the rules applied, the errors, and when the conversation was seen.
 *
 * The journals are streamed (journal-read.ts), or the control API's ring is (reportOf, one builder
 * for both sources); memory grows with the number of hosts and
 * conversations, never with the number of exchanges: every per-conversation list is capped.
 * The Report's shape is report-types.ts (re-exported here); the formats are report-markdown.ts and
 * report-html.ts, with the words they share in report-words.ts; `--json` is the Report as it is.
 */
import type { Filter } from '../core/filter.js';
import type { ExchangeKind, ProtocolRecord, RuleRecord, Verdict } from '../core/exchange.js';
import type { CaptureLine, ExchangeLine, RunLine } from './entry.js';
import { journalFiles, readJournal, type JournalProblem, type ReadLine } from './journal-read.js';
import type { ConversationReport, ErrorGroup, HostReport, PlainReport, Report, RuleGroup, RunReport, VerdictGroup } from './report-types.js';
import { SequenceCollector } from './sequence-diagram.js';

export type { ConversationReport, ErrorGroup, HostReport, JournalProblem, PlainReport, Report, RuleGroup, RunReport, VerdictGroup } from './report-types.js';

export interface BuildReportOptions {
  /** Told about every unreadable line, beyond the ones the report keeps. */
  onProblem?(problem: JournalProblem): void;
  /** `--filter`: only the exchanges it holds for are reported; the report says how many it left out. */
  filter?: Filter;
  /** The report's `generated` time; default now. */
  now?: Date;
  /** Draw each conversation's calls (ConversationReport.diagram, at most CALL_LIMIT each): `--html` shows them. */
  diagrams?: boolean;
}

export const PROBLEM_LIMIT = 100;
/** Caps that keep a conversation's memory bounded whatever the traffic (see the file comment). */
const CHANGE_SAMPLES = 3;
const MESSAGES_PER_VERDICT = 5;
const DISTINCT_LIMIT = 32;
const BUILDS_LIMIT = 10;
const OTHER = '(other)';

const LEVEL_RANK: Record<Verdict['level'], number> = { violation: 0, notice: 1, ok: 2 };
const OUTCOME_RANK: Record<RuleRecord['outcome'], number> = { applied: 0, skipped: 1, passed: 2 };

export async function buildReport(journals: string[], options: BuildReportOptions = {}): Promise<Report> {
  const files = journalFiles(journals);
  return reportOf((onProblem) => readJournal(files, { onProblem }), files, options);
}

/**
 * The report of any source of journal lines: the journals (buildReport) or the control API's ring
 * of recent exchanges (GET /api/report). `source` is called once, with where to report the lines
 * it had to skip. `journals` is what the report says it was made from.
 */
export async function reportOf(source: (onProblem: (p: JournalProblem) => void) => AsyncIterable<ReadLine>, journals: string[], options: BuildReportOptions = {}): Promise<Report> {
  const builder = new ReportBuilder(options.diagrams === true);
  const problem = (p: JournalProblem): void => {
    builder.problem(p);
    options.onProblem?.(p);
  };
  const filter = options.filter !== undefined && options.filter.terms.length > 0 ? options.filter : undefined;
  let leftOut = 0;
  for await (const { file, line, entry } of source(problem)) {
    if (entry.type === 'run') builder.run(file, entry);
    else if (entry.type === 'dropped') builder.dropped(typeof entry.count === 'number' ? entry.count : 0);
    else if (entry.type === 'capture') builder.leftOut(entry);
    else {
      const invalid = invalidExchange(entry);
      if (invalid !== undefined) problem({ file, line, message: `an exchange line without ${invalid}; skipped` });
      else if (filter === undefined || passes(filter, entry)) builder.exchange(entry);
      else leftOut += 1;
    }
  }
  const report = builder.finish(journals, options.now ?? new Date());
  if (filter !== undefined) report.filter = { expression: filter.toString(), leftOut };
  return report;
}

/** A line too broken for the filter to read (no request, say) is left out, as one it does not hold for. */
function passes(filter: Filter, line: ExchangeLine): boolean {
  try {
    return filter.test(line);
  } catch {
    return false;
  }
}

/** The reader checks only `v` and `type`; these are the fields the report cannot do without. */
function invalidExchange(line: ExchangeLine): string | undefined {
  if (typeof line.id !== 'string') return 'an id';
  if (typeof line.url !== 'string') return 'a url';
  if (typeof line.timings?.start !== 'number') return 'timings.start';
  return undefined;
}

class ReportBuilder {
  private readonly runs: RunReport[] = [];
  private readonly hosts = new Map<string, HostTally>();
  private readonly problems: JournalProblem[] = [];
  private readonly byProtocol: Record<string, number> = {};
  private readonly totals = { exchanges: 0, errors: 0, violations: 0, notices: 0, rulesApplied: 0, problems: 0, dropped: 0, leftOut: 0, bodiesLeftOut: 0 };
  private span: { first: number; last: number } | undefined;

  constructor(private readonly diagrams: boolean) {}

  problem(p: JournalProblem): void {
    this.totals.problems += 1;
    if (this.problems.length < PROBLEM_LIMIT) this.problems.push(p);
  }

  run(file: string, line: RunLine): void {
    const last = this.runs.at(-1);
    // A rotated journal opens every part with a run line (entry.ts `part`); parts come after
    // their first file (journalFiles), so a part above 1 continues the run before it.
    if (last !== undefined && typeof line.part === 'number' && line.part > 1) {
      last.parts += 1;
      return;
    }
    const run: RunReport = {
      file,
      time: line.time,
      tool: line.tool,
      mode: line.mode,
      redaction: { enabled: line.redaction?.enabled !== false, extraHeaders: line.redaction?.extraHeaders ?? [] },
      parts: 1,
    };
    if (line.target !== undefined) run.target = line.target;
    if (line.seed !== undefined) run.seed = line.seed;
    this.runs.push(run);
  }

  /** What a `capture` line says the recording left out while the disk was short of space. */
  leftOut(line: CaptureLine): void {
    if (typeof line.exchangesLeftOut === 'number') this.totals.leftOut += line.exchangesLeftOut;
    if (typeof line.bodiesLeftOut === 'number') this.totals.bodiesLeftOut += line.bodiesLeftOut;
  }

  dropped(count: number): void {
    this.totals.dropped += count;
  }

  exchange(x: ExchangeLine): void {
    const start = x.timings.start;
    const end = typeof x.timings.end === 'number' ? x.timings.end : start;
    this.totals.exchanges += 1;
    const kind = x.protocol?.protocol ?? kindOf(x.kind);
    this.byProtocol[kind] = (this.byProtocol[kind] ?? 0) + 1;
    if (x.error !== undefined) this.totals.errors += 1;
    for (const rule of x.rules ?? []) if (rule.outcome === 'applied') this.totals.rulesApplied += 1;
    for (const verdict of x.protocol?.verdicts ?? []) {
      if (verdict.level === 'violation') this.totals.violations += 1;
      else if (verdict.level === 'notice') this.totals.notices += 1;
    }
    this.span = this.span === undefined ? { first: start, last: end } : { first: Math.min(this.span.first, start), last: Math.max(this.span.last, end) };

    const name = hostOf(x);
    let host = this.hosts.get(name);
    if (host === undefined) {
      host = new HostTally(name, this.diagrams);
      this.hosts.set(name, host);
    }
    host.add(x, start, end);
  }

  finish(files: string[], now: Date): Report {
    const hosts = [...this.hosts.values()].sort((a, b) => compareText(a.name, b.name)).map((h) => h.report());
    const totals: Report['totals'] = {
      ...this.totals,
      byProtocol: this.byProtocol,
      conversations: hosts.reduce((n, h) => n + h.conversations.length, 0),
    };
    if (this.span !== undefined) {
      totals.firstSeen = this.span.first;
      totals.lastSeen = this.span.last;
    }
    return { generated: now.toISOString(), journals: files, runs: this.runs, totals, hosts, problems: this.problems };
  }
}

function kindOf(kind: ExchangeKind | undefined): string {
  return kind === 'tunnel' || kind === 'upgrade' ? kind : 'http';
}

/**
 * The authority an exchange addressed: `new URL` lowercases it and leaves default ports out, so
 * `http://Host:80/a` and `http://host/b` are one host. A CONNECT's `host:443` loses `:443` to
 * meet the intercepted exchanges inside it (`https://host/...`).
 */
export function hostOf(x: Pick<ExchangeLine, 'url' | 'kind'>): string {
  if (x.kind === 'tunnel' || !/^[a-z][a-z0-9+.-]*:\/\//i.test(x.url)) return x.url.toLowerCase().replace(/:443$/, '');
  try {
    return new URL(x.url).host;
  } catch {
    return x.url.toLowerCase();
  }
}

class HostTally {
  private readonly conversations = new Map<string, ConversationTally>();
  private readonly plain: PlainReport = { exchanges: 0, tunnels: 0, upgrades: 0, errors: 0 };
  private readonly hints = new CappedCounter();
  /** Per conversation key, its calls as a diagram; only when the report draws them. */
  private readonly diagrams: Map<string, SequenceCollector> | undefined;

  constructor(
    readonly name: string,
    diagrams: boolean,
  ) {
    if (diagrams) this.diagrams = new Map();
  }

  add(x: ExchangeLine, start: number, end: number): void {
    for (const hint of x.hints ?? []) this.hints.add(String(hint));
    const protocol = x.protocol;
    if (protocol === undefined) {
      const p = this.plain;
      p.exchanges += 1;
      if (x.kind === 'tunnel') p.tunnels += 1;
      if (x.kind === 'upgrade') p.upgrades += 1;
      if (x.error !== undefined) p.errors += 1;
      p.firstSeen = Math.min(p.firstSeen ?? start, start);
      p.lastSeen = Math.max(p.lastSeen ?? end, end);
      return;
    }
    const key = `${protocol.protocol}\n${protocol.conversation}`;
    let conv = this.conversations.get(key);
    if (conv === undefined) {
      conv = new ConversationTally(protocol.protocol, String(protocol.conversation), start);
      this.conversations.set(key, conv);
    }
    conv.add(x, protocol, start, end);
    if (this.diagrams !== undefined) {
      let diagram = this.diagrams.get(key);
      if (diagram === undefined) {
        diagram = new SequenceCollector();
        this.diagrams.set(key, diagram);
      }
      diagram.add(x);
    }
  }

  report(): HostReport {
    const protocolRank = (p: string): number => (p === 'fpse' ? 0 : 1);
    const conversations = [...this.conversations.entries()]
      .map(([key, c]) => {
        const report = c.report();
        const diagram = this.diagrams?.get(key);
        if (diagram !== undefined) report.diagram = diagram.diagram();
        return report;
      })
      .sort((a, b) => protocolRank(a.protocol) - protocolRank(b.protocol) || a.firstSeen - b.firstSeen || compareText(a.conversation, b.conversation));
    return { host: this.name, conversations, plain: this.plain, hints: this.hints.entries().map(([message, count]) => ({ message, count })) };
  }
}

/** One conversation's facts as the report states them; the control API keeps these live too. */
export class ConversationTally {
  private client: string | undefined;
  private server: string | undefined;
  private negotiated: string | undefined;
  private readonly clientsSeen: string[] = [];
  private readonly serversSeen: string[] = [];
  private readonly operations = new CappedCounter();
  /** code + level → up to MESSAGES_PER_VERDICT groups, one per distinct message. */
  private readonly verdicts = new Map<string, VerdictGroup[]>();
  private readonly rules = new Map<string, RuleGroup>();
  private readonly errors = new Map<string, ErrorGroup>();
  private readonly decodeProblems = new CappedCounter();
  private exchanges = 0;
  private lastSeen: number;

  constructor(
    readonly protocol: ProtocolRecord['protocol'],
    readonly conversation: string,
    private firstSeen: number,
  ) {
    this.lastSeen = firstSeen;
  }

  add(x: Pick<ExchangeLine, 'id' | 'rules' | 'error'>, protocol: ProtocolRecord, start: number, end: number): void {
    this.exchanges += 1;
    this.firstSeen = Math.min(this.firstSeen, start);
    this.lastSeen = Math.max(this.lastSeen, end);
    this.operations.add(String(protocol.operation ?? '?'));
    const versions = protocol.versions ?? {};
    if (versions.client !== undefined) this.client = noteBuild(this.clientsSeen, String(versions.client));
    if (versions.server !== undefined) this.server = noteBuild(this.serversSeen, String(versions.server));
    if (versions.negotiated !== undefined) this.negotiated = String(versions.negotiated);
    for (const verdict of protocol.verdicts ?? []) this.addVerdict(verdict, x.id);
    for (const problem of protocol.problems ?? []) this.decodeProblems.add(String(problem));
    for (const rule of x.rules ?? []) this.addRule(rule);
    if (x.error !== undefined) {
      const key = `${x.error.code}\n${x.error.phase}`;
      const group = this.errors.get(key);
      if (group !== undefined) group.count += 1;
      else if (this.errors.size < DISTINCT_LIMIT) this.errors.set(key, { code: String(x.error.code), phase: String(x.error.phase), message: String(x.error.message), count: 1 });
    }
  }

  /**
   * Verdict codes are a small fixed set (negotiation-fpse.ts, negotiation-mapi.ts, the
   * X-ResponseCode names of mapihttp-codes.ts), but messages carry the builds, so one code can
   * come with many messages: past MESSAGES_PER_VERDICT, further ones count toward the first.
   */
  private addVerdict(verdict: Verdict, exchange: string): void {
    const key = `${verdict.code}\n${verdict.level}`;
    let groups = this.verdicts.get(key);
    if (groups === undefined) {
      if (this.verdicts.size >= DISTINCT_LIMIT) return;
      groups = [];
      this.verdicts.set(key, groups);
    }
    const same = groups.find((g) => g.message === verdict.message) ?? (groups.length >= MESSAGES_PER_VERDICT ? groups[0] : undefined);
    if (same !== undefined) same.count += 1;
    else groups.push({ code: String(verdict.code), level: verdict.level, message: String(verdict.message), count: 1, firstExchange: exchange });
  }

  private addRule(rule: RuleRecord): void {
    const key = `${rule.id}\n${rule.outcome}`;
    let group = this.rules.get(key);
    if (group === undefined) {
      if (this.rules.size >= DISTINCT_LIMIT) return;
      group = { id: String(rule.id), outcome: rule.outcome, count: 0, changes: [] };
      if (rule.reason !== undefined) group.reason = String(rule.reason);
      this.rules.set(key, group);
    }
    group.count += 1;
    for (const change of rule.changes ?? []) {
      if (group.changes.length >= CHANGE_SAMPLES) break;
      const sample: RuleGroup['changes'][number] = { action: String(change.action), target: String(change.target) };
      if (change.before !== undefined) sample.before = String(change.before);
      if (change.after !== undefined) sample.after = String(change.after);
      if (!group.changes.some((c) => c.action === sample.action && c.target === sample.target && c.before === sample.before && c.after === sample.after)) {
        group.changes.push(sample);
      }
    }
  }

  report(): ConversationReport {
    const verdicts = [...this.verdicts.values()].flat().sort((a, b) => LEVEL_RANK[a.level] - LEVEL_RANK[b.level] || b.count - a.count || compareText(a.code, b.code));
    const rules = [...this.rules.values()].sort((a, b) => OUTCOME_RANK[a.outcome] - OUTCOME_RANK[b.outcome] || b.count - a.count || compareText(a.id, b.id));
    const errors = [...this.errors.values()].sort((a, b) => b.count - a.count || compareText(a.code, b.code));
    const report: ConversationReport = {
      protocol: this.protocol,
      conversation: this.conversation,
      operations: Object.fromEntries(this.operations.entries()),
      verdicts,
      rules,
      errors,
      decodeProblems: this.decodeProblems.entries().map(([message, count]) => ({ message, count })),
      exchanges: this.exchanges,
      firstSeen: this.firstSeen,
      lastSeen: this.lastSeen,
      clientsSeen: this.clientsSeen,
      serversSeen: this.serversSeen,
    };
    if (this.client !== undefined) report.client = this.client;
    if (this.server !== undefined) report.server = this.server;
    if (this.negotiated !== undefined) report.negotiated = this.negotiated;
    return report;
  }
}

/** Remembers a build among the first BUILDS_LIMIT distinct ones; returns it. */
function noteBuild(seen: string[], build: string): string {
  if (seen.length < BUILDS_LIMIT && !seen.includes(build)) seen.push(build);
  return build;
}

/** Counts by name; past DISTINCT_LIMIT names, the rest count as `(other)`. */
class CappedCounter {
  private readonly counts = new Map<string, number>();

  add(name: string): void {
    const key = this.counts.has(name) || this.counts.size < DISTINCT_LIMIT ? name : OTHER;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Most frequent first. */
  entries(): Array<[string, number]> {
    return [...this.counts.entries()].sort((a, b) => b[1] - a[1] || compareText(a[0], b[0]));
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
