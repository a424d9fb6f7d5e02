/**
 * Rule files in, rule definitions or issues out: reads files and folders, parses YAML (JSON is
 * YAML) keeping positions, and checks every rule against the tables of schema.ts. Every issue of
 * every file is collected (STYLE.md habit 3); a rule with any issue is left out of `rules`, and
 * callers refuse the whole set when `issues` is not empty (a bad edit keeps the old set live).
 * Nothing here matches traffic or runs actions: that is the engine's job, on these definitions.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { Walker } from './yaml-fields.js';
import { compareIssues, suggestion, type RuleIssue } from './issues.js';
import { respondFileProblem, type RespondFileOptions } from './respond-file.js';
import { ACTIONS, MATCHERS, RULE_KEYS, RULE_SCALARS, type Field, type FieldEntry, type Protocol, type RuleContext } from './schema.js';

export { formatIssue, type RuleIssue } from './issues.js';

export interface RuleDefinition {
  id: string;
  description?: string;
  file: string;
  /** Line of the rule's first key. */
  line: number;
  /** The `match:` map as plain values, checked against MATCHERS. */
  match: Record<string, unknown>;
  /** In written order; `line`/`col` point at the action's name. */
  actions: Array<{ name: string; arg: unknown; line: number; col: number }>;
  chance?: number;
  times?: number;
  skip?: number;
  /** Fire on every Nth matching exchange (after skip). */
  every?: number;
  /** 0 unless written. */
  priority: number;
  /** true unless written. */
  enabled: boolean;
}

export interface LoadOptions {
  /** Where `respond: { file: }` may read (`--rules-files-anywhere`); see respond-file.ts. */
  respondFiles?: RespondFileOptions;
}

/** Why a `respond` file cannot be served, or undefined. */
export type FileCheck = (written: string) => string | undefined;

export interface LoadResult {
  /** Rules without issues, in file order then written order. */
  rules: RuleDefinition[];
  issues: RuleIssue[];
  /** Every file read, in load order. */
  files: string[];
}

const RULE_EXTENSIONS = ['.yaml', '.yml', '.json'];

/** Where an id was written, to point the second of two equal ids at the first. */
interface IdPlace {
  id: string;
  file: string;
  line: number;
  col: number;
  /** The definition, when the rule had no other issue. */
  rule?: RuleDefinition;
}

interface FileResult {
  rules: RuleDefinition[];
  issues: RuleIssue[];
  ids: IdPlace[];
}

/**
 * Loads rule files and folders (a folder's *.yaml, *.yml, *.json, sorted by name). A `respond`
 * file that is missing, or outside its rule file's folder, is an issue at its `file:` value.
 */
export async function loadRuleFiles(paths: string[], options: LoadOptions = {}): Promise<LoadResult> {
  const files: string[] = [];
  const issues: RuleIssue[] = [];
  const seen = new Set<string>();
  const add = (file: string): void => {
    if (seen.has(resolve(file))) return;
    seen.add(resolve(file));
    files.push(file);
  };
  for (const path of paths) {
    const found = await stat(path).catch((error: unknown) => error as NodeJS.ErrnoException);
    if (found instanceof Error) {
      const why = found.code === 'ENOENT' ? 'does not exist' : `cannot be read (${found.code ?? found.message})`;
      issues.push({ file: path, line: 1, col: 1, message: `${why}; check the path, or pass a rule file or a folder of them` });
    } else if (found.isDirectory()) {
      const names = (await readdir(path)).filter((name) => RULE_EXTENSIONS.includes(extname(name).toLowerCase())).sort();
      if (names.length === 0) issues.push({ file: path, line: 1, col: 1, message: 'folder has no .yaml, .yml or .json files; add rule files or pass another folder' });
      names.forEach((name) => add(join(path, name)));
    } else {
      add(path);
    }
  }

  const results: FileResult[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((error: unknown) => error as NodeJS.ErrnoException);
    if (text instanceof Error) {
      issues.push({ file, line: 1, col: 1, message: `cannot be read (${text.code ?? text.message}); check the file's permissions` });
      continue;
    }
    results.push(validateFile(file, text, (written) => respondFileProblem(file, written, options.respondFiles)));
  }
  const { issues: duplicates, later } = duplicateIds(results.flatMap((r) => r.ids));
  return {
    rules: results.flatMap((r) => r.rules).filter((rule) => !later.has(rule)),
    issues: sortIssues([...issues, ...results.flatMap((r) => r.issues), ...duplicates], files),
    files,
  };
}

