/**
 * Validated rule definitions in, trusted rules out (STYLE.md habit 3: after this, nothing is
 * checked again). A compiled rule knows its matchers and actions, explains itself in the words
 * `rules check`, the logs and the record share (habit 4), and keeps the counters behind `skip`,
 * `every`, `times` and `chance`. A reload carries the counters of every rule whose definition did
 * not change, so editing one rule does not re-arm `times: 1` on all the others.
 */
import { ACTION_COMPILERS, type CompiledAction } from './actions.js';
import type { RuleDefinition } from './load.js';
import { MATCHER_COMPILERS, type Matcher } from './matchers.js';
import { createChance } from './random.js';
import type { ActionSide, MatchFacts, Protocol } from './rule.js';

export interface CompileOptions {
  /** The --seed behind every `chance` and `jitter` decision. */
  seed: number;
}

/** The counters of one rule; `decide()` is called once per matching exchange. */
export class RuleGate {
  matched = 0;
  fired = 0;
  constructor(
    private readonly def: Pick<RuleDefinition, 'skip' | 'every' | 'chance' | 'times'>,
    readonly random: () => number,
  ) {}

  /** undefined: fire now; otherwise why this match lets the exchange through. */
  decide(): string | undefined {
    const { skip = 0, every, chance, times } = this.def;
    this.matched += 1;
    const n = this.matched - skip;
    if (n <= 0) return `skip ${skip}: match ${this.matched} passes`;
    if (every !== undefined && n % every !== 0) return `every ${every}: match ${n} passes`;
    if (times !== undefined && this.fired >= times) return `times ${times}: already fired ${this.fired} times`;
    if (chance !== undefined) {
      const roll = this.random();
      if (roll >= chance) return `chance ${chance}: rolled ${roll.toFixed(3)}`;
    }
    this.fired += 1;
    return undefined;
  }
}

export interface Rule {
  readonly id: string;
  readonly description?: string;
  readonly file: string;
  readonly line: number;
  readonly priority: number;
  readonly enabled: boolean;
  /** Position in the set, for a stable order among equal priorities. */
  readonly order: number;
  readonly matchers: readonly Matcher[];
  readonly actions: readonly CompiledAction[];
  /** `response` when the rule needs the response to decide (it matches serverVersion). */
  readonly side: ActionSide;
  /** When the rule names a protocol (or implies one), others skip it without a look. */
  readonly protocol?: Protocol;
  readonly gate: RuleGate;
  readonly definition: RuleDefinition;
  explain(): string;
}

/** The rules in force: enabled ones by priority (higher first), then in file order. */
export class RuleSet {
  /** Enabled rules, in the order they apply. */
  readonly rules: readonly Rule[];
  /** Bounded by clearing: the keys are few in practice, and a hit must cost one Map lookup. */
  private readonly candidatesByKey = new Map<string, readonly Rule[]>();

  constructor(
    /** Every rule loaded, disabled ones included, in file order. */
    readonly all: readonly Rule[],
    readonly seed: number,
  ) {
    this.rules = all.filter((r) => r.enabled).sort((a, b) => b.priority - a.priority || a.order - b.order);
  }

  get size(): number {
    return this.rules.length;
  }

  /**
   * The rules that can match an exchange with these connection-level facts, cached per
   * combination: protocol, method, host and client address are known at the request head and
   * take few values, so a hundred rules for other hosts, methods or clients cost one map lookup
   * per exchange, not a hundred pattern tests.
   */
  candidates(facts: Pick<MatchFacts, 'protocol' | 'method' | 'host' | 'client'>): readonly Rule[] {
    const key = `${facts.protocol} ${facts.method} ${facts.host} ${facts.client}`;
    let found = this.candidatesByKey.get(key);
    if (found === undefined) {
      const probe = facts as MatchFacts;
      found = this.rules.filter((r) => (r.protocol === undefined || r.protocol === facts.protocol) && r.matchers.every((m) => !PREFILTER.has(m.name) || m.test(probe) === true));
      if (this.candidatesByKey.size >= CANDIDATE_KEYS) this.candidatesByKey.clear();
      this.candidatesByKey.set(key, found);
    }
    return found;
  }
}

