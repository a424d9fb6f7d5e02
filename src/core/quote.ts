/**
 * Quotes a value from the traffic for a problem or verdict sentence. JSON.stringify would put a
 * backslash before every `"` (nmap's `FPVersion="5.0.2.2623"`), and a report that escapes
 * backslashes in turn shows `\\"`; so a value is wrapped in the quote it does not contain, and
 * JSON escapes are kept for control characters (they must not reach a log line raw) and for a
 * value holding both quotes.
 */
export function quote(value: string): string {
  if (CONTROL.test(value)) return JSON.stringify(value);
  if (!value.includes('"')) return `"${value}"`;
  if (!value.includes("'")) return `'${value}'`;
  return JSON.stringify(value);
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;