/**
 * Validates one file's text; duplicate ids are checked within this text only. With `options`,
 * `respond` files are looked for relative to `file`'s folder and confined to it, as loadRuleFiles
 * does; without, only the text is checked (the rules engine's tests compile rules of files that
 * do not exist). A caller that will run the rules (an editor, an API) passes options.
 */
export function validateRuleText(file: string, text: string, options?: LoadOptions | FileCheck): { rules: RuleDefinition[]; issues: RuleIssue[] } {
  const check: FileCheck = typeof options === 'function' ? options : options === undefined ? () => undefined : (written) => respondFileProblem(file, written, options.respondFiles);
  const result = validateFile(file, text, check);
  const { issues: duplicates, later } = duplicateIds(result.ids);
  return {
    rules: result.rules.filter((rule) => !later.has(rule)),
    issues: sortIssues([...result.issues, ...duplicates], [file]),
  };
}

/** The second and later uses of an id, each pointing at the first, and the rules they name. */
function duplicateIds(ids: IdPlace[]): { issues: RuleIssue[]; later: Set<RuleDefinition> } {
  const first = new Map<string, IdPlace>();
  const issues: RuleIssue[] = [];
  const later = new Set<RuleDefinition>();
  for (const place of ids) {
    const earlier = first.get(place.id);
    if (earlier === undefined) {
      first.set(place.id, place);
      continue;
    }
    if (place.rule !== undefined) later.add(place.rule);
    issues.push({
      file: place.file,
      line: place.line,
      col: place.col,
      message: `duplicate id ${JSON.stringify(place.id)} (first defined at ${earlier.file}:${earlier.line}:${earlier.col}); give this rule a different id`,
    });
  }
  return { issues, later };
}

function sortIssues(issues: RuleIssue[], files: string[]): RuleIssue[] {
  const order = (file: string): number => {
    const i = files.indexOf(file);
    return i < 0 ? -1 : i;
  };
  return issues.sort((a, b) => order(a.file) - order(b.file) || compareIssues({ ...a, file: '' }, { ...b, file: '' }));
}

// ---------------------------------------------------------------------------------------------

/** Hints for the YAML errors people make most; the parser's own words say what is wrong. */
const YAML_FIXES: Record<string, string> = {
  DUPLICATE_KEY: 'remove or rename one of the two keys',
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  BAD_INDENT: 'fix the indentation, or close the bracket opened before it',
  MISSING_CHAR: 'add the missing closing character',
  MULTIPLE_DOCS: 'keep one document per file (no second "---")',
};

function validateFile(file: string, text: string, checkFile: FileCheck): FileResult {
  const issues: RuleIssue[] = [];
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const at = (offset: number, message: string): void => {
    const { line, col } = lineCounter.linePos(offset);
    issues.push({ file, line, col, message });
  };
  for (const error of doc.errors) {
    at(error.pos[0], `YAML syntax error: ${error.message.replace(/\.$/, '')}; ${YAML_FIXES[error.code] ?? 'fix the YAML at this position'}`);
  }
  // A document with syntax errors is only partly read; checking it would report phantom issues.
  if (doc.errors.some((e) => e.code !== 'DUPLICATE_KEY')) return { rules: [], issues, ids: [] };

  const walker = new Walker(text, doc, lineCounter, at);
  const root = walker.field(doc.contents, 0);
  const result: FileResult = { rules: [], issues, ids: [] };
  if (doc.contents === null || root.value === null) {
    at(0, 'file has no rules; add a top-level "rules:" list');
    return result;
  }
  if (root.kind !== 'map') {
    root.report(`the top level must be a map with a "rules:" list (got ${root.kind === 'list' ? 'a list' : 'a scalar'}); write rules: followed by the list`);
    return result;
  }
  let rules: Field | undefined;
  for (const entry of root.entries()) {
    if (entry.key === 'rules') rules = entry.field;
    else entry.keyField.report(`unknown top-level key ${JSON.stringify(entry.key)}; only "rules:" is read, so move it under a rule or remove it`);
  }
  if (rules === undefined) {
    root.report('file has no "rules:" list; add a top-level rules: with one item per rule');
    return result;
  }
  if (rules.kind !== 'list') {
    rules.report(`rules must be a list (got ${rules.kind === 'map' ? 'a map' : 'a scalar'}); start each rule with "- id: …"`);
    return result;
  }
  for (const item of rules.items()) {
    const before = issues.length;
    const place: Partial<IdPlace> = {};
    const rule = validateRule(file, item, walker, place, checkFile);
    if (rule !== undefined && issues.length === before) {
      result.rules.push(rule);
      place.rule = rule;
    }
    if (place.id !== undefined) result.ids.push(place as IdPlace);
  }
  return result;
}

