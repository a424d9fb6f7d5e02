/**
 * The `ui-feed` probe's acceptance lines (issue 23), from medians over runs; the longest task and
 * the heap's peak are the worst run's, since they are bounds.
 */
import { median } from './table.js';
import { UI_MAX_HEAP_AT_CAP_MB, UI_MAX_LONG_TASK_MS, UI_MIN_THROUGHPUT_RATIO, UI_RATE, UI_ROW_CAP, type UiFeedRun, type UiPage, type UiSide } from './ui-feed.js';

const yesNo = (ok: boolean): string => (ok ? 'yes' : 'no');
const med = (values: Array<number | undefined>): number | undefined => median(values.filter((v): v is number => v !== undefined));

/** The heap a full list (UI_ROW_CAP rows) would take, from what each row of this run cost. */
export function heapAtCapMb(page: UiPage): number {
  const perRow = page.rows > 0 ? Math.max(0, page.heapEndMb - page.heapStartMb) / page.rows : 0;
  return page.heapStartMb + perRow * UI_ROW_CAP;
}

export function uiFeedLines(runs: UiFeedRun[]): string[] {
  const seconds = runs[0]?.seconds ?? 0;
  const head = `Web UI open in headless Chromium under ~${UI_RATE.toLocaleString('en-US')} exchanges/s for ${seconds} s`;
  const ok = runs.filter((r) => r.error === undefined && r.page !== undefined);
  const failed = runs.find((r) => r.error !== undefined)?.error;
  if (ok.length === 0) return [`${head}: ${failed === undefined ? 'n/a' : `no (${failed})`}`];
  const counted = ok.length < runs.length ? `; ${ok.length} of ${runs.length} runs counted` : '';
  const pages = ok.map((r) => r.page!);
  const longest = Math.max(...pages.map((p) => p.longestTaskMs));
  const heapPeak = Math.max(...pages.map((p) => p.heapMaxMb));
  const atCap = Math.max(...pages.map(heapAtCapMb));
  const mb = (n: number | undefined): string => (n === undefined ? 'n/a' : `${n.toFixed(1)} MB`);
  const allRows = pages.every((p) => p.rows >= p.expectedRows);
  const cpuRatio = (a: UiSide, b: UiSide): number | undefined =>
    med(
      ok.map((r) => {
        const x = r.sides[a]?.cpuPerRequestUs;
        const y = r.sides[b]?.cpuPerRequestUs;
        return x === undefined || y === undefined ? undefined : x / y;
      }),
    );
  const ratio = cpuRatio('ui', 'plain');
  const fixed = (n: number | undefined, digits = 2): string => n?.toFixed(digits) ?? 'n/a';
  const us = (side: UiSide): string => `${fixed(med(ok.map((r) => r.sides[side]?.cpuPerRequestUs)), 0)} µs`;
  const rps = (side: UiSide): string => fixed(med(ok.map((r) => r.sides[side]?.rps)), 0);
  const watcherCpu = (side: UiSide): string => `${fixed(med(ok.map((r) => r.sides[side]?.watcherCpuSeconds)), 1)} CPU s`;
  // Paced load: both sides reach the pace, so throughput ≥ 0.9× is read as CPU per request ≤ 1/0.9×.
  const maxCpuRatio = 1 / UI_MIN_THROUGHPUT_RATIO;
  return [
    `${head}: longest main-thread task ≤ ${UI_MAX_LONG_TASK_MS} ms: ${yesNo(longest <= UI_MAX_LONG_TASK_MS)} (${longest === 0 ? 'no task over 50 ms, the Long Tasks API\'s threshold' : `longest ${longest.toFixed(0)} ms, the worst run`}; ` +
      `${med(pages.map((p) => p.longTasks))?.toFixed(0) ?? 'n/a'} long tasks > 50 ms during the load, median${counted})`,
    `Web UI tab memory stays bounded (JS heap projected to the list's ${UI_ROW_CAP.toLocaleString('en-US')}-row cap ≤ ${UI_MAX_HEAP_AT_CAP_MB} MB): ${yesNo(atCap <= UI_MAX_HEAP_AT_CAP_MB)} ` +
      `(JSHeapUsedSize at start ${mb(med(pages.map((p) => p.heapStartMb)))}, during the load up to ${mb(heapPeak)}, at the end ${mb(med(pages.map((p) => p.heapEndMb)))} for ` +
      `${med(pages.map((p) => p.rows))?.toFixed(0) ?? 'n/a'} rows; ${atCap.toFixed(0)} MB at the cap, the worst run)`,
    `Web UI holds every exchange (up to its cap): ${yesNo(allRows)} (${pages.map((p) => `${p.rows} rows of ${p.expectedRows}`).join(', ')}; status "${pages[0]!.countsText}")`,
    `Proxy throughput with the UI open ≥ ${UI_MIN_THROUGHPUT_RATIO}× without, judged as proxy CPU per request ≤ ${maxCpuRatio.toFixed(2)}× (the load is paced at ${UI_RATE}/s, so req/s alone cannot differ): ` +
      `${ratio === undefined ? 'n/a' : yesNo(ratio <= maxCpuRatio)} (ratio ${ratio?.toFixed(2) ?? 'n/a'}: ${us('ui')} with the page vs ${us('plain')} without, median of same-run ratios; ` +
      `achieved ${rps('ui')} vs ${rps('plain')} req/s; the page's Chromium used ${watcherCpu('ui')} of the same 2 cores during the ${seconds} s load; both sides with the control server up, --no-record)`,
    `Where the UI's cost goes (information): a Node live feed subscriber instead of the page, proxy CPU per request ${us('feed')} (÷ no page ${fixed(cpuRatio('feed', 'plain'))}; ` +
      `page ÷ subscriber ${fixed(cpuRatio('ui', 'feed'))}), ${rps('feed')} req/s, the subscriber ${watcherCpu('feed')}: what the live feed costs the proxy, against what Chromium taking the cores adds`,
  ];
}
