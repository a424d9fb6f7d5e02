/**
 * The live list: a virtualised grid (only the rows in view, plus a few, are in the DOM), so
 * 100,000 rows scroll as smoothly as 100. Keyboard: ↑ ↓ PageUp PageDown Home End move the
 * selection, which opens the detail, Escape closes it; the grid is one tab stop (WAI-ARIA grid pattern, with
 * aria-activedescendant naming the selected row).
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { bytes, clock, hostAndPath, ms, worst } from './format.js';
import type { RowStore } from './rows.js';
import type { ExchangeSummary } from './types.js';

export const ROW_HEIGHT = 24;
const OVERSCAN = 8;
/** More than a screenful plus overscan ever holds: row elements are reused by index modulo this. */
const SLOTS = 512;

export const COLUMNS = ['Time', 'Method', 'Host', 'Path', 'Status', 'Protocol · operation', 'Client', 'Server', 'Negotiated', 'Verdict', 'Rules', 'Duration', 'Size'];

interface Props {
  rows: RowStore;
  selected: string | undefined;
  onSelect: (id: string) => void;
  /** Escape: close the detail. */
  onClose: () => void;
}

export function ExchangeList({ rows, selected, onSelect, onClose }: Props) {
  const [, setVersion] = useState(0);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const viewport = useRef<HTMLDivElement>(null);
  useEffect(() => rows.subscribe(() => setVersion(rows.version)), [rows]);
  useLayoutEffect(() => {
    const el = viewport.current;
    if (el === null) return undefined;
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    setHeight(el.clientHeight);
    return () => observer.disconnect();
  }, []);

  const total = rows.size;
  let selectedIndex = -1;
  if (selected !== undefined) {
    // The selection is by id (rows move down as new ones arrive); look near the top first.
    for (let i = 0; i < total; i++) {
      if (rows.at(i)!.id === selected) {
        selectedIndex = i;
        break;
      }
    }
  }
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(total, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const visible: ExchangeSummary[] = [];
  for (let i = first; i < last; i++) visible.push(rows.at(i)!);

  // A new selection, or the viewport resized (the detail opening under it): keep the selected
  // row in view. Rows arriving above it move it down without scrolling, so reading is not disturbed.
  useLayoutEffect(() => {
    const el = viewport.current;
    if (el === null || selectedIndex === -1) return;
    const top = selectedIndex * ROW_HEIGHT;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_HEIGHT > el.scrollTop + el.clientHeight) el.scrollTop = top + ROW_HEIGHT - el.clientHeight;
  }, [selected, height]);

  function move(to: number): void {
    if (total === 0) return;
    onSelect(rows.at(Math.max(0, Math.min(total - 1, to)))!.id);
  }

  function onKeyDown(event: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(height / ROW_HEIGHT) - 1);
    const keys: Record<string, number> = { ArrowDown: selectedIndex + 1, ArrowUp: selectedIndex - 1, PageDown: selectedIndex + page, PageUp: selectedIndex - page, Home: 0, End: total - 1 };
    if (event.key === 'Escape') {
      onClose();
      return;
    }
    const to = keys[event.key];
    if (to === undefined) return;
    event.preventDefault();
    move(selectedIndex === -1 && event.key === 'ArrowUp' ? 0 : to);
  }

  return (
    <div class="grid" role="grid" aria-label="Exchanges, newest first" aria-rowcount={total + 1} aria-colcount={COLUMNS.length}>
      <div class="row head" role="row" aria-rowindex={1}>
        {COLUMNS.map((c) => (
          <span role="columnheader" key={c}>
            {c}
          </span>
        ))}
      </div>
      <div
        class="viewport"
        ref={viewport}
        tabIndex={0}
        role="rowgroup"
        aria-activedescendant={selectedIndex >= first && selectedIndex < last ? `row-${selected}` : undefined}
        onScroll={(e) => setScrollTop((e.currentTarget).scrollTop)}
        onKeyDown={onKeyDown}
      >
        <div class="spacer" style={{ height: `${total * ROW_HEIGHT}px` }}>
          {visible.map((row, k) => (
            // Keyed by slot, not id: a jump far down the list refills the same elements with new
            // text instead of tearing down and building a screenful of rows.
            <Row key={(first + k) % SLOTS} row={row} index={first + k} selected={row.id === selected} onSelect={onSelect} />
          ))}
        </div>
        {total === 0 && <p class="empty">No exchanges yet. Send traffic through the proxy, or loosen the filter.</p>}
      </div>
    </div>
  );
}

function Row({ row, index, selected, onSelect }: { row: ExchangeSummary; index: number; selected: boolean; onSelect: (id: string) => void }) {
  const { host, path } = hostAndPath(row.url);
  const verdict = worst(row.verdicts);
  const level = row.error !== undefined ? 'violation' : (verdict?.level ?? 'none');
  const v = row.versions ?? {};
  return (
    <div
      id={`row-${row.id}`}
      class={`row level-${level}${selected ? ' selected' : ''}${row.pending === true ? ' pending' : ''}`}
      role="row"
      aria-rowindex={index + 2}
      aria-selected={selected}
      data-id={row.id}
      style={{ transform: `translateY(${index * ROW_HEIGHT}px)` }}
      onClick={() => onSelect(row.id)}
    >
      <span role="gridcell">{clock(row.start ?? row.seen)}</span>
      <span role="gridcell">{row.method}</span>
      <span role="gridcell" title={host}>
        {host}
      </span>
      <span role="gridcell" title={path}>
        {path}
      </span>
      <span role="gridcell">{row.pending === true ? '…' : (row.status ?? row.error ?? '')}</span>
      <span role="gridcell">{row.protocol === undefined ? (row.kind === 'http' ? '' : row.kind) : `${row.protocol} · ${row.operation ?? ''}`}</span>
      <span role="gridcell">{v.client ?? ''}</span>
      <span role="gridcell">{v.server ?? ''}</span>
      <span role="gridcell">{v.negotiated ?? ''}</span>
      <span role="gridcell" class="verdict" title={verdict?.message}>
        {row.error !== undefined ? `✖ ${row.error}` : verdict === undefined ? '' : `${verdict.level === 'violation' ? '⚠ ' : ''}${verdict.code}`}
      </span>
      <span role="gridcell" title={row.rules.join(', ')}>
        {row.rules.join(', ')}
      </span>
      <span role="gridcell">{ms(row.duration)}</span>
      <span role="gridcell">{bytes(row.bytes.response)}</span>
    </div>
  );
}