function validateRule(file: string, item: Field, walker: Walker, place: Partial<IdPlace>, checkFile: FileCheck): RuleDefinition | undefined {
  if (item.kind !== 'map') {
    item.report('each rule must be a map (got a list or scalar); write - id: my-rule, then match: and actions: under it');
    return undefined;
  }
  const keys = new Map<string, FieldEntry>();
  for (const entry of item.entries()) {
    if (!(RULE_KEYS as readonly string[]).includes(entry.key)) {
      entry.keyField.report(`unknown key ${JSON.stringify(entry.key)} in a rule; ${suggestion(entry.key, RULE_KEYS, 'rule keys')}`);
      continue;
    }
    keys.set(entry.key, entry);
    RULE_SCALARS[entry.key]?.(entry.field);
  }
  const idEntry = keys.get('id');
  const id = typeof idEntry?.field.value === 'string' ? idEntry.field.value : undefined;
  if (idEntry === undefined) item.report('rule has no id; add id: followed by a unique kebab-case name like mapi-context-lost');
  if (id !== undefined) Object.assign(place, { id, file, ...walker.position(idEntry!.field) });
  const name = id === undefined ? 'rule' : `rule ${JSON.stringify(id)}`;

  const matchField = keys.get('match')?.field;
  const match = matchField === undefined ? undefined : validateMatch(matchField);
  const actionsField = keys.get('actions')?.field;
  if (actionsField === undefined) item.report(`${name} has no actions; add actions: with at least one, like - delay: 600ms`);
  const actions = actionsField === undefined ? [] : validateActions(actionsField, match, walker, checkFile);

  const value = <T>(key: string): T | undefined => keys.get(key)?.field.value as T | undefined;
  if (id === undefined || match === undefined && matchField !== undefined) return undefined;
  return {
    id,
    ...(value<string>('description') !== undefined && { description: value<string>('description') }),
    file,
    line: walker.position(item).line,
    match: (match?.values ?? {}),
    actions,
    ...(value<number>('chance') !== undefined && { chance: value<number>('chance') }),
    ...(value<number>('times') !== undefined && { times: value<number>('times') }),
    ...(value<number>('skip') !== undefined && { skip: value<number>('skip') }),
    ...(value<number>('every') !== undefined && { every: value<number>('every') }),
    priority: value<number>('priority') ?? 0,
    enabled: value<boolean>('enabled') ?? true,
  };
}

interface CheckedMatch {
  values: Record<string, unknown>;
  ctx: RuleContext;
}