const CANDIDATE_KEYS = 4096;

/** Matchers that read only the facts `candidates()` is keyed by. */
const PREFILTER: ReadonlySet<string> = new Set(['protocol', 'method', 'host', 'client']);

export const EMPTY_RULES = new RuleSet([], 0);

export function compileRules(defs: readonly RuleDefinition[], options: CompileOptions, previous?: RuleSet): RuleSet {
  const before = new Map<string, { signature: string; rule: Rule }>();
  for (const rule of previous?.all ?? []) before.set(rule.id, { signature: signatureOf(rule.definition), rule });
  const sameSeed = previous?.seed === options.seed;
  const rules = defs.map((def, order) => {
    const kept = before.get(def.id);
    const same = kept !== undefined && sameSeed && kept.signature === signatureOf(def);
    // The same definition compiles to the same rule: reuse it (matchers, regexes and all), so a
    // runtime rule added beside a hundred others costs one compile, not a hundred and one.
    if (same && kept.rule.definition === def) return kept.rule.order === order ? kept.rule : { ...kept.rule, order };
    const gate = same ? kept.rule.gate : new RuleGate(def, createChance(options.seed, def.id));
    return compileRule(def, order, gate);
  });
  return new RuleSet(rules, options.seed);
}

export function compileRule(def: RuleDefinition, order: number, gate: RuleGate): Rule {
  const matchers = Object.entries(def.match).map(([name, arg]) => MATCHER_COMPILERS[name]!(arg));
  const side: ActionSide = Object.hasOwn(def.match, 'serverVersion') ? 'response' : 'request';
  const actions = def.actions.map((a) => ACTION_COMPILERS[a.name]!(a.arg, side, def.file));
  const protocol = impliedProtocol(def.match);
  const text = explainRule(def, matchers, actions);
  return {
    id: def.id,
    ...(def.description !== undefined && { description: def.description }),
    file: def.file,
    line: def.line,
    priority: def.priority,
    enabled: def.enabled,
    order,
    matchers,
    actions,
    side,
    ...(protocol !== undefined && { protocol }),
    gate,
    definition: def,
    explain: () => text,
  };
}

function impliedProtocol(match: Record<string, unknown>): Protocol | undefined {
  if (typeof match.protocol === 'string') return match.protocol as Protocol;
  if (match.requestType !== undefined) return 'mapihttp';
  if (match.fpseMethod !== undefined) return 'fpse';
  return undefined;
}

/** `when protocol is FPSE and client version is < 4.0.2.2611: reject with client-too-old`. */
function explainRule(def: RuleDefinition, matchers: readonly Matcher[], actions: readonly CompiledAction[]): string {
  const when = matchers.length === 0 ? 'every exchange' : `when ${matchers.map((m) => m.explain).join(' and ')}`;
  const limits: string[] = [];
  if (def.skip !== undefined) limits.push(`after the first ${def.skip} matches`);
  if (def.every !== undefined) limits.push(def.every === 1 ? 'on every match' : `on every ${ordinal(def.every)} match`);
  if (def.chance !== undefined) limits.push(`${Math.round(def.chance * 1000) / 10}% of the time`);
  if (def.times !== undefined) limits.push(`at most ${def.times} time${def.times === 1 ? '' : 's'}`);
  const tail = limits.length === 0 ? '' : ` (${limits.join(', ')})`;
  const off = def.enabled ? '' : ' [disabled]';
  return `${when}: ${actions.map((a) => a.explain).join(', then ')}${tail}${off}`;
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/** Signatures by definition object: a definition is never changed once made, so one is enough. */
const signatures = new WeakMap<RuleDefinition, string>();

/** What makes two definitions the same rule for carrying counters across a reload. */
function signatureOf(def: RuleDefinition): string {
  let signature = signatures.get(def);
  if (signature === undefined) {
    const match = Object.fromEntries(Object.entries(def.match).sort(([a], [b]) => a.localeCompare(b)));
    signature = JSON.stringify([match, def.actions.map((a) => [a.name, a.arg]), def.skip, def.every, def.chance, def.times]);
    signatures.set(def, signature);
  }
  return signature;
}
