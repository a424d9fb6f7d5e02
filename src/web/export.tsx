/**
 * Export of the current filter (docs/ui.md "Export"): the HAR file and the report (HTML, with its
 * sequence diagrams) of the exchanges the control server's ring holds, downloaded through the API
 * (GET /api/exchanges/har, GET /api/report) with the list's filter; and, for every exchange of the
 * run, the `./proxy har` and `./proxy report` commands that make them from the recording.
 *
 * The download is a fetch with the token (a plain link could not send it), then the answer as a
 * blob behind a link with `download`, clicked: a navigation to a blob: URL of this origin, which
 * the page's CSP (src/control/ui-files.ts) does not restrict, so it needs no change.
 */
import { useRef, useState } from 'preact/hooks';
import { ApiFailure, type Api } from './api.js';
import { shellQuote } from './curl.js';

type Kind = 'har' | 'report';

const EXPORTS: Record<Kind, { label: string; path: string }> = {
  har: { label: 'Download HAR', path: '/api/exchanges/har' },
  report: { label: 'Download report (HTML)', path: '/api/report?format=html' },
};

/** Object URLs are let go once the browser has had time to start the download. */
const REVOKE_AFTER_MS = 60_000;

function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
}

export function ExportCommands({ api, filter }: { api: Api; filter: string }) {
  const [busy, setBusy] = useState<Kind | undefined>(undefined);
  const [said, setSaid] = useState<{ text: string; error: boolean } | undefined>(undefined);
  const pending = useRef<AbortController | undefined>(undefined);

  async function download(kind: Kind): Promise<void> {
    pending.current?.abort();
    const controller = new AbortController();
    pending.current = controller;
    setBusy(kind);
    setSaid(undefined);
    const { path } = EXPORTS[kind];
    const query = filter === '' ? '' : `${path.includes('?') ? '&' : '?'}filter=${encodeURIComponent(filter)}`;
    try {
      const { blob, name, headers } = await api.file(path + query, controller.signal);
      save(blob, name);
      const held = headers.get('x-exchanges-held') ?? '?';
      const exported = headers.get('x-exchanges-exported');
      setSaid({ text: `Saved ${name}: ${exported === null ? 'made from' : `${exported} of`} the ${held} exchanges the proxy holds; older ones are only in the recording.`, error: false });
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      setSaid({ text: err instanceof ApiFailure ? err.message : `the download failed: ${(err as Error).message}`, error: true });
    } finally {
      if (pending.current === controller) {
        pending.current = undefined;
        setBusy(undefined);
      }
    }
  }

  const f = filter === '' ? '' : ` --filter ${shellQuote(filter)}`;
  const har = `./proxy har recordings/${f} -o exchanges.har`;
  const report = `./proxy report recordings/${f} --html -o report.html`;
  return (
    <details class="export">
      <summary>Export</summary>
      <div class="popover">
        <p>The exchanges this proxy holds (its last <code>--control-ring</code> ones){filter === '' ? '' : ', with this filter'}:</p>
        <div class="actions">
          {(Object.keys(EXPORTS) as Kind[]).map((kind) => (
            <button key={kind} type="button" disabled={busy !== undefined} aria-busy={busy === kind} onClick={() => void download(kind)}>
              {busy === kind ? `${EXPORTS[kind].label}…` : EXPORTS[kind].label}
            </button>
          ))}
        </div>
        <p role="status" class={said?.error === true ? 'error' : 'muted'}>
          {said?.text}
        </p>
        <p>Every exchange of the run, from the recording (the journal):</p>
        <pre class="body" aria-label="HAR export command">
          {har}
        </pre>
        <pre class="body" aria-label="Report export command">
          {report}
        </pre>
      </div>
    </details>
  );
}