function validateMatch(field: Field): CheckedMatch | undefined {
  if (field.kind !== 'map') {
    field.report(`match must be a map of matchers (got ${field.kind === 'list' ? 'a list' : 'a scalar'}); write e.g. match: { protocol: fpse, clientVersion: "< 4.0.2.2611" }`);
    return undefined;
  }
  const entries = field.entries();
  const get = (key: string): FieldEntry | undefined => entries.find((e) => e.key === key);
  // The protocol decides how reject numbers and names read; requestType and fpseMethod imply one.
  const protocol = get('protocol')?.field.value;
  const ctx: RuleContext = {};
  if (protocol === 'mapihttp' || protocol === 'fpse' || protocol === 'http') ctx.protocol = protocol satisfies Protocol;
  else if (protocol === undefined && get('requestType') !== undefined && get('fpseMethod') !== undefined) {
    get('fpseMethod')!.keyField.report('a rule cannot match both requestType (MAPI/HTTP) and fpseMethod (FPSE); split it into two rules');
  } else if (protocol === undefined && get('requestType') !== undefined) ctx.protocol = 'mapihttp';
  else if (protocol === undefined && get('fpseMethod') !== undefined) ctx.protocol = 'fpse';

  const values: Record<string, unknown> = {};
  for (const entry of entries) {
    const check = Object.hasOwn(MATCHERS, entry.key) ? MATCHERS[entry.key] : undefined;
    if (check === undefined) {
      entry.keyField.report(`unknown matcher ${JSON.stringify(entry.key)}; ${suggestion(entry.key, Object.keys(MATCHERS), 'matchers')}`);
      continue;
    }
    check(entry.field, ctx);
    values[entry.key] = entry.field.value;
  }
  return { values, ctx };
}

function validateActions(field: Field, match: CheckedMatch | undefined, walker: Walker, checkFile: FileCheck): RuleDefinition['actions'] {
  if (field.kind !== 'list') {
    field.report(`actions must be a list of one-key maps (got ${field.kind === 'map' ? 'a map' : 'a scalar'}); write each action as its own "- name: value" line`);
    return [];
  }
  if (field.items().length === 0) field.report('actions is empty, so the rule would do nothing; add at least one, like - delay: 600ms');
  const ctx = match?.ctx ?? {};
  const onResponse = match !== undefined && Object.hasOwn(match.values, 'serverVersion');
  const found: Array<{ name: string; key: Field; value: Field }> = [];
  for (const item of field.items()) {
    if (item.kind !== 'map') {
      const word = typeof item.value === 'string' ? item.value : '';
      const fix = Object.hasOwn(ACTIONS, word) && ACTIONS[word]!.final ? `write - ${word}: true` : `write it as a one-key map, like - delay: 600ms`;
      item.report(`an action must be a one-key map (got ${item.kind === 'list' ? 'a list' : JSON.stringify(item.source)}); ${fix}`);
      continue;
    }
    const entries = item.entries();
    if (entries.length === 0) item.report('an action map is empty; give it one key, like - delay: 600ms');
    if (entries.length > 1) {
      entries[1]!.keyField.report(`an action map has ${entries.length} keys (${entries.map((e) => e.key).join(', ')}); put each action in its own list item, like - ${entries[1]!.key}: …`);
    }
    for (const entry of entries) {
      const spec = Object.hasOwn(ACTIONS, entry.key) ? ACTIONS[entry.key] : undefined;
      if (spec === undefined) {
        entry.keyField.report(`unknown action ${JSON.stringify(entry.key)}; ${suggestion(entry.key, Object.keys(ACTIONS), 'actions')}`);
        continue;
      }
      spec.check(entry.field, ctx);
      if (entry.key === 'respond') checkRespondFile(entry.field, checkFile);
      found.push({ name: entry.key, key: entry.keyField, value: entry.field });
    }
  }
  found.forEach(({ name, key, value }, i) => {
    const spec = ACTIONS[name]!;
    const after = found.length - 1 - i;
    if (spec.final && after > 0) {
      key.report(`${name} ends the exchange, so the ${after === 1 ? 'action' : `${after} actions`} after it would never run; move ${name} to the end of the list`);
    }
    const phase = spec.phase(value.value);
    if (onResponse && phase.phase === 'request') {
      const how = phase.toResponse === undefined ? `move ${name} to a rule that does not match serverVersion` : `${phase.toResponse}, or move it to a rule that does not match serverVersion`;
      key.report(`${name} acts before the request is forwarded, but this rule matches serverVersion, which is known only from the response; ${how}`);
    }
  });
  return found.map(({ name, key, value }) => ({ name, arg: value.value, ...walker.position(key) }));
}

/** The `file:` of a `respond` map, when it is a string: reported at its value when it cannot be served. */
function checkRespondFile(respond: Field, checkFile: FileCheck): void {
  const file = respond.entries().find((e) => e.key === 'file')?.field;
  if (file === undefined || typeof file.value !== 'string') return;
  const problem = checkFile(file.value);
  if (problem !== undefined) file.report(problem);
}
