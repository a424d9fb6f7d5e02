/**
 * A rule that arrives as a JSON value (the control API's POST /api/rules, a scope's rules) checked
 * by the very validator the YAML files go through (load.ts), so an API rule and a file rule mean
 * the same and fail the same. The value is written out as indented JSON (JSON is YAML) with a note
 * of which field each line holds, so an issue found at a line and column is reported at the field's
 * path instead: `actions[0].reject: …`, the form `rules check` uses with file:line:col.
 */
import { validateRuleText, type FileCheck, type RuleDefinition } from './load.js';

export type JsonRuleResult = { ok: true; rule: RuleDefinition } | { ok: false; issues: string[] };

/**
 * Checks `value` as one rule. `source` names it in records (`runtime`, `scope scope-1`);
 * `checkFile` says whether a `respond: { file: }` may be served (runtime rules have no folder).
 */
export function validateJsonRule(value: unknown, source: string, checkFile: FileCheck): JsonRuleResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, issues: [`rule: must be a JSON object like {"id": "old-client", "match": {"protocol": "fpse"}, "actions": [{"reject": "client-too-old"}]} (got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})`] };
  }
  const { text, paths } = indented({ rules: [value] });
  const result = validateRuleText(source, text, checkFile);
  if (result.issues.length > 0) {
    return { ok: false, issues: result.issues.map((i) => `${fieldPath(paths[i.line - 1] ?? '')}: ${i.message}`) };
  }
  if (result.rules.length !== 1) return { ok: false, issues: ['rule: not read as one rule; send one JSON object'] };
  return { ok: true, rule: { ...result.rules[0]!, line: 0 } };
}

/** `rules[0].actions[1].reject` -> `actions[1].reject`; the rule itself is `rule`. */
function fieldPath(path: string): string {
  const inner = path.replace(/^rules\[0\]\.?/, '');
  return inner === '' || inner === 'rules' ? 'rule' : inner;
}

/**
 * JSON.stringify(value, null, 2)'s layout, and for each line the path of the field it holds:
 * a scalar shares its key's line, so an issue at a value reads as that key's path.
 */
export function indented(value: unknown): { text: string; paths: string[] } {
  const lines: string[] = [];
  const paths: string[] = [];
  const emit = (line: string, path: string): void => {
    lines.push(line);
    paths.push(path);
  };
  const walk = (v: unknown, path: string, indent: string, prefix: string, suffix: string): void => {
    if (Array.isArray(v) && v.length > 0) {
      emit(`${indent}${prefix}[`, path);
      v.forEach((item, i) => walk(item, `${path}[${i}]`, `${indent}  `, '', i < v.length - 1 ? ',' : ''));
      emit(`${indent}]${suffix}`, path);
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      emit(`${indent}${prefix}{`, path);
      const entries = Object.entries(v);
      entries.forEach(([key, item], i) => walk(item, path === '' ? key : `${path}.${key}`, `${indent}  `, `${JSON.stringify(key)}: `, i < entries.length - 1 ? ',' : ''));
      emit(`${indent}}${suffix}`, path);
    } else {
      // undefined cannot come from JSON.parse; a scalar, [] or {} is one line.
      emit(`${indent}${prefix}${JSON.stringify(v) ?? 'null'}${suffix}`, path);
    }
  };
  walk(value, '', '', '', '');
  return { text: `${lines.join('\n')}\n`, paths };
}
