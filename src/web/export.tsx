/**
 * Export of the current filter. The control API serves no HAR or report (they are made from the
 * journal, which holds every exchange, where the ring holds the last few thousand), so the UI
 * gives the commands that make them from the recording with the same filter, ready to copy.
 */
import { shellQuote } from './curl.js';

export function ExportCommands({ filter }: { filter: string }) {
  const f = filter === '' ? '' : ` --filter ${shellQuote(filter)}`;
  const har = `./proxy har recordings/${f} -o exchanges.har`;
  const report = `./proxy report recordings/${f} --html -o report.html`;
  return (
    <details class="export">
      <summary>Export</summary>
      <div class="popover">
      <p>HAR and the report are made from the recording (the journal holds every exchange; this page holds the recent ones), with this filter:</p>
      <pre class="body" aria-label="HAR export command">
        {har}
      </pre>
      <pre class="body" aria-label="Report export command">
        {report}
      </pre>
      </div>
    </details>
  );
}
