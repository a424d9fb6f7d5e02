/**
 * The words of the negotiation report that both formats use (report-markdown.ts, report-html.ts),
 * kept in one place so the markdown and the HTML say the same thing: protocol names, the time
 * format, counts with their nouns, the summary paragraph, what a rule did, whether a run was
 * redacted. Everything here returns plain text, or takes the format's escaping as a parameter:
 * escaping stays with each format (CommonMark for one, HTML for the other).
 */
import type { Verdict } from '../core/exchange.js';
import type { ConversationReport, PlainReport, Report, RuleGroup, RunReport, VerdictGroup } from './report-types.js';

export const PROTOCOL_NAMES: Record<string, string> = { fpse: 'FPSE', mapihttp: 'MAPI/HTTP', http: 'plain HTTP', tunnel: 'tunnels', upgrade: 'upgrades' };

/** ISO 8601 UTC, the one time format of the report. */
export function isoTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? '—' : date.toISOString();
}

/** Verdict groups summed per code and level, in the report's order (violations first). */
export function verdictCounts(verdicts: VerdictGroup[]): Array<{ code: string; level: Verdict['level']; count: number }> {
  const byCode = new Map<string, { code: string; level: Verdict['level']; count: number }>();
  for (const v of verdicts) {
    const key = `${v.level}\n${v.code}`;
    const seen = byCode.get(key);
    if (seen === undefined) byCode.set(key, { code: v.code, level: v.level, count: v.count });
    else seen.count += v.count;
  }
  return [...byCode.values()];
}

/** `3 exchanges (1 tunnel)`: what a host carried besides FPSE and MAPI/HTTP. */
export function plainCounts(plain: PlainReport): string {
  const kinds = [plain.tunnels > 0 ? plural(plain.tunnels, 'tunnel') : '', plain.upgrades > 0 ? plural(plain.upgrades, 'upgrade') : ''].filter(Boolean);
  return `${plural(plain.exchanges, 'exchange')}${kinds.length > 0 ? ` (${kinds.join(', ')})` : ''}`;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Runs recorded with --no-redact: their journals hold secrets (issue 6 item 2). */
export function unredactedRuns(report: Report): RunReport[] {
  return report.runs.filter((r) => !r.redaction.enabled);
}

/** Where the exchanges of a report came from when it was not made from journals (Report.ring). */
export function ringSource(ring: NonNullable<Report['ring']>): string {
  return `the control server's ring of recent exchanges, which held ${plural(ring.held, 'exchange')} (at most ${ring.capacity}, --control-ring); older exchanges are only in the journal (./proxy report recordings/)`;
}

/**
 * The one-paragraph summary: runs, time span, exchanges by protocol, hosts, violations, rules,
 * errors, unreadable lines, and how the journal was redacted. Plain text; each format escapes it.
 */
export function summaryOf(report: Report): string {
  const t = report.totals;
  const parts: string[] = [];
  const runs = report.runs;
  const modes = [...new Set(runs.map((r) => (r.mode === 'reverse' && r.target !== undefined ? `reverse mode for ${r.target}` : `${r.mode} mode`)))];
  const tools = [...new Set(runs.map((r) => r.tool))];
  parts.push(
    runs.length === 0
      ? 'No run line was found, so how the journal was recorded is unknown.'
      : `${plural(runs.length, 'run')} of version-proxy ${tools.join(', ')} (${modes.join(', ')}).`,
  );
  if (t.firstSeen !== undefined) parts.push(`Traffic from ${isoTime(t.firstSeen)} to ${isoTime(t.lastSeen)}.`);
  const by = Object.entries(t.byProtocol)
    .sort((a, b) => b[1] - a[1])
    .map(([p, n]) => `${n} ${PROTOCOL_NAMES[p] ?? p}`);
  parts.push(`${plural(t.exchanges, 'exchange')}${by.length > 0 ? ` (${by.join(', ')})` : ''} with ${plural(report.hosts.length, 'host')}, in ${plural(t.conversations, 'FPSE or MAPI/HTTP conversation')}.`);
  const violated = (c: ConversationReport): boolean => c.verdicts.some((v) => v.level === 'violation');
  const flagged = report.hosts.flatMap((h) => h.conversations).filter(violated).length;
  const flaggedHosts = report.hosts.filter((h) => h.conversations.some(violated)).map((h) => h.host);
  const where = flaggedHosts.length <= 3 ? flaggedHosts.join(', ') : `${flaggedHosts.slice(0, 3).join(', ')} and ${plural(flaggedHosts.length - 3, 'more host')}`;
  const notices = t.notices > 0 ? `, ${plural(t.notices, 'notice')}` : '';
  parts.push(t.violations === 0 ? `No protocol violations${notices}.` : `${plural(t.violations, 'protocol violation')} in ${plural(flagged, 'conversation')} (${where})${notices}.`);
  parts.push(`${t.rulesApplied === 0 ? 'No rule applied' : `Rules applied ${plural(t.rulesApplied, 'time')}`}; ${t.errors === 0 ? 'no exchange ended in an error' : `${plural(t.errors, 'exchange')} ended in an error`}.`);
  if (t.dropped > 0) parts.push(`The recorder dropped ${plural(t.dropped, 'exchange')} it could not write in time.`);
  if (t.leftOut > 0 || t.bodiesLeftOut > 0) parts.push(`The disk ran short of space: ${plural(t.leftOut, 'exchange')} not recorded, ${plural(t.bodiesLeftOut, 'exchange')} recorded without bodies.`);
  if (t.problems > 0) parts.push(`${plural(t.problems, 'journal line')} could not be read (see "Journal problems").`);
  parts.push(redactionOf(report));
  return parts.join(' ');
}

function redactionOf(report: Report): string {
  if (report.runs.length === 0) return 'Whether secrets were redacted is unknown.';
  const off = unredactedRuns(report).length;
  if (off > 0) return `${off === report.runs.length ? 'Every run' : plural(off, 'run')} recorded with --no-redact: secrets are NOT redacted.`;
  const extra = [...new Set(report.runs.flatMap((r) => r.redaction.extraHeaders))];
  return `Secrets were redacted (the default headers${extra.length > 0 ? ` and ${extra.join(', ')}` : ''}).`;
}

/** How a run treated secrets, as its row in the Runs table says it: `on (+ X-Extra)` or `OFF (--no-redact)`. */
export function runRedaction(run: RunReport): string {
  if (!run.redaction.enabled) return 'OFF (--no-redact)';
  const extra = run.redaction.extraHeaders;
  return `on${extra.length > 0 ? ` (+ ${extra.join(', ')})` : ''}`;
}

/**
 * What a rule group did, to follow its count: `: because …` (why it was skipped), then each
 * sampled change as `action target: before → after`, `(none)` for a side the change did not
 * have. `escape` is the format's escaping for names; `value` shows a before/after value
 * (quoted and clipped in markdown, a code element in HTML).
 */
export function ruleDetail(rule: RuleGroup, escape: (text: string) => string, value: (text: string) => string): string {
  const shown = (v: string | undefined): string => (v === undefined ? '(none)' : value(v));
  const parts: string[] = [];
  if (rule.reason !== undefined) parts.push(`because ${escape(rule.reason)}`);
  for (const c of rule.changes) parts.push(`${escape(c.action)} ${escape(c.target)}: ${shown(c.before)} → ${shown(c.after)}`);
  return parts.length > 0 ? `: ${parts.join('; ')}` : '';
}
