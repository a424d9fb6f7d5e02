/**
 * Raw header lists, the shape Node gives in `message.rawHeaders`:
 * `[name0, value0, name1, value1, …]`, in wire order, original case, duplicates kept.
 * The proxy forwards and records from these (docs/running.md "Fidelity", "Fidelity"); nothing here
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

/**
 * A fixed set of header names, looked up together: `pick` reads a raw list once and returns the
 * values of the named headers only, in wire order, keyed by the spelling given here (matching is
 * case-insensitive). An observer that wants ten headers pays one pass instead of ten (the
 * MAPI/HTTP observer runs per exchange).
 */
export class HeaderSet<Name extends string = string> {
  /** Lower-case name and the spelling given → the spelling given. */
  private readonly names = new Map<string, Name>();
  /** Lengths of the names asked for, so most other names are skipped without lower-casing them. */
  private readonly lengths = new Set<number>();

  constructor(names: readonly Name[]) {
    for (const name of names) {
      this.names.set(name.toLowerCase(), name);
      this.names.set(name, name);
      this.lengths.add(name.length);
    }
  }

  pick(raw: RawHeaders): PickedHeaders<Name> {
    const picked: PickedHeaders<Name> = new Map();
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (!this.lengths.has(name.length)) continue;
      // Senders mostly spell names as the spec does: lower-case only when that spelling misses.
      const key = this.names.get(name) ?? this.names.get(name.toLowerCase());
      if (key === undefined) continue;
      const values = picked.get(key);
      if (values === undefined) picked.set(key, [raw[i + 1]!]);
      else values.push(raw[i + 1]!);
    }
    return picked;
  }
}

/** Values by the spelling the HeaderSet was given; a header that was not sent is absent. */
export type PickedHeaders<Name extends string = string> = Map<Name, string[]>;

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
