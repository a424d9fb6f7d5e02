/**
 * The rules in force, from three sources: the rule files (hot-reloaded by store.ts), runtime rules
 * added through the control API, and the rules of leased scopes. They are compiled into ONE RuleSet,
 * replaced whole on every change, so the proxy's one read per exchange (`current`) sees either the
 * old set or the new one, never half of a change, and a rule added now applies to the very next
 * exchange. Counters (`times`, `every`, `chance`) carry over for rules whose definition did not
 * change (compileRules), so adding one runtime rule does not re-arm the others.
 *
 * Ids are unique across the sources. A runtime or scope rule cannot take an id in use; a file saved
 * later with an id a runtime rule holds loses that one rule (logged), since the runtime rule was
 * put there on purpose by a test that is running now.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { compileRules, type Rule, type RuleSet } from './compile.js';
import type { RuleDefinition } from './load.js';

export type RuleOrigin = { source: 'file' } | { source: 'runtime' } | { source: 'scope'; scope: string };

export interface RuleSourceOptions {
  seed: number;
  logger: Logger;
  /** The file rules now; `onReload` is called with each reloaded set. */
  files?: { current: RuleSet; onReload(listener: (set: RuleSet) => void): void };
}

export class RuleConflict extends Error {}

interface Added {
  def: RuleDefinition;
  origin: RuleOrigin;
}

export class LiveRules extends EventEmitter<{ changed: [RuleSet] }> {
  private fileDefs: RuleDefinition[];
  /** Runtime and scope rules by id, in the order they were added. */
  private readonly added = new Map<string, Added>();
  /** `enabled` set through the API on file rules, until the files change. */
  private readonly fileEnabled = new Map<string, boolean>();
  /** File rule ids a runtime rule shadows, already logged. */
  private shadowed = new Set<string>();
  private set: RuleSet;

  constructor(private readonly options: RuleSourceOptions) {
    super();
    this.fileDefs = options.files?.current.all.map((r) => r.definition) ?? [];
    this.set = compileRules(this.fileDefs, { seed: options.seed }, options.files?.current);
    options.files?.onReload((set) => {
      this.fileDefs = set.all.map((r) => r.definition);
      // The saved file is the truth again: enable/disable through the API was until then.
      this.fileEnabled.clear();
      this.rebuild();
    });
  }

  /** The compiled set: read once per exchange. */
  get current(): RuleSet {
    return this.set;
  }

  /** Where the rule with this id came from, if it is in force. */
  originOf(id: string): RuleOrigin | undefined {
    const added = this.added.get(id);
    if (added !== undefined) return added.origin;
    return this.fileDefs.some((d) => d.id === id) ? { source: 'file' } : undefined;
  }

  /** Every rule, enabled or not, with its origin, in set order (files first, then as added). */
  list(): Array<{ rule: Rule; origin: RuleOrigin }> {
    return this.set.all.map((rule) => ({ rule, origin: this.originOf(rule.id) ?? { source: 'file' } }));
  }

  /** Adds rules of one origin at once (a scope's rules are all or none); throws RuleConflict on a taken id. */
  add(defs: readonly RuleDefinition[], origin: RuleOrigin): void {
    const ids = new Set<string>();
    for (const def of defs) {
      if (ids.has(def.id)) throw new RuleConflict(`two rules with id ${JSON.stringify(def.id)}; give each rule its own id`);
      ids.add(def.id);
      const taken = this.originOf(def.id);
      if (taken !== undefined) throw new RuleConflict(`rule id ${JSON.stringify(def.id)} is taken by a ${describe(taken)}; choose another id, or remove that rule first`);
    }
    for (const def of defs) this.added.set(def.id, { def, origin });
    this.rebuild();
  }

  /** Replaces a runtime rule in place (its counters start again when the definition changed). */
  replace(id: string, def: RuleDefinition): void {
    const held = this.added.get(id);
    if (held === undefined || held.origin.source !== 'runtime') throw new RuleConflict(`rule ${JSON.stringify(id)} is not a runtime rule`);
    this.added.set(id, { def: { ...def, id }, origin: held.origin });
    this.rebuild();
  }

  setEnabled(id: string, enabled: boolean): void {
    const held = this.added.get(id);
    if (held !== undefined) this.added.set(id, { ...held, def: { ...held.def, enabled } });
    else this.fileEnabled.set(id, enabled);
    this.rebuild();
  }

  /** Removes runtime or scope rules by id; unknown ids are ignored. Returns how many went. */
  remove(ids: Iterable<string>): number {
    let removed = 0;
    for (const id of ids) if (this.added.delete(id)) removed += 1;
    if (removed > 0) this.rebuild();
    return removed;
  }

  /** Removes every runtime and scope rule and API enable/disable, and starts every counter afresh. */
  reset(): number {
    const removed = this.added.size;
    this.added.clear();
    this.fileEnabled.clear();
    this.rebuild(true);
    return removed;
  }

  private rebuild(fresh = false): void {
    const defs: RuleDefinition[] = [];
    const shadowed = new Set<string>();
    for (const def of this.fileDefs) {
      if (this.added.has(def.id)) {
        shadowed.add(def.id);
        if (!this.shadowed.has(def.id)) {
          this.options.logger.warn({ rule: def.id, file: def.file, line: def.line }, `file rule ${def.id} is left out: a ${describe(this.added.get(def.id)!.origin)} holds its id; remove that rule (DELETE /api/rules/${def.id}) or rename one of them`);
        }
        continue;
      }
      const enabled = this.fileEnabled.get(def.id);
      defs.push(enabled === undefined ? def : { ...def, enabled });
    }
    this.shadowed = shadowed;
    for (const { def } of this.added.values()) defs.push(def);
    this.set = compileRules(defs, { seed: this.options.seed }, fresh ? undefined : this.set);
    this.emit('changed', this.set);
  }
}

function describe(origin: RuleOrigin): string {
  return origin.source === 'scope' ? `rule of scope ${origin.scope}` : `${origin.source} rule`;
}
