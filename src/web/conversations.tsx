/**
 * Conversations (GET /api/conversations): each FPSE conversation and MAPI/HTTP session with the
 * builds each side stated, the negotiated version, verdicts and rules; opening one fetches its
 * exchanges and draws its negotiation as a sequence diagram (diagram.tsx).
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, type Api } from './api.js';
import { ConversationDiagram } from './diagram.js';
import { clock } from './format.js';
import type { Conversation } from './types.js';

export interface ConversationKey {
  protocol: 'fpse' | 'mapihttp';
  conversation: string;
  host: string;
}

const keyOf = (c: ConversationKey): string => `${c.protocol}\n${c.conversation}`;

export function ConversationsPanel({ api, open, onOpen }: { api: Api; open: ConversationKey | undefined; onOpen: (c: ConversationKey | undefined) => void }) {
  const [list, setList] = useState<Conversation[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    const load = (): void => {
      api.json<Conversation[]>('/api/conversations').then(
        (l) => {
          setList(l);
          setError(undefined);
        },
        (err: unknown) => setError(err instanceof ApiFailure ? err.body.error : String(err)),
      );
    };
    load();
    const timer = setInterval(load, 2000);
    return () => clearInterval(timer);
  }, [api]);
  const current = open === undefined ? undefined : list?.find((c) => keyOf(c) === keyOf(open));
  return (
    <section class="panel" aria-label="Conversations">
      <h2>Conversations</h2>
      {error !== undefined && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {list !== undefined && list.length === 0 && <p class="muted">No FPSE conversation or MAPI/HTTP session yet.</p>}
      {list !== undefined && list.length > 0 && (
        <table class="list" aria-label="Conversations, most recently active first">
          <thead>
            <tr>
              <th>protocol</th>
              <th>host</th>
              <th>conversation</th>
              <th>client</th>
              <th>server</th>
              <th>negotiated</th>
              <th>verdicts</th>
              <th>rules</th>
              <th>exchanges</th>
              <th>last seen</th>
            </tr>
          </thead>
          <tbody>
            {list.map((c) => {
              const violations = c.verdicts.filter((v) => v.level === 'violation');
              return (
                <tr key={keyOf(c)} class={`${violations.length > 0 ? 'level-violation' : ''}${open !== undefined && keyOf(open) === keyOf(c) ? ' selected' : ''}`}>
                  <td>{c.protocol}</td>
                  <td>{c.host}</td>
                  <td>
                    <button type="button" class="link" onClick={() => onOpen({ protocol: c.protocol, conversation: c.conversation, host: c.host })}>
                      {c.conversation}
                    </button>
                  </td>
                  <td class="mono">{c.client ?? ''}</td>
                  <td class="mono">{c.server ?? ''}</td>
                  <td class="mono">{c.negotiated ?? ''}</td>
                  <td>
                    {c.verdicts.map((v) => (
                      <div key={v.code} class={`verdict-${v.level}`} title={v.message}>
                        {v.level === 'violation' ? '⚠ ' : ''}
                        {v.code} ×{v.count}
                      </div>
                    ))}
                  </td>
                  <td>
                    {c.rules.map((r) => (
                      <div key={`${r.id} ${r.outcome}`}>
                        {r.id} {r.outcome} ×{r.count}
                      </div>
                    ))}
                  </td>
                  <td>{c.exchanges}</td>
                  <td>{clock(c.lastSeen)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {open !== undefined && <ConversationDiagram api={api} which={open} exchanges={current?.exchanges} />}
    </section>
  );
}
