/**
 * The web UI (issue 23, docs/ui.md): the token from the URL fragment, then the live list with its
 * filter, the detail of the selected exchange, the conversations and the rules.
 */
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api } from './api.js';
import { ConversationsPanel, type ConversationKey } from './conversations.js';
import { Detail } from './detail.js';
import { ExportCommands } from './export.js';
import { hostAndPath } from './format.js';
import { ExchangeList } from './list.js';
import { startLive, type LiveState } from './live.js';
import { draftFrom, type RuleDraft } from './rule-draft.js';
import { RulesPanel } from './rules.js';
import { RowStore } from './rows.js';
import { forgetToken, takeToken } from './token.js';
import type { ExchangeSummary } from './types.js';

function NoToken({ why }: { why?: string }) {
  return (
    <main class="notice">
      <h1>version-proxy</h1>
      {why !== undefined && <p role="alert">{why}</p>}
      <p>This page needs the control token of the running proxy. Open the URL on its <code>listening</code> line (the <code>ui</code> field, <code>http://127.0.0.1:8089/#token=…</code>), or add the token yourself:</p>
      <pre>http://{location.host}/#token=$(cat ~/.version-proxy/control-token)</pre>
      <p>The token file is named by <code>--control-token-file</code> (default beside the CA); each run writes a new one.</p>
    </main>
  );
}

/**
 * The row counts, re-rendered on its own as rows arrive (up to once a frame), so the rest of the
 * page (the detail above all) is not rendered again for each row. Not a live region: a screen
 * reader would read it sixty times a second; the mode beside it is one.
 */
function Counts({ rows, held, paused }: { rows: RowStore; held: { current: Map<string, ExchangeSummary> }; paused: boolean }) {
  const [, setVersion] = useState(0);
  useEffect(() => rows.subscribe(() => setVersion(rows.version)), [rows]);
  return (
    <span class="counts">
      {rows.size} rows{rows.dropped > 0 && ` (${rows.dropped} oldest dropped)`}
      {rows.missed > 0 && ` · ${rows.missed} missed`}
      {paused && ` · paused, ${held.current.size} new`}
    </span>
  );
}

type Tab = 'exchanges' | 'conversations' | 'rules';
const TABS: Tab[] = ['exchanges', 'conversations', 'rules'];

function App({ api }: { api: Api }) {
  const rows = useMemo(() => new RowStore(), []);
  // Rows that arrived while paused, by id: an exchange's 'finished' replaces its 'started'.
  const held = useRef(new Map<string, ExchangeSummary>());
  const [filter, setFilter] = useState('');
  const [filterText, setFilterText] = useState('');
  const [live, setLive] = useState<LiveState>({ mode: 'connecting' });
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [tab, setTab] = useState<Tab>('exchanges');
  const [draft, setDraftRule] = useState<RuleDraft | undefined>(undefined);
  const [conversation, setConversation] = useState<ConversationKey | undefined>(undefined);

  useEffect(() => {
    rows.clear();
    held.current = new Map();
    return startLive(api, filter, {
      rows,
      paused: () => pausedRef.current,
      hold: (row) => {
        const earlier = held.current.get(row.id);
        held.current.set(row.id, earlier?.seen === undefined ? row : { ...row, seen: earlier.seen });
        if (held.current.size > rows.cap) held.current.delete(held.current.keys().next().value!);
        rows.changed();
      },
      state: setLive,
    });
  }, [api, filter, rows]);

  function togglePause(): void {
    pausedRef.current = !pausedRef.current;
    setPaused(pausedRef.current);
    if (!pausedRef.current) {
      for (const row of held.current.values()) rows.put(row);
      held.current = new Map();
    }
  }

  // WAI-ARIA tabs: one tab stop; arrows, Home and End move between the views.
  function onTabKey(event: KeyboardEvent): void {
    const at = TABS.indexOf(tab);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: TABS.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const next = TABS[(to + TABS.length) % TABS.length]!;
    setTab(next);
    document.getElementById(`tab-${next}`)?.focus();
  }

  const status =
    live.mode === 'feed' ? 'live' : live.mode === 'polling' ? 'polling (no live feed)' : live.mode === 'connecting' ? 'connecting…' : 'stopped';
  return (
    <div class="app">
      <header>
        <h1>version-proxy</h1>
        <nav role="tablist" aria-label="Views" onKeyDown={onTabKey}>
          {TABS.map((t) => (
            <button key={t} id={`tab-${t}`} role="tab" aria-selected={tab === t} aria-controls="view" tabIndex={tab === t ? 0 : -1} class={tab === t ? 'active' : ''} onClick={() => setTab(t)}>
              {t[0]!.toUpperCase() + t.slice(1)}
            </button>
          ))}
        </nav>
        <span class="status">
          <span role="status">{status}</span> · <Counts rows={rows} held={held} paused={paused} />
        </span>
      </header>
      <div class="view" id="view" role="tabpanel" aria-labelledby={`tab-${tab}`}>
      {tab === 'exchanges' && (
        <section class="exchanges" aria-label="Exchanges">
          <form
            class="toolbar"
            role="search"
            onSubmit={(e) => {
              e.preventDefault();
              setFilter(filterText.trim());
            }}
          >
            <label for="filter">Filter</label>
            <input
              id="filter"
              type="search"
              value={filterText}
              placeholder="protocol:fpse verdict:echo-mismatch host:*.lab status:5xx rule:ID method:POST"
              aria-invalid={live.error !== undefined}
              aria-describedby="filter-error"
              onInput={(e) => setFilterText(e.currentTarget.value)}
            />
            <button type="submit">Apply</button>
            <button type="button" onClick={togglePause} aria-pressed={paused}>
              {paused ? 'Resume' : 'Pause'}
            </button>
            <button type="button" onClick={() => rows.clear()}>
              Clear
            </button>
            <ExportCommands api={api} filter={filter} />
          </form>
          <div id="filter-error" class="error" role="alert">
            {live.error !== undefined && (
              <>
                {live.error.message}
                {live.error.issues !== undefined && live.error.issues.length > 1 && (
                  <ul>
                    {live.error.issues.map((i) => (
                      <li key={i}>{i}</li>
                    ))}
                  </ul>
                )}
              </>
            )}
          </div>
          <div class="split">
            <ExchangeList rows={rows} selected={selected} onSelect={setSelected} onClose={() => setSelected(undefined)} />
            {selected !== undefined && (
              <Detail
                api={api}
                id={selected}
                onClose={() => setSelected(undefined)}
                actions={{
                  newRule: (x) => {
                    setDraftRule(draftFrom(x));
                    setTab('rules');
                  },
                  conversation: (x) => {
                    if (x.protocol === undefined) return;
                    setConversation({ protocol: x.protocol.protocol, conversation: x.protocol.conversation, host: hostAndPath(x.url).host });
                    setTab('conversations');
                  },
                }}
              />
            )}
          </div>
        </section>
      )}
      {tab === 'conversations' && <ConversationsPanel api={api} open={conversation} onOpen={setConversation} />}
      {tab === 'rules' && <RulesPanel api={api} draft={draft} />}
      </div>
    </div>
  );
}

function start(): void {
  const root = document.getElementById('app')!;
  const token = takeToken();
  if (token === undefined) {
    render(<NoToken />, root);
    return;
  }
  const api = new Api(token);
  api.onUnauthorized = () => {
    forgetToken();
    render(<NoToken why="The proxy refused the token this tab had: it belongs to another run." />, root);
  };
  if (root.firstElementChild?.classList.contains('notice') === true && root.firstElementChild.tagName === 'P') root.textContent = '';
  render(<App key={token} api={api} />, root);
}

// A URL with a new #token= pasted into this tab: start over with it.
window.addEventListener('hashchange', () => {
  if (/(?:^#|&)token=/.test(location.hash)) start();
});
start();
