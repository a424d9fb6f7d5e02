/**
 * The rules of one exchange (the pipeline in src/proxy/http-exchange.ts, steps 3, 5 and 8). A rule is decided as
 * soon as the facts its matchers read are known: MAPI/HTTP rules and most others at the request
 * head, FPSE rules on the first line of the request body, `serverVersion` matchers on the
 * response. Then, at two points, the matched rules run in priority order until a final action
 * ends the exchange:
 *
 *   request   before forwarding: request-side actions edit the request draft
 *   response  before the response head is written: response-side actions edit the response draft
 *
 * A rule's `skip`, `every`, `times` and `chance` are consulted once, when its turn comes, so a
 * rule cut off by an earlier final action does not use up its `times`.
 */
import type { ActionContext, CompiledAction, RequestDraft, ResponseDraft } from './actions.js';
import type { RuleFacts } from './facts.js';
import type { Rule, RuleSet } from './compile.js';
import type { AppliedRule, Change, Stage } from './rule.js';

interface Entry {
  rule: Rule;
  stage: Stage;
}

export class RuleRun {
  /** Candidates not decided yet. */
  private pending: Rule[];
  /** Matched, waiting for their turn. */
  private matched: Entry[] = [];
  /** Applied on the request side; their response-side actions are still to run. */
  private fired: Array<{ rule: Rule; record: AppliedRule }> = [];
  /** What the record keeps, in the order rules were met. */
  readonly applied: AppliedRule[] = [];
  /** A final action ended the exchange: no further rule runs. */
  ended = false;

  constructor(
    candidates: readonly Rule[],
    readonly facts: RuleFacts,
  ) {
    this.pending = candidates.slice();
    this.decide('request-head');
  }

  /**
   * The rules of an exchange, or undefined when none can apply: then the exchange takes the
   * plain streaming path, as if no rules were loaded.
   */
  static of(set: RuleSet, facts: RuleFacts): RuleRun | undefined {
    const candidates = set.candidates(facts);
    // Most exchanges match no rule: find out without allocating anything.
    if (!candidates.some((rule) => mayMatch(rule, facts))) return undefined;
    return new RuleRun(candidates, facts);
  }

  /**
   * The request facts wait for the body (FPSE RPC: method and client version are on its first
   * line). Read whenever a rule is in play, not only for undecided matchers: a `serverVersion`
   * rewrite needs the client version too, for the Min(client, server) of MS-FPSE 1.7.1.
   */
  waitsForRequestBody(): boolean {
    return this.facts.fpseMethod === undefined || this.facts.clientVersion === undefined;
  }

  /**
   * The request body's first line could not be read (over the cap, or the client sent none that
   * fits): rules waiting for it are recorded as skipped, with the reason, instead of vanishing.
   */
  skipWaitingForRequestBody(reason: string): void {
    const waits = (rule: Rule): boolean => rule.matchers.some((m) => (m.name === 'fpseMethod' || m.name === 'clientVersion') && m.test(this.facts) === undefined);
    for (const rule of this.pending.filter(waits)) {
      this.applied.push({ id: rule.id, explain: rule.explain(), stage: 'request-body', outcome: 'skipped', reason, changes: [] });
    }
    this.pending = this.pending.filter((rule) => !waits(rule));
  }

  /** The response body must be buffered: an undecided rule reads it, or an action edits it. */
  needsResponseBody(): boolean {
    if (this.ended) return false;
    this.decide('response-head');
    if (this.pending.length > 0 && this.facts.serverVersion === undefined) return true;
    const wants = (a: CompiledAction): boolean => a.response !== undefined && a.needsResponseBody?.(this.facts) === true;
    return this.fired.some((f) => f.rule.actions.some(wants)) || this.matched.some((e) => e.rule.actions.some(wants));
  }

  /** Runs the request side of every rule matched so far; call once the request facts are complete. */
  applyRequest(draft: RequestDraft, stage: Stage): void {
    this.decide(stage);
    for (const { rule, stage: decidedAt } of this.takeMatched()) {
      const record = this.turn(rule, decidedAt);
      if (record === undefined) continue;
      let ran = true;
      for (const action of rule.actions) {
        if (action.request === undefined) continue;
        ran = this.run(record, action, () => action.request!(draft, gateContext(rule)));
        if (!ran) break;
        if (action.final) {
          this.ended = true;
          break;
        }
      }
      // A rule that could not run here stops whole: its response side does not run either.
      if (ran) this.fired.push({ rule, record });
      if (this.ended) return;
    }
  }

