/**
 * The report as GitHub-flavoured markdown, the default of `./proxy report`: meant to be pasted
 * into a bug report. Every value from the traffic (builds, conversation keys, messages, rule
 * changes) is escaped, so a header carrying `<img>` or `|` shows as text and cannot break a
 * table (CommonMark §2.4: any ASCII punctuation may be backslash-escaped).
 */
import type { ConversationReport, HostReport, Report, RuleGroup, VerdictGroup } from './report-types.js';
import { isoTime, plainCounts, plural, PROTOCOL_NAMES, ringSource, ruleDetail, runRedaction, summaryOf, unredactedRuns, verdictCounts } from './report-words.js';

/** Longest value a table cell shows; the JSON output has them whole. */
const CELL_LIMIT = 120;

export function formatMarkdown(report: Report): string {
  const out: string[] = ['# Negotiation report', ''];
  const unredacted = unredactedRuns(report);
  if (unredacted.length > 0) {
    out.push(`> **⚠ CONTAINS SECRETS: recorded with --no-redact.** ${text(unredacted.map((r) => r.file).join(', '))} hold${unredacted.length === 1 ? 's' : ''} credentials and cookies as sent. Do not attach ${unredacted.length === 1 ? 'it' : 'them'} to a public bug report.`, '');
  }
  out.push(text(summaryOf(report)), '');
  out.push(`Generated ${report.generated} from ${report.ring !== undefined ? text(ringSource(report.ring)) : report.journals.map((j) => code(j)).join(', ') || 'no journal'}.`, '');
  if (report.filter !== undefined) out.push(`Only exchanges matching ${code(report.filter.expression)}; ${report.filter.leftOut} left out.`, '');

  if (report.runs.length > 0) {
    out.push('## Runs', '', row(['started', 'tool', 'mode', 'target', 'seed', 'redaction', 'journal']), separator(7));
    for (const r of report.runs) {
      const redaction = r.redaction.enabled ? cell(runRedaction(r)) : `**${runRedaction(r)}**`;
      out.push(row([isoTime(r.time), cell(r.tool), r.mode, cell(r.target ?? '—'), r.seed === undefined ? '—' : String(r.seed), redaction, `${cell(r.file)}${r.parts > 1 ? ` (${r.parts} parts)` : ''}`]));
    }
    out.push('');
  }

  const withProtocols = report.hosts.filter((h) => h.conversations.length > 0);
  for (const host of withProtocols) out.push(...hostSection(host));

  const plainOnly = report.hosts.filter((h) => h.conversations.length === 0);
  if (plainOnly.length > 0) {
    out.push('## Other hosts (no FPSE or MAPI/HTTP traffic)', '', row(['host', 'exchanges', 'errors', 'first seen', 'last seen']), separator(5));
    for (const h of plainOnly) out.push(row([cell(h.host), plainCounts(h.plain), String(h.plain.errors), isoTime(h.plain.firstSeen), isoTime(h.plain.lastSeen)]));
    out.push('');
  }

  if (report.totals.problems > 0) {
    out.push('## Journal problems', '');
    for (const p of report.problems) out.push(`- ${text(p.file)}:${p.line}: ${text(p.message)}`);
    if (report.totals.problems > report.problems.length) out.push(`- … and ${report.totals.problems - report.problems.length} more`);
    out.push('');
  }
  return out.join('\n');
}

function hostSection(host: HostReport): string[] {
  const out = [`## ${text(host.host)}`, ''];
  if (host.plain.exchanges > 0) {
    out.push(`Other traffic: ${plainCounts(host.plain)}, ${plural(host.plain.errors, 'error')}, ${isoTime(host.plain.firstSeen)} to ${isoTime(host.plain.lastSeen)}.`, '');
  }
  for (const hint of host.hints) out.push(`> Hint (×${hint.count}): ${text(hint.message)}`, '');
  for (const protocol of ['fpse', 'mapihttp'] as const) {
    const conversations = host.conversations.filter((c) => c.protocol === protocol);
    if (conversations.length === 0) continue;
    out.push(`### ${PROTOCOL_NAMES[protocol]}`, '');
    out.push(row(['conversation', 'client build', 'server build', 'negotiated', 'verdicts', 'rules applied', 'errors', 'first seen', 'last seen']), separator(9));
    for (const c of conversations) {
      out.push(row([cell(c.conversation), builds(c.clientsSeen, c.client), builds(c.serversSeen, c.server), cell(c.negotiated ?? '—'), verdictCell(c.verdicts), ruleCell(c.rules), errorCell(c), isoTime(c.firstSeen), isoTime(c.lastSeen)]));
    }
    out.push('');
  }
  out.push(`### Details for ${text(host.host)}`, '');
  for (const c of host.conversations) out.push(...details(c));
  return out;
}

