/**
 * Where the live list's rows come from: the control server's live feed (`GET /api/events`, a
 * WebSocket; docs/control-api.md "Live feed"), filtered on the server. Browsers cannot set
 * Authorization on a WebSocket, so the token rides as the subprotocol `bearer.<token>` beside
 * `version-proxy.v1`, which the server selects (so the token is not echoed back).
 *
 * When the feed cannot be opened (a proxy without it), the list polls `GET /api/exchanges` with
 * the same filter instead: slower, and under heavy traffic it sees only the most recent of each
 * poll, which the status bar then says.
 */
import { ApiFailure, type Api } from './api.js';
import type { RowStore } from './rows.js';
import type { ExchangeSummary } from './types.js';

export interface LiveState {
  mode: 'connecting' | 'feed' | 'polling' | 'stopped';
  /** A bad filter's message, with its issues; or why the source stopped. */
  error?: { message: string; issues?: string[] };
}

export interface Sink {
  rows: RowStore;
  /** While paused, rows wait here (bounded by the store's cap) and are put on resume. */
  paused(): boolean;
  hold(row: ExchangeSummary): void;
  state(state: LiveState): void;
}

const POLL_MS = 400;
/** The first answer fills the list with what the ring holds. */
const BACKLOG = 1000;
const POLL_LIMIT = 200;

export function startLive(api: Api, filter: string, sink: Sink): () => void {
  let stopped = false;
  let socket: WebSocket | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const aborter = new AbortController();
  const put = (row: ExchangeSummary): void => (sink.paused() ? sink.hold(row) : sink.rows.put(row));
  /**
   * Ids the polls have delivered (held rows are not in the store yet). Successive answers
   * overlap only in their most recent ids, so past a bound the set restarts from the last answer.
   */
  let delivered = new Set<string>();
  const deliver = (recent: ExchangeSummary[]): void => {
    for (let i = recent.length - 1; i >= 0; i--) {
      const row = recent[i]!;
      if (delivered.has(row.id) || sink.rows.has(row.id)) continue;
      delivered.add(row.id);
      put(row);
    }
    if (delivered.size > 5 * BACKLOG) delivered = new Set(recent.map((r) => r.id));
  };

  const query = (limit: number): string => `/api/exchanges?limit=${limit}${filter === '' ? '' : `&filter=${encodeURIComponent(filter)}`}`;

  /** The backlog first (also where a bad filter is told, as a 400 with its issues). */
  async function backlog(): Promise<boolean> {
    try {
      deliver(await api.json<ExchangeSummary[]>(query(BACKLOG), { signal: aborter.signal }));
      return true;
    } catch (err) {
      if (stopped) return false;
      const failure = err instanceof ApiFailure ? err : undefined;
      sink.state({ mode: 'stopped', error: { message: failure?.body.error ?? String(err), ...(failure?.body.issues !== undefined && { issues: failure.body.issues }) } });
      return false;
    }
  }

  /** The last event's number: a reconnect resumes after it (`since`), while the feed still holds it. */
  let lastSeq: number | undefined;
  function openFeed(resume = false): void {
    const params = new URLSearchParams();
    if (filter !== '') params.set('filter', filter);
    if (resume && lastSeq !== undefined) params.set('since', String(lastSeq));
    const url = new URL(`/api/events${params.size === 0 ? '' : `?${params.toString()}`}`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let opened = false;
    try {
      socket = new WebSocket(url, ['version-proxy.v1', `bearer.${api.token}`]);
    } catch {
      poll();
      return;
    }
    socket.onopen = () => {
      opened = true;
      sink.state({ mode: 'feed' });
    };
    socket.onmessage = (event: MessageEvent<string>) => {
      let message: { seq?: number; type: string; time?: number; exchange?: ExchangeSummary; missed?: number };
      try {
        message = JSON.parse(event.data) as typeof message;
      } catch {
        return;
      }
      if (typeof message.seq === 'number') lastSeq = message.seq;
      if (message.type === 'missed') {
        sink.rows.missed += message.missed ?? 0;
        sink.rows.changed();
      } else if (message.exchange !== undefined) {
        // `time`: the start for 'started', the end for 'finished' (a row first seen finished).
        put({ ...message.exchange, ...(message.time !== undefined && { seen: message.time }), ...(message.type === 'started' && { pending: true }) });
      }
    };
    socket.onclose = () => {
      socket = undefined;
      if (stopped) return;
      // Never opened: no feed on this proxy (or a resume it refused: try once afresh), so poll.
      // Opened then closed (the proxy restarting): reconnect after a pause, resuming.
      if (opened) timer = setTimeout(() => openFeed(true), 1000);
      else if (resume) openFeed(false);
      else poll();
    };
  }

  function poll(): void {
    if (stopped) return;
    sink.state({ mode: 'polling' });
    const tick = async (): Promise<void> => {
      try {
        deliver(await api.json<ExchangeSummary[]>(query(POLL_LIMIT), { signal: aborter.signal }));
      } catch {
        // The proxy restarting, or gone: keep trying, the status bar says polling.
      }
      if (!stopped) timer = setTimeout(() => void tick(), POLL_MS);
    };
    timer = setTimeout(() => void tick(), POLL_MS);
  }

  sink.state({ mode: 'connecting' });
  void backlog().then((ok) => {
    if (ok && !stopped) openFeed();
  });
  return () => {
    stopped = true;
    aborter.abort();
    if (timer !== undefined) clearTimeout(timer);
    socket?.close();
  };
}
