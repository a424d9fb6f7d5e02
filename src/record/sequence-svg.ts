/**
 * A sequence diagram (sequence-diagram.ts) as SVG text, for `./proxy report --html` and the web
 * UI. Pure string building: no node: imports, no DOM.
 *
 * The traffic is the attacker's input (a Host header, a version string), so every value goes
 * through xml(), which escapes the five XML specials and replaces what XML 1.0 forbids (§2.2
 * Char: C0 controls, lone surrogates, U+FFFE/U+FFFF), in text and in attributes alike. Nothing
 * from the traffic becomes an element name, an attribute name or an id.
 *
 * Layout without measuring: all text is monospaced, so its width is its length times the
 * font's advance (0.6 em for the usual monospace fonts, taken a little wider); every row has
 * its own height, computed from what it holds, so nothing overlaps. Text too long for its room
 * is elided with `…`, the whole value in a <title> (a tooltip, and read by screen readers).
 * Meaning never rests on colour alone: violations say "violation" and carry ⚠, refusals say
 * "from the proxy", rewrites are notes that say what changed, answers are dashed, failed
 * messages end in a cross. Colours have at least 4.5:1 contrast on white (WCAG 1.4.3).
 */
import type { Arrow, Lane, LaneId, Mark, Note, SequenceCall, SequenceDiagram, Step } from './sequence-diagram.js';

export interface SvgOptions {
  /** Prefix of the ids inside the SVG (title, desc), unique per page when several diagrams share one. */
  idPrefix?: string;
}

const WIDTH = 960;
const MARGIN = 16;
const LANE_X: Record<LaneId, number> = { client: 150, proxy: 480, server: 810 };
const FONT = 12;
const SMALL = 11;
/** Advance of one character, em; 0.6 in DejaVu Sans Mono, Menlo, Consolas, a margin added. */
const ADVANCE = 0.62;
const HEAD_HEIGHT = 62;
const LANE_BOX = 210;
const LINE = 15;
const MAX_LABEL_LINES = 4;

const INK = '#1b1b1b';
const MUTED = '#595959';
const RULE = '#c8c8c8';
const COLOURS = {
  violation: '#b00020',
  notice: '#8a5300',
  ok: '#2d6a31',
  rewrite: { fill: '#fff3cd', stroke: '#8a5300', ink: '#5c3a00' },
  refusal: { fill: '#fde7ea', stroke: '#b00020', ink: '#8c0019' },
  error: { fill: '#fde7ea', stroke: '#b00020', ink: '#8c0019' },
  negotiated: { fill: '#e3f1e5', stroke: '#2d6a31', ink: '#1f4d22' },
} as const;
const MARK_SIGN: Record<Mark['level'], string> = { violation: '⚠ violation', notice: 'ⓘ notice', ok: '✓' };
const NOTE_SIGN: Record<Note['tone'], string> = { rewrite: '✎ ', refusal: '✖ ', error: '✗ ', negotiated: '⇄ ' };