/** Each verdict's message once, the rule changes, the errors and the operations seen. */
function details(c: ConversationReport): string[] {
  const ops = Object.entries(c.operations).map(([op, n]) => `${text(op)} ×${n}`).join(', ');
  const out = [`#### ${PROTOCOL_NAMES[c.protocol] ?? c.protocol} ${text(c.conversation)}`, '', `${plural(c.exchanges, 'exchange')}: ${ops || 'none'}.`, ''];
  for (const v of c.verdicts) out.push(`- ${levelMark(v)} \`${codeText(v.code)}\` ×${v.count} (first in exchange ${text(v.firstExchange)}): ${text(v.message)}`);
  for (const r of c.rules) out.push(`- rule \`${codeText(r.id)}\` ${r.outcome} ×${r.count}${ruleDetail(r, text, quoted)}`);
  for (const e of c.errors) out.push(`- error ${text(e.code)} in ${text(e.phase)} ×${e.count}: ${text(e.message)}`);
  for (const p of c.decodeProblems) out.push(`- decoding problem (×${p.count}): ${text(p.message)}`);
  out.push('');
  return out;
}

/** A rule change's before/after value: quoted, escaped, clipped. */
function quoted(value: string): string {
  return `"${text(clip(value))}"`;
}

function levelMark(v: VerdictGroup): string {
  return v.level === 'violation' ? '**⚠ violation**' : v.level === 'notice' ? 'notice' : 'ok';
}

/** `code ×n`, violations first (the report's order) and in bold with ⚠. */
function verdictCell(verdicts: VerdictGroup[]): string {
  const cells = verdictCounts(verdicts).map(({ code, level, count }) => {
    const name = `${cell(code)} ×${count}`;
    return level === 'violation' ? `**⚠ ${name}**` : level === 'notice' ? `${name} (notice)` : name;
  });
  return cells.join(', ') || '—';
}

function ruleCell(rules: RuleGroup[]): string {
  return rules.filter((r) => r.outcome === 'applied').map((r) => `${cell(r.id)} ×${r.count}`).join(', ') || '—';
}

function errorCell(c: ConversationReport): string {
  return c.errors.map((e) => `${cell(e.code)} ×${e.count}`).join(', ') || '—';
}

/** The build, or every build in the order stated when it changed over time. */
function builds(seen: string[], last: string | undefined): string {
  if (seen.length > 1) return seen.map((b) => cell(b)).join(' → ');
  return cell(last ?? '—');
}

function separator(columns: number): string {
  return row(Array.from({ length: columns }, () => '---'));
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** A table cell: escaped, on one line, clipped. */
function cell(value: string): string {
  return text(clip(value));
}

function clip(value: string): string {
  return value.length > CELL_LIMIT ? `${value.slice(0, CELL_LIMIT - 1)}…` : value;
}

/**
 * Markdown-inert text: backslash before the punctuation that starts markup (emphasis, links,
 * HTML, tables, code), `&` too so an entity shows as written; newlines become spaces.
 */
export function text(value: string): string {
  return String(value)
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[\\`*_[\]<>|&~#!]/g, (ch) => `\\${ch}`);
}

/** Inside a code span nothing can be escaped (CommonMark §6.1), so backticks and bars go. */
function codeText(value: string): string {
  return clip(String(value).replace(/[\r\n\t]+/g, ' ')).replace(/[`|]/g, "'");
}

function code(value: string): string {
  return `\`${codeText(value)}\``;
}
