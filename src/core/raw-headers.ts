/**
 * Raw header lists, the shape Node gives in `message.rawHeaders`:
 * `[name0, value0, name1, value1, …]`, in wire order, original case, duplicates kept.
 * The proxy forwards and records from these (DESIGN.md invariant 3, "Fidelity"); nothing here
 * lower-cases or folds what it returns.
 */
export type RawHeaders = string[];

/** The first value of a header, matched case-insensitively. */
export function getHeader(raw: RawHeaders, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === lower.length && raw[i]!.toLowerCase() === lower) return raw[i + 1];
  }
  return undefined;
}

/** Every value of a header, in wire order. */
export function getHeaderValues(raw: RawHeaders, name: string): string[] {
  const lower = name.toLowerCase();
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === lower.length && raw[i]!.toLowerCase() === lower) values.push(raw[i + 1]!);
  }
  return values;
}

/** Replaces the value of every `name` line in place, keeping its position and spelling. */
export function replaceHeader(raw: RawHeaders, name: string, value: string): RawHeaders {
  const lower = name.toLowerCase();
  const out = raw.slice();
  for (let i = 0; i < out.length; i += 2) {
    if (out[i]!.toLowerCase() === lower) out[i + 1] = value;
  }
  return out;
}

/**
 * One `name` line with `value`: the first such line keeps its position and spelling, later ones
 * go; appended when there was none.
 */
export function setHeader(raw: RawHeaders, name: string, value: string): RawHeaders {
  const lower = name.toLowerCase();
  const out: RawHeaders = [];
  let placed = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== lower) out.push(raw[i]!, raw[i + 1]!);
    else if (!placed) {
      out.push(raw[i]!, value);
      placed = true;
    }
  }
  if (!placed) out.push(name, value);
  return out;
}

/** Every `name` line removed. */
export function withoutHeader(raw: RawHeaders, name: string): RawHeaders {
  const lower = name.toLowerCase();
  const out: RawHeaders = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== lower) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/** `[[name, value], …]`, the readable form used in records and logs. */
export function toPairs(raw: RawHeaders): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

/**
 * A header object that keeps wire order and case: keys appear in order of first appearance with
 * their original spelling; repeated names become arrays (so two `Cookie` lines stay two lines).
 * Only the relative order of interleaved repeats (A, B, A) is lost; Node's outgoing-header API
 * cannot express it.
 */
export function toHeaderObject(raw: RawHeaders): Record<string, string | string[]> {
  const obj: Record<string, string | string[]> = {};
  const spelling = new Map<string, string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    const key = spelling.get(lower);
    if (key === undefined) {
      spelling.set(lower, name);
      obj[name] = value;
    } else {
      const prev = obj[key]!;
      obj[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
  }
  return obj;
}
