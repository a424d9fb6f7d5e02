/**
 * Globs (`*` any run of characters, `/` included; `?` exactly one), matched against the whole
 * value, ASCII case-insensitively, in O(n·m) time and without regular expressions.
 *
 * Why not a regex: a glob compiled to a chain of `.*` backtracks. The path glob of issue 21
 * (any folder, then `_vti_bin`, any folder, any `.dll`) against one 15 KB path blocked the event
 * loop for 5 s, and `g*a*a*a*a*a*a*a*a*a*a*b` against 61 characters for minutes, while every
 * other connection waited.
 *
 * How: the pattern is cut at its stars into fixed-length segments (`?` is a one-character
 * wildcard inside a segment). The first segment must sit at the start, the last at the end, and
 * each middle segment is placed at its leftmost fit after the previous one. Leftmost is always
 * right for a glob: a star absorbs any gap, so placing a segment earlier never removes a place
 * the later segments could have used. Each segment is tried at most once per input position,
 * hence O(n·m) with no backtracking across segments.
 *
 * Case: hosts are case-insensitive (RFC 9110 4.2.3) and so are IIS paths, where MAPI/HTTP and
 * FPSE live; only A-Z/a-z fold, because hosts on the wire are ASCII (IDNs travel as punycode)
 * and paths are percent-encoded ASCII (RFC 3986 2.1).
 */

/** A compiled glob; `end` lets a caller match a prefix of the value (a path without its query) without slicing it. */
export interface Glob {
  test(value: string, end?: number): boolean;
}

/** `?` in a segment. */
const ANY = -1;

export function compileGlob(pattern: string): Glob {
  const segments = pattern.split('*').map(toCodes);
  if (segments.length === 1) {
    const only = segments[0]!;
    return { test: (value, end = value.length) => end === only.length && fitsAt(only, value, 0) };
  }
  const first = segments[0]!;
  const last = segments[segments.length - 1]!;
  const middle = segments.slice(1, -1).filter((s) => s.length > 0);
  const fixed = first.length + last.length;
  return {
    test(value, end = value.length) {
      if (end < fixed || !fitsAt(first, value, 0) || !fitsAt(last, value, end - last.length)) return false;
      let from = first.length;
      const limit = end - last.length;
      for (const segment of middle) {
        const at = leftmostFit(segment, value, from, limit);
        if (at < 0) return false;
        from = at + segment.length;
      }
      return true;
    },
  };
}

/** The segment's characters, A-Z folded to a-z, `?` as ANY. */
function toCodes(segment: string): Int32Array {
  const codes = new Int32Array(segment.length);
  for (let i = 0; i < segment.length; i++) codes[i] = segment[i] === '?' ? ANY : fold(segment.charCodeAt(i));
  return codes;
}

function fold(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code;
}

function fitsAt(segment: Int32Array, value: string, at: number): boolean {
  for (let i = 0; i < segment.length; i++) {
    const want = segment[i]!;
    if (want !== ANY && want !== fold(value.charCodeAt(at + i))) return false;
  }
  return true;
}

/** The first index in [from, limit - length] where the segment fits, or -1. */
function leftmostFit(segment: Int32Array, value: string, from: number, limit: number): number {
  for (let at = from; at + segment.length <= limit; at++) if (fitsAt(segment, value, at)) return at;
  return -1;
}
