/**
 * The FPSE client's encoding style (MS-FPSE 2.2.2; docs/protocols.md §2.2): which characters of the
 * method value it percent-escapes and how, so a changed version goes back in the same spelling
 * (`server+version%3a12%2e0%2e0%2e6415` stays percent-encoded, `server+version:12.0.0.6415`
 * stays plain). Used by the request scanner to describe the client, and by rules to rewrite.
 */
/**
 * How a client wrote the method value, so a changed version goes back the same way (§2.2: real
 * Office clients escape `:` `.` `_`, simple tools do not; §4.9 vs §4.10). `guessed` names the
 * characters that did not occur and were inferred from the rest of the line.
 */
export interface FpseEncodingStyle {
  space: '+' | '%20';
  colon: ':' | '%3a' | '%3A';
  dot: '.' | '%2e' | '%2E';
  underscore: '_' | '%5f' | '%5F';
  guessed: Array<'space' | 'colon' | 'dot' | 'underscore'>;
}

type Spelling = 'plain' | 'lower' | 'upper';

/** The style of `rawMethodValue`, with unseen characters inferred from the whole first line. */
export function detectEncodingStyle(rawMethodValue: string, line: string): FpseEncodingStyle {
  const guessed: FpseEncodingStyle['guessed'] = [];
  const colonAt = separatorIndex(rawMethodValue);
  const versionPart = colonAt < 0 ? '' : rawMethodValue.slice(colonAt);
  const colon = spelling(rawMethodValue, ':', '3a');
  const dot = spelling(versionPart, '.', '2e');
  const underscore = spelling(line, '_', '5f');
  // Unseen characters follow the seen ones: escaped if anything was escaped, in its hex case.
  const seen = [colon, dot, underscore].filter((s): s is Spelling => s !== undefined);
  const escapedSeen = seen.find((s) => s !== 'plain');
  const anyEscape = /%[0-9A-Fa-f]{2}/.test(line);
  const fallback: Spelling = escapedSeen ?? (seen.length > 0 || !anyEscape ? 'plain' : hexCase(line));
  const pick = (s: Spelling | undefined, name: 'colon' | 'dot' | 'underscore'): Spelling => {
    if (s !== undefined) return s;
    guessed.push(name);
    return fallback;
  };
  const space = /%20/.test(rawMethodValue) && !rawMethodValue.includes('+') ? '%20' : '+';
  if (!rawMethodValue.includes('+') && !/%20/.test(rawMethodValue)) guessed.push('space');
  return {
    space,
    colon: spelled(pick(colon, 'colon'), ':', '3a') as FpseEncodingStyle['colon'],
    dot: spelled(pick(dot, 'dot'), '.', '2e') as FpseEncodingStyle['dot'],
    underscore: spelled(pick(underscore, 'underscore'), '_', '5f') as FpseEncodingStyle['underscore'],
    guessed,
  };
}

/** `12.0.0.6415` with its dots written in `style` (`12%2e0%2e0%2e6415`). Digits need no escape. */
export function encodeFpseVersion(versionText: string, style: FpseEncodingStyle): string {
  return versionText.split('.').join(style.dot);
}

/**
 * A new method= value with `versionText` in place of the old version (or appended, or removed
 * when undefined). The method name keeps its exact wire bytes; only the `:version` tail changes.
 */
export function rewriteFpseMethodValue(rawMethodValue: string, versionText: string | undefined, style: FpseEncodingStyle): string {
  const colonAt = separatorIndex(rawMethodValue);
  const name = colonAt < 0 ? rawMethodValue : rawMethodValue.slice(0, colonAt);
  return versionText === undefined ? name : `${name}${style.colon}${encodeFpseVersion(versionText, style)}`;
}

/** Where the name/version separator starts: a literal `:` or `%3a`/`%3A`, whichever comes first. */
function separatorIndex(raw: string): number {
  const plain = raw.indexOf(':');
  const escaped = raw.search(/%3a/i);
  if (plain < 0) return escaped;
  if (escaped < 0) return plain;
  return Math.min(plain, escaped);
}

function spelling(text: string, char: string, hex: string): Spelling | undefined {
  const plain = text.indexOf(char);
  const match = new RegExp(`%${hex}`, 'i').exec(text);
  if (plain < 0 && match === null) return undefined;
  if (match === null || (plain >= 0 && plain < match.index)) return 'plain';
  return match[0] === `%${hex}` ? 'lower' : 'upper';
}

function spelled(s: Spelling, char: string, hex: string): string {
  return s === 'plain' ? char : s === 'lower' ? `%${hex}` : `%${hex.toUpperCase()}`;
}

/** The case of the first escape with a hex letter in `line`; lower-case (Office's) when none. */
function hexCase(line: string): Spelling {
  for (const m of line.matchAll(/%([0-9A-Fa-f]{2})/g)) {
    if (/[A-F]/.test(m[1]!)) return 'upper';
    if (/[a-f]/.test(m[1]!)) return 'lower';
  }
  return 'lower';
}
