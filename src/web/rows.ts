/**
 * The rows the live list holds: arrival order, newest last, at most ROW_CAP of them (the oldest
 * dropped, counted), so a tab left open on a busy proxy has bounded memory. Changes are announced
 * at most once per animation frame, however many rows arrive in it.
 */
import type { ExchangeSummary } from './types.js';

/** Rows kept; summaries are a few hundred bytes each, so the cap bounds the list at tens of MB. */
export const ROW_CAP = 100_000;
/** Dropped in batches of this many past the cap, so dropping is not a copy per row. */
const DROP_BATCH = 5_000;

export class RowStore {
  private rows: ExchangeSummary[] = [];
  private byId = new Map<string, ExchangeSummary>();
  private listeners = new Set<() => void>();
  private scheduled = false;
  /** Rows dropped for the cap since the last clear. */
  dropped = 0;
  /** Events the live feed said it could not deliver (a slow tab). */
  missed = 0;
  version = 0;

  constructor(readonly cap = ROW_CAP) {}

  get size(): number {
    return this.rows.length;
  }

  /** The i-th row, newest first. */
  at(i: number): ExchangeSummary | undefined {
    return this.rows[this.rows.length - 1 - i];
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Adds a row, or updates the row of the same id in place (a 'finished' after its 'started'). */
  put(row: ExchangeSummary): void {
    const known = this.byId.get(row.id);
    if (known !== undefined) {
      const seen = known.seen;
      for (const key of Object.keys(known) as Array<keyof ExchangeSummary>) delete known[key];
      Object.assign(known, row, { seen });
    } else {
      row.seen ??= Date.now();
      this.rows.push(row);
      this.byId.set(row.id, row);
      if (this.rows.length > this.cap + DROP_BATCH - 1) this.drop(this.rows.length - this.cap);
    }
    this.changed();
  }

  clear(): void {
    this.rows = [];
    this.byId.clear();
    this.dropped = 0;
    this.missed = 0;
    this.changed();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private drop(n: number): void {
    for (const row of this.rows.slice(0, n)) this.byId.delete(row.id);
    this.rows = this.rows.slice(n);
    this.dropped += n;
  }

  changed(): void {
    this.version++;
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      for (const listener of this.listeners) listener();
    });
  }
}
