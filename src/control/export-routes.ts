/**
 * Export of the control server's ring (issue 23 "Export"; docs/control-api.md "Export"): the
 * exchanges a filter selects as a HAR 1.2 file, and the negotiation report of them, made by the
 * builders of `./proxy har` and `./proxy report` over the ring (ring-lines.ts) instead of the
 * journal. The ring holds only the last --control-ring exchanges: each answer says how many it
 * held (X-Exchanges-Held; the HAR's log comment; the report's "Generated from" line), and that
 * older ones are only in the journal. The builders are loaded on the first export, not with every
 * start of the proxy.
 */
import type { Filter } from '../core/filter.js';
import { Reply, StreamReply } from './reply.js';
import { ringLines, ringReportLines, selectFromRing, type RingSource } from './ring-lines.js';
import type { Parameter, Route, RouteCall } from './routes.js';

const FILTER: Parameter = {
  name: 'filter',
  in: 'query',
  description: 'only the exchanges this filter expression holds for (the grammar of GET /api/exchanges; docs/filter.md)',
  schema: { type: 'string' },
};

const HELD_HEADERS = {
  'X-Exchanges-Held': { description: 'exchanges the ring held when the export was made; older ones are only in the journal (./proxy har, ./proxy report)', schema: { type: 'integer' } },
  'X-Ring-Capacity': { description: 'exchanges the ring can hold (--control-ring)', schema: { type: 'integer' } },
};

/** The report as a page to save: it loads nothing and runs nothing (report-html.ts), and this says so again. */
const REPORT_HTML_HEADERS = { 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox" };

const FORMATS = {
  html: { contentType: 'text/html; charset=utf-8', extension: 'html' },
  markdown: { contentType: 'text/markdown; charset=utf-8', extension: 'md' },
  json: { contentType: 'application/json; charset=utf-8', extension: 'json' },
} as const;
type Format = keyof typeof FORMATS;

export const EXPORT_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/api/exchanges/har',
    operationId: 'exportHar',
    summary: 'The exchanges of the ring a filter selects as one HAR 1.2 file (as ./proxy har writes it: redacted, bodies included when captured), oldest first, streamed',
    parameters: [FILTER, { name: 'limit', in: 'query', description: 'at most this many, the most recent ones (default: every one the ring holds)', schema: { type: 'integer', minimum: 1 } }],
    response: {
      status: 200,
      description: 'a HAR 1.2 document, as an attachment; its log comment says how many exchanges the ring held',
      schema: { type: 'object', required: ['log'], properties: { log: { type: 'object', required: ['version', 'creator', 'entries'] } } },
      headers: { ...HELD_HEADERS, 'X-Exchanges-Exported': { description: 'entries in this HAR', schema: { type: 'integer' } } },
    },
    handler: async (call) => {
      const source = ringSource(call);
      const held = source.ring.size;
      const exchanges = await selectFromRing(source, call.args.filter as Filter | undefined, call.args.limit as number | undefined);
      const filter = call.args.filter as Filter | undefined;
      const comment = `${exchanges.length} of the ${held} exchanges the control server's ring held (at most ${source.ring.capacity}, --control-ring)${filter !== undefined && filter.terms.length > 0 ? `, selected by the filter ${filter.toString()}` : ''}; older exchanges are only in the journal (./proxy har recordings/).`;
      const { harDocument } = await import('../record/har-write.js');
      const document = harDocument(ringLines(source, exchanges, { bodies: true }), { comment });
      return new StreamReply(200, document.chunks, 'application/json; charset=utf-8', {
        ...attachment('har'),
        'X-Exchanges-Held': String(held),
        'X-Ring-Capacity': String(source.ring.capacity),
        'X-Exchanges-Exported': String(exchanges.length),
      });
    },
  },
  {
    method: 'GET',
    path: '/api/report',
    operationId: 'exportReport',
    summary: 'The negotiation report (as ./proxy report makes it) of the exchanges in the ring a filter selects: HTML with a sequence diagram per conversation, markdown, or JSON',
    parameters: [
      FILTER,
      { name: 'format', in: 'query', description: 'html (one self-contained page, sequence diagrams included), markdown, or json (the Report object of ./proxy report --json)', schema: { type: 'string', enum: Object.keys(FORMATS), default: 'html' } },
    ],
    response: {
      status: 200,
      description: 'the report, as an attachment; its "Generated from" line says how many exchanges the ring held',
      schema: { type: 'string' },
      contentType: FORMATS.html.contentType,
      more: [
        { contentType: FORMATS.markdown.contentType, schema: { type: 'string' } },
        { contentType: FORMATS.json.contentType, schema: { type: 'object', required: ['generated', 'ring', 'runs', 'totals', 'hosts'] } },
      ],
      headers: HELD_HEADERS,
    },
    handler: async (call) => {
      const { state } = call;
      const source = ringSource(call);
      const format = (call.args.format ?? 'html') as Format;
      const filter = call.args.filter as Filter | undefined;
      const held = source.ring.size;
      const [{ reportOf }, { formatHtml }, { formatMarkdown }] = await Promise.all([import('../record/report.js'), import('../record/report-html.js'), import('../record/report-markdown.js')]);
      const report = await reportOf(() => ringReportLines(source, state), [], { ...(filter !== undefined && { filter }), diagrams: format === 'html' });
      report.ring = { held, capacity: source.ring.capacity };
      const text = format === 'html' ? formatHtml(report) : format === 'markdown' ? formatMarkdown(report) : `${JSON.stringify(report, null, 2)}\n`;
      return new Reply(200, text, FORMATS[format].contentType, {
        ...attachment(FORMATS[format].extension, 'report'),
        ...(format === 'html' && REPORT_HTML_HEADERS),
        'X-Exchanges-Held': String(held),
        'X-Ring-Capacity': String(source.ring.capacity),
      });
    },
  },
];

function ringSource({ state, signal }: RouteCall): RingSource {
  return { ring: state.ring, redactor: state.redactor, signal };
}

/** `version-proxy-20261207T235714Z.har`: saved, never shown in place (RFC 6266). */
function attachment(extension: string, what = 'exchanges'): Record<string, string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return { 'Content-Disposition': `attachment; filename="version-proxy-${what}-${stamp}.${extension}"` };
}
