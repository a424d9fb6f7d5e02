/**
 * The rows the live list holds: arrival order, newest last, at most ROW_CAP of them (the oldest
 * dropped, counted), so a tab left open on a busy proxy has bounded memory. Changes are announced
 * in an animation frame at most every RENDER_MS, however many rows arrive meanwhile: at a
 * thousand exchanges a second a render per frame (60 a second) kept a core of a two-core machine
 * busy in the browser, which the proxy beside it then lacked; ten a second reads as live.
 */
import type { ExchangeSummary } from './types.js';

/** Rows kept; summaries are a few hundred bytes each, so the cap bounds the list at tens of MB. */
export const ROW_CAP = 100_000;
/** Dropped in batches of this many past the cap, so dropping is not a copy per row. */
const DROP_BATCH = 5_000;
/** The least time between two renders of arriving rows. */
export const RENDER_MS = 100;

export class RowStore {
  private rows: ExchangeSummary[] = [];
  private byId = new Map<string, ExchangeSummary>();
  private listeners = new Set<() => void>();
  private scheduled = false;
  private renderedAt = -Infinity;
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
    const render = (): void => {
      requestAnimationFrame(() => {
        this.scheduled = false;
        this.renderedAt = performance.now();
        for (const listener of this.listeners) listener();
      });
    };
    // The first change after a quiet spell shows in the next frame; later ones wait their turn.
    const wait = this.renderedAt + RENDER_MS - performance.now();
    if (wait <= 0) render();
    else setTimeout(render, wait);
  }
}
