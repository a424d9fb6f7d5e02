/**
 * The web UI's files (issue 23, docs/ui.md): the page at `/` and its one script and stylesheet,
 * bundled at build time into dist/web/ (scripts/build-web.mjs) and served from here, never from a
 * CDN. They are public routes (no token): they hold no data; the page reads the token from its
 * URL fragment, which browsers never send, so it stays out of request lines and logs.
 *
 * Every file goes out with a strict Content-Security-Policy (CSP Level 3): scripts, styles and
 * connections from this origin only, no inline script or style, no framing, no forms, no <base>.
 * Even a value from traffic that slipped past the UI's escaping could not run or phone home.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Reply } from './reply.js';
import type { Route } from './routes.js';

/** `connect-src 'self'` covers the live feed's ws:// URL on this origin (CSP3 §6.7.2.6 matches ws to http). */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS = {
  'Content-Security-Policy': UI_CSP,
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** dist/src/control/ui-files.js → dist/web/ */
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

/** Read once on first request: a few hundred KiB at most, the same for the whole run. */
const cache = new Map<string, Promise<Buffer>>();

function file(name: string, contentType: string): () => Promise<Reply> {
  return async () => {
    let bytes = cache.get(name);
    if (bytes === undefined) {
      bytes = readFile(WEB_DIR + name);
      cache.set(name, bytes);
    }
    try {
      return new Reply(200, await bytes, contentType, HEADERS);
    } catch {
      cache.delete(name);
      return new Reply(503, `the web UI is not built (no dist/web/${name}); run npm run build (./proxy builds when stale)\n`, 'text/plain; charset=utf-8', HEADERS);
    }
  };
}

const route = (path: string, operationId: string, summary: string, name: string, contentType: string): Route => ({
  method: 'GET',
  path,
  operationId,
  summary,
  parameters: [],
  response: { status: 200, description: summary, schema: { type: 'string' }, contentType },
  public: true,
  hidden: true,
  handler: file(name, contentType),
});

export const UI_ROUTES: Route[] = [
  route('/', 'getUi', 'The web UI page', 'index.html', 'text/html; charset=utf-8'),
  route('/ui/app.js', 'getUiScript', "The web UI's script", 'app.js', 'text/javascript; charset=utf-8'),
  route('/ui/style.css', 'getUiStyle', "The web UI's stylesheet", 'style.css', 'text/css; charset=utf-8'),
];
