/**
 * Rule files are YAML; validation works on `Field`s (src/rules/field-checks.ts). This adapter
 * builds them over YAML nodes, so each issue is reported at its node's first character with
 * line and column from the document's LineCounter.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { Field, FieldEntry } from './field-checks.js';

/** Builds `Field`s over YAML nodes; each reports at its node's first character. */
export class Walker {
  constructor(
    private readonly text: string,
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    private readonly at: (offset: number, message: string) => void,
  ) {}

  private readonly offsets = new WeakMap<Field, number>();

  position(field: Field): { line: number; col: number } {
    return this.lineCounter.linePos(this.offsets.get(field) ?? 0);
  }

  /** `fallback` is where to report when the node is absent (`key:` with nothing after it). */
  field(raw: unknown, fallback: number): Field {
    const node = (isAlias(raw) ? raw.resolve(this.doc) : raw) as Node | null | undefined;
    const offset = node?.range?.[0] ?? fallback;
    const source = node?.range ? this.text.slice(node.range[0], node.range[1]).trim() : '';
    const kind = isMap(node) ? 'map' : isSeq(node) ? 'list' : 'scalar';
    const value: unknown = node == null ? null : isScalar(node) ? node.value : node.toJS(this.doc);
    const field: Field = {
      kind,
      value,
      source,
      report: (message) => this.at(offset, message),
      entries: () => (isMap(node) ? node.items.map((pair) => this.entry(pair.key, pair.value, offset)) : []),
      items: () => (isSeq(node) ? node.items.map((item) => this.field(item, offset)) : []),
    };
    this.offsets.set(field, offset);
    return field;
  }

  private entry(key: unknown, value: unknown, fallback: number): FieldEntry {
    const keyField = this.field(key, fallback);
    const name = isScalar(key) ? String(key.value) : keyField.source;
    const keyEnd = (key as Node | null)?.range?.[1] ?? fallback;
    return { key: name, keyField, field: this.field(value, keyEnd) };
  }
}
