/**
 * The detail of one exchange (GET /api/exchanges/{id}: the whole record, redacted as the journal
 * is): the heads both ways as the wire had them with the proxy's rewrites marked, the rules met
 * with each change before → after, the protocol's versions and verdicts with their spec section,
 * what the observer decoded, bodies, errors and timings.
 */
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, type Api } from './api.js';
import { BodyView } from './body.js';
import { curlCommand } from './curl.js';
import { bytes, clock, ms, specOf } from './format.js';
import { HeadPair } from './heads.js';
import { ProtocolFacts } from './protocol-facts.js';
import type { ExchangeRecord, RawHeaders, ResponseHead, RuleRecord, Verdict } from './types.js';

export interface DetailActions {
  /** Opens the rules panel with a new rule pre-filled from this exchange. */
  newRule?: (x: ExchangeRecord) => void;
  /** Opens the conversation this exchange belongs to. */
  conversation?: (x: ExchangeRecord) => void;
}

function header(raw: RawHeaders, name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

const statusLine = (r: ResponseHead): string => `HTTP/${r.httpVersion} ${r.statusCode} ${r.statusMessage}`;
const SOURCE: Record<ResponseHead['source'], string> = { upstream: 'as the upstream sent it', proxy: 'answered by the proxy itself', rule: 'answered by a rule, not the upstream' };

function Timings({ x }: { x: ExchangeRecord }) {
  const { start, upstreamConnected, responseHead, end } = x.timings;
  if (end === undefined) return <p>not finished</p>;
  const total = Math.max(end - start, 0.001);
  const connect = upstreamConnected === undefined ? 0 : upstreamConnected - start;
  const wait = responseHead === undefined ? end - start - connect : responseHead - start - connect;
  const body = responseHead === undefined ? 0 : end - responseHead;
  const pct = (n: number): string => `${Math.max(0, (n / total) * 100)}%`;
  return (
    <>
      <div class="bar" role="img" aria-label={`connect ${ms(connect)}, waiting ${ms(wait)}, response body ${ms(body)}`}>
        <span class="t-connect" style={{ width: pct(connect) }} />
        <span class="t-wait" style={{ width: pct(wait) }} />
        <span class="t-body" style={{ width: pct(body) }} />
      </div>
      <dl class="facts">
        <dt>started</dt>
        <dd>{clock(start)}</dd>
        <dt>upstream connected</dt>
        <dd>{upstreamConnected === undefined ? (x.upstream?.reused === true ? 'reused connection' : '—') : `+${ms(connect)}${x.upstream?.reused === true ? ' (reused)' : ''}`}</dd>
        <dt>response head</dt>
        <dd>{responseHead === undefined ? '—' : `+${ms(responseHead - start)}`}</dd>
        <dt>end</dt>
        <dd>+{ms(end - start)}</dd>
      </dl>
    </>
  );
}

function Verdicts({ list }: { list: Verdict[] }) {
  return (
    <ul class="verdicts">
      {list.map((v, i) => {
        const spec = specOf(v.message);
        return (
          <li key={i} class={v.level}>
            {v.level === 'violation' ? '⚠ ' : v.level === 'notice' ? 'ⓘ ' : '✓ '}
            <strong>{v.code}</strong> ({v.level}): {v.message}
            {spec !== undefined && <span class="spec">{spec}</span>}
          </li>
        );
      })}
    </ul>
  );
}

function Rules({ list }: { list: RuleRecord[] }) {
  return (
    <table class="list rules-met" aria-label="Rules met">
      <thead>
        <tr>
          <th>rule</th>
          <th>stage</th>
          <th>outcome</th>
          <th>changes (before → after)</th>
        </tr>
      </thead>
      <tbody>
        {list.map((r, i) => (
          <tr key={i}>
            <td title={r.explain}>
              <strong>{r.id}</strong>
              <div class="muted">{r.explain}</div>
            </td>
            <td>{r.stage}</td>
            <td>
              {r.outcome}
              {r.reason !== undefined && `: ${r.reason}`}
            </td>
            <td>
              {r.changes.length === 0 && '—'}
              {r.changes.map((c, j) => (
                <div key={j} class="change">
                  {c.action} {c.target}: {c.before !== undefined && <del aria-label="before">{c.before}</del>} → {c.after !== undefined && <ins aria-label="after">{c.after}</ins>}
                </div>
              ))}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Record({ x, actions }: { x: ExchangeRecord; actions: DetailActions }) {
  const [curl, setCurl] = useState<string | undefined>(undefined);
  const sent = { title: 'Client sent', startLine: `${x.request.method} ${x.request.url} HTTP/${x.request.httpVersion}`, raw: x.request.rawHeaders };
  const received = x.forwarded === undefined ? undefined : { title: 'Upstream received', startLine: `${x.request.method} ${x.forwarded.path} HTTP/${x.request.httpVersion}`, raw: x.forwarded.rawHeaders };
  const got = x.response;
  const upstream = x.upstreamResponse;
  const p = x.protocol;
  const wait = x.timings.responseHead !== undefined && x.timings.end !== undefined ? `, ${ms(x.timings.end - x.timings.responseHead)} after the head` : '';
  return (
    <>
      <h2>
        {x.request.method} {x.url} → {got?.statusCode ?? x.error?.code ?? '…'}
      </h2>
      <div class="actions">
        <button
          type="button"
          onClick={() => {
            const text = curlCommand(x);
            setCurl(text);
            void navigator.clipboard?.writeText(text).catch(() => undefined);
          }}
        >
          Copy as curl
        </button>
        {actions.newRule !== undefined && (
          <button type="button" onClick={() => actions.newRule!(x)}>
            New rule from this exchange
          </button>
        )}
        {actions.conversation !== undefined && p !== undefined && (
          <button type="button" onClick={() => actions.conversation!(x)}>
            Show its conversation
          </button>
        )}
      </div>
      {curl !== undefined && (
        <pre class="body curl" aria-label="curl command">
          {curl}
        </pre>
      )}
      {x.error !== undefined && (
        <p class="error" role="alert">
          ✖ {x.error.code} during {x.error.phase}: {x.error.message}
        </p>
      )}
      {x.hints?.map((h) => (
        <p key={h} class="truncated">
          ⓘ {h}
        </p>
      ))}
      {p !== undefined && (
        <section aria-label="Protocol">
          <h3>
            {p.protocol === 'fpse' ? 'FPSE' : 'MAPI/HTTP'} · {p.operation}
          </h3>
          <p class="mono">{p.summary}</p>
          <dl class="facts versions">
            {(['client', 'server', 'negotiated', 'echo'] as const).map((k) =>
              p.versions[k] === undefined ? null : (
                <Fragment key={k}>
                  <dt>{k}</dt>
                  <dd class="mono">{p.versions[k]}</dd>
                </Fragment>
              ),
            )}
            <dt>conversation</dt>
            <dd class="mono">{p.conversation}</dd>
          </dl>
          <Verdicts list={p.verdicts} />
          {p.problems.length > 0 && (
            <ul class="problems">
              {p.problems.map((q) => (
                <li key={q}>{q}</li>
              ))}
            </ul>
          )}
        </section>
      )}
      {x.rules !== undefined && x.rules.length > 0 && (
        <section aria-label="Rules met">
          <h3>Rules met</h3>
          <Rules list={x.rules} />
        </section>
      )}
      <section aria-label="Request">
        <h3>Request</h3>
        <HeadPair before={sent} {...(received !== undefined && { after: received })} unchanged="forwarded unchanged" />
      </section>
      {got !== undefined && (
        <section aria-label="Response">
          <h3>Response</h3>
          <HeadPair
            before={upstream === undefined ? { title: 'Client got', startLine: statusLine(got), raw: got.rawHeaders } : { title: 'Upstream sent', startLine: statusLine(upstream), raw: upstream.rawHeaders }}
            {...(upstream !== undefined && { after: { title: 'Client got', startLine: statusLine(got), raw: got.rawHeaders } })}
            unchanged={SOURCE[got.source]}
          />
        </section>
      )}
      {p !== undefined && (
        <section aria-label="Decoded">
          <h3>Decoded</h3>
          <ProtocolFacts facts={p.facts} wait={wait} />
        </section>
      )}
      <section aria-label="Bodies">
        <h3>Bodies</h3>
        <BodyView title="Request body (as the client sent it)" body={x.bodies?.request} contentType={header(x.request.rawHeaders, 'content-type')} size={x.bytes.request} />
        <BodyView title="Response body (as the client got it)" body={x.bodies?.response} contentType={got === undefined ? undefined : header(got.rawHeaders, 'content-type')} size={x.bytes.response} />
      </section>
      <section aria-label="Timings">
        <h3>Timings and connection</h3>
        <Timings x={x} />
        <dl class="facts">
          <dt>client</dt>
          <dd>
            {x.client.address}:{x.client.port} (connection {x.client.connection})
          </dd>
          {x.upstream !== undefined && (
            <>
              <dt>upstream socket</dt>
              <dd>
                {x.upstream.localAddress ?? ''}:{x.upstream.localPort ?? ''} {x.upstream.reused ? 'reused' : 'new'}
              </dd>
            </>
          )}
          <dt>bytes</dt>
          <dd>
            ↑ {bytes(x.bytes.request)} ↓ {bytes(x.bytes.response)}
          </dd>
          {x.intercepted === true && (
            <>
              <dt>TLS</dt>
              <dd>intercepted (decrypted with the proxy's CA)</dd>
            </>
          )}
          {x.ended !== undefined && (
            <>
              <dt>ended</dt>
              <dd>{x.ended}</dd>
            </>
          )}
          <dt>id</dt>
          <dd class="mono">{x.id}</dd>
        </dl>
      </section>
    </>
  );
}

export function Detail({ api, id, onClose, actions = {} }: { api: Api; id: string; onClose: () => void; actions?: DetailActions }) {
  const [record, setRecord] = useState<ExchangeRecord | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    const aborter = new AbortController();
    setRecord(undefined);
    setError(undefined);
    // A row still in flight has no record yet: ask again shortly.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = (tries: number): void => {
      api.json<ExchangeRecord>(`/api/exchanges/${encodeURIComponent(id)}`, { signal: aborter.signal }).then(setRecord, (err: unknown) => {
        if (!(err instanceof ApiFailure)) return;
        if (err.status === 404 && tries > 0) timer = setTimeout(() => load(tries - 1), 500);
        else setError(err.body.error);
      });
    };
    load(10);
    return () => {
      aborter.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [api, id]);
  return (
    <aside class="detail" aria-label="Exchange detail" tabIndex={-1}>
      <button type="button" class="close" onClick={onClose} aria-label="Close the detail">
        ×
      </button>
      {error !== undefined && <p class="error">{error}</p>}
      {record === undefined && error === undefined && <p class="muted">Loading {id}…</p>}
      {record !== undefined && <Record x={record} actions={actions} />}
    </aside>
  );
}
