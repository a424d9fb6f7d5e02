/**
 * The scenario library (issue 4 item 8): the rule files shipped in `rules/`, one scenario per
 * file, for `./proxy rules list` and the demo. What a scenario is about is read from the comment
 * block that opens its file:
 *
 *   # <title: one line, what it simulates>
 *   # Spec: <the spec section it exercises>
 *   #   <a continuation line>
 *   # Expect: <what a correct client or server should do>
 *   #
 *   # <free comments: the first bare `#` ends a field>
 *
 * `Spec:` and `Expect:` may wrap over the `#` lines that follow them; a bare `#` line or another
 * `Label:` at the start of a comment ends the field. Rule ids come from the rules loader, so a
 * scenario lists exactly the rules `--rules` would run (a rule with issues is not listed).
 */
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRuleFiles } from './load.js';

export interface Scenario {
  /** The file name without extension, e.g. `fpse-client-at-floor`. */
  name: string;
  /** Path of the rule file (inside `dir` as given). */
  file: string;
  /** The first comment line; empty when the file opens without one. */
  title: string;
  /** The `# Spec:` field, continuation lines joined by spaces. */
  spec?: string;
  /** The `# Expect:` field, continuation lines joined by spaces. */
  expect?: string;
  /** Ids of the file's rules, in written order. */
  rules: string[];
}

/** What loadRuleFiles reads from a folder (load.ts RULE_EXTENSIONS). */
const RULE_EXTENSIONS = ['.yaml', '.yml', '.json'];

/**
 * The repo's `rules/` folder. This module runs compiled from dist/src/rules/, three levels below
 * the repo root; run from its source (src/rules/) it is two.
 */
export function scenarioDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const compiled = basename(resolve(here, '../..')) === 'dist';
  return resolve(here, compiled ? '../../..' : '../..', 'rules');
}

/** The shipped scenarios in `dir` (default: the repo's rules/ folder), sorted by name. */
export async function listScenarios(dir?: string): Promise<Scenario[]> {
  const folder = dir ?? scenarioDir();
  const names = (await readdir(folder)).filter((name) => RULE_EXTENSIONS.includes(extname(name).toLowerCase()));
  const scenarios = await Promise.all(
    names.map(async (fileName): Promise<Scenario> => {
      const file = join(folder, fileName);
      const header = readHeader(await readFile(file, 'utf8'));
      // One file at a time: an id repeated in another scenario is that file's own business here.
      const { rules } = await loadRuleFiles([file]);
      return { name: basename(fileName, extname(fileName)), file, ...header, rules: rules.map((rule) => rule.id) };
    }),
  );
  return scenarios.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

type Header = Pick<Scenario, 'title' | 'spec' | 'expect'>;

const FIELDS = new Map<string, 'spec' | 'expect'>([['spec', 'spec'], ['expect', 'expect']]);
/** `Label: …` at the start of a comment (not indented): a field of its own. */
const LABEL = /^([A-Za-z][\w-]*):(?:\s+(.*))?$/;

/** Title, Spec and Expect from the comment lines that open a file. */
function readHeader(text: string): Header {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header: Header = { title: '' };
  let current: 'spec' | 'expect' | undefined;
  for (const [i, line] of lines.entries()) {
    if (!line.startsWith('#')) break;
    const content = line.replace(/^#\s?/, '').trimEnd();
    const label = LABEL.exec(content);
    // The first line is the title, whatever it says, unless it already opens Spec or Expect.
    if (i === 0 && (label === null || !FIELDS.has(label[1]!.toLowerCase()))) {
      header.title = content.trim();
      continue;
    }
    if (content.trim() === '') {
      current = undefined;
    } else if (label !== null) {
      current = FIELDS.get(label[1]!.toLowerCase());
      if (current !== undefined) header[current] = appended(header[current], label[2] ?? '');
    } else if (current !== undefined) {
      header[current] = appended(header[current], content.trim());
    }
  }
  for (const key of ['spec', 'expect'] as const) if (header[key] === '') delete header[key];
  return header;
}

/** `before` and `more` joined by a space, either may be empty. */
function appended(before: string | undefined, more: string): string {
  return before === undefined || before === '' ? more : more === '' ? before : `${before} ${more}`;
}

/**
 * An aligned table for `./proxy rules list`: each scenario's name and title, its spec on a second
 * line under the title. Empty for an empty list.
 */
export function formatScenarioList(list: Scenario[]): string {
  const width = Math.max(0, ...list.map((s) => s.name.length));
  const indent = ' '.repeat(width + 2);
  return list
    .flatMap((s) => {
      const first = s.title === '' ? s.name : `${s.name.padEnd(width)}  ${s.title}`;
      return s.spec === undefined ? [first] : [first, `${indent}spec: ${s.spec}`];
    })
    .join('\n');
}
