/**
 * A one-line progress bar for long conversions (`./proxy har` on a big journal), redrawn in
 * place with a carriage return. Meant for a TTY only: the CLI decides whether to use it, so
 * piped output and CI logs never fill with redraws.
 */

export interface ProgressBar {
  update(done: number, total: number): void;
  /** Clears the bar and prints `summary` on its own line. */
  done(summary: string): void;
}

export interface ProgressBarOptions {
  /** Clock in ms; a parameter so tests can drive the throttle. */
  now?: () => number;
  /** Least time between redraws, default 100 ms (at most ~10 a second). */
  intervalMs?: number;
}

const BAR_WIDTH = 30;

export function createProgressBar(stream: NodeJS.WriteStream, label: string, options: ProgressBarOptions = {}): ProgressBar {
  const clock = options.now ?? (() => performance.now());
  const interval = options.intervalMs ?? 100;
  let last = -Infinity;
  let drawn = false;

  const draw = (done: number, total: number): void => {
    const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
    const filled = Math.round(ratio * BAR_WIDTH);
    const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}% ${megabytes(done)}/${megabytes(total)} MB`;
    const columns = stream.columns > 0 ? stream.columns - 1 : line.length;
    stream.write(`\r${line.slice(0, columns)}\x1b[K`);
    drawn = true;
  };

  return {
    update(done, total) {
      const at = clock();
      // The final state is always drawn, so the bar never stops short of 100%.
      if (at - last < interval && done < total) return;
      last = at;
      draw(done, total);
    },
    done(summary) {
      stream.write(`${drawn ? '\r\x1b[K' : ''}${summary}\n`);
      drawn = false;
    },
  };
}

function megabytes(bytes: number): string {
  return (bytes / 1_000_000).toFixed(1);
}
