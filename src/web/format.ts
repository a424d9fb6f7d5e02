/** Small formatters shared by the views. */

export function bytes(n: number | undefined): string {
  if (n === undefined) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function ms(n: number | undefined): string {
  if (n === undefined) return '';
  return n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

export function clock(epochMs: number | undefined): string {
  if (epochMs === undefined) return '';
  const d = new Date(epochMs);
  const pad = (v: number, w = 2): string => String(v).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Host and path of an absolute URL (a tunnel's `host:port` is all host). */
export function hostAndPath(url: string): { host: string; path: string } {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)(.*)$/i.exec(url);
  if (m === null) return url.startsWith('/') ? { host: '', path: url } : { host: url, path: '' };
  return { host: m[1]!, path: m[2] === '' ? '/' : m[2]! };
}

/** The spec a verdict's message cites (`MS-FPSE 1.7.1`, `MS-OXCMAPIHTTP 2.2.3.3.6`, `RFC 9110 §15`), if any. */
export function specOf(message: string): string | undefined {
  return /\b(MS-[A-Z]+ [\d.]*\d|RFC \d+(?: §[\d.]*\d)?)/.exec(message)?.[1];
}

/** The worst level among verdicts: what the row's verdict column shows. */
export function worst<T extends { level: string }>(verdicts: readonly T[]): T | undefined {
  const rank = (l: string): number => (l === 'violation' ? 2 : l === 'notice' ? 1 : 0);
  let found: T | undefined;
  for (const v of verdicts) if (found === undefined || rank(v.level) > rank(found.level)) found = v;
  return found;
}

/** Bytes from base64, for binary bodies. */
export function fromBase64(data: string): Uint8Array {
  const text = atob(data);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** A classic hex dump: offset, 16 bytes in hex, the printable ones as text. At most `limit` bytes. */
export function hexDump(data: Uint8Array, limit = 16 * 1024): string {
  const lines: string[] = [];
  const end = Math.min(data.length, limit);
  for (let off = 0; off < end; off += 16) {
    const row = data.subarray(off, Math.min(off + 16, end));
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const text = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${text}`);
  }
  if (data.length > limit) lines.push(`… ${data.length - limit} more bytes not shown`);
  return lines.join('\n');
}