export function sequenceSvg(diagram: SequenceDiagram, options: SvgOptions = {}): string {
  const id = (options.idPrefix ?? 'seq').replace(/[^A-Za-z0-9_-]/g, '_') || 'seq';
  const body: string[] = [];
  let y = HEAD_HEIGHT + 8;
  diagram.calls.forEach((call, i) => {
    const drawn = drawCall(call, i + 1, y);
    body.push(drawn.svg);
    y = drawn.bottom;
  });
  if (diagram.more > 0) {
    const text = `… ${diagram.more} more ${diagram.more === 1 ? 'call' : 'calls'} not drawn (a diagram shows the first ${diagram.limit})`;
    body.push(textAt(WIDTH / 2, y + 20, text, { anchor: 'middle', size: FONT, fill: MUTED, room: WIDTH - 2 * MARGIN }));
    y += 32;
  }
  const height = y + MARGIN;
  const lifelines = diagram.lanes.map((lane) => `<line x1="${LANE_X[lane.id]}" y1="${HEAD_HEIGHT}" x2="${LANE_X[lane.id]}" y2="${height - MARGIN}" stroke="${RULE}" stroke-width="${lane.id === 'proxy' ? 2 : 1}" stroke-dasharray="4 4"/>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="sequence" role="img" aria-labelledby="${id}-title ${id}-desc" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="ui-monospace, Menlo, Consolas, 'DejaVu Sans Mono', monospace" font-size="${FONT}">`,
    `<title id="${id}-title">${xml(titleOf(diagram))}</title>`,
    `<desc id="${id}-desc">${xml(describe(diagram))}</desc>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...lifelines,
    ...diagram.lanes.map(laneHead),
    ...body,
    '</svg>',
  ].join('\n');
}

function titleOf(d: SequenceDiagram): string {
  const name = d.protocol === 'fpse' ? 'FPSE conversation' : d.protocol === 'mapihttp' ? 'MAPI/HTTP session' : 'Conversation';
  return `${name} ${d.conversation}: ${d.calls.length + d.more} ${d.calls.length + d.more === 1 ? 'call' : 'calls'} between client, proxy and server`;
}

/** The whole picture in words, one sentence per call, for screen readers (the SVG is one image). */
function describe(d: SequenceDiagram): string {
  const lines = d.calls.map((call, i) => `${i + 1}. ${call.operation}: ${call.steps.map(stepWords).join('; ')}.`);
  if (d.more > 0) lines.push(`${d.more} more not drawn.`);
  return lines.join(' ');
}

function stepWords(step: Step): string {
  if (step.kind === 'note') return step.lane === 'all' ? step.text : `the proxy notes ${step.text}`;
  const verb = step.style === 'failed' ? 'fails' : step.style === 'refusal' ? 'refuses' : 'sends';
  const marks = step.marks.map((m) => `${m.level} ${m.code}`).join(', ');
  return `${step.from} ${verb} ${step.to} ${step.label}${step.versions === undefined ? '' : ` (${step.versions})`}${step.rewritten ? ', rewritten' : ''}${marks === '' ? '' : ` [${marks}]`}`;
}

function laneHead(lane: Lane): string {
  const x = LANE_X[lane.id];
  const room = LANE_BOX - 12;
  return [
    `<rect x="${x - LANE_BOX / 2}" y="${MARGIN}" width="${LANE_BOX}" height="${HEAD_HEIGHT - MARGIN - 4}" rx="4" fill="#f3f3f3" stroke="${INK}"/>`,
    textAt(x, MARGIN + 17, lane.title, { anchor: 'middle', size: FONT, fill: INK, weight: 'bold', room }),
    lane.detail === undefined ? '' : textAt(x, MARGIN + 34, lane.detail, { anchor: 'middle', size: SMALL, fill: MUTED, room }),
  ].join('');
}

function drawCall(call: SequenceCall, n: number, top: number): { svg: string; bottom: number } {
  const out = [`<g class="call">`];
  let y = top;
  // The call's heading: a rule across, its number, time, operation and exchange id.
  out.push(`<line x1="${MARGIN}" y1="${y}" x2="${WIDTH - MARGIN}" y2="${y}" stroke="${RULE}"/>`);
  out.push(textAt(MARGIN, y + 14, `#${n} ${clock(call.start)} ${call.operation} (${call.id})`, { size: SMALL, fill: MUTED, room: WIDTH - 2 * MARGIN }));
  y += 22;
  for (const step of call.steps) {
    const drawn = step.kind === 'arrow' ? drawArrow(step, y) : drawNote(step, y);
    out.push(drawn.svg);
    y = drawn.bottom;
  }
  out.push('</g>');
  return { svg: out.join(''), bottom: y + 6 };
}

function drawArrow(a: Arrow, top: number): { svg: string; bottom: number } {
  const x1 = LANE_X[a.from];
  const x2 = LANE_X[a.to];
  const dir = x2 > x1 ? 1 : -1;
  const left = Math.min(x1, x2);
  const room = Math.abs(x2 - x1) - 16;
  const colour = a.style === 'refusal' || a.style === 'failed' ? COLOURS.violation : INK;
  const out: string[] = [];
  // The label above the line: what travels, then the versions it carries, wrapped at their commas.
  const lines = labelLines(a, Math.floor(room / (FONT * ADVANCE)));
  const full = a.versions === undefined ? a.label : `${a.label} · ${a.versions}`;
  lines.forEach((line, i) => {
    out.push(textAt(left + 8, top + 13 + i * LINE, line, { size: FONT, fill: a.rewritten ? COLOURS.rewrite.ink : colour, weight: a.rewritten || a.style === 'refusal' ? 'bold' : undefined, room, ...(line.endsWith('…') && { title: full }) }));
  });
  const lineY = top + 20 + (lines.length - 1) * LINE;
  const dash = a.style === 'answer' ? ' stroke-dasharray="6 4"' : a.style === 'refusal' ? ' stroke-dasharray="10 3 2 3"' : '';
  const width = a.style === 'refusal' ? 2.5 : 1.5;
  const end = x2 - dir * 2;
  out.push(`<line x1="${x1}" y1="${lineY}" x2="${end}" y2="${lineY}" stroke="${colour}" stroke-width="${width}"${dash}/>`);
  if (a.style === 'failed') {
    // A cross where the message died (a reset, a close, an upstream that could not be reached).
    const cx = x2 - dir * 8;
    out.push(`<path d="M${cx - 6} ${lineY - 6}L${cx + 6} ${lineY + 6}M${cx - 6} ${lineY + 6}L${cx + 6} ${lineY - 6}" stroke="${colour}" stroke-width="2.5"/>`);
  } else {
    const barb1 = `${x2 - dir * 10},${lineY - 5}`;
    const barb2 = `${x2 - dir * 10},${lineY + 5}`;
    // UML's convention: a request has a filled head, an answer an open one (and a dashed line).
    out.push(a.style === 'answer' ? `<polyline points="${barb1} ${x2},${lineY} ${barb2}" fill="none" stroke="${colour}" stroke-width="1.5"/>` : `<polygon points="${x2},${lineY} ${barb1} ${barb2}" fill="${colour}"/>`);
  }
  if (a.style === 'refusal') out.push(`<line x1="${x1}" y1="${lineY - 7}" x2="${x1}" y2="${lineY + 7}" stroke="${colour}" stroke-width="3"/>`);
  let y = lineY + 4;
  for (const mark of a.marks) {
    y += LINE;
    out.push(textAt(left + 8, y - 3, `${MARK_SIGN[mark.level]} ${mark.code}`, { size: SMALL, fill: COLOURS[mark.level], weight: mark.level === 'violation' ? 'bold' : undefined, room, title: `${mark.level} ${mark.code}: ${mark.message}` }));
  }
  return { svg: out.join(''), bottom: y + 6 };
}

/** One line when it fits; else the label, then the versions packed at their commas (at most MAX_LABEL_LINES lines). */
function labelLines(a: Arrow, columns: number): string[] {
  const label = oneLine(a.label);
  if (a.versions === undefined) return [elide(label, columns)];
  const versions = oneLine(a.versions);
  const joined = `${label} · ${versions}`;
  if (columnsOf(joined) <= columns) return [joined];
  const lines = [elide(label, columns)];
  let line = '';
  for (const part of versions.split(', ')) {
    const next = line === '' ? part : `${line}, ${part}`;
    if (line !== '' && columnsOf(next) > columns) {
      lines.push(`${line},`);
      line = part;
    } else line = next;
  }
  lines.push(line);
  if (lines.length > MAX_LABEL_LINES) lines.splice(MAX_LABEL_LINES - 1, lines.length, lines.slice(MAX_LABEL_LINES - 1).join(' '));
  return lines.map((l) => elide(l, columns));
}

function drawNote(note: Note, top: number): { svg: string; bottom: number } {
  const colours = COLOURS[note.tone];
  const text = `${NOTE_SIGN[note.tone]}${note.text}`;
  const centre = note.lane === 'all' ? LANE_X.proxy : LANE_X[note.lane];
  const maxWidth = note.lane === 'all' ? LANE_X.server - LANE_X.client + 120 : 2 * Math.min(centre - MARGIN, WIDTH - MARGIN - centre);
  const width = Math.min(maxWidth, Math.ceil(widthOf(text, SMALL)) + 16);
  const height = 22;
  const y = top + 2;
  const dash = note.tone === 'error' ? ' stroke-dasharray="4 2"' : '';
  const strokeWidth = note.tone === 'refusal' ? 2 : 1;
  return {
    svg:
      `<rect x="${centre - width / 2}" y="${y}" width="${width}" height="${height}" rx="3" fill="${colours.fill}" stroke="${colours.stroke}" stroke-width="${strokeWidth}"${dash}/>` +
      textAt(centre, y + 15, text, { anchor: 'middle', size: SMALL, fill: colours.ink, weight: note.tone === 'negotiated' || note.tone === 'refusal' ? 'bold' : undefined, room: width - 12 }),
    bottom: y + height + 6,
  };
}

interface TextStyle {
  size: number;
  fill: string;
  room: number;
  anchor?: 'middle';
  weight?: 'bold' | undefined;
  /** The tooltip; the whole text when it had to be elided. */
  title?: string;
}

/** One line of text, elided to its room; the full text (or `title`) as a <title> when it is shortened or asked for. */
function textAt(x: number, y: number, value: string, style: TextStyle): string {
  const full = oneLine(value);
  const shown = elide(full, Math.floor(style.room / (style.size * ADVANCE)));
  const attrs = `x="${x}" y="${y}" font-size="${style.size}" fill="${style.fill}"${style.anchor === undefined ? '' : ` text-anchor="${style.anchor}"`}${style.weight === undefined ? '' : ` font-weight="${style.weight}"`}`;
  const title = style.title ?? (shown === full ? undefined : full);
  const text = `<text ${attrs}>${xml(shown)}</text>`;
  return title === undefined ? text : `<g><title>${xml(title)}</title>${text}</g>`;
}

/** Columns of monospaced text: wide (East Asian) characters take two. */
function columnsOf(text: string): number {
  let columns = 0;
  for (const ch of text) columns += ch.codePointAt(0)! >= 0x2e80 ? 2 : 1;
  return columns;
}

function widthOf(text: string, size: number): number {
  return columnsOf(text) * size * ADVANCE;
}

/** At most `columns` columns, `…` at the end when cut; never splits a surrogate pair. */
function elide(text: string, columns: number): string {
  if (columnsOf(text) <= columns) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const w = ch.codePointAt(0)! >= 0x2e80 ? 2 : 1;
    if (used + w > columns - 1) break;
    out += ch;
    used += w;
  }
  return `${out}…`;
}

/** Line breaks and tabs would be collapsed by SVG anyway; as spaces, the width estimate holds. */
function oneLine(text: string): string {
  return String(text).replace(/[\t\n\r]+/g, ' ');
}

function clock(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? '--:--:--' : `${date.toISOString().slice(11, 23)}Z`;
}

/**
 * Text for XML element content and quoted attribute values (XML 1.0 §2.4): the five specials as
 * entities, and characters XML 1.0 §2.2 does not allow at all as U+FFFD, so the document always
 * parses, whatever the traffic held.
 */
export function xml(value: string): string {
  return String(value)
    // eslint-disable-next-line no-control-regex -- replacing control characters is the point
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/[&<>"']/g, (ch) => ENTITIES[ch]!);
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
