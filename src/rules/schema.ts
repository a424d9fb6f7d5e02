/**
 * The rule vocabulary as data (STYLE.md habit 2): every matcher and action by name, each with the
 * check of its argument. Checks see a `Field` (a value plus where it was written), never YAML, so
 * the same table can validate rules that arrive another way later. Action names and argument
 * forms follow docs/rules.md "Actions" exactly; the engine will compile from these tables.
 */
import { Field, integer, shown, text } from './field-checks.js';

export * from './field-checks.js';
export { MATCHERS } from './schema-matchers.js';
export { ACTIONS } from './schema-actions.js';

// ---------------------------------------------------------------------------------------------
// Rule-level scalar keys (id, match and actions are walked by load.ts).

const KEBAB = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export const RULE_SCALARS: Readonly<Record<string, (field: Field) => void>> = Object.freeze({
  id: (f) => {
    const id = text(f, 'id', '"mapi-context-lost"');
    if (id !== undefined && !KEBAB.test(id)) {
      const kebab = id.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
      f.report(`id ${JSON.stringify(id)} is not kebab-case; write ${JSON.stringify(kebab || 'my-rule')}`);
    }
  },
  description: (f) => void text(f, 'description', '"Refuse clients older than 4.0.2.2611"'),
  chance: (f) => {
    if (typeof f.value !== 'number') return f.report(`chance must be a number from 0 to 1 (got ${shown(f)}); write e.g. chance: 0.25`);
    if (!(f.value >= 0 && f.value <= 1)) f.report(`chance ${f.source} is out of range; use a number from 0 to 1 (0.25 fires a quarter of the time)`);
  },
  times: (f) => void integer(f, 'times', 1, Number.MAX_SAFE_INTEGER, 'times: 10'),
  skip: (f) => void integer(f, 'skip', 0, Number.MAX_SAFE_INTEGER, 'skip: 3'),
  // Fires on every Nth matching exchange (the 10th, 20th …): "lose the session every tenth request".
  every: (f) => void integer(f, 'every', 1, Number.MAX_SAFE_INTEGER, 'every: 10'),
  priority: (f) => void integer(f, 'priority', -1_000_000, 1_000_000, 'priority: 10'),
  enabled: (f) => {
    if (typeof f.value !== 'boolean') f.report(`enabled must be true or false (got ${shown(f)}); write enabled: false to turn the rule off`);
  },
});

