/**
 * Scopes: a set of rules with a lease (Toxiproxy's and mockttp's failure mode is a fault left
 * behind by a test run that crashed). A scope's rules are removed when its owner DELETEs it, when
 * the lease lapses (`ttl` ms after creation or the last renewal), or when the client holding it
 * (`GET /api/scopes/{id}/hold`, a request that is not answered while the scope lives) disconnects,
 * which is what happens when a test process is killed: the kernel closes its sockets.
 */
import type { Logger } from 'pino';
import type { RuleDefinition } from '../rules/load.js';
import type { LiveRules } from '../rules/live-rules.js';

export const DEFAULT_TTL_MS = 60_000;
export const MIN_TTL_MS = 100;
export const MAX_TTL_MS = 24 * 3600 * 1000;
/** Scopes alive at once: each holds rules, a timer and maybe a connection. */
export const MAX_SCOPES = 1_000;

export type ScopeEnd = 'deleted' | 'expired' | 'released' | 'reset';

export interface ScopeInfo {
  id: string;
  rules: string[];
  ttl: number;
  /** Epoch milliseconds. */
  expiresAt: number;
  held: boolean;
}

interface Scope {
  id: string;
  rules: string[];
  ttl: number;
  expiresAt: number;
  timer: NodeJS.Timeout;
  holders: Set<(end: ScopeEnd) => void>;
}

export class ScopeLimit extends Error {}

export class Scopes {
  private readonly scopes = new Map<string, Scope>();
  private next = 1;

  constructor(
    private readonly rules: LiveRules,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.scopes.size;
  }

  /**
   * A fresh id, taken now: the rules are named after it while they are validated (an await), and
   * two scopes created at once must not both get the same one. An id never used leaves a gap.
   */
  reserveId(): string {
    return `scope-${this.next++}`;
  }

  /** Adds the rules and starts the lease; throws RuleConflict (nothing added) on a taken id. */
  create(id: string, defs: RuleDefinition[], ttl: number): ScopeInfo {
    if (this.scopes.size >= MAX_SCOPES) throw new ScopeLimit(`${MAX_SCOPES} scopes are alive; delete some (or POST /api/reset) before adding more`);
    this.rules.add(defs, { source: 'scope', scope: id });
    const scope: Scope = { id, rules: defs.map((d) => d.id), ttl, expiresAt: 0, timer: undefined as unknown as NodeJS.Timeout, holders: new Set() };
    this.scopes.set(id, scope);
    this.lease(scope, ttl);
    this.logger.info({ scope: id, rules: scope.rules, ttl }, 'scope added');
    return info(scope);
  }

  get(id: string): ScopeInfo | undefined {
    const scope = this.scopes.get(id);
    return scope === undefined ? undefined : info(scope);
  }

  list(): ScopeInfo[] {
    return [...this.scopes.values()].map(info);
  }

  /** A new lease of `ttl` (the scope's own when not given) from now. */
  renew(id: string, ttl?: number): ScopeInfo | undefined {
    const scope = this.scopes.get(id);
    if (scope === undefined) return undefined;
    this.lease(scope, ttl ?? scope.ttl);
    return info(scope);
  }

  /** Removes the scope and its rules; false when there was none. */
  end(id: string, why: ScopeEnd): boolean {
    const scope = this.scopes.get(id);
    if (scope === undefined) return false;
    this.scopes.delete(id);
    clearTimeout(scope.timer);
    this.rules.remove(scope.rules);
    for (const holder of scope.holders) holder(why);
    this.logger.info({ scope: id, rules: scope.rules, why }, why === 'released' ? 'scope removed: its holder disconnected' : why === 'expired' ? 'scope removed: its lease lapsed' : 'scope removed');
    return true;
  }

  /**
   * Resolves when the scope ends other than by this holder; when `signal` aborts first (the
   * holder's connection closed), the scope is removed. undefined when there is no such scope.
   */
  hold(id: string, signal: AbortSignal): Promise<ScopeEnd> | undefined {
    const scope = this.scopes.get(id);
    if (scope === undefined) return undefined;
    return new Promise((resolve) => {
      const ended = (why: ScopeEnd): void => {
        signal.removeEventListener('abort', released);
        resolve(why);
      };
      const released = (): void => {
        scope.holders.delete(ended);
        this.end(id, 'released');
        resolve('released');
      };
      scope.holders.add(ended);
      if (signal.aborted) released();
      else signal.addEventListener('abort', released, { once: true });
    });
  }

  /** Ends every scope (POST /api/reset, shutdown). */
  clear(why: ScopeEnd = 'reset'): number {
    const ids = [...this.scopes.keys()];
    for (const id of ids) this.end(id, why);
    return ids.length;
  }

  private lease(scope: Scope, ttl: number): void {
    clearTimeout(scope.timer);
    scope.ttl = ttl;
    scope.expiresAt = Date.now() + ttl;
    scope.timer = setTimeout(() => this.end(scope.id, 'expired'), ttl);
    // A lease never keeps the process alive by itself.
    scope.timer.unref();
  }
}

function info(scope: Scope): ScopeInfo {
  return { id: scope.id, rules: scope.rules.slice(), ttl: scope.ttl, expiresAt: scope.expiresAt, held: scope.holders.size > 0 };
}
