/**
 * Per rule, the exchanges it was applied in (`GET /api/rules/{id}/hits`), counted as exchanges
 * finish, so every id listed can be fetched from the ring, and a long poll `wait`s until a rule has
 * hit N times ("the rejection fired twice") instead of the test sleeping. Bounded: the last
 * EXCHANGE_IDS ids per rule, HIT_RULES rules (the longest unhit forgotten first), WAITERS waits.
 */
import type { Exchange } from '../core/exchange.js';

export const EXCHANGE_IDS = 100;
const HIT_RULES = 10_000;
const WAITERS = 1_000;

export interface Hits {
  id: string;
  hits: number;
  /** Ids of the last exchanges it was applied in, oldest first. */
  exchanges: string[];
}

interface Waiter {
  id: string;
  count: number;
  done(): void;
}

export class RuleHits {
  private readonly byId = new Map<string, { hits: number; exchanges: string[] }>();
  private readonly waiters = new Set<Waiter>();

  /** Called with every finished exchange: a few map operations for each rule applied. */
  record(x: Exchange): void {
    const rules = x.rules;
    if (rules === undefined) return;
    for (const r of rules) {
      if (r.outcome !== 'applied') continue;
      let entry = this.byId.get(r.id);
      if (entry === undefined) {
        if (this.byId.size >= HIT_RULES) this.byId.delete(this.byId.keys().next().value!);
        entry = { hits: 0, exchanges: [] };
      } else {
        this.byId.delete(r.id);
      }
      this.byId.set(r.id, entry);
      entry.hits += 1;
      entry.exchanges.push(x.id);
      if (entry.exchanges.length > EXCHANGE_IDS) entry.exchanges.shift();
      for (const w of this.waiters) if (w.id === r.id && entry.hits >= w.count) w.done();
    }
  }

  known(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): Hits {
    const entry = this.byId.get(id);
    return { id, hits: entry?.hits ?? 0, exchanges: entry === undefined ? [] : entry.exchanges.slice() };
  }

  /** The hits once there are at least `count`, or after `ms`, or when `signal` aborts. */
  wait(id: string, count: number, ms: number, signal: AbortSignal): Promise<Hits> {
    if (this.get(id).hits >= count || ms === 0 || this.waiters.size >= WAITERS) return Promise.resolve(this.get(id));
    return new Promise((resolve) => {
      const waiter: Waiter = { id, count, done: () => finish() };
      const timer = setTimeout(() => finish(), ms);
      const finish = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        this.waiters.delete(waiter);
        resolve(this.get(id));
      };
      signal.addEventListener('abort', finish);
      this.waiters.add(waiter);
    });
  }

  /** Counts start again; waits in progress answer with what they had. */
  reset(): void {
    this.byId.clear();
    for (const w of [...this.waiters]) w.done();
  }
}
