/**
 * The rules panel (GET /api/rules): file, runtime and scope rules with their hit counts; enable
 * or disable any (PATCH; a file rule until its file reloads), delete a runtime rule (DELETE; a
 * scope rule goes with its scope), and add a runtime rule (POST), drafted from an exchange or
 * from scratch. Every change applies to the next exchange.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, type Api } from './api.js';
import { ACTIONS, type RuleDraft } from './rule-draft.js';

interface RuleInfo {
  id: string;
  source: 'file' | 'runtime' | 'scope';
  scope?: string;
  enabled: boolean;
  hits: number;
  explain: string;
  priority: number;
  file?: string;
  line?: number;
  definition: { actions?: Array<Record<string, unknown>> };
}

interface Failure {
  message: string;
  issues?: string[];
}

const failureOf = (err: unknown): Failure => (err instanceof ApiFailure ? { message: err.body.error, ...(err.body.issues !== undefined && { issues: err.body.issues }) } : { message: String(err) });

function FailureView({ failure }: { failure: Failure | undefined }) {
  if (failure === undefined) return null;
  return (
    <div class="error" role="alert">
      {failure.message}
      {failure.issues !== undefined && failure.issues.length > 1 && (
        <ul>
          {failure.issues.map((i) => (
            <li key={i}>{i}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function NewRule({ api, draft, onAdded }: { api: Api; draft: RuleDraft | undefined; onAdded: () => void }) {
  const [id, setId] = useState('');
  const [match, setMatch] = useState(JSON.stringify(draft?.match ?? { protocol: 'fpse' }, null, 2));
  const [action, setAction] = useState(ACTIONS[0]!.name);
  const [arg, setArg] = useState(JSON.stringify(ACTIONS[0]!.example));
  const [failure, setFailure] = useState<Failure | undefined>(undefined);
  useEffect(() => {
    if (draft !== undefined) setMatch(JSON.stringify(draft.match, null, 2));
  }, [draft]);

  async function add(event: Event): Promise<void> {
    event.preventDefault();
    let parsedMatch: unknown;
    let parsedArg: unknown;
    try {
      parsedMatch = JSON.parse(match);
    } catch (err) {
      setFailure({ message: `match is not JSON: ${(err as Error).message}` });
      return;
    }
    try {
      parsedArg = JSON.parse(arg);
    } catch {
      // A bare word (client-too-old, 600ms) is taken as a string.
      parsedArg = arg;
    }
    try {
      await api.json('/api/rules', { method: 'POST', body: { ...(id.trim() !== '' && { id: id.trim() }), match: parsedMatch, actions: [{ [action]: parsedArg }] } });
      setFailure(undefined);
      setId('');
      onAdded();
    } catch (err) {
      setFailure(failureOf(err));
    }
  }

  return (
    <form class="new-rule" aria-label="New runtime rule" onSubmit={(e) => void add(e)}>
      <h3>New runtime rule{draft?.from !== undefined && <span class="muted"> from {draft.from}</span>}</h3>
      <div class="form-grid">
        <label for="rule-id">Id (optional)</label>
        <input id="rule-id" value={id} placeholder="runtime-N" onInput={(e) => setId((e.currentTarget).value)} />
        <label for="rule-match">Match (JSON)</label>
        <textarea id="rule-match" rows={5} value={match} onInput={(e) => setMatch((e.currentTarget).value)} />
        <label for="rule-action">Action</label>
        <select
          id="rule-action"
          value={action}
          onChange={(e) => {
            const name = (e.currentTarget).value;
            setAction(name);
            setArg(JSON.stringify(ACTIONS.find((a) => a.name === name)?.example ?? ''));
          }}
        >
          {ACTIONS.map((a) => (
            <option key={a.name} value={a.name}>
              {a.name}: {a.says}
            </option>
          ))}
        </select>
        <label for="rule-arg">Argument (JSON or a word)</label>
        <input id="rule-arg" value={arg} onInput={(e) => setArg((e.currentTarget).value)} />
      </div>
      <button type="submit">Add rule</button>
      <FailureView failure={failure} />
    </form>
  );
}

export function RulesPanel({ api, draft }: { api: Api; draft: RuleDraft | undefined }) {
  const [rules, setRules] = useState<RuleInfo[] | undefined>(undefined);
  const [failure, setFailure] = useState<Failure | undefined>(undefined);
  const [busy, setBusy] = useState<string | undefined>(undefined);

  async function load(): Promise<void> {
    try {
      setRules(await api.json<RuleInfo[]>('/api/rules'));
    } catch (err) {
      setFailure(failureOf(err));
    }
  }
  useEffect(() => {
    void load();
    // Hit counts move with traffic; a panel on screen follows them.
    const timer = setInterval(() => void load(), 2000);
    return () => clearInterval(timer);
  }, [api]);

  async function change(id: string, call: () => Promise<unknown>): Promise<void> {
    setBusy(id);
    try {
      await call();
      setFailure(undefined);
    } catch (err) {
      setFailure(failureOf(err));
    }
    setBusy(undefined);
    await load();
  }

  const path = (id: string): string => `/api/rules/${encodeURIComponent(id)}`;
  return (
    <section class="panel" aria-label="Rules">
      <h2>Rules</h2>
      <FailureView failure={failure} />
      {rules === undefined ? (
        <p class="muted">Loading…</p>
      ) : rules.length === 0 ? (
        <p class="muted">No rules in force. Start the proxy with --rules FILE, or add a runtime rule below.</p>
      ) : (
        <table class="list" aria-label="Rules in force">
          <thead>
            <tr>
              <th>rule</th>
              <th>source</th>
              <th>enabled</th>
              <th>hits</th>
              <th>what it does</th>
              <th>
                <span class="sr-only">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <tr key={r.id} class={r.enabled ? '' : 'disabled'} data-rule={r.id} aria-busy={busy === r.id}>
                <td>
                  <strong>{r.id}</strong>
                </td>
                <td>{r.source === 'file' ? `${r.file ?? 'file'}${r.line !== undefined ? `:${r.line}` : ''}` : r.source === 'scope' ? `scope ${r.scope ?? ''}` : 'runtime'}</td>
                <td>
                  <input
                    type="checkbox"
                    checked={r.enabled}
                    aria-label={`${r.id} enabled`}
                    disabled={busy === r.id}
                    onChange={(e) => {
                      const enabled = e.currentTarget.checked;
                      // Shown at once; the list reloaded after the PATCH says what the server holds.
                      setRules(rules.map((x) => (x.id === r.id ? { ...x, enabled } : x)));
                      void change(r.id, () => api.json(path(r.id), { method: 'PATCH', body: { enabled } }));
                    }}
                  />
                </td>
                <td class="hits">{r.hits}</td>
                <td>
                  {r.explain}
                  <div class="muted mono">{JSON.stringify(r.definition.actions ?? [])}</div>
                </td>
                <td>
                  {r.source !== 'file' && (
                    <button type="button" aria-label={`Delete ${r.id}`} disabled={busy === r.id} onClick={() => void change(r.id, () => api.json(path(r.id), { method: 'DELETE' }))}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <NewRule api={api} draft={draft} onAdded={() => void load()} />
    </section>
  );
}
