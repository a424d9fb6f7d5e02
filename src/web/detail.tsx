/** The detail of one exchange (filled in by the next commit). */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, type Api } from './api.js';
import type { ExchangeRecord } from './types.js';

export function Detail({ api, id, onClose }: { api: Api; id: string; onClose: () => void }) {
  const [record, setRecord] = useState<ExchangeRecord | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    const aborter = new AbortController();
    setRecord(undefined);
    setError(undefined);
    api.json<ExchangeRecord>(`/api/exchanges/${encodeURIComponent(id)}`, { signal: aborter.signal }).then(setRecord, (err: unknown) => {
      if (err instanceof ApiFailure) setError(err.body.error);
    });
    return () => aborter.abort();
  }, [api, id]);
  return (
    <aside class="detail" aria-label={`Exchange ${id}`}>
      <button type="button" class="close" onClick={onClose} aria-label="Close the detail">
        ×
      </button>
      {error !== undefined && <p class="error">{error}</p>}
      {record !== undefined && (
        <h2>
          {record.request.method} {record.url} {record.response?.statusCode ?? ''}
        </h2>
      )}
    </aside>
  );
}
