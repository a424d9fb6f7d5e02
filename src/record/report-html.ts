/**
 * The report as one self-contained HTML file (`./proxy report --html`): inline CSS, no script,
 * no external resource, so it opens anywhere and can be attached as it is. Every value is
 * HTML-escaped (the traffic is the attacker's input: a header can carry `<script>`), and a
 * Content-Security-Policy that allows nothing but the inline style backs the escaping up.
 * Each conversation with its calls collected (`buildReport(…, { diagrams: true })`) gets its
 * sequence diagram under its facts, inline SVG from sequence-svg.ts (which escapes for XML, and
 * so for HTML too).
 */
import type { ConversationReport, HostReport, Report, VerdictGroup } from './report-types.js';
import { isoTime, plainCounts, plural, PROTOCOL_NAMES, ringSource, ruleDetail, runRedaction, summaryOf, unredactedRuns, verdictCounts } from './report-words.js';
import { sequenceSvg } from './sequence-svg.js';

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1b1b1b; }
h1, h2, h3, h4 { font-weight: 600; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
code, .mono { font-family: ui-monospace, monospace; font-size: 95%; }
.violation { color: #a00; font-weight: 600; }
.notice { color: #865400; }
.secrets { background: #ffe0e0; border: 2px solid #a00; padding: .8em 1em; font-weight: 600; }
.hint { background: #fff6d6; padding: .4em .8em; }
ul.details { padding-left: 1.2em; }
figure.sequence { margin: .5em 0 1.5em; overflow-x: auto; }
figure.sequence figcaption { color: #595959; font-size: 90%; }
`;

export function formatHtml(report: Report): string {
  const body: string[] = ['<h1>Negotiation report</h1>'];
  const unredacted = unredactedRuns(report);
  if (unredacted.length > 0) {
    body.push(`<p class="secrets">⚠ CONTAINS SECRETS: recorded with --no-redact. ${esc(unredacted.map((r) => r.file).join(', '))} ${unredacted.length === 1 ? 'holds' : 'hold'} credentials and cookies as sent. Do not attach this report or the journal to a public bug report.</p>`);
  }
  body.push(`<p>${esc(summaryOf(report))}</p>`);
  body.push(`<p>Generated ${esc(report.generated)} from ${report.ring !== undefined ? esc(ringSource(report.ring)) : report.journals.map((j) => `<code>${esc(j)}</code>`).join(', ') || 'no journal'}.</p>`);
  if (report.filter !== undefined) body.push(`<p>Only exchanges matching <code>${esc(report.filter.expression)}</code>; ${report.filter.leftOut} left out.</p>`);

  if (report.runs.length > 0) {
    body.push('<h2>Runs</h2>', table(['started', 'tool', 'mode', 'target', 'seed', 'redaction', 'journal'], report.runs.map((r) => [
      esc(isoTime(r.time)),
      esc(r.tool),
      esc(r.mode),
      esc(r.target ?? '—'),
      r.seed === undefined ? '—' : esc(String(r.seed)),
      r.redaction.enabled ? esc(runRedaction(r)) : `<span class="violation">${esc(runRedaction(r))}</span>`,
      `<code>${esc(r.file)}</code>${r.parts > 1 ? esc(` (${r.parts} parts)`) : ''}`,
    ])));
  }

  // Diagram ids (title, desc) must be unique in the page.
  let diagrams = 0;
  const nextDiagram = (): string => `sequence-${(diagrams += 1)}`;
  for (const host of report.hosts.filter((h) => h.conversations.length > 0)) body.push(...hostSection(host, nextDiagram));

  const plainOnly = report.hosts.filter((h) => h.conversations.length === 0);
  if (plainOnly.length > 0) {
    body.push('<h2>Other hosts (no FPSE or MAPI/HTTP traffic)</h2>', table(['host', 'exchanges', 'errors', 'first seen', 'last seen'], plainOnly.map((h) => [
      `<code>${esc(h.host)}</code>`,
      esc(plainCounts(h.plain)),
      esc(String(h.plain.errors)),
      esc(isoTime(h.plain.firstSeen)),
      esc(isoTime(h.plain.lastSeen)),
    ])));
  }

  if (report.totals.problems > 0) {
    const items = report.problems.map((p) => `<li><code>${esc(p.file)}:${p.line}</code>: ${esc(p.message)}</li>`);
    if (report.totals.problems > report.problems.length) items.push(`<li>… and ${report.totals.problems - report.problems.length} more</li>`);
    body.push('<h2>Journal problems</h2>', `<ul>${items.join('')}</ul>`);
  }

  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Defence in depth behind esc(): nothing may load or run, only the inline style applies.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<title>Negotiation report</title>',
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function hostSection(host: HostReport, nextDiagram: () => string): string[] {
  const out = [`<h2>${esc(host.host)}</h2>`];
  if (host.plain.exchanges > 0) {
    out.push(`<p>Other traffic: ${esc(plainCounts(host.plain))}, ${esc(plural(host.plain.errors, 'error'))}, ${esc(isoTime(host.plain.firstSeen))} to ${esc(isoTime(host.plain.lastSeen))}.</p>`);
  }
  for (const hint of host.hints) out.push(`<p class="hint">Hint (×${hint.count}): ${esc(hint.message)}</p>`);
  for (const protocol of ['fpse', 'mapihttp'] as const) {
    const conversations = host.conversations.filter((c) => c.protocol === protocol);
    if (conversations.length === 0) continue;
    out.push(`<h3>${esc(PROTOCOL_NAMES[protocol] ?? protocol)}</h3>`);
    out.push(table(['conversation', 'client build', 'server build', 'negotiated', 'verdicts', 'rules applied', 'errors', 'first seen', 'last seen'], conversations.map((c) => [
      `<span class="mono">${esc(c.conversation)}</span>`,
      builds(c.clientsSeen, c.client),
      builds(c.serversSeen, c.server),
      esc(c.negotiated ?? '—'),
      verdictCell(c.verdicts),
      c.rules.filter((r) => r.outcome === 'applied').map((r) => `${esc(r.id)} ×${r.count}`).join(', ') || '—',
      c.errors.map((e) => `${esc(e.code)} ×${e.count}`).join(', ') || '—',
      esc(isoTime(c.firstSeen)),
      esc(isoTime(c.lastSeen)),
    ])));
  }
  out.push(`<h3>Details for ${esc(host.host)}</h3>`);
  for (const c of host.conversations) out.push(...details(c), ...diagram(c, nextDiagram));
  return out;
}

function details(c: ConversationReport): string[] {
  const ops = Object.entries(c.operations).map(([op, n]) => `${op} ×${n}`).join(', ');
  const items: string[] = [];
  for (const v of c.verdicts) {
    items.push(`<li><span class="${levelClass(v)}">${esc(v.level)}</span> <code>${esc(v.code)}</code> ×${v.count} (first in exchange <code>${esc(v.firstExchange)}</code>): ${esc(v.message)}</li>`);
  }
  for (const r of c.rules) items.push(`<li>rule <code>${esc(r.id)}</code> ${esc(r.outcome)} ×${r.count}${ruleDetail(r, esc, quoted)}</li>`);
  for (const e of c.errors) items.push(`<li>error <code>${esc(e.code)}</code> in ${esc(e.phase)} ×${e.count}: ${esc(e.message)}</li>`);
  for (const p of c.decodeProblems) items.push(`<li>decoding problem (×${p.count}): ${esc(p.message)}</li>`);
  return [
    `<h4>${esc(PROTOCOL_NAMES[c.protocol] ?? c.protocol)} <span class="mono">${esc(c.conversation)}</span></h4>`,
    `<p>${esc(`${plural(c.exchanges, 'exchange')}: ${ops || 'none'}.`)}</p>`,
    items.length > 0 ? `<ul class="details">${items.join('')}</ul>` : '',
  ];
}

/** The conversation's calls between client, proxy and server, when the report collected them. */
function diagram(c: ConversationReport, nextDiagram: () => string): string[] {
  if (c.diagram === undefined || c.diagram.calls.length === 0) return [];
  return [
    '<figure class="sequence">',
    sequenceSvg(c.diagram, { idPrefix: nextDiagram() }),
    '<figcaption>Each call top to bottom: the version on each arrow; the proxy’s rewrites as notes on its lifeline (✎), its own answers as refusals (✖), failed messages ending in a cross; verdicts under the arrow they judge (⚠ violation).</figcaption>',
    '</figure>',
  ];
}

/** A rule change's before/after value, as code. */
function quoted(value: string): string {
  return `<code>${esc(value)}</code>`;
}

function levelClass(v: Pick<VerdictGroup, 'level'>): string {
  return v.level === 'violation' ? 'violation' : v.level === 'notice' ? 'notice' : 'ok';
}

/** `code ×n`, violations first (the report's order) and flagged with ⚠. */
function verdictCell(verdicts: VerdictGroup[]): string {
  const cells = verdictCounts(verdicts).map((v) => {
    const name = `${esc(v.code)} ×${v.count}`;
    return v.level === 'violation' ? `<span class="violation">⚠ ${name}</span>` : v.level === 'notice' ? `<span class="notice">${name}</span>` : name;
  });
  return cells.join(', ') || '—';
}

function builds(seen: string[], last: string | undefined): string {
  if (seen.length > 1) return seen.map((b) => esc(b)).join(' → ');
  return esc(last ?? '—');
}

/** Cells are HTML already: each caller escapes what came from the traffic. */
function table(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${tr}\n</tbody>\n</table>`;
}

/** HTML-escapes text for element content and quoted attribute values (HTML §13.1.2.6). */
export function esc(value: string): string {
  return String(value).replace(/[&<>"']/g, (ch) => ENTITIES[ch]!);
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
