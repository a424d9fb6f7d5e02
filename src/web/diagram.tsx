/**
 * The sequence diagram of one conversation: its exchanges (GET /api/exchanges with
 * `protocol:… host:…`, then each whole record) drawn by src/record/sequence-diagram.ts and
 * sequence-svg.ts, the modules `./proxy report --html` uses, so the page and the report show the
 * same picture. The SVG escapes every value from traffic (sequence-svg.ts xml()) and holds no
 * script or style element, so it is inserted as markup; the CSP would stop a script regardless.
 */
import { useEffect, useState } from 'preact/hooks';
import { sequenceDiagram, CALL_LIMIT } from '../record/sequence-diagram.js';
import { sequenceSvg } from '../record/sequence-svg.js';
import { ApiFailure, type Api } from './api.js';
import type { ConversationKey } from './conversations.js';
import type { ExchangeRecord, ExchangeSummary } from './types.js';

/** Whole records fetched at once: a diagram of 200 calls is 200 small requests to the control server. */
const PARALLEL = 6;

async function recordsOf(api: Api, which: ConversationKey, signal: AbortSignal): Promise<ExchangeRecord[]> {
  const filter = `protocol:${which.protocol} host:${which.host}`;
  const summaries = await api.json<ExchangeSummary[]>(`/api/exchanges?limit=${CALL_LIMIT * 5}&filter=${encodeURIComponent(filter)}`, { signal });
  const records: ExchangeRecord[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < summaries.length && records.length < CALL_LIMIT) {
      const summary = summaries[next++]!;
      try {
        const x = await api.json<ExchangeRecord>(`/api/exchanges/${encodeURIComponent(summary.id)}`, { signal });
        if (x.protocol?.conversation === which.conversation) records.push(x);
      } catch (err) {
        // Gone from the ring since it was listed: drawn without it.
        if (!(err instanceof ApiFailure && err.status === 404)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  return records;
}

export function ConversationDiagram({ api, which, exchanges }: { api: Api; which: ConversationKey; exchanges: number | undefined }) {
  const [svg, setSvg] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    const aborter = new AbortController();
    recordsOf(api, which, aborter.signal).then(
      (records) => {
        setSvg(records.length === 0 ? '' : sequenceSvg(sequenceDiagram(records), { idPrefix: 'ui-diagram' }));
        setError(undefined);
      },
      (err: unknown) => {
        if (!aborter.signal.aborted) setError(err instanceof ApiFailure ? err.body.error : String(err));
      },
    );
    return () => aborter.abort();
  }, [api, which.protocol, which.conversation, which.host, exchanges]);
  return (
    <section class="conversation" aria-label="Sequence diagram">
      <h3>
        {which.protocol === 'fpse' ? 'FPSE conversation' : 'MAPI/HTTP session'} <span class="mono">{which.conversation}</span>
      </h3>
      {error !== undefined && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {svg === undefined && error === undefined && <p class="muted">Drawing…</p>}
      {svg === '' && <p class="muted">Its exchanges are no longer in the control ring (--control-ring keeps more).</p>}
      {svg !== undefined && svg !== '' && <div class="diagram" dangerouslySetInnerHTML={{ __html: svg }} />}
    </section>
  );
}