  /**
   * Runs the response side: the response actions of rules fired on the request, and every rule
   * decided now. Also used on an answer a rule made, so a delay or header still applies to it.
   */
  applyResponse(draft: ResponseDraft, stage: Stage): void {
    const fired = this.fired;
    this.fired = [];
    const turns: Array<{ rule: Rule; record: AppliedRule }> = [...fired];
    if (!this.ended) {
      this.decide(stage);
      this.settlePending(draft.bodyMissing);
      for (const { rule, stage: decidedAt } of this.takeMatched()) {
        const record = this.turn(rule, decidedAt);
        if (record !== undefined) turns.push({ rule, record });
      }
    }
    turns.sort((a, b) => rank(a.rule) - rank(b.rule));
    for (const { rule, record } of turns) {
      for (const action of rule.actions) {
        if (action.response === undefined) continue;
        if (!this.run(record, action, () => action.response!(draft, gateContext(rule)))) break;
      }
    }
  }

  /**
   * No HTTP response will come (an upgrade answered 101: the bytes after it are another
   * protocol). A fired rule whose only effect was to be on the response side did not act, and a
   * rule still undecided can never be judged: both go on the record as skipped, with `reason`.
   */
  endWithoutResponse(reason: string): void {
    for (const { rule, record } of this.fired) {
      if (record.changes.length > 0 || !rule.actions.some((a) => a.response !== undefined)) continue;
      record.outcome = 'skipped';
      record.reason = reason;
    }
    this.fired = [];
    this.settlePending(reason);
  }

  /** Tests every undecided rule against the facts known now. */
  private decide(stage: Stage): void {
    if (this.pending.length === 0) return;
    const still: Rule[] = [];
    for (const rule of this.pending) {
      let verdict: boolean | undefined = true;
      for (const m of rule.matchers) {
        const r = m.test(this.facts);
        if (r === false) {
          verdict = false;
          break;
        }
        if (r === undefined) verdict = undefined;
      }
      if (verdict === true) this.matched.push({ rule, stage });
      else if (verdict === undefined) still.push(rule);
    }
    this.pending = still;
  }

  /** Rules still undecided once every fact is in could not be judged: the record says why. */
  private settlePending(why: string | undefined): void {
    for (const rule of this.pending) {
      this.applied.push({ id: rule.id, explain: rule.explain(), stage: 'response-body', outcome: 'skipped', reason: why ?? 'the facts it matches on never arrived', changes: [] });
    }
    this.pending = [];
  }

  private takeMatched(): Entry[] {
    const out = this.matched.sort((a, b) => rank(a.rule) - rank(b.rule));
    this.matched = [];
    return out;
  }

  /** The rule's turn: its gate decides; the record notes a pass. */
  private turn(rule: Rule, stage: Stage): AppliedRule | undefined {
    const passed = rule.gate.decide();
    const record: AppliedRule = { id: rule.id, explain: rule.explain(), stage, outcome: passed === undefined ? 'applied' : 'passed', changes: [] };
    if (passed !== undefined) record.reason = passed;
    this.applied.push(record);
    return passed === undefined ? record : undefined;
  }

  /** Runs one action; false when it could not run here (the rule is then marked skipped). */
  private run(record: AppliedRule, action: CompiledAction, apply: () => Change[] | string): boolean {
    let outcome: Change[] | string;
    try {
      outcome = apply();
    } catch (err) {
      // Actions are trusted after validation; if one throws anyway, the exchange goes on without
      // it and the record says so (docs/running.md "Failures are answers": the proxy never dies of traffic).
      outcome = `failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (typeof outcome === 'string') {
      record.outcome = 'skipped';
      record.reason = `${action.name}: ${outcome}`;
      return false;
    }
    // A rewrite to the value already there changed nothing: the record lists real changes only.
    for (const change of outcome) if (change.before !== change.after || change.before === undefined) record.changes.push(change);
    return true;
  }
}

/** False when some matcher already rules the rule out. */
function mayMatch(rule: Rule, facts: RuleFacts): boolean {
  for (const m of rule.matchers) if (m.test(facts) === false) return false;
  return true;
}

function rank(rule: Rule): number {
  // Higher priority first, then file order (RuleSet.rules is sorted the same way).
  return -rule.priority * 1e6 + rule.order;
}

function gateContext(rule: Rule): ActionContext {
  return { random: rule.gate.random };
}
