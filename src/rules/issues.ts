/**
 * What rule validation reports: one issue per problem, each at the line and column of the node
 * that is wrong, worded `what is wrong; how to fix it` (STYLE.md habit 3). Every issue of every
 * file is collected before anything is refused, so one run of `proxy rules check` shows them all.
 */

export interface RuleIssue {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  /** `what is wrong; how to fix it`. */
  message: string;
}

/** `rules/lab.yaml:14:7: serverVersion "15" needs four numbers …; write …`. */
export function formatIssue(i: RuleIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.message}`;
}

/** Orders issues by file, then position, so output reads top to bottom. */
export function compareIssues(a: RuleIssue, b: RuleIssue): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.col - b.col;
}

/** Levenshtein distance, for "did you mean" suggestions on keys and names. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known name closest to a misspelt one, or undefined when none is close enough to be a
 * likely typo (a different letter case always counts as close).
 */
export function nearest(word: string, known: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const sameCase = known.find((k) => k.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** `rename it to "host"` when a known name is close, else the list to choose from. */
export function suggestion(word: string, known: readonly string[], what: string): string {
  const near = nearest(word, known);
  if (near !== undefined) return `did you mean ${JSON.stringify(near)}?`;
  return `use one of the known ${what}: ${known.join(', ')}`;
}
