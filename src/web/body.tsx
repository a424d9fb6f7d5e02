/**
 * A captured body: JSON pretty-printed, text as text, anything else as a hex dump; always with its
 * real size and, when the capture stopped short (`--capture-bytes`), a truncation mark that says
 * how much is shown. Very long text is cut for display too, and says so.
 */
import { bytes, fromBase64, hexDump } from './format.js';
import type { JournalBody } from './types.js';

const SHOWN_CHARS = 64 * 1024;

function pretty(body: JournalBody, contentType: string | undefined): { text: string; kind: string } {
  if (body.encoding === 'base64') return { text: hexDump(fromBase64(body.data)), kind: 'hex' };
  const looksJson = /json/i.test(contentType ?? '') || /^\s*[[{]/.test(body.data);
  if (looksJson && body.truncated !== true) {
    try {
      return { text: JSON.stringify(JSON.parse(body.data), null, 2), kind: 'JSON' };
    } catch {
      // not JSON after all: shown as text
    }
  }
  return { text: body.data, kind: 'text' };
}

export function BodyView({ title, body, contentType, size }: { title: string; body: JournalBody | undefined; contentType: string | undefined; size: number }) {
  if (body === undefined) {
    return (
      <div class="body-view">
        <h4>{title}</h4>
        <p class="muted">{size === 0 ? 'no body' : `${bytes(size)}, not captured (bodies are kept when recording is on: --record, --capture-bytes)`}</p>
      </div>
    );
  }
  const { text, kind } = pretty(body, contentType);
  const shown = text.length > SHOWN_CHARS ? text.slice(0, SHOWN_CHARS) : text;
  const captured = body.encoding === 'base64' ? Math.floor((body.data.length * 3) / 4) : new TextEncoder().encode(body.data).length;
  return (
    <div class="body-view">
      <h4>
        {title}: {bytes(body.size)}, {kind}
        {contentType !== undefined && ` (${contentType})`}
      </h4>
      {body.truncated === true && (
        <p class="truncated" role="note">
          ✂ truncated: {bytes(captured)} of {bytes(body.size)} captured (--capture-bytes)
        </p>
      )}
      <pre class="body" tabIndex={0} aria-label={title}>
        {shown}
      </pre>
      {shown.length < text.length && <p class="truncated">✂ {text.length - shown.length} more characters not shown here</p>}
    </div>
  );
}
