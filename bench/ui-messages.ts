/**
 * What bench/ui-browser.ts prints and the ui-feed probe (bench/ui-feed.ts) reads, in a file of its
 * own so that the harness does not load playwright-core to know them.
 */
export const UI_READY = 'ui ready';
export const UI_FAILED = 'ui failed';
export const UI_COUNTS = 'ui counts';

export interface UiCounts {
  /** Rows the list holds at the end (aria-rowcount − the header row). */
  rows: number;
  /** The status bar's counts, e.g. "30512 rows" or "… (N oldest dropped) · N missed". */
  countsText: string;
  /** Whether the row count stopped moving before the 15 s limit. */
  settled: boolean;
  /** Long tasks seen by the page: epoch ms of the start, and duration ms (first 20,000). */
  longTasks: Array<[number, number]>;
  /** JSHeapUsedSize samples: epoch ms and bytes. */
  heap: Array<[number, number]>;
  /** Console errors and page errors (first 20). */
  problems: string[];
}
