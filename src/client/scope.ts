/**
 * `withRules(rules, fn)`: a scope that undoes itself (docs/control-api.md "Test suites"). Two
 * guards keep a dead test run from leaving its faults in the proxy (the failure mode of
 * Toxiproxy and mockttp clients, where a crashed run's toxics stay until someone resets):
 *   - the scope is *held*: `GET /api/scopes/{id}/hold` on a connection of its own, which the
 *     server never answers while the scope lives; when this process dies, even by SIGKILL, the
 *     kernel closes that connection and the server removes the scope at once;
 *   - it has a *lease* (`ttl`), renewed every ttl/3, for the case where a connection close
 *     cannot be seen (a host that vanished): the scope lapses at most `ttl` after the last renewal.
 * Both timers and the hold socket are unref'd: they never keep a finished test process alive.
 */
import { ControlError } from './error.js';
import type { Rule, Scope, ScopeEnd } from './types.js';

/** A test's scope: 30 s lease, renewed every 10 s. */
export const DEFAULT_SCOPE_TTL_MS = 30_000;

export interface WithRulesOptions {
  /** Lease in ms (100..86400000; default 30000), renewed every ttl/3 while `fn` runs. */
  ttl?: number;
}

/** What `fn` gets: the scope, and a signal that aborts if the scope ends before `fn` returns. */
export interface ScopeContext extends Scope {
  signal: AbortSignal;
}

interface ScopeApi {
  createScope(rules: Rule[], options?: { ttl?: number }): Promise<Scope>;
  renewScope(id: string, options?: { ttl?: number }): Promise<Scope>;
  deleteScope(id: string): Promise<unknown>;
  holdScope(id: string, options: { signal: AbortSignal; onSent?: () => void }): Promise<ScopeEnd | undefined>;
}

export async function runWithRules<T>(api: ScopeApi, rules: Rule[], fn: (scope: ScopeContext) => Promise<T> | T, options: WithRulesOptions = {}): Promise<T> {
  const ttl = options.ttl ?? DEFAULT_SCOPE_TTL_MS;
  const scope = await api.createScope(rules, { ttl });
  const lost = new AbortController();
  const release = new AbortController();
  let finishing = false;
  let endedBy: string | undefined;
  const end = (why: string): void => {
    if (finishing || endedBy !== undefined) return;
    endedBy = why;
    lost.abort(new ControlError(0, 'SCOPE_ENDED', `scope ${scope.id} ended before the function returned: ${why}`));
  };

  let sent: () => void = () => undefined;
  const holdSent = new Promise<void>((resolve) => (sent = resolve));
  const held = api.holdScope(scope.id, { signal: release.signal, onSent: () => sent() }).then(
    (answer) => {
      if (answer !== undefined) end(`it was ${answer.ended}`);
    },
    (err: Error) => end(`its hold connection failed (${err.message})`),
  );
  // The hold is on the wire before `fn` starts. That is enough: a process killed from then on
  // closes the connection after the request (TCP keeps the order), so the server reads the hold
  // and then the close, and removes the scope. Asking the server whether it holds the scope
  // cost a round trip or more per call under load and bought nothing.
  await Promise.race([holdSent, held]);
  const renewal = setInterval(() => {
    api.renewScope(scope.id, { ttl }).catch((err: unknown) => {
      if (err instanceof ControlError && err.status === 404) end('it was gone when its lease was renewed');
      // Anything else (a slow answer): the next renewal tries again, well within the lease.
    });
  }, Math.max(1, Math.floor(ttl / 3)));
  renewal.unref();

  const cleanup = async (): Promise<void> => {
    finishing = true;
    clearInterval(renewal);
    try {
      await api.deleteScope(scope.id);
    } catch (err) {
      // Already gone (expired, reset): nothing is left to undo.
      if (!(err instanceof ControlError && err.status === 404)) throw err;
    } finally {
      release.abort();
      await held;
    }
  };

  let result: T;
  try {
    result = await fn({ ...scope, signal: lost.signal });
  } catch (err) {
    // The function's own failure is the one to report; a failed delete would only hide it.
    await cleanup().catch(() => undefined);
    throw err;
  }
  const ended = endedBy;
  await cleanup();
  if (ended !== undefined) throw new ControlError(0, 'SCOPE_ENDED', `scope ${scope.id} ended before the function returned (${ended}): its rules were not in force throughout; raise ttl or check the proxy`);
  return result;
}
